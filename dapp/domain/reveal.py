"""The reveal of a hidden test set, and the scoring it starts, spread over as many inputs as it needs.

A ``best`` or ``threshold`` job with a hidden test set only checks its submissions' content when
they arrive (their estimated work counted against the job's ``max_job_work``). At the deadline the
job waits for the sponsor's ``revealTestSet``; a valid reveal puts the job in ``scoring``. Its
submissions are then scored on the test set in **batches**, in submission order: each batch takes
submissions while the sum of their estimated work stays within ``max_input_work`` (at least one),
so no input does more than one input's worth of work. The reveal scores the first batch, and each
``settleJob`` (from anyone) the next. A submission that cannot be estimated, trained or scored
becomes ``unscorable`` with its reason; the others proceed. ``best``: after the last batch the best
qualifying submission takes the budget (none: refund). ``threshold``: each scored submission meets
the threshold rule in submission order as its batch scores it (``dapp.domain.policy.threshold``);
after the last batch the best accepted model is published and the rest refunded.

The **fallback split** (``policies.start_fallback_split``: no reveal in time, a cancel while
submissions wait, or not one submission scorable on the revealed set, so a sponsor gains nothing by
revealing an unusable test set) runs the same batches on the job's validation set
(``job.fallback_split``), and the last batch splits the budget among the submissions that qualify
there (``policies.split``). A job in ``scoring`` cannot be cancelled and no deadline applies to it:
only more batches move it, and every batch makes progress, so it always ends.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from dapp.codec.commitment import test_commitment
from dapp.domain import jobs, policies, policy
from dapp.domain.commands import Context, RevealTestSet, SettleJob
from dapp.domain.env import Env
from dapp.domain.events import SubmissionScored, TestSetRevealed
from dapp.domain.records import (JOBS, REVEALING, SCORING, SUBMISSIONS, Job, Submission, get_job,
                                 submissions_of)
from dapp.domain.store import Tx
from dapp.domain.submissions import estimate_submission, score_submission
from dapp.errors import DappError, DomainError


def reveal(tx: Tx, cmd: RevealTestSet, ctx: Context, env: Env) -> list[Any]:
    """The sponsor reveals the hidden test set; the first batch of submissions is scored on it."""
    job, events = jobs.touch(tx, cmd.job_id, ctx, env)
    if ctx.sender != job.sponsor:
        raise DomainError(f"only the sponsor {job.sponsor} may reveal job {job.id}'s test set", code="forbidden")
    if job.status != REVEALING:
        raise DomainError(f"job {job.id} is not waiting for a reveal ({policy.next_due(job)})", code="not_revealing")
    if test_commitment(cmd.test_cid, cmd.salt) != job.spec.test_commitment:
        raise DomainError("test_cid and salt do not match the job's commitment", code="bad_reveal")
    test_set = jobs.require_content(tx, cmd.test_cid, "test set")
    env.engine.check_dataset(test_set, job.spec.label, job.spec.task)
    job = replace(job, test_cid=cmd.test_cid, status=SCORING)
    tx.put(JOBS, job.id, job)
    return events + [TestSetRevealed(job.id, cmd.test_cid)] + score_batch(tx, job, ctx, env)


def settle(tx: Tx, cmd: SettleJob, ctx: Context, env: Env) -> list[Any]:
    """``settleJob``: the next scoring batch of a job in ``scoring``, else whatever is due
    (:func:`dapp.domain.jobs.settle`), and the first batch of a fallback split that starts now."""
    job = get_job(tx, cmd.job_id)
    if job.status == SCORING:
        return score_batch(tx, job, ctx, env)
    events = jobs.settle(tx, cmd, ctx, env)
    job = get_job(tx, cmd.job_id)
    return events + (score_batch(tx, job, ctx, env) if job.status == SCORING else [])


def score_batch(tx: Tx, job: Job, ctx: Context, env: Env) -> list[Any]:
    """Scores the next batch of waiting submissions (module docstring) on the revealed test set, or
    on the validation set for a fallback split; settles the job when none is left."""
    evaluation = job.spec.validation_cid if job.fallback_split else job.test_cid
    waiting = [sub for sub in submissions_of(tx, job) if sub.status == "stored"]
    events: list[Any] = []
    spent = 0
    for done, sub in enumerate(waiting):
        try:
            work = estimate_submission(tx, job, sub, env, evaluation)
        except DappError:
            work = 0  # it fails again, at once, when scored below
        if done and spent + work > env.limits.max_input_work:
            return events
        spent += work
        try:
            with tx.transaction() as inner:
                scored = score_submission(inner, job, sub, env, evaluation)
        except DappError as exc:  # that submission's failure, never the batch's
            sub = replace(sub, status="unscorable", error=exc.message)
            tx.put(SUBMISSIONS, (job.id, sub.id), sub)
            events.append(SubmissionScored.of(sub, False))
            continue
        sub = replace(sub, status="scored", score=scored.score, samples=scored.samples)
        tx.put(SUBMISSIONS, (job.id, sub.id), sub)
        job, decided = _decide(tx, job, sub, scored, ctx, env)
        events += decided
    return events + _finish(tx, tx.get(JOBS, job.id), ctx, env)


def _decide(tx: Tx, job: Job, sub: Submission, scored: Any, ctx: Context, env: Env) -> tuple[Job, list[Any]]:
    """What a score just made means: nothing yet for a split (decided after the last batch), else
    what the job's policy makes of a score on the test set."""
    if job.fallback_split:
        return job, [SubmissionScored.of(sub, False)]
    return policy.of(job).on_test_scored(tx, job, sub, scored, ctx, env)


def _finish(tx: Tx, job: Job, ctx: Context, env: Env) -> list[Any]:
    """After the last batch: the split; or, when not one submission could be scored on the revealed
    test set, the fallback split's scoring; else the policy's end on the test scores."""
    if job.fallback_split:
        return policies.split(tx, job)
    subs = submissions_of(tx, job)
    if any(sub.status == "unscorable" for sub in subs) and all(sub.score is None for sub in subs):
        return policies.start_fallback_split(tx, job)[1]
    return policy.of(job).on_test_done(tx, job, ctx, env)
