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

Both also time the matrix products an MLP fit is made of (``PRODUCTS``: numpy's ``@``, i.e. BLAS
``dgemm``/``dgemv``) and print cycles (or ns) per multiply-add and which BLAS did them (the library
mapped, and the kernels OpenBLAS chose for the CPU): the factor behind an MLP's cost in the machine
(docs/PERFORMANCE.md, "Cost per estimator family in the machine"); and the evaluations of a few trained
models (``EVALUATIONS``, ``dapp.ml.metrics.evaluate``) beside what the evaluation gate predicts for them
(``dapp.ml.cost.evaluation_cycles``), since an MLP's evaluation is costed at ``PRODUCT_CYCLES`` too.
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
from dapp.ml.cost import estimate_cycles, estimate_work, evaluation_cycles  # noqa: E402
from dapp.ml.fitted import extract  # noqa: E402
from dapp.ml.limits import CYCLES_PER_SECOND, DEFAULT_LIMITS  # noqa: E402
from dapp.ml.spec import build_estimator, parse_spec  # noqa: E402

MACHINE_FIGURES = REPO / ".cache" / "machine" / "cycles.json"
MACHINE_PRODUCTS = REPO / ".cache" / "machine" / "products.json"
MACHINE_EVALUATIONS = REPO / ".cache" / "machine" / "evaluations.json"

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
    # larger fits, where the matrix products (BLAS; the machine has no vector unit) dominate
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
    # one feature into 256 units: thin products, elementwise work per unit
    ("mlp", "MLPClassifier", "c2f1", {"hidden_layer_sizes": [256], "max_iter": 2, "tol": T0,
                                      "n_iter_no_change": 10_000}),
    # one row per step: the fixed cost of a mini-batch (Python and numpy calls) dominates
    ("mlp", "MLPClassifier", "c2", {"hidden_layer_sizes": [8], "batch_size": 1, "max_iter": 1, "tol": T0}),
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


# The matrix products of an MLP's fit at the shapes of CASES' MLPs: (what, rows, inner, columns, left
# operand transposed). Forward: activations @ weights; weight gradient: activations.T @ deltas.
PRODUCTS: list[tuple[str, int, int, int, bool]] = [
    ("forward, 2,000 rows, 256 -> 256 units", 2000, 256, 256, False),
    ("weight gradient, 2,000 rows, 256 x 256", 256, 2000, 256, True),
    ("forward, 200 rows, 20 -> 256 units", 200, 20, 256, False),
    ("forward, 200 rows, 256 -> 1 unit (matrix-vector)", 200, 256, 1, False),
]


def product_ns() -> list[dict]:
    """CPU ns of each product of PRODUCTS (after a warm-up) and its multiply-adds."""
    import numpy as np

    rng = np.random.default_rng(0)
    out = []
    for what, rows, inner, columns, transposed in PRODUCTS:
        left = rng.standard_normal((inner, rows)).T if transposed else rng.standard_normal((rows, inner))
        right = rng.standard_normal((inner, columns))
        took = []
        for _ in range(2):
            began = time.process_time_ns()
            left @ right
            took.append(time.process_time_ns() - began)
        out.append({"product": what, "multiply_adds": rows * inner * columns, "ns": took[-1]})
    return out


# Trained MLPs (whose evaluation the gate costs at PRODUCT_CYCLES per unit) scored on their own data set
# with roc_auc (predict_proba in blocks), as the engine does: (estimator, data set of bench.cost_model,
# params of a quick fit)
EVALUATIONS: list[tuple[str, str, dict]] = [
    ("MLPClassifier", "c2f1w", {"hidden_layer_sizes": [256], "max_iter": 1}),  # 1 feature: thin products
    ("MLPClassifier", "c2k", {"hidden_layer_sizes": [32], "max_iter": 1}),
    ("MLPClassifier", "c2w", {"hidden_layer_sizes": [256, 256], "max_iter": 1}),
]


def evaluation_ns() -> list[dict]:
    """Each case of EVALUATIONS: the evaluation gate's units and cycles, and the CPU ns of the
    evaluation (after a warm-up)."""
    from dapp.ml.metrics import evaluate, evaluation_cost

    out = []
    for estimator, data, params in EVALUATIONS:
        X, y, _ = dataset(data)
        spec = parse_spec({"estimator": estimator, "params": params})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = build_estimator(spec, 0).fit(X, y)
        units = evaluation_cost(spec, extract(spec, model), X.shape[0], X.shape[1])[0]
        took = []
        for _ in range(2):
            began = time.process_time_ns()
            evaluate("roc_auc", model, X, y)
            took.append(time.process_time_ns() - began)
        out.append({"evaluation": f"{estimator} {data}", "units": units,
                    "predicted": evaluation_cycles(spec, units), "ns": took[-1]})
    return out


def blas() -> str:
    """The BLAS numpy calls: the library files mapped in this process, and the kernels OpenBLAS chose
    for this CPU where threadpoolctl knows the library (not Debian's reference libblas3, nor the
    scipy-openblas of numpy's wheels)."""
    import numpy  # noqa: F401  (loads the BLAS)
    from threadpoolctl import threadpool_info

    maps = Path("/proc/self/maps")
    mapped = sorted({line.split()[-1] for line in maps.read_text().splitlines()
                     if line.rsplit("/", 1)[-1].startswith("lib") and "blas" in line.rsplit("/", 1)[-1]}
                    ) if maps.exists() else []
    kernels = [f"{i['internal_api']} {i['version']}, {i.get('architecture')} kernels, "
               f"{i['num_threads']} thread" for i in threadpool_info() if i["user_api"] == "blas"]
    return " ".join(mapped) + (f" ({'; '.join(kernels)})" if kernels else "")


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
           ("MLPClassifier", {}), ("MLPClassifier", {"hidden_layer_sizes": [32], "max_iter": 50}),
           ("MLPClassifier", {"hidden_layer_sizes": [256, 256], "max_iter": 20})]


def main() -> None:
    """Natively: the table (with the machine's figures when present). ``--json``: the raw figures."""
    if "--json" in sys.argv:
        print("MACHINE-CYCLES " + json.dumps(measure()), flush=True)
        print("MACHINE-PRODUCTS " + json.dumps({"blas": blas(), "products": product_ns()}), flush=True)
        print("MACHINE-EVALUATIONS " + json.dumps(evaluation_ns()), flush=True)
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
    show_products()
    show_evaluations()
    print(f"\nthe largest training the gate allows (max_cycles {DEFAULT_LIMITS.max_cycles:.3g}, hard limit "
          f"{DEFAULT_LIMITS.max_cpu_seconds} guest s = {DEFAULT_LIMITS.max_cpu_seconds * CYCLES_PER_SECOND / 1e9:.2f} G cycles), "
          "20 features, 2 classes:")
    for estimator, params in TYPICAL:
        shown = ",".join(f"{k}={v}" for k, v in params.items())
        print(f"  {estimator}({shown}): {largest_rows(estimator, params):,} rows")


def show_products() -> None:
    """The MLP's matrix products natively, and in the machine when ``make machine-check`` measured them."""
    machine = json.loads(MACHINE_PRODUCTS.read_text()) if MACHINE_PRODUCTS.exists() else None
    print(f"\nmatrix products (numpy @): host BLAS {blas()}")
    if machine:
        print(f"                           machine BLAS {machine['blas']}")
    print(f"{'product':50} {'multiply-adds':>13} {'host ns/mul-add':>15} {'machine cycles/mul-add':>22} "
          f"{'machine/native':>14}")
    measured = {m["product"]: m for m in machine["products"]} if machine else {}
    for n in product_ns():
        per = n["ns"] / n["multiply_adds"]
        m = measured.get(n["product"])
        cells = f"{'-':>22} {'-':>14}"
        if m:
            cycles = m["ns"] * CYCLES_PER_SECOND / 1e9
            cells = f"{cycles / m['multiply_adds']:22.2f} {m['ns'] / max(n['ns'], 1):14.0f}"
        print(f"{n['product']:50} {n['multiply_adds']:13,d} {per:15.3f} {cells}")


def show_evaluations() -> None:
    """The evaluations natively, and in the machine (beside the gate's prediction) when measured there."""
    machine = {m["evaluation"]: m for m in json.loads(MACHINE_EVALUATIONS.read_text())} \
        if MACHINE_EVALUATIONS.exists() else {}
    print(f"\nevaluations (roc_auc on the data set): {'units':>10} {'host ns/unit':>12} "
          f"{'machine cycles':>14} {'predicted':>10} {'measured/predicted':>18}")
    worst = 0.0
    for n in evaluation_ns():
        m = machine.get(n["evaluation"])
        cells = f"{'-':>14} {n['predicted']:10.3g} {'-':>18}"
        if m:
            cycles = m["ns"] * CYCLES_PER_SECOND // 1_000_000_000
            worst = max(worst, cycles / n["predicted"])
            cells = f"{cycles:14,d} {n['predicted']:10.3g} {cycles / n['predicted']:18.2f}"
        print(f"  {n['evaluation']:36} {n['units']:10.3g} {n['ns'] / n['units']:12.3f} {cells}")
    if machine:
        print(f"largest measured / predicted cycles of an evaluation: {worst:.2f} (above 1: the evaluation "
              "gate is too low)")
        record("machine cycles of an MLP evaluation, largest measured / predicted", f"{worst:.2f}", "<= 1")


if __name__ == "__main__":
    main()
