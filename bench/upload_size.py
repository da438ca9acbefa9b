"""Figures of upload planning: inputs and calldata needed per file, and how long planning takes.

Run: ``.venv/bin/python -m bench.upload_size``.
"""

from __future__ import annotations

import io
import math
import statistics
import time

import numpy as np

from bench._summary import record
from bench._table import print_table
from dapp.codec.chunks import max_data_bytes, plan_upload

MIB = 1 << 20
RUNS = 3


def numeric_csv(size: int, seed: int = 42) -> bytes:
    """A realistic dataset: a header, 8 float features with 4 decimals and an integer label."""
    rng = np.random.default_rng(seed)
    rows = size // 40 + 1
    features = rng.normal(loc=10.0, scale=3.0, size=(rows, 8)).round(4)
    labels = (features[:, 0] + rng.normal(size=rows) > 10).astype(int)
    out = io.StringIO()
    out.write(",".join(f"f{i}" for i in range(8)) + ",label\n")
    np.savetxt(out, np.column_stack([features, labels]), delimiter=",", fmt=["%.4f"] * 8 + ["%d"])
    return out.getvalue().encode()[:size]


def _row(name: str, data: bytes) -> tuple[str, ...]:
    """The table row of one file (and its summary figure: inputs and payload bytes of its upload)."""
    times, plan = [], None
    for _ in range(RUNS):
        began = time.perf_counter()
        plan = plan_upload(data)
        times.append(time.perf_counter() - began)
    raw_inputs = math.ceil(len(data) / max_data_bytes(plan.cid, len(data)))
    deflated = sum(c.deflated for c in plan.chunks)
    record(f"upload of {name}", f"{len(plan.chunks)} inputs, {plan.payload_bytes:,} payload bytes")
    return (name, f"{len(data):,}", f"{len(plan.chunks)}", f"{raw_inputs}", f"{deflated}",
            f"{plan.payload_bytes:,}", f"{statistics.median(times):.3f}")


def main() -> None:
    """Prints, per file, the planned inputs (and raw-only inputs), payload bytes and planning time."""
    files = [
        ("1 MiB random bytes", np.random.default_rng(7).bytes(MIB)),
        ("1 MiB numeric CSV", numeric_csv(MIB)),
        ("8 MiB random bytes", np.random.default_rng(8).bytes(8 * MIB)),
        ("8 MiB numeric CSV", numeric_csv(8 * MIB)),
    ]
    header = ("file", "bytes", "inputs", "raw-only inputs", "deflated", "payload bytes",
              f"plan s (median of {RUNS})")
    rows = [header] + [_row(name, data) for name, data in files]
    print_table(rows)


if __name__ == "__main__":
    main()
