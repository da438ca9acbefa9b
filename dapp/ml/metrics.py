"""Metrics, their quantisation to integer millionths, and comparisons that know which way is better.

Classification: accuracy, balanced_accuracy, f1, roc_auc, log_loss. Regression: r2, mae, rmse.
``log_loss``, ``mae`` and ``rmse`` are losses (lower is better); the others are gains.

Evaluation is bounded like training: :func:`check_evaluation` gates its estimated work and memory
(rows x model size, and the prediction arrays) before it starts, and predictions are made in blocks
of :data:`BLOCK_ROWS` rows, so a wide model's intermediate arrays never span the whole validation set.
"""

from __future__ import annotations

import math
import warnings
from fractions import Fraction
from typing import Any

import numpy as np

from dapp.ml.catalogue import CLASSIFICATION, REGRESSION, TASKS
from dapp.ml.cost import evaluation_cycles
from dapp.ml.errors import MetricError, ModelError
from dapp.ml.limits import DEFAULT_LIMITS, MLLimits
from dapp.ml.spec import ModelSpec

SCALE = 1_000_000
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
METRICS = {
    CLASSIFICATION: ("accuracy", "balanced_accuracy", "f1", "roc_auc", "log_loss"),
    REGRESSION: ("r2", "mae", "rmse"),
}
LOSSES = frozenset({"log_loss", "mae", "rmse"})
BLOCK_ROWS = 2048  # rows predicted at once
_TREE_STEP = 10  # estimated cost of one node visited by a tree's prediction (a multiply-add costs 1)
_WHOLE_SET_ARRAYS = 4  # arrays of one value per row a metric may hold besides the predictions


def check_metric(task: str, metric: str) -> None:
    """MetricError unless ``metric`` applies to ``task``."""
    if task not in TASKS:
        raise MetricError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}", code="bad_task")
    if metric not in METRICS[task]:
        raise MetricError(f"metric {metric!r} does not apply to {task}; use one of "
                          f"{', '.join(METRICS[task])}", code="metric_not_for_task")


def quantise(value: float) -> int:
    """The metric value in integer millionths: the exact binary value of ``value`` times 10**6,
    rounded half to even, clamped to the int64 range. NaN is a MetricError."""
    if math.isnan(value):
        raise MetricError("the metric is undefined (NaN) on this validation set", code="metric_undefined")
    if value in (float("inf"), float("-inf")):
        return INT64_MAX if value > 0 else INT64_MIN
    return max(INT64_MIN, min(INT64_MAX, round(Fraction(value) * SCALE)))


def gain(metric: str, new: int, old: int) -> int:
    """How much ``new`` improves on ``old`` (millionths; negative when worse), for any metric."""
    return old - new if metric in LOSSES else new - old


def better(metric: str, a: int, b: int) -> bool:
    """Whether score ``a`` is strictly better than score ``b``."""
    return gain(metric, a, b) > 0


def meets(metric: str, score: int, threshold: int) -> bool:
    """Whether ``score`` reaches ``threshold``: ``>=`` for gains, ``<=`` (a maximum loss) for losses."""
    return gain(metric, score, threshold) >= 0


def evaluation_cost(spec: ModelSpec, arrays: dict[str, np.ndarray], rows: int, features: int) -> tuple[int, int]:
    """(estimated work, estimated peak bytes) of evaluating the trained model of ``spec`` (its
    ``arrays``) on ``rows`` x ``features``. Work: every weight once per row (a multiply-add), or for
    trees each tree's deepest path (the spec's ``max_depth``, which the model file's trees are
    checked against) and its leaf values. Memory: the arrays of one block (its features, every MLP
    layer's activations and the outputs) and the predictions of every row, with the metric's copies."""
    outputs = arrays["classes"].size if "classes" in arrays else 1
    p = spec.param_dict()
    if spec.definition.family in ("tree", "forest"):
        trees = arrays["tree_node_counts"].size
        per_row = _TREE_STEP * trees * (p["max_depth"] + outputs) + features
    else:
        per_row = sum(int(a.size) for a in arrays.values()) + features
    hidden = sum(p["hidden_layer_sizes"]) if spec.definition.family == "mlp" else 0
    block = min(rows, BLOCK_ROWS) * (features + hidden + 2 * outputs)
    whole = rows * (3 * outputs + _WHOLE_SET_ARRAYS)
    return rows * per_row, 8 * (block + whole)


def check_evaluation(spec: ModelSpec, arrays: dict[str, np.ndarray], rows: int, features: int,
                     limits: MLLimits = DEFAULT_LIMITS) -> None:
    """ModelError (``evaluation_too_costly``) if evaluating the model on that many rows is estimated
    over ``max_cycles`` (machine cycles, ``dapp.ml.cost.evaluation_cycles``) or ``max_train_memory``."""
    work, memory = evaluation_cost(spec, arrays, rows, features)
    cycles = evaluation_cycles(spec, work)
    if cycles > limits.max_cycles:
        raise ModelError(f"evaluating {spec.estimator} on {rows} rows is estimated at {cycles:.3g} machine cycles; "
                         f"the limit is {limits.max_cycles:.3g} (a smaller model)", code="evaluation_too_costly")
    if memory > limits.max_train_memory:
        raise ModelError(f"evaluating {spec.estimator} on {rows} rows could take {memory} bytes; the limit is "
                         f"{limits.max_train_memory}", code="evaluation_too_costly")


def predict_in_blocks(method: Any, X: np.ndarray) -> np.ndarray:
    """``method(X)`` (predict, predict_proba or decision_function) computed :data:`BLOCK_ROWS` rows at
    a time and concatenated: the same values (every catalogue model predicts each row on its own)."""
    if X.shape[0] <= BLOCK_ROWS:
        return method(X)
    return np.concatenate([method(X[start:start + BLOCK_ROWS]) for start in range(0, X.shape[0], BLOCK_ROWS)])


def evaluate(metric: str, estimator: Any, X: np.ndarray, y: np.ndarray) -> float:
    """The metric of a fitted estimator on (X, y), as scikit-learn computes it (see docs/MODELS.md
    for the choices: binary vs macro F1, probabilities vs decision function for ROC AUC)."""
    import sklearn.metrics as m

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if metric in METRICS[REGRESSION]:
                return _regression(m, metric, predict_in_blocks(estimator.predict, X), y)
            return _classification(m, metric, estimator, X, y)
        except ValueError as exc:
            raise MetricError(f"{metric} is undefined on this validation set: {exc}",
                              code="metric_undefined") from None


def _regression(m: Any, metric: str, predicted: np.ndarray, y: np.ndarray) -> float:
    if metric == "r2":
        return float(m.r2_score(y, predicted))
    if metric == "mae":
        return float(m.mean_absolute_error(y, predicted))
    return float(np.sqrt(m.mean_squared_error(y, predicted)))


def _classification(m: Any, metric: str, estimator: Any, X: np.ndarray, y: np.ndarray) -> float:
    classes = estimator.classes_
    if metric in ("accuracy", "balanced_accuracy", "f1"):
        predicted = predict_in_blocks(estimator.predict, X)
        if metric == "accuracy":
            return float(m.accuracy_score(y, predicted))
        if metric == "balanced_accuracy":
            return float(m.balanced_accuracy_score(y, predicted))
        labels = np.union1d(classes, y)
        if labels.size == 2:
            return float(m.f1_score(y, predicted, average="binary", pos_label=labels[1]))
        return float(m.f1_score(y, predicted, average="macro"))
    unseen = np.setdiff1d(y, classes)
    if unseen.size:
        raise MetricError(f"{metric} needs every validation label among the model's classes; "
                          f"unknown: {unseen[:10].tolist()}", code="metric_undefined")
    if metric == "log_loss":
        return float(m.log_loss(y, _probabilities(estimator, metric, X), labels=classes))
    if classes.size == 2:
        scores = (predict_in_blocks(estimator.predict_proba, X)[:, 1] if hasattr(estimator, "predict_proba")
                  else predict_in_blocks(estimator.decision_function, X))
        return float(m.roc_auc_score(y, scores))
    return float(m.roc_auc_score(y, _probabilities(estimator, metric, X), multi_class="ovr",
                                 average="macro", labels=classes))


def _probabilities(estimator: Any, metric: str, X: np.ndarray) -> np.ndarray:
    if not hasattr(estimator, "predict_proba"):
        raise MetricError(f"{metric} needs class probabilities, which this model does not give "
                          "(e.g. LinearSVC, or SGDClassifier without loss log_loss/modified_huber)",
                          code="metric_not_for_model")
    return predict_in_blocks(estimator.predict_proba, X)
