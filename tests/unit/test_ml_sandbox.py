"""The sandbox: hard CPU and memory limits on a forked worker, errors mapped to submission failures,
results carried back exactly, and nothing left behind (no zombie, no descriptor)."""

import os
import signal

import numpy as np
import pytest

from dapp.ml.errors import DatasetError, MLError, ModelError, ResourceLimitError, TrainingError
from dapp.ml.sandbox import InProcess, Outcome, Sandbox, decode_outcome, encode_outcome

MIB = 1 << 20
SMALL = Sandbox(cpu_seconds=1, memory=64 * MIB)


def _loop_forever() -> Outcome:
    while True:
        pass


def _allocate(nbytes: int) -> Outcome:
    return Outcome(int(np.ones(nbytes // 8).sum()))


def _children() -> list[tuple[int, str]]:
    """(pid, state) of every process whose parent is this one."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid():
            found.append((int(entry), fields[0]))
    return found


def test_a_function_that_never_ends_is_stopped_by_the_cpu_limit():
    with pytest.raises(ResourceLimitError) as err:
        SMALL(_loop_forever, "looping")
    assert err.value.code == "resource_limit" and err.value.message == "looping exceeded 1 s of CPU"


def test_liblinears_endless_primal_loop_is_stopped_by_the_cpu_limit():
    # issue 11, finding 1, below the engine's checks: scikit-learn itself on the 3-row data that loops
    def fit() -> Outcome:
        from sklearn.svm import LinearSVC

        LinearSVC(dual=False).fit(np.array([[1e100, 1.0], [0.0, -1.0], [1.0, 0.0]]), np.array([0, 1, 0]))
        return Outcome()

    with pytest.raises(ResourceLimitError) as err:
        SMALL(fit, "LinearSVC")
    assert "exceeded 1 s of CPU" in err.value.message


@pytest.mark.parametrize("allocate", [
    lambda: _allocate(2 << 30),                          # numpy
    lambda: Outcome(len(bytearray(2 << 30))),            # plain Python
    lambda: Outcome(len([bytes(MIB) for _ in range(2048)])),  # many small allocations
])
def test_allocating_2_gib_under_a_small_budget_is_a_resource_limit(allocate):
    with pytest.raises(ResourceLimitError) as err:
        SMALL(allocate, "allocating")
    assert err.value.code == "resource_limit"
    assert err.value.message == "allocating exceeded the memory limit of 64 MiB"


def test_the_memory_budget_is_beyond_what_the_child_inherits():
    inherited = np.ones(96 * MIB // 8)  # more than the budget, mapped before the fork: not counted
    assert SMALL(lambda: Outcome(int(inherited[::4096].sum()) + _allocate(32 * MIB).score), "x").score == (
        96 * MIB // 8 // 4096 + 32 * MIB // 8)


def test_any_other_exception_becomes_a_training_failure_naming_it():
    def fails() -> Outcome:
        raise AttributeError("'NoneType' object has no attribute 'shape'")

    for run in (SMALL, InProcess()):
        with pytest.raises(TrainingError) as err:
            run(fails, "training MLPRegressor")
        assert err.value.code == "training_failed"
        assert err.value.message == ("training MLPRegressor failed: AttributeError: "
                                     "'NoneType' object has no attribute 'shape'")


def test_even_system_exit_and_keyboard_interrupt_in_the_child_are_that_works_failure():
    for exc in (SystemExit(3), KeyboardInterrupt()):
        def raises(exc=exc) -> Outcome:
            raise exc

        with pytest.raises(TrainingError) as err:
            SMALL(raises, "w")
        assert type(exc).__name__ in err.value.message


def test_an_ml_error_comes_back_with_its_class_code_and_message():
    errors = [DatasetError("bad column", code="dataset_bad_column"), ModelError("too big"),
              ResourceLimitError("inner limit"), MLError("plain", code="custom_code")]
    for error in errors:
        def raises(error=error) -> Outcome:
            raise error

        with pytest.raises(MLError) as err:
            SMALL(raises, "w")
        assert type(err.value) is type(error)
        assert (err.value.code, err.value.message) == (error.code, error.message)


@pytest.mark.parametrize("kill, name", [
    (lambda: os.kill(os.getpid(), signal.SIGSEGV), "SIGSEGV"),
    (os.abort, "SIGABRT"),
    (lambda: os.kill(os.getpid(), signal.SIGTERM), "SIGTERM"),
])
def test_a_child_killed_by_another_signal_is_a_training_failure(kill, name):
    def crashes() -> Outcome:
        kill()
        return Outcome()

    with pytest.raises(TrainingError) as err:
        SMALL(crashes, "training X")
    assert err.value.code == "training_failed" and err.value.message == f"training X crashed with signal {name}"


def test_a_child_that_exits_without_a_reply_is_a_training_failure():
    with pytest.raises(TrainingError) as err:
        SMALL(lambda: os._exit(7), "w")
    assert "without a result (exit status 7)" in err.value.message


@pytest.mark.parametrize("outcome", [
    Outcome(),
    Outcome(-(2**63), 2**63 - 1, b""),
    Outcome(123_456, 7, bytes(range(256)) * 40_000),  # 10 MB: far more than a pipe's buffer
])
def test_results_round_trip_exactly(outcome):
    assert decode_outcome(encode_outcome(outcome)) == outcome
    assert SMALL(lambda: outcome, "w") == outcome


def test_malformed_result_bytes_are_refused():
    good = encode_outcome(Outcome(1, 2, None))
    for bad in (good[:-1], good + b"x", good[:-1] + b"\x02"):
        with pytest.raises(ValueError):
            decode_outcome(bad)


def test_the_child_cannot_change_the_parents_state():
    state = {"runs": 0}

    def mutates() -> Outcome:
        state["runs"] += 1
        return Outcome(state["runs"])

    assert [SMALL(mutates, "w").score for _ in range(3)] == [1, 1, 1] and state == {"runs": 0}


def test_no_zombie_and_no_descriptor_is_left_after_many_calls():
    descriptors = sorted(os.listdir("/proc/self/fd"))
    before = _children()
    for i in range(50):
        if i % 2:
            assert SMALL(lambda i=i: Outcome(i), "w").score == i
        else:
            with pytest.raises(TrainingError):
                SMALL(lambda: 1 / 0, "w")
    assert sorted(os.listdir("/proc/self/fd")) == descriptors
    assert _children() == before


def test_an_interrupted_parent_kills_and_reaps_its_child(monkeypatch):
    from dapp.ml import sandbox

    def interrupted(fd, seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(sandbox, "_read_all", interrupted)
    before = _children()
    with pytest.raises(KeyboardInterrupt):
        SMALL(_loop_forever, "w")
    assert _children() == before


def test_a_child_that_neither_ends_nor_uses_cpu_is_ended_by_the_watchdog():
    import time

    before = _children()
    with pytest.raises(RuntimeError):
        Sandbox(cpu_seconds=1, memory=64 * MIB, wall_seconds=0.5)(lambda: time.sleep(60), "sleeping")
    assert _children() == before
