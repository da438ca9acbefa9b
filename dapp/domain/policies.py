"""What each job policy does when a submission is scored, at the deadline, and on cancel.

- threshold: a submission scoring at least ``min_score`` (and beating the best accepted one by
  ``min_gain``, if set) is paid ``reward_per_accept`` at once while the budget lasts; the job ends
  when the budget cannot pay another reward, or at the deadline.
- manual: submissions are scored; the sponsor (or a delegate) accepts or rejects each. At the
  deadline (or on cancel), unreviewed ones become ``accept_by_default``, paid in submission order
  while the budget lasts.
- best: the best score reaching ``min_score`` takes the whole budget after the deadline (ties: the
  earliest); none → refund. With a hidden test set, submissions are only stored until the sponsor
  reveals it (``reveals``); no reveal within ``reveal_window`` → the budget is split evenly among the
  valid submissions (the remainder of the division goes to the earliest), one share per piece of
  work: copies of the same model and data share nothing beyond the earliest's share.
A piece of work (``payouts.work_keys``) is paid at most once per job in every policy.
Cancelling a rounds job closes the current round first when it has accepted updates (they are
averaged, published and paid). Stakes are settled in the submission's own input: returned when its content passes the checks,
slashed into the budget when it does not. Cancelling a best-model job that has valid submissions splits the budget among them, so a sponsor
cannot cancel to keep the prize. Every end refunds what is left of the budget to the sponsor.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from dapp.domain import content, content_budget, payouts, rounds
from dapp.domain.commands import Context
from dapp.domain.env import Env
from dapp.domain.events import ModelPublished
from dapp.domain.records import JOBS, OPEN, REVEALING, SCORING, SUBMISSIONS, Job, submissions_of
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
    if job.status == SCORING:
        return "submissions are being scored on the revealed test set: settleJob scores the next batch"
    return "the job has ended"


def valid_submissions(tx: Tx, job: Job) -> list[Any]:
    """Submissions that passed the content checks (not invalid), in order."""
    return [s for s in submissions_of(tx, job) if s.status != "invalid"]


def _once_per_work(tx: Tx, subs: list[Any]) -> list[Any]:
    """``subs`` without those whose work was already paid, or is held by an earlier one of ``subs``."""
    seen: set[Any] = set()
    kept = []
    for sub in subs:
        keys = payouts.work_keys(sub)
        if not seen.intersection(keys) and not payouts.first_paid(tx, sub)[0]:
            kept.append(sub)
        seen.update(keys)
    return kept


def split(tx: Tx, job: Job, outcome: str) -> list[Any]:
    """Splits the whole budget evenly among the valid submissions, one share per piece of work (the
    earliest submission holding it), and ends the job."""
    subs = _once_per_work(tx, valid_submissions(tx, job))
    events: list[Any] = []
    if subs:
        total = payouts.budget(tx, job)
        share, remainder = divmod(total, len(subs))
        for i, sub in enumerate(subs):
            amount = share + (remainder if i == 0 else 0)
            if amount:
                job, sub, paid = payouts.reward(tx, job, sub, amount)
                events += paid
    job, ended = payouts.end(tx, job, outcome if subs else "refunded")
    return events + ended


def keep_best_model(tx: Tx, job: Job, model: bytes | None, ctx: Context, env: Env) -> None:
    """Remembers the current best submission's trained model, published if it wins. Its bytes count
    against the content budget now, so publishing it needs no fresh room; without room it is not
    kept (never an error) and the winner is paid without a published model."""
    content_budget.keep_model(tx, job.id, model, ctx.timestamp, env.limits)


def pay_best(tx: Tx, job: Job, ctx: Context, env: Env) -> list[Any]:
    """Pays the whole budget to the job's best qualifying submission, or refunds, and ends it;
    the winner's model is published."""
    events: list[Any] = []
    if job.best_submission:
        sub = tx.get(SUBMISSIONS, (job.id, job.best_submission))
        job, sub, events = payouts.reward(tx, job, sub, payouts.budget(tx, job))
        cid, stored = content.publish_kept(tx, job.id, sub.contributor, ctx)  # needs no fresh room
        cid = sub.model_cid if cid is None else cid  # None: the winner sent a trained model
        if cid:  # b"": its trained model could not be kept, so none is published
            job = replace(job, model_cid=cid)
            tx.put(JOBS, job.id, job)
            events += stored + [ModelPublished(job.id, job.round, cid, job.best_score or 0)]
    job, ended = payouts.end(tx, job, "paid" if job.paid else "refunded")
    return events + ended


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
        if spec.policy == "best" and has_hidden_test(job):
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
        events = split(tx, job, "split")
        return tx.get(JOBS, job.id), events
    return job, []


def on_cancel(tx: Tx, job: Job, ctx: Context, env: Env) -> tuple[Job, list[Any]]:
    """What contributors are owed when the sponsor cancels (see the module docstring)."""
    if job.spec.policy == "rounds" and tx.get(rounds.UPDATES, (job.id, job.round)):
        return rounds.close_round(tx, job, ctx, env, ctx.timestamp)
    if job.spec.policy == "manual":
        return settle_reviews(tx, job)
    if job.spec.policy == "best" and valid_submissions(tx, job):
        events = split(tx, job, "split")
        return tx.get(JOBS, job.id), events
    return job, []
