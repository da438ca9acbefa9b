"""Where a submission's reveal input spends its time, stage by stage, for small fits and forests.

Each case runs real threshold jobs through the dispatch path (``App`` with the real engine, the rollup
loop, the fake rollup), as ``bench.ml_submission`` does, and times ``REPEATS`` reveal inputs (each
after its untimed commit, each to a new job). The stages are timed by wrapping the functions that do
them (a microsecond each), first with the engine's work in this process (``Engine(isolate=False)``:
what the forked worker does, stage by stage), then with the real forked worker (``Engine()``): the
difference of the two medians is the sandbox's cost (fork, the worker's copy-on-write page faults,
its exit and reply). "plain scikit-learn" is ``bench.ml_submission``'s plain fit + predict + metric
with the same seeds, for scale. Figures are CPU time (this process and its reaped workers; a loaded
host inflates it less than wall time), medians over the inputs, in ms; "rest of the input" is the
input's time outside the engine, the CIDs and the output encoding (ABI decoding, commitment, state,
history, the fake rollup's hex round trip).

Like ``bench.ml_submission`` it measures in a fresh process with one BLAS/OpenMP thread, as ``python -m
dapp`` runs (``bench._fresh``). ``--cprofile NAME`` instead prints cProfile's top functions (by own
time) of that case's reveal inputs with the work in process, e.g. ``--cprofile "forest 100"``.

Run: ``.venv/bin/python -m bench.profile_submission``.
"""

from __future__ import annotations

import cProfile
import pstats
import resource
import statistics
import sys
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import _fresh
from bench._summary import record
from bench._table import print_table

REPEATS = 25

# (label, [(module, attribute), ...]): the functions whose time is a stage, in the order printed;
# a function missing from a version of the code is skipped
ENGINE_STAGES = (
    ("model file read (JSON spec)", [("dapp.ml.engine", "Engine._load")]),
    ("datasets (decoded, cached)", [("dapp.ml.engine", "Engine._dataset")]),
    ("training gate (estimate)", [("dapp.ml.engine", "check_work")]),
    ("imports + thread pools", [("dapp.ml.engine", "_preload")]),
    ("fit (scikit-learn)", [("dapp.ml.engine", "fit")]),
    ("fitted arrays (extract)", [("dapp.ml.engine", "extract")]),
    ("fitted arrays checked", [("dapp.ml.engine", "restore"), ("dapp.ml.engine", "check_fitted")]),
    ("model file written (npy + zip)", [("dapp.ml.engine", "write_model")]),
    ("evaluation gate", [("dapp.ml.engine", "check_evaluation")]),
    ("predict + metric", [("dapp.ml.engine", "_evaluate")]),
)
INPUT_STAGES = (
    ("CIDs of the model file", [("dapp.domain.content", "cid_of"),
                                ("dapp.domain.policy.threshold", "cid_of")]),
    ("notices + voucher (ABI)", [("dapp.app", "encode_events")]),  # no voucher when the reward is a credit
)
ENGINE = ("dapp.ml.engine", "Engine.score")


def _cases():
    from sklearn.datasets import load_breast_cancer, load_wine

    from bench.ml_submission import _split

    lr = {"estimator": "LogisticRegression", "params": {"max_iter": 1000},
          "preprocessing": ["standard_scaler"]}
    nb = {"estimator": "GaussianNB", "params": {}}
    rf10 = {"estimator": "RandomForestClassifier", "params": {"max_depth": 8, "n_estimators": 10}}
    rf100 = {"estimator": "RandomForestClassifier", "params": {"max_depth": 10, "n_estimators": 100}}
    wine, cancer = _split(*load_wine(return_X_y=True)), _split(*load_breast_cancer(return_X_y=True))
    return (("GaussianNB wine", nb, wine), ("LogReg wine", lr, wine), ("LogReg cancer", lr, cancer),
            ("forest 10 cancer", rf10, cancer), ("forest 100 wine", rf100, wine))


class _Stages:
    """Wraps the stage functions with timers; ``armed`` inside the timed inputs only."""

    def __init__(self) -> None:
        self.armed = False
        self.spent: dict[str, float] = defaultdict(float)

    @contextmanager
    def installed(self) -> Iterator[None]:
        undo = []
        for label, places in (*ENGINE_STAGES, *INPUT_STAGES, ("engine", [ENGINE])):
            for module_name, attribute in places:
                owner, name = _owner(module_name, attribute)
                if owner is None or not hasattr(owner, name):
                    continue
                original = getattr(owner, name)
                setattr(owner, name, self._timed(label, original))
                undo.append((owner, name, original))
        try:
            yield
        finally:
            for owner, name, original in reversed(undo):
                setattr(owner, name, original)

    def _timed(self, label: str, function: Callable) -> Callable:
        def timed(*args: Any, **kwargs: Any) -> Any:
            if not self.armed:
                return function(*args, **kwargs)
            start = time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                self.spent[label] += time.thread_time() - start

        return timed


def _owner(module_name: str, attribute: str) -> tuple[Any, str]:
    import importlib

    owner: Any = importlib.import_module(module_name)
    *path, name = attribute.split(".")
    for part in path:
        owner = getattr(owner, part, None)
    return owner, name


def _reveals(isolate: bool, spec: dict, data: tuple[bytes, bytes], stages: _Stages | None,
             profile: cProfile.Profile | None = None) -> list[tuple[float, dict[str, float]]]:
    """(seconds, stage seconds) of ``REPEATS`` reveal inputs, after one untimed warm-up submission."""
    from bench.ml_submission import _market_job
    from dapp.ml.engine import Engine
    from tests.support.market import CAROL
    from tests.support.rollup import credits

    train, valid = data
    m, open_job, model, data_cid = _market_job(Engine(isolate=isolate), "classification", "accuracy", valid,
                                               spec, train)
    measured = []
    for n in range(REPEATS + 1):
        job = open_job()
        committed, salt = m.commit(CAROL, job, model, data_cid)
        assert committed.accepted, committed.reports
        if stages is not None:
            stages.spent.clear()
            stages.armed = True
        if profile is not None and n:
            profile.enable()
        start = _cpu()
        done = m.reveal(CAROL, job, model, data_cid, salt)
        seconds = _cpu() - start
        if profile is not None:
            profile.disable()
        if stages is not None:
            stages.armed = False
        assert done.accepted and (done.vouchers or credits(done)), done.reports  # paid: voucher or credit
        if n:  # the first pays imports and first-use costs
            measured.append((seconds, dict(stages.spent) if stages else {}))
    return measured


def _cpu() -> float:
    """CPU seconds of this process and of its reaped children (the engine's workers)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + usage.ru_utime + usage.ru_stime


def _plain(spec: dict, data: tuple[bytes, bytes]) -> float:
    from bench.ml_submission import _parse, _plain as plain_fit

    arrays = (*_parse(data[0]), *_parse(data[1]))
    spent = []
    for seed in range(REPEATS + 1):
        start = time.process_time()
        plain_fit(spec, "classification", "accuracy", arrays, seed)
        spent.append(time.process_time() - start)
    return statistics.median(spent[1:])


def profile_case(spec: dict, data: tuple[bytes, bytes]) -> dict[str, float]:
    """Median ms of each stage, the input, the sandbox and plain scikit-learn, for one case."""
    stages = _Stages()
    with stages.installed():
        local = _reveals(False, spec, data, stages)
    isolated = _reveals(True, spec, data, None)
    row: dict[str, float] = {}
    for label, _ in (*ENGINE_STAGES, *INPUT_STAGES):
        row[label] = statistics.median(spent.get(label, 0.0) for _, spent in local)
    row["engine, other"] = statistics.median(
        spent.get("engine", 0.0) - sum(spent.get(label, 0.0) for label, _ in ENGINE_STAGES)
        for _, spent in local)
    row["rest of the input"] = statistics.median(
        seconds - sum(spent.get(label, 0.0) for label in ("engine", *(lb for lb, _ in INPUT_STAGES)))
        for seconds, spent in local)
    row["reveal input, work in process"] = statistics.median(seconds for seconds, _ in local)
    row[FIXED] = statistics.median(
        seconds - spent.get("fit (scikit-learn)", 0.0) - spent.get("predict + metric", 0.0)
        for seconds, spent in local)
    row["reveal input, forked worker"] = statistics.median(seconds for seconds, _ in isolated)
    row["sandbox (fork, page faults, exit)"] = (row["reveal input, forked worker"]
                                                - row["reveal input, work in process"])
    row["plain scikit-learn"] = _plain(spec, data)
    return {label: value * 1e3 for label, value in row.items()}


FIXED = "fixed work: input - fit - predict"
ORDER = (*(label for label, _ in ENGINE_STAGES), "engine, other", *(label for label, _ in INPUT_STAGES),
         "rest of the input", "reveal input, work in process", FIXED, "sandbox (fork, page faults, exit)",
         "reveal input, forked worker", "plain scikit-learn")


def empty_sandbox() -> float:
    """Median CPU ms of the engine's sandbox running empty work in this process: fork, the worker's
    start and exit, with no page written by the work."""
    from dapp.ml.limits import DEFAULT_LIMITS
    from dapp.ml.sandbox import Outcome, Sandbox

    run = Sandbox(DEFAULT_LIMITS.max_cpu_seconds, DEFAULT_LIMITS.max_worker_memory)
    spent = []
    for _ in range(REPEATS + 1):
        start = _cpu()
        run(Outcome, "empty work")
        spent.append(_cpu() - start)
    return statistics.median(spent[1:]) * 1e3


def measure() -> dict:
    """The profile of every case (case name -> stage -> median ms), then the empty sandbox's ms."""
    cases = {name: profile_case(spec, data) for name, spec, data in _cases()}
    return {"cases": cases, "empty sandbox": empty_sandbox()}


def print_profile(found: dict) -> None:
    cases = found["cases"]
    names = list(cases)
    rows = [("stage (median CPU ms per reveal input)", *names)]
    for label in ORDER:
        rows.append((label, *(f"{cases[name][label]:.2f}" for name in names)))
    ratios = (cases[n]["reveal input, forked worker"] / cases[n]["plain scikit-learn"] for n in names)
    rows.append(("reveal / plain", *(f"{ratio:.2f}" for ratio in ratios)))
    print_table(rows)
    print(f"the sandbox running empty work in the same process: {found['empty sandbox']:.2f} CPU ms")


def cprofile(name: str) -> None:
    """cProfile's top functions of the reveal inputs of case ``name``, work in process."""
    cases = {case_name: (spec, data) for case_name, spec, data in _cases()}
    profile = cProfile.Profile()
    _reveals(False, *cases[name], None, profile)
    pstats.Stats(profile).sort_stats("tottime").print_stats(30)


def main() -> None:
    """Prints the stage table (measured in a fresh one-thread process) and records the sandbox's share."""
    found = _fresh.run("bench.profile_submission", measure_and_print)
    cases = found["cases"]
    record("fixed work of a reveal input in process (input - fit - predict), CPU",
           ", ".join(f"{name} {row[FIXED]:.2f}" for name, row in cases.items()) + " ms")
    record("the sandbox's share of a reveal input (forked - in process), CPU",
           f"{min(row['sandbox (fork, page faults, exit)'] for row in cases.values()):.1f}–"
           f"{max(row['sandbox (fork, page faults, exit)'] for row in cases.values()):.1f} ms "
           f"(empty work {found['empty sandbox']:.1f} ms)")
    record("reveal input / plain sklearn, CPU",
           ", ".join(f"{name} {row['reveal input, forked worker'] / row['plain scikit-learn']:.2f}x"
                     for name, row in cases.items()))


def measure_and_print() -> dict:
    warnings.simplefilter("ignore")
    found = measure()
    print_profile(found)
    return found


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--cprofile":
        _fresh.one_thread_here()
        warnings.simplefilter("ignore")
        cprofile(sys.argv[2])
    else:
        main()
