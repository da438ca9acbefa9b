"""Submissions: commit, reveal, score and review (the reveal of a hidden test set: ``dapp.domain.reveal``).

A contributor first commits (``commitSubmission``) to ``keccak256(abi.encode(sender, jobId,
modelCid, dataCid, salt))``: the submission gets its id, so its place, before its content is public;
then uploads the content and reveals it (``revealSubmission``) within ``commit_window`` and before
the deadline. What it earns is decided in commit order (``dapp.domain.decisions``). A submission
names a model (an untrained spec or a trained model) and, optionally, training data. Both must be in
the content store at the reveal. The machine trains (if data is given) and scores on the job's
validation set, with a seed derived from the job and submission ids. With a stake, content that
fails the engine's checks makes an accepted input: the submission is recorded as invalid and its
stake is slashed into the job's budget; without a stake such an input is simply rejected. The same
work is paid once per job (``payouts.work_keys``): a threshold submission whose model and data, or
trained model, were already paid is rejected with the reason; in a manual job a copy of work an
earlier submission holds is rejected when scored (``dapp.domain.policy.manual``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from dapp.codec.commitment import submission_commitment
from dapp.domain import access, content, decisions, ledger, payouts, policies, policy
from dapp.domain.commands import (CommitSubmission, Context, RevealSubmission, RevealSubmissionInline,
                                  ReviewSubmission)
from dapp.domain.env import Env
from dapp.domain.events import SubmissionCommitted, SubmissionReceived, SubmissionReviewed, SubmissionScored
from dapp.domain.jobs import require_content, require_open, touch
from dapp.domain.records import (BY_CONTRIBUTOR, COMMITMENTS, JOBS, OPEN, SUBMISSIONS, Job, Submission,
                                 stake_pot)
from dapp.domain.seeds import submission_seed
from dapp.domain.spec import submission_cap
from dapp.domain.store import Tx
from dapp.domain.values import Address
from dapp.errors import DomainError
from dapp.ml.errors import MLError


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
                            model=model, train=train, seed=submission_seed(job.id, sub.id))


def estimate_submission(tx: Tx, job: Job, sub: Submission, env: Env, evaluation_cid: bytes) -> int:
    """The engine's estimate of what ``score_submission`` costs (work units, see dapp.ml.cost)."""
    model, train = _model_and_data(tx, job, sub)
    evaluation = require_content(tx, evaluation_cid, "evaluation data") if evaluation_cid else None
    return env.engine.estimate(task=job.spec.task, label=job.spec.label, model=model, train=train,
                               evaluation=evaluation)


def check_can_submit(tx: Tx, job: Job, sender: Address) -> int:
    """What a new submission to ``job`` requires of ``sender`` (open job, access, under the cap);
    returns how many submissions the sender made."""
    require_open(job)
    access.require_access(tx, job, sender)
    made = tx.get(BY_CONTRIBUTOR, (job.id, sender), 0)
    if made >= submission_cap(job.spec):
        raise DomainError(f"{sender} already made {made} submissions to job {job.id}, the limit",
                          code="too_many_submissions")
    return made


def _new_submission(tx: Tx, job: Job, ctx: Context, commitment: bytes) -> tuple[Job, Submission]:
    """Records a committed submission (its id fixes its place) and locks its stake."""
    made = check_can_submit(tx, job, ctx.sender)
    sub = Submission(job.id, job.submissions + 1, ctx.sender, b"", b"", ctx.timestamp, stake=job.spec.stake,
                     status=decisions.COMMITTED, commitment=commitment)
    job = replace(job, submissions=sub.id)
    tx.put(JOBS, job.id, job)
    tx.put(BY_CONTRIBUTOR, (job.id, ctx.sender), made + 1)
    tx.put(SUBMISSIONS, (job.id, sub.id), sub)
    policy.of(job).on_commit(tx, job, sub)
    if sub.stake:
        ledger.lock(tx, stake_pot(job.id, sub.id), job.token, ctx.sender, sub.stake)
    return job, sub


def commit(tx: Tx, cmd: CommitSubmission, ctx: Context, env: Env) -> list[Any]:
    """``commitSubmission``: fixes a submission's place before its content is public (module doc)."""
    job, events = touch(tx, cmd.job_id, ctx, env)
    if cmd.commitment == bytes(32) or tx.get(COMMITMENTS, (job.id, cmd.commitment)):
        raise DomainError(f"job {job.id} already has this commitment (or it is zero): draw a new salt",
                          code="duplicate_commitment")
    job, sub = _new_submission(tx, job, ctx, cmd.commitment)
    tx.put(COMMITMENTS, (job.id, cmd.commitment), sub.id)
    return events + [SubmissionCommitted(job.id, sub.id, sub.contributor, cmd.commitment)]


def reveal_submission(tx: Tx, cmd: RevealSubmission, ctx: Context, env: Env) -> list[Any]:
    """``revealSubmission``: the content of a committed submission; it is checked and scored now
    and decided in commit order (``dapp.domain.decisions``)."""
    job, events = touch(tx, cmd.job_id, ctx, env)
    commitment = submission_commitment(ctx.sender.hex, job.id, cmd.model_cid, cmd.data_cid, cmd.salt)
    sub_id = tx.get(COMMITMENTS, (job.id, commitment))
    if not sub_id:
        raise DomainError(f"no commitment of {ctx.sender} to job {job.id} matches this model, data and salt "
                          "(commitSubmission first, from the same account)", code="bad_reveal")
    sub = tx.get(SUBMISSIONS, (job.id, sub_id))
    if sub.status == decisions.EXPIRED:
        raise DomainError(f"submission {sub.id} of job {job.id} expired: it was not revealed in time",
                          code="reveal_too_late")
    if sub.status != decisions.COMMITTED:
        raise DomainError(f"submission {sub.id} of job {job.id} is already revealed ({sub.status})",
                          code="already_revealed")
    if job.status != OPEN or ctx.timestamp >= decisions.reveal_by(job, sub, env):
        raise DomainError(f"submission {sub.id} of job {job.id} had to be revealed before "
                          f"{decisions.reveal_by(job, sub, env)}", code="reveal_too_late")
    return events + _receive(tx, job, sub, cmd.model_cid, cmd.data_cid, ctx, env)


def reveal_inline(tx: Tx, cmd: RevealSubmissionInline, ctx: Context, env: Env) -> list[Any]:
    """``revealSubmissionInline``: stores the small contents it carries (``content.store_inline``),
    then reveals as ``revealSubmission``; a refused reveal stores nothing (the input is rejected)."""
    carried = len(cmd.model) + len(cmd.data)
    if carried > env.limits.max_inline_bytes:
        raise DomainError(f"the reveal carries {carried} bytes of content, at most {env.limits.max_inline_bytes}: "
                          "upload larger files (uploadChunkCoded) and reveal with revealSubmission",
                          code="inline_too_large")
    events: list[Any] = []
    for cid, data, role in ((cmd.model_cid, cmd.model, "model"), (cmd.data_cid, cmd.data, "data")):
        if data and not cid:
            raise DomainError(f"inline {role} bytes without a {role} CID", code="bad_submission")
        if data:
            events += content.store_inline(tx, cid, data, ctx, env)
    return events + reveal_submission(tx, RevealSubmission(cmd.job_id, cmd.model_cid, cmd.data_cid, cmd.salt),
                                      ctx, env)


def _receive(tx: Tx, job: Job, sub: Submission, model_cid: bytes, data_cid: bytes, ctx: Context,
             env: Env) -> list[Any]:
    """The revealed content of ``sub``: settles its stake and scores it (unless the test set is
    hidden), then decides it in commit order."""
    if not model_cid and not (data_cid and job.model_cid):
        raise DomainError("a submission needs a model, or data to train the job's base model on",
                          code="bad_submission")
    sub = replace(sub, model_cid=model_cid, data_cid=data_cid, status="stored",
                  base_cid=b"" if model_cid else job.model_cid)
    tx.put(SUBMISSIONS, (job.id, sub.id), sub)
    events: list[Any] = [SubmissionReceived(job.id, sub.id, sub.contributor, sub.model_cid, sub.data_cid,
                                            sub.stake)]
    try:
        if policies.has_hidden_test(job):
            _defer(tx, job, sub, env)
            return events + payouts.return_stake(tx, sub) + decisions.passed(tx, job.id, sub.id, ctx, env)
        with tx.transaction() as inner:
            scored = score_submission(inner, job, sub, env, job.spec.validation_cid)
            policy.of(job).check_revealed(inner, job, sub, scored, env)
            return (events + payouts.return_stake(inner, sub)
                    + decisions.decide_or_wait(inner, job, sub, scored, ctx, env))
    except MLError as exc:
        if not sub.stake:
            raise
        tx.put(SUBMISSIONS, (job.id, sub.id), replace(sub, status="invalid", error=exc.message))
        return (events + payouts.slash_stake(tx, sub) + [SubmissionScored.of(sub, False)]
                + decisions.passed(tx, job.id, sub.id, ctx, env))


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
    if not policy.of(job).manual_review:
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
    if payouts.budget(tx, job) < job.spec.reward_per_accept:
        raise DomainError(f"job {job.id} has {payouts.budget(tx, job)} left, less than a reward; top it up",
                          code="budget_exhausted")
    job, sub, paid = payouts.reward(tx, job, replace(sub, reviewed=True), job.spec.reward_per_accept)
    job, published = policies.publish(tx, job, sub, sub.trained_cid, sub.score or 0)
    return events + [SubmissionReviewed(job.id, sub.id, True)] + paid + published
