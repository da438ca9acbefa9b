"""The engine's API: train-then-score, evaluate-only, warm starts, bounds, and determinism across
processes and BLAS thread counts."""

import hashlib
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_wine
from threadpoolctl import threadpool_limits

from dapp.ml.catalogue import CATALOGUE
from dapp.domain.seeds import derive, round_seed, submission_seed
from dapp.ml.engine import METRICS, Engine
from dapp.ml.errors import DatasetError, MetricError, MLError, ModelError, TrainingError
from dapp.ml.export import to_estimator
from dapp.ml.limits import MLLimits
from tests.fixtures.ml.helpers import csv_split, spec, split, to_csv

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
REPO = Path(__file__).resolve().parents[2]
MLP = spec("MLPClassifier", ("standard_scaler",), hidden_layer_sizes=[32], max_iter=15)

DETERMINISM_SCRIPT = """
import hashlib, json, sys
from sklearn.datasets import load_digits
from dapp.ml.engine import Engine
from tests.fixtures.ml.helpers import csv_split
from tests.unit.test_ml_engine import MLP
train, valid = csv_split(load_digits)
out = Engine().score(task="classification", metric="log_loss", label="target", validation=valid, model=MLP,
                     train=train, seed=42)
print(json.dumps([out.score, hashlib.sha256(out.model_bytes).hexdigest()]))
"""


def _digits_mlp(engine=None):
    train, valid = csv_split(load_digits)
    return (engine or Engine()).score(task="classification", metric="log_loss", label="target", validation=valid,
                                      model=MLP, train=train, seed=42)


def _run_child(threads):
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    child = subprocess.run([sys.executable, "-c", DETERMINISM_SCRIPT], check=False, cwd=REPO, env=env, capture_output=True,
                           text=True, timeout=300)
    assert child.returncode == 0, child.stderr
    return json.loads(child.stdout)


def test_outputs_are_identical_across_processes_and_blas_thread_counts():
    here = _digits_mlp()
    expected = [here.score, hashlib.sha256(here.model_bytes).hexdigest()]
    assert _run_child(1) == expected
    assert _run_child(2) == expected
    with threadpool_limits(limits=2):
        again = _digits_mlp(Engine())
    assert again.model_bytes == here.model_bytes and again.score == here.score


def test_training_uses_one_thread_whatever_the_caller_set():
    seen = []

    class Probe:
        """A stand-in estimator recording the BLAS threads it sees when fitted."""

        def fit(self, X, y):
            from threadpoolctl import threadpool_info

            seen.extend(info["num_threads"] for info in threadpool_info())
            return self

    from dapp.ml import train
    from dapp.ml.modelfile import read_model

    model = read_model(spec("GaussianNB"))
    original = train.build_estimator
    train.build_estimator = lambda spec, seed: Probe()
    try:
        with threadpool_limits(limits=2):
            train.fit(model, np.ones((4, 2)), np.array([0, 1, 0, 1]), ("a", "b"), 0)
    finally:
        train.build_estimator = original
    assert seen and set(seen) == {1}


def _numpy_scipy_openblas():
    """(get, set) thread counts of the scipy-openblas numpy's wheel links, read without dapp's code."""
    import ctypes

    library = ctypes.CDLL(np._core._multiarray_umath.__file__, mode=os.RTLD_NOLOAD)
    for suffix in ("64_", ""):
        get = getattr(library, f"scipy_openblas_get_num_threads{suffix}", None)
        if get is not None:
            return get, getattr(library, f"scipy_openblas_set_num_threads{suffix}")
    return None


def test_training_limits_the_scipy_openblas_threadpoolctl_does_not_see():
    # threadpoolctl 3.1.0 does not know the scipy-openblas of numpy's and scipy's wheels: unlimited, its
    # threads (one per core) spun in the worker, counted as its CPU time (several times the fit's own)
    pool = _numpy_scipy_openblas()
    if pool is None:
        pytest.skip("numpy is not linked with scipy-openblas here (threadpoolctl controls its BLAS)")
    get, put = pool
    seen = []

    class Probe:
        def fit(self, X, y):
            seen.append(get())
            return self

    from dapp.ml import train
    from dapp.ml.modelfile import read_model

    original, before = train.build_estimator, get()
    put(2)
    train.build_estimator = lambda spec, seed: Probe()
    try:
        train.fit(read_model(spec("GaussianNB")), np.ones((4, 2)), np.array([0, 1, 0, 1]), ("a", "b"), 0)
        assert seen == [1] and get() == 2  # one thread while fitting, the caller's setting afterwards
    finally:
        train.build_estimator = original
        put(before)


def test_evaluating_a_trained_model_gives_the_score_it_got_when_trained():
    train, valid = csv_split(load_breast_cancer)
    engine = Engine()
    trained = engine.score(task="classification", metric="roc_auc", label="target", validation=valid,
                           model=spec("RandomForestClassifier", max_depth=5, n_estimators=10), train=train, seed=5)
    again = engine.score(task="classification", metric="roc_auc", label="target", validation=valid,
                         model=trained.model_bytes, seed=999)
    assert again.score == trained.score and again.model_bytes is None and again.samples == 0
    assert trained.samples == len(split(load_breast_cancer)[1])


def test_the_job_base_model_is_trained_when_no_model_is_submitted():
    train, valid = csv_split(load_diabetes)
    engine = Engine()
    base = spec("Ridge", alpha=2.0)
    from_base = engine.score(task="regression", metric="r2", label="target", validation=valid, model=b"",
                             train=train, base_model=base, seed=1)
    direct = engine.score(task="regression", metric="r2", label="target", validation=valid, model=base,
                          train=train, seed=1)
    assert from_base == direct
    with pytest.raises(ModelError) as err:
        engine.score(task="regression", metric="r2", label="target", validation=valid, train=train)
    assert err.value.code == "model_missing"


def test_different_seeds_give_different_stochastic_models():
    train, valid = csv_split(load_wine)
    runs = {Engine().score(task="classification", metric="accuracy", label="target", validation=valid,
                           model=spec("SGDClassifier", ("standard_scaler",)), train=train, seed=s).model_bytes
            for s in (1, 2)}
    assert len(runs) == 2


def test_warm_start_continues_from_the_trained_weights():
    X_train, y_train, X_valid, y_valid = split(load_breast_cancer)
    engine = Engine()
    half = len(y_train) // 2
    first_csv, second_csv, valid = (to_csv(X_train[:half], y_train[:half]), to_csv(X_train[half:], y_train[half:]),
                                    to_csv(X_valid, y_valid))
    sgd = spec("SGDClassifier", ("standard_scaler",), max_iter=5, tol=None)
    first = engine.score(task="classification", metric="accuracy", label="target", validation=valid, model=sgd,
                         train=first_csv, seed=3)
    second = engine.score(task="classification", metric="accuracy", label="target", validation=valid,
                          model=first.model_bytes, train=second_csv, seed=3)
    # oracle: scikit-learn's own warm start from the first fit's weights
    from sklearn.linear_model import SGDClassifier
    from sklearn.preprocessing import StandardScaler

    start = to_estimator(first.model_bytes)[-1]
    scaled = StandardScaler().fit(X_train[half:]).transform(X_train[half:])
    oracle = SGDClassifier(max_iter=5, tol=None, random_state=3).fit(
        scaled, y_train[half:], coef_init=start.coef_, intercept_init=start.intercept_)
    np.testing.assert_array_equal(to_estimator(second.model_bytes)[-1].coef_, oracle.coef_)


def test_warm_start_needs_the_same_features_and_classes():
    train, valid = csv_split(load_wine)
    engine = Engine()
    first = engine.score(task="classification", metric="accuracy", label="target", validation=valid,
                         model=spec("LogisticRegression", max_iter=50), train=train, seed=0)
    X, y = load_wine(return_X_y=True)
    two_classes = to_csv(X[y < 2], y[y < 2])
    with pytest.raises(ModelError) as err:
        engine.score(task="classification", metric="accuracy", label="target", validation=valid,
                     model=first.model_bytes, train=two_classes)
    assert err.value.code == "model_classes_mismatch"


def test_evaluation_checks_the_models_features_task_and_training_state():
    train, valid = csv_split(load_wine)
    engine = Engine()
    trained = engine.score(task="classification", metric="accuracy", label="target", validation=valid,
                           model=spec("GaussianNB"), train=train).model_bytes
    renamed = valid.replace(b"f0,", b"g0,", 1)
    cases = [
        ({"validation": renamed, "model": trained}, "model_features_mismatch"),
        ({"validation": valid, "model": spec("GaussianNB")}, "model_not_trained"),
    ]
    for kwargs, code in cases:
        with pytest.raises(ModelError) as err:
            engine.score(task="classification", metric="accuracy", label="target", **kwargs)
        assert err.value.code == code
    with pytest.raises(ModelError) as err:
        engine.check_model(spec("Ridge"), "classification")
    assert err.value.code == "model_task_mismatch"
    with pytest.raises(MetricError):
        engine.score(task="classification", metric="r2", label="target", validation=valid, model=trained)


def test_check_model_describes_the_model():
    train, valid = csv_split(load_wine)
    engine = Engine()
    trained = engine.score(task="classification", metric="accuracy", label="target", validation=valid,
                           model=spec("GaussianNB"), train=train).model_bytes
    info = engine.check_model(trained, "classification")
    assert (info.estimator, info.task, info.trained, info.averageable, info.classes) == (
        "GaussianNB", "classification", True, True, (0, 1, 2))
    assert info.features == tuple(f"f{i}" for i in range(13))
    assert engine.check_model(spec("DecisionTreeRegressor", max_depth=2)).trained is False


def test_costly_training_is_refused_before_it_starts():
    train, valid = csv_split(load_digits)
    engine = Engine(MLLimits(max_cycles=10**6))
    with pytest.raises(ModelError) as err:
        engine.score(task="classification", metric="accuracy", label="target", validation=valid,
                     model=spec("MLPClassifier", hidden_layer_sizes=[256, 256], max_iter=2000), train=train)
    assert err.value.code == "training_too_costly" and "limit" in err.value.message


def test_a_trained_model_over_the_size_limit_is_refused():
    train, valid = csv_split(load_digits)
    with pytest.raises(ModelError) as err:
        Engine(MLLimits(max_model_bytes=20_000)).score(
            task="classification", metric="accuracy", label="target", validation=valid,
            model=spec("RandomForestClassifier", max_depth=10, n_estimators=20), train=train)
    assert err.value.code == "model_too_large"


def test_scikit_learn_refusals_become_training_errors():
    train, valid = csv_split(load_wine)
    with pytest.raises(TrainingError) as err:
        Engine().score(task="classification", metric="accuracy", label="target", validation=valid,
                       model=spec("LogisticRegression", solver="lbfgs", penalty="l1"), train=train)
    assert err.value.code == "training_failed" and "l1" in err.value.message


def _count_decodes(monkeypatch) -> list[bytes]:
    from dapp.ml import engine as engine_module

    calls: list[bytes] = []
    original = engine_module.parse_table

    def counting(data, *args, **kwargs):
        calls.append(data)
        return original(data, *args, **kwargs)

    monkeypatch.setattr(engine_module, "parse_table", counting)
    return calls


def test_each_csv_file_is_decoded_once_and_the_cache_is_bounded(monkeypatch):
    calls = _count_decodes(monkeypatch)
    train, valid = csv_split(load_wine)
    engine = Engine(cache_entries=2)
    first = engine.score(task="classification", metric="accuracy", label="target", validation=valid,
                         model=spec("GaussianNB"), train=train, seed=3)
    assert len(calls) == 2  # the training and the validation set
    again = engine.score(task="classification", metric="accuracy", label="target", validation=valid,
                         model=spec("GaussianNB"), train=bytes(train), seed=3)  # equal bytes, another object
    engine.check_dataset(train, "target", "classification")
    assert len(calls) == 2 and again == first
    for seed in range(4):
        other = csv_split(load_wine, seed=seed + 1)[1]
        engine.score(task="classification", metric="accuracy", label="target", validation=other,
                     model=first.model_bytes)
    assert len(engine._cache) == 2 and len(calls) == 6


def test_the_cache_is_bounded_in_bytes_and_keeps_the_newest(monkeypatch):
    calls = _count_decodes(monkeypatch)
    files = [csv_split(load_wine, seed=seed)[1] for seed in range(3)]
    sizer = Engine()
    sizer.check_dataset(files[0], "target", "classification")  # a file, its table and one selection
    size = next(entry.nbytes(key) for key, entry in sizer._cache.items())
    engine = Engine(cache_entries=100, cache_bytes=2 * size + size // 2)
    for data in files + files[2:]:
        engine.check_dataset(data, "target", "classification")
    assert len(engine._cache) == 2 and list(engine._cache) == files[1:]
    assert len(calls) == 4


def test_prepare_decodes_csv_files_ahead_and_ignores_anything_else(monkeypatch):
    calls = _count_decodes(monkeypatch)
    train, valid = csv_split(load_wine)
    engine = Engine()
    assert engine.prepare(train) and engine.prepare(valid)
    assert not engine.prepare(spec("GaussianNB")) and not engine.prepare(b"\xff\x00 binary")
    assert not engine.prepare(b"a,b\n1,x\n2,3\n")
    decoded = len(calls)
    scored = engine.score(task="classification", metric="accuracy", label="target", validation=valid,
                          model=spec("GaussianNB"), train=train, seed=1)
    assert len(calls) == decoded  # nothing decoded again
    fresh = Engine().score(task="classification", metric="accuracy", label="target", validation=valid,
                           model=spec("GaussianNB"), train=train, seed=1)
    assert scored == fresh


def test_one_decoded_file_serves_different_labels_and_tasks(monkeypatch):
    calls = _count_decodes(monkeypatch)
    data = b"a,b,c\n1,0,2.5\n2,1,3.5\n3,0,1.5\n"
    engine = Engine()
    as_class = engine.check_dataset(data, "b", "classification")
    as_value = engine.check_dataset(data, "c", "regression")
    assert len(calls) == 1
    assert as_class.classes == (0, 1) and as_value.classes is None
    assert as_class.columns == as_value.columns == ("a", "b", "c") and as_class.features == as_value.features == 2
    with pytest.raises(DatasetError) as err:
        engine.check_dataset(data, "c", "classification")
    assert err.value.code == "dataset_label_not_integer"


def test_a_label_is_selected_once_per_file_and_a_refused_selection_is_not_kept(monkeypatch):
    from dapp.ml import engine as engine_module

    selections: list[tuple[str, str]] = []
    original = engine_module.select

    def counting(table, label, task, *args):
        selections.append((label, task))
        return original(table, label, task, *args)

    monkeypatch.setattr(engine_module, "select", counting)
    train, valid = csv_split(load_wine)
    engine = Engine()
    scores = [engine.score(task="classification", metric="accuracy", label="target", validation=valid,
                           model=spec("GaussianNB"), train=train, seed=3) for _ in range(3)]
    assert selections == [("target", "classification")] * 2 and scores[0] == scores[1] == scores[2]
    selected = engine._dataset(train, "target", "classification")
    assert not selected.X.flags.writeable and not selected.y.flags.writeable  # shared: nobody may change it
    data = b"a,b,c\n1,0,2.5\n2,1,3.5\n"
    for _ in range(2):
        with pytest.raises(DatasetError):
            engine.check_dataset(data, "c", "classification")
    engine.check_dataset(data, "c", "regression")
    assert selections[2:] == [("c", "classification")] * 2 + [("c", "regression")]


def test_the_seed_rule_is_the_documented_formula_and_sensitive_to_each_part():
    def documented(path: str) -> int:  # PROTOCOL.md: uint32(sha256("mlmarket/<jobId>/<submissionId>")[:4])
        return int.from_bytes(hashlib.sha256(path.encode()).digest()[:4], "big")
    assert submission_seed(3, 14) == documented("mlmarket/3/14")
    assert round_seed(3, 2) == documented("mlmarket/3/round/2")
    seeds = {submission_seed(1, 2), submission_seed(2, 1), submission_seed(1, 3), round_seed(1, 2), derive(12)}
    assert len(seeds) == 5 and all(0 <= s < 2**32 for s in seeds)


def test_importing_the_engine_does_not_import_scikit_learn():
    code = "import sys, dapp.ml.engine, dapp.ml.export; print(any(m.startswith(('sklearn', 'scipy', 'joblib')) for m in sys.modules))"
    child = subprocess.run([sys.executable, "-c", code], check=False, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert child.stdout.strip() == "False", child.stderr


def test_memory_hungry_training_is_refused_before_it_starts():
    train, valid = csv_split(load_wine)
    engine = Engine(MLLimits(max_train_memory=100_000, max_cycles=10**18))  # only the memory bound
    for model in (spec("MLPClassifier", hidden_layer_sizes=[256, 256], solver="lbfgs"),
                  spec("RandomForestClassifier", max_depth=20, n_estimators=50)):
        with pytest.raises(ModelError) as err:
            engine.score(task="classification", metric="accuracy", label="target", validation=valid,
                         model=model, train=train)
        assert err.value.code == "training_too_costly" and "bytes" in err.value.message


# --- hard limits, bounded evaluation and fault isolation (issue 11) ---------------------------------

SLOW_MLP = spec("MLPClassifier", hidden_layer_sizes=[256, 256], max_iter=2000, tol=1e-12, n_iter_no_change=1000)
UNBOUNDED_ESTIMATES = {"max_cycles": 10**18, "max_train_memory": 1 << 40}


def _score(engine, **kwargs):
    return engine.score(**{"task": "classification", "metric": "accuracy", "label": "target", **kwargs})


def test_the_isolated_engine_gives_the_in_process_engines_bytes_and_scores():
    cases = [(load_digits, "classification", "log_loss", MLP),
             (load_breast_cancer, "classification", "roc_auc", spec("RandomForestClassifier", max_depth=6,
                                                                     n_estimators=8)),
             (load_diabetes, "regression", "rmse", spec("SGDRegressor", ("standard_scaler",)))]
    for loader, task, metric, model in cases:
        train, valid = csv_split(loader)
        runs = [Engine(isolate=isolate).score(task=task, metric=metric, label="target", validation=valid,
                                              model=model, train=train, seed=11) for isolate in (True, False)]
        assert runs[0] == runs[1] and runs[0].model_bytes
        again = [Engine(isolate=isolate).score(task=task, metric=metric, label="target", validation=valid,
                                               model=runs[0].model_bytes) for isolate in (True, False)]
        assert again[0] == again[1] and again[0].score == runs[0].score


def test_a_training_over_the_cpu_limit_is_that_submissions_resource_limit():
    # the estimate gate is opened wide, so only the hard limit stands between the spec and the machine
    train, valid = csv_split(load_digits)
    engine = Engine(MLLimits(**UNBOUNDED_ESTIMATES, max_cpu_seconds=1))
    with pytest.raises(MLError) as err:
        _score(engine, validation=valid, model=SLOW_MLP, train=train)
    assert err.value.code == "resource_limit" and "exceeded 1 s of CPU" in err.value.message
    assert _score(engine, validation=valid, model=spec("GaussianNB"), train=train).score > 0  # the engine goes on


@pytest.mark.parametrize("model", [spec("LinearSVC", dual=False), spec("LinearSVC", dual="auto"),
                                   spec("LogisticRegression", solver="liblinear")])
def test_liblinears_endless_loop_on_huge_cells_is_refused_or_stopped(model):
    # issue 11, finding 1: 3 rows with a cell of 1e100 made liblinear's primal solver loop forever;
    # with the value bound opened, only the refusals of the catalogue or the CPU limit can end it
    data = to_csv(np.array([[1e100, 1.0], [0.0, -1.0], [1.0, 0.0]]), np.array([0, 1, 0]))
    engine = Engine(MLLimits(max_abs_value=1e300, max_cpu_seconds=1))
    with pytest.raises(MLError) as err:
        _score(engine, validation=data, model=model, train=data)
    assert err.value.code in {"resource_limit", "param_out_of_bounds", "param_not_allowed",
                              "param_combination_not_allowed"}, err.value.code


def test_a_tree_that_reserves_more_memory_than_the_worker_has_is_a_resource_limit():
    # issue 11, finding 2: max_leaf_nodes 1,000,000 on 100 rows of 100 classes reserved ~1.7 GiB
    rng = np.random.default_rng(0)
    data = to_csv(rng.normal(size=(100, 5)), np.arange(100))
    model = spec("DecisionTreeClassifier", max_depth=32, max_leaf_nodes=1_000_000)
    with pytest.raises(MLError) as err:  # the catalogue now bounds max_leaf_nodes to 100,000 (cost.py
        # counts the best-first reservation, 2 x max_leaf_nodes nodes, in worst_memory as well)
        _score(Engine(MLLimits(**UNBOUNDED_ESTIMATES)), validation=data, model=model, train=data)
    assert err.value.code == "param_out_of_bounds" and "max_leaf_nodes" in err.value.message


def _wide_mlp_and_long_validation(rows: int, features: int = 32) -> tuple[bytes, bytes]:
    """A trained 3x256 MLP and a validation CSV of ``rows`` rows of one-digit cells (within 8 MiB)."""
    rng = np.random.default_rng(1)
    X, y = rng.integers(0, 10, size=(rows, features)), rng.integers(0, 2, size=rows)
    model = Engine(isolate=False).score(
        task="classification", metric="accuracy", label="target", validation=to_csv(X[:300], y[:300]),
        model=spec("MLPClassifier", hidden_layer_sizes=[256, 256, 256], max_iter=2), train=to_csv(X[:300], y[:300]))
    lines = [",".join([*(f"f{i}" for i in range(features)), "target"])]
    lines += [",".join(map(str, row)) + f",{target}" for row, target in zip(X.tolist(), y.tolist())]
    return model.model_bytes, ("\n".join(lines) + "\n").encode()


def test_scoring_a_wide_mlp_on_100k_rows_fits_the_worker_by_predicting_in_blocks(monkeypatch):
    # issue 11, finding 2: whole-array prediction held 100,000 x 256 activations per layer (~490 MiB)
    from dapp.ml import metrics

    model, valid = _wide_mlp_and_long_validation(100_000)
    # a work budget above the default's (calibrated to the machine, which refuses this evaluation as too
    # costly): what is checked here is the worker's memory
    engine = Engine(MLLimits(max_cycles=10**12))
    blocked = _score(engine, validation=valid, model=model, metric="roc_auc")
    assert blocked == _score(Engine(engine.limits, isolate=False), validation=valid, model=model, metric="roc_auc")
    monkeypatch.setattr(metrics, "BLOCK_ROWS", 10**9)  # whole-array prediction, as before
    with pytest.raises(MLError) as err:
        _score(engine, validation=valid, model=model, metric="roc_auc")
    assert err.value.code == "evaluation_too_costly"  # the estimate sees it coming
    with pytest.raises(MLError) as err:
        _score(Engine(MLLimits(**UNBOUNDED_ESTIMATES)), validation=valid, model=model, metric="roc_auc")
    assert err.value.code == "resource_limit" and "memory" in err.value.message  # and the worker's limit holds


def test_evaluation_is_gated_by_its_estimated_work_and_memory():
    model, valid = _wide_mlp_and_long_validation(20_000)
    for limits in (MLLimits(max_cycles=10**9), MLLimits(max_train_memory=4 << 20)):
        with pytest.raises(ModelError) as err:
            _score(Engine(limits), validation=valid, model=model)
        assert err.value.code == "evaluation_too_costly" and "20000 rows" in err.value.message
    train, valid = csv_split(load_wine)  # also after a training, before the trained model is scored
    with pytest.raises(ModelError) as err:
        _score(Engine(MLLimits(max_train_memory=100)), validation=valid, model=spec("GaussianNB"), train=train)
    assert err.value.code == "evaluation_too_costly"


def test_any_exception_while_training_or_scoring_is_that_submissions_failure(monkeypatch):
    # issue 11, finding 7: an AttributeError inside scikit-learn made the whole reveal an internal_error
    from dapp.ml import engine as engine_module

    def broken(*args):
        raise AttributeError("'NoneType' object has no attribute 'best_loss_'")

    train, valid = csv_split(load_wine)
    monkeypatch.setattr(engine_module, "evaluate", broken)
    for isolate in (True, False):
        with pytest.raises(TrainingError) as err:
            _score(Engine(isolate=isolate), validation=valid, model=spec("GaussianNB"), train=train)
        assert err.value.code == "training_failed" and "AttributeError" in err.value.message


def test_mlp_early_stopping_on_extreme_targets_is_a_training_failure_not_an_internal_error():
    # issue 11, finding 7's real case: MLPRegressor with early_stopping on targets of +-1e300 (the value
    # bound opened) never improves its validation score, and scikit-learn ends with an AttributeError
    X = np.arange(200, dtype=float).reshape(100, 2)
    data = to_csv(X, np.where(np.arange(100) % 2, 1e300, -1e300))
    for isolate in (True, False):
        with pytest.raises(TrainingError) as err:
            _score(Engine(MLLimits(max_abs_value=1e301), isolate=isolate), task="regression", metric="r2",
                   validation=data, train=data, model=spec("MLPRegressor", early_stopping=True, max_iter=5))
        assert err.value.code == "training_failed" and "AttributeError" in err.value.message


def test_averaging_runs_in_the_worker_and_gives_the_in_process_bytes():
    train, valid = csv_split(load_wine)
    parts = [(_score(Engine(isolate=False), validation=valid, model=spec("GaussianNB"), train=part).model_bytes, n)
             for part, n in ((train, 3), (csv_split(load_wine, seed=4)[0], 1))]
    assert Engine().aggregate(parts) == Engine(isolate=False).aggregate(parts)


SMALL_SPECS = {
    "LogisticRegression": spec("LogisticRegression", ("standard_scaler",)),
    "SGDClassifier": spec("SGDClassifier", ("standard_scaler",), loss="log_loss"),
    "SGDRegressor": spec("SGDRegressor", ("standard_scaler",)),
    "LinearSVC": spec("LinearSVC", ("standard_scaler",), max_iter=100),
    "Ridge": spec("Ridge"),
    "LinearRegression": spec("LinearRegression"),
    "GaussianNB": spec("GaussianNB"),
    "MLPClassifier": spec("MLPClassifier", ("standard_scaler",), hidden_layer_sizes=[32, 16], max_iter=30),
    "MLPRegressor": spec("MLPRegressor", ("standard_scaler",), hidden_layer_sizes=[32, 16], max_iter=30),
    "DecisionTreeClassifier": spec("DecisionTreeClassifier", max_depth=8),
    "DecisionTreeRegressor": spec("DecisionTreeRegressor", max_depth=8),
    "RandomForestClassifier": spec("RandomForestClassifier", max_depth=8, n_estimators=10),
    "RandomForestRegressor": spec("RandomForestRegressor", max_depth=8, n_estimators=10),
}


def _metric_or_code(metric, estimator, X, y):
    from dapp.ml.metrics import evaluate, quantise

    try:
        return quantise(evaluate(metric, estimator, X, y))
    except MetricError as err:
        return err.code


@pytest.mark.parametrize("loader, task", [(load_breast_cancer, "classification"), (load_digits, "classification"),
                                          (load_diabetes, "regression")])
def test_predicting_in_blocks_gives_the_whole_array_scores_for_every_catalogue_estimator(loader, task, monkeypatch):
    from dapp.ml import metrics
    from dapp.ml.catalogue import CATALOGUE
    from dapp.ml.modelfile import read_model
    from dapp.ml.train import fit

    X_train, y_train, X_valid, y_valid = split(loader)
    names = [name for name, definition in CATALOGUE.items() if definition.task == task]
    assert set(names) <= set(SMALL_SPECS)
    for name in names:
        estimator = fit(read_model(SMALL_SPECS[name]), X_train, y_train, (), 3)
        scores = {}
        for rows in (10**9, 64, 7):  # whole array, then blocks with a ragged last one
            monkeypatch.setattr(metrics, "BLOCK_ROWS", rows)
            scores[rows] = [_metric_or_code(metric, estimator, X_valid, y_valid) for metric in METRICS[task]]
        assert scores[64] == scores[7] == scores[10**9], name
        assert any(isinstance(score, int) for score in scores[64])


def test_the_work_estimate_counts_training_and_evaluation_and_refuses_bad_files():
    train, valid = csv_split(load_breast_cancer)
    engine = Engine(isolate=False)
    logistic = spec("LogisticRegression", max_iter=100)
    fit_only = engine.estimate(task="classification", label="target", model=logistic, train=train)
    both = engine.estimate(task="classification", label="target", model=logistic, train=train, evaluation=valid)
    longer = engine.estimate(task="classification", label="target", model=spec("LogisticRegression", max_iter=1000),
                             train=train)
    assert 0 < fit_only < both and longer > 5 * fit_only
    trained = engine.score(task="classification", metric="accuracy", label="target", validation=valid,
                           model=logistic, train=train).model_bytes
    evaluate_only = engine.estimate(task="classification", label="target", model=trained, evaluation=valid)
    bigger = engine.estimate(task="classification", label="target", model=trained, evaluation=valid + valid[valid.index(b"\n") + 1:])
    assert 0 < evaluate_only < bigger and evaluate_only < fit_only
    with pytest.raises(ModelError):
        engine.estimate(task="classification", label="target", model=b"not a model", train=train)


# --- what is published loads back (issue 11's resource walk, seed 611896497: models the engine trained
# and published were refused when submitted again, model_array_shape x2 and model_array_value x1) ---------

def _published(engine, task, train, model, validation=None, metric=None):
    metric = metric or METRICS[task][0]
    return engine.score(task=task, metric=metric, label="target", validation=validation or train, model=model,
                        train=train, seed=7)


def _loads_back(engine, task, scored, validation, metric=None):
    """The published bytes pass the reader and restore, and score without data as they scored when trained."""
    from dapp.ml.fitted import restore
    from dapp.ml.modelfile import read_model

    model = read_model(scored.model_bytes)
    restore(model.spec, dict(model.arrays), len(model.features))
    engine.check_model(scored.model_bytes, task)
    again = engine.score(task=task, metric=metric or METRICS[task][0], label="target", validation=validation,
                         model=scored.model_bytes)
    assert again.score == scored.score
    return model


@pytest.mark.parametrize("estimator, params", [
    ("LinearSVC", {"fit_intercept": False}), ("LinearSVC", {"fit_intercept": False, "dual": True}),
    ("LinearSVC", {"fit_intercept": False, "multi_class": "crammer_singer"}),
    ("LogisticRegression", {"fit_intercept": False, "solver": "liblinear", "dual": True})])
@pytest.mark.parametrize("classes", [2, 3])
def test_a_liblinear_model_without_intercept_is_published_in_a_shape_that_loads_back(estimator, params,
                                                                                    classes):
    # scikit-learn's liblinear fits leave intercept_ a scalar 0.0 without fit_intercept (the other linear
    # classifiers: one per output); the reader wants one per output, so every such model was refused
    X = np.random.default_rng(classes).standard_normal((40, 3))
    data = to_csv(X, np.arange(40) % classes)
    engine = Engine(isolate=False)
    scored = _published(engine, "classification", data, spec(estimator, **params))
    model = _loads_back(engine, "classification", scored, data)
    outputs = 1 if classes == 2 else classes
    assert model.arrays["intercept"].shape == (outputs,) and not model.arrays["intercept"].any()


def test_a_degenerate_fit_is_that_submissions_training_failure_and_nothing_is_published():
    # GaussianNB on cells of ~1e-301: every variance underflows to 0 (and so does var_smoothing's epsilon);
    # such a model divides by zero when it predicts, so the reader refuses it: the engine does not publish it
    X = np.array([[1.2573e-301], [-1.32105e-301], [6.40423e-301], [2e-301]])
    data = to_csv(X, np.array([0, 1, 0, 1]))
    for isolate in (False, True):
        with pytest.raises(TrainingError) as err:
            _published(Engine(isolate=isolate), "classification", data, spec("GaussianNB"))
        assert err.value.code == "training_failed"
        assert "degenerate" in str(err.value) and "var > 0" in str(err.value)
    # the same estimator on ordinary data is published and loads back
    ordinary = to_csv(np.random.default_rng(0).standard_normal((20, 2)), np.arange(20) % 2)
    engine = Engine(isolate=False)
    _loads_back(engine, "classification", _published(engine, "classification", ordinary, spec("GaussianNB")),
                ordinary)


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_every_model_the_engine_publishes_from_extreme_draws_loads_back(name):
    # the resource walk's own drawing (tests/reliability/test_resource_bounds.py): parameters at their bounds,
    # tiny training sets with constant columns, cells at the value bound or near 0, one row repeated. Each
    # draw is refused with a clear code or publishes bytes that read_model + restore accept and that score
    # the same when submitted again without data
    from tests.reliability.test_resource_bounds import draw_spec, tiny

    definition = CATALOGUE[name]
    task = definition.task
    engine = Engine(MLLimits(max_cpu_seconds=1))
    outcomes = []
    for index in range(6):
        rng, gen = random.Random(f"publish:{name}:{index}"), np.random.default_rng([index, 611896497])
        model = json.dumps(draw_spec(rng, definition, relentless=False)).encode()
        data = tiny(rng, gen, task)
        try:
            scored = _published(engine, task, data.train, model, data.validation)
        except MLError as exc:
            assert exc.code not in {"model_array_shape", "model_array_value", "model_array_not_finite"}, exc
            outcomes.append(exc.code)
            continue
        _loads_back(engine, task, scored, data.validation)
        outcomes.append("published")
    assert "published" in outcomes, outcomes
