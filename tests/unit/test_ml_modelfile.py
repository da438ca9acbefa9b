"""The safe model format: round trips, byte determinism, and refusal of anything that could run code."""

import hashlib
import io
import json
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

from dapp.ml.engine import Engine
from dapp.ml.errors import ModelError, UnsafeModelError
from dapp.ml.export import to_estimator
from dapp.ml.modelfile import Model, read_model, write_model
from tests.fixtures.ml.helpers import csv_split, spec, split

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
REPO = Path(__file__).resolve().parents[2]

CASES = [
    ("LogisticRegression", {"max_iter": 200}, (), load_wine, "classification"),
    ("LogisticRegression", {}, ("standard_scaler",), load_breast_cancer, "classification"),
    ("SGDClassifier", {"loss": "log_loss"}, ("standard_scaler",), load_wine, "classification"),
    ("LinearSVC", {"loss": "hinge"}, (), load_breast_cancer, "classification"),
    ("GaussianNB", {}, (), load_wine, "classification"),
    ("MLPClassifier", {"hidden_layer_sizes": [6, 4], "max_iter": 40}, ("standard_scaler",), load_breast_cancer,
     "classification"),
    ("DecisionTreeClassifier", {"max_depth": 5}, (), load_wine, "classification"),
    ("RandomForestClassifier", {"max_depth": 4, "n_estimators": 7}, (), load_breast_cancer, "classification"),
    ("Ridge", {"alpha": 0.3}, (), load_diabetes, "regression"),
    ("LinearRegression", {}, (), load_diabetes, "regression"),
    ("SGDRegressor", {}, ("standard_scaler",), load_diabetes, "regression"),
    ("MLPRegressor", {"hidden_layer_sizes": [5], "max_iter": 20}, (), load_diabetes, "regression"),
    ("DecisionTreeRegressor", {"max_depth": 4}, (), load_diabetes, "regression"),
    ("RandomForestRegressor", {"max_depth": 3, "n_estimators": 5}, (), load_diabetes, "regression"),
]


def trained(estimator, params, preprocessing, loader, task, seed=3):
    train_csv, valid_csv = csv_split(loader)
    metric = "accuracy" if task == "classification" else "r2"
    return Engine().score(task=task, metric=metric, label="target", validation=valid_csv,
                          model=spec(estimator, preprocessing, **params), train=train_csv, seed=seed)


@pytest.mark.parametrize("estimator, params, preprocessing, loader, task", CASES)
def test_trained_model_round_trips_and_predicts_as_the_fitted_one(estimator, params, preprocessing, loader, task):
    from dapp.ml.spec import build_estimator, parse_spec

    out = trained(estimator, params, preprocessing, loader, task)
    X_train, y_train, X_valid, _ = split(loader)
    oracle = build_estimator(parse_spec(json.loads(spec(estimator, preprocessing, **params))), 3).fit(X_train, y_train)
    restored = to_estimator(out.model_bytes)
    np.testing.assert_array_equal(restored.predict(X_valid), oracle.predict(X_valid))
    if hasattr(oracle, "predict_proba"):
        np.testing.assert_array_equal(restored.predict_proba(X_valid), oracle.predict_proba(X_valid))
    again = read_model(out.model_bytes)
    assert write_model(again) == out.model_bytes  # decode -> encode is the identity


@pytest.mark.parametrize("estimator, params, preprocessing, loader, task", CASES[:1] + CASES[7:8])
def test_written_models_are_byte_identical_across_runs_and_processes(estimator, params, preprocessing, loader, task):
    first = trained(estimator, params, preprocessing, loader, task).model_bytes
    assert trained(estimator, params, preprocessing, loader, task).model_bytes == first
    script = (
        "import hashlib, sys\n"
        "from tests.unit.test_ml_modelfile import CASES, trained\n"
        f"case = [c for c in CASES if c[0] == {estimator!r}][0]\n"
        "print(hashlib.sha256(trained(*case).model_bytes).hexdigest())\n"
    )
    child = subprocess.run([sys.executable, "-c", script], check=False, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == hashlib.sha256(first).hexdigest()


def test_zip_members_are_sorted_stored_and_timestamped_at_the_epoch():
    out = trained(*CASES[0]).model_bytes
    with zipfile.ZipFile(io.BytesIO(out)) as archive:
        infos = archive.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names) and "model.json" in names
    assert all(i.date_time == (1980, 1, 1, 0, 0, 0) and i.compress_type == zipfile.ZIP_STORED for i in infos)


class _Exploit:
    """Unpickling this would create a file (the test checks that it never exists)."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_pickle_that_would_create_a_file_is_rejected_and_never_run(tmp_path, protocol):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Exploit(str(marker)), protocol=protocol)
    for check in (read_model, Engine().check_model):
        with pytest.raises(UnsafeModelError) as err:
            check(payload)
        assert "pickle" in err.value.message and err.value.code == "unsafe_model"
    assert not marker.exists()


@pytest.mark.parametrize("compress", [0, 3, ("gzip", 3), ("bz2", 3), ("lzma", 3), ("xz", 3)])
def test_joblib_files_are_rejected_and_never_loaded(tmp_path, compress):
    from dapp.ml.spec import build_estimator, parse_spec

    marker = tmp_path / "pwned"
    path = tmp_path / "model.joblib"
    joblib.dump({"model": build_estimator(parse_spec({"estimator": "Ridge"}), 0), "x": _Exploit(str(marker))},
                path, compress=compress)
    with pytest.raises(UnsafeModelError):
        read_model(path.read_bytes())
    assert not marker.exists()


def test_npz_with_pickled_objects_and_zips_with_pickles_are_rejected(tmp_path):
    good = read_model(trained(*CASES[0]).model_bytes)
    members = {}
    with zipfile.ZipFile(io.BytesIO(write_model(good))) as archive:
        for name in archive.namelist():
            members[name] = archive.read(name)
    buffer = io.BytesIO()
    np.save(buffer, np.array([_Exploit("x")], dtype=object), allow_pickle=True)
    members["arrays/coef.npy"] = buffer.getvalue()
    with pytest.raises(UnsafeModelError, match="Python objects"):
        read_model(_zip(members))
    with pytest.raises(UnsafeModelError, match="pickle-like"):
        read_model(_zip({"model.json": b"{}", "archive/data.pkl": pickle.dumps(1)}))
    savez = io.BytesIO()
    np.savez(savez, coef=np.zeros(3))
    with pytest.raises(ModelError, match="no model.json"):
        read_model(savez.getvalue())


def _zip(members):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _tamper(model_bytes, name, change):
    model = read_model(model_bytes)
    arrays = dict(model.arrays)
    arrays[name] = change(arrays[name].copy())
    return write_model(Model(model.spec, model.features, arrays))


def test_trees_with_out_of_range_cyclic_or_shared_children_are_rejected():
    out = trained(*CASES[6]).model_bytes

    def out_of_range(a):
        a[0] = 10**9
        return a

    def back_to_root(a):
        a[np.argmax(a > 0)] = 0
        return a

    def shared(a):
        a[a > 0] = a.max()
        return a

    for name, change in (("node_left", out_of_range), ("node_right", back_to_root), ("node_right", shared)):
        with pytest.raises(ModelError) as err:
            Engine().check_model(_tamper(out, name, change))
        assert err.value.code == "model_bad_tree"


def test_arrays_of_the_wrong_shape_dtype_or_value_are_rejected():
    out = trained(*CASES[0]).model_bytes
    with pytest.raises(ModelError, match="shape"):
        Engine().check_model(_tamper(out, "coef", lambda a: a[:, :-1]))
    with pytest.raises(ModelError, match="NaN"):
        Engine().check_model(_tamper(out, "coef", lambda a: a * np.nan))
    with pytest.raises(ModelError, match="float64"):
        Engine().check_model(_tamper(out, "coef", lambda a: a.astype(np.int64)))


@pytest.mark.parametrize("data, code", [
    (b'{"estimator": "Ridge", "estimator": "Ridge"}', "model_bad_json"),
    (b'{"estimator": "Ridge", "params": {"alpha": NaN}}', "model_bad_json"),
    (b"\xff{", "model_unknown_format"),
    (b"hello", "model_unknown_format"),
    (b"", "model_unknown_format"),
    (b"PK\x03\x04garbage", "model_bad_zip"),
    (b"[" * 100000, "model_unknown_format"),
    (b" {" + b"[" * 60000, "model_bad_json"),
])
def test_malformed_model_files_get_specific_errors(data, code):
    with pytest.raises(ModelError) as err:
        read_model(data)
    assert err.value.code == code


def test_model_files_are_size_bounded():
    from dapp.ml.limits import MLLimits

    with pytest.raises(ModelError) as err:
        read_model(b"{" + b" " * 100 + b"}", MLLimits(max_spec_bytes=50))
    assert err.value.code == "model_too_large"


def test_untrained_spec_is_plain_json_and_canonical():
    model = read_model(b'{"estimator": "LogisticRegression", "params": {"C": 2}}')
    assert not model.trained
    canonical = write_model(model)
    assert json.loads(canonical) == {"estimator": "LogisticRegression", "params": json.loads(canonical)["params"],
                                     "preprocessing": []}
    assert read_model(canonical) == model and os.linesep.encode() not in canonical


def test_a_forest_tree_cannot_point_into_the_next_tree():
    out = trained(*CASES[7]).model_bytes
    counts = read_model(out).arrays["tree_node_counts"]

    def into_next_tree(a):
        first_internal_of_tree_0 = 0
        a[first_internal_of_tree_0] = counts[0] + 1  # a local index past the end of tree 0
        return a

    with pytest.raises(ModelError) as err:
        Engine().check_model(_tamper(out, "node_left", into_next_tree))
    assert err.value.code == "model_bad_tree"


def test_tree_node_counts_cannot_overflow_into_a_plausible_total():
    out = trained(*CASES[7]).model_bytes
    total = int(read_model(out).arrays["tree_node_counts"].sum())

    def overflowing(a):  # four counts of 2**62 sum to 2**64, i.e. 0 in int64: the total looks right
        a[:] = [2**62, 2**62, 2**62, 2**62, total - 2, 1, 1]
        return a

    with pytest.raises(ModelError) as err:
        Engine().check_model(_tamper(out, "tree_node_counts", overflowing))
    assert err.value.code == "model_array_value"
