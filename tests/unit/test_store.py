"""The transactional store: overlays commit on success and vanish on failure."""

import pytest

from dapp.domain.store import State


def test_committed_transaction_is_visible():
    state = State()
    with state.transaction() as tx:
        tx.put("t", "a", 1)
        assert tx.get("t", "a") == 1
        assert state.get("t", "a") is None  # not before commit
    assert state.get("t", "a") == 1


def test_exception_drops_every_change():
    state = State()
    with state.transaction() as tx:
        tx.put("t", "a", 1)
    with pytest.raises(RuntimeError):
        with state.transaction() as tx:
            tx.put("t", "a", 2)
            tx.put("t", "b", 3)
            tx.delete("t", "a")
            raise RuntimeError("midway")
    assert list(state.items("t")) == [("a", 1)]


def test_nested_failure_keeps_outer_changes():
    state = State()
    with state.transaction() as tx:
        tx.put("t", "outer", 1)
        with pytest.raises(ValueError):
            with tx.transaction() as inner:
                inner.put("t", "inner", 2)
                raise ValueError
        with tx.transaction() as inner:
            inner.add("t", "outer", 10)
    assert dict(state.items("t")) == {"outer": 11}


def test_items_in_a_transaction_match_the_order_after_commit():
    state = State()
    with state.transaction() as tx:
        for key in "abc":
            tx.put("t", key, key)
    with state.transaction() as tx:
        tx.put("t", "b", "B")
        tx.delete("t", "a")
        tx.put("t", "d", "d")
        seen = list(tx.items("t"))
    assert seen == list(state.items("t")) == [("b", "B"), ("c", "c"), ("d", "d")]


def test_counters_allocate_consecutive_ids():
    state = State()
    with state.transaction() as tx:
        assert [tx.next_id("jobs") for _ in range(3)] == [1, 2, 3]
    with state.transaction() as tx:
        assert tx.next_id("jobs") == 4


def test_a_committed_transaction_cannot_be_written_again():
    state = State()
    with state.transaction() as tx:
        pass
    with pytest.raises(RuntimeError):
        tx.put("t", "a", 1)
