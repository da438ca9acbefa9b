"""A scripted session of inputs run through ``dapp.app.App`` (real loop, real ML engine), for
``make riscv-check``: the same deterministic inputs on x86-64 and on riscv64 must give the same bytes.

    python -m tests.riscv.session --out session.hex [--floats floats.json] [--rss]

``--out`` gets one line per request status and per output, in order::

    <step> <label> advance accept|reject
    <step> notice <hex payload>
    <step> voucher <destination> <value> <hex payload>
    <step> report <hex payload>

``--floats`` gets, for every trained model the session stored, its arrays and its unquantised
validation metric as exact float hex, so a difference in the last bits can be measured even when the
published scores (integer millionths) agree. ``--rss`` prints the peak resident set size.

Inputs: deposits (ERC-20 via job creation, Ether), uploads of CSVs and model specs in chunks,
submissions as a commit then its reveal (``Market.submit``, with salts fixed by the session), a
threshold job on breast cancer with six estimators trained on contributors' data, a best-model
regression job on diabetes, federated rounds on a small generated CSV, a manual-review job (one
submission accepted, one refused, a review by someone else rejected), a random forest whose score
differs between x86-64 and riscv64 (docs/DETERMINISM.md), settlements, withdrawals,
rejected inputs, and inspect queries: every job policy, with real training.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from dapp.ml.engine import Engine
from dapp.rollup.fake import Finished
from tests.support.market import CAROL, DAVE, NOW, SPONSOR, Market
from tests.support.rollup import TOKEN, v2_metadata

ERIN = type(CAROL)(b"\xe0" * 20)


def to_csv(X: np.ndarray, y: np.ndarray, integer_labels: bool = True) -> bytes:
    """CSV with a header; floats as ``repr`` so they parse back to the same doubles on any machine."""
    lines = [",".join([*(f"f{i}" for i in range(X.shape[1])), "target"])]
    for row, label in zip(X.tolist(), y.tolist()):
        target = str(int(label)) if integer_labels else repr(float(label))
        lines.append(",".join(map(repr, row)) + "," + target)
    return ("\n".join(lines) + "\n").encode()


def spec(estimator: str, *, scaled: bool = False, **params: Any) -> bytes:
    """An untrained model spec as JSON bytes."""
    return json.dumps({"estimator": estimator, "params": params,
                       "preprocessing": ["standard_scaler"] if scaled else []}).encode()


def permuted(loader: Any, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A bundled scikit-learn dataset (no download) in a fixed order."""
    X, y = loader(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(y))
    return X[order], y[order]


def small_csv_data() -> tuple[np.ndarray, np.ndarray]:
    """A small generated classification set: 3 features with 3 decimals, label ``x0 + 2 x1 > x2``."""
    X = np.round(np.random.default_rng(7).uniform(-1.0, 1.0, size=(160, 3)), 3)
    return X, (X[:, 0] + 2 * X[:, 1] > X[:, 2]).astype(int)


@dataclass(frozen=True)
class Request:
    """One request of the session as the node hands it over: an advance (the rollup HTTP API's
    metadata and the payload) or an inspect query; ``seconds``: how long the backend took natively."""

    step: int
    label: str
    kind: str  # "advance" or "inspect"
    payload: bytes
    metadata: dict[str, Any] | None
    seconds: float


def noisy_csv_data() -> tuple[np.ndarray, np.ndarray]:
    """300 rows of 8 features with 3 decimals, label ``x0 + 2 x1 - x2 + noise > 0``."""
    rng = np.random.default_rng(4)
    X = np.round(rng.uniform(-1.0, 1.0, size=(300, 8)), 3)
    return X, (X[:, 0] + 2 * X[:, 1] - X[:, 2] + rng.normal(0.0, 0.5, size=300) > 0).astype(int)


class Session(Market):
    """``Market`` that records every request and what the backend answered, in order."""

    def __init__(self) -> None:
        super().__init__(engine=Engine())
        self.lines: list[str] = []
        self.requests: list[Request] = []
        self.label = "setup"
        self.step = 0

    def send(self, sender: Any, payload: bytes, *, timestamp: int | None = None) -> Finished:
        metadata = v2_metadata(sender, self.index, self.timestamp if timestamp is None else timestamp)
        started = time.perf_counter()
        done = super().send(sender, payload, timestamp=timestamp)
        took = time.perf_counter() - started
        self.requests.append(Request(self.step, self.label, "advance", payload, metadata, took))
        self._record("advance", done)
        return done

    def inspect(self, query: str) -> dict[str, Any]:
        started = time.perf_counter()
        answer = super().inspect(query)
        took = time.perf_counter() - started
        self.requests.append(Request(self.step, self.label, "inspect", query.encode(), None, took))
        self.lines.append(f"{self.step:04d} {self.label} inspect {query}")
        self.lines.append(f"{self.step:04d} report {json.dumps(answer, sort_keys=True, separators=(',', ':'))}")
        self.step += 1
        return answer

    def _record(self, kind: str, done: Finished) -> None:
        status = "accept" if done.accepted else "reject"
        self.lines.append(f"{self.step:04d} {self.label} {kind} {status}")
        notices, vouchers = iter(done.notices), iter(done.vouchers)
        for kind in done.order:  # outputs in the order the backend emitted them (the Merkle tree's)
            if kind == "notice":
                self.lines.append(f"{self.step:04d} notice 0x{next(notices).hex()}")
            else:
                destination, value, payload = next(vouchers)
                self.lines.append(f"{self.step:04d} voucher {destination.hex} {value} 0x{payload.hex()}")
        for payload in done.reports:
            self.lines.append(f"{self.step:04d} report 0x{payload.hex()}")
        self.step += 1


def run_session() -> tuple[Session, list[dict[str, Any]]]:
    """Runs every input; returns the session and the trainings it asked for (for ``--floats``)."""
    from sklearn.datasets import load_breast_cancer, load_diabetes

    s = Session()
    cases: list[dict[str, Any]] = []

    def case(task: str, metric: str, X_val: np.ndarray, y_val: np.ndarray, model: bytes, train: bytes) -> None:
        cases.append({"task": task, "metric": metric, "X": X_val, "y": y_val, "model": model, "train": train})

    # --- job 1: threshold, breast cancer, six estimators trained on the contributors' data ----------
    s.label = "cancer"
    X, y = permuted(load_breast_cancer, 0)
    validation = s.put(SPONSOR, to_csv(X[400:], y[400:]))
    job = s.create_job(1000, reward_per_accept=100, min_score=900_000, validation_cid=validation,
                       deadline=NOW + 1000, title="breast cancer")
    csv_carol, csv_dave = to_csv(X[:300], y[:300]), to_csv(X[300:400], y[300:400])
    data_carol, data_dave = s.put(CAROL, csv_carol), s.put(DAVE, csv_dave)
    entries = [
        # scaled: lbfgs converges, so the score does not hang on the BLAS's rounding (docs/IMAGE.md)
        (CAROL, spec("LogisticRegression", scaled=True, C=0.5, max_iter=500), data_carol, csv_carol),
        (DAVE, spec("RandomForestClassifier", n_estimators=20, max_depth=6), data_dave, csv_dave),
        (CAROL, spec("GaussianNB"), data_carol, csv_carol),
        (DAVE, spec("DecisionTreeClassifier", max_depth=4), data_carol, csv_carol),
        (CAROL, spec("SGDClassifier", scaled=True, loss="log_loss", max_iter=200), data_carol, csv_carol),
        (DAVE, spec("MLPClassifier", scaled=True, hidden_layer_sizes=[16], max_iter=200), data_dave, csv_dave),
    ]
    for who, model, data, csv in entries:
        s.submit(who, job, s.put(who, model), data)
        case("classification", "accuracy", X[400:], y[400:], model, csv)
    s.call(SPONSOR, "settleJob", job, timestamp=NOW + 1000)
    s.inspect(f"jobs/{job}")

    # --- job 2: best model, regression on diabetes -----------------------------------------------
    s.label = "diabetes"
    X, y = permuted(load_diabetes, 1)
    validation = s.put(SPONSOR, to_csv(X[300:], y[300:], integer_labels=False))
    job = s.create_job(500, policy="best", task="regression", metric="r2", reward_per_accept=0,
                       min_score=100_000, validation_cid=validation, deadline=NOW + 3000, title="diabetes")
    csv = to_csv(X[:300], y[:300], integer_labels=False)
    data = s.put(ERIN, csv)
    for who, model in [(ERIN, spec("Ridge", alpha=0.5)), (CAROL, spec("SGDRegressor", scaled=True)),
                       (DAVE, spec("RandomForestRegressor", n_estimators=10, max_depth=5))]:
        s.submit(who, job, s.put(who, model), data)
        case("regression", "r2", X[300:], y[300:], model, csv)
    s.call(DAVE, "settleJob", job, timestamp=NOW + 3000)
    s.inspect(f"jobs/{job}")

    # --- job 3: federated rounds on a small generated CSV (FedAvg of weight updates) ---------------
    s.label = "rounds"
    X, y = small_csv_data()
    validation = s.put(SPONSOR, to_csv(X[120:], y[120:]))
    base = s.put(SPONSOR, spec("SGDClassifier", loss="log_loss", max_iter=50, tol=None))
    job = s.create_job(600, policy="rounds", rounds=2, round_quota=2, round_duration=500, reward_per_accept=100,
                       tolerance=200_000, min_score=500_000, validation_cid=validation, base_model_cid=base,
                       deadline=NOW + 6000, title="rounds")
    base_spec = spec("SGDClassifier", loss="log_loss", max_iter=50, tol=None)
    for who, (a, b) in ((CAROL, (0, 60)), (DAVE, (60, 120))):
        csv = to_csv(X[a:b], y[a:b])
        s.submit(who, job, b"", s.put(who, csv))
        case("classification", "accuracy", X[120:], y[120:], base_spec, csv)
    s.call(SPONSOR, "settleJob", job, timestamp=NOW + 6000)
    s.inspect(f"jobs/{job}")

    # --- job 4: manual review (the sponsor accepts one trained submission, refuses another) --------
    s.label = "manual"
    validation = s.put(SPONSOR, to_csv(X[120:], y[120:]))
    job = s.create_job(300, policy="manual", reward_per_accept=100, min_score=0, validation_cid=validation,
                       deadline=NOW + 8000, title="manual")
    for who, model, (a, b) in ((CAROL, spec("GaussianNB"), (0, 80)),
                               (DAVE, spec("DecisionTreeClassifier", max_depth=3), (40, 120))):
        csv = to_csv(X[a:b], y[a:b])
        s.submit(who, job, s.put(who, model), s.put(who, csv))
        case("classification", "accuracy", X[120:], y[120:], model, csv)
    submissions = s.inspect(f"jobs/{job}")
    s.call(SPONSOR, "reviewSubmission", job, 1, True, timestamp=NOW + 7000)
    s.call(SPONSOR, "reviewSubmission", job, 2, False)
    s.call(CAROL, "reviewSubmission", job, 2, True)  # not the sponsor: rejected with a report
    s.call(SPONSOR, "settleJob", job, timestamp=NOW + 8000)
    s.inspect(f"jobs/{job}")
    assert submissions["job"]["policy"] == "manual"

    # --- job 5: a forest whose published score differs between x86-64 and riscv64 -----------------
    # (docs/DETERMINISM.md: an exact tie between two splits that riscv64's fused multiply-add breaks;
    # found by searching data sets with this job's seeds: the case depends on the job and submission ids)
    s.label = "forest"
    X, y = noisy_csv_data()
    job = s.create_job(200, reward_per_accept=50, min_score=0, validation_cid=s.put(SPONSOR, to_csv(X[200:], y[200:])),
                       deadline=NOW + 9000, title="forest")
    csv = to_csv(X[:200], y[:200])
    data = s.put(ERIN, csv)
    for who, model in ((CAROL, spec("GaussianNB")), (ERIN, spec("RandomForestClassifier", n_estimators=10, max_depth=8))):
        s.submit(who, job, s.put(who, model), data)
        case("classification", "accuracy", X[200:], y[200:], model, csv)
    s.inspect(f"jobs/{job}")

    # --- balances: withdrawals (vouchers), Ether, a rejected input --------------------------------
    s.label = "ledger"
    for who in (CAROL, DAVE, ERIN, SPONSOR):
        balance = int(s.inspect(f"balances/{who.hex}")["balances"].get(TOKEN.hex, "0"))
        if balance:
            s.call(who, "withdraw", TOKEN.raw, balance)
    s.deposit_ether(ERIN, 10**18)
    s.call(ERIN, "withdraw", b"\x00" * 20, 4 * 10**17)
    s.call(DAVE, "withdraw", TOKEN.raw, 10**30)  # more than DAVE has: rejected with a report
    s.inspect("jobs")
    return s, cases


def floats(cases: list[dict[str, Any]]) -> dict[str, Any]:
    """Each training the session asked for, redone by the engine with seed 0: the trained arrays and
    the unquantised validation metric as exact float hex, plus the published integer score."""
    from dapp.ml.export import to_estimator
    from dapp.ml.metrics import evaluate
    from dapp.ml.modelfile import read_model

    engine = Engine()
    out: dict[str, Any] = {}
    for i, c in enumerate(cases):
        validation = to_csv(c["X"], c["y"], integer_labels=c["task"] == "classification")
        scored = engine.score(task=c["task"], metric=c["metric"], label="target", validation=validation,
                              model=c["model"], train=c["train"], seed=0)
        model = read_model(scored.model_bytes)
        arrays = {name: [float(v).hex() for v in np.asarray(a, dtype=float).ravel()]
                  for name, a in sorted(model.arrays.items()) if a.dtype.kind == "f"}
        metric = evaluate(c["metric"], to_estimator(scored.model_bytes), c["X"], c["y"])
        out[f"{i:02d}-{model.spec.estimator}"] = {"score_millionths": scored.score, "metric": float(metric).hex(),
                                                  "arrays": arrays}
    return out


def main(argv: list[str] | None = None) -> None:
    """Runs the session and writes its outputs (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--floats")
    parser.add_argument("--rss", action="store_true")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    s, cases = run_session()
    took = time.perf_counter() - started
    with open(args.out, "w", encoding="ascii") as f:
        f.write("\n".join(s.lines) + "\n")
    if args.floats:
        with open(args.floats, "w", encoding="ascii") as f:
            json.dump(floats(cases), f, indent=1, sort_keys=True)
    summary = f"session: {s.step} requests, {len(s.lines)} lines, {took:.1f}s"
    if args.rss:
        summary += f", peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
    print(summary, file=sys.stderr)


if __name__ == "__main__":
    main()
