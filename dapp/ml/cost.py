"""A work estimate for one training, checked before training starts.

Each bound of the catalogue is reasonable alone, but their product is not, so the product itself is
bounded by ``MLLimits.max_work``. The estimate (hand-written: scikit-learn offers none) counts the
multiply-adds of every iteration the parameters allow (rows x features x outputs x max_iter, trees x
features x rows x log(rows) x depth...), times a per-solver factor, plus fixed costs per iteration,
batch and tree, calibrated on one x86-64 core so that one unit is about a nanosecond and the
estimate stays above the measured time (docs/MODELS.md lists the measurements).
"""

from __future__ import annotations

import itertools
import math

from dapp.ml.errors import ModelError
from dapp.ml.limits import DEFAULT_LIMITS, MLLimits
from dapp.ml.spec import ModelSpec

# Per solver: (cost of one multiply-add over the data, fixed cost of one iteration), in units that
# approximate nanoseconds of one x86-64 core (measured on this machine under load: see docs/MODELS.md).
_SOLVER = {
    "lbfgs": (4, 2_000_000), "newton-cg": (20, 2_000_000), "sag": (100, 100_000), "saga": (100, 100_000),
    "liblinear": (100, 10_000), "sgd": (15, 10_000),
}
_TREE_NODE_BYTES = 64  # one node record of scikit-learn's Tree
_PER_TREE = 3_000_000
_PER_BATCH = 50_000


def estimate_work(spec: ModelSpec, rows: int, features: int, classes: int) -> int:
    """Estimated cost of fitting ``spec`` on ``rows`` x ``features`` (``classes`` = 1 for regression),
    in units of roughly a nanosecond of one native core, always assuming every iteration runs."""
    p = spec.param_dict()
    name, n, f = spec.estimator, rows, features
    outputs = classes if classes > 2 else 1
    closed_form = n * f * f + f**3
    if name == "LogisticRegression":
        if p["solver"] == "newton-cholesky":
            return p["max_iter"] * (closed_form * outputs + _SOLVER["lbfgs"][1])
        return p["max_iter"] * _linear_pass(p["solver"], n * f * outputs)
    if name in ("SGDClassifier", "SGDRegressor"):
        return p["max_iter"] * _linear_pass("sgd", n * f * outputs)
    if name == "LinearSVC":
        return p["max_iter"] * _linear_pass("liblinear", n * f * outputs)
    if name == "Ridge":
        iterative = p["solver"] in ("lsqr", "sparse_cg", "lbfgs")
        return 4 * closed_form + (10 * (p["max_iter"] or 1000) * n * f if iterative else 0)
    if name == "LinearRegression":
        return 4 * closed_form
    if name == "GaussianNB":
        return 4 * n * f * classes
    if spec.definition.family == "mlp":
        units = [f, *p["hidden_layer_sizes"], outputs]
        weights = sum(a * b for a, b in itertools.pairwise(units))
        if p["solver"] == "lbfgs":
            return min(p["max_fun"], 2 * p["max_iter"]) * (3 * n * weights + _SOLVER["lbfgs"][1])
        batches = math.ceil(n / _mlp_batch(p, n))
        return p["max_iter"] * (3 * n * weights + _PER_BATCH * batches + _SOLVER["lbfgs"][1])
    trees, sample = _forest_shape(spec, rows)
    considered = features_considered(p["max_features"], f)
    depth = min(p["max_depth"], sample)
    log_n = max(1, math.ceil(math.log2(sample + 1)))
    return trees * (20 * considered * sample * log_n * depth + _PER_TREE)


def _mlp_batch(p: dict, rows: int) -> int:
    """Rows per gradient step of an MLP (lbfgs always uses all of them)."""
    if p["solver"] == "lbfgs":
        return rows
    return min(200, rows) if p["batch_size"] == "auto" else min(p["batch_size"], rows)


def _linear_pass(solver: str, multiply_adds: int) -> int:
    per_unit, per_iteration = _SOLVER[solver]
    return per_unit * multiply_adds + per_iteration


def worst_memory(spec: ModelSpec, rows: int, features: int, classes: int) -> int:
    """Upper bound of the bytes a fit may take beyond the data: the trees it may grow, or the MLP
    activations and gradients of one batch (the whole data for lbfgs). 0 for the other estimators,
    whose working memory is a small multiple of the data, which the CSV limits bound."""
    p = spec.param_dict()
    family = spec.definition.family
    if family == "mlp":
        outputs = classes if classes > 2 else 1
        return 32 * _mlp_batch(p, rows) * (features + sum(p["hidden_layer_sizes"]) + outputs)
    if family not in ("tree", "forest"):
        return 0
    trees, sample = _forest_shape(spec, rows)
    nodes = min(2 ** (p["max_depth"] + 1) - 1, 2 * sample - 1)
    if p["max_leaf_nodes"] is not None:
        nodes = min(nodes, 2 * p["max_leaf_nodes"] - 1)
    return trees * nodes * (_TREE_NODE_BYTES + 8 * classes)


def check_work(spec: ModelSpec, rows: int, features: int, classes: int,
               limits: MLLimits = DEFAULT_LIMITS) -> None:
    """ModelError (``training_too_costly``) if the work estimate or the memory bound exceeds the limits."""
    work = estimate_work(spec, rows, features, classes)
    if work > limits.max_work:
        raise ModelError(f"training {spec.estimator} on {rows} rows x {features} features is estimated at "
                         f"{work:.3g} operations; the limit is {limits.max_work:.3g} (lower max_iter, "
                         "the model size or the data size)", code="training_too_costly")
    memory = worst_memory(spec, rows, features, classes)
    if memory > limits.max_train_memory:
        raise ModelError(f"fitting {spec.estimator} on {rows} rows could take {memory} bytes; the limit is "
                         f"{limits.max_train_memory} (lower n_estimators, max_depth, max_leaf_nodes, the "
                         "layer sizes or batch_size)", code="training_too_costly")


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
