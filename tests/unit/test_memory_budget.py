"""The machine's memory budget adds up (issue 11): the worst case of every cache and store, taken from
the code's defaults, stays under the backend's 900 MiB target, and docs/IMAGE.md's budget table says
exactly what the code does (a changed default fails here until the table and the sum are revisited)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from dapp.domain.limits import Limits
from dapp.ml.engine import Engine
from dapp.ml.limits import CYCLES_PER_SECOND, MLLimits

MIB = 1 << 20
TARGET = 900 * MIB
RUNTIME = 150 * MIB  # measured: the backend with every module it may load (IMAGE.md, "RAM: why 1Gi")
COPIED = 32 * MIB  # pages a worker copies on write: 27 MiB measured (python -m bench.sandbox_overhead)
DOC = (Path(__file__).resolve().parents[2] / "docs" / "IMAGE.md").read_text()


def budget() -> dict[str, int]:
    """Bytes per item of the budget, from the defaults in the code."""
    limits, ml = Limits(), MLLimits()
    cache = inspect.signature(Engine.__init__).parameters["cache_bytes"].default
    return {
        "runtime": RUNTIME,
        "stored content": limits.max_total_content,
        "partial uploads": limits.max_total_pending,
        "completing upload": limits.max_file_size + limits.max_inflated_chunk,
        "decoded datasets": cache,
        "training worker": ml.max_worker_memory,
        "pages the worker copies": COPIED,
    }


def documented() -> dict[str, int]:
    """The rows of IMAGE.md's budget table: ``| item | N MiB | ... |``."""
    block = DOC.split("<!-- memory-budget -->")[1]
    rows = re.findall(r"^\| ([a-z ]+) \| ([\d,]+) MiB \|", block, flags=re.M)
    return {name: int(value.replace(",", "")) * MIB for name, value in rows if name != "total"}


def test_the_worst_case_of_every_cache_and_store_fits_the_target():
    parts = budget()
    assert sum(parts.values()) <= TARGET, {k: v // MIB for k, v in parts.items()}


def test_the_training_gates_stay_inside_the_worker_limit():
    ml = MLLimits()
    assert ml.max_train_memory < ml.max_worker_memory
    # the estimate gate refuses first, with a margin of 1.5 to the worker's hard limit in the machine
    assert ml.max_cycles * 1.5 <= ml.max_cpu_seconds * CYCLES_PER_SECOND


def test_image_md_gives_the_same_budget_as_the_code():
    parts = budget()
    assert documented() == parts
    total = re.search(r"^\| total \| ([\d,]+) MiB \|", DOC.split("<!-- memory-budget -->")[1], flags=re.M)
    assert total and int(total.group(1).replace(",", "")) * MIB == sum(parts.values())
