"""The headline figures of the benchmarks run in this process, for the one summary table that
``python -m bench`` prints at the end.

Each benchmark's ``main()`` calls :func:`record` for its few headline figures (computed from what it
measured); the runner calls :func:`begin` before each benchmark, so that rows are listed under it, and
prints :func:`table` after the last one. Run on its own (``python -m bench.<name>``), a benchmark's
rows are recorded and never printed.
"""

from __future__ import annotations

from dataclasses import dataclass

HEADER = ("benchmark", "figure", "value", "target")


@dataclass(frozen=True)
class Row:
    """One headline figure: the benchmark that measured it, what it is, its value and its target."""

    benchmark: str
    figure: str
    value: str
    target: str = ""


_rows: list[Row] = []
_current = [""]  # the benchmark now running (set by the runner)


def reset() -> None:
    """Forgets every recorded row (the runner starts each run afresh)."""
    _rows.clear()
    _current[0] = ""


def begin(benchmark: str) -> None:
    """Rows recorded from now on belong to ``benchmark``."""
    _current[0] = benchmark


def record(figure: str, value: str, target: str = "") -> None:
    """Adds a headline figure of the running benchmark: what it is, its value and its target, if any."""
    _rows.append(Row(_current[0], figure, value, target))


def rows() -> list[Row]:
    """The rows recorded since the last :func:`reset`, in order."""
    return list(_rows)


def table() -> str:
    """The recorded rows as an aligned text table (benchmark, figure, value, target), the benchmark's
    name on the first of its rows only."""
    cells = [HEADER]
    for n, row in enumerate(_rows):
        same = n > 0 and _rows[n - 1].benchmark == row.benchmark
        cells.append(("" if same else row.benchmark, row.figure, row.value, row.target))
    widths = [max(len(line[i]) for line in cells) for i in range(len(HEADER))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in cells)
