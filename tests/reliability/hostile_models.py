"""A corpus of hostile model files, each with the error code the engine must refuse it with.

``corpus(marker_dir)`` builds it; ``python -m tests.reliability.hostile_models OUT`` writes it to
``OUT/<name>.bin`` with ``OUT/index.json`` (name, expected code, size) for a look by hand. Every
pickle in it would, if loaded, create a file in ``marker_dir`` (through ``open``, ``os.system``,
``exec``, ``subprocess.Popen``), so a test proves nothing ran by finding that directory empty.

Groups: pickles (protocols 0-5, bare and wrapped around a real estimator); joblib dumps (plain,
zlib, gzip, bz2, lzma, xz); zips holding pickles (``.pkl`` members, a PyTorch-style archive, an npy
of Python objects, ``np.savez`` of objects); bare npy; arrays of a real trained model replaced by
oversized, lying, malformed or wrongly typed ones; specs with huge, negative, non-finite, unknown
or too costly hyper-parameters, deeply nested or oversized JSON; forests whose trees loop, share or
escape their nodes. The trained models are made here with the engine itself (a small synthetic
dataset, ``CSV_TRAIN`` / ``CSV_VALID``: features f0..f3, label ``target``).
"""

from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from dapp.ml.engine import Engine
from tests.fixtures.ml.helpers import to_csv

_RNG = np.random.default_rng(0)
_X = _RNG.normal(size=(300, 4)).round(3)
_Y = (_X[:, 0] + _X[:, 1] > 0).astype(int)
CSV_TRAIN, CSV_VALID = to_csv(_X[:200], _Y[:200]), to_csv(_X[200:], _Y[200:])


@dataclass(frozen=True)
class Hostile:
    """One hostile file: ``code`` is the error it must be refused with; ``via_app`` says whether the
    test also uploads and submits it through ``App`` dispatch (files over the 8 MiB store limit
    cannot be uploaded, so the store refuses them first)."""

    name: str
    data: bytes
    code: str
    via_app: bool = True


class _Reduce:
    """Pickles as a call of ``func(*args)``: what unpickling would run."""

    def __init__(self, func: Callable[..., Any], *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Any, ...]:
        return self.func, self.args


def _exploits(marker_dir: Path) -> dict[str, _Reduce]:
    def marker(name: str) -> str:
        return str(marker_dir / name)

    return {
        "open": _Reduce(open, marker("open"), "w"),
        "os_system": _Reduce(os.system, f"touch {marker('os_system')}"),
        "exec": _Reduce(exec, f"open({marker('exec')!r}, 'w').close()"),
        "popen": _Reduce(subprocess.Popen, ["touch", marker("popen")]),
    }


def _zip(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _members(model: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(model)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _npy(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, version=(1, 0), allow_pickle=allow_pickle)
    return buffer.getvalue()


def _npy_header(header: str, data: bytes = b"", version: bytes = b"\x01\x00") -> bytes:
    """An npy file with a hand-written header dict (which may lie about the data)."""
    text = header.encode("latin1")
    text += b" " * (-(len(text) + 11) % 64) + b"\n"
    return b"\x93NUMPY" + version + len(text).to_bytes(2, "little") + text + data


def _trained(spec: dict[str, Any]) -> bytes:
    scored = Engine().score(task="classification", metric="accuracy", label="target", validation=CSV_VALID,
                            model=json.dumps(spec).encode(), train=CSV_TRAIN, seed=1)
    assert scored.model_bytes is not None
    return scored.model_bytes


def _with(model: bytes, **arrays: bytes) -> bytes:
    """``model`` (a trained zip) with ``arrays/<name>.npy`` members replaced by the given bytes."""
    members = _members(model)
    members.update({f"arrays/{name}.npy": data for name, data in arrays.items()})
    return _zip(members)


def _pickles(exploits: dict[str, _Reduce]) -> list[Hostile]:
    from sklearn.linear_model import LogisticRegression

    items = [Hostile(f"pickle_{how}_p{protocol}", pickle.dumps(exploit, protocol=protocol), "unsafe_model")
             for how, exploit in exploits.items() for protocol in range(pickle.HIGHEST_PROTOCOL + 1)]
    wrapped = {"model": LogisticRegression(), "hook": exploits["os_system"]}
    items.append(Hostile("pickle_estimator_with_hook", pickle.dumps(wrapped), "unsafe_model"))
    for compress in (0, 3, "gzip", "bz2", "lzma", "xz"):
        buffer = io.BytesIO()
        joblib.dump({"model": LogisticRegression(), "coef": np.zeros(3), "hook": exploits["open"]}, buffer,
                    compress=compress)
        items.append(Hostile(f"joblib_{compress}", buffer.getvalue(), "unsafe_model"))
    return items


def _archives(exploits: dict[str, _Reduce], linear: bytes) -> list[Hostile]:
    evil = pickle.dumps(exploits["popen"])
    objects = _npy(np.array([exploits["exec"]], dtype=object), allow_pickle=True)
    savez = io.BytesIO()
    np.savez(savez, coef=np.array([exploits["exec"]], dtype=object))
    deep = "[" * 30_000 + "]" * 30_000
    return [
        Hostile("zip_with_pkl_member", _zip({"model.json": b"{}", "model.pkl": evil}), "unsafe_model"),
        Hostile("zip_pytorch_style", _zip({"archive/data.pkl": evil, "archive/version": b"3"}), "unsafe_model"),
        Hostile("zip_npy_of_python_objects", _with(linear, coef=objects), "unsafe_model"),
        Hostile("zip_pickle_posing_as_npy", _with(linear, coef=evil), "model_bad_array"),
        Hostile("npz_of_python_objects", savez.getvalue(), "model_bad_zip"),
        Hostile("bare_npy_of_python_objects", objects, "model_unknown_format"),
        Hostile("zip_deflated_members", _zip(_members(linear), zipfile.ZIP_DEFLATED), "model_bad_zip"),
        Hostile("zip_bomb_manifest", _zip({"model.json": b" " * (64 << 20)}, zipfile.ZIP_DEFLATED), "model_bad_zip"),
        Hostile("zip_path_traversal_member", _zip({**_members(linear), "../../../tmp/evil.npy": b"x"}),
                "model_bad_zip"),
        Hostile("zip_too_many_members", _zip({f"arrays/a{i}.npy": b"" for i in range(80)}), "model_bad_zip"),
        Hostile("zip_deeply_nested_manifest", _zip({**_members(linear), "model.json": deep.encode()}),
                "model_bad_json"),
        Hostile("zip_truncated", linear[: len(linear) // 2], "model_bad_zip"),
    ]


def _arrays(linear: bytes, mlp: bytes, nb: bytes) -> list[Hostile]:
    descr = "{'descr': '<f8', 'fortran_order': False, 'shape': %s, }"
    coef = np.zeros((1, 4))
    return [
        Hostile("array_shape_claims_8_terabytes", _with(linear, coef=_npy_header(descr % "(1, 1000000000000)")),
                "model_bad_array"),
        Hostile("array_shape_overflowing_int64", _with(linear, coef=_npy_header(descr % "(2**62, 2**62)")),
                "model_bad_array"),
        Hostile("array_4mib_wrong_shape", _with(linear, coef=_npy(np.zeros((1, 500_000)))), "model_array_shape"),
        Hostile("array_header_over_1kib", _with(linear, coef=_npy_header(descr % "(1, 4)" + " " * 2000,
                                                                         coef.tobytes())), "model_bad_array"),
        Hostile("array_npy_version_2", _with(linear, coef=_npy_header(descr % "(1, 4)", coef.tobytes(), b"\x02\x00")),
                "model_bad_array"),
        Hostile("array_4_dimensions", _with(linear, coef=_npy(np.zeros((1, 1, 1, 4)))), "model_bad_array"),
        Hostile("array_fortran_order", _with(linear, coef=_npy(np.asfortranarray(np.zeros((2, 4))))),
                "model_bad_array"),
        *(Hostile(f"array_dtype_{name}", _with(linear, coef=_npy(np.zeros((1, 4), dtype=dtype))), "model_bad_array")
          for name, dtype in (("float32", "<f4"), ("big_endian_float64", ">f8"), ("float16", "<f2"),
                              ("complex128", "<c16"), ("int32", "<i4"), ("bool", "|b1"), ("unicode", "<U8"),
                              ("datetime64", "<M8[s]"))),
        Hostile("array_nan_coefficients", _with(linear, coef=_npy(np.full((1, 4), np.nan))), "model_array_not_finite"),
        Hostile("array_infinite_intercept", _with(linear, intercept=_npy(np.array([np.inf]))), "model_array_not_finite"),
        Hostile("array_200_classes", _with(linear, classes=_npy(np.arange(200, dtype=np.int64))), "model_array_shape"),
        Hostile("array_mlp_layer_mismatch", _with(mlp, coefs_0=_npy(np.zeros((4, 7)))), "model_array_shape"),
        Hostile("array_negative_variance", _with(nb, var=_npy(-np.ones((2, 4)))), "model_array_value"),
        Hostile("array_zero_scaler_scale", _with(mlp, scaler_scale=_npy(np.zeros(4))), "model_array_value"),
    ]


def _forests(forest: bytes) -> list[Hostile]:
    members = _members(forest)
    read = {n[7:-4]: np.lib.format.read_array(io.BytesIO(d)) for n, d in members.items() if n.startswith("arrays/")}
    left, counts = read["node_left"], read["tree_node_counts"]
    internal = int(np.flatnonzero(left >= 0)[1])  # an internal node below the first root

    def changed(name: str, edit: Callable[[np.ndarray], None]) -> bytes:
        array = read[name].copy()
        edit(array)
        return _with(forest, **{name: _npy(array)})

    manifest = json.loads(members["model.json"])
    manifest["spec"]["params"]["max_depth"] = 1
    shallow = _zip({**members, "model.json": json.dumps(manifest).encode()})
    return [
        Hostile("forest_node_is_its_own_child", changed("node_left", lambda a: a.__setitem__(internal, internal)),
                "model_bad_tree"),
        Hostile("forest_child_points_back_to_root", changed("node_right", lambda a: a.__setitem__(internal, 0)),
                "model_bad_tree"),
        Hostile("forest_shared_child", changed("node_right", lambda a: a.__setitem__(internal, left[internal])),
                "model_bad_tree"),
        Hostile("forest_child_out_of_range", changed("node_left", lambda a: a.__setitem__(0, 10**9)), "model_bad_tree"),
        Hostile("forest_child_in_next_tree", changed("node_left", lambda a: a.__setitem__(0, int(counts[0]) + 1)),
                "model_bad_tree"),
        Hostile("forest_feature_out_of_range", changed("node_feature", lambda a: a.__setitem__(0, 99)), "model_bad_tree"),
        Hostile("forest_nan_threshold", changed("node_threshold", lambda a: a.__setitem__(0, np.nan)),
                "model_array_not_finite"),
        Hostile("forest_trillion_nodes", changed("tree_node_counts", lambda a: a.__setitem__(0, 10**12)),
                "model_array_value"),
        Hostile("forest_deeper_than_its_spec", shallow, "model_bad_tree"),
        Hostile("forest_counts_disagree", changed("tree_node_counts", lambda a: a.__setitem__(0, a[0] - 1)),
                "model_array_shape"),
    ]


def _specs() -> list[Hostile]:
    def spec(estimator: str, **params: Any) -> bytes:
        return json.dumps({"estimator": estimator, "params": params}).encode()

    return [
        Hostile("spec_billion_trees", spec("RandomForestClassifier", n_estimators=10**9, max_depth=3), "param_out_of_bounds"),
        Hostile("spec_negative_trees", spec("RandomForestClassifier", n_estimators=-1, max_depth=3), "param_out_of_bounds"),
        Hostile("spec_max_iter_1e308", spec("LogisticRegression", max_iter=1e308), "param_out_of_bounds"),
        Hostile("spec_c_overflowing_to_infinity", b'{"estimator": "LogisticRegression", "params": {"C": 1e400}}',
                "param_out_of_bounds"),
        Hostile("spec_c_nan_literal", b'{"estimator": "LogisticRegression", "params": {"C": NaN}}', "model_bad_json"),
        Hostile("spec_c_negative", spec("LogisticRegression", C=-1.0), "param_out_of_bounds"),
        Hostile("spec_5000_digit_integer", b'{"estimator": "Ridge", "params": {"alpha": 1' + b"0" * 5000 + b"}}",
                "model_bad_json"),
        Hostile("spec_huge_layers", spec("MLPClassifier", hidden_layer_sizes=[100_000, 100_000]), "param_out_of_bounds"),
        Hostile("spec_too_costly_to_train", spec("MLPClassifier", hidden_layer_sizes=[256, 256, 256], max_iter=2000),
                "training_too_costly"),
        Hostile("spec_unknown_parameter", spec("LogisticRegression", __class__="os.system"), "param_not_allowed"),
        Hostile("spec_estimator_as_import_path", json.dumps({"estimator": "os.system"}).encode(), "estimator_not_allowed"),
        Hostile("spec_duplicate_keys", b'{"estimator": "Ridge", "estimator": "LogisticRegression"}', "model_bad_json"),
        Hostile("spec_deeply_nested", ('{"estimator": "Ridge", "params": {"alpha": ' + "[" * 30_000 + "]" * 30_000 + "}}")
                .encode(), "model_bad_json"),
        Hostile("spec_over_64_kib", b'{"estimator": "Ridge"' + b" " * 70_000 + b"}", "model_too_large"),
        Hostile("spec_over_8_mib", b'{"estimator": "Ridge"' + b" " * (9 << 20) + b"}", "model_too_large", via_app=False),
        Hostile("spec_not_utf8", b'{"estimator": "\xff\xfe"}', "model_bad_json"),
    ]


def corpus(marker_dir: Path) -> list[Hostile]:
    """Every hostile file (module docstring); pickles aim at files in ``marker_dir``."""
    exploits = _exploits(marker_dir)
    linear = _trained({"estimator": "LogisticRegression"})
    forest = _trained({"estimator": "RandomForestClassifier", "params": {"max_depth": 4, "n_estimators": 3}})
    mlp = _trained({"estimator": "MLPClassifier", "params": {"hidden_layer_sizes": [5], "max_iter": 50},
                    "preprocessing": ["standard_scaler"]})
    nb = _trained({"estimator": "GaussianNB"})
    return [*_pickles(exploits), *_archives(exploits, linear), *_arrays(linear, mlp, nb), *_forests(forest), *_specs()]


def main(argv: list[str] | None = None) -> None:
    """Writes the corpus to ``argv[0]`` (``OUT/<name>.bin``, ``OUT/index.json``; markers in ``OUT/markers``)."""
    out = Path((sys.argv[1:] if argv is None else argv)[0])
    (out / "markers").mkdir(parents=True, exist_ok=True)
    items = corpus(out / "markers")
    for item in items:
        (out / f"{item.name}.bin").write_bytes(item.data)
    index = [{"name": i.name, "code": i.code, "bytes": len(i.data), "via_app": i.via_app} for i in items]
    (out / "index.json").write_text(json.dumps(index, indent=1))
    print(f"{len(items)} hostile model files in {out}")


if __name__ == "__main__":
    main()
