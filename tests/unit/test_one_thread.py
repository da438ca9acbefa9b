"""One thread for the backend process (dapp/__main__.py), counted: a child process imports what
``python -m dapp`` imports, multiplies large matrices and fits scikit-learn models that use BLAS and
OpenMP, then reports how many threads ``/proc/self/task`` lists. A control child does the same work
without ``dapp.__main__``'s setting, to show the count is not 1 by accident."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NAMES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")

CHILD = r"""
import json, os, sys

if sys.argv[1] == "dapp":
    import dapp.__main__  # noqa: F401 (its top: the startup path of `python -m dapp` before main() runs)
# what dapp.__main__.main imports
from dapp.app import App
from dapp.config import Config
from dapp.ml.engine import Engine
from dapp.rollup.cmio import CmioRollup
from dapp.rollup.http import HttpRollup
from dapp.rollup.loop import run

import numpy as np
import scipy.linalg
from sklearn.cluster import KMeans
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

rng = np.random.RandomState(0)
a = rng.rand(800, 800)
a @ a  # BLAS dgemm
scipy.linalg.inv(a)  # scipy's own BLAS/LAPACK
X = rng.rand(4000, 10)
y = (X[:, 0] + X[:, 1] > 1).astype(int)
LogisticRegression().fit(X, y)
HistGradientBoostingClassifier(max_iter=5).fit(X, y)  # OpenMP (prange)
KMeans(4, n_init=1, random_state=0).fit(X)  # OpenMP and BLAS
print(json.dumps({"threads": sorted(os.listdir("/proc/self/task")),
                  "env": {name: os.environ.get(name) for name in sys.argv[2:]}}))
"""


def run_child(mode: str, env: dict[str, str]) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, mode, *NAMES], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def clean_env() -> dict[str, str]:
    """This process's environment without any thread setting (CI may set some)."""
    return {k: v for k, v in os.environ.items() if k not in NAMES and k not in ("GOTO_NUM_THREADS",)}


def test_the_backend_process_has_one_thread_even_when_the_operator_asks_for_more():
    got = run_child("dapp", {**clean_env(), "OPENBLAS_NUM_THREADS": "4", "OMP_NUM_THREADS": "4"})
    assert len(got["threads"]) == 1, got
    assert got["env"] == dict.fromkeys(NAMES, "1")


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2,
                    reason="one usable core: OpenBLAS and OpenMP start no worker thread there, so the "
                           "control cannot differ from the one-thread run")
def test_without_the_setting_the_same_work_runs_more_threads():
    got = run_child("plain", clean_env())
    assert len(got["threads"]) > 1, got


def test_the_dockerfile_and_the_devnode_set_the_same_variables():
    show = "import json, dapp.__main__ as m; print(json.dumps(m.ONE_THREAD))"
    done = subprocess.run([sys.executable, "-c", show], cwd=REPO, capture_output=True, text=True, check=True)
    one_thread = json.loads(done.stdout)
    assert sorted(one_thread) == sorted(NAMES) and set(one_thread.values()) == {"1"}
    env_lines = [line for line in (REPO / "Dockerfile").read_text().splitlines() if line.startswith("ENV ")]
    docker = dict(pair.split("=", 1) for line in env_lines for pair in line.split()[1:]
                  if re.fullmatch(r"[A-Z_]+_THREADS=\S+", pair))
    assert docker == one_thread
    from devnode.node import BACKEND_THREADS

    assert BACKEND_THREADS == one_thread
