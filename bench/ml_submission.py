"""What a submission costs the ML engine, against plain scikit-learn on the same arrays.

For each case: the time of a full engine score (CSV bytes -> parse -> train -> evaluate -> canonical
model bytes, checked to load back) over the time of plain scikit-learn ``fit`` + metric on the
already-parsed arrays (best of several runs each), and the published score against the one
scikit-learn gives directly. Then the peak RSS of a fresh process doing the 1 MiB job.

Run: ``.venv/bin/python -m bench.ml_submission`` (or ``python bench/ml_submission.py``).
"""

from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dapp.ml.engine import Engine

MIB = 1 << 20
REPEATS = 5
SEED = 7

# ru_maxrss carries the high-water mark of the process that forked the child, so the parent measures
# before it imports scikit-learn; VmHWM (the peak of the child's own address space) cross-checks it.
RSS_SCRIPT = """
import re, resource, sys, time
from dapp.ml.engine import Engine
train, valid = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read()
start = time.perf_counter()
out = Engine().score(task="classification", metric="accuracy", label="target", validation=valid,
                     model=sys.argv[3].encode(), train=train, seed=7)
seconds = time.perf_counter() - start
hwm = int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) // 1024
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, hwm, round(seconds, 3), out.score)
"""


def _csv(X: np.ndarray, y: np.ndarray) -> bytes:
    names = [f"f{i}" for i in range(X.shape[1])] + ["target"]
    lines = [",".join(names)] + [",".join(map(repr, row)) + "," + repr(t) for row, t in zip(X.tolist(), y.tolist())]
    return ("\n".join(lines) + "\n").encode()


def _split(X: np.ndarray, y: np.ndarray) -> tuple[bytes, bytes]:
    order = np.random.default_rng(0).permutation(len(y))
    X, y = X[order], y[order]
    cut = int(0.7 * len(y))
    return _csv(X[:cut], y[:cut]), _csv(X[cut:], y[cut:])


def _synthetic_1mib() -> tuple[bytes, bytes]:
    """A classification CSV of about 1 MiB (train) and a validation CSV of 3,000 rows. Made with numpy
    only, so that the parent process stays small while it measures a child's peak RSS."""
    rng = np.random.default_rng(0)
    X = np.round(rng.normal(size=(12_000, 20)), 4)
    y = (X @ rng.normal(size=20) + rng.normal(scale=2.0, size=12_000) > 0).astype(np.int64)
    train = _csv(X[:9000], y[:9000])
    rows = train.count(b"\n") - 1
    keep = int(rows * MIB / len(train))
    return _csv(X[:keep], y[:keep]), _csv(X[9000:], y[9000:])


def _parse(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    table = np.loadtxt(io.BytesIO(data), delimiter=",", skiprows=1)
    return table[:, :-1], table[:, -1]


def _plain(spec: dict, task: str, metric: str, arrays) -> tuple[float, float]:
    """Plain scikit-learn: the same estimator and seed, fit + metric on arrays, one BLAS thread like
    the engine. (seconds, score)"""
    import sklearn.metrics as m
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    from dapp.ml.catalogue import CATALOGUE

    X, y, Xv, yv = arrays
    definition = CATALOGUE[spec["estimator"]]
    kwargs = dict(spec["params"], random_state=SEED)
    if definition.parallel:
        kwargs["n_jobs"] = 1
    if task == "classification":
        y, yv = y.astype(np.int64), yv.astype(np.int64)
    best, value = float("inf"), 0.0
    for _ in range(REPEATS):
        start = time.perf_counter()
        model = definition.load_class()(**kwargs)
        if spec.get("preprocessing"):
            model = make_pipeline(StandardScaler(), model)
        with threadpool_limits(limits=1):
            model.fit(X, y)
            predicted = model.predict(Xv)
            value = {"accuracy": m.accuracy_score, "r2": m.r2_score}[metric](yv, predicted)
        best = min(best, time.perf_counter() - start)
    return best, value


def _engine(spec: dict, task: str, metric: str, train: bytes, valid: bytes) -> tuple[float, float, int]:
    """(best cold seconds: a new Engine each run, best warm seconds: the validation set already parsed
    and cached, as for every submission of a job after the first; the published score)"""
    def run(engine: Engine) -> tuple[float, int]:
        start = time.perf_counter()
        out = engine.score(task=task, metric=metric, label="target", validation=valid,
                           model=json.dumps(spec).encode(), train=train, seed=SEED)
        return time.perf_counter() - start, out.score

    cold = min(run(Engine())[0] for _ in range(REPEATS))
    warm_engine = Engine()
    run(warm_engine)
    warm, score = min(run(warm_engine) for _ in range(REPEATS))
    return cold, warm, score


def _cases():
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_wine

    lr = {"estimator": "LogisticRegression", "params": {"max_iter": 1000}, "preprocessing": ["standard_scaler"]}
    rf = {"estimator": "RandomForestClassifier", "params": {"max_depth": 10, "n_estimators": 100}}
    mlp = {"estimator": "MLPClassifier", "params": {"hidden_layer_sizes": [64], "max_iter": 100},
           "preprocessing": ["standard_scaler"]}
    ridge = {"estimator": "Ridge", "params": {"alpha": 1.0}}
    rfr = {"estimator": "RandomForestRegressor", "params": {"max_depth": 8, "n_estimators": 100}}
    data = {
        "breast_cancer": _split(*load_breast_cancer(return_X_y=True)),
        "digits": _split(*load_digits(return_X_y=True)),
        "wine": _split(*load_wine(return_X_y=True)),
        "diabetes": _split(*load_diabetes(return_X_y=True)),
        "synthetic 1 MiB": _synthetic_1mib(),
    }
    for name, task, metric, specs in (
        ("breast_cancer", "classification", "accuracy", (lr, rf)),
        ("digits", "classification", "accuracy", (lr, mlp, rf)),
        ("wine", "classification", "accuracy", (lr, rf)),
        ("diabetes", "regression", "r2", (ridge, rfr)),
        ("synthetic 1 MiB", "classification", "accuracy", (lr, mlp, rf)),
    ):
        for spec in specs:
            yield name, task, metric, spec, data[name]


def _peak_rss(train: bytes, valid: bytes, spec: dict) -> tuple[int, int, float, int]:
    with tempfile.TemporaryDirectory() as folder:
        paths = [os.path.join(folder, "train.csv"), os.path.join(folder, "valid.csv")]
        for path, data in zip(paths, (train, valid)):
            Path(path).write_bytes(data)
        child = subprocess.run([sys.executable, "-c", RSS_SCRIPT, *paths, json.dumps(spec)], cwd=REPO,
                               capture_output=True, text=True, timeout=600, check=True)
    rss, hwm, seconds, score = child.stdout.split()
    return int(rss), int(hwm), float(seconds), int(score)


RSS_SPECS = (
    {"estimator": "LogisticRegression", "params": {"max_iter": 1000}, "preprocessing": ["standard_scaler"]},
    {"estimator": "RandomForestClassifier", "params": {"max_depth": 10, "n_estimators": 100}},
    {"estimator": "MLPClassifier", "params": {"hidden_layer_sizes": [64], "max_iter": 100},
     "preprocessing": ["standard_scaler"]},
)


def main() -> None:
    """Prints the peak RSS of the 1 MiB job (fresh processes), then the table of timings and scores."""
    warnings.simplefilter("ignore")
    train, valid = _synthetic_1mib()
    print(f"peak RSS of a fresh process scoring the synthetic job ({len(train) / MIB:.2f} MiB train CSV, "
          f"target <= 200 MiB; parent at {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MiB):")
    for spec in RSS_SPECS:
        rss, hwm, seconds, _ = _peak_rss(train, valid, spec)
        print(f"  {spec['estimator']:24} getrusage {rss:4d} MiB  VmHWM {hwm:4d} MiB  score call {seconds:.2f} s")
    print(f"\n{'dataset':16} {'model':26} {'rows x cols':>11} {'cold ms':>8} {'warm ms':>8} {'sklearn ms':>10} "
          f"{'cold/sk':>7} {'warm/sk':>7} {'published':>10} {'sklearn':>10} {'agree':>5}")
    for name, task, metric, spec, (train, valid) in _cases():
        arrays = (*_parse(train), *_parse(valid))
        cold_s, warm_s, published = _engine(spec, task, metric, train, valid)
        plain_s, direct = _plain(spec, task, metric, arrays)
        label = spec["estimator"] + ("+scaler" if spec.get("preprocessing") else "")
        shape = f"{arrays[0].shape[0]}x{arrays[0].shape[1]}"
        agree = abs(published / 1e6 - direct) <= 1e-6
        print(f"{name:16} {label:26} {shape:>11} {cold_s * 1e3:8.1f} {warm_s * 1e3:8.1f} {plain_s * 1e3:10.1f} "
              f"{cold_s / plain_s:7.2f} {warm_s / plain_s:7.2f} {published / 1e6:10.6f} {direct:10.6f} "
              f"{'yes' if agree else 'NO':>5}")
    print("engine = CSV bytes -> parse -> train -> evaluate -> model bytes, cold (new Engine) or warm (validation "
          f"set cached); sklearn = fit + predict + metric on parsed arrays; best of {REPEATS}, one BLAS thread each")


if __name__ == "__main__":
    main()
