"""Decision trees and random forests <-> plain arrays, rebuilt safely.

All trees of a model are stored as one table of nodes (a column per node field, trees one after
the other; ``tree_node_counts`` says where each ends). Before a tree is handed to scikit-learn's
``Tree.__setstate__`` (which checks dtypes but not the structure), ``_check_structure`` proves that
it is a real tree: every internal node's children come after it and inside the tree, every node but
the root has exactly one parent, leaves are marked as scikit-learn marks them, features are in range,
and the depth is within the catalogue's bound. Prediction therefore stays in bounds and terminates.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np

from dapp.ml.catalogue import CLASSIFICATION, MAX_TREE_DEPTH
from dapp.ml.cost import features_considered
from dapp.ml.errors import ModelError
from dapp.ml.fitted import Arrays, classes_array, expect
from dapp.ml.limits import DEFAULT_LIMITS
from dapp.ml.spec import ModelSpec

# (array name, field of scikit-learn's node record, dtype)
_NODE_FIELDS = (
    ("node_left", "left_child", "<i8"),
    ("node_right", "right_child", "<i8"),
    ("node_feature", "feature", "<i8"),
    ("node_threshold", "threshold", "<f8"),
    ("node_impurity", "impurity", "<f8"),
    ("node_samples", "n_node_samples", "<i8"),
    ("node_weighted_samples", "weighted_n_node_samples", "<f8"),
    ("node_missing_left", "missing_go_to_left", "|u1"),
)
TREE_ARRAYS = ("tree_node_counts", "tree_seeds", "node_values", *(name for name, _, _ in _NODE_FIELDS))
_LEAF = -1  # sklearn.tree._tree.TREE_LEAF
_UNDEFINED = -2  # sklearn.tree._tree.TREE_UNDEFINED


def extract_trees(spec: ModelSpec, model: Any) -> Arrays:
    """The node table of a fitted DecisionTree* or RandomForest*."""
    trees = model.estimators_ if spec.definition.family == "forest" else [model]
    states = [tree.tree_.__getstate__() for tree in trees]
    arrays: Arrays = {
        "tree_node_counts": np.array([s["node_count"] for s in states], dtype=np.int64),
        "tree_seeds": np.array([tree.random_state or 0 for tree in trees], dtype=np.int64),
        "node_values": np.concatenate([s["values"] for s in states]).astype(np.float64, copy=False),
    }
    for name, field, dtype in _NODE_FIELDS:  # concatenate copies: astype need not copy again
        arrays[name] = np.concatenate([s["nodes"][field] for s in states]).astype(dtype, copy=False)
    return arrays


@dataclass(frozen=True, slots=True)
class CheckedTrees:
    """A model's node table once checked: every tree's ``(start, count)`` segment, seed and depth."""

    columns: dict[str, np.ndarray]  # scikit-learn node field -> its column, trees one after the other
    values: np.ndarray
    starts: np.ndarray
    counts: np.ndarray
    seeds: np.ndarray
    depths: np.ndarray
    n_classes: int


def check_trees(spec: ModelSpec, arrays: Arrays, n_features: int) -> CheckedTrees:
    """The node table of ``arrays`` checked for a DecisionTree* or RandomForest* of ``spec`` (module
    docstring); ModelError at the first problem. Builds no scikit-learn object."""
    n_trees = spec.param_dict()["n_estimators"] if spec.definition.family == "forest" else 1
    counts = expect(arrays, "tree_node_counts", "<i8", (n_trees,))
    seeds = expect(arrays, "tree_seeds", "<i8", (n_trees,))
    bound = DEFAULT_LIMITS.max_tree_nodes
    total = int(counts.sum()) if np.all(counts >= 1) and np.all(counts <= bound) else -1  # no overflow
    if not 1 <= total <= bound:
        raise ModelError(f"tree node counts must be >= 1 and sum to at most {bound}",
                         code="model_array_value")
    n_classes = classes_array(arrays).size if spec.task == CLASSIFICATION else 1
    values = expect(arrays, "node_values", "<f8", (total, 1, n_classes))
    columns = {field: expect(arrays, name, dtype, (total,)) for name, field, dtype in _NODE_FIELDS}
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    depths = _check_structure(columns, starts, counts, n_features)
    if depths.max() > spec.param_dict()["max_depth"]:
        raise ModelError(f"a tree is deeper ({depths.max()}) than the spec's max_depth", code="model_bad_tree")
    return CheckedTrees(columns, values, starts, counts, seeds, depths, n_classes)


def restore_trees(spec: ModelSpec, model: Any, arrays: Arrays, n_features: int) -> None:
    """Sets the fitted trees of ``arrays`` on a fresh DecisionTree* or RandomForest* ``model``."""
    from sklearn.tree._tree import NODE_DTYPE

    checked = check_trees(spec, arrays, n_features)
    is_forest = spec.definition.family == "forest"
    nodes = np.empty(checked.values.shape[0], dtype=NODE_DTYPE)
    for field, column in checked.columns.items():
        nodes[field] = column
    template = _template(spec, model, is_forest)
    trees = [
        _make_tree(template, is_forest, seed, n_features, checked.n_classes, {
            "max_depth": depth, "node_count": count, "nodes": nodes[start:start + count].copy(),
            "values": np.ascontiguousarray(checked.values[start:start + count])})
        for start, count, seed, depth in zip(checked.starts.tolist(), checked.counts.tolist(),
                                             checked.seeds.tolist(), checked.depths.tolist())
    ]
    if is_forest:
        model.estimators_ = trees
        model.estimator_ = type(trees[0])()
        _set_outputs(spec, model, arrays, n_features)
    else:
        model.tree_ = trees[0].tree_
        _set_outputs(spec, model, arrays, n_features)
        model.max_features_ = trees[0].max_features_


def _template(spec: ModelSpec, forest: Any, is_forest: bool) -> Any:
    """An unfitted tree with the parameters of the model's trees (a forest's ``estimator_params``)."""
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    tree_class = DecisionTreeClassifier if spec.task == CLASSIFICATION else DecisionTreeRegressor
    if is_forest:
        return tree_class(**{p: getattr(forest, p) for p in forest.estimator_params})
    return tree_class(**spec.param_dict())


def _make_tree(template: Any, is_forest: bool, seed: int, n_features: int, n_classes: int,
               state: dict) -> Any:
    from sklearn.base import is_classifier
    from sklearn.tree._tree import Tree

    tree = copy.copy(template)  # parameters are immutable values: a shallow copy is a fresh estimator
    if is_forest:
        tree.random_state = seed
    tree.tree_ = Tree(n_features, np.array([n_classes], dtype=np.intp), 1)
    tree.tree_.__setstate__(state)
    tree.n_outputs_ = 1
    tree.n_features_in_ = n_features
    tree.max_features_ = features_considered(tree.max_features, n_features)
    if is_classifier(template):
        # inside a forest, trees are fitted on class indices, as floats (as scikit-learn does)
        tree.classes_ = np.arange(n_classes, dtype=np.float64)
        tree.n_classes_ = n_classes
    return tree


def _set_outputs(spec: ModelSpec, model: Any, arrays: Arrays, n_features: int) -> None:
    model.n_outputs_ = 1
    model.n_features_in_ = n_features
    if spec.task == CLASSIFICATION:
        model.classes_ = classes_array(arrays)
        model.n_classes_ = model.classes_.size


def _check_structure(nodes: dict[str, np.ndarray], starts: np.ndarray, counts: np.ndarray,
                     n_features: int) -> np.ndarray:
    """Raises ModelError unless the node table (a column per scikit-learn node field) holds one real
    tree per ``(start, count)`` segment, which scikit-learn can walk; returns the depth of each tree.
    Children are stored as indices local to their tree; all checks run on the whole table at once."""
    total = nodes["left_child"].size
    index = np.arange(total)
    offset = np.repeat(starts, counts)
    end = offset + np.repeat(counts, counts)
    left, right, feature = nodes["left_child"], nodes["right_child"], nodes["feature"]
    leaf = left == _LEAF
    internal = ~leaf
    left_global, right_global = left + offset, right + offset
    bad = (
        np.any(right[leaf] != _LEAF) or np.any(feature[leaf] != _UNDEFINED)
        or np.any(left_global[internal] <= index[internal]) or np.any(right_global[internal] <= index[internal])
        or np.any(left_global[internal] >= end[internal]) or np.any(right_global[internal] >= end[internal])
        or np.any(left[internal] == right[internal])
        or np.any(feature[internal] < 0) or np.any(feature[internal] >= n_features)
        or not np.all(np.isfinite(nodes["threshold"])) or np.any(nodes["missing_go_to_left"] > 1)
    )
    if bad:
        raise ModelError("tree arrays do not describe valid trees (children, leaves or features)",
                         code="model_bad_tree")
    children = np.concatenate([left_global[internal], right_global[internal]])
    parents = np.bincount(children, minlength=total)
    root = np.zeros(total, dtype=bool)
    root[starts] = True
    if np.any(parents[root] != 0) or np.any(parents[~root] != 1):
        raise ModelError("tree arrays do not describe trees: a node has no parent or two", code="model_bad_tree")
    parent = index.copy()
    parent[left_global[internal]] = index[internal]
    parent[right_global[internal]] = index[internal]
    depth = np.zeros(total, dtype=np.int64)
    for _ in range(MAX_TREE_DEPTH + 1):  # each pass fixes one more level
        updated = np.where(root, 0, depth[parent] + 1)
        if np.array_equal(updated, depth):
            return np.maximum.reduceat(depth, starts)
        depth = updated
    raise ModelError(f"a tree is deeper than {MAX_TREE_DEPTH}", code="model_bad_tree")
