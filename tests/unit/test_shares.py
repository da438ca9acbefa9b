"""The proportional split of a pool (dapp.domain.shares), against the rule written in PROTOCOL §4.7
recomputed here with Fractions."""

from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from dapp.domain.shares import proportional


def by_the_doc(pool: int, contributions: dict[int, int]) -> dict[int, int]:
    weights = {k: max(v, 0) for k, v in contributions.items()}
    total = sum(weights.values())
    if not total:
        return {k: 0 for k in weights}
    exact = {k: Fraction(pool * w, total) for k, w in weights.items()}
    paid = {k: int(v) for k, v in exact.items()}  # floor: all non-negative
    order = sorted(exact, key=lambda k: (-(exact[k] - paid[k]), k))
    for k in order[:pool - sum(paid.values())]:
        paid[k] += 1
    return paid


def test_ties_and_remainders_go_to_the_smaller_id():
    assert proportional(10, {3: 1, 1: 1, 2: 1}) == {1: 4, 2: 3, 3: 3}


def test_zero_and_negative_contributions_get_nothing_and_may_leave_the_pool():
    assert proportional(100, {1: -5, 2: 0, 3: 15}) == {1: 0, 2: 0, 3: 100}
    assert proportional(100, {1: -5, 2: 0}) == {1: 0, 2: 0}
    assert proportional(0, {1: 7}) == {1: 0}


@given(st.integers(0, 10**24), st.dictionaries(st.integers(1, 500), st.integers(-10**6, 10**6), min_size=1,
                                                max_size=30))
def test_the_split_is_the_documented_rule_and_pays_the_whole_pool(pool, contributions):
    paid = proportional(pool, contributions)
    assert paid == by_the_doc(pool, contributions)
    if any(v > 0 for v in contributions.values()):
        assert sum(paid.values()) == pool
    assert all(paid[k] == 0 for k, v in contributions.items() if v <= 0)
