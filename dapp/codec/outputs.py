"""Domain events -> rollup outputs (notices, vouchers, JSON reports), as pure values."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import Any

from dapp.codec import abi
from dapp.codec.metadata import V1
from dapp.domain import events as ev
from dapp.domain.commands import JobSpec
from dapp.domain.values import ETHER, Address
from dapp.errors import DomainError


@dataclass(frozen=True, slots=True)
class Notice:
    payload: bytes


@dataclass(frozen=True, slots=True)
class Voucher:
    destination: Address
    value: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class Report:
    payload: bytes


Output = Notice | Voucher | Report


@dataclass(frozen=True, slots=True)
class OutputContext:
    """What output encoding needs to know about the rollup: its version and the app's address."""

    version: int
    app_address: Address | None


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON bytes (sorted keys, no spaces, UTF-8)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def json_report(value: Any) -> Report:
    """A report whose payload is the canonical JSON of ``value``."""
    return Report(canonical_json(value))


def error_report(code: str, message: str, **details: Any) -> Report:
    """The JSON report of a failed input: ``{"ok": false, "error": {"code", "message", ...}}``."""
    return json_report({"ok": False, "error": {"code": code, "message": message, **details}})


def _abi_value(value: Any) -> Any:
    if isinstance(value, Address):
        return value.raw
    if isinstance(value, JobSpec):
        return tuple(_abi_value(getattr(value, f.name)) for f in fields(JobSpec))
    return value


def notice_payload(event: Any) -> bytes:
    """``IMLMarketNotices.<EventName>(fields...)`` as ``selector ‖ abi.encode(fields)``."""
    args = [_abi_value(getattr(event, f.name)) for f in fields(event)]
    return abi.notices().encode(type(event).__name__, *args)


def payment_voucher(payment: ev.Payment, ctx: OutputContext) -> Voucher:
    """ERC-20: ``token.transfer(to, amount)``. Ether: v2 ``value`` to ``to``; v1 the dApp's
    ``withdrawEther(to, amount)`` (needs the dApp address, relayed or configured)."""
    targets = abi.voucher_targets()
    if payment.token != ETHER:
        return Voucher(payment.token, 0, targets.encode("transfer", payment.to.raw, payment.amount))
    if ctx.version != V1:
        return Voucher(payment.to, payment.amount, b"")
    if ctx.app_address is None:
        raise DomainError(
            "cannot pay Ether on Rollups v1 before the dApp address is known "
            "(relay it with DAppAddressRelay or set MLMARKET_DAPP_ADDRESS)",
            code="app_address_unknown",
        )
    return Voucher(ctx.app_address, 0, targets.encode("withdrawEther", payment.to.raw, payment.amount))


def encode_events(events: list[Any], ctx: OutputContext) -> list[Output]:
    """Turns the domain's events, in order, into outputs."""
    from dapp.codec.cid import cid_to_text

    outputs: list[Output] = []
    for event in events:
        if isinstance(event, ev.Payment):
            outputs.append(payment_voucher(event, ctx))
        elif isinstance(event, ev.UploadProgress):
            outputs.append(json_report({"ok": True, "upload": {
                "cid": cid_to_text(event.cid), "received": event.received, "size": event.size}}))
        elif isinstance(event, ev.PayoutsChosen):
            outputs.append(json_report({"ok": True, "payouts": {
                "account": event.account.hex, "vouchers": event.vouchers}}))
        elif isinstance(event, ev.CommandFailed):
            outputs.append(error_report(event.code, event.message, deposit="credited"))
        elif isinstance(event, ev.NOTICE_EVENTS):
            outputs.append(Notice(notice_payload(event)))
        else:
            raise TypeError(f"no output for event {event!r}")
    return outputs
