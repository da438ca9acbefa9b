"""Size and work bounds of the ML engine (documented in docs/MODELS.md).

They keep one input from exhausting the machine: every dataset, model file, training run and
evaluation is checked against them before any heavy work starts (estimates), and training and
evaluation then run in a forked worker under hard limits of CPU time and memory (``sandbox.py``),
so an estimate that is wrong costs that submission, never the machine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

MIB = 1 << 20
# The hard limits an operator may set, and the environment variable of each.
CONFIGURABLE = {"max_cpu_seconds": "MLMARKET_ML_MAX_CPU_SECONDS",
                "max_worker_memory": "MLMARKET_ML_MAX_WORKER_MEMORY",
                "max_cycles": "MLMARKET_ML_MAX_CYCLES"}
CYCLES_PER_SECOND = 128_000_000  # of the Cartesi machine: its CPU clock, so one guest CPU second (IMAGE.md)


@dataclass(frozen=True, slots=True)
class MLLimits:
    """Every bound of the engine, with its default."""

    max_csv_bytes: int = 8 * MIB          # one dataset file
    max_rows: int = 100_000               # data rows of one dataset (header excluded)
    max_features: int = 256               # feature columns (label excluded)
    max_name_bytes: int = 128             # one column name, UTF-8
    max_classes: int = 100                # distinct labels of a classification dataset
    max_abs_value: float = 1e9            # |cell| of any feature or label (rescale larger data)
    max_model_bytes: int = 8 * MIB        # one model file (spec JSON or trained zip)
    max_spec_bytes: int = 64 * 1024       # an untrained spec (JSON)
    max_members: int = 64                 # files inside a trained-model zip
    max_tree_nodes: int = 1_000_000       # nodes of all the trees of one model
    max_train_memory: int = 256 * MIB     # estimated worst-case bytes of a training's trees / MLP batches,
                                          # and of an evaluation's prediction arrays (below max_worker_memory)
    # Both in machine cycles (docs/IMAGE.md, "Budgets in cycles"): the estimate gate leaves a margin of
    # 1.5 to the worker's hard limit (max_cpu_seconds x CYCLES_PER_SECOND = 15.36 G cycles).
    max_cycles: int = 10_000_000_000      # estimated machine cycles of one training or evaluation (dapp.ml.cost)
    max_cpu_seconds: int = 120            # hard: CPU seconds of one training + evaluation (its worker)
    max_worker_memory: int = 352 * MIB    # hard: bytes the worker may map beyond what it inherits

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> MLLimits:
        """The defaults, with the limits of ``CONFIGURABLE`` read from their variables when set
        (``MLMARKET_ML_MAX_CPU_SECONDS``: seconds, ``MLMARKET_ML_MAX_WORKER_MEMORY``: bytes,
        ``MLMARKET_ML_MAX_CYCLES``: estimated machine cycles); ``ValueError`` unless each is a positive integer.
        The other bounds are fixed. These decide outcomes too (``resource_limit``, ``training_too_costly``),
        so every node of one application must run with the same values (inside a Cartesi machine the image
        fixes them)."""
        values = {}
        for name, variable in CONFIGURABLE.items():
            raw = environ.get(variable)
            if raw is None:
                continue
            try:
                value = int(raw.strip())
            except ValueError:
                raise ValueError(f"{variable} must be a positive integer, got {raw!r}") from None
            if value <= 0:
                raise ValueError(f"{variable} must be a positive integer, got {raw!r}")
            values[name] = value
        return cls(**values)


DEFAULT_LIMITS = MLLimits()
