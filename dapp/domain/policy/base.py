"""The interface every job policy implements: what the job rules ask a policy, and when.

A policy is one module of this package holding one :class:`Policy` subclass; ``dapp.domain.policy``
maps ``JobSpec.policy`` names to them. The job rules never test a policy's name: they call these
hooks, so a new policy is one new module (and its name in ``dapp.domain.spec.POLICIES``). The
defaults are what a policy does when it has nothing special to do at that moment.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from dapp.domain import payouts
from dapp.domain.commands import Context
from dapp.domain.env import Env
from dapp.domain.policies import has_hidden_test, start_fallback_split, unscored
from dapp.domain.records import JOBS, REVEALING, Job, Submission
from dapp.domain.store import Tx


class Policy:
    """The hooks of a job policy (``tx``: the input's transaction; events returned in order)."""

    manual_review = False
    """Whether the sponsor or a delegate reviews each submission (``reviewSubmission``)."""

    def on_create(self, tx: Tx, job: Job, base: Any, validation: bytes | None, env: Env) -> Job:
        """At ``createJob``, once the base model (``base``: the engine's info on it, or None) and the
        validation set are checked: the policy's own checks; returns the job to store."""
        return job

    def on_commit(self, tx: Tx, job: Job, sub: Submission) -> None:
        """At ``commitSubmission``, once the submission exists: the policy's own limits."""

    def check_revealed(self, tx: Tx, job: Job, sub: Submission, scored: Any, env: Env) -> None:
        """At ``revealSubmission``, once scored on the validation set: content checks that depend on
        the job's state (an MLError makes the submission invalid, like any content error)."""

    def on_scored(self, tx: Tx, job: Job, sub: Submission, scored: Any, ctx: Context, env: Env) -> list[Any]:
        """What a submission scored on the validation set earns, decided in commit order
        (``dapp.domain.decisions``)."""
        raise NotImplementedError

    def due(self, tx: Tx, job: Job, ctx: Context, env: Env) -> tuple[Job, list[Any]]:
        """One transition due at the input's time for an ``open`` job: at the deadline a hidden-test
        job waits for its reveal, any other gets :meth:`on_deadline`."""
        if ctx.timestamp < job.spec.deadline:
            return job, []
        if has_hidden_test(job):
            job = replace(job, status=REVEALING)
            tx.put(JOBS, job.id, job)
            return job, []
        return self.on_deadline(tx, job, ctx, env)

    def on_deadline(self, tx: Tx, job: Job, ctx: Context, env: Env) -> tuple[Job, list[Any]]:
        """The deadline of a job without a hidden test set: it ends, refunding the rest."""
        return payouts.end(tx, job, "paid" if job.paid else "refunded")

    def on_cancel(self, tx: Tx, job: Job, ctx: Context, env: Env) -> tuple[Job, list[Any]]:
        """What contributors are owed when the sponsor cancels, before the rest is refunded: a
        hidden-test job with waiting submissions enters the fallback split's scoring
        (``dapp.domain.policies.start_fallback_split``)."""
        if has_hidden_test(job) and unscored(tx, job):
            return start_fallback_split(tx, job)
        return job, []

    def on_test_scored(self, tx: Tx, job: Job, sub: Submission, scored: Any, ctx: Context,
                       env: Env) -> tuple[Job, list[Any]]:
        """What a submission scored on the revealed hidden test set earns (policies that allow a
        hidden test set)."""
        raise NotImplementedError

    def on_test_done(self, tx: Tx, job: Job, ctx: Context, env: Env) -> list[Any]:
        """After the last batch on the revealed test set: how the job ends."""
        raise NotImplementedError

    def next_due(self, job: Job) -> str:
        """When an ``open`` job will next have something to settle (for messages)."""
        return f"submissions close at {job.spec.deadline}"
