"""Submissions: submit, score and review (the reveal of a hidden test set: ``dapp.domain.reveal``).

A submission names a model (an untrained spec or a trained model) and, optionally, training data.
Both must already be in the content store. The machine trains (if data is given) and scores on the
job's validation set, with a seed derived from the job and submission ids. With a stake, content
that fails the engine's checks makes an accepted input: the submission is recorded as invalid and
its stake is slashed into the job's budget; without a stake such an input is simply rejected.
The same work is paid once per job (``payouts.work_keys``): a threshold submission whose model and
data, or trained model, were already paid is rejected with the reason, and a manual review cannot
accept it (``already_paid``).
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

from dapp.codec.cid import cid_of
from dapp.domain import access, content, ledger, payouts, policies, rounds
from dapp.domain.commands import Context, ReviewSubmission, Submit
from dapp.domain.env import Env
from dapp.domain.events import ModelPublished, SubmissionReceived, SubmissionReviewed, SubmissionScored
from dapp.domain.jobs import require_content, require_open, touch
from dapp.domain.records import BY_CONTRIBUTOR, JOBS, SUBMISSIONS, Job, Submission, stake_pot
from dapp.domain.spec import submission_cap
from dapp.domain.store import Tx
from dapp.errors import DomainError
from dapp.ml.errors import MLError


def seed(job_id: int, submission_id: int) -> int:
    """The training seed of a submission: fixed by the job and submission ids, never by users."""
    digest = hashlib.sha256(f"mlmarket/{job_id}/{submission_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def _model_and_data(tx: Tx, job: Job, sub: Submission) -> tuple[bytes, bytes | None]:
    """The bytes of the model a submission is scored with (its own, else the job's current model)
    and of its training data (None without)."""
    model = require_content(tx, sub.model_cid, "model") if sub.model_cid else None
    train = require_content(tx, sub.data_cid, "training data") if sub.data_cid else None
    base = require_content(tx, job.model_cid, "base model") if job.model_cid and model is None else None
    if model is None and (train is None or base is None):
        raise DomainError("a submission needs a model, or data to train the job's base model on", code="bad_submission")
    return (model if model is not None else base), train


def score_submission(tx: Tx, job: Job, sub: Submission, env: Env, evaluation_cid: bytes) -> Any:
    """Trains (if the submission brings data) and scores it on ``evaluation_cid`` with its seed."""
    model, train = _model_and_data(tx, job, sub)
    evaluation = require_content(tx, evaluation_cid, "evaluation data")
    return env.engine.score(task=job.spec.task, metric=job.spec.metric, label=job.spec.label, validation=evaluation,
                            model=model, train=train, seed=seed(job.id, sub.id))


def estimate_submission(tx: Tx, job: Job, sub: Submission, env: Env, evaluation_cid: bytes) -> int:
    """The engine's estimate of what ``score_submission`` costs (work units, see dapp.ml.cost)."""
    model, train = _model_and_data(tx, job, sub)
    evaluation = require_content(tx, evaluation_cid, "evaluation data") if evaluation_cid else None
    return env.engine.estimate(task=job.spec.task, label=job.spec.label, model=model, train=train,
                               evaluation=evaluation)


def _publish(tx: Tx, job: Job, sub: Submission, cid: bytes, score: int) -> tuple[Job, list[Any]]:
    """Makes the submission's model (stored under ``cid``) the job's current model."""
    job = replace(job, model_cid=cid, best_submission=sub.id, best_score=score)
    tx.put(JOBS, job.id, job)
    return job, [ModelPublished(job.id, job.round, cid, score)]


def _store_model(tx: Tx, sub: Submission, scored: Any, ctx: Context, env: Env) -> tuple[Submission, list[Any]]:
    """Stores the model the machine trained for ``sub`` (if it trained one) in the content store."""
    if scored.model_bytes is None:
        return replace(sub, trained_cid=sub.model_cid), []
    cid, events = content.store_file(tx, scored.model_bytes, sub.contributor, ctx, env.limits)
    return replace(sub, trained_cid=cid), events


def _on_scored(tx: Tx, job: Job, sub: Submission, scored: Any, ctx: Context, env: Env) -> list[Any]:
    spec = job.spec
    if spec.policy == "rounds":
        return rounds.on_update(tx, job, sub, scored, ctx, env)
    sub = replace(sub, status="scored", score=scored.score, samples=scored.samples)
    tx.put(SUBMISSIONS, (job.id, sub.id), sub)
    if spec.policy == "threshold":
        trained = cid_of(scored.model_bytes) if scored.model_bytes is not None else sub.model_cid
        first, why = payouts.first_paid(tx, sub, trained)
        if first:  # the same work earns once per job, whoever names it
            tx.put(SUBMISSIONS, (job.id, sub.id), replace(sub, status="rejected", error=why))
            return [SubmissionScored.of(sub, False)]
        ok = policies.qualifies(job, scored.score)
        if ok and spec.min_gain and job.best_score is not None:
            ok = policies.gain_over_best(job, scored.score) >= spec.min_gain
        ok = ok and payouts.budget(tx, job) >= spec.reward_per_accept
        if not ok:
            tx.put(SUBMISSIONS, (job.id, sub.id), replace(sub, status="rejected"))
            return [SubmissionScored.of(sub, False)]
        events: list[Any] = [SubmissionScored.of(sub, True)]
        job, sub, paid = payouts.reward(tx, job, sub, spec.reward_per_accept, trained)
        events += paid
        if policies.beats_best(job, scored.score):  # the job's current model is the best accepted one
            sub, stored = _store_model(tx, sub, scored, ctx, env)
            tx.put(SUBMISSIONS, (job.id, sub.id), sub)
            job, published = _publish(tx, job, sub, sub.trained_cid, scored.score)
            events += stored + published
        if payouts.budget(tx, job) < spec.reward_per_accept:
            events += payouts.end(tx, job, "paid")[1]
        return events
    if spec.policy == "manual":  # keep the trained model: the sponsor may accept it
        sub, stored = _store_model(tx, sub, scored, ctx, env)
        tx.put(SUBMISSIONS, (job.id, sub.id), sub)
        return stored + [SubmissionScored.of(sub, False)]
    if spec.policy == "best":
        consider_best(tx, job, sub, scored, ctx, env)
    return [SubmissionScored.of(sub, False)]


def consider_best(tx: Tx, job: Job, sub: Submission, scored: Any, ctx: Context, env: Env) -> Job:
    """Makes ``sub`` the job's best if it qualifies and beats the best so far."""
    if not (policies.qualifies(job, scored.score) and policies.beats_best(job, scored.score)):
        return job
    job = replace(job, best_submission=sub.id, best_score=scored.score)
    tx.put(JOBS, job.id, job)
    policies.keep_best_model(tx, job, scored.model_bytes, ctx, env)
    return job


def submit(tx: Tx, cmd: Submit, ctx: Context, env: Env) -> list[Any]:
    """Records a submission, settles its stake, and scores it (unless the test set is hidden)."""
    job, events = touch(tx, cmd.job_id, ctx, env)
    require_open(job)
    access.require_access(tx, job, ctx.sender)
    made = tx.get(BY_CONTRIBUTOR, (job.id, ctx.sender), 0)
    if made >= submission_cap(job.spec):
        raise DomainError(f"{ctx.sender} already made {made} submissions to job {job.id}, the limit",
                          code="too_many_submissions")
    if not cmd.model_cid and not (cmd.data_cid and job.model_cid):
        raise DomainError("a submission needs a model, or data to train the job's base model on",
                          code="bad_submission")
    sub = Submission(job.id, job.submissions + 1, ctx.sender, cmd.model_cid, cmd.data_cid, ctx.timestamp,
                     stake=job.spec.stake, base_cid=b"" if cmd.model_cid else job.model_cid)
    job = replace(job, submissions=sub.id)
    tx.put(JOBS, job.id, job)
    tx.put(BY_CONTRIBUTOR, (job.id, ctx.sender), made + 1)
    tx.put(SUBMISSIONS, (job.id, sub.id), sub)
    if job.spec.policy == "rounds":
        rounds.require_first_update(tx, job, sub)
    if sub.stake:
        ledger.lock(tx, stake_pot(job.id, sub.id), job.token, ctx.sender, sub.stake)
    events.append(SubmissionReceived(job.id, sub.id, sub.contributor, sub.model_cid, sub.data_cid, sub.stake))
    try:
        if policies.has_hidden_test(job):
            _defer(tx, job, sub, env)
            return events + payouts.return_stake(tx, sub)
        with tx.transaction() as inner:
            scored = score_submission(inner, job, sub, env, job.spec.validation_cid)
            return events + payouts.return_stake(inner, sub) + _on_scored(inner, job, sub, scored, ctx, env)
    except MLError as exc:
        if not sub.stake:
            raise
        tx.put(SUBMISSIONS, (job.id, sub.id), replace(sub, status="invalid", error=exc.message))
        return events + payouts.slash_stake(tx, sub) + [SubmissionScored.of(sub, False)]


def _defer(tx: Tx, job: Job, sub: Submission, env: Env) -> None:
    """A hidden-test job's submission waits for the reveal: its content is checked now, and its
    estimated work (training, and evaluation on the validation set if the job has one) counts
    against the job's ``max_job_work``, so the reveal's scoring is bounded in total."""
    model = require_content(tx, sub.model_cid, "model") if sub.model_cid else None
    data = require_content(tx, sub.data_cid, "training data") if sub.data_cid else None
    if model is not None:
        env.engine.check_model(model, job.spec.task)
    if data is not None:
        env.engine.check_dataset(data, job.spec.label, job.spec.task)
    work = estimate_submission(tx, job, sub, env, job.spec.validation_cid)
    if job.deferred_work + work > env.limits.max_job_work:
        raise DomainError(f"job {job.id}'s submissions already defer {job.deferred_work:.3g} units of work to "
                          f"the reveal; this one adds {work:.3g}, over max_job_work = "
                          f"{env.limits.max_job_work:.3g}", code="job_work_exhausted")
    tx.put(JOBS, job.id, replace(job, deferred_work=job.deferred_work + work))


def review(tx: Tx, cmd: ReviewSubmission, ctx: Context, env: Env) -> list[Any]:
    """Manual jobs: the sponsor or a delegate accepts (pays) or rejects a scored submission."""
    job, events = touch(tx, cmd.job_id, ctx, env)
    if job.spec.policy != "manual":
        raise DomainError(f"job {job.id} is not a manual-review job", code="wrong_policy")
    access.require_manager(tx, job, ctx.sender)
    require_open(job)
    sub = tx.get(SUBMISSIONS, (job.id, cmd.submission_id))
    if sub is None or sub.status != "scored":
        state = "missing" if sub is None else sub.status
        raise DomainError(f"submission {cmd.submission_id} of job {job.id} cannot be reviewed ({state})",
                          code="not_reviewable")
    if not cmd.accept:
        tx.put(SUBMISSIONS, (job.id, sub.id), replace(sub, status="rejected", reviewed=True))
        return events + [SubmissionReviewed(job.id, sub.id, False)]
    first, why = payouts.first_paid(tx, sub)
    if first:
        raise DomainError(f"submission {sub.id} of job {job.id} cannot be paid: {why}", code="already_paid")
    if payouts.budget(tx, job) < job.spec.reward_per_accept:
        raise DomainError(f"job {job.id} has {payouts.budget(tx, job)} left, less than a reward; top it up",
                          code="budget_exhausted")
    job, sub, paid = payouts.reward(tx, job, replace(sub, reviewed=True), job.spec.reward_per_accept)
    job, published = _publish(tx, job, sub, sub.trained_cid, sub.score or 0)
    return events + [SubmissionReviewed(job.id, sub.id, True)] + paid + published
