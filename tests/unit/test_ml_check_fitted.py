"""``check_fitted`` makes exactly the checks of ``restore``: on valid arrays both pass, on every broken
variant both raise the same error (class, code, message), for trees and forests (where it builds
nothing) as for the other families; and a worker fitting any catalogue family imports nothing."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

from dapp.ml.errors import ModelError
from dapp.ml.fitted import check_fitted, extract, restore
from dapp.ml.spec import build_estimator, parse_spec
from tests.fixtures.ml.helpers import split

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
REPO = Path(__file__).resolve().parents[2]
TREES = [
    ("DecisionTreeClassifier", {"max_depth": 5}, [], load_wine),
    ("RandomForestClassifier", {"max_depth": 4, "n_estimators": 7}, [], load_breast_cancer),
    ("RandomForestClassifier", {"max_depth": 3, "n_estimators": 3}, ["standard_scaler"], load_wine),
    ("DecisionTreeRegressor", {"max_depth": 4}, [], load_diabetes),
    ("RandomForestRegressor", {"max_depth": 3, "n_estimators": 5}, ["standard_scaler"], load_diabetes),
]
OTHERS = [
    ("GaussianNB", {}, [], load_wine),
    ("LogisticRegression", {"max_iter": 200}, ["standard_scaler"], load_breast_cancer),
    ("LinearSVC", {}, [], load_breast_cancer),
    ("MLPClassifier", {"hidden_layer_sizes": [4, 3], "max_iter": 20}, [], load_wine),
    ("MLPRegressor", {"hidden_layer_sizes": [5], "max_iter": 20}, [], load_diabetes),
    ("Ridge", {"alpha": 0.3}, ["standard_scaler"], load_diabetes),
    ("SGDRegressor", {}, [], load_diabetes),
]


def _fitted(estimator, params, preprocessing, loader):
    spec = parse_spec({"estimator": estimator, "params": params, "preprocessing": preprocessing})
    X, y, _, _ = split(loader)
    return spec, extract(spec, build_estimator(spec, 3).fit(X, y)), X.shape[1]


def _set(index, value):
    def change(a):
        a = a.copy()
        a.reshape(-1)[index] = value
        return a
    return change


def _first_internal(arrays):
    return int(np.argmax(arrays["node_left"] >= 0))


def _variants(arrays):
    """(what, array name, change) for every kind of broken tree table."""
    leaf = int(np.argmax(arrays["node_left"] < 0))
    internal = _first_internal(arrays)
    yield "a count more", "tree_node_counts", _set(0, int(arrays["tree_node_counts"][0]) + 1)
    yield "a count of zero", "tree_node_counts", _set(0, 0)
    yield "counts that overflow", "tree_node_counts", lambda a: np.full_like(a, 2**62)
    yield "float seeds", "tree_seeds", lambda a: a.astype(np.float64)
    yield "values of another shape", "node_values", lambda a: a[:-1].copy()
    yield "a NaN value", "node_values", _set(0, np.nan)
    yield "a child out of range", "node_left", _set(internal, 10**9)
    yield "a child pointing back", "node_right", _set(internal, 0)
    yield "a child that is its sibling", "node_left", _set(internal, arrays["node_right"][internal])
    yield "a leaf with a right child", "node_right", _set(leaf, 1)
    yield "a leaf with a feature", "node_feature", _set(leaf, 0)
    yield "a feature out of range", "node_feature", _set(internal, 10**6)
    yield "an infinite threshold", "node_threshold", _set(internal, np.inf)
    yield "a missing-values flag of 2", "node_missing_left", _set(0, 2)
    yield "int32 samples", "node_samples", lambda a: a.astype(np.int32)
    yield "a missing column", "node_impurity", None
    if "classes" in arrays:
        yield "classes not increasing", "classes", lambda a: a[::-1].copy()
    if "scaler_scale" in arrays:
        yield "a zero scale", "scaler_scale", _set(0, 0.0)


def _outcome(check, spec, arrays, n_features):
    try:
        check(spec, dict(arrays), n_features)
    except ModelError as exc:
        return type(exc).__name__, exc.code, exc.message
    return None


def _restore(spec, arrays, n_features):
    restore(spec, arrays, n_features)


@pytest.mark.parametrize("estimator, params, preprocessing, loader", TREES + OTHERS)
def test_valid_fitted_arrays_pass_both(estimator, params, preprocessing, loader):
    spec, arrays, n_features = _fitted(estimator, params, preprocessing, loader)
    assert _outcome(check_fitted, spec, arrays, n_features) is None
    assert _outcome(_restore, spec, arrays, n_features) is None


@pytest.mark.parametrize("estimator, params, preprocessing, loader", TREES)
def test_every_broken_tree_table_gets_the_same_error_as_restore(estimator, params, preprocessing, loader):
    spec, arrays, n_features = _fitted(estimator, params, preprocessing, loader)
    for what, name, change in _variants(arrays):
        broken = dict(arrays)
        if change is None:
            del broken[name]
        else:
            broken[name] = change(arrays[name])
        expected = _outcome(_restore, spec, broken, n_features)
        assert expected is not None, what
        assert _outcome(check_fitted, spec, broken, n_features) == expected, what


@pytest.mark.parametrize("estimator, params, preprocessing, loader", TREES)
def test_a_tree_deeper_than_the_spec_or_a_feature_count_too_small_gets_the_same_error(
        estimator, params, preprocessing, loader):
    spec, arrays, n_features = _fitted(estimator, params, preprocessing, loader)
    shallow = parse_spec({"estimator": estimator, "params": dict(params, max_depth=1),
                          "preprocessing": preprocessing})
    for check_spec, features in ((shallow, n_features), (spec, 1)):
        expected = _outcome(_restore, check_spec, arrays, features)
        assert expected is not None
        assert _outcome(check_fitted, check_spec, arrays, features) == expected


@pytest.mark.parametrize("estimator, params, preprocessing, loader", OTHERS)
def test_other_families_get_the_same_errors_too(estimator, params, preprocessing, loader):
    spec, arrays, n_features = _fitted(estimator, params, preprocessing, loader)
    changes = (lambda a: a.astype(np.int64) if a.dtype.kind == "f" else a.astype(np.float64),
               lambda a: np.full_like(a, np.nan, dtype=np.float64), lambda a: a.reshape(-1)[:0], None)
    for name in arrays:
        for change in changes:
            broken = dict(arrays)
            if change is None:
                del broken[name]
            else:
                broken[name] = change(arrays[name])
            expected = _outcome(_restore, spec, broken, n_features)
            assert expected is not None, name
            assert _outcome(check_fitted, spec, broken, n_features) == expected, name


# A fresh backend-like process (one thread, every estimator module imported at boot, as `python -m
# dapp`): for each family, a score whose worker reports the modules it imported.
WORKER_IMPORTS = r"""
import dapp.__main__, json, sys, warnings
warnings.simplefilter("ignore")
from dapp.ml import engine
from dapp.ml.catalogue import preload
from dapp.ml.sandbox import Outcome
from sklearn.datasets import load_breast_cancer
from tests.fixtures.ml.helpers import csv_split, spec
preload()
train, valid = csv_split(load_breast_cancer)
found = {}
for name, params in json.loads(sys.argv[1]):
    scorer = engine.Engine()
    run = scorer._run
    def counted(work, what, run=run):
        def inner():
            before = set(sys.modules)
            work()
            return Outcome(data=json.dumps(sorted(set(sys.modules) - before)).encode())
        return run(inner, what)
    scorer._run = counted
    scored = scorer.score(task="classification", metric="accuracy", label="target", validation=valid,
                          model=spec(name, **params), train=train)
    found[name] = json.loads(scored.model_bytes)
print(json.dumps(found))
"""


def test_a_worker_imports_no_module_for_any_family():
    families = [("DecisionTreeClassifier", {"max_depth": 4}), ("RandomForestClassifier", {"max_depth": 4,
                "n_estimators": 3}), ("GaussianNB", {}), ("LogisticRegression", {"max_iter": 100}),
                ("MLPClassifier", {"hidden_layer_sizes": [4], "max_iter": 5}), ("LinearSVC", {})]
    done = subprocess.run([sys.executable, "-c", WORKER_IMPORTS, json.dumps(families)], cwd=REPO, check=True,
                          capture_output=True, text=True, timeout=300)
    imported = json.loads(done.stdout.splitlines()[-1])
    assert imported == {name: [] for name, _ in families}
