"""Text forms of what the client returns (the ``--json`` forms are the objects' ``to_json``)."""

from __future__ import annotations

from typing import Any

from mlmarket.client.amounts import format_amount, from_millionths
from mlmarket.client.outputs import DecodedNotice, DecodedReport, DecodedVoucher, InputOutcome
from mlmarket.client.payouts import payments, route_text
from mlmarket.client.units import Units, duration, score_text

ETHER = "0x" + "00" * 20
SCORE_ARGS = frozenset({"score", "baseline", "contribution"})
"""Notice arguments in millionths of the metric, shown in the metric's units in text output."""
AMOUNT_ARGS = frozenset({"amount", "budget", "refund", "paid", "stake"})
"""Notice arguments in base units of the job's (or the notice's) token."""


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


def _job_facts(units: Units | None, args: dict[str, Any]) -> tuple[str | None, str]:
    """The token and metric a notice's amounts and scores are in: its own ``token``/``spec``, else
    those of the job it names (inspect, through ``units``)."""
    spec = args.get("spec") if isinstance(args.get("spec"), dict) else {}
    token, metric = args.get("token"), spec.get("metric", "")
    if units is not None and "jobId" in args and (token is None or not metric):
        job = units.job(int(args["jobId"]))
        token, metric = token or job.get("token"), metric or job.get("metric", "")
    return token, metric


def notice_line(notice: DecodedNotice, units: Units | None = None, paid: frozenset[tuple[int, int]] = frozenset(),
                route: str = "") -> str:
    """``notice #3 JobCreated jobId=1 sponsor=0x… budget=100 MLT`` (a JobSpec argument is
    summarised; with ``units``, amounts carry their token's symbol and scores their metric). A
    ``SubmissionScored`` whose submission is in ``paid`` (job, submission) says ``paid`` rather than
    ``accepted=False`` (a ``best`` winner is scored first, then paid by the same input); ``route``
    (where a reward or returned stake went) ends the line in parentheses."""
    if notice.name is None:
        return f"notice #{notice.index} (not an IMLMarketNotices call) 0x{notice.payload.hex()[:64]}"
    token, metric = _job_facts(units, notice.args) if units is not None else (None, "")
    scored = (int(notice.args.get("jobId", -1)), int(notice.args.get("submissionId", -1)))
    parts = []
    for key, value in notice.args.items():
        if key == "accepted" and notice.name == "SubmissionScored" and not value and scored in paid:
            parts.append("paid (RewardPaid below)")
            continue
        if key in SCORE_ARGS:
            value = score_text(int(value), metric) if metric else f"{from_millionths(value):g}"
        elif key in AMOUNT_ARGS and units is not None and token is not None:
            value = units.amount(int(value), token)
        elif isinstance(value, dict):
            value = f"{{{value.get('policy', '')} {value.get('metric', '')} {value.get('title', '')!r}}}"
        parts.append(f"{key}={value}")
    return f"notice #{notice.index} {notice.name} " + " ".join(parts) + (f" ({route})" if route else "")


def voucher_line(voucher: DecodedVoucher, units: Units | None = None) -> str:
    """``voucher #4 pays 10 MLT to 0x… [executable]`` (without ``units``: the token's address)."""
    call = voucher.call or {}
    state = f" [{voucher.state}]" if voucher.state else ""
    if call.get("function") == "ether":
        what = f"pays {format_amount(voucher.value)} ETH to {call['to']}"
    elif call.get("function") == "transfer" and units is not None:
        what = f"pays {units.amount(int(call['amount']), voucher.destination)} to {call['to']}"
    elif call.get("function") == "transfer":
        what = f"pays {format_amount(int(call['amount']))} of token {voucher.destination} to {call['to']}"
    else:
        what = f"calls {voucher.destination} value={voucher.value} data=0x{voucher.payload.hex()[:64]}"
    return f"voucher #{voucher.index} (input {voucher.input_index}) {what}{state}"


def report_line(report: DecodedReport, units: Units | None = None) -> str:
    """``report: <message>`` for errors (unix times and balances in human units with ``units``), else the
    report's JSON compactly."""
    if report.error:
        return f"report: error: {units.humanize(report.error) if units else report.error}"
    return f"report: {report.value}"


def outcome_text(outcome: InputOutcome, units: Units | None = None) -> str:
    """Every output of a processed input, one per line, after its status line."""
    lines = [f"input {outcome.index}: {outcome.status}"]
    outputs = sorted([*outcome.notices, *outcome.vouchers], key=lambda o: o.index)
    paid = frozenset((int(n.args["jobId"]), int(n.args["submissionId"])) for n in outcome.notices
                     if n.name == "RewardPaid")
    routes = {p.notice: route_text(p) for p in payments(outcome)}
    lines += [voucher_line(o, units) if isinstance(o, DecodedVoucher) else notice_line(o, units, paid,
                                                                                         routes.get(o.index, ""))
              for o in outputs]
    lines += [report_line(r, units) for r in outcome.reports]
    return "\n".join(lines)


SPEC_AMOUNTS, SPEC_SCORES, SPEC_SPANS = ("reward_per_accept", "stake"), ("min_score", "min_gain", "tolerance"), \
    ("reveal_window", "round_duration")


def _float_score(value: Any, metric: str) -> Any:
    """A score inspect gives in the metric's units (a float) as ``accuracy 0.930000``."""
    return value if value is None else score_text(round(float(value) * 1_000_000), metric)


def human_job(job: dict[str, Any], units: Units) -> dict[str, Any]:
    """Inspect's job record for text output: amounts with the token's symbol, dates in UTC and
    relative, scores in the metric's units, spans in minutes/hours (``--json`` keeps the raw record)."""
    token, metric = str(job.get("token", ETHER)), str(job.get("metric", ""))
    shown = dict(job)
    shown["token"] = f"{units.token(token).symbol} ({token})"
    for key in ("budget", "paid"):
        if key in job:
            shown[key] = units.amount(job[key], token)
    for key in ("created_at", "deadline"):
        if isinstance(job.get(key), int):
            shown[key] = units.time(job[key])
    if "best_score" in job:
        shown["best_score"] = _float_score(job["best_score"], metric)
    spec = dict(job.get("spec") or {})
    for key in SPEC_AMOUNTS:
        if key in spec:
            spec[key] = units.amount(spec[key], token)
    for key in SPEC_SCORES:
        if isinstance(spec.get(key), int):
            spec[key] = score_text(spec[key], metric)
    for key in SPEC_SPANS:
        if isinstance(spec.get(key), int):
            spec[key] = duration(spec[key])
    if isinstance(spec.get("deadline"), int):
        spec["deadline"] = units.time(spec["deadline"])
    if spec:
        shown["spec"] = spec
    return shown


def human_submission(sub: dict[str, Any], job: dict[str, Any], units: Units) -> dict[str, Any]:
    """Inspect's submission record for text output (``human_job``'s units; the exact score in
    millionths becomes the metric's units)."""
    token, metric = str(job.get("token", ETHER)), str(job.get("metric", ""))
    shown = {k: v for k, v in sub.items() if k != "score_millionths"}
    if sub.get("score_millionths") is not None:
        shown["score"] = score_text(int(sub["score_millionths"]), metric)
    for key in ("reward", "stake"):
        if key in sub:
            shown[key] = units.amount(sub[key], token)
    if isinstance(sub.get("created_at"), int):
        shown["created_at"] = units.time(sub["created_at"])
    return shown


def job_line(job: dict[str, Any], units: Units) -> str:
    """``job 1 threshold accuracy open "title": budget 90 TEST, deadline 2026-… UTC (in 3 h), 2
    submissions (1 accepted)``."""
    token = str(job.get("token", ETHER))
    title = (job.get("spec") or {}).get("title", "")
    return (f"job {job['id']} {job.get('policy')} {job.get('metric')} {job.get('status')}"
            f"{' ' + repr(title) if title else ''}: budget {units.amount(job.get('budget', 0), token)}, "
            f"deadline {units.time(int(job['deadline']))}, {job.get('submissions', 0)} submissions "
            f"({job.get('accepted', 0)} accepted)")
