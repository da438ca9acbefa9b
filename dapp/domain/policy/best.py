"""best (winner takes all): the best score reaching ``min_score`` takes the whole budget after the
deadline (ties: the earliest commit); none → refund. With a hidden test set, submissions are only
stored until the sponsor reveals it (``dapp.domain.reveal``) and the winner is the best on that set.
Cancelling a job with qualifying submissions splits the budget among them
(``dapp.domain.policies.split``), so a sponsor cannot cancel to keep the prize.

**reward top_k** (docs/PROTOCOL.md §4.7): the whole budget goes, when the job settles, to its
``top_k`` best qualifying submissions (better score first, ties to the earliest commit) in proportion
to their contribution, their score's gain over a **baseline** (``dapp.domain.shares.proportional``),
each valued in a ``ContributionMeasured`` notice. One place per piece of work: a submission whose
work (``payouts.work_keys``: its model and data, or the model it yields) an earlier submission of the
job holds is rejected when scored (``payouts.hold``), so copies from any number of addresses take no
place (nor, in a winner-takes-all job, the prize). The k best so far are kept as submissions are
decided (:func:`take_place`), so settling reads k submissions, however many were sent. The baseline
is ``min_score`` unless the job has a trained base model: then its score on the validation set,
measured at ``createJob`` (a base that cannot be scored there is refused); with a
hidden test set, the worse of that score and the base's score on the revealed test set, measured
after the last batch (if it cannot be scored there: the validation score), so the bar can never be
raised above what anyone could compute before submitting. Nothing above the baseline → refund; the
best's model is published only when it is paid.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from dapp.codec.cid import cid_of
from dapp.domain import content, payouts, shares
from dapp.domain.commands import Context
from dapp.domain.env import Env
from dapp.domain.events import ContributionMeasured, SubmissionScored
from dapp.domain.policies import (beats_best, keep_best_model, publish_best, qualifies, record_score, split,
                                  split_shares)
from dapp.domain.policy.base import Policy
from dapp.domain.records import JOBS, OPEN, SUBMISSIONS, Job, Submission
from dapp.domain.spec import gain
from dapp.domain.store import Tx
from dapp.ml.errors import MLError
from dapp.ml.metrics import INT64_MAX, INT64_MIN

TOP_K = "top_k"
BASELINE = "top_k_baseline"  # job_id -> a top_k job's trained base model's score on the validation set
PLACES = "top_k_places"  # job_id -> ((score, submission id), ...): a top_k job's k best so far, best first


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


def is_top_k(job: Job) -> bool:
    """Whether the job pays its top k by contribution (``JobSpec.reward`` ``top_k``)."""
    return job.spec.reward == TOP_K


def hold_work(tx: Tx, sub: Submission, scored: Any) -> Submission:
    """Notes ``sub`` as the holder of its work (its input, and the model it yields: the trained
    one, else its own); a copy of work an earlier submission holds is rejected with the reason."""
    model = cid_of(scored.model_bytes) if scored.model_bytes is not None else sub.model_cid
    first, why = payouts.hold(tx, replace(sub, trained_cid=model))
    if first:
        sub = replace(sub, status="rejected", error=why)
        tx.put(SUBMISSIONS, (sub.job_id, sub.id), sub)
    return sub


def take_place(tx: Tx, job: Job, sub: Submission, score: int) -> None:
    """top_k: ``sub`` (scored ``score``, qualifying, not a copy) joins the job's k best so far if it
    ranks among them: better score first, ties to the earliest commit. Decisions come in commit
    order, so settling reads these k places, never every submission."""
    def rank(place: tuple[int, int]) -> tuple[int, int]:
        return -gain(job.spec.metric, place[0], 0), place[1]

    places = sorted((*tx.get(PLACES, job.id, ()), (score, sub.id)), key=rank)[:job.spec.top_k]
    tx.put(PLACES, job.id, tuple(places))


def candidate(tx: Tx, job: Job, sub: Submission, scored: Any, ctx: Context, env: Env) -> Job:
    """A scored submission's claim on the prize: none for a copy (:func:`hold_work`: the same model
    and data sent again would otherwise draw another training seed and could win with a luckier
    one), else, under top_k, a place among the k best if it qualifies; the best so far's model is
    kept (:func:`consider`)."""
    sub = hold_work(tx, sub, scored)
    if sub.status != "scored":
        return job
    if is_top_k(job) and qualifies(job, scored.score):
        take_place(tx, job, sub, scored.score)
    return consider(tx, job, sub, scored, ctx, env)


def baseline(tx: Tx, job: Job, env: Env) -> int:
    """What top_k contributions are measured from (module docstring)."""
    on_validation = tx.get(BASELINE, job.id)
    if on_validation is None:
        return job.spec.min_score
    if not job.test_cid:
        return on_validation
    try:
        on_test = env.engine.score(task=job.spec.task, metric=job.spec.metric, label=job.spec.label,
                                   validation=content.get_content(tx, job.test_cid),
                                   model=content.get_content(tx, job.spec.base_model_cid), seed=0).score
    except MLError:
        return on_validation
    return on_test if gain(job.spec.metric, on_test, on_validation) < 0 else on_validation


def contribution(job: Job, score: int, base: int) -> int:
    """``score``'s gain over ``base`` (millionths), clamped to the int64 range as scores are."""
    return max(INT64_MIN, min(INT64_MAX, gain(job.spec.metric, score, base)))


def pay_top_k(tx: Tx, job: Job, ctx: Context, env: Env) -> list[Any]:
    """Shares the whole budget among the job's top k by contribution (``ContributionMeasured`` before
    each ``RewardPaid``), publishes the best's model if it is paid, and ends the job (nothing
    positive: refunded)."""
    top = [tx.get(SUBMISSIONS, (job.id, sub_id)) for _, sub_id in tx.get(PLACES, job.id, ())]
    base = baseline(tx, job, env) if top else job.spec.min_score
    measured = {sub.id: contribution(job, sub.score or 0, base) for sub in top}
    amounts = shares.proportional(payouts.budget(tx, job), measured)
    events: list[Any] = []
    for sub in top:
        sub = replace(sub, contribution=measured[sub.id])
        tx.put(SUBMISSIONS, (job.id, sub.id), sub)
        events.append(ContributionMeasured(job.id, sub.id, 0, TOP_K, sub.score or 0, base, measured[sub.id],
                                           amounts[sub.id]))
        if amounts[sub.id]:
            job, sub, paid = payouts.reward(tx, job, sub, amounts[sub.id])
            events += paid
    if job.paid:
        job, published = publish_best(tx, job, ctx)
        events += published
    job, ended = payouts.end(tx, job, "paid" if job.paid else "refunded")
    return events + ended


def settle_best(tx: Tx, job: Job, ctx: Context, env: Env) -> list[Any]:
    """The job's end on its scores: top_k's shares, or the winner takes all."""
    return pay_top_k(tx, job, ctx, env) if is_top_k(job) else pay_best(tx, job, ctx)


class Best(Policy):
    """The best-model policy (module docstring)."""

    def on_create(self, tx: Tx, job: Job, base: Any, validation: bytes | None, env: Env) -> Job:
        """top_k with a trained base model: its score on the validation set, the baseline."""
        if is_top_k(job) and base is not None and base.trained:
            scored = env.engine.score(task=job.spec.task, metric=job.spec.metric, label=job.spec.label,
                                      validation=validation, model=content.get_content(tx, job.model_cid),
                                      seed=0)
            tx.put(BASELINE, job.id, scored.score)
        return job

    def on_scored(self, tx: Tx, job: Job, sub: Submission, scored: Any, ctx: Context, env: Env) -> list[Any]:
        """A candidate for the prize, decided at the deadline (top_k: unless a copy)."""
        sub = record_score(tx, job, sub, scored)
        candidate(tx, job, sub, scored, ctx, env)
        return [SubmissionScored.of(tx.get(SUBMISSIONS, (job.id, sub.id)), False)]

    def on_deadline(self, tx: Tx, job: Job, ctx: Context, env: Env) -> tuple[Job, list[Any]]:
        """The best takes the budget, or top_k share it (none: refund)."""
        events = settle_best(tx, job, ctx, env)
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
        """A candidate for the prize on the revealed test set (top_k: unless a copy)."""
        job = candidate(tx, job, sub, scored, ctx, env)
        return job, [SubmissionScored.of(tx.get(SUBMISSIONS, (job.id, sub.id)), False)]

    def on_test_done(self, tx: Tx, job: Job, ctx: Context, env: Env) -> list[Any]:
        """The best on the test set takes the budget, or top_k share it (none: refund)."""
        return settle_best(tx, job, ctx, env)


POLICY = Best()
