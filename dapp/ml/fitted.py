"""Fitted state <-> named arrays, for linear models, Gaussian naive Bayes, MLPs and the scaler step.

``extract`` reads the arrays a fitted estimator needs to predict; ``restore`` sets them on a fresh
instance after checking every dtype, shape and value, so that a crafted file cannot make
prediction fail in an unexpected way; ``check_fitted`` makes the same checks where no estimator is
needed. Trees and forests are in :mod:`dapp.ml.trees`.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from dapp.ml.catalogue import CLASSIFICATION
from dapp.ml.errors import ModelError
from dapp.ml.spec import ModelSpec

Arrays = dict[str, np.ndarray]


def expect(arrays: Arrays, name: str, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    """``arrays[name]``, checked for dtype, exact shape and finiteness (ModelError otherwise)."""
    if name not in arrays:
        raise ModelError(f"trained model lacks array '{name}'", code="model_array_missing")
    array = arrays[name]
    if array.dtype != np.dtype(dtype) or array.shape != shape:
        raise ModelError(f"array '{name}' must be {np.dtype(dtype).name} of shape {shape}, "
                         f"got {array.dtype.name} of shape {array.shape}", code="model_array_shape")
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise ModelError(f"array '{name}' holds NaN or infinite values", code="model_array_not_finite")
    return array


def classes_array(arrays: Arrays) -> np.ndarray:
    """The model's class labels: int64, strictly increasing, at least two."""
    if "classes" not in arrays:
        raise ModelError("trained classifier lacks array 'classes'", code="model_array_missing")
    classes = arrays["classes"]
    expect(arrays, "classes", "<i8", classes.shape if classes.ndim == 1 else (-1,))
    if classes.size < 2 or np.any(np.diff(classes) <= 0):
        raise ModelError("'classes' must hold at least two distinct labels in increasing order",
                         code="model_array_value")
    return classes


def _outputs(spec: ModelSpec, arrays: Arrays) -> int:
    """Rows of coef_ / columns of the MLP output layer: 1 for regression and binary classification."""
    if spec.task != CLASSIFICATION:
        return 1
    n_classes = classes_array(arrays).size
    return 1 if n_classes == 2 else n_classes


def extract(spec: ModelSpec, estimator: Any) -> Arrays:
    """The named arrays of a fitted estimator (for a Pipeline: the scaler step, then the last step)."""
    arrays: Arrays = {}
    model = estimator
    if spec.preprocessing:
        scaler = estimator[0]
        arrays.update(scaler_mean=scaler.mean_, scaler_scale=scaler.scale_, scaler_var=scaler.var_,
                      scaler_n_samples_seen=np.asarray(scaler.n_samples_seen_, dtype=np.int64))
        model = estimator[-1]
    if spec.task == CLASSIFICATION:
        arrays["classes"] = np.asarray(model.classes_, dtype=np.int64)
    family = spec.definition.family
    if family == "linear":
        intercept = np.asarray(model.intercept_, dtype=np.float64)
        if spec.task == CLASSIFICATION:  # LinearSVC(fit_intercept=False) leaves a scalar 0.0: one per output
            intercept = np.broadcast_to(intercept, model.coef_.shape[:1])
        arrays.update(coef=model.coef_, intercept=intercept)
    elif family == "nb":
        arrays.update(theta=model.theta_, var=model.var_, class_count=model.class_count_,
                      class_prior=model.class_prior_, epsilon=np.asarray(model.epsilon_, dtype=np.float64))
    elif family == "mlp":
        arrays.update({f"coefs_{i}": c for i, c in enumerate(model.coefs_)})
        arrays.update({f"intercepts_{i}": c for i, c in enumerate(model.intercepts_)})
    else:
        from dapp.ml.trees import extract_trees

        arrays.update(extract_trees(spec, model))
    return {name: np.asarray(a, dtype=a.dtype.newbyteorder("<"), order="C") for name, a in arrays.items()}


def restore(spec: ModelSpec, arrays: Arrays, n_features: int, seed: int = 0) -> Any:
    """A fresh estimator for ``spec`` with the fitted state of ``arrays`` (ModelError if they do not
    fit the spec or ``n_features``). ``seed`` only sets ``random_state`` for a later warm start."""
    from dapp.ml.spec import build_estimator

    estimator = build_estimator(spec, seed)
    _set_fitted(spec, estimator[0] if spec.preprocessing else None,
                estimator[-1] if spec.preprocessing else estimator, arrays, n_features)
    return estimator


def check_fitted(spec: ModelSpec, arrays: Arrays, n_features: int) -> None:
    """Every check :func:`restore` makes on ``arrays``, with the same ModelError at the first problem,
    building nothing (``restore`` builds the estimator, and one scikit-learn ``Tree`` per tree): for a
    caller that needs no estimator, e.g. a model file being checked, or the arrays of a fit the
    machine has just made, which must load back."""
    _set_fitted(spec, SimpleNamespace(), None, arrays, n_features)


def _set_fitted(spec: ModelSpec, scaler: Any, model: Any, arrays: Arrays, n_features: int) -> None:
    """Checks ``arrays`` and sets them on ``scaler`` (the preprocessing step, if the spec has one) and
    ``model``; with ``model`` None, only checks them (attributes go on a throwaway namespace, trees
    are checked without being built)."""
    if spec.preprocessing:
        _restore_scaler(scaler, arrays, n_features)
    target = SimpleNamespace() if model is None else model
    family = spec.definition.family
    if family == "linear":
        _restore_linear(spec, target, arrays, n_features)
    elif family == "nb":
        _restore_nb(target, arrays, n_features)
    elif family == "mlp":
        _restore_mlp(spec, target, arrays, n_features)
    elif model is None:
        from dapp.ml.trees import check_trees

        check_trees(spec, arrays, n_features)
    else:
        from dapp.ml.trees import restore_trees

        restore_trees(spec, model, arrays, n_features)
    target.n_features_in_ = n_features


def expected_names(spec: ModelSpec, arrays: Arrays) -> set[str]:
    """The array names a trained model of ``spec`` must hold (no more, no fewer)."""
    names = {"classes"} if spec.task == CLASSIFICATION else set()
    if spec.preprocessing:
        names |= {"scaler_mean", "scaler_scale", "scaler_var", "scaler_n_samples_seen"}
    family = spec.definition.family
    if family == "linear":
        return names | {"coef", "intercept"}
    if family == "nb":
        return names | {"theta", "var", "class_count", "class_prior", "epsilon"}
    if family == "mlp":
        layers = len(spec.param_dict()["hidden_layer_sizes"]) + 1
        return names | {f"{kind}_{i}" for kind in ("coefs", "intercepts") for i in range(layers)}
    from dapp.ml.trees import TREE_ARRAYS

    return names | set(TREE_ARRAYS)


def _restore_scaler(scaler: Any, arrays: Arrays, n_features: int) -> None:
    scale = expect(arrays, "scaler_scale", "<f8", (n_features,))
    var = expect(arrays, "scaler_var", "<f8", (n_features,))
    seen = expect(arrays, "scaler_n_samples_seen", "<i8", ())
    if np.any(scale <= 0) or np.any(var < 0) or int(seen) < 1:
        raise ModelError("scaler arrays must have scale > 0, var >= 0, n_samples_seen >= 1",
                         code="model_array_value")
    scaler.mean_ = expect(arrays, "scaler_mean", "<f8", (n_features,))
    scaler.scale_, scaler.var_, scaler.n_samples_seen_ = scale, var, int(seen)
    scaler.n_features_in_ = n_features


def _restore_linear(spec: ModelSpec, model: Any, arrays: Arrays, n_features: int) -> None:
    if spec.task == CLASSIFICATION:
        model.classes_ = classes_array(arrays)
        outputs = _outputs(spec, arrays)
        model.coef_ = expect(arrays, "coef", "<f8", (outputs, n_features))
        model.intercept_ = expect(arrays, "intercept", "<f8", (outputs,))
    elif spec.estimator == "SGDRegressor":
        model.coef_ = expect(arrays, "coef", "<f8", (n_features,))
        model.intercept_ = expect(arrays, "intercept", "<f8", (1,))
    else:
        model.coef_ = expect(arrays, "coef", "<f8", (n_features,))
        model.intercept_ = float(expect(arrays, "intercept", "<f8", ()))


def _restore_nb(model: Any, arrays: Arrays, n_features: int) -> None:
    classes = classes_array(arrays)
    k = classes.size
    var = expect(arrays, "var", "<f8", (k, n_features))
    count = expect(arrays, "class_count", "<f8", (k,))
    prior = expect(arrays, "class_prior", "<f8", (k,))
    epsilon = expect(arrays, "epsilon", "<f8", ())
    if np.any(var <= 0) or np.any(count <= 0) or np.any(prior <= 0) or np.any(prior > 1) or epsilon < 0:
        raise ModelError("GaussianNB arrays must have var > 0, class_count > 0, 0 < class_prior <= 1, "
                         "epsilon >= 0", code="model_array_value")
    model.classes_ = classes
    model.theta_ = expect(arrays, "theta", "<f8", (k, n_features))
    model.var_, model.class_count_, model.class_prior_ = var, count, prior
    model.epsilon_ = float(epsilon)


def _restore_mlp(spec: ModelSpec, model: Any, arrays: Arrays, n_features: int) -> None:
    outputs = _outputs(spec, arrays)
    units = [n_features, *spec.param_dict()["hidden_layer_sizes"], outputs]
    model.coefs_ = [expect(arrays, f"coefs_{i}", "<f8", (units[i], units[i + 1]))
                    for i in range(len(units) - 1)]
    model.intercepts_ = [expect(arrays, f"intercepts_{i}", "<f8", (units[i + 1],))
                         for i in range(len(units) - 1)]
    model.n_layers_ = len(units)
    model.n_outputs_ = outputs
    if spec.task == CLASSIFICATION:
        from sklearn.preprocessing import LabelBinarizer

        model.classes_ = classes_array(arrays)
        model._label_binarizer = LabelBinarizer().fit(model.classes_)
        model.out_activation_ = "logistic" if outputs == 1 else "softmax"
    else:
        model.out_activation_ = "identity"
