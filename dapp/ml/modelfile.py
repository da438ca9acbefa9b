"""The model file format, which never unpickles.

- An untrained model is plain JSON: ``{"estimator": "...", "params": {...}, "preprocessing": [...]}``.
- A trained model is a zip (stored, not compressed) with sorted members ``arrays/<name>.npy`` (npy
  format 1.0, dtypes float64 / int64 / uint8 only) and ``model.json``:
  ``{"format": "mlmarket-model/1", "spec": {...}, "features": [...], "arrays": [...names]}``.
  Every timestamp is 1980-01-01 and every attribute fixed, so writing is byte-deterministic.
- A trained model may also declare the differential privacy its contributor gave it (a noised
  federated update, docs/MODELS.md "Private updates"): ``model.json`` then has a fifth key
  ``"privacy": {"epsilon_millionths": <int>, "delta_trillionths": <int>}`` (integers, so the
  declaration is exact and canonical: 0 < epsilon <= 100, 0 < delta < 1). Nothing in the file can
  prove it: the machine records it and checks the one thing it can, the update's distance from the
  global model (``JobSpec.clip_norm``, :func:`dapp.ml.fedavg.check_update`).

Pickles, joblib files (plain or compressed), bare ``.npy`` files and zips holding pickles are
recognised and refused with :class:`UnsafeModelError` before anything is parsed; nothing in this
module can import a class or run code named by the file.
"""

from __future__ import annotations

import io
import json
import pickletools
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from dapp.ml.errors import ModelError, UnsafeModelError
from dapp.ml.limits import DEFAULT_LIMITS, MLLimits
from dapp.ml.spec import ModelSpec, canonical_json, parse_spec

FORMAT = "mlmarket-model/1"
MANIFEST = "model.json"
MAX_EPSILON = 100_000_000  # millionths: a declared epsilon is in (0, 100]
DELTA_UNITS = 10**12  # a declared delta is in trillionths, in (0, 1)
_DTYPES = ("<f8", "<i8", "|u1")
_ARRAY_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
_EPOCH = (1980, 1, 1, 0, 0, 0)
_UNSAFE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".pt", ".pth", ".sav", ".dill")
_COMPRESSED = (
    (b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\xfd7zXZ\x00", "xz"), (b"\x5d\x00\x00", "lzma"),
    (b"\x28\xb5\x2f\xfd", "zstd"), (b"\x04\x22\x4d\x18", "lz4"), (b"ZF", "joblib (old format)"),
)


@dataclass(frozen=True, slots=True)
class Privacy:
    """A declared (epsilon, delta) of differential privacy: epsilon in millionths (1 to
    :data:`MAX_EPSILON`), delta in trillionths (1 to ``DELTA_UNITS - 1``)."""

    epsilon: int
    delta: int

    def __post_init__(self) -> None:
        for name, value, top in (("epsilon_millionths", self.epsilon, MAX_EPSILON),
                                 ("delta_trillionths", self.delta, DELTA_UNITS - 1)):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
                raise ModelError(f"privacy '{name}' must be an integer from 1 to {top}, got {value!r} "
                                 "(0 < epsilon <= 100 in millionths, 0 < delta < 1 in trillionths)",
                                 code="model_bad_privacy")

    def to_json(self) -> dict[str, int]:
        """The ``privacy`` object of ``model.json``."""
        return {"epsilon_millionths": self.epsilon, "delta_trillionths": self.delta}

    @classmethod
    def from_json(cls, value: Any) -> Privacy:
        """Parses ``model.json``'s ``privacy`` object (ModelError unless exactly its two integers)."""
        if not isinstance(value, dict) or set(value) != {"epsilon_millionths", "delta_trillionths"}:
            raise ModelError("'privacy' must be an object with exactly the integers epsilon_millionths and "
                             "delta_trillionths", code="model_bad_privacy")
        return cls(value["epsilon_millionths"], value["delta_trillionths"])


@dataclass(frozen=True)
class Model:
    """A decoded model file: the spec, and for a trained model its feature names and arrays (and the
    differential privacy its contributor declared, if any)."""

    spec: ModelSpec
    features: tuple[str, ...] | None = None
    arrays: Mapping[str, np.ndarray] | None = None
    privacy: Privacy | None = None

    @property
    def trained(self) -> bool:
        """Whether the model holds fitted arrays."""
        return self.arrays is not None


def read_model(data: bytes, limits: MLLimits = DEFAULT_LIMITS) -> Model:
    """Decodes a model file (JSON spec or trained zip). Raises UnsafeModelError for pickle-like
    content and ModelError for anything else that is not a valid, bounded model file."""
    if len(data) > limits.max_model_bytes:
        raise ModelError(f"model file is {len(data)} bytes; the limit is {limits.max_model_bytes}",
                         code="model_too_large")
    if data[:4] == b"PK\x03\x04" or data[:4] == b"PK\x05\x06":
        return _read_zip(data, limits)
    if data.lstrip()[:1] == b"{":
        if len(data) > limits.max_spec_bytes:
            raise ModelError(f"a JSON spec is limited to {limits.max_spec_bytes} bytes", code="model_too_large")
        return Model(parse_spec(load_json(data, "model spec")))
    raise _unknown_format(data)


def write_model(model: Model) -> bytes:
    """Canonical bytes: the spec's JSON if untrained, else the deterministic zip."""
    if not model.trained:
        return model.spec.to_bytes()
    names = sorted(model.arrays)
    manifest = {"format": FORMAT, "spec": model.spec.to_json(), "features": list(model.features),
                "arrays": names}
    if model.privacy is not None:
        manifest["privacy"] = model.privacy.to_json()
    members = {MANIFEST: canonical_json(manifest)}
    for name in names:
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, np.asarray(model.arrays[name], order="C"), version=(1, 0),
                                  allow_pickle=False)
        members[f"arrays/{name}.npy"] = buffer.getvalue()
    return _zip(members)


MAX_JSON_DEPTH = 32
_JSON_STRING = re.compile(r'"(?:\\.|[^"\\])*"')


def _nesting_depth(text: str) -> int:
    """The deepest nesting of arrays/objects in ``text`` (strings ignored)."""
    depth = deepest = 0
    for char in _JSON_STRING.sub("", text):
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def load_json(data: bytes, what: str) -> Any:
    """Strict JSON: UTF-8, no duplicate keys, no NaN/Infinity. ModelError otherwise."""

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
        result = {}
        for key, value in pairs:
            if key in result:
                raise ValueError(f"duplicate key {key!r}")
            result[key] = value
        return result

    def no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not allowed")

    try:
        text = data.decode("utf-8")
        depth = _nesting_depth(text)
        if depth > MAX_JSON_DEPTH:  # decided here, not by the process's recursion limit
            raise ValueError(f"nested {depth} levels deep, at most {MAX_JSON_DEPTH}")
        return json.loads(text, object_pairs_hook=no_duplicates, parse_constant=no_constants)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ModelError(f"{what} is not valid JSON: {exc}", code="model_bad_json") from None


def _unknown_format(data: bytes) -> ModelError:
    if len(data) >= 2 and data[0] == 0x80 and 2 <= data[1] <= 5:
        return UnsafeModelError(f"this is a pickle (protocol {data[1]}), e.g. a joblib or pickle dump of a "
                                "scikit-learn model; pickles can run code and are never loaded: submit a "
                                "JSON spec or a trained model in the safe zip format (docs/MODELS.md)")
    for magic, kind in _COMPRESSED:
        if data.startswith(magic):
            return UnsafeModelError(f"this is {kind}-compressed data (joblib's compressed dumps look like "
                                    "this); compressed or pickled models are never loaded")
    if len(data) >= 2 and data[0] == 0x78 and (data[0] * 256 + data[1]) % 31 == 0:
        return UnsafeModelError("this is zlib-compressed data (joblib's default compression); compressed "
                                "or pickled models are never loaded")
    if data.startswith(b"\x93NUMPY"):
        return ModelError("a bare .npy array is not a model file", code="model_unknown_format")
    if _looks_like_pickle(data):
        return UnsafeModelError("this is a pickle (protocol 0/1); pickles can run code and are never loaded")
    return ModelError("unknown model format: expected a JSON spec or a trained-model zip", code="model_unknown_format")


def _looks_like_pickle(data: bytes) -> bool:
    """Disassembles (never executes) the bytes as pickle opcodes: True if they form one pickle."""
    try:
        last = None
        for last in pickletools.genops(data[:1 << 20]):
            pass
        return last is not None and last[0].name == "STOP"
    except ValueError:  # genops' only failure (UnicodeDecodeError included): "not a pickle"
        return False


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_STORED
            info.create_system = 3
            info.external_attr = 0o644 << 16
            archive.writestr(info, members[name])
    return buffer.getvalue()


def _read_zip(data: bytes, limits: MLLimits) -> Model:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            _check_members(infos, len(data), limits)
            manifest = load_json(archive.read(MANIFEST), MANIFEST)
            spec, features, names, privacy = _parse_manifest(manifest, limits)
            expected = {MANIFEST, *(f"arrays/{name}.npy" for name in names)}
            if expected != {info.filename for info in infos}:
                raise ModelError("zip members do not match the arrays listed in model.json",
                                 code="model_bad_zip")
            arrays = {name: _read_npy(name, archive.read(f"arrays/{name}.npy")) for name in names}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, RuntimeError,
            NotImplementedError) as exc:
        raise ModelError(f"corrupt or unsupported zip: {exc}", code="model_bad_zip") from None
    from dapp.ml.fitted import expected_names

    if set(arrays) != expected_names(spec, arrays):
        wanted = ", ".join(sorted(expected_names(spec, arrays)))
        raise ModelError(f"a trained {spec.estimator} must hold exactly the arrays: {wanted}",
                         code="model_array_missing")
    if "classes" in arrays and arrays["classes"].size > limits.max_classes:
        raise ModelError(f"a model may have at most {limits.max_classes} classes", code="model_array_shape")
    return Model(spec, features, arrays, privacy)


def _check_members(infos: list[zipfile.ZipInfo], size: int, limits: MLLimits) -> None:
    if len(infos) > limits.max_members:
        raise ModelError(f"zip has more than {limits.max_members} members", code="model_bad_zip")
    names = [info.filename for info in infos]
    for name in names:
        if name.lower().endswith(_UNSAFE_SUFFIXES):
            raise UnsafeModelError(f"zip member {name!r} is a pickle-like file; it is never loaded")
    if len(set(names)) != len(names):
        raise ModelError("zip has duplicate members", code="model_bad_zip")
    if MANIFEST not in names:
        raise ModelError("zip has no model.json: not a model file of this market (np.savez, skops and "
                         "other archives are not accepted)", code="model_bad_zip")
    for info in infos:
        if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1 or info.file_size > size:
            raise ModelError(f"zip member {info.filename!r} must be stored uncompressed and unencrypted",
                             code="model_bad_zip")


def _parse_manifest(manifest: Any, limits: MLLimits
                    ) -> tuple[ModelSpec, tuple[str, ...], list[str], Privacy | None]:
    keys = {"format", "spec", "features", "arrays"}
    if not isinstance(manifest, dict) or not keys <= set(manifest) <= keys | {"privacy"}:
        raise ModelError("model.json must have exactly the keys format, spec, features, arrays (and "
                         "optionally privacy)", code="model_bad_manifest")
    if manifest["format"] != FORMAT:
        raise ModelError(f"unsupported model format {manifest['format']!r}; expected {FORMAT!r}",
                         code="model_bad_manifest")
    features = manifest["features"]
    if (not isinstance(features, list) or not 1 <= len(features) <= limits.max_features
            or not all(valid_column_name(f, limits) for f in features) or len(set(features)) != len(features)):
        raise ModelError(f"'features' must list 1 to {limits.max_features} distinct column names",
                         code="model_bad_manifest")
    names = manifest["arrays"]
    if (not isinstance(names, list) or not all(isinstance(n, str) and _ARRAY_NAME.match(n) for n in names)
            or names != sorted(set(names))):
        raise ModelError("'arrays' must be a sorted list of distinct array names", code="model_bad_manifest")
    privacy = Privacy.from_json(manifest["privacy"]) if "privacy" in manifest else None
    return parse_spec(manifest["spec"]), tuple(features), names, privacy


def valid_column_name(name: Any, limits: MLLimits = DEFAULT_LIMITS) -> bool:
    """A CSV column name: non-empty text without commas, quotes or line breaks, within the byte limit."""
    return (isinstance(name, str) and 0 < len(name.encode("utf-8")) <= limits.max_name_bytes
            and not any(c in name for c in ',"\r\n'))


def _read_npy(name: str, raw: bytes) -> np.ndarray:
    stream = io.BytesIO(raw)
    try:
        version = np.lib.format.read_magic(stream)
        if version != (1, 0):
            raise ValueError(f"npy version {version} (only 1.0 is written)")
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream, max_header_size=1024)
    except ValueError as exc:
        raise ModelError(f"array {name!r} is not a valid npy file: {exc}", code="model_bad_array") from None
    if dtype.hasobject:
        raise UnsafeModelError(f"array {name!r} holds Python objects (stored as a pickle); never loaded")
    if dtype.str not in _DTYPES or fortran or len(shape) > 3:
        raise ModelError(f"array {name!r} must be a C-ordered float64, int64 or uint8 array of at most "
                         f"3 dimensions, got {dtype.str} {shape}", code="model_bad_array")
    count = 1
    for dim in shape:
        count *= dim
    offset = stream.tell()
    if len(raw) - offset != count * dtype.itemsize:
        raise ModelError(f"array {name!r} has {len(raw) - offset} data bytes; its header says "
                         f"{count * dtype.itemsize}", code="model_bad_array")
    return np.frombuffer(raw, dtype=dtype, count=count, offset=offset).reshape(shape).copy()
