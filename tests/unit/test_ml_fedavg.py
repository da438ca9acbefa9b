"""FedAvg: sample-weighted averages equal to a hand computation, exact pooling for GaussianNB, and
clear refusals for what cannot be averaged."""

import itertools

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.naive_bayes import GaussianNB

from dapp.ml.engine import Engine
from dapp.ml.errors import AggregationError
from dapp.ml.export import to_estimator
from dapp.ml.modelfile import read_model
from tests.fixtures.ml.helpers import spec, split, to_csv

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _parts(loader, model, task, metric, cuts=(0.2, 0.5), seed=0):
    """Models trained on consecutive slices of the training data, with their sample counts."""
    X, y, X_valid, y_valid = split(loader)
    valid = to_csv(X_valid, y_valid)
    edges = [0, *(int(len(y) * c) for c in cuts), len(y)]
    engine = Engine()
    out = []
    for i, (a, b) in enumerate(itertools.pairwise(edges)):
        scored = engine.score(task=task, metric=metric, label="target", validation=valid, model=model,
                              train=to_csv(X[a:b], y[a:b]), seed=seed + i)
        out.append((scored.model_bytes, scored.samples))
    return out, (X, y)


@pytest.mark.parametrize("model, loader, task, metric, names", [
    (spec("LogisticRegression", max_iter=50), load_wine, "classification", "accuracy", ["coef", "intercept"]),
    (spec("SGDRegressor"), load_diabetes, "regression", "r2", ["coef", "intercept"]),
    (spec("Ridge"), load_diabetes, "regression", "r2", ["coef", "intercept"]),
    (spec("MLPClassifier", hidden_layer_sizes=[7, 5], max_iter=5), load_breast_cancer, "classification",
     "accuracy", ["coefs_0", "coefs_1", "coefs_2", "intercepts_0", "intercepts_1", "intercepts_2"]),
])
def test_fedavg_is_the_sample_weighted_mean_of_each_array(model, loader, task, metric, names):
    parts, _ = _parts(loader, model, task, metric)
    averaged = read_model(Engine().aggregate(parts))
    inputs = [read_model(data) for data, _ in parts]
    weights = np.array([n for _, n in parts], dtype=float)
    for name in names:
        stacked = np.stack([m.arrays[name] for m in inputs])
        expected = np.tensordot(weights, stacked, axes=1) / weights.sum()
        np.testing.assert_allclose(averaged.arrays[name], expected, rtol=1e-13, atol=1e-15)
    assert averaged.spec == inputs[0].spec and averaged.features == inputs[0].features
    Engine().check_model(Engine().aggregate(parts))  # the average is itself a valid model


def test_fedavg_output_is_deterministic_for_a_given_order():
    parts, _ = _parts(load_wine, spec("LogisticRegression", max_iter=30), "classification", "accuracy")
    assert Engine().aggregate(parts) == Engine().aggregate(list(parts))


def test_gaussian_nb_pooling_equals_a_fit_on_the_union_of_the_data():
    parts, (X, y) = _parts(load_wine, spec("GaussianNB"), "classification", "accuracy")
    pooled = to_estimator(Engine().aggregate(parts))
    union = GaussianNB().fit(X, y)
    for attr in ("theta_", "var_", "class_count_", "class_prior_"):
        np.testing.assert_allclose(getattr(pooled, attr), getattr(union, attr), rtol=1e-9)
    assert pooled.epsilon_ == pytest.approx(union.epsilon_, rel=1e-9)
    np.testing.assert_array_equal(pooled.predict(X), union.predict(X))


def test_trees_forests_and_preprocessed_models_cannot_be_averaged():
    for model in (spec("DecisionTreeClassifier", max_depth=3),
                  spec("RandomForestClassifier", max_depth=3, n_estimators=3),
                  spec("LogisticRegression", ("standard_scaler",), max_iter=30)):
        parts, _ = _parts(load_wine, model, "classification", "accuracy")
        with pytest.raises(AggregationError) as err:
            Engine().aggregate(parts)
        assert err.value.code == "aggregate_not_averageable"


def test_mismatched_models_are_refused_with_the_reason():
    engine = Engine()
    small, _ = _parts(load_breast_cancer, spec("MLPClassifier", hidden_layer_sizes=[4], max_iter=3),
                      "classification", "accuracy")
    wide, _ = _parts(load_breast_cancer, spec("MLPClassifier", hidden_layer_sizes=[5], max_iter=3),
                     "classification", "accuracy")
    with pytest.raises(AggregationError) as err:
        engine.aggregate([small[0], wide[0]])
    assert err.value.code == "aggregate_spec_mismatch"
    with pytest.raises(AggregationError) as err:
        engine.aggregate([wide[0], small[0]])
    assert err.value.code == "aggregate_spec_mismatch"
    X, y = load_wine(return_X_y=True)
    two = Engine().score(task="classification", metric="accuracy", label="target", validation=to_csv(X, y),
                         model=spec("GaussianNB"), train=to_csv(X[y < 2], y[y < 2])).model_bytes
    three = Engine().score(task="classification", metric="accuracy", label="target", validation=to_csv(X, y),
                           model=spec("GaussianNB"), train=to_csv(X, y)).model_bytes
    with pytest.raises(AggregationError) as err:
        engine.aggregate([(two, 10), (three, 10)])
    assert err.value.code == "aggregate_shape_mismatch"
    with pytest.raises(AggregationError) as err:
        engine.aggregate([(spec("GaussianNB"), 1)])
    assert err.value.code == "aggregate_untrained"
    for weights in ([0, 1], [-1, 1], [True, 1]):
        with pytest.raises(AggregationError) as err:
            engine.aggregate([(small[0][0], weights[0]), (small[1][0], weights[1])])
        assert err.value.code == "aggregate_bad_weight"
    with pytest.raises(AggregationError):
        engine.aggregate([])
