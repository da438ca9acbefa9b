"""One-line summaries of notices and vouchers, and reports as lines, for people (pure but for the
token facts and job metrics ``units`` reads; every amount, score and time goes through
``mlmarket.client.units``, the CLI's own)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mlmarket.client.units import ETHER, Units, contribution_text, norm_text, privacy_text, short_address


def _amount(units: Units, base_units: Any, token: Any) -> str:
    """``units.amount`` of a value as notices and history give it (as text when not a number)."""
    try:
        return units.amount(int(base_units), str(token or ETHER))
    except (TypeError, ValueError):
        return str(base_units)


def _int(value: Any) -> int:
    """A decoded integer argument (0 when missing)."""
    return int(value or 0)


def _privacy(a: Mapping[str, Any]) -> str:
    """``ε=1.5, δ=1e-5`` from a ``PrivacyDeclared`` notice (ε in millionths, δ in 10⁻¹² units)."""
    return privacy_text({"epsilon": _int(a.get("epsilon")) / 10**6, "delta": _int(a.get("delta")) / 10**12})


def _score(units: Units, a: Mapping[str, Any]) -> str:
    """The score in ``a`` (millionths) in its job's metric (``units.score``)."""
    try:
        score, job = int(a.get("score")), int(a.get("jobId", a.get("job_id")))  # type: ignore[arg-type]
        return units.score(score, job)
    except (TypeError, ValueError):
        return str(a.get("score"))


def _job(a: Mapping[str, Any]) -> str:
    return f"job {a.get('jobId', a.get('job_id', '?'))}"


def _sub(a: Mapping[str, Any]) -> str:
    return f"submission {a.get('submissionId', a.get('submission_id', '?'))}"


def notice_summary(name: str | None, args: Mapping[str, Any], units: Units) -> str:
    """One line saying what a notice means (``args`` as decoded notices or history events give them)."""
    a = args
    token = str(a.get("token") or "")

    def money(key: str) -> str:
        return _amount(units, a.get(key), token)

    summaries: dict[str, Callable[[], str]] = {
        "Deposited": lambda: f"{short_address(a.get('account'))} deposited {money('amount')}",
        "Withdrawn": lambda: f"{short_address(a.get('account'))} withdrew {money('amount')} (a voucher pays it)",
        "JobCreated": lambda: f"{_job(a)} created by {short_address(a.get('sponsor'))} with a budget of "
                              f"{money('budget')}",
        "JobFunded": lambda: f"{_job(a)} topped up by {short_address(a.get('from'))}",
        "SubmissionCommitted": lambda: f"{_job(a)}: {_sub(a)} committed by {short_address(a.get('contributor'))}",
        "SubmissionReceived": lambda: f"{_job(a)}: {_sub(a)} received from {short_address(a.get('contributor'))}",
        "SubmissionScored": lambda: f"{_job(a)}: {_sub(a)} scored {_score(units, a)}"
                                    f"{' (accepted)' if a.get('accepted') else ''}",
        "SubmissionReviewed": lambda: f"{_job(a)}: {_sub(a)} {'accepted' if a.get('accepted') else 'rejected'} by review",
        "RewardPaid": lambda: f"{_job(a)}: {_sub(a)} paid {money('amount')} to "
                              f"{short_address(a.get('contributor'))}",
        "StakeReturned": lambda: f"{_job(a)}: stake of {_sub(a)} returned",
        "StakeSlashed": lambda: f"{_job(a)}: stake of {_sub(a)} slashed",
        "ModelPublished": lambda: f"{_job(a)}: model published (round {a.get('round')}, score "
                                  f"{_score(units, a)})",
        "RoundClosed": lambda: f"{_job(a)}: round {a.get('round')} closed",
        "ContributionMeasured": lambda: f"{_job(a)}: {_sub(a)} contributed "
                                        f"{contribution_text(_int(a.get('contribution')), '')} ({a.get('rule')}), "
                                        f"earning {money('amount')}",
        "PrivacyDeclared": lambda: f"{_job(a)}: {_sub(a)} declared {_privacy(a)}, "
                                   f"L2 distance {norm_text(_int(a.get('norm')))}",
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


def voucher_summary(call: Mapping[str, Any] | None, value: Any, units: Units) -> str:
    """What a voucher pays: ``pays 10 MLT to 0x7099…79c8``."""
    if not call:
        return f"unknown call (value {value})"
    if call.get("function") == "ether":
        return f"pays {_amount(units, call.get('amount'), ETHER)} to {short_address(call.get('to'))}"
    if call.get("function") == "transfer":
        return f"pays {_amount(units, call.get('amount'), call.get('token'))} to {short_address(call.get('to'))}"
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
