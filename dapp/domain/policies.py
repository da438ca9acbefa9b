"""What each job policy does when a submission is scored, at the deadline, and on cancel.

- threshold: a submission scoring at least ``min_score`` (and beating the best accepted one by
  ``min_gain``, if set) is paid ``reward_per_accept`` at once while the budget lasts; the job ends
  when the budget cannot pay another reward, or at the deadline. With a hidden test set, the same
  rule is applied, in submission order, to the scores on the revealed test set
  (``threshold_on_test``), and the best accepted model is published when the job ends.
- manual: submissions are scored; the sponsor (or a delegate) accepts or rejects each. At the
  deadline (or on cancel), unreviewed ones become ``accept_by_default``, paid in submission order
  while the budget lasts.
- best: the best score reaching ``min_score`` takes the whole budget after the deadline (ties: the
  earliest); none → refund. With a hidden test set, submissions are only stored until the sponsor
  reveals it (``dapp.domain.reveal``).

**The fallback split** (``split``) pays the budget, in equal shares, only to submissions that
qualify on the job's validation set (score meeting ``min_score``), one share per piece of work
(copies of the same work share nothing beyond the earliest's share), the remainder of the division
to the earliest; nothing qualifies → refund. So junk from any number of addresses cannot cut an
honest qualifying submission's share below ``budget / (distinct qualifying pieces of work)``. It
applies to a hidden-test job (``best`` or ``threshold``) whose test set is not revealed in time,
or is cancelled while submissions wait, or whose revealed set scores none of them: those
submissions were never scored on the validation set, so the job first scores them there in
batches (``start_fallback_split``: status ``scoring``, ``job.fallback_split``), and the last batch
splits. It applies at once to a cancelled ``best`` job without a hidden test set, whose
submissions are already scored on it.
A piece of work (``payouts.work_keys``) is paid at most once per job in every policy.
Cancelling a rounds job closes the current round first when it has accepted updates (they are
averaged, published and paid). Stakes are settled in the submission's own input: returned when its
content passes the checks, slashed into the budget when it does not. Every end refunds what is left
of the budget to the sponsor.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from dapp.codec.cid import cid_of
from dapp.domain import content, content_budget, payouts, rounds
from dapp.domain.commands import Context
from dapp.domain.env import Env
from dapp.domain.events import ModelPublished, SubmissionScored
from dapp.domain.records import JOBS, OPEN, REVEALING, SCORING, SUBMISSIONS, Job, Submission, submissions_of
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


def next_due(job: Job) -> str:
    """When the job will next have something to settle (for messages)."""
    if job.status == OPEN and job.spec.policy == "rounds":
        return f"round {job.round} closes at {rounds.round_end(job)}"
    if job.status == OPEN:
        return f"submissions close at {job.spec.deadline}"
    if job.status == REVEALING:
        return f"the sponsor may reveal the test set until {job.spec.deadline + job.spec.reveal_window}"
    if job.status == SCORING and job.fallback_split:
        return ("the test set was not revealed: submissions are being scored on the validation set for the "
                "split: settleJob scores the next batch")
    if job.status == SCORING:
        return "submissions are being scored on the revealed test set: settleJob scores the next batch"
    return "the job has ended"


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
                 if sub.score is not None and sub.status not in ("invalid", "unscorable")
                 and qualifies(job, sub.score)]
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


def _unscored(tx: Tx, job: Job) -> list[Submission]:
    """A hidden-test job's submissions that have no score on the validation set: waiting for the
    reveal, or found unscorable on the revealed test set."""
    return [sub for sub in submissions_of(tx, job) if sub.status in ("stored", "unscorable")]


def start_fallback_split(tx: Tx, job: Job) -> tuple[Job, list[Any]]:
    """A hidden-test job's fallback split (module docstring): its submissions go (back) to
    ``stored`` and the job to ``scoring`` on the validation set, each ``settleJob`` scoring the next
    batch (``dapp.domain.reveal.score_batch``), the last one splitting. Nothing to score: it splits
    (refunds) at once."""
    waiting = _unscored(tx, job)
    if not waiting:
        events = split(tx, job)
        return tx.get(JOBS, job.id), events
    for sub in waiting:
        if sub.status != "stored":
            tx.put(SUBMISSIONS, (job.id, sub.id), replace(sub, status="stored", error=""))
    job = replace(job, status=SCORING, fallback_split=True)
    tx.put(JOBS, job.id, job)
    return job, []


def threshold_accepts(tx: Tx, job: Job, score: int) -> bool:
    """The threshold rule for one score: it meets ``min_score``, improves on the best accepted
    score by ``min_gain`` (when set and a submission was accepted), and the budget holds a reward."""
    ok = qualifies(job, score)
    if ok and job.spec.min_gain and job.best_score is not None:
        ok = gain_over_best(job, score) >= job.spec.min_gain
    return ok and payouts.budget(tx, job) >= job.spec.reward_per_accept


def threshold_on_test(tx: Tx, job: Job, sub: Submission, scored: Any, ctx: Context,
                      env: Env) -> tuple[Job, list[Any]]:
    """A hidden-test threshold job: applies the threshold rule to ``sub``'s score on the revealed
    test set (batches score in submission order, so the rule runs in that order). Accepted: paid
    at once, and, when it beats the best accepted one, its model is kept (``keep_best_model``) to be
    published when the job ends (``finish_on_test``). Work already paid is rejected with the reason."""
    trained = cid_of(scored.model_bytes) if scored.model_bytes is not None else sub.model_cid
    first, why = payouts.first_paid(tx, sub, trained)
    if first or not threshold_accepts(tx, job, scored.score):
        sub = replace(sub, status="rejected", error=why)
        tx.put(SUBMISSIONS, (job.id, sub.id), sub)
        return job, [SubmissionScored.of(sub, False)]
    job, sub, paid = payouts.reward(tx, job, sub, job.spec.reward_per_accept, trained)
    if beats_best(job, scored.score):
        job = replace(job, best_submission=sub.id, best_score=scored.score)
        tx.put(JOBS, job.id, job)
        keep_best_model(tx, job, scored.model_bytes, ctx, env)
    return job, [SubmissionScored.of(sub, True)] + paid


def keep_best_model(tx: Tx, job: Job, model: bytes | None, ctx: Context, env: Env) -> None:
    """Remembers the current best submission's trained model, published if it wins. Its bytes count
    against the content budget now, so publishing it needs no fresh room; without room it is not
    kept (never an error) and the winner is paid without a published model."""
    content_budget.keep_model(tx, job.id, model, ctx.timestamp, env.limits)


def publish_best(tx: Tx, job: Job, ctx: Context) -> tuple[Job, list[Any]]:
    """Makes the model of the job's best submission its current model (``ModelPublished``): the
    trained model kept for it (``keep_best_model``; needs no fresh room), else the trained model it
    sent. None when the job has no best, or its trained model could not be kept."""
    if not job.best_submission:
        return job, []
    sub = tx.get(SUBMISSIONS, (job.id, job.best_submission))
    cid, stored = content.publish_kept(tx, job.id, sub.contributor, ctx)
    cid = sub.model_cid if cid is None else cid  # None: the best sent a trained model
    if not cid:  # b"": its trained model could not be kept, so none is published
        return job, []
    job = replace(job, model_cid=cid)
    tx.put(JOBS, job.id, job)
    return job, stored + [ModelPublished(job.id, job.round, cid, job.best_score or 0)]


def pay_best(tx: Tx, job: Job, ctx: Context, env: Env) -> list[Any]:
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


def finish_on_test(tx: Tx, job: Job, ctx: Context, env: Env) -> list[Any]:
    """Ends a hidden-test job after its last batch on the revealed test set: ``best`` pays its
    winner; ``threshold`` (paid as scored) publishes its best accepted model; the rest is refunded."""
    if job.spec.policy == "best":
        return pay_best(tx, job, ctx, env)
    job, published = publish_best(tx, job, ctx)
    return published + payouts.end(tx, job, "paid" if job.paid else "refunded")[1]


def settle_reviews(tx: Tx, job: Job) -> tuple[Job, list[Any]]:
    """Manual jobs: unreviewed scored submissions become ``accept_by_default``, paid in order (work
    already paid is not paid again: rejected with the reason)."""
    events: list[Any] = []
    for sub in submissions_of(tx, job):
        if sub.status != "scored":
            continue
        first, why = payouts.first_paid(tx, sub) if job.spec.accept_by_default else (0, "")
        pay = (job.spec.accept_by_default and not first
               and payouts.budget(tx, job) >= job.spec.reward_per_accept)
        if pay:
            job, sub, paid = payouts.reward(tx, job, sub, job.spec.reward_per_accept)
            events += paid
        tx.put(SUBMISSIONS, (job.id, sub.id),
               replace(sub, status="accepted" if pay else "rejected", reviewed=True, error=why or sub.error))
    return job, events


def apply_due(tx: Tx, job: Job, ctx: Context, env: Env) -> tuple[Job, list[Any]]:
    """Applies one due transition at the input's time (deadline, reveal timeout); returns the job."""
    spec, now = job.spec, ctx.timestamp
    if spec.policy == "rounds":
        if rounds.is_due(job, now):
            return rounds.close_round(tx, job, ctx, env, rounds.round_end(job))
        return job, []
    if job.status == OPEN and now >= spec.deadline:
        if has_hidden_test(job):
            job = replace(job, status=REVEALING)
            tx.put(JOBS, job.id, job)
            return job, []
        if spec.policy == "best":
            events = pay_best(tx, job, ctx, env)
        elif spec.policy == "manual":
            job, events = settle_reviews(tx, job)
            job, ended = payouts.end(tx, job, "paid" if job.paid else "refunded")
            events += ended
        else:
            job, events = payouts.end(tx, job, "paid" if job.paid else "refunded")
        return tx.get(JOBS, job.id), events
    if job.status == REVEALING and now >= spec.deadline + spec.reveal_window:
        return start_fallback_split(tx, job)
    return job, []


def on_cancel(tx: Tx, job: Job, ctx: Context, env: Env) -> tuple[Job, list[Any]]:
    """What contributors are owed when the sponsor cancels (see the module docstring): a hidden-test
    job with submissions waiting enters the fallback split's scoring (``scoring``: it can no longer
    be cancelled); a ``best`` job with qualifying submissions is split at once."""
    if job.spec.policy == "rounds" and tx.get(rounds.UPDATES, (job.id, job.round)):
        return rounds.close_round(tx, job, ctx, env, ctx.timestamp)
    if job.spec.policy == "manual":
        return settle_reviews(tx, job)
    if has_hidden_test(job) and _unscored(tx, job):
        return start_fallback_split(tx, job)
    if job.spec.policy == "best" and split_shares(tx, job):
        events = split(tx, job)
        return tx.get(JOBS, job.id), events
    return job, []
