"""Off-chain conversions between the safe model format and ordinary scikit-learn objects (host only).

- :func:`to_estimator` / :func:`to_joblib`: a sponsor turns a published model into a scikit-learn
  estimator, or a joblib file for their own tools (joblib is imported only here, lazily).
- :func:`from_estimator`: a contributor turns an estimator they trained locally (e.g. a federated
  update) into a trained-model file the machine accepts.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dapp.ml.catalogue import CATALOGUE
from dapp.ml.errors import ModelError
from dapp.ml.fitted import check_fitted, extract, restore
from dapp.ml.modelfile import Model, read_model, write_model
from dapp.ml.spec import build_estimator, parse_spec

# Parameters that do not change what a fitted model predicts; anything else must be in the catalogue
# or keep scikit-learn's default.
_IGNORED = {"random_state", "n_jobs", "verbose", "warm_start", "copy_X", "monotonic_cst", "oob_score"}


def to_estimator(model: bytes, seed: int = 0) -> Any:
    """A scikit-learn estimator (a Pipeline if the spec has preprocessing): fitted if the model is
    trained, else unfitted with ``random_state=seed``."""
    loaded = read_model(model)
    if loaded.trained:
        return restore(loaded.spec, dict(loaded.arrays), len(loaded.features), seed)
    return build_estimator(loaded.spec, seed)


def to_joblib(model: bytes, destination: str | Path, seed: int = 0) -> None:
    """Writes :func:`to_estimator`'s result to ``destination`` with ``joblib.dump``."""
    import joblib

    joblib.dump(to_estimator(model, seed), destination)


def from_estimator(estimator: Any, features: Sequence[str]) -> bytes:
    """The canonical trained-model bytes of a fitted catalogue estimator (optionally a Pipeline of a
    default StandardScaler then the estimator), trained on columns ``features`` in this order."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    preprocessing: list[str] = []
    model = estimator
    if isinstance(estimator, Pipeline):
        steps = [step for _, step in estimator.steps]
        if len(steps) != 2 or type(steps[0]) is not StandardScaler or steps[0].get_params() != StandardScaler().get_params():
            raise ModelError("only a Pipeline of a default StandardScaler and an estimator can be converted",
                             code="bad_preprocessing")
        preprocessing, model = ["standard_scaler"], steps[1]
    name = type(model).__name__
    if name not in CATALOGUE or type(model) is not CATALOGUE[name].load_class():
        raise ModelError(f"{type(model).__module__}.{name} is not in the catalogue", code="estimator_not_allowed")
    definition = CATALOGUE[name]
    params, defaults = model.get_params(), type(model)().get_params()
    for key, value in params.items():
        if key not in definition.params and key not in _IGNORED and value != defaults[key]:
            raise ModelError(f"{name}: parameter '{key}' differs from scikit-learn's default and cannot be set",
                             code="param_not_allowed")
    given = {k: list(v) if isinstance(v, tuple) else v for k, v in params.items() if k in definition.params}
    if isinstance(given.get("hidden_layer_sizes"), int):
        given["hidden_layer_sizes"] = [given["hidden_layer_sizes"]]
    spec = parse_spec({"estimator": name, "params": given, "preprocessing": preprocessing})
    data = write_model(Model(spec, tuple(features), extract(spec, estimator)))
    loaded = read_model(data)  # the result must load back, with arrays that fit the features
    check_fitted(loaded.spec, dict(loaded.arrays), len(loaded.features))
    return data
