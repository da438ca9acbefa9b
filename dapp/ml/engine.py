"""The ML engine's API for the job rules: bytes and ints in, frozen values or :class:`MLError` out.

    check_model(model_bytes, task=None) -> ModelInfo
    check_dataset(csv_bytes, label, task) -> DatasetInfo
    check_metric(task, metric) -> None
    score(task=, metric=, label=, validation_csv=, model_bytes=, train_csv=, base_model=, seed=) -> Scored
    aggregate([(model_bytes, sample_count), ...]) -> bytes
    check_compatible(update_bytes, global_bytes) -> None
    derive_seed(*parts) -> int
    gain / better / meets (metric-aware comparisons of scores in millionths)

Every error is an :class:`dapp.ml.errors.MLError` (a DomainError) with a specific ``code``.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Sequence

from dapp.ml import fedavg
from dapp.ml.dataset import Dataset, parse_dataset
from dapp.ml.errors import DatasetError, ModelError
from dapp.ml.fitted import extract, restore
from dapp.ml.limits import DEFAULT_LIMITS, MLLimits
from dapp.ml.metrics import METRICS, better, check_metric, evaluate, gain, meets, quantise
from dapp.ml.modelfile import Model, read_model, write_model
from dapp.ml.spec import MAX_SEED
from dapp.ml.train import fit, single_thread

__all__ = [
    "DatasetInfo", "ModelInfo", "Scored", "METRICS", "aggregate", "better", "check_compatible",
    "check_dataset", "check_metric", "check_model", "derive_seed", "gain", "meets", "score",
]

_CACHE_ENTRIES = 4  # parsed validation sets kept (by content hash, label, task and limits) ...
_CACHE_BYTES = 64 << 20  # ... as long as their arrays take at most this much together
_cache: OrderedDict[tuple, Dataset] = OrderedDict()


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What a model file holds. ``features``/``classes`` are None for an untrained spec."""

    estimator: str
    task: str
    trained: bool
    averageable: bool
    features: tuple[str, ...] | None
    classes: tuple[int, ...] | None


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    """What a dataset holds. ``classes`` is None for regression."""

    rows: int
    features: int
    columns: tuple[str, ...]
    classes: tuple[int, ...] | None


@dataclass(frozen=True, slots=True)
class Scored:
    """A score in integer millionths, the trained model's canonical bytes (None if nothing was
    trained) and the number of training samples (0 if nothing was trained)."""

    score: int
    model_bytes: bytes | None
    samples: int


def check_model(model_bytes: bytes, task: str | None = None, limits: MLLimits = DEFAULT_LIMITS) -> ModelInfo:
    """Decodes and fully validates a model file (a trained one is rebuilt, never unpickled).
    With ``task``, also checks that the estimator is for that task."""
    model = _load(model_bytes, task, limits)
    if model.trained:
        restore(model.spec, dict(model.arrays), len(model.features))
    classes = model.arrays.get("classes") if model.trained else None
    return ModelInfo(model.spec.estimator, model.spec.task, model.trained, model.spec.definition.averageable,
                     model.features, None if classes is None else tuple(classes.tolist()))


def check_dataset(csv_bytes: bytes, label: str, task: str, limits: MLLimits = DEFAULT_LIMITS) -> DatasetInfo:
    """Parses and validates a CSV dataset (see :mod:`dapp.ml.dataset` for the rules)."""
    data = _dataset(csv_bytes, label, task, limits)
    classes = tuple(sorted(set(data.y.tolist()))) if data.y.dtype.kind == "i" else None
    return DatasetInfo(data.rows, len(data.features), data.columns, classes)


def score(*, task: str, metric: str, label: str, validation_csv: bytes, model_bytes: bytes | None = None,
          train_csv: bytes | None = None, base_model: bytes | None = None, seed: int = 0,
          limits: MLLimits = DEFAULT_LIMITS) -> Scored:
    """Scores a submission on the validation set.

    The model is ``model_bytes`` if given (non-empty), else ``base_model``. With ``train_csv`` the model
    is trained on it first (a spec from scratch; trained weights of a warm-startable estimator continue,
    others are refitted from their spec) and its canonical bytes are returned; without, the model must
    be trained and is only evaluated. ``seed`` (0..2**32-1, see :func:`derive_seed`) is the only source
    of randomness."""
    check_metric(task, metric)
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be in [0, {MAX_SEED}]")
    source = model_bytes or base_model
    if not source:
        raise ModelError("no model: give a model file or a job base model", code="model_missing")
    model = _load(source, task, limits)
    validation = _dataset(validation_csv, label, task, limits, cache=True)
    if train_csv:
        train = _dataset(train_csv, label, task, limits)
        if train.features != validation.features:
            raise DatasetError(f"training columns {list(train.features)[:20]} differ from the validation "
                               f"columns {list(validation.features)[:20]} (same names, same order)",
                               code="dataset_columns_mismatch")
        estimator = fit(model, train.X, train.y, train.features, seed, limits)
        trained = Model(model.spec, train.features, extract(model.spec, estimator))
        out = write_model(trained)
        if len(out) > limits.max_model_bytes:
            raise ModelError(f"the trained model takes {len(out)} bytes; the limit is "
                             f"{limits.max_model_bytes}", code="model_too_large")
        check_model(out, task, limits)  # what is published must load back
        samples = train.rows
    elif model.trained:
        if model.features != validation.features:
            raise ModelError(f"the model's features {list(model.features)[:20]} differ from the validation "
                             f"columns {list(validation.features)[:20]}", code="model_features_mismatch")
        estimator = restore(model.spec, dict(model.arrays), len(model.features), seed)
        out, samples = None, 0
    else:
        raise ModelError("an untrained model spec needs training data", code="model_not_trained")
    with single_thread():
        value = evaluate(metric, estimator, validation.X, validation.y)
    return Scored(quantise(value), out, samples)


def aggregate(models: Sequence[tuple[bytes, int]], limits: MLLimits = DEFAULT_LIMITS) -> bytes:
    """FedAvg of ``(trained model bytes, sample count)`` pairs, in the order given; the canonical bytes
    of the averaged model. See :mod:`dapp.ml.fedavg` for what can be averaged."""
    loaded = [(_load(data, None, limits), weight) for data, weight in models]
    return write_model(fedavg.aggregate(loaded))


def check_compatible(update: bytes, global_model: bytes, limits: MLLimits = DEFAULT_LIMITS) -> None:
    """AggregationError unless the two trained models can be averaged together (federated rounds)."""
    fedavg.check_compatible(_load(global_model, None, limits), _load(update, None, limits))


def derive_seed(*parts: int | bytes | str) -> int:
    """A seed in [0, 2**32) from, e.g., a job id and a submission id: the first 4 bytes (big-endian)
    of sha256 over each part's length-prefixed encoding (ints as 32-byte big-endian, str as UTF-8)."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, bool) or not isinstance(part, (int, bytes, str)):
            raise TypeError(f"seed parts must be int, bytes or str, got {type(part).__name__}")
        raw = part.to_bytes(32, "big", signed=True) if isinstance(part, int) else (
            part.encode("utf-8") if isinstance(part, str) else part)
        digest.update(len(raw).to_bytes(4, "big") + raw)
    return int.from_bytes(digest.digest()[:4], "big")


def _load(data: bytes, task: str | None, limits: MLLimits) -> Model:
    model = read_model(data, limits)
    if task is not None and model.spec.task != task:
        raise ModelError(f"{model.spec.estimator} is a {model.spec.task} model; the job's task is {task}",
                         code="model_task_mismatch")
    return model


def _dataset(data: bytes, label: str, task: str, limits: MLLimits, cache: bool = False) -> Dataset:
    """Parses a dataset; with ``cache``, through a small LRU cache keyed by content hash (validation
    sets are parsed once, however many submissions are scored on them)."""
    if not cache:
        return parse_dataset(data, label, task, limits)
    key = (hashlib.sha256(data).digest(), label, task, limits)
    cached = _cache.get(key)
    if cached is not None:
        _cache.move_to_end(key)
        return cached
    parsed = parse_dataset(data, label, task, limits)
    _cache[key] = parsed
    while len(_cache) > _CACHE_ENTRIES or sum(d.X.nbytes + d.y.nbytes for d in _cache.values()) > _CACHE_BYTES:
        _cache.popitem(last=False)
    return parsed
