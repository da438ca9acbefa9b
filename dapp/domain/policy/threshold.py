"""threshold (AutoAccept): a submission scoring at least ``min_score`` (and beating the best
accepted one by ``min_gain``, if set) is paid ``reward_per_accept`` at once while the budget lasts;
the job's current model is the best accepted one. The job ends when the budget cannot pay another
reward, or at the deadline. With a hidden test set the same rule is applied, in submission order, to
the scores on the revealed test set, and the best accepted model is published when the job ends.
Work already paid in the job (``payouts.work_keys``) is rejected with the reason."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from dapp.codec.cid import cid_of
from dapp.domain import payouts
from dapp.domain.commands import Context
from dapp.domain.env import Env
from dapp.domain.events import SubmissionScored
from dapp.domain.policies import (beats_best, gain_over_best, keep_best_model, publish, publish_best, qualifies,
                                  record_score, store_model)
from dapp.domain.policy.base import Policy
from dapp.domain.records import JOBS, SUBMISSIONS, Job, Submission
from dapp.domain.store import Tx


def accepts(tx: Tx, job: Job, score: int) -> bool:
    """The threshold rule for one score: it meets ``min_score``, improves on the best accepted
    score by ``min_gain`` (when set and a submission was accepted), and the budget holds a reward."""
    ok = qualifies(job, score)
    if ok and job.spec.min_gain and job.best_score is not None:
        ok = gain_over_best(job, score) >= job.spec.min_gain
    return ok and payouts.budget(tx, job) >= job.spec.reward_per_accept


def _judge(tx: Tx, job: Job, sub: Submission, scored: Any) -> tuple[Job, Submission, list[Any]]:
    """Pays ``sub`` if it passes the rule and its work was not paid yet, else rejects it (with the
    reason when its work was paid); the submission as it now stands."""
    trained = cid_of(scored.model_bytes) if scored.model_bytes is not None else sub.model_cid
    first, why = payouts.first_paid(tx, sub, trained)
    if first or not accepts(tx, job, scored.score):
        sub = replace(sub, status="rejected", error=why)
        tx.put(SUBMISSIONS, (job.id, sub.id), sub)
        return job, sub, [SubmissionScored.of(sub, False)]
    job, sub, paid = payouts.reward(tx, job, sub, job.spec.reward_per_accept, trained)
    return job, sub, [SubmissionScored.of(sub, True)] + paid


class Threshold(Policy):
    """The threshold policy (module docstring)."""

    def on_scored(self, tx: Tx, job: Job, sub: Submission, scored: Any, ctx: Context, env: Env) -> list[Any]:
        """Paid at once if accepted; a new best becomes the job's model; an exhausted budget ends the job."""
        sub = record_score(tx, job, sub, scored)
        job, sub, events = _judge(tx, job, sub, scored)
        if sub.status != "accepted":
            return events
        if beats_best(job, scored.score):
            sub, stored = store_model(tx, sub, scored, ctx, env)
            tx.put(SUBMISSIONS, (job.id, sub.id), sub)
            job, published = publish(tx, job, sub, sub.trained_cid, scored.score)
            events += stored + published
        if payouts.budget(tx, job) < job.spec.reward_per_accept:
            events += payouts.end(tx, job, "paid")[1]
        return events

    def on_test_scored(self, tx: Tx, job: Job, sub: Submission, scored: Any, ctx: Context,
                       env: Env) -> tuple[Job, list[Any]]:
        """Paid at once if accepted; a new best's model is kept, to be published when the job ends."""
        job, sub, events = _judge(tx, job, sub, scored)
        if sub.status == "accepted" and beats_best(job, scored.score):
            job = replace(job, best_submission=sub.id, best_score=scored.score)
            tx.put(JOBS, job.id, job)
            keep_best_model(tx, job, scored.model_bytes, ctx, env)
        return job, events

    def on_test_done(self, tx: Tx, job: Job, ctx: Context, env: Env) -> list[Any]:
        """Publishes the best accepted model and ends the job, refunding the rest."""
        job, published = publish_best(tx, job, ctx)
        return published + payouts.end(tx, job, "paid" if job.paid else "refunded")[1]


POLICY = Threshold()
