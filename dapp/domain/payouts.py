"""Money moves of the market: rewards, stakes, refunds and the end of a job."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from dapp.domain import ledger
from dapp.domain.events import JobSettled, RewardPaid, StakeReturned, StakeSlashed
from dapp.domain.records import ENDED, JOBS, SUBMISSIONS, Job, Submission, job_pot, stake_pot
from dapp.domain.store import Tx


def budget(tx: Tx, job: Job) -> int:
    """What is left in the job's escrow."""
    return ledger.pot(tx, job_pot(job.id))[1]


def reward(tx: Tx, job: Job, sub: Submission, amount: int) -> tuple[Job, Submission, list[Any]]:
    """Pays ``amount`` of the job's budget to the contributor (a voucher) and records it."""
    payment = ledger.pay(tx, job_pot(job.id), sub.contributor, amount)
    sub = replace(sub, status="accepted", reward=sub.reward + amount)
    job = replace(job, accepted=job.accepted + 1, paid=job.paid + amount)
    tx.put(SUBMISSIONS, (job.id, sub.id), sub)
    tx.put(JOBS, job.id, job)
    return job, sub, [payment, RewardPaid(job.id, sub.id, sub.contributor, job.token, amount)]


def return_stake(tx: Tx, sub: Submission) -> list[Any]:
    """A valid submission's stake goes back to its contributor's wallet."""
    if not sub.stake:
        return []
    payment = ledger.pay(tx, stake_pot(sub.job_id, sub.id), sub.contributor, sub.stake)
    return [payment, StakeReturned(sub.job_id, sub.id, sub.contributor, sub.stake)]


def slash_stake(tx: Tx, sub: Submission) -> list[Any]:
    """An invalid submission's stake joins the job's budget."""
    if not sub.stake:
        return []
    ledger.move(tx, stake_pot(sub.job_id, sub.id), job_pot(sub.job_id), sub.stake)
    return [StakeSlashed(sub.job_id, sub.id, sub.contributor, sub.stake)]


def end(tx: Tx, job: Job, outcome: str) -> tuple[Job, list[Any]]:
    """Ends ``job``: refunds what is left of its budget to the sponsor and emits ``JobSettled``."""
    refund = budget(tx, job)
    events: list[Any] = [ledger.pay(tx, job_pot(job.id), job.sponsor, refund)] if refund else []
    job = replace(job, status=ENDED, outcome=outcome)
    tx.put(JOBS, job.id, job)
    return job, events + [JobSettled(job.id, outcome, job.paid, refund)]
