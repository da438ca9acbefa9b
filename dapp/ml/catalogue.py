"""The allow-list of estimators: which scikit-learn classes a model may use, the hyper-parameters each
accepts (with bounds) and their defaults.

Defaults are scikit-learn 1.4.2's, except where noted in ``REQUIRED`` (an unbounded default such as
``max_depth=None`` must be given explicitly) and LinearSVC's ``dual`` (scikit-learn's ``"warn"``
behaves as ``true``). Parameters that are not listed cannot be set: ``random_state`` comes from the
caller's seed, ``n_jobs`` is 1, and the rest keep scikit-learn's defaults.

No spec may reach a solver path known not to terminate: liblinear's primal solvers (LinearSVC with
``dual`` false or ``"auto"``, LogisticRegression ``liblinear`` with ``dual`` false) run a conjugate
gradient loop with no iteration bound (``TRON::trcg``'s ``while (1)``) that never exits once a value is
NaN. Only liblinear's dual coordinate descent is offered: its loops are bounded by ``max_iter`` and,
for logistic regression, 100 inner Newton steps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from dapp.ml.errors import ParamError
from dapp.ml.params import AnyOf, Bool, Choice, Float, Int, Layers

CLASSIFICATION = "classification"
REGRESSION = "regression"
TASKS = (CLASSIFICATION, REGRESSION)

MAX_ITER = 10_000
MAX_TREE_DEPTH = 32
MAX_ESTIMATORS = 200
MAX_HIDDEN_LAYERS = 3
MAX_LAYER_UNITS = 256
MAX_LEAF_NODES = 100_000  # a leaf holds at least one row; MLLimits.max_rows is 100,000
_PRIMAL_LOOPS = ("liblinear's primal solver can loop forever on extreme values; only its dual "
                 "coordinate descent is offered")

_POS = Float(0.0, 1e6, lo_open=True)
_NONNEG = Float(0.0, 1e6)
_TOL = Float(0.0, 1.0, lo_open=True)
_FRACTION_OPEN = Float(0.0, 1.0, lo_open=True, hi_open=True)
_CLASS_WEIGHT = Choice((None, "balanced"))
_PENALTY = Choice(("l2", "l1", "elasticnet", None))


@dataclass(frozen=True)
class EstimatorDef:
    """One allowed estimator. ``family`` selects how its fitted arrays are stored and averaged."""

    name: str
    module: str
    task: str
    family: str  # linear | nb | mlp | tree | forest
    params: Mapping[str, Any]
    defaults: Mapping[str, Any]
    seeded: bool  # takes random_state (from the caller's seed)
    parallel: bool  # takes n_jobs (forced to 1)
    warm_start: bool  # training from trained weights continues from them
    averageable: bool  # FedAvg can combine fitted models of this estimator
    rules: tuple[Callable[[Mapping[str, Any]], str | None], ...] = ()  # cross-parameter refusals

    def check_combination(self, params: Mapping[str, Any]) -> None:
        """ParamError (``param_combination_not_allowed``) if the parameters together are refused."""
        for rule in self.rules:
            reason = rule(params)
            if reason:
                raise ParamError(f"{self.name}: {reason}", code="param_combination_not_allowed")

    def load_class(self) -> type:
        """The scikit-learn class (imported now, not at module import)."""
        import importlib

        return getattr(importlib.import_module(self.module), self.name)


def _sgd_params(losses: tuple) -> dict:
    return {
        "loss": Choice(losses),
        "penalty": _PENALTY,
        "alpha": _NONNEG,
        "l1_ratio": Float(0.0, 1.0),
        "fit_intercept": Bool(),
        "max_iter": Int(1, MAX_ITER),
        "tol": AnyOf((Choice((None,)), _TOL)),
        "shuffle": Bool(),
        "epsilon": _NONNEG,
        "learning_rate": Choice(("constant", "optimal", "invscaling", "adaptive")),
        "eta0": _NONNEG,
        "power_t": Float(-100.0, 100.0),
        "early_stopping": Bool(),
        "validation_fraction": _FRACTION_OPEN,
        "n_iter_no_change": Int(1, 1000),
        "average": AnyOf((Bool(), Int(1, 1_000_000))),
    }


_SGD_DEFAULTS = {
    "penalty": "l2", "alpha": 0.0001, "l1_ratio": 0.15, "fit_intercept": True, "max_iter": 1000,
    "tol": 0.001, "shuffle": True, "epsilon": 0.1, "early_stopping": False, "validation_fraction": 0.1,
    "n_iter_no_change": 5, "average": False,
}


def _tree_params(criteria: tuple, class_weights: tuple | None) -> dict:
    params = {
        "criterion": Choice(criteria),
        "max_depth": Int(1, MAX_TREE_DEPTH),
        "min_samples_split": AnyOf((Int(2, 1_000_000), Float(0.0, 1.0, lo_open=True, accept_int=False))),
        "min_samples_leaf": AnyOf((Int(1, 1_000_000), Float(0.0, 1.0, lo_open=True, hi_open=True,
                                                             accept_int=False))),
        "min_weight_fraction_leaf": Float(0.0, 0.5),
        "max_features": AnyOf((Choice((None, "sqrt", "log2")), Int(1, 1_000_000),
                               Float(0.0, 1.0, lo_open=True, accept_int=False))),
        "max_leaf_nodes": AnyOf((Choice((None,)), Int(2, MAX_LEAF_NODES))),
        "min_impurity_decrease": _NONNEG,
        "ccp_alpha": _NONNEG,
    }
    if class_weights is not None:
        params["class_weight"] = Choice(class_weights)
    return params


_TREE_DEFAULTS = {
    "min_samples_split": 2, "min_samples_leaf": 1, "min_weight_fraction_leaf": 0.0,
    "max_leaf_nodes": None, "min_impurity_decrease": 0.0, "ccp_alpha": 0.0,
}
_FOREST_EXTRA = {
    "n_estimators": Int(1, MAX_ESTIMATORS),
    "bootstrap": Bool(),
    "max_samples": AnyOf((Choice((None,)), Int(1, 1_000_000),
                          Float(0.0, 1.0, lo_open=True, accept_int=False))),
}
_FOREST_DEFAULTS = {**_TREE_DEFAULTS, "n_estimators": 100, "bootstrap": True, "max_samples": None}

_MLP_PARAMS = {
    "hidden_layer_sizes": Layers(MAX_HIDDEN_LAYERS, MAX_LAYER_UNITS),
    "activation": Choice(("identity", "logistic", "tanh", "relu")),
    "solver": Choice(("lbfgs", "sgd", "adam")),
    "alpha": _NONNEG,
    "batch_size": AnyOf((Choice(("auto",)), Int(1, 1_000_000))),
    "learning_rate": Choice(("constant", "invscaling", "adaptive")),
    "learning_rate_init": Float(0.0, 10.0, lo_open=True),
    "power_t": Float(0.0, 100.0),
    "max_iter": Int(1, 2000),
    "shuffle": Bool(),
    "tol": _TOL,
    "momentum": Float(0.0, 1.0),
    "nesterovs_momentum": Bool(),
    "early_stopping": Bool(),
    "validation_fraction": _FRACTION_OPEN,
    "beta_1": Float(0.0, 1.0, hi_open=True),
    "beta_2": Float(0.0, 1.0, hi_open=True),
    "epsilon": Float(0.0, 1.0, lo_open=True),
    "n_iter_no_change": Int(1, 10_000),
    "max_fun": Int(1, 15_000),
}
_MLP_DEFAULTS = {
    "hidden_layer_sizes": (100,), "activation": "relu", "solver": "adam", "alpha": 0.0001,
    "batch_size": "auto", "learning_rate": "constant", "learning_rate_init": 0.001, "power_t": 0.5,
    "max_iter": 200, "shuffle": True, "tol": 0.0001, "momentum": 0.9, "nesterovs_momentum": True,
    "early_stopping": False, "validation_fraction": 0.1, "beta_1": 0.9, "beta_2": 0.999,
    "epsilon": 1e-08, "n_iter_no_change": 10, "max_fun": 15000,
}


def _def(name: str, module: str, task: str, family: str, params: dict, defaults: dict, *,
         seeded: bool = True, parallel: bool = False, warm_start: bool = False,
         averageable: bool = False, rules: tuple = ()) -> EstimatorDef:
    missing = set(params) - set(defaults) - REQUIRED.get(name, set())
    assert not missing, (name, missing)  # a catalogue bug, caught by the unit tests at import
    return EstimatorDef(name, module, task, family, MappingProxyType(params),
                        MappingProxyType(defaults), seeded, parallel, warm_start, averageable, rules)


def _liblinear_dual_only(params: Mapping[str, Any]) -> str | None:
    """LogisticRegression: liblinear only as dual coordinate descent (``dual`` true, penalty l2)."""
    if params["solver"] == "liblinear" and (params["dual"] is not True or params["penalty"] != "l2"):
        return f"solver 'liblinear' needs dual=true and penalty 'l2' ({_PRIMAL_LOOPS})"
    return None


# Parameters without a default here: scikit-learn's default is unbounded, so the spec must set them.
REQUIRED: dict[str, set[str]] = {
    "DecisionTreeClassifier": {"max_depth"}, "DecisionTreeRegressor": {"max_depth"},
    "RandomForestClassifier": {"max_depth"}, "RandomForestRegressor": {"max_depth"},
}

_ENTRIES = (
    _def("LogisticRegression", "sklearn.linear_model", CLASSIFICATION, "linear", {
        "penalty": _PENALTY, "dual": Bool(), "tol": _TOL, "C": _POS, "fit_intercept": Bool(),
        "intercept_scaling": _POS, "class_weight": _CLASS_WEIGHT,
        "solver": Choice(("lbfgs", "liblinear", "newton-cg", "newton-cholesky", "sag", "saga")),
        "max_iter": Int(1, MAX_ITER), "l1_ratio": AnyOf((Choice((None,)), Float(0.0, 1.0))),
    }, {"penalty": "l2", "dual": False, "tol": 0.0001, "C": 1.0, "fit_intercept": True,
        "intercept_scaling": 1, "class_weight": None, "solver": "lbfgs", "max_iter": 100,
        "l1_ratio": None}, warm_start=True, averageable=True, rules=(_liblinear_dual_only,)),
    _def("SGDClassifier", "sklearn.linear_model", CLASSIFICATION, "linear", {
        **_sgd_params(("hinge", "log_loss", "modified_huber", "squared_hinge", "perceptron",
                       "squared_error", "huber", "epsilon_insensitive", "squared_epsilon_insensitive")),
        "class_weight": _CLASS_WEIGHT,
    }, {**_SGD_DEFAULTS, "loss": "hinge", "learning_rate": "optimal", "eta0": 0.0, "power_t": 0.5,
        "class_weight": None}, warm_start=True, averageable=True),
    _def("SGDRegressor", "sklearn.linear_model", REGRESSION, "linear",
         _sgd_params(("squared_error", "huber", "epsilon_insensitive", "squared_epsilon_insensitive")),
         {**_SGD_DEFAULTS, "loss": "squared_error", "learning_rate": "invscaling", "eta0": 0.01,
          "power_t": 0.25}, warm_start=True, averageable=True),
    _def("LinearSVC", "sklearn.svm", CLASSIFICATION, "linear", {
        "penalty": Choice(("l2",), why="penalty 'l1' needs dual=false, " + _PRIMAL_LOOPS),
        "loss": Choice(("hinge", "squared_hinge")),
        "dual": Choice((True,), why=_PRIMAL_LOOPS), "tol": _TOL, "C": _POS,
        "multi_class": Choice(("ovr", "crammer_singer")), "fit_intercept": Bool(),
        "intercept_scaling": _POS, "class_weight": _CLASS_WEIGHT, "max_iter": Int(1, MAX_ITER),
    }, {"penalty": "l2", "loss": "squared_hinge", "dual": True, "tol": 0.0001, "C": 1.0,
        "multi_class": "ovr", "fit_intercept": True, "intercept_scaling": 1, "class_weight": None,
        "max_iter": 1000}, averageable=True),
    _def("Ridge", "sklearn.linear_model", REGRESSION, "linear", {
        "alpha": _NONNEG, "fit_intercept": Bool(),
        "max_iter": AnyOf((Choice((None,)), Int(1, MAX_ITER))), "tol": _TOL,
        "solver": Choice(("auto", "svd", "cholesky", "lsqr", "sparse_cg", "lbfgs")), "positive": Bool(),
    }, {"alpha": 1.0, "fit_intercept": True, "max_iter": None, "tol": 0.0001, "solver": "auto",
        "positive": False}, averageable=True),
    _def("LinearRegression", "sklearn.linear_model", REGRESSION, "linear", {
        "fit_intercept": Bool(), "positive": Bool(),
    }, {"fit_intercept": True, "positive": False}, seeded=False, parallel=True, averageable=True),
    _def("GaussianNB", "sklearn.naive_bayes", CLASSIFICATION, "nb", {
        "var_smoothing": Float(0.0, 1.0, lo_open=True),
    }, {"var_smoothing": 1e-09}, seeded=False, averageable=True),
    _def("MLPClassifier", "sklearn.neural_network", CLASSIFICATION, "mlp", dict(_MLP_PARAMS),
         dict(_MLP_DEFAULTS), warm_start=True, averageable=True),
    _def("MLPRegressor", "sklearn.neural_network", REGRESSION, "mlp", dict(_MLP_PARAMS),
         dict(_MLP_DEFAULTS), warm_start=True, averageable=True),
    _def("DecisionTreeClassifier", "sklearn.tree", CLASSIFICATION, "tree", {
        **_tree_params(("gini", "entropy", "log_loss"), (None, "balanced")),
        "splitter": Choice(("best", "random")),
    }, {**_TREE_DEFAULTS, "criterion": "gini", "splitter": "best", "max_features": None,
        "class_weight": None}),
    _def("DecisionTreeRegressor", "sklearn.tree", REGRESSION, "tree", {
        **_tree_params(("squared_error", "friedman_mse", "poisson"), None),
        "splitter": Choice(("best", "random")),
    }, {**_TREE_DEFAULTS, "criterion": "squared_error", "splitter": "best", "max_features": None}),
    _def("RandomForestClassifier", "sklearn.ensemble", CLASSIFICATION, "forest", {
        **_tree_params(("gini", "entropy", "log_loss"), (None, "balanced", "balanced_subsample")),
        **_FOREST_EXTRA,
    }, {**_FOREST_DEFAULTS, "criterion": "gini", "max_features": "sqrt", "class_weight": None},
        parallel=True),
    _def("RandomForestRegressor", "sklearn.ensemble", REGRESSION, "forest", {
        **_tree_params(("squared_error", "friedman_mse", "poisson"), None), **_FOREST_EXTRA,
    }, {**_FOREST_DEFAULTS, "criterion": "squared_error", "max_features": 1.0}, parallel=True),
)

CATALOGUE: Mapping[str, EstimatorDef] = MappingProxyType({e.name: e for e in _ENTRIES})


def preload() -> None:
    """Imports every allowed estimator's module now. The backend calls it before serving: in a Cartesi
    machine the imports then happen during boot and sit in the snapshot, so no input pays them (importing
    ``sklearn.linear_model`` alone takes 18 guest seconds, 2.4 G cycles, docs/IMAGE.md) and no training
    worker's CPU limit counts them."""
    for definition in CATALOGUE.values():
        definition.load_class()


def averageable_estimators() -> tuple[str, ...]:
    """Names of the estimators FedAvg can combine."""
    return tuple(name for name, e in CATALOGUE.items() if e.averageable)
