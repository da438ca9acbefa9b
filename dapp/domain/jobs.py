"""Job lifecycle: create, top up, cancel, settle, and the lazy application of deadlines.

Deadlines use the input's ``block_timestamp``. Whatever is due after a deadline is applied by
``touch`` the first time an input names the job (``settleJob`` or any other), so no job can get
stuck: every job ends paid, refunded, split or cancelled, with its remaining budget returned.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from dapp.codec.cid import cid_to_text
from dapp.domain import content, decisions, ledger, policy, reveal_priority, spec
from dapp.domain.payouts import budget
from dapp.domain.commands import CancelJob, Context, CreateJob, SettleJob, TopUpJob
from dapp.domain.env import Env
from dapp.domain.events import JobCancelled, JobCreated, JobFunded
from dapp.domain.records import ENDED, JOBS, OPEN, SCORING, Job, get_job, job_pot
from dapp.domain.store import Tx
from dapp.errors import DomainError


def require_content(tx: Tx, cid: bytes, what: str) -> bytes:
    """The stored bytes of ``cid``, or a ``DomainError`` telling to upload it first."""
    data = content.get_content(tx, cid)
    if data is None:
        raise DomainError(f"{what} {cid_to_text(cid)} is not stored: upload it first (mlmarket put)",
                          code="content_missing")
    return data


def create_job(tx: Tx, cmd: CreateJob, ctx: Context, env: Env) -> list[Any]:
    """Validates the spec and its contents, escrows the budget from the sender's balance."""
    s = cmd.spec
    spec.validate(s, cmd.budget, ctx.timestamp, env.limits)
    validation = require_content(tx, s.validation_cid, "validation data") if s.validation_cid else None
    if validation is not None:
        env.engine.check_dataset(validation, s.label, s.task)
    job_id = tx.next_id("jobs")
    job = Job(job_id, ctx.sender, cmd.token, s, ctx.timestamp, model_cid=s.base_model_cid,
              round_started=ctx.timestamp)
    base = None
    if s.base_model_cid:
        base = env.engine.check_model(require_content(tx, s.base_model_cid, "base model"), s.task)
    job = policy.of(s).on_create(tx, job, base, validation, env)
    ledger.lock(tx, job_pot(job_id), cmd.token, ctx.sender, cmd.budget)
    tx.put(JOBS, job_id, job)
    reveal_priority.note_job(tx, job)
    return [JobCreated(job_id, ctx.sender, cmd.token, cmd.budget, s)]


def touch(tx: Tx, job_id: int, ctx: Context, env: Env) -> tuple[Job, list[Any]]:
    """The job with everything due at the input's time applied (deadline, reveal timeout...)."""
    job = get_job(tx, job_id)
    events: list[Any] = []
    while True:
        job, decided = decisions.advance(tx, job, ctx, env)
        if job.cancelling and job.status == OPEN and job.decided == job.submissions:
            decided += _complete_cancel(tx, job, ctx, env)
            job = get_job(tx, job_id)
        new, due = policy.apply_due(tx, job, ctx, env)
        events += decided + due
        if new == job and not decided:
            return job, events
        job = new


def require_open(job: Job) -> None:
    """``DomainError`` unless the job still takes submissions."""
    if job.status != "open":
        raise DomainError(f"job {job.id} is {job.status} ({job.outcome or 'closed'}): it takes no submissions",
                          code="job_closed")
    if job.cancelling:
        raise DomainError(f"job {job.id} is being cancelled: it takes no submissions (it ends once its open "
                          "commits are revealed or expire)", code="job_closed")


def top_up(tx: Tx, cmd: TopUpJob, ctx: Context, env: Env) -> list[Any]:
    """Anyone may add to an unfinished job's budget, from their balance in the job's token."""
    job, events = touch(tx, cmd.job_id, ctx, env)
    if job.status == ENDED:
        raise DomainError(f"job {job.id} has ended: it cannot be funded", code="job_closed")
    if cmd.amount <= 0:
        raise DomainError("a top-up must be a positive amount", code="bad_amount")
    ledger.lock(tx, job_pot(job.id), job.token, ctx.sender, cmd.amount)
    return events + [JobFunded(job.id, ctx.sender, cmd.amount, budget(tx, job))]


def cancel(tx: Tx, cmd: CancelJob, ctx: Context, env: Env) -> list[Any]:
    """Sponsor only: ends the job. What contributors are owed is paid first (policy rules)."""
    job, events = touch(tx, cmd.job_id, ctx, env)
    if ctx.sender != job.sponsor:
        raise DomainError(f"only the sponsor {job.sponsor} may cancel job {job.id}", code="forbidden")
    if job.status == ENDED:
        raise DomainError(f"job {job.id} has already ended ({job.outcome})", code="job_closed")
    if job.cancelling:
        raise DomainError(f"job {job.id} is already being cancelled: it ends once its open commits are "
                          "revealed or expire", code="job_closed")
    if job.status == SCORING:
        raise DomainError(f"job {job.id}'s test set is revealed: its submissions are being scored (settleJob "
                          "scores the next batch), so it can no longer be cancelled", code="job_scoring")
    if job.status == OPEN and job.decided < job.submissions:  # commits still within their time
        tx.put(JOBS, job.id, replace(job, cancelling=True))
        return events
    return events + _complete_cancel(tx, job, ctx, env)


def _complete_cancel(tx: Tx, job: Job, ctx: Context, env: Env) -> list[Any]:
    """Ends a cancelled job: what contributors are owed (its policy's ``on_cancel``), then the
    refund of the rest."""
    job, owed = policy.of(job).on_cancel(tx, job, ctx, env)
    if job.status in (ENDED, SCORING):  # the policy settled it (a split), or scores for one first
        return owed
    refund = budget(tx, job)
    payments = [ledger.pay(tx, job_pot(job.id), job.sponsor, refund)] if refund else []
    tx.put(JOBS, job.id, replace(job, status=ENDED, outcome="cancelled"))
    return owed + payments + [JobCancelled(job.id, refund)]


def settle(tx: Tx, cmd: SettleJob, ctx: Context, env: Env) -> list[Any]:
    """Anyone: applies what is due. Rejected when nothing is (naming when something will be); bare
    commits that expired are not enough (any later input expires them again, so nothing is lost)."""
    before = get_job(tx, cmd.job_id)
    job, events = touch(tx, cmd.job_id, ctx, env)
    if not events and replace(job, decided=before.decided) == before:
        raise DomainError(f"nothing to settle for job {job.id} now: {policy.next_due(job)}",
                          code="nothing_to_settle")
    return events
