"""The work and memory estimates that gate every training: structural properties, and the cases issue 11
found underestimated, against CPU times measured once (recorded here, never timed in a test)."""

import pytest

from dapp.ml.cost import check_work, estimate_work, worst_memory
from dapp.ml.errors import ModelError
from dapp.ml.limits import MLLimits
from dapp.ml.spec import ModelSpec, parse_spec

DEEP = [256, 256, 256]


def _spec(estimator: str, **params) -> ModelSpec:
    return parse_spec({"estimator": estimator, "params": params})


# CPU ns of the fit, one BLAS thread, measured with bench.cost_model's `measure` on its synthetic data:
#   PYTHONPATH=. .venv/bin/python -c "from bench.cost_model import measure as m; m(E, P, K); print(m(E, P, K))"
# (E, P, K as in each row; the second call, imports already paid). rows x features x classes (1 = regression).
FINDING_5 = [
    # a 3x256 MLP with batch_size 1 (issue: ~44x its estimate): 400 x 20, 2 classes, one epoch
    ("MLPClassifier", {"hidden_layer_sizes": DEEP, "batch_size": 1, "max_iter": 1, "tol": 1e-300},
     (400, 20, 2), 882_700_000),
    # Ridge(positive=True), bounded L-BFGS-B run to scipy's maxfun by column scales 1e-9..1e9 (issue: ~20x)
    ("Ridge", {"positive": True, "tol": 1e-300}, (2000, 50, 1), 1_247_000_000),
    # MLP lbfgs with its line searches (issue: ~20x): 20 iterations of a 3x256 net, 400 x 20, 2 classes
    ("MLPClassifier", {"hidden_layer_sizes": DEEP, "solver": "lbfgs", "max_iter": 20, "tol": 1e-300},
     (400, 20, 2), 609_100_000),
]


# Same command (K: c2k, c2f1, c100f1, c2f1w; a loaded host). Issue 11's resource walk found an MLP trained
# with adam at several times its estimate. Two causes: numpy's BLAS ran a thread per core in the worker
# (train.single_thread now limits it), and the elementwise work per row and unit (activations, softmax)
# was not counted, which thin layers and batches out of the cache make dominant (the last three were
# 0.72-0.80x, 0.82x and 0.11x their times).
MLP_UNITS = [
    # tests/e2e/test_hard_limits_process.py's spec: one layer of 256, 500 epochs, batch "auto", 2,000 x 20
    ("MLPClassifier", {"hidden_layer_sizes": [256], "max_iter": 500, "tol": 1e-300,
                       "n_iter_no_change": 10_000}, (2000, 20, 2), 4_473_234_353),
    # 1 feature into 256 units, all 2,000 rows in one batch, 50 epochs
    ("MLPClassifier", {"hidden_layer_sizes": [256], "batch_size": 2000, "max_iter": 50, "tol": 1e-300},
     (2000, 1, 2), 314_657_444),
    # 100 classes after one unit: the softmax and its loss per row and class, 200 epochs
    ("MLPClassifier", {"hidden_layer_sizes": [1], "batch_size": 2000, "max_iter": 200, "tol": 1e-300,
                       "n_iter_no_change": 10_000}, (2000, 1, 100), 759_574_590),
    # one batch of 30,000 rows: 256 units x 30,000 rows x 8 bytes = 59 MiB per array, out of the cache
    ("MLPClassifier", {"hidden_layer_sizes": [256], "batch_size": 30_000, "max_iter": 3, "tol": 1e-300},
     (30_000, 1, 2), 768_640_388),
]


@pytest.mark.parametrize("estimator, params, shape, measured_ns", FINDING_5 + MLP_UNITS)
def test_issue_11_underestimated_fits_are_now_estimated_above_their_measured_time(estimator, params, shape,
                                                                                   measured_ns):
    estimate = estimate_work(_spec(estimator, **params), *shape)
    assert estimate >= 2 * measured_ns  # the calibration margin (docs/MODELS.md)


def test_the_end_to_end_hard_limit_spec_still_passes_the_gate_that_test_configures():
    # tests/e2e/test_hard_limits_process.py needs a fit its gate (MLMARKET_ML_MAX_CYCLES) lets through but
    # that runs past 1 s of CPU; the default gate, calibrated to the machine, refuses it
    spec = _spec("MLPClassifier", hidden_layer_sizes=[256], max_iter=500, tol=1e-12, n_iter_no_change=10_000)
    check_work(spec, 2000, 20, 2, MLLimits.from_env({"MLMARKET_ML_MAX_CYCLES": str(2 * 10**11)}))
    with pytest.raises(ModelError):
        check_work(spec, 2000, 20, 2)


def test_batch_size_one_costs_at_least_as_much_more_as_it_measured():
    # measured (bench.cost_model, 400 x 20): 3x256, one epoch: batch_size 1 took 882.7 ms, "auto" (200)
    # 13.0 ms a epoch (10 epochs 130 ms): 68x
    auto = estimate_work(_spec("MLPClassifier", hidden_layer_sizes=DEEP, max_iter=1), 400, 20, 2)
    single = estimate_work(_spec("MLPClassifier", hidden_layer_sizes=DEEP, max_iter=1, batch_size=1), 400, 20, 2)
    assert single / auto >= 882.7 / 13.0


def test_positive_ridge_costs_more_than_the_closed_form():
    for solver in ("auto", "cholesky", "svd"):
        free = estimate_work(_spec("Ridge", solver=solver), 1000, 20, 1)
        bounded = estimate_work(_spec("Ridge", solver=solver, positive=True), 1000, 20, 1)
        assert bounded > 10 * free
    # max_iter bounds the L-BFGS-B iterations, and scipy's maxfun (15,000 evaluations) bounds null
    capped = estimate_work(_spec("Ridge", positive=True, max_iter=10), 1000, 20, 1)
    assert capped < estimate_work(_spec("Ridge", positive=True, max_iter=10_000), 1000, 20, 1)
    assert estimate_work(_spec("Ridge", positive=True), 1000, 20, 1) <= \
        estimate_work(_spec("Ridge", positive=True, max_iter=10_000), 1000, 20, 1)


def test_lbfgs_mlp_counts_line_search_evaluations_beyond_max_fun():
    # scipy checks maxfun only after an iteration, whose line search may evaluate 21 times
    base = dict(hidden_layer_sizes=[64], solver="lbfgs", max_iter=2000)
    one_evaluation = estimate_work(_spec("MLPRegressor", **base, max_fun=1), 1000, 20, 1)
    passes = 3 * 1000 * (20 * 64 + 64)  # multiply-adds of one forward + backward pass
    assert one_evaluation >= 21 * passes
    # and more iterations (up to max_fun) cost more
    assert estimate_work(_spec("MLPRegressor", **base, max_fun=100), 1000, 20, 1) > one_evaluation


def test_lbfgs_logistic_regression_counts_its_50_step_line_searches():
    one = estimate_work(_spec("LogisticRegression", max_iter=1), 1000, 20, 2)
    assert one >= 2 * 51 * 1000 * 20


# Peak RSS growth of DecisionTreeClassifier(max_depth=32, max_leaf_nodes=1_000_000).fit on 100 x 5
# (numpy rows, y = arange(100) % k, a fresh process, ru_maxrss before and after): 153.6 MiB for k = 2,
# 580.8 MiB for k = 30 (issue 11: ~1.7 GiB, i.e. k = 100).
TREE_RSS_MIB = {2: 153.6, 30: 580.8}


def test_a_million_leaf_tree_on_100_rows_is_refused_by_the_memory_gate():
    # built directly (the catalogue already refuses max_leaf_nodes > 100,000): the gate stands alone
    spec = _spec("DecisionTreeClassifier", max_depth=32)
    huge = ModelSpec(spec.estimator, tuple((k, 1_000_000 if k == "max_leaf_nodes" else v) for k, v in spec.params))
    for classes, mib in TREE_RSS_MIB.items():
        assert worst_memory(huge, 100, 5, classes) >= mib * 2**20  # reserved whatever the rows
    with pytest.raises(ModelError) as err:
        check_work(huge, 100, 5, 100)
    assert err.value.code == "training_too_costly"


def test_best_first_reservation_counts_for_every_tree_of_a_forest():
    one = worst_memory(_spec("RandomForestClassifier", max_depth=32, n_estimators=1, max_leaf_nodes=100_000),
                       100, 5, 100)
    assert one >= 2 * 100_000 * (64 + 8 * 100) - 1_000
    with pytest.raises(ModelError, match="max_leaf_nodes"):
        check_work(_spec("RandomForestClassifier", max_depth=32, n_estimators=200, max_leaf_nodes=100_000),
                   100, 5, 100)
    check_work(_spec("DecisionTreeClassifier", max_depth=32, max_leaf_nodes=100_000), 100, 5, 100)


def test_more_classes_cost_more_for_one_vs_rest_solvers():
    for estimator in ("SGDClassifier", "LinearSVC"):
        assert estimate_work(_spec(estimator), 1000, 20, 30) > 10 * estimate_work(_spec(estimator), 1000, 20, 2)


def test_the_default_catalogue_models_fit_a_mid_sized_dataset():
    # within the machine's budget (IMAGE.md "Budgets in cycles"); the default MLP (100 units, 200 epochs)
    # costs the machine ~250 guest seconds on 5,000 rows (its estimate: ~390), so it is checked on 500
    for estimator, params, rows in (("LogisticRegression", {}, 5_000), ("SGDClassifier", {}, 5_000),
                                    ("LinearSVC", {}, 5_000), ("MLPClassifier", {}, 500),
                                    ("RandomForestClassifier", {"max_depth": 10}, 5_000), ("GaussianNB", {}, 5_000)):
        check_work(_spec(estimator, **params), rows, 20, 2)
    with pytest.raises(ModelError, match="machine cycles"):
        check_work(_spec("MLPClassifier"), 5_000, 20, 2)
