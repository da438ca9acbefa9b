"""Rules the job policies share (each policy is a module of ``dapp.domain.policy``): what
qualifies and what is a new best, publishing and keeping models, and the fallback split.

**The fallback split** (``split``) pays the budget, in equal shares, only to submissions that
qualify on the job's validation set (score meeting ``min_score``), one share per piece of work
(copies of the same work share nothing beyond the earliest's share), the remainder of the division
to the earliest; nothing qualifies → refund. So junk from any number of addresses cannot cut an
honest qualifying submission's share below ``budget / (distinct qualifying pieces of work)``. It
applies to a hidden-test job (``best`` or ``threshold``) whose test set is not revealed in time, or
is cancelled while submissions wait, or whose revealed set scores none of them: those submissions
were never scored on the validation set, so the job first scores them there in batches
(``start_fallback_split``: status ``scoring``, ``job.fallback_split``), and the last batch splits.
It applies at once to a cancelled ``best`` job without a hidden test set, whose submissions are
already scored on it. A piece of work (``payouts.work_keys``) is paid at most once per job in every
policy. Stakes are settled in the submission's own input: returned when its content passes the
checks, slashed into the budget when it does not. Every end refunds what is left of the budget to
the sponsor.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from dapp.domain import content, content_budget, payouts
from dapp.domain.commands import Context
from dapp.domain.env import Env
from dapp.domain.events import ModelPublished
from dapp.domain.records import JOBS, SCORING, SUBMISSIONS, Job, Submission, submissions_of
from dapp.domain.spec import gain, meets
from dapp.domain.store import Tx


def has_hidden_test(job: Job) -> bool:
    """Whether submissions wait for the sponsor's reveal to be scored."""
    return job.spec.test_commitment != bytes(32)


def qualifies(job: Job, score: int) -> bool:
    """``score`` reaches the job's ``min_score``."""
    return meets(job.spec.metric, score, job.spec.min_score)


def gain_over_best(job: Job, score: int) -> int:
    """How much ``score`` improves on the job's best accepted score (millionths)."""
    return gain(job.spec.metric, score, job.best_score)


def beats_best(job: Job, score: int) -> bool:
    """Whether ``score`` would be the job's new best (strictly better: ties keep the earliest)."""
    return job.best_score is None or gain(job.spec.metric, score, job.best_score) > 0


def _once_per_work(tx: Tx, subs: list[Submission]) -> list[Submission]:
    """``subs`` without those whose work was already paid, or is held by an earlier one of ``subs``."""
    seen: set[Any] = set()
    kept = []
    for sub in subs:
        keys = payouts.work_keys(sub)
        if not seen.intersection(keys) and not payouts.first_paid(tx, sub)[0]:
            kept.append(sub)
        seen.update(keys)
    return kept


def split_shares(tx: Tx, job: Job) -> list[Submission]:
    """Who a split pays: the submissions whose score (on the validation set: see ``split``) meets
    ``min_score``, one per piece of work (the earliest holding it), in order."""
    qualified = [sub for sub in submissions_of(tx, job)
                 if sub.status == "scored" and sub.score is not None and qualifies(job, sub.score)]
    return _once_per_work(tx, qualified)


def split(tx: Tx, job: Job) -> list[Any]:
    """Splits the whole budget evenly among ``split_shares`` (the remainder of the division to the
    earliest) and ends the job ``split``; none → ``refunded``. The submissions' scores must be on
    the validation set: a hidden-test job gets them from ``start_fallback_split`` first."""
    subs = split_shares(tx, job)
    events: list[Any] = []
    if subs:
        share, remainder = divmod(payouts.budget(tx, job), len(subs))
        for i, sub in enumerate(subs):
            amount = share + (remainder if i == 0 else 0)
            if amount:
                job, sub, paid = payouts.reward(tx, job, sub, amount)
                events += paid
    job, ended = payouts.end(tx, job, "split" if subs else "refunded")
    return events + ended


def unscored(tx: Tx, job: Job) -> list[Submission]:
    """A hidden-test job's submissions that have no score on the validation set: waiting for the
    reveal, or found unscorable on the revealed test set."""
    return [sub for sub in submissions_of(tx, job) if sub.status in ("stored", "unscorable")]


def start_fallback_split(tx: Tx, job: Job) -> tuple[Job, list[Any]]:
    """A hidden-test job's fallback split (module docstring): its submissions go (back) to
    ``stored`` and the job to ``scoring`` on the validation set, each ``settleJob`` scoring the next
    batch (``dapp.domain.reveal.score_batch``), the last one splitting. Nothing to score: it splits
    (refunds) at once."""
    waiting = unscored(tx, job)
    if not waiting:
        events = split(tx, job)
        return tx.get(JOBS, job.id), events
    for sub in waiting:
        if sub.status != "stored":
            tx.put(SUBMISSIONS, (job.id, sub.id), replace(sub, status="stored", error=""))
    job = replace(job, status=SCORING, fallback_split=True)
    tx.put(JOBS, job.id, job)
    return job, []


def keep_best_model(tx: Tx, job: Job, model: bytes | None, ctx: Context, env: Env) -> None:
    """Remembers the current best submission's trained model, published if it wins. Its bytes count
    against the content budget now, so publishing it needs no fresh room; without room it is not
    kept (never an error) and the winner is paid without a published model."""
    content_budget.keep_model(tx, job.id, model, ctx.timestamp, env.limits)


def publish_best(tx: Tx, job: Job, ctx: Context) -> tuple[Job, list[Any]]:
    """Makes the model of the job's best submission its current model (``ModelPublished``): the
    trained model kept for it (``keep_best_model``; needs no fresh room), else the trained model it
    sent. None when the job has no best, or its trained model could not be kept. The published
    model is recorded as the winner's ``trained_cid`` (inspect's ``trained_model_cid``)."""
    if not job.best_submission:
        return job, []
    sub = tx.get(SUBMISSIONS, (job.id, job.best_submission))
    cid, stored = content.publish_kept(tx, job.id, sub.contributor, ctx)
    cid = sub.model_cid if cid is None else cid  # None: the best sent a trained model
    if not cid:  # b"": its trained model could not be kept, so none is published
        return job, []
    tx.put(SUBMISSIONS, (job.id, sub.id), replace(sub, trained_cid=cid))
    job = replace(job, model_cid=cid)
    tx.put(JOBS, job.id, job)
    return job, stored + [ModelPublished(job.id, job.round, cid, job.best_score or 0)]


def record_score(tx: Tx, job: Job, sub: Submission, scored: Any) -> Submission:
    """Stores ``sub`` as ``scored`` with its score and training sample count."""
    sub = replace(sub, status="scored", score=scored.score, samples=scored.samples)
    tx.put(SUBMISSIONS, (job.id, sub.id), sub)
    return sub


def publish(tx: Tx, job: Job, sub: Submission, cid: bytes, score: int) -> tuple[Job, list[Any]]:
    """Makes the submission's model (stored under ``cid``) the job's current model and best."""
    job = replace(job, model_cid=cid, best_submission=sub.id, best_score=score)
    tx.put(JOBS, job.id, job)
    return job, [ModelPublished(job.id, job.round, cid, score)]


def store_model(tx: Tx, sub: Submission, scored: Any, ctx: Context, env: Env) -> tuple[Submission, list[Any]]:
    """Stores the model the machine trained for ``sub`` (if it trained one) in the content store;
    the submission with its ``trained_cid`` (its own model when nothing was trained)."""
    if scored.model_bytes is None:
        return replace(sub, trained_cid=sub.model_cid), []
    cid, events = content.store_file(tx, scored.model_bytes, sub.contributor, ctx, env.limits)
    return replace(sub, trained_cid=cid), events
