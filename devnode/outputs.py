"""Outputs as the v2 contracts see them, and the strict field checks of the rollup HTTP server.

An output is ``selector ‖ abi.encode(args)`` of ``Notice(bytes)``, ``Voucher(address,uint256,bytes)`` or
``DelegateCallVoucher(address,bytes)`` (CARTESI-FACTS §2); its Merkle leaf is keccak256 of those bytes.
The ``parse_*`` helpers check JSON fields the way the machine's ``rollup-http-server`` does (CARTESI-FACTS
§1: ``0x`` prefix, an even number of hex digits, 42-character addresses, 64-digit values) and raise
``BadField`` with a message fit for a 400 answer.
"""

from __future__ import annotations

import re
from typing import Any

import eth_abi
from eth_abi.exceptions import DecodingError
from eth_utils import is_hex_address, to_checksum_address

NOTICE = bytes.fromhex("c258d6e5")  # Notice(bytes)
VOUCHER = bytes.fromhex("237a816f")  # Voucher(address,uint256,bytes)
DELEGATE_CALL_VOUCHER = bytes.fromhex("10321e8b")  # DelegateCallVoucher(address,bytes)

_ARGS = {
    NOTICE: ("Notice", ("bytes",)),
    VOUCHER: ("Voucher", ("address", "uint256", "bytes")),
    DELEGATE_CALL_VOUCHER: ("DelegateCallVoucher", ("address", "bytes")),
}
_HEX = re.compile(r"0x(?:[0-9a-fA-F]{2})*")
_VALUE = re.compile(r"0x[0-9a-fA-F]{64}")


class BadField(ValueError):
    """A request field that the real rollup HTTP server would refuse (answered with 400)."""


def encode_notice(payload: bytes) -> bytes:
    """The on-chain bytes of ``Notice(payload)``."""
    return NOTICE + eth_abi.encode(["bytes"], [payload])


def encode_voucher(destination: bytes, value: int, payload: bytes) -> bytes:
    """The on-chain bytes of ``Voucher(destination, value, payload)``."""
    return VOUCHER + eth_abi.encode(["address", "uint256", "bytes"], [destination, value, payload])


def encode_delegate_call_voucher(destination: bytes, payload: bytes) -> bytes:
    """The on-chain bytes of ``DelegateCallVoucher(destination, payload)``."""
    return DELEGATE_CALL_VOUCHER + eth_abi.encode(["address", "bytes"], [destination, payload])


def is_executable(output: bytes) -> bool:
    """Whether ``Application.executeOutput`` can run this output (vouchers, not notices)."""
    return output[:4] in (VOUCHER, DELEGATE_CALL_VOUCHER)


def decode_output(output: bytes) -> dict[str, Any] | None:
    """The reader API's ``decoded_data`` of an output (the real node's shapes), ``None`` if unknown."""
    entry = _ARGS.get(output[:4])
    if entry is None:
        return None
    name, types = entry
    try:
        values = eth_abi.decode(list(types), output[4:])
    except (DecodingError, ValueError):
        return None
    if name == "Notice":
        return {"type": name, "payload": "0x" + values[0].hex()}
    if name == "Voucher":
        return {"type": name, "destination": to_checksum_address(values[0]), "value": hex(values[1]),
                "payload": "0x" + values[2].hex()}
    return {"type": name, "destination": to_checksum_address(values[0]), "payload": "0x" + values[1].hex()}


def field(body: Any, name: str) -> Any:
    """``body[name]`` of a JSON object body; ``BadField`` if the body is not an object or lacks it."""
    if not isinstance(body, dict):
        raise BadField("the request body must be a JSON object")
    if name not in body:
        raise BadField(f"missing field `{name}`")
    return body[name]


def parse_hex(body: Any, name: str, *, max_bytes: int) -> bytes:
    """Field ``name`` as ``0x``-prefixed hex with an even number of digits, at most ``max_bytes``."""
    text = field(body, name)
    if not isinstance(text, str) or not _HEX.fullmatch(text):
        raise BadField(f"`{name}` must be a string of 0x-prefixed hex with an even number of digits")
    if (len(text) - 2) // 2 > max_bytes:
        raise BadField(f"`{name}` holds {(len(text) - 2) // 2} bytes, more than {max_bytes}")
    return bytes.fromhex(text[2:])


def parse_address(body: Any, name: str) -> bytes:
    """Field ``name`` as an address: exactly 42 characters, ``0x`` and 40 hex digits."""
    text = field(body, name)
    if not isinstance(text, str) or not text.startswith("0x") or not is_hex_address(text):
        raise BadField(f"`{name}` must be an address of exactly 42 characters (0x and 40 hex digits)")
    return bytes.fromhex(text[2:])


def parse_value(body: Any, name: str) -> int:
    """Field ``name`` as a uint256 written ``0x`` and exactly 64 hex digits (``"0x0"`` is refused)."""
    text = field(body, name)
    if not isinstance(text, str) or not _VALUE.fullmatch(text):
        raise BadField(f"`{name}` must be 0x followed by exactly 64 hex digits (zero-padded uint256)")
    return int(text, 16)
