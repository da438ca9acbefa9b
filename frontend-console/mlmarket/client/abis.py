"""The few base-layer ABI entries the client calls, written out by hand.

Hand-written on purpose: a deployed console or CLI must not need ``node_modules`` (where the npm
``@cartesi/rollups`` artifacts live). A unit test checks every entry here against those artifacts.

Also the ABI helpers: ``signature(entry)`` (``name(type,...)``), ``selector(entry)`` (4 bytes), and
``describe_revert(data, abi=()) -> Revert``, the one revert describer of the project (the client and
the local node): a custom error declared here or in ``abi`` (e.g. the called contract's full ABI) with
its arguments named, the reason of ``Error(string)``, or the raw data. ``release_errors(contracts)``:
the errors another Rollups v2 contracts release declares in place of 2.2.0's (a node's ``node.json``
``contracts``), to pass as ``abi``: e.g. 2.0.0-rc.14's ``ClaimNotAccepted(bytes32)`` where 2.2.0 says
``InvalidOutputsMerkleRoot(bytes32)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import eth_abi
from eth_utils import function_signature_to_4byte_selector


def _p(kind: str, name: str = "", indexed: bool | None = None, components: list | None = None) -> dict:
    param: dict[str, Any] = {"type": kind, "name": name}
    if indexed is not None:
        param["indexed"] = indexed
    if components is not None:
        param["components"] = components
    return param


def _fn(name: str, inputs: list, outputs: list | None = None, mutability: str = "nonpayable") -> dict:
    return {"type": "function", "name": name, "inputs": inputs, "outputs": outputs or [],
            "stateMutability": mutability}


def _ev(name: str, inputs: list) -> dict:
    return {"type": "event", "name": name, "inputs": inputs, "anonymous": False}


def _err(name: str, inputs: list | None = None) -> dict:
    return {"type": "error", "name": name, "inputs": inputs or []}


_PROOF = _p("tuple", "proof", components=[_p("uint64", "outputIndex"), _p("bytes32[]", "outputHashesSiblings")])

INPUT_BOX = [
    _fn("addInput", [_p("address", "appContract"), _p("bytes", "payload")], [_p("bytes32")]),
    _fn("getNumberOfInputs", [_p("address", "appContract")], [_p("uint256")], "view"),
    _ev("InputAdded", [_p("address", "appContract", True), _p("uint256", "index", True),
                       _p("bytes", "input", False)]),
    _err("InputTooLarge", [_p("address", "appContract"), _p("uint256", "inputLength"),
                           _p("uint256", "maxInputLength")]),
]
ETHER_PORTAL = [
    _fn("depositEther", [_p("address", "appContract"), _p("bytes", "execLayerData")], [], "payable"),
    _err("EtherTransferFailed"),
]
ERC20_PORTAL = [
    _fn("depositERC20Tokens", [_p("address", "token"), _p("address", "appContract"), _p("uint256", "value"),
                               _p("bytes", "execLayerData")]),
    _err("ERC20TransferFailed"),
]
APPLICATION = [
    _fn("executeOutput", [_p("bytes", "output"), _PROOF]),
    _fn("validateOutput", [_p("bytes", "output"), _PROOF], [], "view"),
    _fn("wasOutputExecuted", [_p("uint256", "outputIndex")], [_p("bool")], "view"),
    _fn("getOutputsMerkleRootValidator", [], [_p("address")], "view"),
    _ev("OutputExecuted", [_p("uint64", "outputIndex", False), _p("bytes", "output", False)]),
    _err("OutputNotExecutable", [_p("bytes", "output")]),
    _err("OutputNotReexecutable", [_p("bytes", "output")]),
    _err("InvalidOutputHashesSiblingsArrayLength"),
    _err("InvalidOutputsMerkleRoot", [_p("bytes32", "outputsMerkleRoot")]),
    _err("InsufficientFunds", [_p("uint256", "value"), _p("uint256", "balance")]),
]
AUTHORITY = [
    _fn("getEpochLength", [], [_p("uint256")], "view"),
]
ERC20 = [
    _fn("approve", [_p("address", "spender"), _p("uint256", "value")], [_p("bool")]),
    _fn("allowance", [_p("address", "owner"), _p("address", "spender")], [_p("uint256")], "view"),
    _fn("balanceOf", [_p("address", "account")], [_p("uint256")], "view"),
    _fn("decimals", [], [_p("uint8")], "view"),
    _fn("symbol", [], [_p("string")], "view"),
    _err("ERC20InsufficientBalance", [_p("address", "sender"), _p("uint256", "balance"), _p("uint256", "needed")]),
    _err("ERC20InsufficientAllowance", [_p("address", "spender"), _p("uint256", "allowance"),
                                        _p("uint256", "needed")]),
]

ALL = {"InputBox": INPUT_BOX, "EtherPortal": ETHER_PORTAL, "ERC20Portal": ERC20_PORTAL,
       "Application": APPLICATION, "Authority": AUTHORITY, "ERC20": ERC20}
"""Contract name -> its ABI entries used here."""


RELEASE_ERRORS = {
    "2.0.0-rc.14": [  # Application (npm @cartesi/rollups 2.0.0-rc.14, as deployed)
        _err("ClaimNotAccepted", [_p("bytes32", "claim")]),
        _err("InsufficientFunds", [_p("address", "caller"), _p("uint256", "value"), _p("uint256", "balance")]),
    ],
}
"""Contracts release (other than 2.2.0) -> the errors it names differently."""


def release_errors(contracts: str | None) -> list[dict]:
    """The error entries of contracts release ``contracts`` that ``ALL`` (2.2.0) lacks (none if unknown)."""
    return list(RELEASE_ERRORS.get(contracts or "", ()))


def _types(entry: dict) -> list[str]:
    def one(param: dict) -> str:
        if param["type"].startswith("tuple"):
            return "(" + ",".join(one(c) for c in param["components"]) + ")" + param["type"][5:]
        return param["type"]
    return [one(p) for p in entry["inputs"]]


def signature(entry: dict) -> str:
    """``name(type,...)`` of a function, event or error entry."""
    return f"{entry['name']}({','.join(_types(entry))})"


def selector(entry: dict) -> bytes:
    """The 4-byte selector of a function or error entry."""
    return function_signature_to_4byte_selector(signature(entry))


def _error_table(entries: Iterable[dict]) -> dict[bytes, dict]:
    return {selector(entry): entry for entry in entries if entry["type"] == "error"}


_ERRORS = _error_table(entry for entries in ALL.values() for entry in entries)
_REASON = "Error(string)"
_REASON_SELECTOR = function_signature_to_4byte_selector(_REASON)


@dataclass(frozen=True)
class Revert:
    """What revert data says: ``signature`` of the error (``"OutputNotReexecutable(bytes)"``,
    ``"Error(string)"`` for a reason string, None when unknown) and ``text`` to show a person
    (``"OutputNotReexecutable(output=<40 bytes>)"``, the reason itself, or the raw data)."""

    signature: str | None
    text: str

    @property
    def name(self) -> str | None:
        """The error's name without its argument types."""
        return self.signature[:self.signature.index("(")] if self.signature else None


def describe_revert(data: bytes, abi: Iterable[dict] = ()) -> Revert:
    """Names revert ``data``: a custom error declared in ``abi`` or in ``ALL``, with its arguments,
    ``Error(string)`` with its reason, else the raw data."""
    if len(data) < 4:
        return Revert(None, "reverted without a reason")
    if data[:4] == _REASON_SELECTOR:
        try:
            (reason,) = eth_abi.decode(["string"], data[4:])
        except Exception:  # noqa: BLE001 - eth_abi raises several types on malformed data
            return Revert(_REASON, "reverted with a malformed reason string")
        return Revert(_REASON, str(reason))
    entry = {**_ERRORS, **_error_table(abi)}.get(data[:4])
    if entry is None:
        return Revert(None, f"reverted with unknown error 0x{data.hex()}")
    try:
        values = eth_abi.decode(_types(entry), data[4:])
    except Exception:  # noqa: BLE001 - arguments undecodable: the name is still useful
        return Revert(signature(entry), entry["name"])
    shown = ", ".join(f"{p['name']}={_show(v)}" if p.get("name") else _show(v)
                      for p, v in zip(entry["inputs"], values))
    return Revert(signature(entry), f"{entry['name']}({shown})")


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex() if len(value) <= 32 else f"<{len(value)} bytes>"
    return str(value)
