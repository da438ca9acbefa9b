"""Private federated updates: the privacy/accuracy trade-off (docs/MODELS.md "Private updates").

A federated job (policy ``rounds``) on scikit-learn's breast-cancer data, run through the real
dispatch path (``Market`` with the real engine): LogisticRegression from an untrained spec,
``CONTRIBUTORS`` contributors holding 30 private rows each, ``ROUNDS`` rounds of one update per
contributor (``round_quota``), a ``clip_norm`` of ``CLIP``. Every update is made as a contributor
would with ``mlmarket update``: ``mlmarket.client.privacy.private_update`` trains the job's current
global model on the contributor's rows, clips the update, adds the analytic Gaussian noise for
(epsilon, ``DELTA``) and projects it back within the clip; epsilon = inf is the same job with
clipped updates and no noise. The bar is left open (``min_score`` 0, ``tolerance`` 1) so every round
publishes its average and the table shows what the noise does, not what the bar refuses.

Features are standardised with the whole dataset's mean and deviation (the sponsor would publish
them); 169 rows are a test set nobody trains or validates on, 100 the job's validation set. For each
epsilon: the per-parameter noise (sigma / clip), the test accuracy of one round-1 update alone (the
mean over contributors), and of the published global model after round 1 and after the last round,
each the mean (and standard deviation) over ``SEEDS`` noise seeds.

Run: ``.venv/bin/python -m bench.dp_tradeoff``
"""

from __future__ import annotations

import io
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "frontend-console"))

from bench._summary import record  # noqa: E402
from bench._table import print_table  # noqa: E402
from dapp.codec.cid import cid_from_text  # noqa: E402
from dapp.domain.values import Address  # noqa: E402
from dapp.ml.engine import Engine  # noqa: E402
from mlmarket.client.privacy import private_update  # noqa: E402
from tests.support.market import NOW, SPONSOR, Market  # noqa: E402

EPSILONS: tuple[float | None, ...] = (None, 10.0, 3.0, 1.0, 0.3)  # None: no noise (clipped only)
DELTA = 1e-5
CONTRIBUTORS = 10
ROWS = 30  # private rows per contributor
ROUNDS = 3
SEEDS = 5
CLIP = 1_000_000  # the job's clip_norm: 1.0 in parameter units
SPEC = {"estimator": "LogisticRegression", "params": {"max_iter": 200}}
TASK = dict(task="classification", metric="accuracy", label="target")


def csv(X: np.ndarray, y: np.ndarray) -> bytes:
    """A CSV of ``X`` (columns f0..) and ``y`` (``target``)."""
    out = io.StringIO()
    out.write(",".join(f"f{i}" for i in range(X.shape[1])) + ",target\n")
    for row, label in zip(X, y):
        out.write(",".join(repr(float(v)) for v in row) + f",{int(label)}\n")
    return out.getvalue().encode()


def datasets() -> tuple[bytes, bytes, list[bytes]]:
    """(test, validation, each contributor's private rows) as CSV."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    X = (data.data - data.data.mean(0)) / data.data.std(0)
    order = np.random.default_rng(0).permutation(len(data.target))
    X, y = X[order], data.target[order]
    shards = [csv(X[269 + i * ROWS:269 + (i + 1) * ROWS], y[269 + i * ROWS:269 + (i + 1) * ROWS])
              for i in range(CONTRIBUTORS)]
    return csv(X[:169], y[:169]), csv(X[169:269], y[169:269]), shards


def content(m: Market, cid: str) -> bytes:
    """A stored file's bytes, through inspect."""
    return bytes.fromhex(m.inspect(f"contents/{cid}/data")["data"][2:])


def run_job(engine: Engine, epsilon: float | None, seed: int, test: bytes, validation: bytes,
            shards: list[bytes]) -> tuple[float, list[float]]:
    """One federated job: (mean test accuracy of the round-1 updates alone, test accuracy of the
    published global model after each round)."""
    m = Market(engine=engine)
    job = m.create_job(10_000, policy="rounds", reward_per_accept=1, rounds=ROUNDS, round_quota=CONTRIBUTORS,
                       round_duration=10_000, deadline=NOW + 100_000, min_score=0, tolerance=1_000_000,
                       clip_norm=CLIP, validation_cid=m.put(SPONSOR, validation),
                       base_model_cid=m.put(SPONSOR, json.dumps(SPEC).encode()))
    alone: list[float] = []
    after: list[float] = []
    for r in range(ROUNDS):
        view = m.job(job)["job"]
        assert view["round"] == r, view
        global_model = content(m, view["model_cid"])
        for i, shard in enumerate(shards):
            made = private_update(global_model=global_model, train=shard, validation=validation, **TASK,
                                  clip_norm=CLIP, epsilon=epsilon, delta=DELTA,
                                  seed=(seed * 1000 + r) * 1000 + i, engine=engine)
            sender = Address(bytes([0x10 + i]) * 20)
            done = m.submit(sender, job, m.put(sender, made.model))
            assert done.accepted, done.reports
            if r == 0:
                alone.append(engine.score(**TASK, validation=test, model=made.model).score / 1e6)
        published = m.job(job)["job"]["model_cid"]
        assert cid_from_text(published) != cid_from_text(view["model_cid"]), "the round published nothing"
        after.append(engine.score(**TASK, validation=test, model=content(m, published)).score / 1e6)
    return statistics.mean(alone), after


def spread(values: list[float]) -> str:
    """``0.912 ± 0.031`` (mean and standard deviation)."""
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def main() -> None:
    from mlmarket.client.privacy import noise_scale

    test, validation, shards = datasets()
    engine = Engine()
    print(f"{time.strftime('%Y-%m-%d')}: breast cancer, LogisticRegression, {CONTRIBUTORS} contributors x {ROWS} "
          f"rows, {ROUNDS} rounds, clip_norm {CLIP / 1e6:g}, delta {DELTA:g}, {SEEDS} seeds; test accuracy on "
          "169 held-out rows")
    rows = [("epsilon", "sigma / clip", "one update alone", "global, round 1", f"global, round {ROUNDS}")]
    for epsilon in EPSILONS:
        runs = [run_job(engine, epsilon, seed, test, validation, shards) for seed in range(SEEDS)]
        first = [after[0] for _, after in runs]
        last = [after[-1] for _, after in runs]
        clip = CLIP / 1e6
        sigma = 0.0 if epsilon is None else noise_scale(epsilon, DELTA, 2 * clip) / clip
        label = "inf (no noise)" if epsilon is None else f"{epsilon:g}"
        rows.append((label, f"{sigma:.3g}", spread([a for a, _ in runs]), spread(first), spread(last)))
        record(f"test accuracy after {ROUNDS} rounds, epsilon {label}", f"{statistics.mean(last):.3f}")
        print(f"  epsilon {label}: done", flush=True)
    print_table(rows)


if __name__ == "__main__":
    main()
