"""Model specs: an allow-listed estimator, its validated hyper-parameters and optional explicit
preprocessing. A spec is what an untrained model file holds, and the first half of a trained one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from dapp.ml.catalogue import CATALOGUE, REQUIRED, EstimatorDef
from dapp.ml.errors import ModelError, ParamError

# The only preprocessing steps a spec may ask for, applied in the order given.
PREPROCESSING = ("standard_scaler",)
MAX_SEED = 2**32 - 1


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A validated spec. ``params`` holds every catalogue parameter of the estimator (defaults
    filled in), sorted by name, so two specs that train the same model compare equal."""

    estimator: str
    params: tuple[tuple[str, Any], ...]
    preprocessing: tuple[str, ...] = ()

    @property
    def definition(self) -> EstimatorDef:
        """The catalogue entry of the estimator."""
        return CATALOGUE[self.estimator]

    @property
    def task(self) -> str:
        """``classification`` or ``regression``."""
        return self.definition.task

    def param_dict(self) -> dict[str, Any]:
        """The hyper-parameters as keyword arguments for the scikit-learn class."""
        return dict(self.params)

    def to_json(self) -> dict[str, Any]:
        """The canonical JSON form (tuples as lists)."""
        params = {k: list(v) if isinstance(v, tuple) else v for k, v in self.params}
        return {"estimator": self.estimator, "params": params, "preprocessing": list(self.preprocessing)}

    def to_bytes(self) -> bytes:
        """Canonical JSON bytes: sorted keys, no spaces, ASCII."""
        return canonical_json(self.to_json())


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON encoding used for every JSON the engine writes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False).encode("ascii")


def _estimator(obj: Any) -> tuple[EstimatorDef, dict[str, Any]]:
    """The catalogue entry a spec names and its ``params`` object; ModelError if the spec's shape
    or estimator is wrong (nothing else can be checked then)."""
    if not isinstance(obj, dict):
        raise ModelError("a model spec must be a JSON object", code="spec_not_object")
    unknown = sorted(set(obj) - {"estimator", "params", "preprocessing"})
    if unknown:
        raise ModelError(f"unknown key(s) in model spec: {', '.join(unknown)}", code="spec_unknown_key")
    name = obj.get("estimator")
    if not isinstance(name, str) or name not in CATALOGUE:
        allowed = ", ".join(sorted(CATALOGUE))
        raise ModelError(f"estimator {name!r} is not allowed; allowed: {allowed}",
                         code="estimator_not_allowed")
    given = obj.get("params", {})
    if not isinstance(given, dict):
        raise ModelError("'params' must be a JSON object", code="spec_not_object")
    return CATALOGUE[name], given


def _param_problems(definition: EstimatorDef, given: dict[str, Any],
                    params: dict[str, Any]) -> Iterator[ParamError]:
    """Every hyper-parameter rule ``given`` breaks, in order: each given parameter (allowed, in
    bounds), then their combination (if each is valid), then the required ones not given. Fills
    ``params`` with the checked values over the defaults."""
    name = definition.name
    params.update({key: definition.params[key].check(key, value)
                   for key, value in definition.defaults.items()})
    valid = True
    for key, value in given.items():
        if key not in definition.params:
            valid = False
            yield ParamError(_unknown_param_message(definition, key), code="param_not_allowed")
            continue
        try:
            params[key] = definition.params[key].check(key, value)
        except ParamError as exc:
            valid = False
            yield ParamError(f"{name}: {exc.message}", code=exc.code)
    if valid:
        try:
            definition.check_combination(params)
        except ParamError as exc:
            yield exc
    for key in sorted(REQUIRED.get(name, set()) - set(params) - set(given)):
        yield ParamError(f"{name}: parameter '{key}' is required (scikit-learn's default is unbounded); "
                         f"give {definition.params[key].describe()}", code="param_required")


def parse_spec(obj: Any) -> ModelSpec:
    """Validates a decoded JSON spec ``{"estimator": ..., "params": {...}, "preprocessing": [...]}``
    (``params`` and ``preprocessing`` optional) against the catalogue; raises the first problem
    ``spec_problems`` lists."""
    definition, given = _estimator(obj)
    params: dict[str, Any] = {}
    for problem in _param_problems(definition, given, params):
        raise problem
    return ModelSpec(definition.name, tuple(sorted(params.items())),
                     _parse_preprocessing(obj.get("preprocessing", [])))


def spec_problems(obj: Any) -> list[ModelError]:
    """Every rule the decoded JSON spec ``obj`` breaks (empty: ``parse_spec`` accepts it)."""
    try:
        definition, given = _estimator(obj)
    except ModelError as exc:
        return [exc]
    found: list[ModelError] = list(_param_problems(definition, given, {}))
    try:
        _parse_preprocessing(obj.get("preprocessing", []))
    except ModelError as exc:
        found.append(exc)
    return found


def _unknown_param_message(definition: EstimatorDef, key: str) -> str:
    if key == "random_state":
        why = "it is derived from the job's seed"
    elif key == "n_jobs":
        why = "training always uses one thread"
    else:
        why = "it is not in the allow-list"
    allowed = ", ".join(sorted(definition.params))
    return f"{definition.name}: parameter '{key}' cannot be set ({why}); allowed: {allowed}"


def _parse_preprocessing(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > len(PREPROCESSING) or len(set(map(str, value))) < len(value):
        raise ModelError(f"'preprocessing' must be a list of distinct steps among {list(PREPROCESSING)}",
                         code="bad_preprocessing")
    for step in value:
        if step not in PREPROCESSING:
            raise ModelError(f"preprocessing step {step!r} is not allowed; allowed: {list(PREPROCESSING)}",
                             code="bad_preprocessing")
    return tuple(value)


def build_estimator(spec: ModelSpec, seed: int) -> Any:
    """A fresh, unfitted scikit-learn estimator for ``spec``: the catalogue class with the spec's
    parameters, ``random_state=seed`` (if it takes one) and ``n_jobs=1`` (if it takes one), wrapped
    in a Pipeline after the preprocessing steps if the spec has any."""
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be in [0, {MAX_SEED}], got {seed}")
    definition = spec.definition
    kwargs = spec.param_dict()
    if definition.seeded:
        kwargs["random_state"] = seed
    if definition.parallel:
        kwargs["n_jobs"] = 1
    estimator = definition.load_class()(**kwargs)
    if not spec.preprocessing:
        return estimator
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    steps = [(step, StandardScaler()) for step in spec.preprocessing]
    return Pipeline([*steps, ("model", estimator)])
