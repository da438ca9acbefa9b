"""Market figures with the real ML engine through the real dispatch path (App + loop + fake rollup):

- a best-model job with a hidden 1,000-row test set and 100 submissions of trained models: time of
  the submissions (each a commit and its reveal: stored, checked) and of the test-set reveal input
  that scores all 100 and settles the job;
- a federated round of 20 weights-only updates (each a commit and its reveal, validated at the
  reveal): time per update and of the update that closes the round (FedAvg, publication, scoring,
  20 payments).

Run: ``.venv/bin/python -m bench.market_scale``.
"""

from __future__ import annotations

import io
import json
import os
import statistics
import time

import numpy as np
from sklearn.datasets import make_classification

from bench._summary import record
from bench._table import print_table
from dapp.codec.cid import cid_of
from dapp.domain.values import Address
from dapp.ml.engine import Engine
from tests.support.market import NOW, SPONSOR, Market

SUBMISSIONS = 100
UPDATES = 20
SPEC = {"estimator": "LogisticRegression", "params": {"max_iter": 200}}


def csv(X: np.ndarray, y: np.ndarray) -> bytes:
    out = io.StringIO()
    out.write(",".join(f"f{i}" for i in range(X.shape[1])) + ",target\n")
    np.savetxt(out, np.column_stack([X, y]), delimiter=",", fmt=["%.6f"] * X.shape[1] + ["%d"])
    return out.getvalue().encode()


def data():
    X, y = make_classification(n_samples=4300, n_features=20, n_informative=8, random_state=3)
    return X, y


def trained_models(engine: Engine, X, y, validation: bytes, count: int, base: bytes) -> list[bytes]:
    """``count`` models trained off-chain on different 30-row slices (what contributors would send)."""
    models = []
    for i in range(count):
        part = csv(X[i * 30:(i + 1) * 30], y[i * 30:(i + 1) * 30])
        models.append(engine.score(task="classification", metric="accuracy", label="target",
                                   validation=validation, model=base, train=part, seed=i).model_bytes)
    return models


def contributor(i: int) -> Address:
    return Address((1000 + i).to_bytes(20, "big"))


def best_job(X, y) -> list[tuple[str, str]]:
    engine = Engine()
    m = Market(engine=engine)
    test_csv, validation_csv = csv(X[3000:4000], y[3000:4000]), csv(X[4000:], y[4000:])
    base = json.dumps(SPEC).encode()
    models = trained_models(engine, X, y, validation_csv, SUBMISSIONS, base)
    salt = os.urandom(32)
    test_cid = cid_of(test_csv)
    job = m.create_job(10**6, policy="best", reward_per_accept=0, reveal_window=1000,
                       validation_cid=m.put(SPONSOR, validation_csv),  # required: a fallback split's bar
                       test_commitment=m.commitment(test_cid, salt), min_score=0)
    cids = [m.put(contributor(i), model) for i, model in enumerate(models)]
    began = time.perf_counter()
    for i, cid in enumerate(cids):
        assert m.submit(contributor(i), job, cid).accepted
    submit_time = time.perf_counter() - began
    m.put(SPONSOR, test_csv)
    m.timestamp = NOW + 1000
    began = time.perf_counter()
    done = m.call(SPONSOR, "revealTestSet", job, test_cid, salt)
    reveal_time = time.perf_counter() - began
    assert done.accepted and m.job(job)["job"]["outcome"] == "paid", (done.reports, m.job(job)["job"])
    assert len(m.inspect(f"jobs/{job}/leaderboard")["leaderboard"]) == SUBMISSIONS
    record(f"best-model job: {SUBMISSIONS} submissions; reveal (scores all) + settle",
           f"{submit_time:.2f} s; {reveal_time:.2f} s")
    return [
        ("best job: 100 submissions (commit + reveal: stored + checked), total", f"{submit_time:.2f} s"),
        ("best job: per submission", f"{submit_time / SUBMISSIONS * 1000:.1f} ms"),
        ("best job: reveal = score 100 on 1,000 test rows + settle", f"{reveal_time:.2f} s"),
    ]


def federated_round(X, y) -> list[tuple[str, str]]:
    engine = Engine()
    m = Market(engine=engine)
    validation_csv = csv(X[4000:], y[4000:])
    validation = m.put(SPONSOR, validation_csv)
    warm = engine.score(task="classification", metric="accuracy", label="target", validation=validation_csv,
                        model=json.dumps(SPEC).encode(), train=csv(X[3000:3600], y[3000:3600]), seed=1)
    base = m.put(SPONSOR, warm.model_bytes)
    job = m.create_job(10**6, policy="rounds", rounds=2, round_quota=UPDATES, round_duration=10_000,
                       reward_per_accept=100, tolerance=1_000_000, validation_cid=validation,
                       base_model_cid=base, deadline=NOW + 50_000)
    models = trained_models(engine, X, y, validation_csv, UPDATES, warm.model_bytes)
    cids = [m.put(contributor(i), model) for i, model in enumerate(models)]
    times = []
    for i, cid in enumerate(cids):
        began = time.perf_counter()
        done = m.submit(contributor(i), job, cid)
        times.append(time.perf_counter() - began)
        assert done.accepted, done.reports
    assert m.job(job)["job"]["round"] == 1
    record(f"federated round of {UPDATES} updates: the closing one (FedAvg, payments); all",
           f"{times[-1] * 1000:.1f} ms; {sum(times):.2f} s")
    return [
        ("round: median time per update (commit + reveal, validated)", f"{statistics.median(times[:-1]) * 1000:.1f} ms"),
        ("round: closing update (FedAvg of 20 + publish + score + 20 payments)", f"{times[-1] * 1000:.1f} ms"),
        ("round: all 20 updates", f"{sum(times):.2f} s"),
    ]


def main() -> None:
    """Prints the table."""
    X, y = data()
    rows = best_job(X, y) + federated_round(X, y)
    print_table([("figure", "value"), *rows])


if __name__ == "__main__":
    main()
