"""The ML engine's errors: every one is a :class:`dapp.errors.DomainError` with a specific ``code``.

``MLError`` is the base. Its subclasses say which input is at fault; the ``code`` passed at each
raise site names the exact problem (the codes are listed in docs/MODELS.md).
"""

from __future__ import annotations

from dapp.errors import DomainError


class MLError(DomainError):
    """Base of the engine's errors (a bad model, dataset, metric or aggregation)."""

    code = "ml_error"


class ModelError(MLError):
    """A model file or spec is malformed, unknown, out of bounds or inconsistent."""

    code = "bad_model"


class UnsafeModelError(ModelError):
    """A model file is in a format that could run code when loaded (pickle, joblib...): never loaded."""

    code = "unsafe_model"


class ParamError(ModelError):
    """A hyper-parameter is unknown, of the wrong type or outside its bounds."""

    code = "bad_param"


class DatasetError(MLError):
    """A CSV dataset is malformed, too large, or does not fit the task or the other dataset."""

    code = "bad_dataset"


class MetricError(MLError):
    """The metric does not apply to the task or the model, or is undefined on the data."""

    code = "bad_metric"


class TrainingError(MLError):
    """scikit-learn refused to fit the model on the data (its message is kept)."""

    code = "training_failed"


class AggregationError(MLError):
    """Models cannot be averaged (estimator not averageable, different specs or shapes...)."""

    code = "cannot_aggregate"


class ResourceLimitError(MLError):
    """Training or scoring crossed a hard limit (CPU time or memory of the worker): that submission
    fails, never the machine."""

    code = "resource_limit"
