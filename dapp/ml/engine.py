"""The ML engine's API for the job rules: bytes and ints in, frozen values or :class:`MLError` out.

    engine = Engine()                      # holds the limits and a bounded cache of decoded CSV files
    engine = Engine(isolate=False)         # unit tests only: training and scoring in this process
    engine.check_model(model, task=None) -> ModelInfo
    engine.check_dataset(csv, label, task) -> DatasetInfo
    engine.prepare(content) -> bool        # decodes a CSV file ahead of its first use
    engine.check_metric(task, metric) -> None
    engine.estimate(task=, label=, model=, train=None, evaluation=None) -> int   # work units (dapp.ml.cost)
    engine.score(task=, metric=, label=, validation=, model=, train=None, base_model=None, seed=) -> Scored
    engine.aggregate([(model, sample_count), ...], method="fedavg") -> bytes
    engine.check_update(update, base, task=, label=, validation=, clip_norm=) -> UpdateChecked   # rounds
    gain / better / meets (metric-aware comparisons of scores in millionths, from dapp.ml.metrics)

Every error is an :class:`dapp.ml.errors.MLError` (a DomainError) with a specific ``code``.
Training and scoring (``score``) and averaging (``aggregate``) run in a forked worker under hard
limits of CPU time and memory (:mod:`dapp.ml.sandbox`): crossing one is ``resource_limit``, and any
other failure inside is that submission's ``training_failed``, never the machine's.
"""

from __future__ import annotations

import importlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from dapp.ml import fedavg
from dapp.ml.catalogue import CLASSIFICATION
from dapp.ml.cost import check_work, estimate_cycles, evaluation_cycles, machine_cycles
from dapp.ml.dataset import Dataset, Table, parse_table, select
from dapp.ml.errors import DatasetError, MLError, ModelError, ParamError, TrainingError
from dapp.ml.fitted import check_fitted, extract, restore
from dapp.ml.limits import DEFAULT_LIMITS, MLLimits
from dapp.ml.metrics import (METRICS, better, check_evaluation, check_metric, evaluate, evaluation_cost, gain, meets,
                             quantise)
from dapp.ml.modelfile import Model, load_json, read_model, write_model
from dapp.ml.sandbox import InProcess, Outcome, Runner, Sandbox
from dapp.ml.spec import MAX_SEED, spec_problems
from dapp.ml.train import fit, single_thread

EVALUATION_UNITS = 1_000  # estimated work per (row x feature) evaluating a model not trained yet
MILLION = 1_000_000
MAX_UINT64 = 2**64 - 1

__all__ = ["METRICS", "DatasetInfo", "Engine", "ModelInfo", "Scored", "UpdateChecked", "better", "gain", "meets"]


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


@dataclass(frozen=True, slots=True)
class UpdateChecked:
    """A federated update the machine accepted for a round: its L2 distance from the job's current
    model (millionths, capped at 2**64 - 1), and the (``epsilon`` millionths, ``delta`` trillionths)
    its file declares (0, 0: none)."""

    distance: int
    epsilon: int
    delta: int


@dataclass(slots=True)
class _Decoded:
    """A cached CSV file: its decoded table, and the datasets selected from it by (label, task)."""

    table: Table
    selected: dict[tuple[str, str], Dataset] = field(default_factory=dict)

    def nbytes(self, key: bytes) -> int:
        """What the entry keeps: the file, its table and its selected arrays."""
        return len(key) + self.table.values.nbytes + sum(d.X.nbytes + d.y.nbytes for d in self.selected.values())


class Engine:
    """The engine the job rules call. ``cache_entries``/``cache_bytes`` bound the cache of decoded CSV
    files (validation, training and test sets alike) and of the datasets selected from them (read-only
    arrays): a file is decoded, and its columns selected for a label, once however many submissions,
    rounds or checks read it. The cache is keyed by the file's bytes, so it can never serve anything
    but what decoding those bytes gives; Python caches a bytes object's hash, and the content store
    hands out the same object each time, so a lookup costs no pass over the file.

    Training, scoring and averaging run in a forked worker under ``limits.max_cpu_seconds`` and
    ``limits.max_worker_memory`` (the cache is decoded here and inherited); ``isolate=False`` runs them
    in this process with the same error mapping but no hard limit, for unit tests only."""

    def __init__(self, limits: MLLimits = DEFAULT_LIMITS, cache_entries: int = 8,
                 cache_bytes: int = 64 << 20, isolate: bool = True) -> None:
        self.limits = limits
        self._run: Runner = (Sandbox(limits.max_cpu_seconds, limits.max_worker_memory) if isolate
                             else InProcess())
        self._cache: OrderedDict[bytes, _Decoded] = OrderedDict()
        self._cache_entries = cache_entries
        self._cache_bytes = cache_bytes

    def check_model(self, model: bytes, task: str | None = None) -> ModelInfo:
        """Decodes and fully validates a model file (a trained one is rebuilt, never unpickled).
        With ``task``, also checks that the estimator is for that task."""
        loaded = self._load(model, task)
        if loaded.trained:
            check_fitted(loaded.spec, dict(loaded.arrays), len(loaded.features))
        classes = loaded.arrays.get("classes") if loaded.trained else None
        return ModelInfo(loaded.spec.estimator, loaded.spec.task, loaded.trained,
                         loaded.spec.definition.averageable, loaded.features,
                         None if classes is None else tuple(classes.tolist()))

    def model_problems(self, model: bytes, task: str | None = None) -> list[MLError]:
        """Every problem ``check_model`` would find, not only the first: for a JSON spec with a bad
        hyper-parameter, each rule its parameters break (``dapp.ml.spec.spec_problems``); else the
        one error ``check_model`` raises (empty: the model is valid)."""
        try:
            self.check_model(model, task)
        except ParamError as exc:
            if not model.lstrip().startswith(b"{"):
                return [exc]
            return list(spec_problems(load_json(model, "model spec"))) or [exc]
        except MLError as exc:
            return [exc]
        return []

    def check_dataset(self, csv: bytes, label: str, task: str) -> DatasetInfo:
        """Parses and validates a CSV dataset (see :mod:`dapp.ml.dataset` for the rules)."""
        data = self._dataset(csv, label, task)
        classes = tuple(np.unique(data.y).tolist()) if data.y.dtype.kind == "i" else None
        return DatasetInfo(data.rows, len(data.features), data.columns, classes)

    @staticmethod
    def check_metric(task: str, metric: str) -> None:
        """MetricError unless ``metric`` applies to ``task``."""
        check_metric(task, metric)

    def score(self, *, task: str, metric: str, label: str, validation: bytes, model: bytes | None = None,
              train: bytes | None = None, base_model: bytes | None = None, seed: int = 0) -> Scored:
        """Scores a submission on the validation set.

        The model is ``model`` if given (non-empty), else ``base_model``. With ``train`` (non-empty
        CSV) the model is trained on it first (a spec from scratch; trained weights of a warm-startable
        estimator continue, others are refitted from their spec) and its canonical bytes are returned;
        without, the model must be trained and is only evaluated. ``seed`` (0..2**32-1, the
        protocol's :mod:`dapp.domain.seeds`) is the only source of randomness."""
        check_metric(task, metric)
        if not 0 <= seed <= MAX_SEED:
            raise ValueError(f"seed must be in [0, {MAX_SEED}]")
        source = model or base_model
        if not source:
            raise ModelError("no model: give a model file or a job base model", code="model_missing")
        loaded = self._load(source, task)
        valid = self._dataset(validation, label, task)
        if train:
            data = self._dataset(train, label, task)
            if data.features != valid.features:
                raise DatasetError(f"training columns {list(data.features)[:20]} differ from the validation "
                                   f"columns {list(valid.features)[:20]} (same names, same order)",
                                   code="dataset_columns_mismatch")
            check_work(loaded.spec, data.rows, len(data.features), _classes(task, data), self.limits)
            work = partial(_train_and_score, loaded, data, valid, metric, seed, self.limits)
            what = f"training and scoring {loaded.spec.estimator}"
        elif loaded.trained:
            if loaded.features != valid.features:
                raise ModelError(f"the model's features {list(loaded.features)[:20]} differ from the "
                                 f"validation columns {list(valid.features)[:20]}", code="model_features_mismatch")
            check_evaluation(loaded.spec, loaded.arrays, valid.rows, len(valid.features), self.limits)
            work = partial(_score_trained, loaded, valid, metric, seed)
            what = f"scoring {loaded.spec.estimator}"
        else:
            raise ModelError("an untrained model spec needs training data", code="model_not_trained")
        _preload(loaded)
        outcome = self._run(work, what)
        return Scored(outcome.score, outcome.data, outcome.samples)

    def estimate(self, *, task: str, label: str, model: bytes, train: bytes | None = None,
                 evaluation: bytes | None = None) -> int:
        """Estimated work, in machine cycles (:mod:`dapp.ml.cost`), of training ``model`` on ``train``
        (if given) and evaluating the result on ``evaluation`` (if given): a cheap first gate and a way
        to share one input's budget; the hard limits of :meth:`score` stay the bound. A trained model's
        evaluation is estimated from its arrays; that of a model yet to be trained at
        :data:`EVALUATION_UNITS` per evaluation cell. A training over the engine's bounds is refused
        here already (``training_too_costly``)."""
        loaded = self._load(model, task)
        work = 0
        if train:
            data = self._dataset(train, label, task)
            shape = (data.rows, len(data.features), _classes(task, data))
            check_work(loaded.spec, *shape, self.limits)
            work += estimate_cycles(loaded.spec, *shape)
        if evaluation:
            valid = self._dataset(evaluation, label, task)
            if loaded.trained and not train:
                units = evaluation_cost(loaded.spec, loaded.arrays, valid.rows, len(valid.features))[0]
                work += evaluation_cycles(loaded.spec, units)
            else:
                work += machine_cycles(loaded.spec, EVALUATION_UNITS * valid.rows * len(valid.features))
        return work

    def aggregate(self, models: Sequence[tuple[bytes, int]], method: str = "fedavg") -> bytes:
        """The aggregate of ``(trained model bytes, sample count)`` pairs, in the order given, by
        ``method`` (:data:`dapp.ml.fedavg.METHODS`); the canonical bytes of the result. See
        :mod:`dapp.ml.fedavg` for what can be aggregated."""
        rule = fedavg.method(method)
        loaded = [(self._load(data, None), weight) for data, weight in models]
        outcome = self._run(lambda: Outcome(data=write_model(rule(loaded))), "aggregating the models")
        assert outcome.data is not None  # the work above always returns bytes
        return outcome.data

    def check_update(self, update: bytes, base: bytes, *, task: str, label: str, validation: bytes,
                     clip_norm: int = 0) -> UpdateChecked:
        """What the machine can check of an update joining a round of a federated job whose current
        model is ``base`` and whose validation set is ``validation`` (AggregationError or ModelError
        otherwise): the base's spec, its features, classes and shapes once trained, else the validation
        set's columns and classes, and the distance bound of :func:`dapp.ml.fedavg.check_update`
        (``clip_norm`` in millionths, 0: the default bound). Returns the measured distance and the
        update's privacy declaration."""
        loaded, reference = self._load(update, task), self._load(base, task)
        valid = self._dataset(validation, label, task)
        if loaded.trained:  # the arrays fit the update's own features and classes (shapes)
            check_fitted(loaded.spec, dict(loaded.arrays), len(loaded.features))
        classes = np.unique(valid.y) if task == CLASSIFICATION else None
        far = fedavg.check_update(loaded, reference, valid.features, classes, clip_norm / MILLION)
        privacy = loaded.privacy
        return UpdateChecked(_millionths(far), privacy.epsilon if privacy else 0, privacy.delta if privacy else 0)

    def _load(self, data: bytes, task: str | None) -> Model:
        loaded = read_model(data, self.limits)
        if task is not None and loaded.spec.task != task:
            raise ModelError(f"{loaded.spec.estimator} is a {loaded.spec.task} model; the job's task is {task}",
                             code="model_task_mismatch")
        return loaded

    def prepare(self, content: bytes) -> bool:
        """Decodes ``content`` into the cache if it is a valid CSV file, so that the inputs that use it
        as a dataset later do not pay for decoding it (the content store calls this when an upload
        completes). True if it was decoded; anything else is left for its first real use to report."""
        try:
            self._entry(content)
        except DatasetError:
            return False
        return True

    def _dataset(self, data: bytes, label: str, task: str) -> Dataset:
        entry = self._entry(data)
        dataset = entry.selected.get((label, task))
        if dataset is None:
            dataset = entry.selected[(label, task)] = select(entry.table, label, task, self.limits)
            self._evict()
        return dataset

    def _entry(self, data: bytes) -> _Decoded:
        cached = self._cache.get(data)
        if cached is not None:
            self._cache.move_to_end(data)
            return cached
        entry = self._cache[data] = _Decoded(parse_table(data, self.limits))
        self._evict()
        return entry

    def _evict(self) -> None:
        """Drops the least recently used files until the cache is within its bounds."""
        while len(self._cache) > self._cache_entries or sum(
                entry.nbytes(key) for key, entry in self._cache.items()) > self._cache_bytes:
            self._cache.popitem(last=False)


def _millionths(value: float) -> int:
    """A non-negative length in millionths, capped at :data:`MAX_UINT64` (an infinite one too)."""
    scaled = value * MILLION
    return MAX_UINT64 if not scaled < MAX_UINT64 else round(scaled)


def _classes(task: str, data: Dataset) -> int:
    """The class count the work estimate takes (1 for regression)."""
    return int(np.unique(data.y).size) if task == CLASSIFICATION else 1


def _train_and_score(loaded: Model, data: Dataset, valid: Dataset, metric: str, seed: int,
                     limits: MLLimits) -> Outcome:
    """Trains ``loaded`` on ``data`` and scores it on ``valid``: the worker's job for a submission with data."""
    estimator = fit(loaded, data.X, data.y, data.features, seed)
    arrays = extract(loaded.spec, estimator)
    # what is published must load back: its arrays pass the checks of any trained model file
    # (finite, shapes, trees); the file format itself round-trips (tests/unit/test_ml_modelfile.py).
    # extract gives the shapes the reader wants; a fit those checks still refuse is degenerate (e.g.
    # GaussianNB on features that are all constant: zero variances, which would divide by zero)
    try:
        check_fitted(loaded.spec, arrays, len(data.features))
    except ModelError as exc:
        raise TrainingError(f"the fitted {loaded.spec.estimator} is degenerate and is not published: {exc} "
                            f"({exc.code}; the training data may be constant or nearly 0)") from None
    out = write_model(Model(loaded.spec, data.features, arrays))
    if len(out) > limits.max_model_bytes:
        raise ModelError(f"the trained model takes {len(out)} bytes; the limit is {limits.max_model_bytes}",
                         code="model_too_large")
    check_evaluation(loaded.spec, arrays, valid.rows, len(valid.features), limits)
    return Outcome(_evaluate(metric, estimator, valid), data.rows, out)


def _score_trained(loaded: Model, valid: Dataset, metric: str, seed: int) -> Outcome:
    """Scores the trained model ``loaded`` on ``valid``: the worker's job for a submission without data."""
    estimator = restore(loaded.spec, dict(loaded.arrays), len(loaded.features), seed)
    return Outcome(_evaluate(metric, estimator, valid))


def _evaluate(metric: str, estimator: Any, valid: Dataset) -> int:
    with single_thread():
        return quantise(evaluate(metric, estimator, valid.X, valid.y))


def _preload(loaded: Model) -> None:
    """Imports what training and scoring ``loaded`` use, and finds the thread pools, in this process,
    so that each forked worker inherits them instead of importing them again."""
    steps = ("sklearn.pipeline", "sklearn.preprocessing") if loaded.spec.preprocessing else ()
    trees = ("dapp.ml.trees",) if loaded.spec.definition.family in ("tree", "forest") else ()
    for module in ("sklearn.metrics", *steps, *trees):
        importlib.import_module(module)
    loaded.spec.definition.load_class()
    with single_thread():
        pass
