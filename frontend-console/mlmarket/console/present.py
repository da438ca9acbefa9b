"""How values are shown: amounts in token units, token names, times, one-line notice summaries (pure)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from mlmarket.client.amounts import format_amount

ETHER = "0x" + "00" * 20
AmountFormatter = Callable[[Any, str], str]
"""``fmt(amount, token)``: an amount in base units shown in the token's units with its name."""


def short_address(address: Any) -> str:
    """``0x1234…abcd`` of an address (other values as text)."""
    text = str(address or "")
    return f"{text[:6]}…{text[-4:]}" if text.startswith("0x") and len(text) == 42 else text


def token_label(token: Any, test_token: str | None) -> str:
    """``ETH`` for address(0), ``TEST`` for the local node's test token, else the short address."""
    text = str(token or "").lower()
    if text == ETHER:
        return "ETH"
    if test_token and text == test_token.lower():
        return "TEST"
    return short_address(text)


def amount_text(base_units: Any, decimals: int, label: str) -> str:
    """``1.5 ETH`` from base units (strings, as inspect gives them, or ints)."""
    try:
        value = int(base_units)
    except (TypeError, ValueError):
        return str(base_units)
    return f"{format_amount(value, decimals)} {label}"


def utc_time(seconds: Any) -> str:
    """Unix seconds as ``2026-11-21 21:48:00 UTC``."""
    try:
        return datetime.fromtimestamp(int(seconds), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (TypeError, ValueError, OverflowError, OSError):
        return str(seconds)


def score_text(millionths: Any) -> str:
    """A score from millionths (notices) in the metric's units."""
    try:
        return f"{int(millionths) / 1e6:g}"
    except (TypeError, ValueError):
        return str(millionths)


def _job(a: Mapping[str, Any]) -> str:
    return f"job {a.get('jobId', a.get('job_id', '?'))}"


def _sub(a: Mapping[str, Any]) -> str:
    return f"submission {a.get('submissionId', a.get('submission_id', '?'))}"


def notice_summary(name: str | None, args: Mapping[str, Any], fmt: AmountFormatter) -> str:
    """One line saying what a notice means (``args`` as decoded notices or history events give them)."""
    a = args
    token = str(a.get("token") or "")
    summaries: dict[str, Callable[[], str]] = {
        "Deposited": lambda: f"{short_address(a.get('account'))} deposited {fmt(a.get('amount'), token)}",
        "Withdrawn": lambda: f"{short_address(a.get('account'))} withdrew {fmt(a.get('amount'), token)} (a voucher pays it)",
        "JobCreated": lambda: f"{_job(a)} created by {short_address(a.get('sponsor'))} with a budget of "
                              f"{fmt(a.get('budget'), token)}",
        "JobFunded": lambda: f"{_job(a)} topped up by {short_address(a.get('from'))}",
        "SubmissionCommitted": lambda: f"{_job(a)}: {_sub(a)} committed by {short_address(a.get('contributor'))}",
        "SubmissionReceived": lambda: f"{_job(a)}: {_sub(a)} received from {short_address(a.get('contributor'))}",
        "SubmissionScored": lambda: f"{_job(a)}: {_sub(a)} scored {score_text(a.get('score'))}"
                                    f"{' (accepted)' if a.get('accepted') else ''}",
        "SubmissionReviewed": lambda: f"{_job(a)}: {_sub(a)} {'accepted' if a.get('accepted') else 'rejected'} by review",
        "RewardPaid": lambda: f"{_job(a)}: {_sub(a)} paid {fmt(a.get('amount'), token)} to "
                              f"{short_address(a.get('contributor'))}",
        "StakeReturned": lambda: f"{_job(a)}: stake of {_sub(a)} returned",
        "StakeSlashed": lambda: f"{_job(a)}: stake of {_sub(a)} slashed",
        "ModelPublished": lambda: f"{_job(a)}: model published (round {a.get('round')}, score "
                                  f"{score_text(a.get('score'))})",
        "RoundClosed": lambda: f"{_job(a)}: round {a.get('round')} closed",
        "JobSettled": lambda: f"{_job(a)} settled: {a.get('outcome')}",
        "JobCancelled": lambda: f"{_job(a)} cancelled",
        "TestSetRevealed": lambda: f"{_job(a)}: hidden test set revealed",
        "ContentStored": lambda: f"file {a.get('cid')} stored ({a.get('size')} bytes)",
        "AccessRequested": lambda: f"{_job(a)}: {short_address(a.get('account'))} asks for access",
        "AccessChanged": lambda: f"{_job(a)}: access of {short_address(a.get('account'))} "
                                 f"{'granted' if a.get('granted') else 'revoked'}",
        "DelegateChanged": lambda: f"{_job(a)}: delegate {short_address(a.get('account'))} "
                                   f"{'appointed' if a.get('enabled') else 'removed'}",
    }
    summary = summaries.get(name or "")
    return summary() if summary else f"{name or 'unknown notice'}"


def voucher_summary(call: Mapping[str, Any] | None, value: Any, fmt: AmountFormatter) -> str:
    """What a voucher pays: ``transfer 10 TEST to 0x7099…79c8``."""
    if not call:
        return f"unknown call (value {value})"
    if call.get("function") == "ether":
        return f"pays {fmt(call.get('amount'), ETHER)} to {short_address(call.get('to'))}"
    if call.get("function") == "transfer":
        return f"pays {fmt(call.get('amount'), str(call.get('token')))} to {short_address(call.get('to'))}"
    return f"{call.get('function')} on {short_address(call.get('token'))}"


def report_lines(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """A report (JSON) as ``(key, text)`` lines for people: nested keys joined with dots, lists of
    plain values joined with commas, ``ok`` left out (the outcome line says it)."""
    if isinstance(value, Mapping):
        lines: list[tuple[str, str]] = []
        for key, item in value.items():
            if not prefix and key == "ok":
                continue
            lines += report_lines(item, f"{prefix}.{key}" if prefix else str(key))
        return lines
    if isinstance(value, list) and all(not isinstance(v, (Mapping, list)) for v in value):
        return [(prefix or "value", ", ".join(str(v) for v in value) or "—")]
    if isinstance(value, list):
        return [line for i, item in enumerate(value) for line in report_lines(item, f"{prefix}[{i}]")]
    return [(prefix or "value", "—" if value is None else str(value))]


def relative_time(seconds: Any, now: int) -> str:
    """``in 3 h``, ``5 min ago``, ``now`` for Unix ``seconds`` against ``now`` (the largest unit,
    rounded down)."""
    try:
        delta = int(seconds) - int(now)
    except (TypeError, ValueError):
        return ""
    span = abs(delta)
    if span < 60:
        return "now"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if span >= size:
            text = f"{span // size} {unit}"
            break
    return f"in {text}" if delta > 0 else f"{text} ago"
