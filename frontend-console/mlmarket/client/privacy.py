"""A differentially private federated update, made on the contributor's machine (docs/MODELS.md
"Private updates").

:func:`private_update` trains the job's current global model on a private CSV with the machine's own
engine (``dapp.ml.engine.Engine``, the same catalogue and code), then, over the parameters FedAvg
averages (``dapp.ml.fedavg.parameters``):

1. takes the update ``u = trained - global`` (``global`` = 0 while the job's model is an untrained spec);
2. clips it to the job's ``clip_norm`` ``C``: ``u * min(1, C / ||u||)``;
3. adds Gaussian noise ``N(0, sigma^2 I)`` with ``sigma`` from the analytic Gaussian mechanism (Balle and
   Wang 2018, diffprivlib's ``GaussianAnalytic``) for the stated (epsilon, delta) and L2 sensitivity
   ``2C``: any two clipped updates, from any two private datasets, lie at most the ball's diameter
   apart, so the released update is (epsilon, delta)-differentially private for the whole local
   dataset (local DP), not only for one row of it;
4. projects the noised update back onto the ball of radius ``C`` (post-processing costs no privacy),
   so that the file passes the one check the machine can make, its distance from the global model;
5. writes the model file with the weights and the declaration ``{epsilon, delta}`` (rounded up to the
   file's units, so the declaration never claims more privacy than was given) and nothing else: no
   row, no sample count, no training statistic leaves the contributor.

The noise must be drawn here: anything the machine does is public and replayable, so noise it added
could be subtracted by anyone. ``seed`` makes the noise reproducible for tests and benchmarks only;
``epsilon=None`` makes the clipped update without noise or declaration (the baseline a benchmark
compares with: not private).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import Any

import numpy as np

from mlmarket.client.errors import ClientError

MAX_EPSILON = 100.0
PROJECTION_MARGIN = 1e-12
"""The final projection aims at ``C x (1 - PROJECTION_MARGIN)``, inside the machine's float tolerance
(``dapp.ml.fedavg.CLIP_TOLERANCE``), so that rounding cannot push a clipped update over the bound."""


@dataclass(frozen=True)
class PrivateUpdate:
    """A noised update: its model file, what it was made with and what it measures."""

    model: bytes  # the model file (weights and the privacy declaration)
    epsilon: float | None  # None: clipped only, no noise, no declaration
    delta: float
    clip: float  # the job's clip_norm, in parameter units
    sigma: float  # the noise's standard deviation per parameter
    parameters: int  # how many parameters were noised
    trained_distance: float  # ||trained - global|| before clipping
    distance: float  # the file's distance from the global model, as the machine measures it
    samples: int  # the private rows trained on (they stay here)
    score: int  # the file's score on the job's validation set, in millionths (what the machine will measure)


def noise_scale(epsilon: float, delta: float, sensitivity: float) -> float:
    """The per-coordinate standard deviation of the analytic Gaussian mechanism for (``epsilon``,
    ``delta``) and L2 ``sensitivity`` (diffprivlib's ``GaussianAnalytic``)."""
    from diffprivlib.mechanisms import GaussianAnalytic

    return math.sqrt(GaussianAnalytic(epsilon=epsilon, delta=delta, sensitivity=sensitivity).variance(0.0))


def clip(vector: np.ndarray, bound: float) -> np.ndarray:
    """``vector`` scaled down to L2 length ``bound`` if it is longer."""
    length = float(np.linalg.norm(vector))
    return vector if length <= bound else vector * (bound / length)


def gaussian_noise(size: int, epsilon: float, delta: float, sensitivity: float,
                   rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """``size`` independent draws of ``N(0, sigma^2)`` with ``sigma`` = :func:`noise_scale`, and sigma."""
    sigma = noise_scale(epsilon, delta, sensitivity)
    return rng.normal(0.0, sigma, size=size), sigma


def privatize(update: np.ndarray, bound: float, epsilon: float, delta: float,
              rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Steps 2 to 4 of the module docstring on a flat update: the noised update, within ``bound``,
    and the noise's ``sigma``."""
    noise, sigma = gaussian_noise(update.size, epsilon, delta, 2 * bound, rng)
    return clip(clip(update, bound) + noise, bound * (1 - PROJECTION_MARGIN)), sigma


def check_budget(epsilon: float, delta: float) -> None:
    """ClientError unless 0 < epsilon <= 100 and 0 < delta < 1 (what a model file can declare)."""
    if not 0 < epsilon <= MAX_EPSILON:
        raise ClientError(f"epsilon must be in (0, {MAX_EPSILON:g}], got {epsilon!r}")
    if not 0 < delta < 1:
        raise ClientError(f"delta must be in (0, 1), got {delta!r} (e.g. 1e-5, below 1 / the rows you hold)")


def declared_units(value: float, units: int) -> int:
    """``value`` in ``units`` per unit, rounded up (a declaration never claims more privacy)."""
    return int((Decimal(repr(value)) * units).to_integral_value(rounding=ROUND_CEILING))


def private_update(*, global_model: bytes, train: bytes, validation: bytes, task: str, metric: str, label: str,
                   clip_norm: int, epsilon: float | None, delta: float, seed: int | None = None,
                   engine: Any = None) -> PrivateUpdate:
    """Trains ``global_model`` on the private CSV ``train`` and returns its noised update (module
    docstring). ``clip_norm`` is the job's (millionths); ``validation`` the job's validation set (the
    training columns must match it, as on the machine); ``engine`` defaults to a new ``Engine()``.
    ClientError (with the engine's message) on anything the machine would refuse."""
    from dapp.errors import DappError
    from dapp.ml import fedavg
    from dapp.ml.engine import Engine
    from dapp.ml.modelfile import DELTA_UNITS, Model, Privacy, read_model, write_model

    if epsilon is not None:
        check_budget(epsilon, delta)
    if clip_norm <= 0:
        raise ClientError("the job has no clip_norm: without a bound on each update the machine cannot "
                          "check anything, so it refuses a privacy declaration (submit a plain update)")
    engine = engine or Engine()
    bound = clip_norm / 1_000_000
    try:
        trained = engine.score(task=task, metric=metric, label=label, validation=validation, train=train,
                               base_model=global_model)
        base, local = read_model(global_model), read_model(trained.model_bytes)
        if local.spec.definition.family not in ("linear", "mlp"):
            raise ClientError(f"{local.spec.estimator}'s parameters cannot take noise (probabilities and "
                              "variances would leave their range): private updates need a linear model or an MLP")
        names = fedavg.parameters(local)
        reference = {n: base.arrays[n] if base.trained else np.zeros_like(local.arrays[n]) for n in names}
        flat = np.concatenate([(local.arrays[n] - reference[n]).ravel() for n in names])
        if epsilon is None:
            noised, sigma, declared = clip(flat, bound * (1 - PROJECTION_MARGIN)), 0.0, None
        else:
            noised, sigma = privatize(flat, bound, epsilon, delta, np.random.default_rng(seed))
            declared = Privacy(declared_units(epsilon, 1_000_000), declared_units(delta, DELTA_UNITS))
        arrays, offset = dict(local.arrays), 0
        for n in names:
            size = reference[n].size
            arrays[n] = reference[n] + noised[offset:offset + size].reshape(reference[n].shape)
            offset += size
        model = write_model(Model(local.spec, local.features, arrays, declared))
        checked = engine.check_update(model, global_model, task=task, label=label, validation=validation,
                                      clip_norm=clip_norm)  # the machine's own check
        score = engine.score(task=task, metric=metric, label=label, validation=validation, model=model).score
    except DappError as exc:
        raise ClientError(f"the update cannot be made: {exc.message}") from exc
    return PrivateUpdate(model, epsilon, delta, bound, sigma, int(flat.size), float(np.linalg.norm(flat)),
                         checked.distance / 1_000_000, trained.samples, score)
