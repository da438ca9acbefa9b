"""FedAvg: the sample-weighted average of trained models of one spec.

- Linear models (LogisticRegression, SGD*, LinearSVC, Ridge, LinearRegression): ``coef``/``intercept``.
- MLPs: every ``coefs_i``/``intercepts_i``.
- GaussianNB: the per-class statistics are pooled exactly (counts add up, means and variances are
  combined with the between-model term), using each model's class proportions times its weight; with
  true sample counts as weights the result equals a GaussianNB fitted on the union of the data.
- Trees, forests and models with preprocessing cannot be averaged (AggregationError).

Sums run in the order given, so the caller must pass the models in a deterministic order.

Federated rounds check every update against the job's current model, never against another update
(:func:`check_update`): the same spec, and the same features, classes and array shapes (those of the
global model once trained, else those the validation set implies), and a bounded parameter distance
from it: with a job's ``clip_norm`` (differentially private updates), at most that L2 length from the
global model (from zero while the global model is an untrained spec), up to :data:`CLIP_TOLERANCE`;
without, once the global model is trained, at most ``MAX_UPDATE_DISTANCE x max(||global||, 1)``. A
model file's privacy declaration is only accepted under a ``clip_norm`` (the bound is what gives a
declared epsilon its meaning).

Robust alternatives to FedAvg, coordinate by coordinate (linear models and MLPs): :func:`median`
(each update one vote, sample counts ignored) and :func:`trimmed_mean` (the extreme values of each
coordinate dropped by count, the rest averaged by sample count, ``TRIM`` of each end). A rounds
job selects one with its ``aggregation`` (:data:`METHODS`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from dapp.ml.errors import AggregationError
from dapp.ml.modelfile import Model

MAX_UPDATE_DISTANCE = 10  # ||update - global|| <= MAX_UPDATE_DISTANCE * max(||global||, 1) (parameters)
CLIP_TOLERANCE = 1e-9
"""Relative slack of the ``clip_norm`` bound: an update passes at a distance up to ``clip x (1 +
CLIP_TOLERANCE)``. The contributor clips in float64 and the machine measures ``update - global`` from
the file's weights, so an update clipped exactly to the bound may measure a few ulps over it; 1e-9 is
far above that rounding and far below any change of the model that matters."""


def check_compatible(first: Model, other: Model) -> None:
    """AggregationError unless both are trained models that FedAvg can average together."""
    for model in (first, other):
        if not model.trained:
            raise AggregationError("only trained models can be averaged", code="aggregate_untrained")
    _require_same_spec(first, other)
    _require_same_shape(first, other)


def _require_same_shape(first: Model, other: Model) -> None:
    """AggregationError unless two trained models of one spec share features, array shapes and classes."""
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


def _require_same_spec(reference: Model, other: Model) -> None:
    spec = reference.spec
    if not spec.definition.averageable:
        raise AggregationError(f"{spec.estimator} cannot be averaged; averageable: linear models, MLPs, "
                               "GaussianNB", code="aggregate_not_averageable")
    if spec.preprocessing:
        raise AggregationError("models with preprocessing cannot be averaged (each update's weights "
                               "are relative to its own scaling)", code="aggregate_not_averageable")
    if other.spec != spec:
        raise AggregationError(f"models differ in estimator or hyper-parameters ({other.spec.estimator} "
                               f"vs {spec.estimator})", code="aggregate_spec_mismatch")


def check_update(update: Model, base: Model, features: tuple[str, ...], classes: np.ndarray | None,
                 clip: float = 0.0) -> float:
    """The update's parameter distance from ``base`` (from zero while ``base`` is untrained), once it
    may join a round of a job whose current model is ``base``; AggregationError otherwise.

    The update must be trained, of ``base``'s spec (estimator, hyper-parameters, preprocessing). A
    trained ``base`` fixes the features, classes and array shapes (as :func:`check_compatible`); an
    untrained ``base`` (a spec) leaves them to the job's validation set: ``features`` (its columns, in
    order) and ``classes`` (its labels, None for regression). The distance must be at most ``clip``
    (the job's ``clip_norm`` in parameter units, up to :data:`CLIP_TOLERANCE`) if it is positive,
    else, once ``base`` is trained, :data:`MAX_UPDATE_DISTANCE` ``x max(||base||, 1)``. An update that
    declares privacy needs a ``clip``. The caller checks that the update's arrays fit its own features
    and classes (a model file's checks), so every update accepted this way can be averaged with every
    other."""
    if not update.trained:
        raise AggregationError("only trained models can be averaged", code="aggregate_untrained")
    _require_same_spec(base, update)
    if update.privacy is not None and clip <= 0:
        raise AggregationError("the update declares differential privacy, but the job has no clip_norm: "
                               "without a bound on each update's distance a declared epsilon means nothing; "
                               "submit it without the declaration, or to a job with a clip_norm",
                               code="privacy_without_clip_norm")
    if base.trained:
        _require_same_shape(base, update)
        far = distance(update, base)
    else:
        _require_validation_shape(update, features, classes)
        far = norm(update)
    if clip > 0:
        if far > clip * (1 + CLIP_TOLERANCE):
            raise AggregationError(f"the update lies {far:.9g} from the global model, more than the job's "
                                   f"clip_norm {clip:.9g} (clip the update to it before adding noise, and "
                                   "again after)", code="update_beyond_clip_norm")
    elif base.trained and far > MAX_UPDATE_DISTANCE * max(norm(base), 1.0):
        raise AggregationError(f"the update lies {far:.6g} from the global model, more than "
                               f"{MAX_UPDATE_DISTANCE} x max(its norm, 1) = "
                               f"{MAX_UPDATE_DISTANCE * max(norm(base), 1.0):.6g}",
                               code="aggregate_update_too_far")
    return far


def _require_validation_shape(update: Model, features: tuple[str, ...], classes: np.ndarray | None) -> None:
    """AggregationError unless an update of a job without a trained model has the validation set's
    features and classes."""
    if update.features != features:
        raise AggregationError(f"the update's features {list(update.features)[:20]} are not the validation "
                               f"columns {list(features)[:20]}", code="aggregate_features_mismatch")
    if classes is not None and not np.array_equal(update.arrays["classes"], classes):
        raise AggregationError(f"the update's classes {update.arrays['classes'].tolist()[:20]} are not the "
                               f"validation set's {classes.tolist()[:20]}", code="aggregate_classes_mismatch")


def parameters(model: Model) -> list[str]:
    """The arrays that are the model's parameters, in a fixed order: every array but ``classes``; for
    GaussianNB ``theta``, ``var`` and ``class_prior`` (only the proportions of ``class_count`` are
    used and ``epsilon`` is derived)."""
    if model.spec.definition.family == "nb":
        return ["class_prior", "theta", "var"]
    return sorted(name for name in model.arrays if name != "classes")


def norm(model: Model) -> float:
    """The Euclidean norm of a trained model's parameters, all arrays taken as one vector."""
    return math.sqrt(sum(float(np.square(model.arrays[name]).sum()) for name in parameters(model)))


def distance(model: Model, other: Model) -> float:
    """The Euclidean distance between the parameters of two compatible trained models."""
    return math.sqrt(sum(float(np.square(model.arrays[name] - other.arrays[name]).sum())
                         for name in parameters(model)))


def _checked(models: Sequence[tuple[Model, int]]) -> Model:
    """The first model, once all are compatible with it and every weight is a positive integer."""
    if not models:
        raise AggregationError("nothing to aggregate", code="aggregate_empty")
    first = models[0][0]
    for model, weight in models:
        check_compatible(first, model)
        if isinstance(weight, bool) or not isinstance(weight, int) or weight <= 0:
            raise AggregationError(f"sample counts must be positive integers, got {weight!r}",
                                   code="aggregate_bad_weight")
    return first


def aggregate(models: Sequence[tuple[Model, int]]) -> Model:
    """The FedAvg of ``(model, sample_count)`` pairs (counts > 0) as a new trained model."""
    first = _checked(models)
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


def median(models: Sequence[tuple[Model, int]]) -> Model:
    """The coordinate-wise median of ``(model, sample_count)`` pairs (linear models and MLPs). Sample
    counts are checked but ignored: each update is one vote, so hostile updates, whatever counts
    they claim, move no coordinate outside the range of the others while they are fewer than half.
    With an even count a coordinate is the mean of its two middle values. Independent of order."""
    def middle(ordered: np.ndarray, _: np.ndarray) -> np.ndarray:
        n = ordered.shape[0]
        return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2
    return _coordinatewise(models, middle)


def trimmed_mean(models: Sequence[tuple[Model, int]], trim: float) -> Model:
    """The coordinate-wise trimmed mean (linear models and MLPs): in each coordinate the
    ``floor(trim x n)`` smallest and as many largest of the ``n`` values are dropped, by count (a
    claimed sample count cannot shield a value), and the rest are averaged weighted by their sample
    counts. ``0 <= trim < 0.5``; ``trim = 0`` is FedAvg. Equal values keep the order given (a stable
    sort), so, as for FedAvg, the caller passes the models in a deterministic order."""
    if not 0 <= trim < 0.5:
        raise AggregationError(f"trim must be in [0, 0.5), got {trim!r}", code="aggregate_bad_trim")
    cut = math.floor(trim * len(models))

    def kept_mean(ordered: np.ndarray, weights: np.ndarray) -> np.ndarray:
        acc = np.zeros(ordered.shape[1:], dtype=np.float64)
        total = np.zeros(ordered.shape[1:], dtype=np.float64)
        for row in range(cut, ordered.shape[0] - cut):
            acc += weights[row] * ordered[row]
            total += weights[row]
        return acc / total
    return _coordinatewise(models, kept_mean)


def _coordinatewise(models: Sequence[tuple[Model, int]],
                    reduce: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Model:
    """Applies ``reduce(sorted values, their weights)`` to every coordinate of every parameter
    array; the values of each coordinate are sorted along the first axis (a stable sort)."""
    first = _checked(models)
    if first.spec.definition.family == "nb":
        raise AggregationError("GaussianNB statistics are pooled (FedAvg), not voted on coordinate by "
                               "coordinate", code="aggregate_rule_unsupported")
    weights = np.array([float(weight) for _, weight in models])
    arrays = dict(first.arrays)
    for name in parameters(first):
        stacked = np.stack([model.arrays[name] for model, _ in models])
        order = np.argsort(stacked, axis=0, kind="stable")
        ordered = np.take_along_axis(stacked, order, axis=0)
        arrays[name] = np.asarray(reduce(ordered, weights[order]), dtype=np.float64)
    return Model(first.spec, first.features, arrays)


TRIM = 0.2  # trimmed_mean: the share of values dropped at each end of every coordinate

METHODS: dict[str, Callable[[Sequence[tuple[Model, int]]], Model]] = {
    "fedavg": aggregate,
    "median": median,
    "trimmed_mean": lambda models: trimmed_mean(models, TRIM),
}
"""A job's ``aggregation`` -> its rule; every rule is deterministic for a given order of models."""


def method(name: str) -> Callable[[Sequence[tuple[Model, int]]], Model]:
    """The aggregation rule called ``name``, or AggregationError."""
    if name not in METHODS:
        raise AggregationError(f"aggregation {name!r} is not one of {', '.join(METHODS)}",
                               code="aggregate_rule_unsupported")
    return METHODS[name]
