"""rounds, federated (seeds 000, 001, 002): contributors improve a shared global model, round by round.

A ``rounds`` job starts from its ``base_model_cid`` (an averageable estimator: linear models, MLPs,
GaussianNB). In each round every contributor may send one update: trained weights of the global
model's spec (their data never leaves them), or ``<model, data>`` for the machine to train (from the
global model when no model is given). An update is accepted when it scores at least
``global score - tolerance`` on the validation set (``min_score`` while the global model has no
score) and passes the engine's ``check_update`` against the job's current model, never against
another update (so no update can make a round refuse the honest ones): the current model's spec,
its features, classes and shapes once trained (and a parameter distance from it of at most
``MAX_UPDATE_DISTANCE x max(||global||, 1)``, or the job's ``clip_norm`` when it has one: the bound a
differentially private update is clipped to, ``dapp.domain.privacy``; see dapp.ml.fedavg), else the
validation set's columns and classes. A round closes when ``round_quota`` updates were accepted, or
``round_duration`` seconds after it started (applied lazily, like every deadline). Closing averages
the accepted updates with FedAvg weighted by sample count and scores the average. It is published
as the new global model only if it meets the bar the updates met (``global score - tolerance``, or
``min_score`` before the global model has a score); otherwise the round keeps the previous model,
so updates that each score well but average badly (a poisoned average) cannot lower the published
model. Either way ``reward_per_accept`` goes to each accepted update's contributor, in order, while
the budget lasts: each update met the bar alone, and nothing tells an honest one from a hostile one.
With a contribution reward (``JobSpec.reward`` ``sequential``, ``loo`` or ``shapley``) the round's pool,
``min(reward_per_accept, budget)``, is shared instead by each update's measured marginal value
(``dapp.domain.round_rewards``, docs/PROTOCOL.md §4.7), and a job whose valuation of a full
round could not fit one input is refused at creation.
Updates the machine trained weigh their training rows; weights-only updates, whose sample count
the machine cannot verify, weigh the mean of the round's verified counts (1 if there are none).
After the last round, or at the job's deadline, the job ends and the rest of the budget is refunded.
Work is paid once per job (``payouts.work_keys``): an update whose model and data (a data-only
update: the global model it trains, with its data), or whose resulting model bytes, were already
paid in the job or are already in the round is scored but not accepted into the round.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from dapp.codec.cid import cid_of
from dapp.domain import content, payouts, privacy, round_rewards
from dapp.domain.commands import Context
from dapp.domain.env import Env
from dapp.domain.events import ModelPublished, RoundClosed, SubmissionScored
from dapp.domain.policy.base import Policy
from dapp.domain.records import JOBS, OPEN, SUBMISSIONS, Job, Submission
from dapp.domain.seeds import round_seed
from dapp.domain.spec import CONTRIBUTION_REWARDS, gain, meets
from dapp.domain.store import Tx
from dapp.errors import DomainError
from dapp.ml.errors import MLError

UPDATES = "round_updates"  # (job_id, round) -> tuple of accepted submission ids
SENT = "round_senders"  # (job_id, round, contributor) -> True
ROUND_WORK = "round_work"  # (job_id, round, work key) -> the round's update holding that work


def round_end(job: Job) -> int:
    """When the current round closes at the latest."""
    return min(job.round_started + job.spec.round_duration, job.spec.deadline)


def is_due(job: Job, now: int) -> bool:
    """Whether the current round of an open rounds job must close at ``now``."""
    return job.status == OPEN and now >= round_end(job)


def require_first_update(tx: Tx, job: Job, sub: Submission) -> None:
    """One update per contributor per round."""
    if tx.get(SENT, (job.id, job.round, sub.contributor)):
        raise DomainError(f"{sub.contributor} already sent an update in round {job.round} of job {job.id}",
                          code="duplicate_update")
    tx.put(SENT, (job.id, job.round, sub.contributor), True)


def _update_bytes(tx: Tx, sub: Submission, scored: Any) -> bytes:
    """The model an update yields: the one the machine trained, else the one it sent."""
    return scored.model_bytes if scored.model_bytes is not None else content.get_content(tx, sub.model_cid)


def check_update(tx: Tx, job: Job, sub: Submission, scored: Any, env: Env) -> None:
    """MLError unless the scored update may join a round of ``job`` (checked when it is revealed,
    against the job's current model)."""
    checked = env.engine.check_update(_update_bytes(tx, sub, scored), content.get_content(tx, job.model_cid),
                                      task=job.spec.task, label=job.spec.label,
                                      validation=content.get_content(tx, job.spec.validation_cid),
                                      clip_norm=job.spec.clip_norm)
    privacy.note(tx, sub, checked)  # a declared (epsilon, delta) and the measured distance


def on_update(tx: Tx, job: Job, sub: Submission, scored: Any, ctx: Context, env: Env) -> list[Any]:
    """Decides a checked, scored update (:func:`check_update`): accepted ones wait for the round to
    close. A declared privacy is recorded either way, and noticed when the update joins the round."""
    sub, declared = privacy.take(tx, replace(sub, score=scored.score, samples=scored.samples,
                                             round=job.round))
    update = _update_bytes(tx, sub, scored)
    accepted_ids = tx.get(UPDATES, (job.id, job.round), ())
    if not meets_bar(job, scored.score):
        tx.put(SUBMISSIONS, (job.id, sub.id), replace(sub, status="rejected"))
        return [SubmissionScored.of(sub, False)]
    why = _repeated_work(tx, job, sub, cid_of(update))
    if why:
        tx.put(SUBMISSIONS, (job.id, sub.id), replace(sub, status="rejected", error=why))
        return [SubmissionScored.of(sub, False)]
    cid, stored = content.store_file(tx, update, sub.contributor, ctx, env.limits)
    for key in payouts.work_keys(sub, cid):
        tx.put(ROUND_WORK, (job.id, job.round, key), sub.id)
    tx.put(SUBMISSIONS, (job.id, sub.id), replace(sub, status="scored", trained_cid=cid))
    tx.put(UPDATES, (job.id, job.round), (*accepted_ids, sub.id))
    events = stored + [SubmissionScored.of(sub, True)] + privacy.notices(sub, declared)
    if job.spec.round_quota and len(accepted_ids) + 1 >= job.spec.round_quota:
        events += close_round(tx, job, ctx, env, ctx.timestamp)[1]
    return events


def _repeated_work(tx: Tx, job: Job, sub: Submission, trained_cid: bytes) -> str:
    """Why ``sub``'s work cannot join the round (paid in the job, or already in this round), else ""."""
    first, why = payouts.first_paid(tx, sub, trained_cid)
    if first:
        return why
    for key in payouts.work_keys(sub, trained_cid):
        first = tx.get(ROUND_WORK, (job.id, job.round, key), 0)
        if first:
            return f"the same work is already update {first} of round {job.round}"
    return ""


def meets_bar(job: Job, score: int) -> bool:
    """Whether ``score`` (of an update, or of a round's average) is at least the job's global score
    minus its tolerance, or ``min_score`` while the global model has no score."""
    if job.best_score is None:
        return meets(job.spec.metric, score, job.spec.min_score)
    return gain(job.spec.metric, score, job.best_score) >= -job.spec.tolerance


def _weights(subs: list[Submission]) -> list[int]:
    verified = [s.samples for s in subs if s.data_cid and s.samples]
    fallback = max(1, sum(verified) // len(verified)) if verified else 1
    return [s.samples if s.data_cid and s.samples else fallback for s in subs]


def _kept(job: Job, subs: list[Submission]) -> RoundClosed:
    """The ``RoundClosed`` of a round that closes on the previous global model."""
    return RoundClosed(job.id, job.round, len(subs), job.model_cid, job.best_score or 0)


def _merge(tx: Tx, job: Job, subs: list[Submission], weights: list[int], env: Env) -> tuple[bytes, int]:
    """The aggregate of ``subs`` (each weighing its ``weights`` entry) and its score on the validation
    set (seed: the round's); MLError if the engine cannot make or score it."""
    models = [(content.get_content(tx, s.trained_cid), w) for s, w in zip(subs, weights)]
    merged = env.engine.aggregate(models, job.spec.aggregation or "fedavg")
    scored = env.engine.score(task=job.spec.task, metric=job.spec.metric, label=job.spec.label,
                              validation=content.get_content(tx, job.spec.validation_cid), model=merged,
                              seed=round_seed(job.id, job.round))
    return merged, scored.score


def _aggregate(tx: Tx, job: Job, subs: list[Submission], ctx: Context,
               env: Env) -> tuple[Job, list[Any], int | None]:
    """Publishes the round's aggregate if it meets the bar; also returns its score (None if the engine
    could not make or score it)."""
    try:
        merged, score = _merge(tx, job, subs, _weights(subs), env)
    except MLError:  # cannot happen for checked updates; never let a round get stuck on it
        return job, [_kept(job, subs)], None
    if not meets_bar(job, score):  # a worse average (e.g. poisoned): keep the previous model
        return job, [_kept(job, subs)], score
    stored_as = content.store_if_room(tx, merged, job.sponsor, ctx, env.limits)
    if stored_as is None:  # no room even after reclaiming: the round closes on the previous model
        return job, [_kept(job, subs)], score
    cid, stored = stored_as
    job = replace(job, model_cid=cid, best_score=score)
    tx.put(JOBS, job.id, job)
    return job, stored + [RoundClosed(job.id, job.round, len(subs), cid, score),
                          ModelPublished(job.id, job.round, cid, score)], score


def close_round(tx: Tx, job: Job, ctx: Context, env: Env, closed_at: int) -> tuple[Job, list[Any]]:
    """Averages the round's accepted updates, publishes the global model, pays the contributors and
    starts the next round (or ends the job after the last one or at the deadline)."""
    job = tx.get(JOBS, job.id)
    subs = [tx.get(SUBMISSIONS, (job.id, i)) for i in tx.get(UPDATES, (job.id, job.round), ())]
    events: list[Any] = []
    if subs and job.spec.reward in CONTRIBUTION_REWARDS:
        start = job
        job, events, whole = _aggregate(tx, job, subs, ctx, env)
        scoring = job  # the round's job once closed: its aggregation, validation set and seed
        job, paid = round_rewards.pay(tx, start, job, subs, _weights(subs), whole,
                                      lambda members, weights: _merge(tx, scoring, members, weights, env)[1])
        events += paid
    elif subs:
        job, events, _ = _aggregate(tx, job, subs, ctx, env)
        for sub in subs:
            if payouts.budget(tx, job) < job.spec.reward_per_accept:
                tx.put(SUBMISSIONS, (job.id, sub.id), replace(sub, status="accepted"))
                continue
            job, _, paid = payouts.reward(tx, job, tx.get(SUBMISSIONS, (job.id, sub.id)),
                                          job.spec.reward_per_accept)
            events += paid
    else:
        events.append(RoundClosed(job.id, job.round, 0, job.model_cid, job.best_score or 0))
    job = replace(job, round=job.round + 1, round_started=closed_at)
    tx.put(JOBS, job.id, job)
    if job.round >= job.spec.rounds or closed_at >= job.spec.deadline:
        job, ended = payouts.end(tx, job, "paid" if job.paid else "refunded")
        events += ended
    return job, events


class Rounds(Policy):
    """The federated policy (module docstring)."""

    def on_create(self, tx: Tx, job: Job, base: Any, validation: bytes | None, env: Env) -> Job:
        """The base must be averageable (an MLP: trained); a trained base's score is the first bar."""
        spec = job.spec
        if not base.averageable:
            raise DomainError(f"{base.estimator} cannot be averaged, so it cannot run federated rounds; "
                              "use a linear model, an MLP or GaussianNB", code="bad_spec")
        if spec.aggregation not in ("", "fedavg") and base.estimator == "GaussianNB":
            raise DomainError("GaussianNB statistics are pooled (fedavg); median and trimmed_mean vote on "
                              "the parameters of linear models and MLPs", code="bad_spec")
        if base.estimator.startswith("MLP") and not base.trained:
            raise DomainError("a federated MLP needs a trained base model: updates trained from random "
                              "starting weights cannot be averaged meaningfully", code="bad_spec")
        if spec.reward in CONTRIBUTION_REWARDS:
            round_rewards.check_job(tx, job, base, validation, env)
        if not base.trained:
            return job
        scored = env.engine.score(task=spec.task, metric=spec.metric, label=spec.label, validation=validation,
                                  model=content.get_content(tx, job.model_cid), seed=0)
        return replace(job, best_score=scored.score)

    def on_commit(self, tx: Tx, job: Job, sub: Submission) -> None:
        """One update per contributor per round."""
        require_first_update(tx, job, sub)

    def check_revealed(self, tx: Tx, job: Job, sub: Submission, scored: Any, env: Env) -> None:
        """The update against the job's current model (:func:`check_update`)."""
        check_update(tx, job, sub, scored, env)

    def on_scored(self, tx: Tx, job: Job, sub: Submission, scored: Any, ctx: Context, env: Env) -> list[Any]:
        """Into the round, or rejected (:func:`on_update`)."""
        return on_update(tx, job, sub, scored, ctx, env)

    def due(self, tx: Tx, job: Job, ctx: Context, env: Env) -> tuple[Job, list[Any]]:
        """The current round closes at its end (the last one, or the deadline, ends the job)."""
        if is_due(job, ctx.timestamp):
            return close_round(tx, job, ctx, env, round_end(job))
        return job, []

    def on_cancel(self, tx: Tx, job: Job, ctx: Context, env: Env) -> tuple[Job, list[Any]]:
        """The current round closes first when it has accepted updates (averaged, published, paid)."""
        if tx.get(UPDATES, (job.id, job.round)):
            return close_round(tx, job, ctx, env, ctx.timestamp)
        return job, []

    def next_due(self, job: Job) -> str:
        """The current round's end."""
        return f"round {job.round} closes at {round_end(job)}"


POLICY = Rounds()
