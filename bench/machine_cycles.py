"""What one unit of the work estimate (``dapp/ml/cost.py``) costs in the Cartesi machine, per estimator family.

The estimate is calibrated in nanoseconds of one x86-64 core (``bench/cost_model.py``); the machine's
hard limit is in guest CPU seconds, and a guest second is exactly 128 M cycles (docs/IMAGE.md). This
fits one small case per estimator family (the data sets of ``bench.cost_model``, sizes small enough for
the emulator) and prints, per case, the estimate in units and the fit's CPU time.

- Natively (``python -m bench.machine_cycles``, part of ``make bench``): CPU ns per unit on this host;
  with ``.cache/machine/cycles.json`` present (written by ``make machine-check``), also the machine's
  cycles per unit beside ``dapp.ml.cost.CYCLES_PER_UNIT`` (flagged ``UNDER`` where the table is below
  a measurement) and the machine/native ratio; then the largest training the gate allows for typical
  specs (rows at 20 features).
- In the machine (``make machine-check`` runs ``python3 -m bench.machine_cycles --json`` there, from a
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

from bench._summary import record  # noqa: E402
from bench.cost_model import T0, dataset  # noqa: E402
from dapp.ml.cost import estimate_cycles, estimate_work  # noqa: E402
from dapp.ml.limits import CYCLES_PER_SECOND, DEFAULT_LIMITS  # noqa: E402
from dapp.ml.spec import build_estimator, parse_spec  # noqa: E402

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
    ("mlp", "MLPClassifier", "c2k", {"hidden_layer_sizes": [256, 256], "batch_size": 2000, "max_iter": 2,
                                     "tol": T0, "n_iter_no_change": 10_000}),
    ("mlp", "MLPRegressor", "rk", {"hidden_layer_sizes": [128], "solver": "lbfgs", "max_iter": 5, "tol": T0}),
    ("linear (lbfgs)", "LogisticRegression", "c2w", {"max_iter": 50, "tol": T0}),
    ("linear (lbfgs)", "LogisticRegression", "c10k", {"solver": "saga", "max_iter": 5, "tol": T0}),
    ("liblinear", "LinearSVC", "c2w", {"max_iter": 200, "tol": T0}),
    ("naive bayes", "GaussianNB", "c2w", {}),
    ("sgd", "SGDClassifier", "c2k", {"max_iter": 10, "tol": None}),
    ("forest", "RandomForestClassifier", "c2big", {"n_estimators": 5, "max_depth": 16}),
    ("closed form", "Ridge", "rw", {}),
]


def fit_ns(estimator: str, data: str, params: dict) -> tuple[int, int, int]:
    """(estimated units, estimated machine cycles, CPU ns of one fit) after a warm-up fit of the same
    case (imports not counted)."""
    X, y, classes = dataset(data)
    spec = parse_spec({"estimator": estimator, "params": params})
    estimate = estimate_work(spec, X.shape[0], X.shape[1], classes)
    predicted = estimate_cycles(spec, X.shape[0], X.shape[1], classes)
    took = []
    for _ in range(2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = build_estimator(spec, 0)
            began = time.process_time_ns()
            model.fit(X, y)
            took.append(time.process_time_ns() - began)
    return estimate, predicted, took[-1]


def measure() -> list[dict]:
    """Every case: family, estimator, data, estimate, CPU ns."""
    out = []
    for case, (family, estimator, data, params) in enumerate(CASES):
        estimate, predicted, ns = fit_ns(estimator, data, params)
        out.append({"case": case, "family": family, "estimator": estimator, "data": data, "estimate": estimate,
                    "predicted": predicted, "ns": ns})
        print(f"# {estimator} {data}: {ns / 1e6:.1f} ms", file=sys.stderr, flush=True)
    return out


def largest_rows(estimator: str, params: dict, features: int = 20, classes: int = 2) -> int:
    """The most rows (of ``features`` columns) the gate lets ``estimator`` train on with ``params``."""
    spec = parse_spec({"estimator": estimator, "params": params})
    classes = classes if spec.definition.task == "classification" else 1
    low, high = 0, DEFAULT_LIMITS.max_rows
    while low < high:
        mid = (low + high + 1) // 2
        if estimate_cycles(spec, mid, features, classes) <= DEFAULT_LIMITS.max_cycles:
            low = mid
        else:
            high = mid - 1
    return low


# What a job usually asks for: each estimator with its defaults (trees need a max_depth)
TYPICAL = [("LogisticRegression", {}), ("SGDClassifier", {}), ("LinearSVC", {}), ("Ridge", {}),
           ("GaussianNB", {}), ("DecisionTreeClassifier", {"max_depth": 10}),
           ("RandomForestClassifier", {"max_depth": 10}), ("RandomForestClassifier", {"max_depth": 10, "n_estimators": 20}),
           ("MLPClassifier", {}), ("MLPClassifier", {"hidden_layer_sizes": [32], "max_iter": 50})]


def main() -> None:
    """Natively: the table (with the machine's figures when present). ``--json``: the raw figures."""
    if "--json" in sys.argv:
        print("MACHINE-CYCLES " + json.dumps(measure()), flush=True)
        return
    native = measure()
    machine = {m.get("case"): m for m in json.loads(MACHINE_FIGURES.read_text())} if MACHINE_FIGURES.exists() else {}
    print(f"{'family':15} {'case':32} {'estimate':>9} {'host ns/unit':>12} {'machine cycles':>14} "
          f"{'cycles/unit':>11} {'predicted':>10} {'measured/predicted':>18} {'machine/native':>14}")
    worst = 0.0
    for n in native:
        m = machine.get(n["case"])
        if m:
            cycles = m["ns"] * CYCLES_PER_SECOND // 1_000_000_000
            worst = max(worst, cycles / n["predicted"])
            flag = "  UNDER (the gate's estimate is below the measurement)" if cycles > n["predicted"] else ""
            cells = (f"{cycles:14,d} {cycles / n['estimate']:11.2f} {n['predicted']:10.3g} "
                     f"{cycles / n['predicted']:18.2f} {m['ns'] / n['ns']:14.0f}{flag}")
        else:
            cells = f"{'-':>14} {'-':>11} {n['predicted']:10.3g} {'-':>18} {'-':>14}"
        print(f"{n['family']:15} {n['estimator'] + ' ' + n['data']:32} {n['estimate']:9.3g} "
              f"{n['ns'] / n['estimate']:12.3f} {cells}")
    if machine:
        print(f"\nlargest measured / predicted cycles: {worst:.2f} (above 1: dapp.ml.cost.CYCLES_PER_UNIT or "
              "PRODUCT_CYCLES is too low)")
        record("machine cycles of a fit, largest measured / predicted (dapp.ml.cost)", f"{worst:.2f}", "<= 1")
    else:
        print(f"(no machine figures: `make machine-check` writes {MACHINE_FIGURES})")
    print(f"\nthe largest training the gate allows (max_cycles {DEFAULT_LIMITS.max_cycles:.3g}, hard limit "
          f"{DEFAULT_LIMITS.max_cpu_seconds} guest s = {DEFAULT_LIMITS.max_cpu_seconds * CYCLES_PER_SECOND / 1e9:.2f} G cycles), "
          "20 features, 2 classes:")
    for estimator, params in TYPICAL:
        shown = ",".join(f"{k}={v}" for k, v in params.items())
        print(f"  {estimator}({shown}): {largest_rows(estimator, params):,} rows")


if __name__ == "__main__":
    main()
