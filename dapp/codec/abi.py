"""The protocol's ABI, loaded from ``contracts/abi/*.json`` (compiled from ``contracts/src``).

``INPUTS`` and ``NOTICES`` encode and decode calls as ``selector ‖ abi.encode(args)``: the same
functions serve the backend (decode inputs, encode notices) and the clients (the reverse).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import eth_abi
from eth_abi.exceptions import DecodingError
from eth_hash.auto import keccak

from dapp.errors import InvalidInput


def abi_dir() -> Path:
    """Where the ABI JSON lives: ``$MLMARKET_ABI_DIR`` or ``contracts/abi`` beside ``dapp/``."""
    configured = os.environ.get("MLMARKET_ABI_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "contracts" / "abi"


def _type_string(param: dict[str, Any]) -> str:
    kind = param["type"]
    if kind.startswith("tuple"):
        inner = ",".join(_type_string(c) for c in param["components"])
        return f"({inner}){kind[len('tuple'):]}"
    return kind


@dataclass(frozen=True)
class Function:
    """One ABI function: its name, 4-byte selector, argument names and eth-abi types."""

    name: str
    selector: bytes
    arg_names: tuple[str, ...]
    arg_types: tuple[str, ...]
    params: tuple[dict[str, Any], ...]

    @classmethod
    def from_abi(cls, entry: dict[str, Any]) -> Function:
        """Builds a function from its ABI JSON entry."""
        types = tuple(_type_string(p) for p in entry["inputs"])
        signature = f"{entry['name']}({','.join(types)})"
        return cls(
            name=entry["name"],
            selector=keccak(signature.encode())[:4],
            arg_names=tuple(p["name"] for p in entry["inputs"]),
            arg_types=types,
            params=tuple(entry["inputs"]),
        )

    def encode(self, *args: Any) -> bytes:
        """``selector ‖ abi.encode(args)``; addresses as hex strings or 20 bytes."""
        return self.selector + eth_abi.encode(list(self.arg_types), list(args))

    def decode_args(self, data: bytes) -> tuple[Any, ...]:
        """Decodes the arguments (the bytes after the selector). Raises ``InvalidInput``."""
        try:
            values = eth_abi.decode(list(self.arg_types), data, strict=True)
        except (DecodingError, ValueError, OverflowError) as exc:
            raise InvalidInput(f"{self.name}: cannot decode the arguments: {exc}", code="bad_abi") from exc
        if len(eth_abi.encode(list(self.arg_types), list(values))) != len(data):
            raise InvalidInput(f"{self.name}: trailing or non-canonical bytes", code="bad_abi")
        return tuple(values)


class FunctionSet:
    """The functions of one interface, by selector and by name."""

    def __init__(self, functions: list[Function]) -> None:
        self.by_name = {f.name: f for f in functions}
        self.by_selector = {f.selector: f for f in functions}
        if len(self.by_selector) != len(functions):
            raise ValueError("selector clash")

    def __getitem__(self, name: str) -> Function:
        return self.by_name[name]

    def encode(self, name: str, *args: Any) -> bytes:
        """Encodes a call of the function ``name``."""
        return self.by_name[name].encode(*args)

    def decode(self, payload: bytes) -> tuple[Function, tuple[Any, ...]]:
        """Splits a call into its function and decoded arguments. Raises ``InvalidInput``."""
        if len(payload) < 4:
            raise InvalidInput(f"payload of {len(payload)} bytes has no 4-byte selector", code="bad_abi")
        function = self.by_selector.get(payload[:4])
        if function is None:
            raise InvalidInput(f"unknown selector 0x{payload[:4].hex()}", code="unknown_selector")
        return function, function.decode_args(payload[4:])


@cache
def load(interface: str) -> FunctionSet:
    """The functions of ``contracts/abi/<interface>.json``."""
    entries = json.loads((abi_dir() / f"{interface}.json").read_text())
    return FunctionSet([Function.from_abi(e) for e in entries if e.get("type") == "function"])


def inputs() -> FunctionSet:
    """The dApp's inputs (``IMLMarketInputs``)."""
    return load("IMLMarketInputs")


def notices() -> FunctionSet:
    """The dApp's notices (``IMLMarketNotices``)."""
    return load("IMLMarketNotices")


def voucher_targets() -> FunctionSet:
    """What vouchers call: ERC-20 ``transfer``, v1 ``withdrawEther``."""
    return load("IMLMarketVoucherTargets")
