"""The model builder: the catalogue's estimators and bounded hyper-parameters as form fields, and
the form's values back as a model file (an untrained JSON spec, docs/PROTOCOL.md and dapp/ml/spec.py).

Pure: validation is the engine's own ``dapp.ml.spec.parse_spec``, so the console accepts exactly what
the machine will.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dapp.ml.catalogue import CATALOGUE, REQUIRED
from dapp.ml.errors import MLError
from dapp.ml.params import AnyOf, Bool, Choice, Float, Int, Layers
from dapp.ml.spec import PREPROCESSING, canonical_json, parse_spec

_LAYERS_TEXT = re.compile(r"^\s*\d+(\s*,\s*\d+)*\s*$")


class ModelFormError(ValueError):
    """The builder's values do not make a valid model; ``field`` names the offending input."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ParamField:
    """One hyper-parameter input: ``choices`` for a select (JSON texts), else free text with ``hint``."""

    name: str
    hint: str
    default: str
    required: bool
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class EstimatorFields:
    """One estimator of the catalogue and its parameter inputs."""

    name: str
    task: str
    averageable: bool
    params: tuple[ParamField, ...]


def _json_text(value: Any) -> str:
    return json.dumps(list(value) if isinstance(value, tuple) else value)


def _choices(kind: Any) -> tuple[str, ...]:
    if isinstance(kind, Bool):
        return ("true", "false")
    if isinstance(kind, Choice):
        return tuple(_json_text(v) for v in kind.values)
    return ()


def catalogue_fields() -> tuple[EstimatorFields, ...]:
    """Every catalogue estimator with its parameters (sorted by name), for the template."""
    result = []
    for name, definition in CATALOGUE.items():
        params = tuple(
            ParamField(key, kind.describe(),
                       _json_text(definition.defaults[key]) if key in definition.defaults else "",
                       key in REQUIRED.get(name, set()), _choices(kind))
            for key, kind in sorted(definition.params.items()))
        result.append(EstimatorFields(name, definition.task, definition.averageable, params))
    return tuple(result)


def param_value(text: str, kind: Any) -> Any:
    """A form text as the JSON value a spec holds: JSON when it parses (``3``, ``0.5``, ``null``,
    ``true``, ``[64, 32]``), ``"64,32"`` for hidden layers, else the text itself (``lbfgs``)."""
    text = text.strip()
    if isinstance(kind, (Layers, AnyOf, Int, Float)) and _LAYERS_TEXT.match(text) and "," in text:
        return [int(part) for part in text.split(",")]
    try:
        return json.loads(text)
    except ValueError:
        return text


def field_name(prefix: str, estimator: str, param: str) -> str:
    """The input name of one hyper-parameter (``<prefix>p.<Estimator>.<param>``)."""
    return f"{prefix}p.{estimator}.{param}"


def model_from_form(form: Mapping[str, str], prefix: str = "") -> bytes:
    """The model file (canonical JSON of the given keys) described by the builder's fields
    ``<prefix>estimator``, ``<prefix>preprocessing`` and ``<prefix>p.<Estimator>.<param>``; empty
    parameters keep their defaults. Raises ``ModelFormError`` with the engine's message."""
    name = (form.get(f"{prefix}estimator") or "").strip()
    if name not in CATALOGUE:
        raise ModelFormError(f"choose an estimator from the catalogue (got {name!r})", f"{prefix}estimator")
    definition = CATALOGUE[name]
    params = {key: param_value(form[field_name(prefix, name, key)], kind)
              for key, kind in definition.params.items()
              if (form.get(field_name(prefix, name, key)) or "").strip()}
    steps = [s for s in PREPROCESSING if form.get(f"{prefix}preprocessing") == s]
    spec: dict[str, Any] = {"estimator": name, "params": params}
    if steps:
        spec["preprocessing"] = steps
    try:
        parse_spec(spec)
    except MLError as exc:
        bad = next((k for k in params if f"'{k}'" in exc.message), None)
        missing = next((k for k in REQUIRED.get(name, set()) if f"'{k}'" in exc.message), None)
        key = bad or missing
        raise ModelFormError(exc.message, field_name(prefix, name, key) if key else f"{prefix}estimator") from None
    return canonical_json(spec)
