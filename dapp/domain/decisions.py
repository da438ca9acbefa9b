"""What a scored submission earns, decided in commit order.

A submission's place is fixed when it is committed (``commitSubmission``: its id). Its content is
checked and scored when it is revealed, but what it earns under the job's policy (a threshold
payment, the best so far, a place in a round) is **decided in id order**: a revealed submission is
decided at once when every earlier submission of the job is decided, else it waits (``revealed``)
until they are. An earlier commit that is not revealed by :func:`reveal_by` expires (its stake is
slashed into the job's budget) and no longer holds the queue. So a copier, who can only commit
after the content it copies became public, always comes after the contributor who committed first,
whichever reveal the machine sees first: ties, ``min_gain``, the budget's last reward and "paid
once" all follow the commits.

:func:`advance` moves the queue; every input that names the job runs it before anything else is
applied (``jobs.touch``), so a job's deadline never passes over an undecided submission. It stops
after a decision that closes a federated round (at most one aggregation per input). A sponsor's
cancel waits for the queue too (``jobs.cancel``: ``cancelling`` until every submission is decided).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from dapp.domain import content, payouts, policy
from dapp.domain.commands import Context
from dapp.domain.env import Env
from dapp.domain.records import JOBS, OPEN, SUBMISSIONS, Job, Submission
from dapp.domain.store import Tx

COMMITTED = "committed"  # waiting for its reveal
REVEALED = "revealed"  # scored, waiting for earlier commits to be decided
EXPIRED = "expired"  # not revealed in time


@dataclass(frozen=True, slots=True)
class Scored:
    """What the decision needs of a scoring: the score (millionths), the trained model's bytes
    (None when the machine trained nothing) and the training sample count."""

    score: int
    model_bytes: bytes | None
    samples: int


def reveal_by(job: Job, sub: Submission, env: Env) -> int:
    """When ``sub``'s commit can no longer be revealed: ``commit_window`` after it, or the job's
    deadline if that comes first."""
    return min(sub.created_at + env.limits.commit_window, job.spec.deadline)


def decide_or_wait(tx: Tx, job: Job, sub: Submission, scored: Any, ctx: Context, env: Env) -> list[Any]:
    """Decides a just-scored submission if every earlier one is decided; else stores its score (and
    trained model) and leaves it ``revealed`` for :func:`advance`."""
    if job.decided == sub.id - 1:
        return decide(tx, job, sub, scored, ctx, env) + passed(tx, job.id, sub.id, ctx, env)
    events: list[Any] = []
    trained = b""
    if scored.model_bytes is not None:
        trained, events = content.store_file(tx, scored.model_bytes, sub.contributor, ctx, env.limits)
    tx.put(SUBMISSIONS, (job.id, sub.id),
           replace(sub, status=REVEALED, score=scored.score, samples=scored.samples, trained_cid=trained))
    return events


def passed(tx: Tx, job_id: int, sub_id: int, ctx: Context, env: Env) -> list[Any]:
    """Notes submission ``sub_id``, just decided in its own input (or needing no decision: stored for
    a hidden test set, invalid), as decided if it is the queue's next, and moves the queue on."""
    job = tx.get(JOBS, job_id)
    if job.decided != sub_id - 1:
        return []
    job = replace(job, decided=sub_id)
    tx.put(JOBS, job.id, job)
    return advance(tx, job, ctx, env)[1]


def _stored_scoring(tx: Tx, sub: Submission) -> Scored:
    """The scoring of a waiting submission, from what :func:`decide_or_wait` stored."""
    model = content.get_content(tx, sub.trained_cid) if sub.trained_cid else None
    return Scored(sub.score or 0, model, sub.samples)


def advance(tx: Tx, job: Job, ctx: Context, env: Env) -> tuple[Job, list[Any]]:
    """Decides waiting submissions in id order and expires unrevealed commits whose time is up, up
    to the first commit still within its time (module docstring)."""
    events: list[Any] = []
    while job.status == OPEN and job.decided < job.submissions:
        sub = tx.get(SUBMISSIONS, (job.id, job.decided + 1))
        round_before = job.round
        if sub.status == COMMITTED:
            if ctx.timestamp < reveal_by(job, sub, env):
                break
            tx.put(SUBMISSIONS, (job.id, sub.id), replace(sub, status=EXPIRED, error="not revealed in time"))
            events += payouts.slash_stake(tx, sub)
        elif sub.status == REVEALED:  # decided as if at once: the policy records its own trained_cid
            events += decide(tx, job, replace(sub, trained_cid=b""), _stored_scoring(tx, sub), ctx, env)
        job = tx.get(JOBS, job.id)
        job = replace(job, decided=job.decided + 1)
        tx.put(JOBS, job.id, job)
        if job.round != round_before:
            break
    return job, events


def decide(tx: Tx, job: Job, sub: Submission, scored: Any, ctx: Context, env: Env) -> list[Any]:
    """Applies the job's policy to a scored submission (``dapp.domain.policy``)."""
    return policy.of(job).on_scored(tx, job, sub, scored, ctx, env)
