"""A work estimate for one training, checked before training starts.

Each bound of the catalogue is reasonable alone, but their product is not, so the product itself is
bounded by ``MLLimits.max_cycles``. The estimate (hand-written: scikit-learn offers none) counts the
multiply-adds of every iteration the parameters allow (rows x features x outputs x max_iter, trees x
features x rows x log(rows) x depth...), times a per-solver factor, plus fixed costs per fit,
iteration, loss evaluation (L-BFGS-B line searches), mini-batch (per weight matrix, and per weight the
optimiser updates each batch), MLP unit per row (activations: what thin layers cost), tree and byte of
node memory a tree builder reserves. ``bench/cost_model.py`` measures the CPU time of a grid of fits
at the parameters' extremes; the factors keep every estimate at least twice its measurement on one
x86-64 core, so one unit is at most about a nanosecond (docs/MODELS.md).

The gate itself is in cycles of the Cartesi machine, where the backend runs: ``CYCLES_PER_UNIT`` converts
the estimate per estimator, from what ``make machine-check`` measured in the machine
(``bench/machine_cycles.py``, docs/IMAGE.md "Budgets in cycles"), and ``estimate_cycles`` /
``machine_cycles`` give the figure ``check_work``, the evaluation gate and an input's work budget use.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from types import MappingProxyType

from dapp.ml.errors import ModelError
from dapp.ml.limits import DEFAULT_LIMITS, MLLimits
from dapp.ml.spec import ModelSpec

# Per solver: (cost of one multiply-add over the data, fixed cost of one iteration), in units that
# approximate nanoseconds of one x86-64 core (bench/cost_model.py; the table is in docs/MODELS.md).
_SOLVER = {
    "newton-cg": (20, 2_000_000), "sag": (100, 100_000), "saga": (100, 100_000),
    "liblinear": (100, 10_000), "sgd": (15, 20_000),
}
_PER_FIT = 2_000_000          # input checks and set-up of any fit
_LBFGS_EVAL = (3, 200_000)    # one loss + gradient evaluation of a LogisticRegression: per multiply-add, fixed
_RIDGE_EVAL = (3, 50_000)     # the same for Ridge(positive=True)
_SCIPY_MAXFUN = 15_000        # scipy's L-BFGS-B default maxfun (LogisticRegression and Ridge keep it)
_CRAMMER_SINGER = 300         # LinearSVC multi_class="crammer_singer", per multiply-add of an iteration
_EARLY_STOP_EPOCH = 800_000   # scoring the held-out fraction after an epoch (SGD)
_NEWTON_STEPS = 22            # loss evaluations of a Newton line search (newton-cholesky), at most
_RIDGE_LBFGS_ITER = 15_000    # scipy's L-BFGS-B default maxiter (Ridge positive, max_iter null)
_MLP_PASS = 1                 # forward + backward of one row through one weight (BLAS, big batches)
_MLP_EVAL = (3, 200_000)      # one lbfgs evaluation of an MLP: per row x weight, fixed
_MLP_INPUT = 6                # per row x feature and pass: the batch's copy, and thin products (few units)
_MLP_HIDDEN = 24              # per row x hidden unit and pass: activation, its derivative, the deltas
_MLP_OUTPUT = 48              # per row x output unit and pass: softmax/logistic, loss, its gradient
_MLP_SPILL = 60               # more per row x unit of a layer whose batch array is over _CACHED_BYTES
_CACHED_BYTES = 8 << 20       # beyond, its temporaries leave the cache and take fresh pages (3x per unit)
_PER_EPOCH = 2_000_000        # fixed cost of one MLP epoch (shuffle, loss, convergence checks)
_PER_BATCH = 100_000          # fixed cost of one mini-batch step (sgd/adam)
_PER_BATCH_LAYER = 80_000     # per weight matrix and mini-batch: its products, updates and temporaries
_PER_BATCH_WEIGHT = 120       # per weight and mini-batch: the optimiser's update of every weight
_TREE_NODE_BYTES = 64         # one node record of scikit-learn's Tree (+ 8 per class for its value)
_TREE_BUILDER_BYTES = 4 << 20  # the builder's own buffers (splitter, stack), once per fit
_PER_TREE = 3_000_000
_PER_RESERVED_BYTE = 10       # allocating and filling the node arrays a tree builder reserves


# Machine cycles one unit of the estimate costs in the Cartesi machine, per estimator: the most that
# `make machine-check` measured for it (bench/machine_cycles.py, 26 fits; docs/IMAGE.md "Budgets in
# cycles"), rounded up, and at least 0.5 (a single measured case, e.g. liblinear's 0.12, is not taken as
# the rule); Ridge and LinearRegression share the closed-form family's. An MLP's matrix products (a
# forward and a backward pass over every weight, per row: about three multiply-adds) have their own
# factor, PRODUCT_CYCLES: the image's OpenBLAS (generic riscv64 kernels, no vector unit) takes 2.4
# cycles per multiply-add (Debian's reference BLAS, used until 2026-12-04, 7.1); fitted to the MLPs
# measured with mini-batches and one batch (7.2), rounded up. The MLP rows below are for the rest of its
# work (activations, their derivatives, updates, per-batch calls), which numpy does without SIMD in
# the machine: 3.8 cycles per unit for one feature into 256 units, rounded up. The evaluation of a
# trained MLP (``dapp.ml.metrics.evaluation_cost``: one unit per weight and row) is costed at
# MLP_EVALUATION_CYCLES per unit: measured 2.6 for 256x256 layers, 20.2 for a 256-unit layer on one feature,
# where its activations dominate (either BLAS).
CYCLES_PER_UNIT: Mapping[str, float] = MappingProxyType({
    "LogisticRegression": 1.0, "SGDClassifier": 2.4, "SGDRegressor": 2.4, "LinearSVC": 0.5,
    "Ridge": 1.6, "LinearRegression": 1.6, "GaussianNB": 3.3,
    "DecisionTreeClassifier": 0.8, "DecisionTreeRegressor": 0.8,
    "RandomForestClassifier": 1.3, "RandomForestRegressor": 1.3,
    "MLPClassifier": 4.0, "MLPRegressor": 4.0,
})
PRODUCT_CYCLES = 8.0
MLP_EVALUATION_CYCLES = 22.0


def machine_cycles(spec: ModelSpec, units: int, products: int = 0) -> int:
    """``units`` of the estimate for ``spec``'s estimator, ``products`` of them an MLP's matrix
    products, as cycles of the Cartesi machine."""
    return math.ceil((units - products) * CYCLES_PER_UNIT[spec.estimator] + products * PRODUCT_CYCLES)


def estimate_cycles(spec: ModelSpec, rows: int, features: int, classes: int) -> int:
    """Estimated machine cycles of fitting ``spec`` (``estimate_work`` through ``machine_cycles``)."""
    products = 0
    if spec.definition.family == "mlp":
        products = _mlp_products(spec.param_dict(), rows, features, classes if classes > 2 else 1)
    return machine_cycles(spec, estimate_work(spec, rows, features, classes), products)


def evaluation_cycles(spec: ModelSpec, units: int) -> int:
    """Machine cycles of an evaluation estimated at ``units`` (``dapp.ml.metrics.evaluation_cost``):
    an MLP's at MLP_EVALUATION_CYCLES each (its forward products and activations)."""
    if spec.definition.family == "mlp":
        return math.ceil(units * MLP_EVALUATION_CYCLES)
    return machine_cycles(spec, units)


def estimate_work(spec: ModelSpec, rows: int, features: int, classes: int) -> int:
    """Estimated cost of fitting ``spec`` on ``rows`` x ``features`` (``classes`` = 1 for regression),
    in units of roughly a nanosecond of one native core, always assuming every iteration runs."""
    return _PER_FIT + _fit_work(spec, rows, features, classes)


def _fit_work(spec: ModelSpec, rows: int, features: int, classes: int) -> int:
    p = spec.param_dict()
    name, n, f = spec.estimator, rows, features
    outputs = classes if classes > 2 else 1
    closed_form = n * f * f + f**3
    if name == "LogisticRegression":
        if p["solver"] == "lbfgs":
            evaluations = _lbfgs_evaluations(p["max_iter"], max_line_search=50, max_fun=_SCIPY_MAXFUN)
            return evaluations * _evaluation(_LBFGS_EVAL, n * f * outputs)
        if p["solver"] == "newton-cholesky":
            per_iteration = 4 * closed_form * outputs + _NEWTON_STEPS * _evaluation(_LBFGS_EVAL, n * f * outputs)
            return p["max_iter"] * per_iteration
        return p["max_iter"] * _linear_pass(p["solver"], n * f * outputs)
    if name in ("SGDClassifier", "SGDRegressor"):
        per_epoch = _linear_pass("sgd", n * f) + (_EARLY_STOP_EPOCH if p["early_stopping"] else 0)
        return p["max_iter"] * outputs * per_epoch
    if name == "LinearSVC":
        if p["multi_class"] == "crammer_singer":
            return p["max_iter"] * (_CRAMMER_SINGER * n * f * classes + _SOLVER["liblinear"][1])
        return p["max_iter"] * _linear_pass("liblinear", n * f * outputs)
    if name == "Ridge":
        if p["positive"]:  # scipy's bounded L-BFGS-B whatever the solver ("auto" picks it)
            iterations = p["max_iter"] or _RIDGE_LBFGS_ITER
            evaluations = _lbfgs_evaluations(iterations, max_line_search=20, max_fun=_SCIPY_MAXFUN)
            return 4 * closed_form + evaluations * _evaluation(_RIDGE_EVAL, n * f)
        iterative = p["solver"] in ("lsqr", "sparse_cg")
        iterations = p["max_iter"] or 10 * f  # null: scipy's bound (cg 10 x features, lsqr 2 x)
        return 4 * closed_form + (10 * iterations * n * f if iterative else 0)
    if name == "LinearRegression":
        return 4 * closed_form + (20 * f**3 + _PER_FIT if p["positive"] else 0)  # positive: active-set NNLS
    if name == "GaussianNB":
        return 4 * n * f * classes
    if spec.definition.family == "mlp":
        return _mlp_work(p, n, f, outputs)
    trees, sample = _forest_shape(spec, rows)
    considered = features_considered(p["max_features"], f)
    depth = min(p["max_depth"], sample)
    log_n = max(1, math.ceil(math.log2(sample + 1)))
    reserved = _PER_RESERVED_BYTE * worst_memory(spec, rows, features, classes)
    return trees * (20 * considered * sample * log_n * depth + _PER_TREE) + reserved


def _lbfgs_evaluations(iterations: int, max_line_search: int, max_fun: int) -> int:
    """Loss evaluations of scipy's L-BFGS-B: about one an iteration (measured: 1.0-1.1), counted
    twice, plus two failed line searches of ``max_line_search`` + 1 (it stops after the second); it
    also stops once ``max_fun`` evaluations are done (checked after each iteration)."""
    return min(2 * iterations, max_fun) + 2 * (max_line_search + 1)


def _evaluation(cost: tuple[int, int], multiply_adds: int) -> int:
    per_unit, fixed = cost
    return per_unit * multiply_adds + fixed


def _mlp_work(p: dict, n: int, f: int, outputs: int) -> int:
    """An MLP fit: per lbfgs evaluation, or per epoch of mini-batches (each with a fixed cost per
    weight matrix and an update of every weight by the optimiser). Either way each pass over the rows
    also costs per input cell, hidden unit and output unit (elementwise numpy work that the weights
    do not count: it dominates when layers are thin, e.g. 1 feature into 256 units), three times as
    much for a layer whose array for one batch does not fit in a cache."""
    hidden, batch = p["hidden_layer_sizes"], _mlp_batch(p, n)
    units = [f, *hidden, outputs]
    weights = _mlp_weights(p, f, outputs)
    layers = [(f, _MLP_INPUT), *((width, _MLP_HIDDEN) for width in hidden), (outputs, _MLP_OUTPUT)]
    elementwise = n * sum(width * (cost + (_MLP_SPILL if 8 * batch * width > _CACHED_BYTES else 0))
                          for width, cost in layers)
    if p["solver"] == "lbfgs":
        evaluations = _lbfgs_evaluations(p["max_iter"], max_line_search=20, max_fun=p["max_fun"])
        return evaluations * (_evaluation(_MLP_EVAL, n * weights) + elementwise)
    batches = math.ceil(n / batch)
    per_batch = _PER_BATCH + _PER_BATCH_LAYER * (len(units) - 1) + _PER_BATCH_WEIGHT * weights
    per_epoch = _MLP_PASS * n * weights + elementwise + batches * per_batch
    return p["max_iter"] * (per_epoch + _PER_EPOCH)


def _mlp_weights(p: dict, f: int, outputs: int) -> int:
    return sum(a * b for a, b in itertools.pairwise([f, *p["hidden_layer_sizes"], outputs]))


def _mlp_products(p: dict, n: int, f: int, outputs: int) -> int:
    """The part of ``_mlp_work`` that is matrix products over the weights (BLAS)."""
    weights = _mlp_weights(p, f, outputs)
    if p["solver"] == "lbfgs":
        evaluations = _lbfgs_evaluations(p["max_iter"], max_line_search=20, max_fun=p["max_fun"])
        return evaluations * _MLP_EVAL[0] * n * weights
    return p["max_iter"] * _MLP_PASS * n * weights


def _mlp_batch(p: dict, rows: int) -> int:
    """Rows per gradient step of an MLP (lbfgs always uses all of them)."""
    if p["solver"] == "lbfgs":
        return rows
    return min(200, rows) if p["batch_size"] == "auto" else min(p["batch_size"], rows)


def _linear_pass(solver: str, multiply_adds: int) -> int:
    per_unit, per_iteration = _SOLVER[solver]
    return per_unit * multiply_adds + per_iteration


def worst_memory(spec: ModelSpec, rows: int, features: int, classes: int) -> int:
    """Upper bound of the bytes a fit may take beyond the data: the trees it may grow, or the MLP
    activations and gradients of one batch (the whole data for lbfgs). 0 for the other estimators,
    whose working memory is a small multiple of the data, which the CSV limits bound."""
    p = spec.param_dict()
    family = spec.definition.family
    if family == "mlp":
        outputs = classes if classes > 2 else 1
        return 32 * _mlp_batch(p, rows) * (features + sum(p["hidden_layer_sizes"]) + outputs)
    if family not in ("tree", "forest"):
        return 0
    return _TREE_BUILDER_BYTES + _trees_reserved_nodes(spec, rows) * (_TREE_NODE_BYTES + 8 * classes)


def _trees_reserved_nodes(spec: ModelSpec, rows: int) -> int:
    """Node records scikit-learn's builders may allocate for all the trees. The best-first builder
    (``max_leaf_nodes`` set) reserves 2 x max_leaf_nodes - 1 at once, whatever the rows; the
    depth-first one starts at min(2^(depth+1) - 1, 2047) and doubles its capacity as the tree grows
    (at most 2 x min(2^(depth+1) - 1, 2 x rows - 1))."""
    p = spec.param_dict()
    trees, sample = _forest_shape(spec, rows)
    full = 2 ** (p["max_depth"] + 1) - 1
    if p["max_leaf_nodes"] is not None:
        return trees * (2 * p["max_leaf_nodes"] - 1)
    return trees * max(min(full, 2047), 2 * min(full, 2 * sample - 1))


def check_work(spec: ModelSpec, rows: int, features: int, classes: int,
               limits: MLLimits = DEFAULT_LIMITS) -> None:
    """ModelError (``training_too_costly``) if the estimated machine cycles or the memory bound exceed
    the limits."""
    cycles = estimate_cycles(spec, rows, features, classes)
    if cycles > limits.max_cycles:
        raise ModelError(f"training {spec.estimator} on {rows} rows x {features} features is estimated at "
                         f"{cycles:.3g} machine cycles; the limit is {limits.max_cycles:.3g} (lower max_iter, "
                         "the model size, max_leaf_nodes or the data size)", code="training_too_costly")
    memory = worst_memory(spec, rows, features, classes)
    if memory > limits.max_train_memory:
        raise ModelError(f"fitting {spec.estimator} on {rows} rows could take {memory} bytes; the limit is "
                         f"{limits.max_train_memory} (lower n_estimators, max_depth, max_leaf_nodes, the "
                         "layer sizes or batch_size)", code="training_too_costly")


def _forest_shape(spec: ModelSpec, rows: int) -> tuple[int, int]:
    """(number of trees, rows each tree is grown on)."""
    p = spec.param_dict()
    if spec.definition.family == "tree":
        return 1, rows
    sample = rows
    if p["bootstrap"] and p["max_samples"] is not None:
        value = p["max_samples"]
        sample = min(rows, value) if isinstance(value, int) else max(1, round(rows * value))
    return p["n_estimators"], sample


def features_considered(value: object, features: int) -> int:
    """Features a tree split examines: scikit-learn's ``max_features_`` for this ``max_features``."""
    if value is None:
        return features
    if value == "sqrt":
        return max(1, int(math.sqrt(features)))
    if value == "log2":
        return max(1, int(math.log2(features)))
    if isinstance(value, int):
        return min(value, features)
    return max(1, int(value * features))
