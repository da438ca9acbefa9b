"""Size and work bounds of the ML engine (documented in docs/MODELS.md).

They keep one input from exhausting the machine: every dataset, model file and training run is
checked against them before any heavy work starts.
"""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1 << 20


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
    max_train_memory: int = 256 * MIB     # worst-case bytes of the trees / MLP batches of a training
    max_work: int = 20_000_000_000        # estimated cost of one training, ~ns of one core (cost.py)


DEFAULT_LIMITS = MLLimits()
