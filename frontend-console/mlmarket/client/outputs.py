"""Decoding what the node returns for an input: notices, vouchers, reports (pure functions).

An output's raw bytes are ``Notice(bytes payload)`` (selector ``0xc258d6e5``) or
``Voucher(address destination, uint256 value, bytes payload)`` (``0x237a816f``) encoded as calls
(CARTESI-FACTS §2). A notice's payload is one ``IMLMarketNotices`` call, decoded with
``dapp.codec.abi.notices()``; a voucher's payload an ERC-20 ``transfer`` (or empty: Ether).
Reports are UTF-8 JSON; ``{"ok": false, "error": {"code", "message"}}`` is an error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import eth_abi

from dapp.codec import abi
from dapp.errors import InvalidInput

NOTICE_SELECTOR = bytes.fromhex("c258d6e5")
VOUCHER_SELECTOR = bytes.fromhex("237a816f")
DELEGATE_CALL_VOUCHER_SELECTOR = bytes.fromhex("10321e8b")
ACCEPTED = "ACCEPTED"

WAITING_FOR_CLAIM = "waiting for claim"
EXECUTABLE = "executable"
EXECUTED = "executed"


def voucher_state(*, executed: bool, has_proof: bool, proof_accepted: bool) -> str:
    """A voucher is ``executed`` once the application says so; ``executable`` when the node gave its
    proof and the application accepts it (its epoch was claimed); else ``waiting for claim``."""
    if executed:
        return EXECUTED
    if has_proof and proof_accepted:
        return EXECUTABLE
    return WAITING_FOR_CLAIM


def hex_bytes(text: Any) -> bytes:
    """``0x``-hex (as the reader API gives it) to bytes; ``None``/empty gives ``b""``."""
    if not text:
        return b""
    if not isinstance(text, str) or not text.startswith("0x"):
        raise ValueError(f"not 0x-hex: {text!r}")
    return bytes.fromhex(text[2:])


def _int(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


def cid_text(raw: bytes) -> str:
    """A binary CID as text (``bafk...``), or ``0x``-hex if it is not a CID (or empty: ``""``)."""
    if not raw:
        return ""
    try:
        from dapp.codec.cid import cid_to_text

        return cid_to_text(raw)
    except Exception:  # noqa: BLE001 - not a valid CID: show the bytes
        return "0x" + raw.hex()


def _jsonable(param: dict[str, Any], value: Any) -> Any:
    kind, name = param["type"], param.get("name", "")
    if kind == "tuple":
        return {c["name"]: _jsonable(c, v) for c, v in zip(param["components"], value)}
    if kind == "address":
        return value.lower()
    if kind == "uint256" and not name.endswith("Id"):
        return str(value)  # amounts do not fit a JSON (JavaScript) number; ids do
    if kind == "bytes" and name.lower().endswith("cid"):
        return cid_text(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return value


@dataclass(frozen=True)
class DecodedNotice:
    """A notice: ``name`` is its ``IMLMarketNotices`` function (None if unknown); ``args`` its
    arguments by ABI name, JSON-ready: addresses lower-case hex, CIDs as text, other bytes as hex,
    uint256 amounts as decimal strings (ids stay numbers), scores as integer millionths."""

    index: int
    input_index: int
    name: str | None
    args: dict[str, Any]
    payload: bytes

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"type": "notice", "index": self.index, "input_index": self.input_index,
                "name": self.name, "args": self.args, "payload": "0x" + self.payload.hex()}


@dataclass(frozen=True)
class DecodedVoucher:
    """A voucher and what executing it needs (``raw`` output bytes, ``siblings`` once claimed; from a
    Rollups v1 node ``()`` once claimed: ``chain_v1`` fetches its v1 proof from the node)."""

    index: int
    input_index: int
    destination: str
    value: int
    payload: bytes
    call: dict[str, Any] | None
    raw: bytes
    siblings: tuple[bytes, ...] | None = None
    execution_tx: str | None = None
    state: str | None = field(default=None, compare=False)

    @property
    def beneficiary(self) -> str | None:
        """The lower-case address the voucher pays (ERC-20 ``transfer`` to, Ether recipient, v1
        ``withdrawEther`` receiver); None for a call the client does not know."""
        if self.call is None:
            return None
        return self.call.get("receiver") or self.call.get("to")

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (``state`` once known)."""
        return {"type": "voucher", "index": self.index, "input_index": self.input_index,
                "destination": self.destination, "value": str(self.value), "call": self.call,
                "payload": "0x" + self.payload.hex(), "state": self.state,
                "execution_transaction_hash": self.execution_tx}


@dataclass(frozen=True)
class DecodedReport:
    """A report: its JSON when it is JSON, else its text or bytes."""

    index: int
    input_index: int
    payload: bytes
    value: Any

    @property
    def error(self) -> str | None:
        """The message of an ``{"ok": false, "error": ...}`` report, else None."""
        if isinstance(self.value, dict) and self.value.get("ok") is False:
            err = self.value.get("error")
            if isinstance(err, dict):
                code, message = err.get("code"), err.get("message")
                return f"{message} ({code})" if code else str(message)
            return str(err)
        return None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"type": "report", "index": self.index, "input_index": self.input_index, "value": self.value}


def decode_notice_payload(payload: bytes) -> tuple[str | None, dict[str, Any]]:
    """(function name, JSON-ready args) of a notice payload; (None, {}) if it is not ours."""
    try:
        function, values = abi.notices().decode(payload)
    except InvalidInput:
        return None, {}
    return function.name, {p["name"]: _jsonable(p, v) for p, v in zip(function.params, values)}


def _voucher_call(destination: str, value: int, payload: bytes) -> dict[str, Any] | None:
    if not payload:
        return {"function": "ether", "to": destination, "amount": str(value)}
    try:
        function, values = abi.voucher_targets().decode(payload)
    except InvalidInput:
        return None
    args = {p["name"]: _jsonable(p, v) for p, v in zip(function.params, values)}
    return {"function": function.name, "token": destination,
            **{k: str(v) if isinstance(v, int) else v for k, v in args.items()}}


def decode_output(record: dict[str, Any]) -> DecodedNotice | DecodedVoucher | None:
    """Decodes a reader API output record; None for kinds the client does not handle."""
    raw = hex_bytes(record.get("raw_data"))
    index, input_index = _int(record.get("index", 0)), _int(record.get("input_index", 0))
    if raw[:4] == NOTICE_SELECTOR:
        (payload,) = eth_abi.decode(["bytes"], raw[4:])
        name, args = decode_notice_payload(payload)
        return DecodedNotice(index, input_index, name, args, payload)
    if raw[:4] == VOUCHER_SELECTOR:
        destination, value, payload = eth_abi.decode(["address", "uint256", "bytes"], raw[4:])
        siblings = record.get("output_hashes_siblings")
        return DecodedVoucher(
            index=index, input_index=input_index, destination=destination.lower(), value=value,
            payload=payload, call=_voucher_call(destination.lower(), value, payload), raw=raw,
            siblings=None if siblings is None else tuple(hex_bytes(s) for s in siblings),
            execution_tx=record.get("execution_transaction_hash") or None,
        )
    return None


def decode_report(record: dict[str, Any]) -> DecodedReport:
    """Decodes a reader API report record (or an inspect report ``{"payload": ...}``)."""
    payload = hex_bytes(record.get("raw_data", record.get("payload")))
    try:
        value: Any = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        try:
            value = payload.decode("utf-8")
        except UnicodeDecodeError:
            value = "0x" + payload.hex()
    return DecodedReport(_int(record.get("index", 0)), _int(record.get("input_index", 0)), payload, value)


@dataclass(frozen=True)
class InputOutcome:
    """What one processed input produced."""

    index: int
    status: str
    notices: tuple[DecodedNotice, ...]
    vouchers: tuple[DecodedVoucher, ...]
    reports: tuple[DecodedReport, ...]

    @property
    def error(self) -> str | None:
        """Why the input failed: an error report's message, or the status if not ``ACCEPTED``."""
        for report in self.reports:
            if report.error:
                return report.error
        return None if self.status == ACCEPTED else f"input {self.index} was {self.status.lower()}"

    def first(self, name: str) -> dict[str, Any] | None:
        """Args of the first notice named ``name``, or None."""
        return next((n.args for n in self.notices if n.name == name), None)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"input": self.index, "status": self.status, "error": self.error,
                "notices": [n.to_json() for n in self.notices],
                "vouchers": [v.to_json() for v in self.vouchers],
                "reports": [r.to_json() for r in self.reports]}


def outcome_of(record: dict[str, Any], outputs: list[dict[str, Any]],
               reports: list[dict[str, Any]]) -> InputOutcome:
    """Builds the outcome of input ``record`` from its output and report records."""
    decoded = [decode_output(o) for o in outputs]
    return InputOutcome(
        index=_int(record.get("index", 0)),
        status=str(record.get("status", "")),
        notices=tuple(d for d in decoded if isinstance(d, DecodedNotice)),
        vouchers=tuple(d for d in decoded if isinstance(d, DecodedVoucher)),
        reports=tuple(decode_report(r) for r in reports),
    )
