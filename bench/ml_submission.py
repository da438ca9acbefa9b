"""What a submission costs, against plain scikit-learn on the same arrays.

For each case, through the real dispatch path (``App`` with the real engine, the loop and the fake
rollup): the time of a submission's ``revealSubmission`` input, the one that does the work (ABI
decode -> contents -> train -> evaluate -> canonical model bytes, checked to load back -> model
stored under its CID -> notices and the reward, a credit or a voucher; its ``commitSubmission``
input goes first, untimed), over the time of plain scikit-learn ``fit`` + metric on the already-parsed
arrays, best of several runs each; and the published score against the one scikit-learn gives directly.

CSV files are decoded by the engine when their upload completes (``Engine.prepare``), so the reveal
input reads decoded arrays: "reveal" is that input. The decoding itself is timed apart ("decode", part
of the upload's last input), and "first use" is a reveal input whose CSV files were never decoded
before (an engine that skips ``prepare``): decode + reveal in one input. Then the peak RSS of a fresh
process doing the 1 MiB job.

Everything is measured in a fresh process with one BLAS/OpenMP thread, as ``python -m dapp`` runs
(``bench._fresh``: a process whose pools have a thread per core makes every forked worker start them
again, and their spinning costs tens of milliseconds per input that the backend does not pay).

Run: ``.venv/bin/python -m bench.ml_submission`` (or ``python bench/ml_submission.py``).
"""

from __future__ import annotations

import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import _fresh
from bench._summary import record
from dapp.domain.seeds import submission_seed
from dapp.ml.engine import Engine
from tests.support.market import CAROL, SPONSOR, Market
from tests.support.rollup import credits

MIB = 1 << 20
REPEATS = 7

# ru_maxrss carries the high-water mark of the process that forked the child, so the parent measures
# before it imports scikit-learn; VmHWM (the peak of the child's own address space) cross-checks it.
RSS_SCRIPT = """
import re, resource, sys, time
import dapp.__main__  # one thread, as `python -m dapp` (it sets the variables before numpy loads)
import dapp.app, dapp.rollup.http, dapp.rollup.loop  # what `python -m dapp` loads besides the engine
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


def _plain(spec: dict, task: str, metric: str, arrays, seed: int) -> tuple[float, float]:
    """Plain scikit-learn: the same estimator and seed, fit + metric on arrays (the caller limits BLAS to
    one thread, like the engine, outside the timing). (seconds, score)"""
    import sklearn.metrics as m
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from dapp.ml.catalogue import CATALOGUE

    X, y, Xv, yv = arrays
    definition = CATALOGUE[spec["estimator"]]
    kwargs = dict(spec["params"])
    if definition.seeded:
        kwargs["random_state"] = seed
    if definition.parallel:
        kwargs["n_jobs"] = 1
    if task == "classification":
        y, yv = y.astype(np.int64), yv.astype(np.int64)
    start = time.perf_counter()
    model = definition.load_class()(**kwargs)
    if spec.get("preprocessing"):
        model = make_pipeline(StandardScaler(), model)
    model.fit(X, y)
    value = {"accuracy": m.accuracy_score, "r2": m.r2_score}[metric](yv, model.predict(Xv))
    return time.perf_counter() - start, value


class _Timed(Engine):
    """An engine that records how long its last ``score`` call took (the engine's share of an input)."""

    last = 0.0

    def score(self, **kwargs):
        start = time.perf_counter()
        try:
            return super().score(**kwargs)
        finally:
            self.last = time.perf_counter() - start


class _Undecoded(Engine):
    """An engine that does not decode CSV files when their upload completes: every file is decoded by
    the first input that uses it."""

    def prepare(self, content: bytes) -> bool:
        return False


def _market_job(engine: Engine, task: str, metric: str, valid: bytes, spec: dict, train: bytes):
    """A market with ``valid``, the model and the data uploaded: (market, a function opening a funded
    threshold job on ``valid`` that accepts any score, model CID, data CID)."""
    m = Market(engine=engine)
    validation = m.put(SPONSOR, valid)

    def open_job() -> int:
        return m.create_job(10**9, task=task, metric=metric, min_score=-(10**9), reward_per_accept=1,
                            validation_cid=validation)

    return m, open_job, m.put(CAROL, json.dumps(spec).encode()), m.put(CAROL, train)


def _submit(m: Market, open_job, model: bytes, data: bytes) -> tuple[float, float, int]:
    """A submission to a new job (the same work is paid once per job), its commit then its reveal:
    (seconds of the reveal input, the score it published in the metric's units, its training seed)"""
    job = open_job()
    committed, salt = m.commit(CAROL, job, model, data)
    assert committed.accepted, committed.reports
    start = time.perf_counter()
    done = m.reveal(CAROL, job, model, data, salt)
    seconds = time.perf_counter() - start
    assert done.accepted and (done.vouchers or credits(done)), done.reports  # paid: voucher or credit
    view = m.job(job)["submissions"][-1]
    return seconds, view["score"], submission_seed(job, view["id"])


def _measure(spec: dict, task: str, metric: str, train: bytes, valid: bytes, arrays) -> dict[str, float]:
    """Best seconds of: decoding the training CSV; a reveal input after the uploads (files decoded),
    and the engine's share of it; a reveal input on never-decoded files; plain scikit-learn. Reveal
    inputs and plain runs alternate, so that both see the same load on a shared machine; ``ratio`` is
    the median over the pairs of reveal / plain (one seed, back to back), steadier than the ratio of
    the bests when the machine's speed drifts. ``agree``: every submission's published score equals
    plain scikit-learn's with that submission's seed, to the published precision."""
    from threadpoolctl import threadpool_limits

    decode = float("inf")
    for _ in range(REPEATS):
        engine, start = Engine(), time.perf_counter()
        assert engine.prepare(train)
        decode = min(decode, time.perf_counter() - start)
    engine = _Timed()
    m, open_job, model, data = _market_job(engine, task, metric, valid, spec, train)
    _submit(m, open_job, model, data)  # imports and first-use costs are not the steady state
    reveal = plain = in_engine = float("inf")
    ratios = []  # reveal / plain of each pair: the same seed, back to back, so under the same load
    agree = True
    with threadpool_limits(limits=1):  # set once, outside the timings: finding the pools takes ms
        for _ in range(REPEATS):
            seconds, published, seed = _submit(m, open_job, model, data)
            plain_seconds, direct = _plain(spec, task, metric, arrays, seed)
            reveal, plain = min(reveal, seconds), min(plain, plain_seconds)
            in_engine = min(in_engine, engine.last)
            ratios.append(seconds / plain_seconds)
            agree = agree and abs(published - direct) <= 1e-6
    first = min(_submit(*_market_job(_Undecoded(), task, metric, valid, spec, train))[0] for _ in range(REPEATS))
    return {"decode": decode, "reveal": reveal, "engine": in_engine, "first": first, "plain": plain,
            "ratio": statistics.median(ratios), "published": published,
            "direct": direct, "agree": bool(agree)}


def _cases():
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_wine

    lr = {"estimator": "LogisticRegression", "params": {"max_iter": 1000}, "preprocessing": ["standard_scaler"]}
    rf = {"estimator": "RandomForestClassifier", "params": {"max_depth": 10, "n_estimators": 100}}
    mlp = dict(RSS_SPECS[2], params={"hidden_layer_sizes": [64], "max_iter": 50})  # 100 epochs: over the gate
    ridge = {"estimator": "Ridge", "params": {"alpha": 1.0}}
    rfr = {"estimator": "RandomForestRegressor", "params": {"max_depth": 8, "n_estimators": 100}}
    nb = {"estimator": "GaussianNB", "params": {}}
    # on the 1 MiB CSV, 100 trees of depth 10 and 50 MLP epochs are over the training gate (max_cycles)
    rf50, mlp30 = RSS_SPECS[1], RSS_SPECS[2]
    data = {
        "breast_cancer": _split(*load_breast_cancer(return_X_y=True)),
        "digits": _split(*load_digits(return_X_y=True)),
        "wine": _split(*load_wine(return_X_y=True)),
        "diabetes": _split(*load_diabetes(return_X_y=True)),
        "synthetic 1 MiB": _synthetic_1mib(),
    }
    for name, task, metric, specs in (
        ("breast_cancer", "classification", "accuracy", (lr, nb, rf)),
        ("digits", "classification", "accuracy", (lr, mlp, rf)),
        ("wine", "classification", "accuracy", (lr, nb, rf)),
        ("diabetes", "regression", "r2", (ridge, rfr)),
        ("synthetic 1 MiB", "classification", "accuracy", (lr, mlp30, rf50)),
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
    {"estimator": "RandomForestClassifier", "params": {"max_depth": 10, "n_estimators": 50}},
    {"estimator": "MLPClassifier", "params": {"hidden_layer_sizes": [64], "max_iter": 30},
     "preprocessing": ["standard_scaler"]},
)


def main() -> None:
    """Prints the peak RSS of the 1 MiB job (fresh processes), then the table of timings and scores,
    measured in a fresh one-thread process (``bench._fresh``); records the summary's figures."""
    found = _fresh.run("bench.ml_submission", _measure_and_print)
    _record([(size, t) for size, t in found["measured"]], found["peaks"])


def _measure_and_print() -> dict:
    warnings.simplefilter("ignore")
    train, valid = _synthetic_1mib()
    print(f"peak RSS of a fresh process scoring the synthetic job ({len(train) / MIB:.2f} MiB train CSV, "
          f"target <= 200 MiB; parent at {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MiB):")
    peaks = {}  # estimator -> VmHWM in MiB (the child's own, whatever the parent's size)
    for spec in RSS_SPECS:
        rss, hwm, seconds, _ = _peak_rss(train, valid, spec)
        peaks[spec["estimator"]] = hwm
        print(f"  {spec['estimator']:24} getrusage {rss:4d} MiB  VmHWM {hwm:4d} MiB  score call {seconds:.2f} s")
    print(f"\n{'dataset':16} {'model':26} {'rows x cols':>11} {'decode':>7} {'reveal':>7} {'engine':>7} {'1st use':>7} "
          f"{'sklearn':>7} {'reveal/sk':>9} {'1st/sk':>6} {'published':>10} {'sklearn':>10} {'agree':>5}")
    measured = []  # (training CSV bytes, timings) per case
    for name, task, metric, spec, (train, valid) in _cases():
        arrays = (*_parse(train), *_parse(valid))
        t = _measure(spec, task, metric, train, valid, arrays)
        label = spec["estimator"] + ("+scaler" if spec.get("preprocessing") else "")
        measured.append((len(train), {**t, "case": f"{label}, {name}"}))
        shape = f"{arrays[0].shape[0]}x{arrays[0].shape[1]}"
        print(f"{name:16} {label:26} {shape:>11} {t['decode'] * 1e3:7.1f} {t['reveal'] * 1e3:7.1f} {t['engine'] * 1e3:7.1f} "
              f"{t['first'] * 1e3:7.1f} {t['plain'] * 1e3:7.1f} {t['ratio']:9.2f} "
              f"{t['first'] / t['plain']:6.2f} {t['published']:10.6f} {t['direct']:10.6f} "
              f"{'yes' if t['agree'] else 'NO':>5}")
    print("times in ms, best of {0}, one BLAS thread each. decode = Engine.prepare of the training CSV (done "
          "when its upload completes); reveal = a submission's reveal input (dispatch -> train -> evaluate -> "
          "model stored -> notices, reward; after its untimed commit) on decoded files; engine = its Engine.score call (train, evaluate, "
          "model file); 1st use = the same input on files never decoded; sklearn = fit + predict + metric "
          "on parsed arrays, alternating with the reveals; reveal/sk: the median over the {0} pairs (same "
          "seed, back to back) of reveal / sklearn; published/sklearn: the last pair, agree: every pair. "
          "Target: reveal/sk <= 1.15.".format(REPEATS))
    return {"measured": measured, "peaks": peaks}


def _ratios(timings: list[dict]) -> str:
    found = [t["ratio"] for t in timings]
    return f"{min(found):.2f}–{max(found):.2f}x" if found else "none"


def _record(measured: list[tuple[int, dict]], peaks: dict[str, int]) -> None:
    """The summary's figures: reveal/sklearn for forests, for the other fits under 10 ms and for the
    other slower ones, scores agreeing, the largest peak RSS, and decoding speed
    on the largest training CSV."""
    forests = [t for _, t in measured if "Forest" in t["case"]]
    fast = [t for _, t in measured if t not in forests and t["plain"] < 0.010]
    slow = [t for _, t in measured if t not in forests and t["plain"] >= 0.010]
    for name, group in (("fits < 10 ms", fast), ("fits >= 10 ms", slow), ("forests", forests)):
        record(f"reveal input / plain sklearn, {name} ({len(group)} cases)", _ratios(group), "<= 1.15x")
    agree = sum(bool(t["agree"]) for _, t in measured)
    record("published score equals scikit-learn's (every submission)", f"{agree} of {len(measured)} cases",
           f"{len(measured)} of {len(measured)}")
    heaviest = max(peaks, key=peaks.__getitem__)
    record("peak RSS (VmHWM), fresh process scoring the 1 MiB job", f"{peaks[heaviest]} MiB ({heaviest})",
           "<= 200 MiB")
    size, largest = max(measured, key=lambda case: case[0])
    record(f"decoding a CSV (the largest, {size / MIB:.2f} MiB)",
           f"{largest['decode'] * 1e3 / (size / MIB):.0f} ms per MiB")


if __name__ == "__main__":
    main()
