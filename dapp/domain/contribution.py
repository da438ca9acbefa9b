"""Measured contributions of a federated round's updates (docs/PROTOCOL.md §4.7), and what measuring
them costs.

A round's accepted updates ``N`` (submission ids) are valued through a *value function*
``v(S) -> score`` (millionths of the job's metric) of a coalition ``S ⊆ N``; ``dapp.domain.policy.rounds``
gives it (the score of the aggregate of ``S`` on the validation set, ``v(∅)`` the global model's).
Contributions are signed and "better" is positive for losses too (``gain``):

- ``sequential``: in commit order (submission ids), ``c_i = gain(v(P_i ∪ {i}), v(P_i))`` where ``P_i``
  are the round's updates committed before ``i``: what ``i`` adds to the work that came first, so a
  later copy of an update adds nothing and takes nothing from it;
- ``loo``: ``c_i = gain(v(N), v(N \\ {i}))``;
- ``shapley``: over the given permutations of ``N``, ``c_i = floor(Σ (v(before ∪ {i}) ⊖ v(before)) / P)``
  (``⊖``: ``gain``), the marginal gain of ``i`` on the updates ahead of it, averaged.

:class:`Memo` evaluates each coalition once, so a valuation costs at most :func:`evaluations` calls of
the value function. Nothing here calls the engine: the work of one evaluation is given by the caller
(:func:`check_work`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from dapp.domain.spec import MAX_PERMUTATIONS, SpecError, gain

Coalition = frozenset[int]
Value = Callable[[Coalition], int]

# The machine cycles of one coalition's valuation beyond the engine's scoring estimate: the fixed set-up
# of its two engine runs (aggregate, score) and the metric, each model read into the aggregate, and
# each byte of it. Measured natively in-process by ``python -m bench contribution`` (0.6-0.8 ms, 0.2 ms,
# 1.6 ns) and scaled by 200 (the machine's slowness at Python-bound work: IMAGE.md's per-input table,
# 106-334 for inputs without training) at 128 M cycles a second, with a margin of about 2.
EVALUATION_CYCLES = 40_000_000
MODEL_CYCLES = 10_000_000
BYTE_CYCLES = 100
STEP_CYCLES = 100_000  # shapley: one update of one permutation (its key, the coalition, the memo)


@dataclass(frozen=True, slots=True)
class Measured:
    """One update's valuation: the two scores compared (``loo``: ``v(N)`` and ``v(N \\ {i})``;
    ``shapley``: ``v(N)`` and ``v(∅)``) and its signed ``contribution`` (millionths)."""

    submission_id: int
    score: int
    baseline: int
    contribution: int


class Memo:
    """``value`` evaluated at most once per coalition; ``known`` coalitions are never evaluated."""

    def __init__(self, value: Value, known: dict[Coalition, int] | None = None) -> None:
        self._value = value
        self._cache = dict(known or {})
        self.evaluated = 0

    def __call__(self, coalition: Coalition) -> int:
        if coalition not in self._cache:
            self._cache[coalition] = self._value(coalition)
            self.evaluated += 1
        return self._cache[coalition]


def leave_one_out(ids: Sequence[int], value: Value, metric: str) -> list[Measured]:
    """Each update's gain from the round without it to the whole round, in the order of ``ids``."""
    everyone = frozenset(ids)
    score = value(everyone)
    measured = []
    for sid in ids:
        without = value(everyone - {sid})
        measured.append(Measured(sid, score, without, gain(metric, score, without)))
    return measured


def sequential(ids: Sequence[int], value: Value, metric: str) -> list[Measured]:
    """Each update's gain over the updates committed before it (smaller ids), in the order of ``ids``:
    ``score`` is ``v(P_i ∪ {i})`` and ``baseline`` ``v(P_i)``."""
    before, coalition, measured = value(frozenset()), frozenset(), {}
    for sid in sorted(ids):
        coalition = coalition | {sid}
        after = value(coalition)
        measured[sid] = Measured(sid, after, before, gain(metric, after, before))
        before = after
    return [measured[sid] for sid in ids]


def shapley(ids: Sequence[int], value: Value, metric: str, orders: Iterable[Sequence[int]]) -> list[Measured]:
    """Each update's marginal gain on the updates ahead of it, averaged over ``orders`` (each a
    permutation of ``ids``) and floored; in the order of ``ids``."""
    totals = dict.fromkeys(ids, 0)
    empty = value(frozenset())
    count = 0
    for order in orders:
        count += 1
        before, coalition = empty, frozenset()
        for sid in order:
            coalition = coalition | {sid}
            after = value(coalition)
            totals[sid] += gain(metric, after, before)
            before = after
    score = value(frozenset(ids))
    return [Measured(sid, score, empty, totals[sid] // max(count, 1)) for sid in ids]


def evaluations(rule: str, quota: int, permutations: int) -> int:
    """The most coalitions a round of ``quota`` updates is valued on: ``sequential`` and ``loo``
    ``quota + 1``, ``shapley`` ``min(permutations x quota, 2^quota)``."""
    if rule in ("sequential", "loo"):
        return quota + 1
    return min(permutations * quota, 2**quota)


@dataclass(frozen=True, slots=True)
class Costs:
    """What one coalition's valuation costs in a job, from its contents: the engine's estimate of
    scoring a model of the job on its validation set (``scoring``, cycles) and the bytes of one update
    (``update_bytes``)."""

    scoring: int
    update_bytes: int

    def evaluation(self, quota: int) -> int:
        """Cycles of one coalition's valuation (aggregating up to ``quota`` updates, then scoring)."""
        return EVALUATION_CYCLES + self.scoring + quota * (MODEL_CYCLES + BYTE_CYCLES * self.update_bytes)


def work(rule: str, quota: int, permutations: int, costs: Costs) -> int:
    """Estimated machine cycles of valuing a full round: its evaluations, and for ``shapley`` walking
    its permutations."""
    steps = permutations * quota if rule == "shapley" else 0
    return evaluations(rule, quota, permutations) * costs.evaluation(quota) + steps * STEP_CYCLES


def _largest(fits: Callable[[int], bool], upto: int) -> int:
    """The largest ``n`` in ``1..upto`` with ``fits(n)`` (monotone), 0 if none."""
    return max((n for n in range(1, upto + 1) if fits(n)), default=0)


def check_work(rule: str, quota: int, permutations: int, costs: Costs, budget: int) -> None:
    """SpecError (``bad_spec``) unless valuing a full round fits ``budget`` cycles, naming
    ``permutations`` (shapley, when fewer fit) or ``round_quota`` with the largest value that fits."""
    estimate = work(rule, quota, permutations, costs)
    if estimate <= budget:
        return
    what = (f"valuing a round of {quota} updates by {rule} is estimated at {estimate:.3g} machine cycles, "
            f"more than the {budget:.3g} one input may spend on it")
    if rule == "shapley":
        most = _largest(lambda p: work(rule, quota, p, costs) <= budget, min(permutations, MAX_PERMUTATIONS))
        if most:
            raise SpecError(f"{what}: permutations {permutations}, at most {most} fit", "permutations",
                            f"set permutations to at most {most}")
    most = _largest(lambda q: work(rule, q, max(permutations, 1), costs) <= budget, quota)
    if not most:
        raise SpecError(f"{what}: round_quota {quota}, and not even one update fits", "round_quota",
                        "use a smaller validation set or base model")
    raise SpecError(f"{what}: round_quota {quota}, at most {most} fit", "round_quota",
                    f"set round_quota to at most {most}")
