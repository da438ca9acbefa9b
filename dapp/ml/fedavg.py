"""FedAvg: the sample-weighted average of trained models of one spec.

- Linear models (LogisticRegression, SGD*, LinearSVC, Ridge, LinearRegression): ``coef``/``intercept``.
- MLPs: every ``coefs_i``/``intercepts_i``.
- GaussianNB: the per-class statistics are pooled exactly (counts add up, means and variances are
  combined with the between-model term), using each model's class proportions times its weight; with
  true sample counts as weights the result equals a GaussianNB fitted on the union of the data.
- Trees, forests and models with preprocessing cannot be averaged (AggregationError).

Sums run in the order given, so the caller must pass the models in a deterministic order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dapp.ml.errors import AggregationError
from dapp.ml.modelfile import Model


def check_compatible(first: Model, other: Model) -> None:
    """AggregationError unless both are trained models that FedAvg can average together."""
    for model in (first, other):
        if not model.trained:
            raise AggregationError("only trained models can be averaged", code="aggregate_untrained")
    spec = first.spec
    if not spec.definition.averageable:
        raise AggregationError(f"{spec.estimator} cannot be averaged; averageable: linear models, MLPs, "
                               "GaussianNB", code="aggregate_not_averageable")
    if spec.preprocessing:
        raise AggregationError("models with preprocessing cannot be averaged (each update's weights "
                               "are relative to its own scaling)", code="aggregate_not_averageable")
    if other.spec != spec:
        raise AggregationError(f"models differ in estimator or hyper-parameters ({other.spec.estimator} "
                               f"vs {spec.estimator})", code="aggregate_spec_mismatch")
    if other.features != first.features:
        raise AggregationError("models were trained on different feature columns",
                               code="aggregate_features_mismatch")
    for name, array in first.arrays.items():
        theirs = other.arrays[name]
        if theirs.shape != array.shape:
            raise AggregationError(f"array '{name}' has shape {theirs.shape}, expected {array.shape}",
                                   code="aggregate_shape_mismatch")
    if "classes" in first.arrays and not np.array_equal(first.arrays["classes"], other.arrays["classes"]):
        raise AggregationError("models have different classes", code="aggregate_classes_mismatch")


def aggregate(models: Sequence[tuple[Model, int]]) -> Model:
    """The FedAvg of ``(model, sample_count)`` pairs (counts > 0) as a new trained model."""
    if not models:
        raise AggregationError("nothing to aggregate", code="aggregate_empty")
    first = models[0][0]
    for model, weight in models:
        check_compatible(first, model)
        if isinstance(weight, bool) or not isinstance(weight, int) or weight <= 0:
            raise AggregationError(f"sample counts must be positive integers, got {weight!r}",
                                   code="aggregate_bad_weight")
    if first.spec.definition.family == "nb":
        arrays = _pool_gaussian_nb(first, models)
    else:
        total = sum(weight for _, weight in models)
        arrays = {}
        for name, array in first.arrays.items():
            if name == "classes":
                arrays[name] = array
                continue
            acc = np.zeros(array.shape, dtype=np.float64)
            for model, weight in models:
                acc += weight * model.arrays[name]
            arrays[name] = acc / total
    return Model(first.spec, first.features, arrays)


def _pool_gaussian_nb(first: Model, models: Sequence[tuple[Model, int]]) -> dict[str, np.ndarray]:
    shape = first.arrays["theta"].shape
    counts = np.zeros(shape[0])
    sums = np.zeros(shape)
    for model, weight in models:
        n = weight * model.arrays["class_count"] / model.arrays["class_count"].sum()
        counts += n
        sums += n[:, None] * model.arrays["theta"]
    theta = sums / counts[:, None]
    spread = np.zeros(shape)
    for model, weight in models:
        n = weight * model.arrays["class_count"] / model.arrays["class_count"].sum()
        raw_var = model.arrays["var"] - model.arrays["epsilon"]
        spread += n[:, None] * (raw_var + (model.arrays["theta"] - theta) ** 2)
    var = spread / counts[:, None]
    total = counts.sum()
    mean = counts @ theta / total
    overall_var = counts @ (var + (theta - mean) ** 2) / total
    epsilon = first.spec.param_dict()["var_smoothing"] * overall_var.max()
    return {
        "classes": first.arrays["classes"], "theta": theta, "var": var + epsilon, "class_count": counts,
        "class_prior": counts / total, "epsilon": np.asarray(epsilon, dtype=np.float64),
    }
