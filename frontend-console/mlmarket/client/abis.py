"""The few base-layer ABI entries the client calls, written out by hand.

Hand-written on purpose: a deployed console or CLI must not need ``node_modules`` (where the npm
``@cartesi/rollups`` artifacts live). A unit test checks every entry here against those artifacts.

The entries are built with ``param``, ``function``, ``event`` and ``error`` (``chain_v1`` builds its v1
entries with them too). Also the ABI helpers: ``signature(entry)`` (``name(type,...)``),
``selector(entry)`` (4 bytes), and ``describe_revert(data, abi=()) -> Revert``, the one revert describer
of the project (the client and the local node): a custom error declared here or in ``abi`` (e.g. the
called contract's full ABI) with its arguments named, the reason of ``Error(string)``, or the raw data.
``release_errors(contracts)``: the errors another Rollups v2 contracts release declares in place of
2.2.0's (a node's ``node.json`` ``contracts``), to pass as ``abi``: e.g. 2.0.0-rc.14's
``ClaimNotAccepted(bytes32)`` where 2.2.0 says ``InvalidOutputsMerkleRoot(bytes32)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import eth_abi
from eth_utils import function_signature_to_4byte_selector


def param(kind: str, name: str = "", indexed: bool | None = None, components: list | None = None) -> dict:
    """An ABI parameter entry (``indexed`` for an event's, ``components`` for a tuple's)."""
    entry: dict[str, Any] = {"type": kind, "name": name}
    if indexed is not None:
        entry["indexed"] = indexed
    if components is not None:
        entry["components"] = components
    return entry


def function(name: str, inputs: list, outputs: list | None = None, mutability: str = "nonpayable") -> dict:
    """An ABI function entry."""
    return {"type": "function", "name": name, "inputs": inputs, "outputs": outputs or [],
            "stateMutability": mutability}


def event(name: str, inputs: list) -> dict:
    """An ABI event entry (not anonymous)."""
    return {"type": "event", "name": name, "inputs": inputs, "anonymous": False}


def error(name: str, inputs: list | None = None) -> dict:
    """An ABI custom error entry."""
    return {"type": "error", "name": name, "inputs": inputs or []}


_PROOF = param("tuple", "proof",
               components=[param("uint64", "outputIndex"), param("bytes32[]", "outputHashesSiblings")])

INPUT_BOX = [
    function("addInput", [param("address", "appContract"), param("bytes", "payload")], [param("bytes32")]),
    function("getNumberOfInputs", [param("address", "appContract")], [param("uint256")], "view"),
    event("InputAdded", [param("address", "appContract", True), param("uint256", "index", True),
                         param("bytes", "input", False)]),
    error("InputTooLarge", [param("address", "appContract"), param("uint256", "inputLength"),
                            param("uint256", "maxInputLength")]),
]
ETHER_PORTAL = [
    function("depositEther", [param("address", "appContract"), param("bytes", "execLayerData")], [],
             "payable"),
    error("EtherTransferFailed"),
]
ERC20_PORTAL = [
    function("depositERC20Tokens", [param("address", "token"), param("address", "appContract"),
                                    param("uint256", "value"), param("bytes", "execLayerData")]),
    error("ERC20TransferFailed"),
]
APPLICATION = [
    function("executeOutput", [param("bytes", "output"), _PROOF]),
    function("validateOutput", [param("bytes", "output"), _PROOF], [], "view"),
    function("wasOutputExecuted", [param("uint256", "outputIndex")], [param("bool")], "view"),
    function("getOutputsMerkleRootValidator", [], [param("address")], "view"),
    event("OutputExecuted", [param("uint64", "outputIndex", False), param("bytes", "output", False)]),
    error("OutputNotExecutable", [param("bytes", "output")]),
    error("OutputNotReexecutable", [param("bytes", "output")]),
    error("InvalidOutputHashesSiblingsArrayLength"),
    error("InvalidOutputsMerkleRoot", [param("bytes32", "outputsMerkleRoot")]),
    error("InsufficientFunds", [param("uint256", "value"), param("uint256", "balance")]),
]
AUTHORITY = [
    function("getEpochLength", [], [param("uint256")], "view"),
]
ERC20 = [
    function("approve", [param("address", "spender"), param("uint256", "value")], [param("bool")]),
    function("allowance", [param("address", "owner"), param("address", "spender")], [param("uint256")],
             "view"),
    function("balanceOf", [param("address", "account")], [param("uint256")], "view"),
    function("decimals", [], [param("uint8")], "view"),
    function("symbol", [], [param("string")], "view"),
    error("ERC20InsufficientBalance", [param("address", "sender"), param("uint256", "balance"),
                                       param("uint256", "needed")]),
    error("ERC20InsufficientAllowance", [param("address", "spender"), param("uint256", "allowance"),
                                         param("uint256", "needed")]),
]

ALL = {"InputBox": INPUT_BOX, "EtherPortal": ETHER_PORTAL, "ERC20Portal": ERC20_PORTAL,
       "Application": APPLICATION, "Authority": AUTHORITY, "ERC20": ERC20}
"""Contract name -> its ABI entries used here."""


RELEASE_ERRORS = {
    "2.0.0-rc.14": [  # Application (npm @cartesi/rollups 2.0.0-rc.14, as deployed)
        error("ClaimNotAccepted", [param("bytes32", "claim")]),
        error("InsufficientFunds", [param("address", "caller"), param("uint256", "value"),
                                    param("uint256", "balance")]),
    ],
}
"""Contracts release (other than 2.2.0) -> the errors it names differently."""


def release_errors(contracts: str | None) -> list[dict]:
    """The error entries of contracts release ``contracts`` that ``ALL`` (2.2.0) lacks (none if unknown)."""
    return list(RELEASE_ERRORS.get(contracts or "", ()))


def _types(entry: dict) -> list[str]:
    def one(entry: dict) -> str:
        if entry["type"].startswith("tuple"):
            return "(" + ",".join(one(c) for c in entry["components"]) + ")" + entry["type"][5:]
        return entry["type"]
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
