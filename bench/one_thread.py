"""What one thread (``dapp/__main__.py``'s BLAS/OpenMP setting) does to a small score's time.

Fresh processes score a small LogisticRegression (``Engine.score``: train and evaluate in a forked
worker, breast-cancer data), ``REPEATS`` scores each, ``ROUNDS`` processes per setting, the two
settings alternating so that both see the same background load: after importing ``dapp.__main__``
(one thread, as ``python -m dapp`` runs), and without it (the libraries' own pools, one thread per
core, which the engine's ``train.single_thread`` shrinks to one around each fit and grows back after).
Both run on an idle host and then under load: one busy-loop process per core. It prints, per case,
a process's thread count after its imports and after its scores, the median, p95 and maximum wall
ms of a score, and its mean CPU ms (the process and its workers together).

Run: ``.venv/bin/python -m bench.one_thread``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench._summary import record
from bench._table import print_table

REPEATS, ROUNDS = 50, 4  # per round and setting; the settings alternate, so both see the same load
NAMES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS", "GOTO_NUM_THREADS")

CHILD = r"""
import json, os, resource, sys, time
if sys.argv[1] == "one thread":
    import dapp.__main__  # noqa: F401 (sets the variables before numpy loads)
from sklearn.datasets import load_breast_cancer
from dapp.ml.engine import Engine
from tests.fixtures.ml.helpers import csv_split, spec

train, valid = csv_split(load_breast_cancer)
model, engine = spec("LogisticRegression", max_iter=100), Engine()
started = len(os.listdir("/proc/self/task"))  # after the imports: the pools numpy and scipy started
def score():
    return engine.score(task="classification", metric="accuracy", label="target", validation=valid,
                        model=model, train=train, seed=1)
score()  # imports and caches paid once
def cpu():
    usage = map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return sum(r.ru_utime + r.ru_stime for r in usage)
times, cpu_before = [], cpu()
for _ in range(int(sys.argv[2])):
    began = time.perf_counter()
    score()
    times.append((time.perf_counter() - began) * 1000)
print(json.dumps({"threads": [started, len(os.listdir("/proc/self/task"))], "ms": times,
                  "cpu_ms": (cpu() - cpu_before) * 1000}))
"""


def scores(setting: str) -> dict:
    """The thread counts, score times and CPU ms of a fresh process with ``setting``."""
    env = {k: v for k, v in os.environ.items() if k not in NAMES}
    done = subprocess.run([sys.executable, "-c", CHILD, setting, str(REPEATS)], env=env, cwd=REPO, check=True,
                          capture_output=True, text=True, timeout=900)
    return json.loads(done.stdout.splitlines()[-1])


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def main() -> None:
    cores = os.cpu_count() or 1
    rows, figures = [], {}
    for load in ("idle", f"{cores} busy loops"):
        busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(cores)] \
            if load != "idle" else []
        runs: dict[str, list[dict]] = {"one thread": [], "library pools": []}
        try:
            for _ in range(ROUNDS):
                for setting, got in runs.items():
                    got.append(scores(setting))
        finally:
            for process in busy:
                process.kill()
                process.wait()
        for setting, got in runs.items():
            ms = [t for run in got for t in run["ms"]]
            figures[load, setting] = (statistics.median(ms), p95(ms))
            threads = "{} / {}".format(*got[0]["threads"])
            cpu = sum(run["cpu_ms"] for run in got) / len(ms)
            rows.append((f"{load}, {setting}", threads, f"{statistics.median(ms):.2f}", f"{p95(ms):.2f}",
                         f"{max(ms):.2f}", f"{cpu:.2f}"))
    print(f"LogisticRegression(max_iter=100) scored on breast cancer: {ROUNDS} x {REPEATS} times per case, "
          f"{cores} cores")
    print_table([("case", "threads after imports / after", "median ms", "p95 ms", "max ms", "CPU ms"), *rows])
    loaded = f"{cores} busy loops"
    record("small LogisticRegression score under load, one thread (median / p95)",
           "{:.1f} / {:.1f} ms".format(*figures[loaded, "one thread"]))
    record("the same with the libraries' thread pools (median / p95)",
           "{:.1f} / {:.1f} ms".format(*figures[loaded, "library pools"]))


if __name__ == "__main__":
    main()
