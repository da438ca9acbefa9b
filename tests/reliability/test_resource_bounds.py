"""Every input is bounded in time and memory, whatever the spec and the data (issue 11).

A seeded random walk over the catalogue's bounds: each draw takes an estimator and sets its
parameters to extreme values the catalogue accepts (``max_iter`` at its maximum, batch sizes of 1 or
a million, the deepest trees, the most estimators, the widest layers, every solver and loss), with an
adversarial training set: tiny (2-5 rows, constant columns, a single class, cells at
``±max_abs_value``, one row repeated) or large (up to the row, column and byte limits). Each draw
uploads the set, a validation set and the spec, creates a threshold job, and submits, through
``App.advance`` (``Market`` drives the real rollup loop) with the real engine, whose training and
scoring run in its forked worker. When the submission trains, the published model is also scored,
without data, on a large validation set of a second job (finding 2: evaluation of a submitted model).

For every input the test measures its wall time and its CPU time (this process and the workers it
reaped), and the peak resident memory of this process (``VmHWM``, reset before each input through
``/proc/self/clear_refs``) plus that of the largest worker of the input (``ru_maxrss`` from
``wait4``). Both figures count the pages a worker shares with its parent twice, and this process is
pytest with the test's data on top of the backend, so the sum is above what ``python -m dapp`` uses.

Asserted for every input: accepted or rejected with a clear code (never ``internal_error``); peak
memory under 900 MiB; under 30 s. The 30 s is a safety bound, not a speed target: the worker's hard
CPU limit (``MLLimits.max_cpu_seconds``, 20 s) ends any training, and the 10 s margin covers what the
parent does (parsing an 8 MiB CSV, the gates, the store). CPU time is asserted always; wall time only
when the host was not loaded (the 1-minute load average below the core count at the input's start
and end), since on a busy host the wall clock measures the other processes too. Both are printed.

``make test`` runs a short variant (a few draws, smaller large sets, the worker's CPU limit at 5 s so
that it stays short); ``pytest -m reliability`` the long one (150 draws at the real limits). The seed
is ``$RELIABILITY_SEED`` or a fresh one, printed with the figures; draw ``i`` depends only on the
seed and ``i``.
"""

from __future__ import annotations

import json
import os
import random
import re
import resource
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from dapp.codec import abi
from dapp.ml.catalogue import CATALOGUE, CLASSIFICATION, EstimatorDef
from dapp.ml.cost import check_work
from dapp.ml.engine import Engine
from dapp.ml.errors import MLError
from dapp.ml.limits import DEFAULT_LIMITS, MIB, MLLimits
from dapp.ml.metrics import LOSSES, METRICS
from dapp.ml.params import AnyOf, Bool, Choice, Float, Int, Layers
from dapp.ml.spec import parse_spec
from dapp.rollup.fake import Finished
from tests.support.market import CAROL, SPONSOR, Market

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

MAX_SECONDS = 30.0  # per input: the worker's CPU limit (20 s) + a 10 s margin for the parent's own work
MAX_PEAK = 900 * MIB  # this process + its largest worker, per input
CONTRIBUTOR = CAROL
NOTICES = abi.notices()


@dataclass(frozen=True)
class Variant:
    """How many draws, how big a "large" set may be, and the worker's CPU limit."""

    draws: int
    max_large_bytes: int
    max_large_rows: int
    limits: MLLimits


SHORT = Variant(draws=5, max_large_bytes=1 * MIB, max_large_rows=10_000,
                limits=MLLimits(max_cpu_seconds=5))
LONG = Variant(draws=150, max_large_bytes=DEFAULT_LIMITS.max_csv_bytes - 64 * 1024,
               max_large_rows=DEFAULT_LIMITS.max_rows, limits=DEFAULT_LIMITS)


# --- specs ------------------------------------------------------------------------------------------

def extreme(rng: random.Random, kind: Any) -> Any:
    """A value ``kind`` accepts, drawn towards its bounds (both ends, the ones next to them, and a
    log-uniform value between)."""
    if isinstance(kind, Int):
        pick = rng.random()
        if pick < 0.6:
            return kind.hi if pick < 0.4 else kind.lo
        return int(round(_log_uniform(rng, max(kind.lo, 1), kind.hi)))
    if isinstance(kind, Float):
        lo = np.nextafter(kind.lo, np.inf) if kind.lo_open else kind.lo
        hi = np.nextafter(kind.hi, -np.inf) if kind.hi_open else kind.hi
        pick = rng.random()
        value = hi if pick < 0.35 else lo if pick < 0.6 else _log_uniform(rng, max(lo, 1e-12), hi) \
            if hi > 0 else rng.uniform(lo, hi)
        value = float(min(max(value, lo), hi))
        assert kind.accepts(value), (kind, value)
        return value
    if isinstance(kind, Bool):
        return rng.random() < 0.5
    if isinstance(kind, Choice):
        return rng.choice(kind.values)
    if isinstance(kind, Layers):
        return [rng.choice((1, kind.max_units, kind.max_units, rng.randint(1, kind.max_units)))
                for _ in range(rng.randint(1, kind.max_layers))]
    if isinstance(kind, AnyOf):
        return extreme(rng, rng.choice(kind.options))
    raise TypeError(f"no drawing rule for {kind!r}")


def _end(kind: Any, end: str) -> Any:
    """The lowest or highest number ``kind`` accepts (for ``AnyOf``, that of its numeric option)."""
    if isinstance(kind, AnyOf):
        return _end(next(o for o in kind.options if isinstance(o, (Int, Float))), end)
    if isinstance(kind, Int):
        return kind.lo if end == "lo" else kind.hi
    value = kind.lo if end == "lo" else kind.hi
    if (kind.lo_open if end == "lo" else kind.hi_open):
        value = float(np.nextafter(value, np.inf if end == "lo" else -np.inf))
    return value


def _log_uniform(rng: random.Random, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi)))) if hi > lo else lo


# Set so that an iterative fit never stops early: the most iterations, no tolerance to speak of.
RELENTLESS = {"max_iter": "hi", "max_fun": "hi", "n_iter_no_change": "hi", "tol": "lo",
              "early_stopping": False}


def draw_spec(rng: random.Random, definition: EstimatorDef, relentless: bool) -> dict[str, Any]:
    """A spec of ``definition`` with about half of its parameters at extreme values (the required
    ones always set), sometimes with a standard scaler in front; ``relentless``: with the
    parameters of ``RELENTLESS`` set so that it runs every iteration it may."""
    params = {name: extreme(rng, kind) for name, kind in definition.params.items()
              if name not in definition.defaults or rng.random() < 0.5}
    for name, how in RELENTLESS.items() if relentless else ():
        kind = definition.params.get(name)
        if kind is not None:
            params[name] = how if isinstance(how, bool) else _end(kind, how)
    spec: dict[str, Any] = {"estimator": definition.name, "params": params}
    if rng.random() < 0.3:
        spec["preprocessing"] = ["standard_scaler"]
    return spec


# --- datasets ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Data:
    """A training set and its validation set (same columns), and how they were made."""

    train: bytes
    validation: bytes
    shape: str


def columns(features: int) -> list[str]:
    return [f"f{i}" for i in range(features)] + ["target"]


def to_csv(X: np.ndarray, y: np.ndarray) -> bytes:
    """A CSV in the engine's format (``%.6g`` cells: short, and ``1e+09`` stays within the bound)."""
    header = ",".join(columns(X.shape[1]))
    table = np.column_stack([X, y])
    body = "\n".join(",".join(f"{v:.6g}" for v in row) for row in table.tolist())
    return f"{header}\n{body}\n".encode()


def labels(gen: np.random.Generator, task: str, rows: int, classes: int, scale: float) -> np.ndarray:
    if task == CLASSIFICATION:
        y = gen.integers(0, classes, rows)
        y[:2] = [0, 1]  # at least two classes unless a case removes them
        return y.astype(float)
    return gen.standard_normal(rows) * scale


def tiny(rng: random.Random, gen: np.random.Generator, task: str) -> Data:
    """2-5 rows of 1-4 features with some of: constant columns, a single class, cells at the bound
    (or nearly 0), every row the same."""
    rows, features, bound = rng.randint(2, 5), rng.randint(1, 4), DEFAULT_LIMITS.max_abs_value
    scale = rng.choice((1.0, bound, 1e-300))
    X = gen.standard_normal((rows, features)) * scale
    X = np.clip(X, -bound, bound)
    y = labels(gen, task, rows, rng.choice((2, 3)), scale)
    y = np.clip(y, -bound, bound)
    cases = [c for c in ("constant", "one_class", "at_bound", "duplicated") if rng.random() < 0.4]
    if "constant" in cases:
        X[:, : rng.randint(1, features)] = rng.choice((0.0, bound, -bound))
    if "one_class" in cases:
        y[:] = y[0]
    if "at_bound" in cases:
        X[gen.random(X.shape) < 0.5] = bound
        y[0] = -bound if task != CLASSIFICATION else y[0]
    if "duplicated" in cases:
        X[:], y[:] = X[0], y[0]
    valid_X = np.clip(gen.standard_normal((rows + 3, features)) * scale, -bound, bound)
    valid_y = np.clip(labels(gen, task, rows + 3, 2, scale), -bound, bound)
    return Data(to_csv(X, y), to_csv(valid_X, valid_y),
                f"tiny {rows}x{features} scale {scale:g} {'+'.join(cases) or 'plain'}")


def large_rows(features: int, max_bytes: int, max_rows: int) -> int:
    """The most rows of ``features`` short cells (at most 13 bytes each) within ``max_bytes``."""
    return max(2, min(max_rows, max_bytes // (13 * (features + 1)) - 1))


def large(rng: random.Random, gen: np.random.Generator, task: str, variant: Variant) -> Data:
    """Up to the row, column and byte limits (as the variant affords): few features and many rows,
    or 256 features, with up to 100 classes, maybe at the value bound."""
    features = rng.choice((1, 4, 32, DEFAULT_LIMITS.max_features))
    rows = large_rows(features, variant.max_large_bytes, variant.max_large_rows)
    rows = rng.choice((rows, max(2, rows // 4)))
    scale = rng.choice((1.0, DEFAULT_LIMITS.max_abs_value / 5))
    X = np.clip(gen.standard_normal((rows, features)) * scale, -DEFAULT_LIMITS.max_abs_value,
                DEFAULT_LIMITS.max_abs_value)
    classes = rng.choice((2, 10, DEFAULT_LIMITS.max_classes))
    y = np.clip(labels(gen, task, rows, classes, scale), -DEFAULT_LIMITS.max_abs_value,
                DEFAULT_LIMITS.max_abs_value)
    valid = max(2, rows // 10)
    shown = classes if task == CLASSIFICATION else "-"
    return Data(to_csv(X, y), to_csv(X[:valid], y[:valid]),
                f"large {rows}x{features} scale {scale:g} classes {shown}")


def edge(rng: random.Random, gen: np.random.Generator, task: str, spec: dict[str, Any],
         variant: Variant) -> Data:
    """The most rows (of 1 to 256 features) the training gate lets ``spec`` train on: the most work
    an input can be made to do (bisection on ``check_work``; 2 rows if even those are refused)."""
    features = rng.choice((1, 4, 32, DEFAULT_LIMITS.max_features))
    classes = rng.choice((2, 10)) if task == CLASSIFICATION else 1
    try:
        model = parse_spec(spec)
    except MLError:
        model = None
    lo, hi = 2, large_rows(features, variant.max_large_bytes, variant.max_large_rows)
    while model is not None and lo < hi:
        middle = (lo + hi + 1) // 2
        try:
            check_work(model, middle, features, classes, variant.limits)
            lo = middle
        except MLError:
            hi = middle - 1
    X = gen.standard_normal((lo, features))
    y = labels(gen, task, lo, classes, 1.0)
    valid = max(2, min(lo, 2_000))
    return Data(to_csv(X, y), to_csv(X[:valid], y[:valid]), f"edge {lo}x{features} classes {classes}")


def large_validation(gen: np.random.Generator, task: str, features: int, variant: Variant) -> bytes:
    """A validation set as large as the variant allows, for scoring a trained model without data."""
    rows = large_rows(features, variant.max_large_bytes, variant.max_large_rows)
    return to_csv(gen.standard_normal((rows, features)), labels(gen, task, rows, 2, 1.0))


# --- measuring ----------------------------------------------------------------------------------------

@dataclass
class Measure:
    """What one input took: wall and CPU seconds, this process's and its largest worker's peak RSS."""

    what: str
    wall: float = 0.0
    cpu: float = 0.0
    parent_rss: int = 0
    worker_rss: int = 0
    loaded: bool = False
    code: str = ""

    @property
    def peak(self) -> int:
        return self.parent_rss + self.worker_rss


@dataclass
class Meter:
    """Times and measures every input a ``Market`` sends; ``workers`` collects each reaped worker's
    (peak RSS bytes, CPU seconds) through the ``os.waitpid`` replacement :meth:`waitpid`."""

    measures: list[Measure] = field(default_factory=list)
    context: str = ""
    workers: list[tuple[int, float]] = field(default_factory=list)
    resettable: bool = True

    def waitpid(self, real_wait4: Callable) -> Callable:
        def waitpid(pid: int, options: int) -> tuple[int, int]:
            got, status, usage = real_wait4(pid, options)
            if got:
                self.workers.append((usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime))
            return got, status
        return waitpid

    def run(self, what: str, send: Callable[[], Finished]) -> Finished:
        self._reset_peak()
        self.workers.clear()
        loaded = _loaded()
        before, began = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        done = send()
        wall = time.perf_counter() - began
        after = resource.getrusage(resource.RUSAGE_SELF)
        own = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        workers_cpu = sum(cpu for _, cpu in self.workers)
        measure = Measure(f"{self.context}{what}", wall, own + workers_cpu, self._parent_peak(),
                          max((rss for rss, _ in self.workers), default=0), loaded or _loaded(),
                          outcome(done))
        self.measures.append(measure)
        return done

    def _reset_peak(self) -> None:
        if self.resettable:
            try:
                with open("/proc/self/clear_refs", "w") as refs:
                    refs.write("5")  # resets VmHWM to the current RSS
            except OSError:
                self.resettable = False  # then VmHWM is this process's peak so far: an upper bound

    @staticmethod
    def _parent_peak() -> int:
        with open("/proc/self/status") as status:
            return int(re.search(r"VmHWM:\s+(\d+) kB", status.read()).group(1)) * 1024


def _loaded() -> bool:
    return os.getloadavg()[0] >= (os.cpu_count() or 1)


def outcome(done: Finished) -> str:
    """"accepted" or the rejection's code; fails on an ``internal_error`` report anywhere."""
    for report in done.reports:
        body = json.loads(report)
        if body.get("ok") is False:
            assert body["error"]["code"] != "internal_error", body["error"].get("traceback", body)
            assert body["error"]["code"] and body["error"]["message"], body
    if done.accepted:
        return "accepted"
    (report,) = done.reports
    return json.loads(report)["error"]["code"]


class MeteredMarket(Market):
    """A ``Market`` on the real engine whose every input is measured by ``meter``."""

    def __init__(self, meter: Meter, limits: MLLimits) -> None:
        super().__init__(engine=Engine(limits))
        self.meter = meter

    def send(self, sender, payload, *, timestamp=None):  # noqa: ANN001 - Driver.send's signature
        parent = super().send
        return self.meter.run(f"input {self.index}", lambda: parent(sender, payload, timestamp=timestamp))


# --- the walk ---------------------------------------------------------------------------------------

def published_model(done: Finished) -> bytes | None:
    for payload in done.notices:
        function, args = NOTICES.decode(payload)
        if function.name == "ModelPublished":
            return args[2]
    return None


def job_for(market: Market, task: str, metric: str, validation: bytes) -> int:
    threshold = 10**15 if metric in LOSSES else -10**15  # every score is accepted and its model published
    return market.create_job(10**6, validation_cid=market.put(SPONSOR, validation), task=task, metric=metric,
                             min_score=threshold, reward_per_accept=1)


def one_draw(seed: int, index: int, variant: Variant, meter: Meter) -> list[tuple[str, Measure]]:
    """Draw ``index`` of the walk of ``seed``: its submission (and the scoring of what it trained on a
    large validation set), as (label, measure) pairs, each the measure of the submission's last input
    (``Market.submit``: the reveal that trains and scores, after its commit; the commit if that was
    refused); every other input of the draw is measured too."""
    rng = random.Random(f"{seed}:{index}")
    gen = np.random.default_rng([seed, index])
    definition = CATALOGUE[rng.choice(sorted(CATALOGUE))]
    task = definition.task
    kind = rng.choice(("tiny", "large", "edge"))
    spec = draw_spec(rng, definition, relentless=kind == "edge" or rng.random() < 0.3)
    data = (tiny(rng, gen, task) if kind == "tiny" else large(rng, gen, task, variant) if kind == "large"
            else edge(rng, gen, task, spec, variant))
    metric = rng.choice(METRICS[task])
    meter.context = f"draw {index}, "
    market = MeteredMarket(meter, variant.limits)
    job = job_for(market, task, metric, data.validation)
    train = market.put(CONTRIBUTOR, data.train)
    model = market.put(CONTRIBUTOR, json.dumps(spec).encode())
    label = f"draw {index}: {json.dumps(spec)} on {data.shape}, {metric}"
    done = market.submit(CONTRIBUTOR, job, model, train)
    results = [(label, meter.measures[-1])]
    trained = published_model(done)
    if trained is not None and rng.random() < 0.5:
        features = data.train.split(b"\n", 1)[0].count(b",")
        other = job_for(market, task, metric, large_validation(gen, task, features, variant))
        market.submit(CONTRIBUTOR, other, trained)
        results.append((f"{label}; its model scored on a large set", meter.measures[-1]))
    return results


def walk(variant: Variant, monkeypatch: pytest.MonkeyPatch, figures) -> Counter:
    """Runs the variant's draws, records the figures, asserts the bounds of every input; returns the
    submissions' outcomes."""
    seed = int(os.environ.get("RELIABILITY_SEED") or random.SystemRandom().randrange(2**32))
    print(f"resource bounds: seed {seed} (replay: RELIABILITY_SEED={seed})")
    meter = Meter()
    monkeypatch.setattr(os, "waitpid", meter.waitpid(os.wait4))
    began, submissions = time.perf_counter(), []
    for index in range(variant.draws):
        submissions += one_draw(seed, index, variant, meter)
    failures = [f"{label}: {m.code}, wall {m.wall:.1f} s, CPU {m.cpu:.1f} s, peak {m.peak / MIB:.0f} MiB"
                for label, m in submissions + [(m.what, m) for m in meter.measures]
                if m.cpu >= MAX_SECONDS or (not m.loaded and m.wall >= MAX_SECONDS) or m.peak >= MAX_PEAK]
    codes = Counter(m.code for _, m in submissions)
    slowest = max(meter.measures, key=lambda m: m.cpu)
    figures("seed", str(seed))
    figures("draws / submissions measured / inputs measured", f"{variant.draws} / {len(submissions)} / "
            f"{len(meter.measures)}")
    figures("submission outcomes", ", ".join(f"{code} {n}" for code, n in codes.most_common()))
    figures("max wall s (any input; submissions)", f"{max(m.wall for m in meter.measures):.1f}; "
            f"{max(m.wall for _, m in submissions):.1f}")
    figures("max CPU s, this process + workers (any input)", f"{slowest.cpu:.1f} ({slowest.code})")
    figures("max peak RSS MiB, process + worker", f"{max(m.peak for m in meter.measures) / MIB:.0f} (process "
            f"{max(m.parent_rss for m in meter.measures) / MIB:.0f}, worker "
            f"{max(m.worker_rss for m in meter.measures) / MIB:.0f})")
    figures("inputs on a loaded host (wall not asserted)", sum(m.loaded for m in meter.measures))
    figures("VmHWM reset per input", meter.resettable)
    figures("seconds", f"{time.perf_counter() - began:.0f}")
    assert not failures, "\n".join(failures)
    return codes


def test_resource_bounds_short(monkeypatch: pytest.MonkeyPatch, figures):
    walk(SHORT, monkeypatch, figures)


@pytest.mark.reliability
@pytest.mark.timeout(3600)  # a draw at the gate's edge may use the worker's 20 s of CPU
def test_resource_bounds_long(monkeypatch: pytest.MonkeyPatch, figures):
    codes = walk(LONG, monkeypatch, figures)
    assert codes["accepted"] and set(codes) - {"accepted"}  # the walk reaches both trainings and refusals
