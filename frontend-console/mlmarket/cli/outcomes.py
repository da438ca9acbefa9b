"""What a processed input meant for a submission or a deposit, in words and exit codes.

``verdict`` reads a submission's record after its input (inspect ``jobs/<id>/submissions``) and
says what happened: paid X, waiting (and for what), refused because …, invalid (stake slashed).
``mlmarket submit`` exits with ``Verdict.exit_code``: 0 accepted or waiting, ``REFUSED`` (3) the
machine refused the submission (score below ``min_score``, work already paid, rejected by review,
expired), ``INVALID`` (4) its content failed the machine's checks (the stake, if any, slashed).
``money_note`` says where the deposit of a rejected input went; a reward or returned stake says where
it went too (``mlmarket.client.payouts``: the dApp balance by default, or a voucher).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dapp.ml.metrics import LOSSES
from mlmarket.client.inspect import query_path
from mlmarket.client.outputs import InputOutcome
from mlmarket.client.payouts import payments, where_text
from mlmarket.client.units import Units, duration, score_text

ACCEPTED_OR_WAITING, REFUSED, INVALID = 0, 3, 4
MONEY = {"RewardPaid": "paid", "StakeReturned": "stake returned", "StakeSlashed": "stake slashed"}


@dataclass(frozen=True)
class Verdict:
    """One line saying what happened to a submission, and the exit status it means."""

    text: str
    exit_code: int
    status: str = ""


def job_record(market: Any, job: int) -> dict[str, Any]:
    """Inspect ``jobs/<id>``'s job object."""
    answer = market.query(query_path("jobs", job))
    return answer.get("job", answer) if isinstance(answer, dict) else {}


def submission_record(market: Any, job: int, submission: int) -> dict[str, Any]:
    """Inspect's record of submission ``submission`` of job ``job`` (ids start at 1)."""
    page = market.query(f"jobs/{job}/submissions?offset={max(submission - 1, 0)}&limit=1")
    found = page.get("submissions") or [{}] if isinstance(page, dict) else [{}]
    return found[0]


def money_moves(units: Units, outcome: InputOutcome, job: dict[str, Any], submission: int,
                whose: str = "your") -> list[str]:
    """``paid 10 TEST``, ``stake returned 1 TEST`` … for ``submission`` in ``outcome``'s notices, then
    where the reward and the stake went (``11 TEST credited to your dApp balance: …``)."""
    moves = []
    for notice in outcome.notices:
        if notice.name in MONEY and int(notice.args.get("submissionId", -1)) == submission \
                and int(notice.args.get("jobId", -1)) == int(job["id"]):
            token = notice.args.get("token") or job["token"]
            moves.append(f"{MONEY[notice.name]} {units.amount(int(notice.args['amount']), token)}")
    mine = [p for p in payments(outcome) if (p.job, p.submission) == (int(job["id"]), submission)]
    if mine:
        moves.append(where_text(mine, units.amount, job["token"], whose))
    return moves


def refusal_reason(units: Units, job: dict[str, Any], sub: dict[str, Any]) -> str:
    """Why a scored submission was rejected: the machine's reason when it gave one, else the rule
    its score missed."""
    if sub.get("error"):
        return str(sub["error"])
    spec, metric = job.get("spec") or {}, str(job.get("metric", ""))
    score, floor = sub.get("score_millionths"), int(spec.get("min_score") or 0)
    if job.get("policy") == "manual":
        return "the sponsor or a delegate rejected it (or it was unreviewed at the deadline)"
    if score is not None:
        loss = metric in LOSSES
        if (score > floor) if loss else (score < floor):
            limit = "above the job's maximum loss" if loss else "below the job's min_score"
            return f"its score {score_text(score, metric)} is {limit} {score_text(floor, metric)}"
        if spec.get("min_gain"):
            return (f"it does not beat the best accepted score by the job's min_gain "
                    f"{score_text(int(spec['min_gain']), metric)}")
    return f"the job's budget ({units.amount(job['budget'], job['token'])}) no longer holds a reward"


def _waiting(units: Units, job: dict[str, Any], sub: dict[str, Any]) -> str:
    spec, policy = job.get("spec") or {}, job.get("policy")
    deadline = units.time(int(job["deadline"]))
    if sub["status"] == "revealed":
        return ("scored, waiting for earlier commits of the job to be revealed or to expire (decisions "
                "follow commit order; any input naming the job, e.g. `mlmarket settle`, moves them on)")
    if sub["status"] == "stored":
        window = int(spec.get("reveal_window") or 0)
        return (f"stored, not scored yet: waiting for the sponsor to reveal the job's hidden test set "
                f"(after the deadline {deadline}, within {duration(window)})")
    if job.get("status") == "scoring":
        return "scored on the revealed test set; the job decides once every submission is scored (`mlmarket settle`)"
    if policy == "best":
        return f"a candidate for the prize: the best score meeting min_score is paid after the deadline {deadline}"
    if policy == "manual":
        default = "accepted" if spec.get("accept_by_default") else "rejected"
        return f"waiting for the sponsor's review (unreviewed at the deadline {deadline}: {default})"
    if policy == "rounds":
        return f"in round {sub.get('round', job.get('round'))}: averaged into the job's model when the round closes"
    return f"waiting ({sub['status']})"


def verdict(units: Units, job: dict[str, Any], sub: dict[str, Any], outcome: InputOutcome,
            me: str | None = None) -> Verdict:
    """What happened to submission ``sub`` of ``job`` (records as inspect gives them, read after
    ``outcome``): the text and the exit status (module docstring). Its money is "yours" unless ``me``
    (the account reading it) is not the submission's contributor."""
    status, metric = str(sub.get("status")), str(job.get("metric", ""))
    scored = [score_text(sub["score_millionths"], metric)] if sub.get("score_millionths") is not None \
        and status != "stored" else []
    contributor = str(sub.get("contributor") or "").lower()
    whose = "the contributor's" if me and contributor and contributor != me.lower() else "your"
    moves = money_moves(units, outcome, job, int(sub["id"]), whose)
    if status == "accepted":
        if not any(m.startswith("paid") for m in moves) and int(sub.get("reward") or 0):
            moves.insert(0, f"paid {units.amount(sub['reward'], job['token'])}")
        return Verdict(", ".join([*scored, "accepted", *moves]), ACCEPTED_OR_WAITING, status)
    if status == "scored" and job.get("status") == "ended":
        return Verdict(", ".join([*scored, f"not paid: the job ended ({job.get('outcome') or 'ended'})", *moves]),
                       REFUSED, status)
    if status in ("rejected", "expired", "unscorable"):
        why = refusal_reason(units, job, sub) if status == "rejected" else str(sub.get("error") or status)
        return Verdict(", ".join([*scored, f"REFUSED because {why}", *moves]), REFUSED, status)
    if status == "invalid":
        slashed = [f"{m} into job {job['id']}'s budget" if m.startswith("stake slashed") else m for m in moves]
        return Verdict(", ".join([f"INVALID: {sub.get('error') or 'its content failed the checks'}", *slashed]),
                       INVALID, status)
    return Verdict(", ".join([*scored, _waiting(units, job, sub), *moves]), ACCEPTED_OR_WAITING, str(status))


def money_note(market: Any, units: Units, outcome: InputOutcome) -> tuple[str, dict[str, str]] | None:
    """Where the deposit of a failed deposit-carrying input went: its ``Deposited`` notice credited
    the sender's free balance in the dApp (the attached command's effects were dropped). Reads the
    balance now, so the note says what is there to withdraw or reuse. Returns the text and its JSON
    form (``{"token", "amount", "balance"}`` in base units); None without a deposit."""
    deposited = outcome.first("Deposited")
    if deposited is None:
        return None
    token, account = str(deposited["token"]).lower(), str(deposited["account"]).lower()
    answer = market.query(query_path("balances", account))
    free = int((answer.get("balances") or {}).get(token, 0)) if isinstance(answer, dict) else 0
    amount = int(deposited["amount"])
    shown = units.amount(amount, token)
    flag = " --eth" if int(token, 16) == 0 else _token_flag(market, token)
    text = (f"{shown} are in your dApp balance (free balance now {units.amount(free, token)}): "
            f"`mlmarket withdraw {shown.split()[0]}{flag}` or use it for the next job (`--from-balance`)")
    return text, {"token": token, "amount": str(amount), "balance": str(free)}


def _token_flag(market: Any, token: str) -> str:
    """`` --token ADDR`` unless ``token`` is the default (the local node's test token)."""
    default = (market.config.addresses.get("Token") or "").lower()
    return "" if token.lower() == default else f" --token {token}"
