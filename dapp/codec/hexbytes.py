"""Strict hex <-> bytes, as the rollup HTTP API uses it (``0x`` prefix, even number of digits)."""

from __future__ import annotations

from dapp.errors import InvalidInput


def from_hex(text: object, what: str = "payload") -> bytes:
    """Decodes ``0x``-prefixed hex. Raises ``InvalidInput`` naming ``what`` on anything else."""
    if not isinstance(text, str) or not text.startswith(("0x", "0X")):
        raise InvalidInput(f"{what} is not 0x-prefixed hex", code="bad_hex")
    digits = text[2:]
    if len(digits) % 2:
        raise InvalidInput(f"{what} has an odd number of hex digits", code="bad_hex")
    try:
        return bytes.fromhex(digits)
    except ValueError as exc:
        raise InvalidInput(f"{what} is not valid hex: {exc}", code="bad_hex") from exc


def to_hex(data: bytes) -> str:
    """``0x`` + lower-case hex."""
    return "0x" + data.hex()
