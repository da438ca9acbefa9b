"""``mlmarket submit``'s pieces (imported only by that command): FILE_OR_CID arguments, and what a
revealed submission came to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlmarket.cli.outcomes import Verdict, job_record, submission_record, verdict
from mlmarket.cli.render import outcome_text
from mlmarket.client.jobspec import parse_cid
from mlmarket.client.submission_flow import FlowResult, content_of
from mlmarket.client.submission_state import Content
from mlmarket.client.upload import read_file


def content_arg(role: str, value: str | None) -> Content | None:
    """A ``Content`` from FILE_OR_CID: an existing file is hashed here, anything else is a CID."""
    if value is None:
        return None
    path = Path(value).expanduser()
    if path.is_file():
        return content_of(role, data=read_file(path), path=str(path.resolve()))
    parse_cid(value, f"--{role}")  # neither a file nor a CID: say so
    return content_of(role, cid=value)


def read_content(content: Content) -> bytes | None:
    """The bytes of a content given as a file (None for one given as a CID)."""
    return read_file(content.path) if content.path else None


def revealed(market: Any, units: Any, result: FlowResult) -> Verdict:
    """``revealed: submission 3 of job 1, accuracy 0.930000, accepted, paid 10 TEST`` (what the
    machine recorded for the submission after the reveal: ``outcomes.verdict``), then every output
    of the reveal; the verdict's exit status goes with it."""
    job = job_record(market, result.state.job)
    sub = submission_record(market, result.state.job, int(result.state.submission or 0))
    said = verdict(units, job, sub, result.outcome)
    head = f"revealed: submission {result.state.submission} of job {result.state.job}, {said.text}"
    return Verdict(head + "\n" + outcome_text(result.outcome, units), said.exit_code, said.status)
