"""Value types shared by the whole backend: one normalised ``Address``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True, slots=True)
class Address:
    """A 20-byte Ethereum address. Decoded once at the edge; compared by bytes."""

    raw: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.raw, bytes) or len(self.raw) != 20:
            raise ValueError(f"an address is 20 bytes, got {self.raw!r}")

    @classmethod
    def from_hex(cls, text: str) -> Address:
        """Parses ``0x`` + 40 hex digits (any case). Raises ``ValueError`` otherwise."""
        if not isinstance(text, str) or len(text) != 42 or text[:2] not in ("0x", "0X"):
            raise ValueError(f"not an address: {text!r}")
        return cls(bytes.fromhex(text[2:]))

    @property
    def hex(self) -> str:
        """Lower-case ``0x``-prefixed hex, the form used in JSON answers."""
        return "0x" + self.raw.hex()

    def __str__(self) -> str:
        return self.hex

    def __repr__(self) -> str:
        return f"Address({self.hex})"


ETHER = Address(bytes(20))
"""The token id under which Ether balances are kept (``address(0)`` in the protocol)."""


def token_name(token: Address) -> str:
    """``"ETH"`` for Ether, the address otherwise (for messages)."""
    return "ETH" if token == ETHER else token.hex
