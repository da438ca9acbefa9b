"""best (winner takes all): the best score reaching ``min_score`` takes the whole budget after the
deadline (ties: the earliest commit); none → refund. With a hidden test set, submissions are only
stored until the sponsor reveals it (``dapp.domain.reveal``) and the winner is the best on that set.
Cancelling a job with qualifying submissions splits the budget among them
(``dapp.domain.policies.split``), so a sponsor cannot cancel to keep the prize."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from dapp.domain import payouts
from dapp.domain.commands import Context
from dapp.domain.env import Env
from dapp.domain.events import SubmissionScored
from dapp.domain.policies import (beats_best, keep_best_model, publish_best, qualifies, record_score, split,
                                  split_shares)
from dapp.domain.policy.base import Policy
from dapp.domain.records import JOBS, OPEN, SUBMISSIONS, Job, Submission
from dapp.domain.store import Tx


def consider(tx: Tx, job: Job, sub: Submission, scored: Any, ctx: Context, env: Env) -> Job:
    """Makes ``sub`` the job's best if it qualifies and beats the best so far (its trained model kept)."""
    if not (qualifies(job, scored.score) and beats_best(job, scored.score)):
        return job
    job = replace(job, best_submission=sub.id, best_score=scored.score)
    tx.put(JOBS, job.id, job)
    keep_best_model(tx, job, scored.model_bytes, ctx, env)
    return job


def pay_best(tx: Tx, job: Job, ctx: Context) -> list[Any]:
    """Pays the whole budget to the job's best qualifying submission, or refunds, and ends it;
    the winner's model is published."""
    events: list[Any] = []
    if job.best_submission:
        sub = tx.get(SUBMISSIONS, (job.id, job.best_submission))
        job, sub, events = payouts.reward(tx, job, sub, payouts.budget(tx, job))
        job, published = publish_best(tx, job, ctx)
        events += published
    job, ended = payouts.end(tx, job, "paid" if job.paid else "refunded")
    return events + ended


class Best(Policy):
    """The best-model policy (module docstring)."""

    def on_scored(self, tx: Tx, job: Job, sub: Submission, scored: Any, ctx: Context, env: Env) -> list[Any]:
        """A candidate for the prize, decided at the deadline."""
        sub = record_score(tx, job, sub, scored)
        consider(tx, job, sub, scored, ctx, env)
        return [SubmissionScored.of(sub, False)]

    def on_deadline(self, tx: Tx, job: Job, ctx: Context, env: Env) -> tuple[Job, list[Any]]:
        """The best takes the budget (none: refund)."""
        events = pay_best(tx, job, ctx)
        return tx.get(JOBS, job.id), events

    def on_cancel(self, tx: Tx, job: Job, ctx: Context, env: Env) -> tuple[Job, list[Any]]:
        """Waiting hidden-test submissions: the fallback split's scoring; scored qualifying ones:
        the budget is split among them at once."""
        job, events = super().on_cancel(tx, job, ctx, env)
        if events or job.status != OPEN or not split_shares(tx, job):
            return job, events
        events = split(tx, job)
        return tx.get(JOBS, job.id), events

    def on_test_scored(self, tx: Tx, job: Job, sub: Submission, scored: Any, ctx: Context,
                       env: Env) -> tuple[Job, list[Any]]:
        """A candidate for the prize on the revealed test set."""
        return consider(tx, job, sub, scored, ctx, env), [SubmissionScored.of(sub, False)]

    def on_test_done(self, tx: Tx, job: Job, ctx: Context, env: Env) -> list[Any]:
        """The best on the test set takes the budget (none: refund)."""
        return pay_best(tx, job, ctx)


POLICY = Best()
