"""manual (ManualAccept): submissions are scored and wait; the sponsor (or a delegate) accepts or
rejects each (``reviewSubmission``). A submission of work an earlier one of the job holds (the same
model and data, or trained model: ``payouts.work_keys``) is rejected when scored: the work is the
earlier committer's, so a copy can be neither accepted nor paid by default, even when the sponsor
turned the original down. At the deadline, or on cancel, unreviewed ones become
``accept_by_default``, paid in submission order while the budget lasts; work already paid in the job
is never paid again (rejected with the reason)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from dapp.domain import payouts
from dapp.domain.commands import Context
from dapp.domain.env import Env
from dapp.domain.events import SubmissionScored
from dapp.domain.policies import record_score, store_model
from dapp.domain.policy.base import Policy
from dapp.domain.records import SUBMISSIONS, Job, Submission, submissions_of
from dapp.domain.store import Tx


def settle_reviews(tx: Tx, job: Job) -> tuple[Job, list[Any]]:
    """Unreviewed scored submissions become ``accept_by_default``, paid in order while the budget lasts."""
    events: list[Any] = []
    for sub in submissions_of(tx, job):
        if sub.status != "scored":
            continue
        pay = job.spec.accept_by_default and payouts.budget(tx, job) >= job.spec.reward_per_accept
        if pay:  # its work is its own: a copy of earlier work was rejected when scored
            job, sub, paid = payouts.reward(tx, job, sub, job.spec.reward_per_accept)
            events += paid
        status = "accepted" if pay else "rejected"
        tx.put(SUBMISSIONS, (job.id, sub.id), replace(sub, status=status, reviewed=True))
    return job, events


class Manual(Policy):
    """The manual-review policy (module docstring)."""

    manual_review = True

    def on_scored(self, tx: Tx, job: Job, sub: Submission, scored: Any, ctx: Context, env: Env) -> list[Any]:
        """Waits for review; the model the machine trained is kept, since the sponsor may accept it."""
        sub = record_score(tx, job, sub, scored)
        sub, stored = store_model(tx, sub, scored, ctx, env)
        first, why = payouts.hold(tx, sub)
        if first:  # the work is the earlier submission's, to accept or turn down
            sub = replace(sub, status="rejected", error=why)
        tx.put(SUBMISSIONS, (job.id, sub.id), sub)
        return stored + [SubmissionScored.of(sub, False)]

    def on_deadline(self, tx: Tx, job: Job, ctx: Context, env: Env) -> tuple[Job, list[Any]]:
        """Unreviewed submissions take ``accept_by_default``; the job ends."""
        job, events = settle_reviews(tx, job)
        job, ended = payouts.end(tx, job, "paid" if job.paid else "refunded")
        return job, events + ended

    def on_cancel(self, tx: Tx, job: Job, ctx: Context, env: Env) -> tuple[Job, list[Any]]:
        """Unreviewed submissions take ``accept_by_default`` before the rest is refunded."""
        return settle_reviews(tx, job)


POLICY = Manual()
