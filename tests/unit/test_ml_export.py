"""Off-chain conversions: a sponsor's joblib export, and a contributor's locally trained estimator."""

import joblib
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.svm import SVC

from dapp.ml.engine import Engine
from dapp.ml.errors import ModelError
from dapp.ml.export import from_estimator, to_joblib
from tests.fixtures.ml.helpers import csv_split, spec, split

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
FEATURES = tuple(f"f{i}" for i in range(30))


def test_joblib_export_loads_as_a_fitted_estimator_with_the_same_predictions(tmp_path):
    train, valid = csv_split(load_breast_cancer)
    out = Engine().score(task="classification", metric="accuracy", label="target", validation=valid,
                         model=spec("RandomForestClassifier", max_depth=4, n_estimators=6), train=train, seed=8)
    path = tmp_path / "model.joblib"
    to_joblib(out.model_bytes, path)
    loaded = joblib.load(path)
    X_valid, y_valid = split(load_breast_cancer)[2:]
    assert round(loaded.score(X_valid, y_valid) * 1e6) == out.score
    assert loaded.n_jobs == 1 and len(loaded.estimators_) == 6


def test_untrained_spec_exports_as_an_unfitted_estimator(tmp_path):
    path = tmp_path / "spec.joblib"
    to_joblib(spec("LogisticRegression", C=0.5), path, seed=4)
    loaded = joblib.load(path)
    assert isinstance(loaded, LogisticRegression) and loaded.C == 0.5 and loaded.random_state == 4
    assert not hasattr(loaded, "coef_")


def test_a_locally_trained_estimator_becomes_a_model_the_machine_scores_as_scikit_learn_does():
    X_train, y_train, X_valid, y_valid = split(load_breast_cancer)
    local = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(9,), max_iter=30,
                                                          random_state=1)).fit(X_train, y_train)
    data = from_estimator(local, FEATURES)
    _, valid = csv_split(load_breast_cancer)
    scored = Engine().score(task="classification", metric="accuracy", label="target", validation=valid, model=data)
    assert scored.score == round(local.score(X_valid, y_valid) * 1e6)
    assert from_estimator(local, FEATURES) == data


def test_estimators_outside_the_catalogue_or_with_forbidden_settings_are_refused():
    X_train, y_train = split(load_breast_cancer)[:2]
    with pytest.raises(ModelError, match="not in the catalogue"):
        from_estimator(SVC().fit(X_train, y_train), FEATURES)
    with pytest.raises(ModelError, match="StandardScaler"):
        from_estimator(make_pipeline(MinMaxScaler(), LogisticRegression()).fit(X_train, y_train), FEATURES)
    with pytest.raises(ModelError, match="multi_class"):
        from_estimator(LogisticRegression(multi_class="ovr", max_iter=5).fit(X_train, y_train), FEATURES)
    with pytest.raises(ModelError):
        from_estimator(LogisticRegression(max_iter=5).fit(X_train, y_train), FEATURES[:3])
