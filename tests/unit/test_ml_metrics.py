"""Metrics: equal to scikit-learn's own functions, quantised to millionths, compared the right way."""

from fractions import Fraction

import numpy as np
import pytest
import sklearn.metrics as skm
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.svm import LinearSVC

from dapp.ml.engine import Engine
from dapp.ml.errors import MetricError
from dapp.ml.metrics import better, check_metric, evaluate, gain, meets, quantise
from tests.fixtures.ml.helpers import csv_split, spec, split

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """The oracles' fits are tiny: threads only add contention (the engine limits itself anyway)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


def _millionths(value):
    """Independent oracle of the documented rounding: nearest, ties to even, on the exact value."""
    exact = Fraction(value) * 10**6
    floor = exact.numerator // exact.denominator
    rest = exact - floor
    return floor + (1 if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and floor % 2) else 0)


@pytest.mark.parametrize("value", [0.0, 1.0, 2 / 3, 0.1234565, 0.9999995, -0.25, 123.4567891, 1e-7, 5e-7])
def test_quantise_rounds_the_exact_value_half_to_even(value):
    assert quantise(value) == _millionths(value)


def test_quantise_clamps_and_refuses_nan():
    assert quantise(-1e300) == -(2**63) and quantise(float("inf")) == 2**63 - 1
    with pytest.raises(MetricError):
        quantise(float("nan"))


def test_gains_and_losses_compare_the_right_way():
    assert better("accuracy", 900_000, 800_000) and not better("accuracy", 800_000, 800_000)
    assert better("rmse", 100, 200) and not better("log_loss", 300, 200)
    assert meets("r2", 500_000, 500_000) and not meets("r2", 499_999, 500_000)
    assert meets("mae", 10, 10) and meets("mae", 9, 10) and not meets("mae", 11, 10)
    assert gain("accuracy", 7, 5) == 2 and gain("mae", 7, 5) == -2


def test_metrics_must_fit_the_task():
    with pytest.raises(MetricError) as err:
        check_metric("regression", "accuracy")
    assert err.value.code == "metric_not_for_task"
    with pytest.raises(MetricError):
        check_metric("classification", "rmse")


def _fitted(model, loader):
    X_train, y_train, X_valid, y_valid = split(loader)
    return model.fit(X_train, y_train), X_valid, y_valid


@pytest.mark.parametrize("loader", [load_breast_cancer, load_wine])
def test_classification_metrics_equal_scikit_learns(loader):
    model, X, y = _fitted(LogisticRegression(max_iter=300, random_state=0), loader)
    proba, predicted = model.predict_proba(X), model.predict(X)
    binary = len(model.classes_) == 2
    expected = {
        "accuracy": skm.accuracy_score(y, predicted),
        "balanced_accuracy": skm.balanced_accuracy_score(y, predicted),
        "f1": skm.f1_score(y, predicted) if binary else skm.f1_score(y, predicted, average="macro"),
        "roc_auc": skm.roc_auc_score(y, proba[:, 1]) if binary else skm.roc_auc_score(y, proba, multi_class="ovr"),
        "log_loss": skm.log_loss(y, proba),
    }
    for metric, value in expected.items():
        assert evaluate(metric, model, X, y) == value, metric


def test_binary_f1_takes_the_greater_label_as_positive():
    model, X, y = _fitted(GaussianNB(), load_breast_cancer)
    y, shifted = y + 3, None
    model.classes_ = model.classes_ + 3
    shifted = model.predict(X)
    assert evaluate("f1", model, X, y) == skm.f1_score(y, shifted, pos_label=4)


def test_roc_auc_uses_the_decision_function_without_probabilities():
    model, X, y = _fitted(LinearSVC(dual=False), load_breast_cancer)
    assert evaluate("roc_auc", model, X, y) == skm.roc_auc_score(y, model.decision_function(X))
    with pytest.raises(MetricError) as err:
        evaluate("log_loss", model, X, y)
    assert err.value.code == "metric_not_for_model"


def test_regression_metrics_equal_scikit_learns():
    model, X, y = _fitted(LinearRegression(), load_diabetes)
    predicted = model.predict(X)
    assert evaluate("r2", model, X, y) == skm.r2_score(y, predicted)
    assert evaluate("mae", model, X, y) == skm.mean_absolute_error(y, predicted)
    assert evaluate("rmse", model, X, y) == pytest.approx(skm.mean_squared_error(y, predicted) ** 0.5, rel=1e-15)


def test_probability_metrics_need_known_labels():
    model, X, y = _fitted(GaussianNB(), load_breast_cancer)
    with pytest.raises(MetricError) as err:
        evaluate("log_loss", model, X, np.where(y == 1, 7, y))
    assert err.value.code == "metric_undefined"


@pytest.mark.parametrize("metric", ["accuracy", "balanced_accuracy", "f1", "roc_auc", "log_loss"])
def test_engine_publishes_scikit_learns_score_in_millionths(metric):
    train_csv, valid_csv = csv_split(load_wine)
    X_train, y_train, X_valid, y_valid = split(load_wine)
    out = Engine().score(task="classification", metric=metric, label="target", validation=valid_csv,
                         model=spec("LogisticRegression", max_iter=200), train=train_csv, seed=11)
    oracle = LogisticRegression(max_iter=200, random_state=11).fit(X_train, y_train)
    proba, predicted = oracle.predict_proba(X_valid), oracle.predict(X_valid)
    direct = {
        "accuracy": skm.accuracy_score(y_valid, predicted),
        "balanced_accuracy": skm.balanced_accuracy_score(y_valid, predicted),
        "f1": skm.f1_score(y_valid, predicted, average="macro"),
        "roc_auc": skm.roc_auc_score(y_valid, proba, multi_class="ovr"),
        "log_loss": skm.log_loss(y_valid, proba),
    }[metric]
    assert abs(out.score / 1e6 - direct) <= 5e-7
    assert out.score == _millionths(direct)
