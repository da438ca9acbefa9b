"""Federated updates checked against the job's current model (spec, shapes, distance bound), and the
robust aggregates (coordinate-wise median and trimmed mean) against hand computations."""

import itertools

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_wine

from dapp.ml import fedavg
from dapp.ml.engine import Engine
from dapp.ml.errors import MLError
from dapp.ml.modelfile import Model, read_model, write_model
from tests.fixtures.ml.helpers import spec, split, to_csv

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

LOGISTIC = spec("LogisticRegression", max_iter=50)


def trained(model: bytes, loader=load_wine, cuts=(0.25, 0.5, 0.75), seed=0):
    """(validation CSV, [(trained model bytes, samples)]) for consecutive slices of the training data."""
    X, y, X_valid, y_valid = split(loader)
    valid = to_csv(X_valid, y_valid)
    edges = [0, *(int(len(y) * c) for c in cuts), len(y)]
    out = []
    for i, (a, b) in enumerate(itertools.pairwise(edges)):
        scored = Engine(isolate=False).score(task="classification", metric="accuracy", label="target",
                                             validation=valid, model=model, train=to_csv(X[a:b], y[a:b]),
                                             seed=seed + i)
        out.append((scored.model_bytes, scored.samples))
    return valid, out


def check(update: bytes, base: bytes, valid: bytes) -> None:
    Engine(isolate=False).check_update(update, base, task="classification", label="target", validation=valid)


def code_of(call) -> str:
    with pytest.raises(MLError) as err:
        call()
    return err.value.code


def shifted(model: bytes, distance: float) -> bytes:
    """``model`` with every parameter moved along one unit direction, ``distance`` away in all."""
    m = read_model(model)
    names = sorted(n for n in m.arrays if n != "classes")
    size = sum(m.arrays[n].size for n in names)
    step = distance / np.sqrt(size)
    return write_model(mapped(m, lambda a: a + step))


def mapped(model: Model, change) -> Model:
    """``model`` with ``change`` applied to every parameter array (``classes`` kept)."""
    return Model(model.spec, model.features,
                 {n: a if n == "classes" else change(a) for n, a in model.arrays.items()})


# --- updates checked against the job's current model ---------------------------------------------

def test_an_untrained_base_admits_updates_of_its_spec_and_the_validation_sets_columns_and_classes():
    valid, parts = trained(LOGISTIC)
    for update, _ in parts:
        check(update, LOGISTIC, valid)
    forest = trained(spec("RandomForestClassifier", n_estimators=2, max_depth=2))[1][0][0]
    sgd = trained(spec("SGDClassifier"))[1][0][0]  # another linear estimator: the same shapes
    other_c = trained(spec("LogisticRegression", max_iter=50, C=0.5))[1][0][0]
    for update in (forest, sgd, other_c):
        assert code_of(lambda: check(update, LOGISTIC, valid)) == "aggregate_spec_mismatch"
    assert code_of(lambda: check(LOGISTIC, LOGISTIC, valid)) == "aggregate_untrained"
    X, y, X_valid, y_valid = split(load_wine)
    two = Engine(isolate=False).score(task="classification", metric="accuracy", label="target",
                                      validation=valid, model=LOGISTIC, train=to_csv(X[y < 2], y[y < 2]))
    two = two.model_bytes
    assert code_of(lambda: check(two, LOGISTIC, valid)) == "aggregate_classes_mismatch"
    renamed = to_csv(X_valid, y_valid, names=[f"g{i}" for i in range(X.shape[1])])
    assert code_of(lambda: check(parts[0][0], LOGISTIC, renamed)) == "aggregate_features_mismatch"


def test_an_update_whose_arrays_do_not_fit_its_classes_is_refused():
    valid, parts = trained(LOGISTIC)
    m = read_model(parts[0][0])
    cut = write_model(Model(m.spec, m.features, {**m.arrays, "coef": m.arrays["coef"][:2]}))
    assert code_of(lambda: check(cut, LOGISTIC, valid)) == "model_array_shape"


def test_a_trained_global_model_bounds_an_updates_distance():
    valid, parts = trained(LOGISTIC)
    base = parts[0][0]
    arrays = read_model(base).arrays
    size = np.sqrt(sum(np.square(a).sum() for n, a in arrays.items() if n != "classes"))  # the oracle norm
    limit = fedavg.MAX_UPDATE_DISTANCE * max(size, 1.0)
    for update, _ in parts[1:]:
        check(update, base, valid)  # honest updates lie well within the bound
    check(shifted(base, limit * 0.999), base, valid)
    assert code_of(lambda: check(shifted(base, limit * 1.001), base, valid)) == "aggregate_update_too_far"
    other = trained(spec("LogisticRegression", max_iter=50, C=0.5))[1][0][0]
    assert code_of(lambda: check(other, base, valid)) == "aggregate_spec_mismatch"


def test_the_distance_bound_is_relative_to_at_least_one():
    valid, parts = trained(LOGISTIC)
    m = read_model(parts[0][0])
    tiny = write_model(mapped(m, lambda a: a * 1e-9))
    check(shifted(tiny, fedavg.MAX_UPDATE_DISTANCE * 0.99), tiny, valid)
    assert code_of(lambda: check(shifted(tiny, fedavg.MAX_UPDATE_DISTANCE * 1.01), tiny, valid)) == \
        "aggregate_update_too_far"


# --- robust aggregates ----------------------------------------------------------------------------

def loaded(parts):
    return [(read_model(data), weight) for data, weight in parts]


def hostile(model: Model, scale: float) -> Model:
    return mapped(model, lambda a: a * scale)


@pytest.mark.parametrize("model, loader", [(LOGISTIC, load_wine),
                                           (spec("MLPClassifier", hidden_layer_sizes=[4], max_iter=5),
                                            load_breast_cancer)])
def test_the_median_is_each_coordinates_middle_value_whatever_the_weights_and_order(model, loader):
    _, parts = trained(model, loader, cuts=(0.2, 0.4, 0.6, 0.8))  # five models
    models = loaded(parts)
    result = fedavg.median(models)
    for name, array in result.arrays.items():
        if name != "classes":
            expected = np.median(np.stack([m.arrays[name] for m, _ in models]), axis=0)
            np.testing.assert_array_equal(array, expected)
    np.testing.assert_array_equal(result.arrays["classes"], models[0][0].arrays["classes"])
    reweighted = [(m, 1000 if i == 0 else 1) for i, (m, _) in enumerate(models)]
    same = write_model(result)
    assert write_model(fedavg.median(reweighted)) == same == write_model(fedavg.median(models[::-1]))
    four = fedavg.median(models[:4])  # an even count: the mean of the two middle values
    for name in (n for n in four.arrays if n != "classes"):
        ordered = np.sort(np.stack([m.arrays[name] for m, _ in models[:4]]), axis=0)
        np.testing.assert_array_equal(four.arrays[name], (ordered[1] + ordered[2]) / 2)


def test_the_median_of_a_minority_of_hostile_updates_stays_within_the_honest_range():
    _, parts = trained(LOGISTIC, cuts=(0.2, 0.4, 0.6, 0.8))
    models = loaded(parts)
    honest = np.stack([m.arrays["coef"] for m, _ in models[:3]])
    attacked = models[:3] + [(hostile(m, 1e6), 10**6) for m, _ in models[3:]]
    coef = fedavg.median(attacked).arrays["coef"]
    assert np.all(coef >= honest.min(axis=0)) and np.all(coef <= honest.max(axis=0))
    averaged = fedavg.aggregate(attacked).arrays["coef"]
    assert np.abs(averaged).max() > 1e3 * np.abs(honest).max()  # FedAvg is moved far away


def test_the_trimmed_mean_drops_the_extremes_by_count_and_weighs_the_rest():
    _, parts = trained(LOGISTIC, cuts=(0.2, 0.4, 0.6, 0.8))
    models = loaded(parts)
    result = fedavg.trimmed_mean(models, 0.2)  # five models: one dropped at each end of each coordinate
    weights = [w for _, w in models]
    for name in ("coef", "intercept"):
        stacked = np.stack([m.arrays[name] for m, _ in models])
        expected = np.empty(stacked.shape[1:])
        for index in np.ndindex(*stacked.shape[1:]):
            ranked = sorted(range(len(models)), key=lambda i: (stacked[(i, *index)], i))[1:-1]
            total = sum(weights[i] for i in ranked)
            expected[index] = sum(weights[i] * stacked[(i, *index)] for i in ranked) / total
        np.testing.assert_allclose(result.arrays[name], expected, rtol=1e-12)
    np.testing.assert_allclose(fedavg.trimmed_mean(models, 0.0).arrays["coef"],
                               fedavg.aggregate(models).arrays["coef"], rtol=1e-12)
    assert write_model(fedavg.trimmed_mean(models, 0.19)) == write_model(fedavg.trimmed_mean(models, 0.0))
    assert write_model(fedavg.trimmed_mean(models, 0.2)) == write_model(result)  # deterministic


def test_the_trimmed_mean_ignores_hostile_extremes_whatever_sample_count_they_claim():
    _, parts = trained(LOGISTIC, cuts=(0.2, 0.4, 0.6, 0.8))
    models = loaded(parts)
    honest = np.stack([m.arrays["coef"] for m, _ in models[:4]])
    attacked = models[:4] + [(hostile(models[4][0], -1e6), 10**9)]
    coef = fedavg.trimmed_mean(attacked, 0.2).arrays["coef"]
    assert np.all(coef >= honest.min(axis=0)) and np.all(coef <= honest.max(axis=0))


def test_robust_aggregates_refuse_what_they_cannot_combine():
    _, parts = trained(LOGISTIC)
    models = loaded(parts)
    for trim in (0.5, -0.1, 1.0):
        assert code_of(lambda: fedavg.trimmed_mean(models, trim)) == "aggregate_bad_trim"
    nb = loaded(trained(spec("GaussianNB"))[1])
    assert code_of(lambda: fedavg.median(nb)) == "aggregate_rule_unsupported"
    assert code_of(lambda: fedavg.median([])) == "aggregate_empty"
    assert code_of(lambda: fedavg.median([(models[0][0], 0), models[1]])) == "aggregate_bad_weight"
    other = loaded(trained(spec("SGDClassifier"))[1])
    assert code_of(lambda: fedavg.trimmed_mean([models[0], other[0]], 0.1)) == "aggregate_spec_mismatch"
