"""Deterministic training: one thread, seeds from the caller, optional warm start from trained weights.

A model given as a spec is fitted exactly as ``Class(**params, random_state=seed, n_jobs=1).fit(X, y)``
(wrapped in a Pipeline after explicit preprocessing steps). A trained model of an estimator with
``warm_start`` in the catalogue (LogisticRegression, SGD*, MLP*) continues from its weights with fresh
optimiser state; any other trained model is refitted from its spec.
"""

from __future__ import annotations

import ctypes
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from dapp.ml.catalogue import CLASSIFICATION
from dapp.ml.errors import ModelError, TrainingError
from dapp.ml.fitted import check_fitted, restore
from dapp.ml.modelfile import Model
from dapp.ml.spec import build_estimator

# [threadpoolctl.ThreadpoolController, the scipy-openblas pools, len(sys.modules) when found]
_controller: list = [None, [], -1]
# threadpoolctl 3.1.0 finds OpenBLAS by its file name (libopenblas*) and unprefixed symbols, so it
# misses the scipy-openblas builds that numpy's and scipy's wheels bundle (a development host's venv:
# libscipy_openblas*.so, symbols scipy_openblas_*), which then run one thread per core, whose spinning
# counts as the worker's CPU time. Those are found through the extension modules that link them.
_BLAS_USERS = ("numpy._core._multiarray_umath", "scipy.linalg._fblas")
_SCIPY_OPENBLAS = ("scipy_openblas_{}_num_threads64_", "scipy_openblas_{}_num_threads")


@contextmanager
def single_thread() -> Iterator[None]:
    """BLAS and OpenMP pools limited to one thread, and scikit-learn's warnings silenced.

    Finding the thread pools scans every loaded library (milliseconds), so they are kept and found
    again only when modules were imported since (a new library may have come with them)."""
    if _controller[0] is None or _controller[2] != len(sys.modules):
        from threadpoolctl import ThreadpoolController

        _controller[:] = [ThreadpoolController(), _scipy_openblas_pools(), len(sys.modules)]
    pools = _controller[1]
    before = [get() for get, _ in pools]
    try:
        for _, set_threads in pools:
            set_threads(1)
        with _controller[0].limit(limits=1), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for (_, set_threads), threads in zip(pools, before):
            set_threads(threads)


def _scipy_openblas_pools() -> list[tuple[ctypes._CFuncPtr, ctypes._CFuncPtr]]:
    """(get, set) thread-count functions of each scipy-openblas library numpy or scipy has loaded
    (none elsewhere, e.g. with Debian's numpy, whose OpenBLAS threadpoolctl controls)."""
    pools = {}
    for name in _BLAS_USERS:
        module = sys.modules.get(name)
        if module is None:
            continue
        library = ctypes.CDLL(module.__file__, mode=os.RTLD_NOLOAD)  # dlsym also searches its dependencies
        for symbol in _SCIPY_OPENBLAS:
            get = getattr(library, symbol.format("get"), None)
            if get is not None:
                set_threads = getattr(library, symbol.format("set"))
                pools[ctypes.cast(set_threads, ctypes.c_void_p).value] = (get, set_threads)
                break
    return list(pools.values())


def fit(model: Model, X: np.ndarray, y: np.ndarray, features: tuple[str, ...], seed: int) -> Any:
    """A fitted estimator for ``model`` on (X, y). Raises ModelError when a trained starting model is
    malformed or does not match the data, TrainingError when scikit-learn refuses. The work estimate
    is the caller's gate (``cost.check_work``: the engine runs it before forking the worker)."""
    spec = model.spec
    warm = model.trained and spec.definition.warm_start
    # a trained starting model must be a valid one (its arrays checked), whether continued or refitted
    if warm:
        estimator = restore(spec, dict(model.arrays), len(model.features), seed)
        _check_same_data(model, features, y)
        _prepare_warm_start(estimator[-1] if spec.preprocessing else estimator)
    else:
        if model.trained:
            check_fitted(spec, dict(model.arrays), len(model.features))
        estimator = build_estimator(spec, seed)
    try:
        with single_thread():
            estimator.fit(X, y)
    except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
        raise TrainingError(f"{spec.estimator} could not be fitted: {exc}") from None
    if warm:
        (estimator[-1] if spec.preprocessing else estimator).set_params(warm_start=False)
    return estimator


def _check_same_data(model: Model, features: tuple[str, ...], y: np.ndarray) -> None:
    if model.features != features:
        raise ModelError("the training data's feature columns differ from the starting model's",
                         code="model_features_mismatch")
    if model.spec.task == CLASSIFICATION:
        classes = model.arrays["classes"]
        if not np.array_equal(np.unique(y), classes):
            raise ModelError(f"to continue from trained weights the training labels must be exactly the "
                             f"model's classes {classes.tolist()[:20]}", code="model_classes_mismatch")


def _prepare_warm_start(model: Any) -> None:
    """Sets ``warm_start`` and the bookkeeping scikit-learn's own initialisation would reset, so the
    fit continues from the weights with a fresh optimiser."""
    model.set_params(warm_start=True)
    if hasattr(model, "hidden_layer_sizes"):
        model.n_iter_, model.t_ = 0, 0
        model.loss_curve_, model._no_improvement_count = [], 0
        if model.early_stopping:
            model.validation_scores_, model.best_validation_score_, model.best_loss_ = [], -np.inf, None
        else:
            model.validation_scores_, model.best_validation_score_, model.best_loss_ = None, None, np.inf
