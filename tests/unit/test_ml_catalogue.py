"""The estimator allow-list: defaults, bounds, forced parameters, and training exactly as scikit-learn."""

import json

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_wine

from dapp.ml.catalogue import CATALOGUE, REQUIRED, averageable_estimators
from dapp.ml.engine import Engine
from dapp.ml.errors import ModelError, ParamError
from dapp.ml.spec import build_estimator, parse_spec
from tests.fixtures.ml.helpers import csv_split, spec, split

REQUIRED_ESTIMATORS = {
    "LogisticRegression", "SGDClassifier", "SGDRegressor", "LinearSVC", "Ridge", "LinearRegression",
    "GaussianNB", "MLPClassifier", "MLPRegressor", "DecisionTreeClassifier", "DecisionTreeRegressor",
    "RandomForestClassifier", "RandomForestRegressor",
}
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def test_catalogue_covers_classification_and_regression_estimators():
    assert REQUIRED_ESTIMATORS <= set(CATALOGUE)
    assert {e.task for e in CATALOGUE.values()} == {"classification", "regression"}


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_catalogue_defaults_are_scikit_learns_own(name):
    definition = CATALOGUE[name]
    sklearn_defaults = definition.load_class()().get_params()
    for key, value in definition.defaults.items():
        if name == "LinearSVC" and key == "dual":
            assert sklearn_defaults[key] == "warn" and value is True  # 1.4.2's "warn" behaves as True
        else:
            assert sklearn_defaults[key] == value, key
    for key in REQUIRED.get(name, ()):
        assert sklearn_defaults[key] is None  # required only where scikit-learn's default is unbounded


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_every_allowed_parameter_is_a_real_parameter(name):
    assert set(CATALOGUE[name].params) <= set(CATALOGUE[name].load_class()().get_params())


@pytest.mark.parametrize("params, fragment", [
    ({"C": -1.0}, "'C' must be a number in (0, 1e+06]"),
    ({"C": "big"}, "'C'"),
    ({"max_iter": 10**6}, "'max_iter' must be an integer in [1, 10000]"),
    ({"max_iter": 1.5}, "'max_iter'"),
    ({"max_iter": True}, "'max_iter'"),
    ({"solver": "magic"}, "'solver' must be one of"),
    ({"C": 10**400}, "'C'"),
])
def test_out_of_bounds_parameters_name_the_parameter_and_the_limit(params, fragment):
    with pytest.raises(ParamError) as err:
        parse_spec({"estimator": "LogisticRegression", "params": params})
    assert fragment in err.value.message
    assert err.value.code == "param_out_of_bounds"


@pytest.mark.parametrize("key", ["random_state", "n_jobs", "verbose", "warm_start", "no_such_param"])
def test_parameters_outside_the_allow_list_are_refused(key):
    with pytest.raises(ParamError) as err:
        parse_spec({"estimator": "RandomForestClassifier", "params": {"max_depth": 3, key: 1}})
    assert err.value.code == "param_not_allowed" and f"'{key}'" in err.value.message


def test_forest_size_is_bounded_and_unbounded_depth_must_be_explicit():
    with pytest.raises(ParamError, match="'n_estimators' must be an integer in \\[1, 200\\]"):
        parse_spec({"estimator": "RandomForestClassifier", "params": {"max_depth": 3, "n_estimators": 500}})
    with pytest.raises(ParamError, match="'max_depth' is required") as err:
        parse_spec({"estimator": "RandomForestClassifier", "params": {}})
    assert err.value.code == "param_required"
    with pytest.raises(ParamError, match="'max_depth'"):
        parse_spec({"estimator": "DecisionTreeRegressor", "params": {"max_depth": None}})


def test_mlp_layers_are_bounded():
    with pytest.raises(ParamError, match="hidden_layer_sizes"):
        parse_spec({"estimator": "MLPClassifier", "params": {"hidden_layer_sizes": [64, 64, 64, 64]}})
    with pytest.raises(ParamError, match="hidden_layer_sizes"):
        parse_spec({"estimator": "MLPClassifier", "params": {"hidden_layer_sizes": [10000]}})


def test_integer_count_is_not_read_as_a_fraction():
    # min_samples_split=1 is an invalid count for scikit-learn; it must not become the fraction 1.0
    with pytest.raises(ParamError, match="min_samples_split"):
        parse_spec({"estimator": "DecisionTreeClassifier", "params": {"max_depth": 2, "min_samples_split": 1}})
    fraction = parse_spec({"estimator": "DecisionTreeClassifier",
                           "params": {"max_depth": 2, "min_samples_split": 0.5}})
    assert fraction.param_dict()["min_samples_split"] == 0.5


def test_unknown_estimators_and_keys_are_refused():
    with pytest.raises(ModelError) as err:
        parse_spec({"estimator": "KNeighborsClassifier"})
    assert err.value.code == "estimator_not_allowed" and "LogisticRegression" in err.value.message
    with pytest.raises(ModelError, match="unknown key"):
        parse_spec({"estimator": "Ridge", "extra": 1})
    with pytest.raises(ModelError, match="preprocessing"):
        parse_spec({"estimator": "Ridge", "preprocessing": ["pca"]})


def test_built_estimators_take_the_callers_seed_and_one_job():
    forest = build_estimator(parse_spec({"estimator": "RandomForestRegressor", "params": {"max_depth": 3}}), 1234)
    assert forest.random_state == 1234 and forest.n_jobs == 1
    assert build_estimator(parse_spec({"estimator": "LinearRegression"}), 5).n_jobs == 1


def test_equivalent_specs_are_equal_and_canonical():
    a = parse_spec({"estimator": "LogisticRegression", "params": {"C": 1}})
    b = parse_spec({"estimator": "LogisticRegression"})
    assert a == b and a.to_bytes() == b.to_bytes()
    assert json.loads(a.to_bytes())["params"]["C"] == 1.0


def test_only_averageable_estimators_are_listed_as_such():
    assert set(averageable_estimators()) == {
        "LogisticRegression", "SGDClassifier", "SGDRegressor", "LinearSVC", "Ridge", "LinearRegression",
        "GaussianNB", "MLPClassifier", "MLPRegressor"}


@pytest.mark.parametrize("estimator, params, loader", [
    ("LogisticRegression", {"C": 0.5, "max_iter": 300}, load_wine),
    ("RandomForestClassifier", {"max_depth": 4, "n_estimators": 15}, load_wine),
    ("MLPRegressor", {"hidden_layer_sizes": [8], "max_iter": 30}, load_diabetes),
    ("SGDRegressor", {"alpha": 0.01}, load_diabetes),
])
def test_a_spec_trains_exactly_as_scikit_learn_with_those_params(estimator, params, loader):
    definition = CATALOGUE[estimator]
    X_train, y_train, X_valid, _ = split(loader)
    train_csv, valid_csv = csv_split(loader)
    task, metric = ("classification", "accuracy") if definition.task == "classification" else ("regression", "r2")
    out = Engine().score(task=task, metric=metric, label="target", validation=valid_csv,
                         model=spec(estimator, **params), train=train_csv, seed=99)
    kwargs = dict(params, random_state=99)
    if definition.parallel:
        kwargs["n_jobs"] = 1
    oracle = definition.load_class()(**kwargs).fit(X_train, y_train)
    from dapp.ml.export import to_estimator

    np.testing.assert_array_equal(to_estimator(out.model_bytes).predict(X_valid), oracle.predict(X_valid))


@pytest.mark.parametrize("estimator, params, fragment", [
    ("LinearSVC", {"dual": False}, "'dual' must be one of true"),
    ("LinearSVC", {"dual": "auto"}, "'dual' must be one of true"),
    ("LinearSVC", {"penalty": "l1"}, "'penalty' must be one of 'l2'"),
    ("LogisticRegression", {"solver": "liblinear"}, "solver 'liblinear' needs dual=true"),
    ("LogisticRegression", {"solver": "liblinear", "dual": True, "penalty": "l1"}, "needs dual=true and penalty 'l2'"),
])
def test_liblinear_primal_solvers_which_can_loop_forever_are_refused(estimator, params, fragment):
    with pytest.raises(ParamError) as err:
        parse_spec({"estimator": estimator, "params": params})
    assert fragment in err.value.message and "loop forever" in err.value.message


def test_liblinear_dual_coordinate_descent_stays_available_and_terminates_on_extreme_values():
    # the 3-row CSV of issue 11 (finding 1), at the dataset bound: only dual solvers are reachable
    train = b"a,b,y\n1,2,0\n1000000000,3,1\n2,-1000000000,0\n"
    for estimator, params in (("LinearSVC", {"dual": True, "max_iter": 10_000}),
                              ("LinearSVC", {"loss": "hinge", "multi_class": "crammer_singer"}),
                              ("LogisticRegression", {"solver": "liblinear", "dual": True})):
        out = Engine().score(task="classification", metric="accuracy", label="y", validation=train,
                             model=spec(estimator, **params), train=train)
        assert out.model_bytes is not None


def test_max_leaf_nodes_is_bounded_by_the_rows_a_dataset_may_have():
    with pytest.raises(ParamError, match="'max_leaf_nodes' must be one of null or an integer in \\[2, 100000\\]"):
        parse_spec({"estimator": "DecisionTreeClassifier", "params": {"max_depth": 3, "max_leaf_nodes": 1_000_000}})
    assert parse_spec({"estimator": "RandomForestRegressor",
                       "params": {"max_depth": 3, "max_leaf_nodes": 100_000}}).param_dict()["max_leaf_nodes"] == 100_000


def test_preload_imports_every_estimator_module_in_a_fresh_process():
    import subprocess
    import sys

    code = ("import sys; from dapp.ml.catalogue import CATALOGUE, preload; "
            "modules = sorted({d.module for d in CATALOGUE.values()}); "
            "before = [m for m in modules if m in sys.modules]; preload(); "
            "print(before, [m for m in modules if m not in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[] []"  # none imported by the catalogue itself, all after preload
