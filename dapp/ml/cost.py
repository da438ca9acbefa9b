"""A work estimate for one training, checked before training starts.

The estimate is a deliberately pessimistic count of multiply-adds (rows x features x iterations,
with a factor per solver), hand-written because scikit-learn offers none. Each bound of the catalogue
is reasonable alone, but their product is not, so the product itself is bounded by
``MLLimits.max_work``. The factors were calibrated so that the estimate stays above the measured
cost on the bundled datasets (see bench/ml_submission.py and docs/MODELS.md).
"""

from __future__ import annotations

import math

from dapp.ml.errors import ModelError
from dapp.ml.limits import DEFAULT_LIMITS, MLLimits
from dapp.ml.spec import ModelSpec

_LR_FACTOR = {"lbfgs": 4, "liblinear": 4, "newton-cg": 20, "sag": 2, "saga": 2}
_TREE_NODE_BYTES = 64  # one node record of scikit-learn's Tree


def estimate_work(spec: ModelSpec, rows: int, features: int, classes: int) -> int:
    """Estimated multiply-adds to fit ``spec`` on ``rows`` x ``features`` (``classes`` = 1 for
    regression)."""
    p = spec.param_dict()
    name, n, f = spec.estimator, rows, features
    outputs = classes if classes > 2 else 1
    closed_form = n * f * f + f**3
    if name == "LogisticRegression":
        if p["solver"] == "newton-cholesky":
            return p["max_iter"] * closed_form * outputs
        return p["max_iter"] * n * f * outputs * _LR_FACTOR[p["solver"]]
    if name in ("SGDClassifier", "SGDRegressor", "LinearSVC"):
        return p["max_iter"] * n * f * outputs * 2
    if name == "Ridge":
        iterative = p["solver"] in ("lsqr", "sparse_cg", "lbfgs")
        return 4 * closed_form + (2 * (p["max_iter"] or 1000) * n * f if iterative else 0)
    if name == "LinearRegression":
        return 4 * closed_form
    if name == "GaussianNB":
        return 4 * n * f * classes
    if spec.definition.family == "mlp":
        units = [f, *p["hidden_layer_sizes"], outputs]
        weights = sum(a * b for a, b in zip(units, units[1:]))
        passes = min(p["max_fun"], 2 * p["max_iter"]) if p["solver"] == "lbfgs" else p["max_iter"]
        return 6 * passes * n * weights
    trees, sample = _forest_shape(spec, rows)
    considered = features_considered(p["max_features"], f)
    depth = min(p["max_depth"], sample)
    return 4 * trees * considered * sample * max(1, math.ceil(math.log2(sample + 1))) * depth


def worst_tree_bytes(spec: ModelSpec, rows: int, classes: int) -> int:
    """Upper bound of the memory the fitted trees can take (0 for other estimators)."""
    if spec.definition.family not in ("tree", "forest"):
        return 0
    p = spec.param_dict()
    trees, sample = _forest_shape(spec, rows)
    nodes = min(2 ** (p["max_depth"] + 1) - 1, 2 * sample - 1)
    if p["max_leaf_nodes"] is not None:
        nodes = min(nodes, 2 * p["max_leaf_nodes"] - 1)
    return trees * nodes * (_TREE_NODE_BYTES + 8 * classes)


def check_work(spec: ModelSpec, rows: int, features: int, classes: int,
               limits: MLLimits = DEFAULT_LIMITS) -> None:
    """ModelError (``training_too_costly``) if the estimate or the tree memory exceeds the limits."""
    work = estimate_work(spec, rows, features, classes)
    if work > limits.max_work:
        raise ModelError(f"training {spec.estimator} on {rows} rows x {features} features is estimated at "
                         f"{work:.3g} operations; the limit is {limits.max_work:.3g} (lower max_iter, "
                         "the model size or the data size)", code="training_too_costly")
    memory = worst_tree_bytes(spec, rows, classes)
    if memory > limits.max_train_memory:
        raise ModelError(f"the trees of {spec.estimator} could take {memory} bytes on {rows} rows; the limit "
                         f"is {limits.max_train_memory} (lower n_estimators, max_depth or max_leaf_nodes)",
                         code="training_too_costly")


def _forest_shape(spec: ModelSpec, rows: int) -> tuple[int, int]:
    """(number of trees, rows each tree is grown on)."""
    p = spec.param_dict()
    if spec.definition.family == "tree":
        return 1, rows
    sample = rows
    if p["bootstrap"] and p["max_samples"] is not None:
        value = p["max_samples"]
        sample = min(rows, value) if isinstance(value, int) else max(1, round(rows * value))
    return p["n_estimators"], sample


def features_considered(value: object, features: int) -> int:
    """Features a tree split examines: scikit-learn's ``max_features_`` for this ``max_features``."""
    if value is None:
        return features
    if value == "sqrt":
        return max(1, int(math.sqrt(features)))
    if value == "log2":
        return max(1, int(math.log2(features)))
    if isinstance(value, int):
        return min(value, features)
    return max(1, int(value * features))
