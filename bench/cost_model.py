"""The work estimate (``dapp/ml/cost.py``) against measured fits.

For a grid of catalogue estimators at their parameter extremes (every solver, batch sizes 1 and the
whole data, deep trees, ``max_leaf_nodes``, ``positive=True``, many classes, no early stopping), on
small synthetic data, prints the estimated units (≈ ns of one core), the CPU time of the fit in ns
(one thread, after a warm-up fit of the same estimator so imports are not counted; CPU time, not wall
time, since the machine is shared and the hard limit is on CPU time too), and their ratio
estimate / measured. The estimate is a gate that must not be fooled: a ratio below 1 is flagged
``UNDER``, below 2 (the calibration margin) ``thin``. Some cases use "hostile" data (cells at the
dataset bound, ±1e9) on which line searches fail and every iteration evaluates the loss many times.

Run: ``.venv/bin/python -m bench.cost_model`` (about a minute; docs/MODELS.md has a run's table).
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path

# threadpoolctl 3.1.0 does not see the host venv's scipy-openblas, so BLAS would use every core (and
# its spinning threads would count as CPU time): one thread, as in the machine, set before numpy loads.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench._summary import record
from bench._table import print_table
from dapp.ml.cost import estimate_work
from dapp.ml.spec import build_estimator, parse_spec

MARGIN = 2.0
T0 = 1e-300  # a tolerance no fit reaches: every allowed iteration runs

# name -> (rows, features, classes (0 = regression), hostile: "" | "x" cells at ±1e9 | "ill" column
# scales from 1e-9 to 1e9, which keeps L-BFGS-B iterating to its maxfun)
DATA = {
    "c2": (400, 20, 2, ""), "c30": (600, 20, 30, ""), "r": (400, 20, 0, ""),
    "c2x": (400, 20, 2, "x"), "rx": (400, 20, 0, "x"), "c2w": (300, 200, 2, ""),
    "rw": (2000, 200, 0, ""), "c2big": (3000, 30, 2, ""), "rbig": (3000, 30, 0, ""),
    "tiny": (3, 2, 2, "x"), "rill": (2000, 50, 0, "ill"), "c2ill": (2000, 50, 2, "ill"),
    "c2k": (2000, 20, 2, ""), "c10k": (2000, 20, 10, ""), "rk": (2000, 20, 0, ""),
    "c2f1": (2000, 1, 2, ""), "c100f1": (2000, 1, 100, ""), "c2f256": (2000, 256, 2, ""),
    "r20kf256": (20_000, 256, 0, ""), "c2f1big": (50_000, 1, 2, ""), "c2f1w": (30_000, 1, 2, ""),
    "c100f1w": (30_000, 1, 100, ""),
}

LR, SGDC, SGDR, SVC = "LogisticRegression", "SGDClassifier", "SGDRegressor", "LinearSVC"
MLPC, MLPR, DTC, DTR = "MLPClassifier", "MLPRegressor", "DecisionTreeClassifier", "DecisionTreeRegressor"
RFC, RFR = "RandomForestClassifier", "RandomForestRegressor"
DEEP = [256, 256, 256]
CASES: list[tuple[str, str, dict]] = [
    *[(LR, d, {"solver": s, "max_iter": it, "tol": T0})
      for s, it in (("lbfgs", 100), ("newton-cg", 30), ("newton-cholesky", 30), ("sag", 200), ("saga", 200))
      for d in ("c2", "c30", "c2x")],
    (LR, "c2", {"solver": "saga", "penalty": "l1", "max_iter": 200, "tol": T0}),
    (LR, "c2", {"solver": "saga", "penalty": "elasticnet", "l1_ratio": 0.5, "max_iter": 200, "tol": T0}),
    (LR, "c2", {"solver": "liblinear", "dual": True, "max_iter": 1000, "tol": T0}),
    (LR, "c30", {"solver": "liblinear", "dual": True, "max_iter": 300, "tol": T0}),
    (LR, "tiny", {"solver": "newton-cg", "max_iter": 10, "tol": T0}),
    (LR, "tiny", {"solver": "lbfgs", "max_iter": 100, "tol": T0}),
    *[(SGDC, d, {"loss": loss, "max_iter": 50, "tol": None}) for loss in ("hinge", "log_loss")
      for d in ("c2", "c30")],
    (SGDC, "c2", {"max_iter": 50, "tol": None, "average": True, "penalty": "elasticnet"}),
    (SGDC, "c2", {"max_iter": 50, "tol": None, "early_stopping": True, "n_iter_no_change": 1000}),
    (SGDR, "r", {"max_iter": 100, "tol": None}), (SGDR, "rx", {"max_iter": 100, "tol": None}),
    *[(SVC, d, {"loss": loss, "max_iter": 1000, "tol": T0}) for loss in ("hinge", "squared_hinge")
      for d in ("c2", "c30", "c2x")],
    (SVC, "c30", {"multi_class": "crammer_singer", "max_iter": 300, "tol": T0}),
    *[("Ridge", d, {"solver": s, "max_iter": 1000, "tol": T0})
      for s in ("auto", "svd", "cholesky", "lsqr", "sparse_cg") for d in ("r", "rw")],
    *[("Ridge", d, {"solver": s, "positive": True, "max_iter": it, "tol": T0})
      for s, it in (("auto", None), ("lbfgs", 1000)) for d in ("r", "rw", "rx", "rill")],
    (LR, "c2ill", {"max_iter": 1000, "tol": T0}),
    (MLPR, "rill", {"hidden_layer_sizes": [16], "solver": "lbfgs", "max_iter": 300, "tol": T0}),
    *[("LinearRegression", d, {"positive": p}) for p in (False, True) for d in ("r", "rw")],
    ("GaussianNB", "c30", {}), ("GaussianNB", "c2w", {}),
    (MLPC, "c2", {"hidden_layer_sizes": DEEP, "batch_size": 1, "max_iter": 1, "tol": T0}),
    (MLPC, "c2", {"hidden_layer_sizes": [8], "batch_size": 1, "max_iter": 3, "tol": T0}),
    (MLPC, "c2", {"hidden_layer_sizes": DEEP, "max_iter": 10, "tol": T0}),
    (MLPC, "c2big", {"hidden_layer_sizes": [64], "batch_size": 3000, "max_iter": 50, "tol": T0}),
    (MLPC, "c30", {"hidden_layer_sizes": [64, 64], "solver": "sgd", "max_iter": 20, "tol": T0}),
    (MLPC, "c2", {"hidden_layer_sizes": [64], "early_stopping": True, "max_iter": 30, "tol": T0,
                  "n_iter_no_change": 10_000}),
    (MLPC, "c2", {"hidden_layer_sizes": DEEP, "solver": "lbfgs", "max_iter": 20, "tol": T0}),
    (MLPC, "c30", {"hidden_layer_sizes": [32], "solver": "lbfgs", "max_iter": 100, "tol": T0}),
    (MLPC, "c2x", {"hidden_layer_sizes": [32], "solver": "lbfgs", "max_iter": 100, "tol": T0}),
    (MLPR, "r", {"hidden_layer_sizes": [8], "batch_size": 1, "max_iter": 3, "tol": T0}),
    (MLPR, "r", {"hidden_layer_sizes": [64, 64], "solver": "lbfgs", "max_iter": 100, "tol": T0}),
    (MLPR, "rx", {"hidden_layer_sizes": [32], "solver": "lbfgs", "max_iter": 100, "tol": T0}),
    (MLPR, "rbig", {"hidden_layer_sizes": [16], "max_iter": 50, "tol": T0}),
    # the spec of tests/e2e/test_hard_limits_process.py (one layer of 256, 500 epochs, batch "auto", no
    # early stop, 2,000 x 20), and its neighbours: sgd, 2-3 layers, batch sizes 32 to all rows, 10 classes,
    # regression
    (MLPC, "c2k", {"hidden_layer_sizes": [256], "max_iter": 500, "tol": T0, "n_iter_no_change": 10_000}),
    *[(MLPC, "c2k", {"hidden_layer_sizes": [256], "solver": s, "batch_size": b, "max_iter": 20, "tol": T0,
                     "n_iter_no_change": 10_000}) for s in ("adam", "sgd") for b in (32, 64, 500, 2000)],
    (MLPC, "c2k", {"hidden_layer_sizes": [256], "solver": "sgd", "max_iter": 50, "tol": T0}),
    *[(MLPC, "c2k", {"hidden_layer_sizes": layers, "solver": s, "max_iter": 10, "tol": T0})
      for layers in ([256, 256], DEEP) for s in ("adam", "sgd")],
    (MLPC, "c2k", {"hidden_layer_sizes": [256, 256], "batch_size": 32, "max_iter": 3, "tol": T0}),
    (MLPC, "c10k", {"hidden_layer_sizes": [256], "max_iter": 20, "tol": T0}),
    (MLPR, "rk", {"hidden_layer_sizes": [256], "max_iter": 20, "tol": T0}),
    (MLPR, "rk", {"hidden_layer_sizes": DEEP, "solver": "sgd", "batch_size": 32, "max_iter": 2, "tol": T0}),
    # thin layers, where the elementwise work per unit outweighs the products: 1 feature into 256 units, 100
    # classes after 1 unit, 256 features into 1 unit, layers of 1 unit with batch_size 1; more rows
    (MLPC, "c2f1", {"hidden_layer_sizes": [256], "batch_size": 2000, "max_iter": 50, "tol": T0}),
    (MLPC, "c2f1", {"hidden_layer_sizes": [256], "solver": "lbfgs", "max_iter": 50, "tol": T0}),
    (MLPC, "c100f1", {"hidden_layer_sizes": [1], "batch_size": 2000, "max_iter": 200, "tol": T0,
                      "n_iter_no_change": 10_000}),
    (MLPC, "c2f256", {"hidden_layer_sizes": [1], "batch_size": 2000, "max_iter": 100, "tol": T0,
                      "n_iter_no_change": 10_000}),
    (MLPC, "c2f1", {"hidden_layer_sizes": [1, 1, 1], "batch_size": 1, "max_iter": 2, "tol": T0}),
    (MLPR, "r20kf256", {"hidden_layer_sizes": [1], "batch_size": 20_000, "max_iter": 20, "tol": T0,
                        "n_iter_no_change": 10_000}),
    (MLPC, "c2f1big", {"hidden_layer_sizes": [256], "max_iter": 5, "tol": T0}),
    # one batch of 30,000 rows: each layer's arrays are out of the cache (dapp/ml/cost.py _CACHED_BYTES)
    (MLPC, "c2f1w", {"hidden_layer_sizes": [256], "batch_size": 30_000, "max_iter": 3, "tol": T0}),
    (MLPC, "c2f1w", {"hidden_layer_sizes": [256], "batch_size": 10_000, "max_iter": 3, "tol": T0}),
    (MLPC, "c100f1w", {"hidden_layer_sizes": [1], "batch_size": 30_000, "max_iter": 5, "tol": T0}),
    *[(DTC, d, {"max_depth": 32, **kw}) for d in ("c2big", "c30") for kw in (
        {}, {"criterion": "entropy"}, {"splitter": "random"}, {"max_leaf_nodes": 50},
        {"max_leaf_nodes": 100_000}, {"max_features": "sqrt"})],
    *[(DTR, "rbig", {"max_depth": 32, **kw}) for kw in (
        {}, {"criterion": "friedman_mse"}, {"criterion": "poisson"}, {"max_leaf_nodes": 100})],
    (RFC, "c2big", {"max_depth": 32, "n_estimators": 10}),
    (RFC, "c30", {"max_depth": 32, "n_estimators": 10, "max_features": None, "bootstrap": False}),
    (RFC, "c2big", {"max_depth": 8, "n_estimators": 50, "max_samples": 0.1}),
    (RFR, "rbig", {"max_depth": 32, "n_estimators": 5}),
]


def dataset(key: str) -> tuple[np.ndarray, np.ndarray, int]:
    """(X, y, classes) of a synthetic data set: a noisy linear target; hostile sets scale X to ±1e9."""
    rows, features, classes, hostile = DATA[key]
    rng = np.random.default_rng(rows * 1000 + features)
    X = rng.normal(size=(rows, features))
    score = X @ rng.normal(size=features) + rng.normal(scale=0.5, size=rows)
    if classes:
        edges = np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1])
        y = np.searchsorted(edges, score).astype(np.int64)
    else:
        y = np.abs(score)  # non-negative for the poisson criterion
    if hostile == "x":
        X = np.clip(X * 1e9, -1e9, 1e9)
        y = y if classes else np.clip(y * 1e9, -1e9, 1e9)
    if hostile == "ill":
        X = np.clip(X * np.logspace(-9, 9, features), -1e9, 1e9)
        y = y if classes else y * 1e3
    return X, y, max(classes, 1)


def measure(estimator: str, params: dict, key: str) -> tuple[int, int]:
    """(estimated units, measured ns) of fitting the spec on the data set: the faster of two fits (the
    machine is shared: the slower one measures the neighbours too), one if the first took over 0.5 s."""
    estimate, first = _fit(estimator, params, key)
    return estimate, first if first > 500_000_000 else min(first, _fit(estimator, params, key)[1])


def _fit(estimator: str, params: dict, key: str) -> tuple[int, int]:
    from threadpoolctl import threadpool_limits

    X, y, classes = dataset(key)
    spec = parse_spec({"estimator": estimator, "params": params})
    estimate = estimate_work(spec, X.shape[0], X.shape[1], classes)
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = build_estimator(spec, 0)
        began = time.process_time_ns()
        try:
            model.fit(X, y)
        except ValueError:  # a diverged fit scikit-learn refuses still took its time
            pass
        return estimate, time.process_time_ns() - began


def main() -> None:
    """Prints one row per case and records the smallest ratio."""
    warmed: set[str] = set()
    rows = [("case", "data", "estimate", "measured ns", "ratio", "")]
    ratios = []
    for estimator, key, params in CASES:
        if estimator not in warmed:  # the first fit of a class pays its imports: not counted
            measure(estimator, params, "tiny" if "Classifier" in estimator or estimator in (LR, SVC, "GaussianNB")
                    else "r")
            warmed.add(estimator)
        estimate, measured = measure(estimator, params, key)
        ratio = estimate / measured
        ratios.append(ratio)
        flag = "UNDER" if ratio < 1 else "thin" if ratio < MARGIN else ""
        shown = ",".join(f"{k}={v}" for k, v in params.items() if v != T0)
        rows.append((f"{estimator}({shown})"[:90], key, f"{estimate:.3g}", f"{measured:.3g}", f"{ratio:.2f}", flag))
    print_table(rows)
    low = min(ratios)
    print(f"\n{len(ratios)} cases; smallest ratio {low:.2f}; {sum(r < 1 for r in ratios)} below 1, "
          f"{sum(r < MARGIN for r in ratios)} below {MARGIN:g}")
    record(f"smallest estimate / measured ratio ({len(ratios)} fits)", f"{low:.2f}", f">= {MARGIN:g}")


if __name__ == "__main__":
    main()
