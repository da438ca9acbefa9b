"""What the sandbox costs, and what predicting in blocks saves.

1. The per-call overhead of running the work in a forked worker (``Engine()``) rather than in this
   process (``Engine(isolate=False)``): median wall ms of an empty piece of work through the sandbox,
   and of ``Engine.score`` for two small submissions (train + score), each way; and the mean CPU ms
   (this process and its workers, from ``getrusage``), which a loaded host does not inflate.
2. The peak RSS of the worker scoring a trained 3x256 MLP on a 100,000-row validation set, predicting
   in blocks of ``BLOCK_ROWS`` rows and on the whole array at once (as before blocks), each in a fresh
   process, with the worker's memory limit raised so that the whole-array run can finish. A worker's
   RSS includes what it shares with the process that forked it, so that process's RSS is given too.
3. The parent's pages a worker copies on write (the memory budget of docs/IMAGE.md counts them): a
   parent holding 200 MiB of stored files and a scored job forks a worker that walks every file and
   runs the garbage collector (reference counts and GC headers are what get written); the worker's
   ``Private_Dirty`` before and after, beside the parent's.

Run: ``.venv/bin/python -m bench.sandbox_overhead``.
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench._summary import record
from bench._table import print_table

REPEATS = 25

RSS_SCRIPT = """
import resource, sys
from dapp.ml import metrics
from dapp.ml.engine import Engine
from dapp.ml.limits import MLLimits
from tests.unit.test_ml_engine import _wide_mlp_and_long_validation
model, valid = _wide_mlp_and_long_validation(100_000)
if sys.argv[1] == "whole":
    metrics.BLOCK_ROWS = 10**9
parent = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
out = Engine(MLLimits(max_train_memory=1 << 40, max_worker_memory=4 << 30)).score(
    task="classification", metric="roc_auc", label="target", validation=valid, model=model)
print(parent, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024, out.score)
"""


def _cpu_seconds() -> float:
    return sum(r.ru_utime + r.ru_stime for r in map(resource.getrusage, (resource.RUSAGE_SELF,
                                                                        resource.RUSAGE_CHILDREN)))


def _timed(call, repeats: int = REPEATS) -> tuple[float, float]:
    """(median wall ms, mean CPU ms) of ``call()``."""
    call()  # the first call imports what the others reuse
    times, cpu = [], _cpu_seconds()
    for _ in range(repeats):
        began = time.perf_counter()
        call()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times), (_cpu_seconds() - cpu) * 1000 / repeats


def overhead() -> list[tuple[str, tuple[float, float], tuple[float, float]]]:
    """(case, (wall, CPU) ms isolated, (wall, CPU) ms in process) per case."""
    from sklearn.datasets import load_breast_cancer, load_wine

    from dapp.ml.engine import Engine
    from dapp.ml.sandbox import InProcess, Outcome, Sandbox
    from tests.fixtures.ml.helpers import csv_split, spec

    rows = [("empty work", _timed(lambda: Sandbox(20, 384 << 20)(Outcome, "w")),
             _timed(lambda: InProcess()(Outcome, "w")))]
    cases = [("GaussianNB, wine", load_wine, spec("GaussianNB")),
             ("RandomForest 10 trees, breast cancer", load_breast_cancer,
              spec("RandomForestClassifier", max_depth=8, n_estimators=10))]
    for name, loader, model in cases:
        train, valid = csv_split(loader)
        times = []
        for engine in (Engine(), Engine(isolate=False)):
            times.append(_timed(lambda engine=engine, valid=valid, model=model, train=train: engine.score(
                task="classification", metric="accuracy", label="target", validation=valid, model=model,
                train=train, seed=1)))
        rows.append((name, *times))
    return rows


def peak_rss(mode: str) -> tuple[int, int, int]:
    """(parent's peak RSS MiB, worker's peak RSS MiB, score) of the MLP-on-100k case in a fresh process."""
    child = subprocess.run([sys.executable, "-c", RSS_SCRIPT, mode], check=True, cwd=REPO, capture_output=True,
                           text=True, timeout=600)
    parent, worker, score = map(int, child.stdout.split())
    return parent, worker, score


def _private_dirty_mib() -> int:
    with open("/proc/self/smaps_rollup") as rollup:
        return next(int(line.split()[1]) // 1024 for line in rollup if line.startswith("Private_Dirty"))


def copied_pages() -> tuple[int, int, int]:
    """(parent private MiB, worker private MiB at its start, after touching everything)."""
    import gc
    import os

    from sklearn.datasets import load_breast_cancer

    from dapp.ml.engine import Engine
    from dapp.ml.sandbox import Outcome, Sandbox
    from tests.fixtures.ml.helpers import csv_split, spec

    store = {i: os.urandom(1 << 20) for i in range(200)}
    train, valid = csv_split(load_breast_cancer)
    Engine().score(task="classification", metric="accuracy", label="target", validation=valid,
                   model=spec("LogisticRegression", max_iter=100), train=train)

    def touch() -> Outcome:
        start = _private_dirty_mib()
        sum(len(value) for value in store.values())
        gc.collect()
        return Outcome(score=_private_dirty_mib(), samples=start)

    out = Sandbox(20, 352 << 20)(touch, "copy-on-write probe")
    return _private_dirty_mib(), out.samples, out.score


def main() -> None:
    rows = overhead()
    print_table([("case", "wall ms isolated", "in process", "CPU ms isolated", "in process", "CPU overhead"),
                 *((name, f"{a[0]:.1f}", f"{b[0]:.1f}", f"{a[1]:.1f}", f"{b[1]:.1f}", f"{a[1] - b[1]:.1f}")
                   for name, a, b in rows)])
    record("sandbox overhead per call, empty work (median wall / mean CPU)",
           f"{rows[0][1][0] - rows[0][2][0]:.1f} / {rows[0][1][1] - rows[0][2][1]:.1f} ms")
    print()
    measured = {mode: peak_rss(mode) for mode in ("blocks", "whole")}
    assert measured["blocks"][2] == measured["whole"][2], "block prediction changed the score"
    print_table([("MLP 3x256 scored on 100,000 rows", "parent RSS MiB", "worker peak RSS MiB"),
                 *((mode, str(p), str(w)) for mode, (p, w, _) in measured.items())])
    record("worker peak RSS, 3x256 MLP on 100k rows (blocks / whole array)",
           f"{measured['blocks'][1]} / {measured['whole'][1]} MiB")
    print()
    parent, start, after = copied_pages()
    print_table([("pages a worker copies on write", "parent private MiB", "worker at start",
                  "after a walk + GC"),
                 ("200 MiB of stored files", str(parent), str(start), str(after))])
    record("worker copy-on-write over a 200 MiB store (after a walk + GC)", f"{after} MiB")


if __name__ == "__main__":
    main()
