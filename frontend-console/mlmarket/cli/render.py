"""Text forms of what the client returns (the ``--json`` forms are the objects' ``to_json``)."""

from __future__ import annotations

from typing import Any

from mlmarket.client.amounts import format_amount, from_millionths
from mlmarket.client.outputs import DecodedNotice, DecodedReport, DecodedVoucher, InputOutcome

ETHER = "0x" + "00" * 20
SCORE_ARGS = frozenset({"score"})
"""Notice arguments in millionths of the metric, shown in the metric's units in text output."""


def pretty(value: Any, indent: int = 0) -> str:
    """An indented, YAML-like view of JSON data (for inspect answers of any shape)."""
    pad = "  " * indent
    if isinstance(value, dict):
        if not value:
            return pad + "{}"
        lines = []
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                lines.append(f"{pad}{key}:")
                lines.append(pretty(item, indent + 1))
            else:
                lines.append(f"{pad}{key}: {_scalar(item)}")
        return "\n".join(lines)
    if isinstance(value, list):
        if not value:
            return pad + "[]"
        lines = []
        for item in value:
            body = pretty(item, indent + 1).lstrip()
            lines.append(f"{pad}- {body}")
        return "\n".join(lines)
    return pad + _scalar(value)


def _scalar(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return "{}" if isinstance(value, dict) else "[]"
    return str(value)


def token_label(token: str) -> str:
    """``ETH`` for Ether, the address otherwise."""
    return "ETH" if token.lower() == ETHER else token


def notice_line(notice: DecodedNotice) -> str:
    """``notice #3 JobCreated jobId=1 sponsor=0x…`` (a JobSpec argument is summarised)."""
    if notice.name is None:
        return f"notice #{notice.index} (not an IMLMarketNotices call) 0x{notice.payload.hex()[:64]}"
    parts = []
    for key, value in notice.args.items():
        if key in SCORE_ARGS:
            value = f"{from_millionths(value):g}"
        elif isinstance(value, dict):
            value = f"{{{value.get('policy', '')} {value.get('metric', '')} {value.get('title', '')!r}}}"
        parts.append(f"{key}={value}")
    return f"notice #{notice.index} {notice.name} " + " ".join(parts)


def voucher_line(voucher: DecodedVoucher) -> str:
    """``voucher #4 pays 10 of 0x… to 0x… [executable]``."""
    call = voucher.call or {}
    state = f" [{voucher.state}]" if voucher.state else ""
    if call.get("function") == "ether":
        what = f"pays {format_amount(voucher.value)} ETH to {call['to']}"
    elif call.get("function") == "transfer":
        what = f"pays {format_amount(int(call['amount']))} of token {voucher.destination} to {call['to']}"
    else:
        what = f"calls {voucher.destination} value={voucher.value} data=0x{voucher.payload.hex()[:64]}"
    return f"voucher #{voucher.index} (input {voucher.input_index}) {what}{state}"


def report_line(report: DecodedReport) -> str:
    """``report: <message>`` for errors, else the report's JSON compactly."""
    if report.error:
        return f"report: error: {report.error}"
    return f"report: {report.value}"


def outcome_text(outcome: InputOutcome) -> str:
    """Every output of a processed input, one per line, after its status line."""
    lines = [f"input {outcome.index}: {outcome.status}"]
    outputs = sorted([*outcome.notices, *outcome.vouchers], key=lambda o: o.index)
    lines += [voucher_line(o) if isinstance(o, DecodedVoucher) else notice_line(o) for o in outputs]
    lines += [report_line(r) for r in outcome.reports]
    return "\n".join(lines)
