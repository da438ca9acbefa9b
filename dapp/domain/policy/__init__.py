"""Job policies, one module each (threshold, manual, best, rounds), behind one interface
(:class:`dapp.domain.policy.base.Policy`). :func:`of` gives a job's policy; :func:`apply_due` and
:func:`next_due` add what every policy shares: the reveal period and the scoring of a hidden test set.
"""

from __future__ import annotations

from typing import Any

from dapp.domain.commands import Context, JobSpec
from dapp.domain.env import Env
from dapp.domain.policies import start_fallback_split
from dapp.domain.policy import best, manual, rounds, threshold
from dapp.domain.policy.base import Policy
from dapp.domain.records import OPEN, REVEALING, SCORING, Job
from dapp.domain.store import Tx

POLICIES: dict[str, Policy] = {
    "threshold": threshold.POLICY,
    "manual": manual.POLICY,
    "best": best.POLICY,
    "rounds": rounds.POLICY,
}
"""``JobSpec.policy`` -> its rules (the names ``dapp.domain.spec`` accepts)."""


def of(job: Job | JobSpec) -> Policy:
    """The policy of a job (or of a validated spec)."""
    return POLICIES[(job.spec if isinstance(job, Job) else job).policy]


def apply_due(tx: Tx, job: Job, ctx: Context, env: Env) -> tuple[Job, list[Any]]:
    """Applies one transition due at the input's time; returns the job: an open job's (its
    policy's ``due``), or the end of the reveal window without a reveal (the fallback split)."""
    if job.status == OPEN:
        return of(job).due(tx, job, ctx, env)
    if job.status == REVEALING and ctx.timestamp >= job.spec.deadline + job.spec.reveal_window:
        return start_fallback_split(tx, job)
    return job, []


def next_due(job: Job) -> str:
    """When the job will next have something to settle (for messages)."""
    if job.status == OPEN:
        return of(job).next_due(job)
    if job.status == REVEALING:
        return f"the sponsor may reveal the test set until {job.spec.deadline + job.spec.reveal_window}"
    if job.status == SCORING and job.fallback_split:
        return ("the test set was not revealed: submissions are being scored on the validation set for the "
                "split: settleJob scores the next batch")
    if job.status == SCORING:
        return "submissions are being scored on the revealed test set: settleJob scores the next batch"
    return "the job has ended"
