"""The ML engine as the job rules see it: a typed port, implemented by :class:`dapp.ml.engine.Engine`
(and by the fake engine of the tests). The domain never imports scikit-learn; the shell injects the
engine through :class:`dapp.domain.env.Env`. Every method raises :class:`dapp.ml.errors.MLError`
(a DomainError) with a specific code on bad content."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class MLEngine(Protocol):
    """What the job rules call on the ML engine."""

    def check_model(self, model: bytes, task: str | None = None) -> Any:
        """Decodes and validates a model file; its info (estimator, task, trained, averageable...)."""

    def model_problems(self, model: bytes, task: str | None = None) -> list[Any]:
        """Every problem ``check_model`` would find (MLErrors; a bad spec's each broken parameter rule)."""

    def check_dataset(self, csv: bytes, label: str, task: str) -> Any:
        """Parses and validates a CSV dataset; its info (rows, features, columns, classes)."""

    def prepare(self, content: bytes) -> bool:
        """Decodes a just-stored file ahead of its first use, if it is a CSV dataset."""

    def estimate(self, *, task: str, label: str, model: bytes, train: bytes | None = None,
                 evaluation: bytes | None = None) -> int:
        """Estimated work (about a nanosecond of one native core per unit) of training ``model`` on
        ``train`` (if given) and evaluating it on ``evaluation`` (if given)."""

    def score(self, *, task: str, metric: str, label: str, validation: bytes, model: bytes | None = None,
              train: bytes | None = None, base_model: bytes | None = None, seed: int = 0) -> Any:
        """Trains (with ``train``) and scores a model on ``validation``: a value with ``score``
        (millionths), ``model_bytes`` (the trained model, or None) and ``samples``."""

    def aggregate(self, models: Sequence[tuple[bytes, int]], method: str = "fedavg") -> bytes:
        """The aggregate of ``(trained model bytes, weight)`` pairs: their weighted average
        (``fedavg``), or the coordinate-wise ``median`` or ``trimmed_mean`` of their parameters."""

    def check_update(self, update: bytes, base: bytes, *, task: str, label: str, validation: bytes,
                     clip_norm: int = 0) -> Any:
        """Raises unless the trained ``update`` can join a round of a federated job whose current
        model is ``base`` (a trained global model, or the untrained base spec) and whose validation
        set is ``validation``: same spec, shapes consistent with them, bounded distance (at most
        ``clip_norm`` millionths when it is positive), a privacy declaration only under a clip_norm.
        Returns a value with ``distance`` (the update's measured L2 distance from ``base``, from zero
        while ``base`` is untrained, in millionths), ``epsilon`` and ``delta`` (what the update
        declares, in millionths and 10⁻¹² units; 0 and 0: no declaration)."""
