"""scikit-learn's breast-cancer data as the market's CSVs, for tests that run the real engine."""

from __future__ import annotations

import io

import numpy as np


def to_csv(X, y, columns) -> bytes:
    """A CSV of ``X`` (floats, exact repr) under ``columns`` and the integer label column ``target``."""
    out = io.StringIO()
    out.write(",".join(columns) + ",target\n")
    for row, label in zip(X, y):
        out.write(",".join(repr(float(v)) for v in row) + f",{int(label)}\n")
    return out.getvalue().encode()


def shuffled(standardised: bool = True) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(X, y, column names) of breast cancer in one fixed random order (seed 1), its features
    standardised unless ``standardised`` is False."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    X = (data.data - data.data.mean(0)) / data.data.std(0) if standardised else data.data
    order = np.random.default_rng(1).permutation(len(data.target))
    return X[order], data.target[order], [f"f{i}" for i in range(X.shape[1])]
