"""A stand-in ML engine for testing market rules without scikit-learn.

A "model" is JSON ``{"score": <metric units>}`` (or ``{"bad": true}`` to fail the checks, ``"work"``
for its work estimate, ``"crash"`` to make scoring raise a non-ML exception turned into a training
failure, as the real engine's sandbox does); the
score it gets is that number, plus 0.01 per training CSV line when data is given, so tests pick
scores freely. Datasets are any bytes not starting with ``bad``. For federated rounds a model may
carry a ``"shape"`` (default 1): an update joins a round only with the shape of the job's current model;
and a ``"distance"`` from it (millionths) and a declared ``"epsilon"``/``"delta"`` (private updates).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from dapp.ml.errors import AggregationError, DatasetError, ModelError, TrainingError


@dataclass(frozen=True)
class Scored:
    score: int
    model_bytes: bytes | None
    samples: int


@dataclass(frozen=True)
class UpdateChecked:
    distance: int
    epsilon: int
    delta: int


class FakeEngine:
    def __init__(self):
        self.calls = []

    def check_model(self, model: bytes, task: str | None = None):
        try:
            spec = json.loads(model)
        except ValueError as exc:
            raise ModelError("not a model", code="bad_model") from exc
        if not isinstance(spec, dict) or spec.get("bad"):
            raise ModelError("bad model", code="bad_model")
        return spec

    def prepare(self, content: bytes) -> bool:
        return not content.startswith(b"bad")

    def check_dataset(self, csv: bytes, label: str, task: str):
        if csv.startswith(b"bad"):
            raise DatasetError("bad dataset", code="bad_dataset")
        return csv.count(b"\n")

    def estimate(self, *, task, label, model, train=None, evaluation=None) -> int:
        """A model's ``work`` field (default 1), counted once more per dataset it touches."""
        work = int(self.check_model(model, task).get("work", 1))
        return work * (1 + (train is not None) + (evaluation is not None))

    def score(self, *, task, metric, label, validation, model, train=None, seed=0):  # Engine.score's defaults
        self.calls.append((model, train, validation, seed))
        spec = self.check_model(model, task)
        if spec.get("crash"):
            raise TrainingError("scikit-learn raised AttributeError: crash", code="training_failed")
        self.check_dataset(validation, label, task)
        value = float(spec.get("score", 0))
        samples = 0
        if train is not None:
            self.check_dataset(train, label, task)
            samples = train.count(b"\n")
            value += 0.01 * samples
        trained = json.dumps({"score": value, "trained": True, "seed": seed}).encode() if train is not None else None
        return Scored(round(value * 1_000_000), trained, samples)

    @staticmethod
    def shape(model: bytes) -> int:
        return json.loads(model).get("shape", 1)

    def check_update(self, update: bytes, base: bytes, *, task, label, validation, clip_norm=0) -> UpdateChecked:
        """Engine.check_update: the update must have the shape of the job's current model ``base``,
        lie within ``clip_norm`` (its ``"distance"`` field, millionths, default 0) when the job has
        one, and declare ``"epsilon"``/``"delta"`` (millionths, trillionths) only under a clip_norm."""
        self.check_dataset(validation, label, task)
        if self.shape(update) != self.shape(base):
            raise AggregationError("the update's shape is not the global model's",
                                   code="aggregate_shape_mismatch")
        fields = json.loads(update)
        distance, epsilon, delta = (int(fields.get(k, 0)) for k in ("distance", "epsilon", "delta"))
        if epsilon and not clip_norm:
            raise AggregationError("privacy declared without a clip_norm", code="privacy_without_clip_norm")
        if clip_norm and distance > clip_norm:
            raise AggregationError(f"the update lies {distance} from the global model, more than the job's "
                                   f"clip_norm {clip_norm}", code="update_beyond_clip_norm")
        return UpdateChecked(distance, epsilon, delta)
