"""What one unit of the work estimate (``dapp/ml/cost.py``) costs in the Cartesi machine, per estimator family.

The estimate is calibrated in nanoseconds of one x86-64 core (``bench/cost_model.py``); the machine's
hard limit is in guest CPU seconds, and a guest second is exactly 128 M cycles (docs/IMAGE.md). This
fits one small case per estimator family (the data sets of ``bench.cost_model``, sizes small enough for
the emulator) and prints, per case, the estimate in units and the fit's CPU time.

- Natively (``python -m bench.machine_cycles``, part of ``make bench``): CPU ns per unit on this host;
  with ``.cache/machine/cycles.json`` present (written by ``make machine-cycles``), also the machine's
  cycles per unit, the machine/native ratio, and what ``max_cpu_seconds`` allows per family in units.
- In the machine (``make machine-cycles`` runs ``python3 -m bench.machine_cycles --json`` there, from a
  second flash drive): the same cases, printed as JSON on the console.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):  # one thread, as the backend (before numpy loads)
    os.environ[_var] = "1"

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.cost_model import T0, dataset  # noqa: E402
from dapp.ml.cost import estimate_work  # noqa: E402
from dapp.ml.limits import DEFAULT_LIMITS  # noqa: E402
from dapp.ml.spec import build_estimator, parse_spec  # noqa: E402

CYCLES_PER_GUEST_SECOND = 128_000_000
MACHINE_FIGURES = REPO / ".cache" / "machine" / "cycles.json"

# (family, estimator, data set of bench.cost_model, params): one small fit per family
CASES: list[tuple[str, str, str, dict]] = [
    ("linear (lbfgs)", "LogisticRegression", "c2", {"max_iter": 50, "tol": T0}),
    ("linear (lbfgs)", "LogisticRegression", "c30", {"max_iter": 10, "tol": T0}),
    ("sgd", "SGDClassifier", "c2", {"loss": "log_loss", "max_iter": 20, "tol": None}),
    ("sgd", "SGDRegressor", "r", {"max_iter": 20, "tol": None}),
    ("liblinear", "LinearSVC", "c2", {"max_iter": 100, "tol": T0}),
    ("closed form", "Ridge", "r", {}),
    ("closed form", "LinearRegression", "r", {}),
    ("naive bayes", "GaussianNB", "c30", {}),
    ("tree", "DecisionTreeClassifier", "c2", {"max_depth": 8}),
    ("tree", "DecisionTreeRegressor", "r", {"max_depth": 8}),
    ("forest", "RandomForestClassifier", "c2", {"n_estimators": 10, "max_depth": 8}),
    ("forest", "RandomForestRegressor", "r", {"n_estimators": 5, "max_depth": 8}),
    ("mlp", "MLPClassifier", "c2", {"hidden_layer_sizes": [32], "max_iter": 10, "tol": T0}),
    ("mlp", "MLPRegressor", "r", {"hidden_layer_sizes": [32], "max_iter": 10, "tol": T0}),
    # larger fits, where the products (reference BLAS in the machine, no vector unit) dominate
    ("mlp", "MLPClassifier", "c2k", {"hidden_layer_sizes": [256], "max_iter": 2, "tol": T0,
                                     "n_iter_no_change": 10_000}),
    ("linear (lbfgs)", "LogisticRegression", "c2w", {"max_iter": 50, "tol": T0}),
    ("sgd", "SGDClassifier", "c2k", {"max_iter": 10, "tol": None}),
    ("forest", "RandomForestClassifier", "c2big", {"n_estimators": 5, "max_depth": 16}),
    ("closed form", "Ridge", "rw", {}),
]


def fit_ns(estimator: str, data: str, params: dict) -> tuple[int, int]:
    """(estimated units, CPU ns of one fit) after a warm-up fit of the same case (imports not counted)."""
    X, y, classes = dataset(data)
    spec = parse_spec({"estimator": estimator, "params": params})
    estimate = estimate_work(spec, X.shape[0], X.shape[1], classes)
    took = []
    for _ in range(2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = build_estimator(spec, 0)
            began = time.process_time_ns()
            model.fit(X, y)
            took.append(time.process_time_ns() - began)
    return estimate, took[-1]


def measure() -> list[dict]:
    """Every case: family, estimator, data, estimate, CPU ns."""
    out = []
    for family, estimator, data, params in CASES:
        estimate, ns = fit_ns(estimator, data, params)
        out.append({"family": family, "estimator": estimator, "data": data, "estimate": estimate, "ns": ns})
        print(f"# {estimator} {data}: {ns / 1e6:.1f} ms", file=sys.stderr, flush=True)
    return out


def main() -> None:
    """Natively: the table (with the machine's figures when present). ``--json``: the raw figures."""
    if "--json" in sys.argv:
        print("MACHINE-CYCLES " + json.dumps(measure()), flush=True)
        return
    native = measure()
    machine = {(m["estimator"], m["data"]): m for m in json.loads(MACHINE_FIGURES.read_text())} \
        if MACHINE_FIGURES.exists() else {}
    budget = DEFAULT_LIMITS.max_cpu_seconds * CYCLES_PER_GUEST_SECOND
    print(f"{'family':15} {'case':32} {'estimate':>9} {'host ns/unit':>12} {'machine cycles':>14} "
          f"{'cycles/unit':>11} {'machine/native':>14}")
    for n in native:
        m = machine.get((n["estimator"], n["data"]))
        cycles = m["ns"] * CYCLES_PER_GUEST_SECOND // 1_000_000_000 if m else None
        cells = (f"{cycles:14,d} {cycles / n['estimate']:11.2f} {m['ns'] / n['ns']:14.0f}" if m
                 else f"{'-':>14} {'-':>11} {'-':>14}")
        print(f"{n['family']:15} {n['estimator'] + ' ' + n['data']:32} {n['estimate']:9.3g} "
              f"{n['ns'] / n['estimate']:12.3f} {cells}")
    if not machine:
        print(f"(no machine figures: `make machine-cycles` writes {MACHINE_FIGURES})")
        return
    print(f"\nper family: the largest estimate whose fit stays within max_cpu_seconds = "
          f"{DEFAULT_LIMITS.max_cpu_seconds} in the machine ({budget / 1e9:.2f} G cycles), at the worst "
          f"cycles/unit measured; max_work is {DEFAULT_LIMITS.max_work:.3g}")
    families: dict[str, float] = {}
    for n in native:
        m = machine.get((n["estimator"], n["data"]))
        if m:
            per_unit = m["ns"] * CYCLES_PER_GUEST_SECOND / 1e9 / n["estimate"]
            families[n["family"]] = max(families.get(n["family"], 0.0), per_unit)
    for family, per_unit in families.items():
        print(f"  {family:15} {per_unit:8.2f} cycles/unit -> {budget / per_unit:10.3g} units")


if __name__ == "__main__":
    main()
