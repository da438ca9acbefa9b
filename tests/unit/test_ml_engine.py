"""The engine's API: train-then-score, evaluate-only, warm starts, bounds, and determinism across
processes and BLAS thread counts."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_wine
from threadpoolctl import threadpool_limits

from dapp.ml.engine import Engine, derive_seed
from dapp.ml.errors import DatasetError, MetricError, ModelError, TrainingError
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
    engine = Engine(MLLimits(max_work=10**6))
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


def test_derive_seed_is_stable_bounded_and_sensitive_to_each_part():
    assert derive_seed(1, 2) == derive_seed(1, 2)
    seeds = {derive_seed(1, 2), derive_seed(2, 1), derive_seed(1, 3), derive_seed(12), derive_seed(b"\x01", 2)}
    assert len(seeds) == 5 and all(0 <= s < 2**32 for s in seeds)
    digest = hashlib.sha256(len(b"ab").to_bytes(4, "big") + b"ab").digest()
    assert derive_seed(b"ab") == int.from_bytes(digest[:4], "big")


def test_importing_the_engine_does_not_import_scikit_learn():
    code = "import sys, dapp.ml.engine, dapp.ml.export; print(any(m.startswith(('sklearn', 'scipy', 'joblib')) for m in sys.modules))"
    child = subprocess.run([sys.executable, "-c", code], check=False, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert child.stdout.strip() == "False", child.stderr


def test_memory_hungry_training_is_refused_before_it_starts():
    train, valid = csv_split(load_wine)
    engine = Engine(MLLimits(max_train_memory=100_000))
    for model in (spec("MLPClassifier", hidden_layer_sizes=[256, 256], solver="lbfgs"),
                  spec("RandomForestClassifier", max_depth=20, n_estimators=50)):
        with pytest.raises(ModelError) as err:
            engine.score(task="classification", metric="accuracy", label="target", validation=valid,
                         model=model, train=train)
        assert err.value.code == "training_too_costly" and "bytes" in err.value.message
