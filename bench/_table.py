"""Aligned text tables for the benchmarks' printed figures."""

from __future__ import annotations


def print_table(rows: list[tuple[str, ...]]) -> None:
    """Prints rows (the first one the header) as aligned columns: the first left-aligned, the others
    right-aligned."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
