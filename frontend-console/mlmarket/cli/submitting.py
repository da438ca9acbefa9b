"""``mlmarket submit``'s pieces (imported only by that command): FILE_OR_CID arguments, and the text
of a revealed submission."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlmarket.cli.render import outcome_text
from mlmarket.client.amounts import format_amount, from_millionths
from mlmarket.client.jobspec import parse_cid
from mlmarket.client.submission_flow import FlowResult, content_of, job_stake
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


def revealed_text(market: Any, result: FlowResult) -> str:
    """``revealed: submission 3 of job 1, score 0.93, accepted, paid 10 TEST`` (from the reveal's
    notices), then every output of the reveal."""
    outcome = result.outcome
    scored = outcome.first("SubmissionScored")
    parts = [f"submission {result.state.submission} of job {result.state.job}"]
    if scored is None:
        parts.append(_unscored_text(market, result.state.job, result.state.submission))
    else:
        verdict = "accepted" if scored["accepted"] else "rejected"
        parts += [f"score {from_millionths(int(scored['score'])):g}", verdict]
    verbs = {"RewardPaid": "paid", "StakeReturned": "stake returned", "StakeSlashed": "stake slashed"}
    for notice in (n for n in outcome.notices if n.name in verbs):
        token = notice.args.get("token") or job_stake(market, result.state.job)[1]
        amount = format_amount(int(notice.args["amount"]), market.chain.decimals_of(token))
        parts.append(f"{verbs[notice.name]} {amount} {token_name(market, token)}")
    return "revealed: " + ", ".join(parts) + "\n" + outcome_text(outcome)


def _unscored_text(market: Any, job: int, submission: int) -> str:
    """Why a reveal has no score yet: it waits for earlier commits (decisions follow commit order),
    or for the job's hidden test set."""
    page = market.query(f"jobs/{job}/submissions?offset={max(submission - 1, 0)}&limit=1")
    status = (page.get("submissions") or [{}])[0].get("status")
    if status == "revealed":
        return ("scored, waiting for earlier commits of the job to be revealed or to expire (decisions "
                "follow commit order; any input naming the job, e.g. `mlmarket settle`, moves them on)")
    return "stored, not scored yet (scored when the job's hidden test set is revealed)"


def token_name(market: Any, token: str) -> str:
    """``ETH``, ``TEST`` (the local node's test token) or the token's address."""
    if int(token, 16) == 0:
        return "ETH"
    test = market.config.addresses.get("Token")
    return "TEST" if test and test.lower() == token.lower() else token
