"""dapp.domain.contribution on fake value functions: leave-one-out and Monte-Carlo Shapley by their
formulas, memoized evaluations within min(P x n, 2^n), the orders of dapp.domain.seeds recomputed with
hashlib, and the creation bound with the largest value that fits."""

from __future__ import annotations

import hashlib
import itertools
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dapp.domain import contribution
from dapp.domain.seeds import shapley_orders
from dapp.domain.spec import MAX_PERMUTATIONS, SpecError


def additive(values: dict[int, int], empty: int = 500_000):
    """v(S) = empty + Σ values[i]: every update adds its own value whoever else is there."""
    return lambda coalition: empty + sum(values[i] for i in coalition)


def counting(value):
    calls = []

    def wrapped(coalition):
        calls.append(coalition)
        return value(coalition)
    return wrapped, calls


def test_loo_is_the_gain_from_the_round_without_each_update_to_the_whole_round():
    value = lambda s: {frozenset(): 0, frozenset({1}): 70, frozenset({2}): 90,  # noqa: E731
                       frozenset({1, 2}): 100}[s]
    measured = contribution.leave_one_out([1, 2], value, "accuracy")
    assert [(m.submission_id, m.score, m.baseline, m.contribution) for m in measured] == [(1, 100, 90, 10),
                                                                                          (2, 100, 70, 30)]


def test_a_loss_metric_counts_a_lower_score_as_a_positive_contribution():
    value = lambda s: 900 - 100 * len(s)  # noqa: E731 -- each update lowers the loss by 100
    assert [m.contribution for m in contribution.leave_one_out([4, 7], value, "log_loss")] == [100, 100]
    orders = [(4, 7), (7, 4)]
    shap = contribution.shapley([4, 7], value, "rmse", orders)
    assert [(m.score, m.baseline, m.contribution) for m in shap] == [(700, 900, 100), (700, 900, 100)]
    assert [m.contribution for m in contribution.leave_one_out([4, 7], value, "accuracy")] == [-100, -100]


def test_shapley_over_every_order_is_exact_and_efficient():
    """All n! orders: the exact Shapley value; contributions add up to v(N) - v(∅) (up to the floor)."""
    table = {frozenset(s): 10 * len(s) ** 2 + (7 if 2 in s else 0) for n in range(4)
             for s in itertools.combinations([1, 2, 3], n)}
    orders = list(itertools.permutations([1, 2, 3]))
    measured = contribution.shapley([1, 2, 3], table.__getitem__, "accuracy", orders)
    exact = {}
    for i in (1, 2, 3):
        others = [j for j in (1, 2, 3) if j != i]
        total = Fraction(0)
        for size in range(3):
            for s in itertools.combinations(others, size):
                weight = Fraction(1, 3) / len(list(itertools.combinations(others, size)))
                total += weight * (table[frozenset(s) | {i}] - table[frozenset(s)])
        exact[i] = total
    assert {m.submission_id: m.contribution for m in measured} == {i: int(v // 1) for i, v in exact.items()}
    assert sum(m.contribution for m in measured) <= table[frozenset({1, 2, 3})] - table[frozenset()]


def test_shapley_floors_the_average_of_the_marginal_gains():
    table = {frozenset(): 0, frozenset({1}): -5, frozenset({2}): 3, frozenset({1, 2}): 0}
    value = table.__getitem__
    measured = contribution.shapley([1, 2], value, "accuracy", [(1, 2), (1, 2), (2, 1)])
    # update 1: (-5) + (-5) + (0 - 3) = -13 -> floor(-13/3) = -5; update 2: 5 + 5 + 3 = 13 -> 4
    assert [m.contribution for m in measured] == [-5, 4]


def test_identical_updates_share_alike_and_a_useless_one_gets_nothing():
    value = lambda s: 100 if s & {1, 2} else 0  # noqa: E731 -- 1 and 2 are copies; 3 adds nothing
    orders = list(itertools.permutations([1, 2, 3]))
    measured = contribution.shapley([1, 2, 3], value, "accuracy", orders)
    shap = {m.submission_id: m.contribution for m in measured}
    assert shap == {1: 50, 2: 50, 3: 0}
    loo = {m.submission_id: m.contribution for m in contribution.leave_one_out([1, 2, 3], value, "accuracy")}
    assert loo == {1: 0, 2: 0, 3: 0}  # under loo each copy is worth nothing: the other one stays


@given(n=st.integers(1, 7), p=st.integers(1, 40), seed=st.integers(0, 10**6))
@settings(max_examples=40, deadline=None)
def test_memoized_evaluations_are_at_most_min_p_times_n_and_two_to_the_n(n, p, seed):
    ids = list(range(10, 10 + n))
    wrapped, calls = counting(additive({i: (i * seed) % 97 - 40 for i in ids}))
    memo = contribution.Memo(wrapped, {frozenset(): 500_000})
    contribution.shapley(ids, memo, "accuracy", shapley_orders(seed, 3, ids, p))
    assert memo.evaluated == len(calls) == len(set(calls))  # each coalition once
    assert len(calls) <= min(p * n, 2**n - 1) <= contribution.evaluations("shapley", n, p)
    wrapped, calls = counting(additive({i: 1 for i in ids}))
    contribution.leave_one_out(ids, contribution.Memo(wrapped, {frozenset(): 0}), "accuracy")
    assert len(calls) <= contribution.evaluations("loo", n, 0) == n + 1


def test_an_additive_round_pays_each_update_its_own_value_under_both_rules():
    values = {3: 40_000, 5: -7_000, 8: 0, 9: 123_457}
    value = additive(values)
    loo = contribution.leave_one_out(list(values), value, "f1")
    assert {m.submission_id: m.contribution for m in loo} == values
    shap = contribution.shapley(list(values), value, "f1", shapley_orders(1, 0, list(values), 3))
    assert {m.submission_id: m.contribution for m in shap} == values
    assert {m.baseline for m in shap} == {500_000}


def test_shapley_orders_are_permutations_sorted_by_the_documented_hash():
    ids = [2, 5, 9, 11, 40]
    orders = shapley_orders(7, 3, ids, 50)
    for k, order in enumerate(orders):
        digest = {i: hashlib.sha256(f"mlmarket/7/round/3/shapley/{k}/{i}".encode()).digest() for i in ids}
        key = {i: int.from_bytes(d[:4], "big") for i, d in digest.items()}
        assert list(order) == sorted(ids, key=lambda i: (key[i], i))
    assert len(set(orders)) > 20  # not one order repeated
    assert shapley_orders(7, 3, list(reversed(ids)), 50) == orders  # the ids' given order does not matter
    assert shapley_orders(7, 4, ids, 50) != orders and shapley_orders(8, 3, ids, 50) != orders


COSTS = contribution.Costs(scoring=5_000_000, update_bytes=2_000)


def test_the_work_of_a_round_counts_evaluations_times_their_cost_plus_the_shapley_steps():
    per_model = contribution.MODEL_CYCLES + contribution.BYTE_CYCLES * 2_000
    per = contribution.EVALUATION_CYCLES + 5_000_000 + 4 * per_model
    assert contribution.work("loo", 4, 0, COSTS) == 5 * per
    assert contribution.work("shapley", 4, 3, COSTS) == 12 * per + 12 * contribution.STEP_CYCLES
    assert contribution.work("shapley", 4, 100, COSTS) == 16 * per + 400 * contribution.STEP_CYCLES


@pytest.mark.parametrize(("rule", "quota", "permutations", "field"), [
    ("loo", 64, 0, "round_quota"),
    ("shapley", 10, MAX_PERMUTATIONS, "permutations"),
    ("shapley", 64, 5, "round_quota"),
])
def test_a_too_costly_round_names_the_field_and_the_largest_value_that_fits(rule, quota, permutations, field):
    budget = 10_000_000_000
    with pytest.raises(SpecError) as raised:
        contribution.check_work(rule, quota, permutations, COSTS, budget)
    assert raised.value.field == field and raised.value.code == "bad_spec"
    most = int(raised.value.fix.rsplit(" ", 1)[1])
    fits = {"round_quota": lambda v: contribution.work(rule, v, permutations, COSTS),
            "permutations": lambda v: contribution.work(rule, quota, v, COSTS)}[field]
    assert fits(most) <= budget < fits(most + 1)
    contribution.check_work(rule, most if field == "round_quota" else quota,
                            most if field == "permutations" else permutations, COSTS, budget)


def test_a_round_that_fits_passes_and_nothing_fits_says_so():
    contribution.check_work("shapley", 6, MAX_PERMUTATIONS, COSTS, 10_000_000_000)  # 2^6 coalitions at most
    with pytest.raises(SpecError) as raised:
        contribution.check_work("loo", 3, 0, COSTS, 1_000)
    assert raised.value.field == "round_quota" and "not even one update" in raised.value.args[0]
