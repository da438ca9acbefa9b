"""CSV datasets: a header row, numeric cells, one label column named by the job.

The format is strict on purpose: UTF-8, comma-separated, ``\\n`` or ``\\r\\n`` line ends, no quoting,
no blank lines, every cell a finite decimal number of magnitude at most ``MLLimits.max_abs_value``.
Every violation is a :class:`DatasetError` whose ``code`` names it and whose message gives the line
and column.

Two steps, so that a file is decoded once whoever uses it: :func:`parse_table` decodes the bytes
(format, limits, cells), :func:`select` applies a job's label column and task to the table.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import numpy as np

from dapp.ml.catalogue import CLASSIFICATION, TASKS
from dapp.ml.errors import DatasetError
from dapp.ml.limits import DEFAULT_LIMITS, MLLimits
from dapp.ml.modelfile import valid_column_name

MIN_ROWS = 2
_NUMBER = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$")


@dataclass(frozen=True, eq=False)
class Dataset:
    """A parsed dataset. ``X`` is float64 (rows x features, in header order without the label);
    ``y`` is int64 for classification, float64 for regression."""

    columns: tuple[str, ...]
    label: str
    X: np.ndarray
    y: np.ndarray

    @property
    def features(self) -> tuple[str, ...]:
        """The feature column names, in file order."""
        return tuple(c for c in self.columns if c != self.label)

    @property
    def rows(self) -> int:
        """Number of data rows."""
        return int(self.X.shape[0])


@dataclass(frozen=True, eq=False)
class Table:
    """A decoded CSV file, before a job gives it a meaning: the header's column names and the cells as a
    read-only float64 matrix (data rows x columns, in header order)."""

    columns: tuple[str, ...]
    values: np.ndarray


def parse_table(data: bytes, limits: MLLimits = DEFAULT_LIMITS) -> Table:
    """Decodes a CSV file: the format, size, row and column limits and every cell (finite numbers).
    Its columns mean nothing yet; :func:`select` makes it a job's dataset."""
    if not data.strip():
        raise DatasetError("dataset is empty", code="dataset_empty")
    if len(data) > limits.max_csv_bytes:
        raise DatasetError(f"dataset is {len(data)} bytes; the limit is {limits.max_csv_bytes}",
                           code="dataset_too_large")
    lines = _lines(data, limits)
    header = lines[0].split(",")
    _check_header(header, limits)
    if len(lines) - 1 < MIN_ROWS:
        raise DatasetError(f"dataset has {len(lines) - 1} data row(s); at least {MIN_ROWS} are needed",
                           code="dataset_too_few_rows")
    table = _parse_numbers(lines, len(header))
    bad = ~np.isfinite(table)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise DatasetError(f"line {row + 2}, column '{header[col]}': NaN or infinite value",
                           code="dataset_not_finite")
    _check_magnitude(table, header, limits)
    table.setflags(write=False)  # tables are cached and shared: nobody may change them
    return Table(tuple(header), table)


def select(table: Table, label: str, task: str, limits: MLLimits = DEFAULT_LIMITS) -> Dataset:
    """The dataset a job with label column ``label`` and ``task`` reads from a decoded table: the
    label column becomes ``y`` (integer classes for classification), the others ``X``."""
    if task not in TASKS:
        raise DatasetError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}", code="bad_task")
    header = table.columns
    if label not in header:
        raise DatasetError(f"label column {label!r} is not in the header ({', '.join(header[:20])})",
                           code="dataset_missing_label")
    if len(header) < 2:
        raise DatasetError("dataset has no feature column besides the label", code="dataset_no_features")
    target = header.index(label)
    X = np.ascontiguousarray(np.delete(table.values, target, axis=1))
    y = _labels(table.values[:, target], task, label, limits)
    X.setflags(write=False)  # parsed datasets may be cached and shared: nobody may change them
    y.setflags(write=False)
    return Dataset(header, label, X, y)


BINARY_HEADERS = {b"\x89PNG": "PNG", b"\xff\xd8\xff": "JPEG", b"GIF8": "GIF", b"%PDF": "PDF",
                  b"PK\x03\x04": "ZIP", b"\x1f\x8b": "gzip", b"\x93NUMPY": "NumPy .npy", b"\x80": "pickle"}
"""Leading bytes of file formats a CSV is mistaken for, named in the not-UTF-8 error."""


def _lines(data: bytes, limits: MLLimits) -> list[str]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        kind = next((name for magic, name in BINARY_HEADERS.items() if data.startswith(magic)), None)
        if kind is not None:
            raise DatasetError(f"dataset is not CSV ({kind} header)", code="dataset_not_utf8") from None
        raise DatasetError(f"dataset is not UTF-8 text: {exc}", code="dataset_not_utf8") from None
    text = text.removeprefix("\ufeff")
    if "\r" in text:
        text = text.replace("\r\n", "\n")
        if "\r" in text:
            raise DatasetError("lines must end with \\n or \\r\\n (a lone \\r was found)",
                               code="dataset_bad_line_end")
    text = text.removesuffix("\n")
    if text.count("\n") > limits.max_rows:
        raise DatasetError(f"dataset has more than {limits.max_rows} data rows", code="dataset_too_many_rows")
    lines = text.split("\n")
    if "\n\n" in text or text.endswith("\n") or not lines[0]:
        blank = next(i for i, line in enumerate(lines) if not line)
        raise DatasetError(f"line {blank + 1} is empty", code="dataset_empty_line")
    return lines


def _check_header(header: list[str], limits: MLLimits) -> None:
    for name in header:
        if not valid_column_name(name, limits):
            raise DatasetError(f"header column {name!r} is not a valid name (non-empty, at most "
                               f"{limits.max_name_bytes} bytes, no quotes)", code="dataset_bad_header")
    if len(set(header)) != len(header):
        dup = next(n for n in header if header.count(n) > 1)
        raise DatasetError(f"header repeats column {dup!r}", code="dataset_bad_header")
    if len(header) - 1 > limits.max_features:
        raise DatasetError(f"dataset has {len(header) - 1} feature columns; the limit is "
                           f"{limits.max_features}", code="dataset_too_many_columns")


def _check_magnitude(table: np.ndarray, header: list[str], limits: MLLimits) -> None:
    """Every cell within +-``max_abs_value``: larger magnitudes overflow squares and exponentials in
    the solvers (NaN weights, endless iterations), so they are refused rather than trained on."""
    big = (table > limits.max_abs_value) | (table < -limits.max_abs_value)  # no float copy of the table
    if big.any():
        row, col = (int(i) for i in np.argwhere(big)[0])
        raise DatasetError(f"line {row + 2}, column '{header[col]}': {float(table[row, col])!r} is outside "
                           f"[-{limits.max_abs_value:g}, {limits.max_abs_value:g}]; rescale the column",
                           code="value_out_of_range")


def _parse_numbers(lines: list[str], width: int) -> np.ndarray:
    try:
        table = np.loadtxt(io.StringIO("\n".join(lines[1:])), delimiter=",", dtype=np.float64,
                           comments=None, quotechar=None, ndmin=2)
    except ValueError:
        raise _diagnose(lines, width) from None
    if table.shape[1] != width:
        raise _diagnose(lines, width)
    return table


def _diagnose(lines: list[str], width: int) -> DatasetError:
    """Finds the first bad line or cell (slow path, only after the fast parser failed)."""
    header = lines[0].split(",")
    for number, line in enumerate(lines[1:], start=2):
        cells = line.split(",")
        if len(cells) != width:
            return DatasetError(f"line {number} has {len(cells)} cells; the header has {width}",
                                code="dataset_ragged")
        for name, cell in zip(header, cells):
            if not cell.strip():
                return DatasetError(f"line {number}, column '{name}': empty value", code="dataset_empty_value")
            if not _NUMBER.match(cell) and cell.strip().lower() not in ("nan", "inf", "+inf", "-inf"):
                return DatasetError(f"line {number}, column '{name}': {cell[:40]!r} is not a number",
                                    code="dataset_not_numeric")
    return DatasetError("dataset cells could not be read as numbers", code="dataset_not_numeric")


def _labels(y: np.ndarray, task: str, label: str, limits: MLLimits) -> np.ndarray:
    if task != CLASSIFICATION:
        return y
    bad = (y != np.round(y)) | (np.abs(y) > 2**53)
    if bad.any():
        row = int(np.argmax(bad))
        raise DatasetError(f"line {row + 2}: label '{label}' must be an integer class for classification, "
                           f"got {float(y[row])!r}", code="dataset_label_not_integer")
    labels = y.astype(np.int64)
    classes = np.unique(labels)
    if classes.size < 2:
        raise DatasetError(f"label '{label}' has a single class; classification needs at least two",
                           code="dataset_too_few_classes")
    if classes.size > limits.max_classes:
        raise DatasetError(f"label '{label}' has {classes.size} classes; the limit is {limits.max_classes}",
                           code="dataset_too_many_classes")
    return labels
