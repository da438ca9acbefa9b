"""Contribution rewards of federated rounds (``JobSpec.reward`` ``sequential``, ``loo`` or ``shapley``, docs/PROTOCOL.md
§4.7): each round's pool is shared by the measured marginal value of its accepted updates
(``dapp.domain.contribution``), and a job whose valuation of a full round could not fit one input is
refused at creation.

``dapp.domain.policy.rounds`` calls :func:`pay` when a round closes, with ``score_of(members,
weights)``: the score of the aggregate of some of the round's updates (the engine's aggregation, then
scoring on the validation set with the round's seed), so a coalition is valued exactly as the round's
own aggregate is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from dapp.domain import content, contribution, payouts, shares
from dapp.domain.commands import JobSpec
from dapp.domain.engine_port import MLEngine
from dapp.domain.env import Env
from dapp.domain.events import ContributionMeasured
from dapp.domain.limits import Limits
from dapp.domain.records import SUBMISSIONS, Job, Submission
from dapp.domain.seeds import shapley_orders
from dapp.domain.store import Tx
from dapp.ml.errors import MLError

ScoreOf = Callable[[list[Submission], list[int]], int]


def coalition_value(subs: list[Submission], weights: list[int], empty: int,
                    score_of: ScoreOf) -> contribution.Value:
    """``v(S)``: the score of the aggregate of the round's updates in ``S`` (in round order), each
    weighing what it weighs in the whole round's aggregate (``weights``, one per update of ``subs``);
    ``empty`` for ``∅``, or when the engine cannot make or score that aggregate (which cannot happen
    for checked updates: a coalition is then worth what nothing adds)."""
    weight_of = dict(zip((s.id for s in subs), weights))

    def value(coalition: frozenset[int]) -> int:
        members = [s for s in subs if s.id in coalition]
        if not members:
            return empty
        try:
            return score_of(members, [weight_of[s.id] for s in members])
        except MLError:
            return empty
    return value


def measure(start: Job, job: Job, subs: list[Submission], weights: list[int], whole: int | None,
            score_of: ScoreOf) -> list[contribution.Measured]:
    """Each update's contribution under ``job``'s rule. ``v(∅)`` is the global model's score when the
    round started (``start``), else ``min_score``; ``whole`` is ``v(N)`` when the round's aggregate
    was scored already (None: it could not be, so it is worth ``v(∅)``)."""
    spec, ids = job.spec, [s.id for s in subs]
    empty = start.best_score if start.best_score is not None else spec.min_score
    value = contribution.Memo(coalition_value(subs, weights, empty, score_of),
                              {frozenset(): empty, frozenset(ids): empty if whole is None else whole})
    if spec.reward == "sequential":
        return contribution.sequential(ids, value, spec.metric)
    if spec.reward == "loo":
        return contribution.leave_one_out(ids, value, spec.metric)
    orders = shapley_orders(job.id, job.round, ids, spec.permutations)
    return contribution.shapley(ids, value, spec.metric, orders)


def pay(tx: Tx, start: Job, job: Job, subs: list[Submission], weights: list[int], whole: int | None,
        score_of: ScoreOf) -> tuple[Job, list[Any]]:
    """Shares the round's pool, ``min(reward_per_accept, budget)``, in proportion to the measured
    contributions (``shares.proportional``): per update in round order a ``ContributionMeasured``, then
    its payment when its share is positive; every update ends ``accepted`` with its contribution
    recorded. Nothing positive: the pool stays in the job."""
    measured = measure(start, job, subs, weights, whole, score_of)
    pool = min(job.spec.reward_per_accept, payouts.budget(tx, job))
    amounts = shares.proportional(pool, {m.submission_id: m.contribution for m in measured})
    events: list[Any] = []
    for m in measured:
        sub = replace(tx.get(SUBMISSIONS, (job.id, m.submission_id)), contribution=m.contribution)
        amount = amounts[sub.id]
        events.append(ContributionMeasured(job.id, sub.id, job.round, job.spec.reward, m.score, m.baseline,
                                           m.contribution, amount))
        if amount:
            job, _, paid = payouts.reward(tx, job, sub, amount)
            events += paid
        else:
            tx.put(SUBMISSIONS, (job.id, sub.id), replace(sub, status="accepted"))
    return job, events


def costs(engine: MLEngine, spec: JobSpec, model: bytes, trained: bool,
          validation: bytes) -> contribution.Costs:
    """What valuing one coalition of a job's updates costs: the engine's estimate of scoring its model
    (``model``, the base) on the validation set (a trained base: from its arrays, which every update
    shares; an untrained one: the engine's cautious estimate per cell), and an update's bytes (a
    trained base's own; else those of an averageable model on the validation set's columns: at most
    two float64 per feature and class, and a manifest naming the columns)."""
    scoring = engine.estimate(task=spec.task, label=spec.label, model=model, evaluation=validation)
    if trained:
        return contribution.Costs(scoring, len(model))
    info = engine.check_dataset(validation, spec.label, spec.task)
    classes = max(len(info.classes or ()), 1)
    manifest = 2 * sum(len(c.encode()) + 3 for c in info.columns) + 4096
    return contribution.Costs(scoring, 16 * (info.features + 2) * classes + manifest)


def budget(limits: Limits) -> int:
    """Machine cycles a round's valuation may take: one input's ``max_input_work`` less the training
    of the update whose reveal closes the round, which the engine bounds at half of it (``Limits``:
    an input's work is two trainings at ``MLLimits.max_cycles``)."""
    return limits.max_input_work - limits.max_input_work // 2


def check_job(tx: Tx, job: Job, base: Any, validation: bytes, env: Env) -> None:
    """At createJob: SpecError (``bad_spec``, naming ``permutations`` or ``round_quota`` with the largest
    value that fits) unless valuing a full round fits :func:`budget`."""
    spec = job.spec
    found = costs(env.engine, spec, content.get_content(tx, job.model_cid), base.trained, validation)
    contribution.check_work(spec.reward, spec.round_quota, spec.permutations, found, budget(env.limits))
