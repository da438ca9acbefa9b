"""The backend's state: named tables of immutable values, changed only through transactions.

A transaction is an overlay over its parent (the state or another transaction): reads fall through
to the parent, writes stay in the overlay until ``commit``. Dropping the overlay undoes everything,
so a rejected input changes nothing, and no big state is copied per input. Values must be
immutable (ints, bytes, str, tuples, frozen dataclasses): replace them, never mutate them.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

_DELETED = object()


class Reader(Protocol):
    """Read access shared by the committed state and transactions."""

    def get(self, table: str, key: Hashable, default: Any = None) -> Any: ...

    def items(self, table: str) -> Iterator[tuple[Hashable, Any]]: ...


class State:
    """The committed state. Read it directly; change it only with ``transaction()``."""

    def __init__(self) -> None:
        self._tables: dict[str, dict[Hashable, Any]] = {}

    def get(self, table: str, key: Hashable, default: Any = None) -> Any:
        """The value under ``key`` in ``table``, or ``default``."""
        return self._tables.get(table, {}).get(key, default)

    def items(self, table: str) -> Iterator[tuple[Hashable, Any]]:
        """Every (key, value) of ``table``, in insertion order."""
        return iter(list(self._tables.get(table, {}).items()))

    def _apply(self, changes: dict[str, dict[Hashable, Any]]) -> None:
        for name, rows in changes.items():
            table = self._tables.setdefault(name, {})
            for key, value in rows.items():
                if value is _DELETED:
                    table.pop(key, None)
                else:
                    table[key] = value

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """Yields a transaction; commits it on normal exit, drops it if an exception escapes."""
        tx = Tx(self)
        yield tx
        tx.commit()


class Tx:
    """Buffered changes over a parent state or transaction."""

    def __init__(self, parent: State | Tx) -> None:
        self._parent = parent
        self._changes: dict[str, dict[Hashable, Any]] = {}
        self._open = True

    def get(self, table: str, key: Hashable, default: Any = None) -> Any:
        """The value under ``key`` as this transaction sees it, or ``default``."""
        rows = self._changes.get(table)
        if rows is not None and key in rows:
            value = rows[key]
            return default if value is _DELETED else value
        return self._parent.get(table, key, default)

    def items(self, table: str) -> Iterator[tuple[Hashable, Any]]:
        """Every (key, value) of ``table`` as this transaction sees it, in the order a commit keeps."""
        rows = self._changes.get(table, {})
        for key, value in self._parent.items(table):
            value = rows.get(key, value)
            if value is not _DELETED:
                yield key, value
        for key, value in rows.items():
            if value is not _DELETED and self._parent.get(table, key, _DELETED) is _DELETED:
                yield key, value

    def put(self, table: str, key: Hashable, value: Any) -> None:
        """Sets ``key`` in ``table`` (visible to this transaction until it commits)."""
        self._check_open()
        self._changes.setdefault(table, {})[key] = value

    def delete(self, table: str, key: Hashable) -> None:
        """Removes ``key`` from ``table`` (a no-op if absent)."""
        self._check_open()
        self._changes.setdefault(table, {})[key] = _DELETED

    def add(self, table: str, key: Hashable, amount: int) -> int:
        """Adds ``amount`` to the integer under ``key`` (missing = 0); returns the new value."""
        value = self.get(table, key, 0) + amount
        self.put(table, key, value)
        return value

    def next_id(self, counter: str) -> int:
        """Allocates the next id (1, 2, ...) of a named counter."""
        return self.add("counters", counter, 1)

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """A nested transaction: merged into this one on normal exit, dropped on an exception."""
        child = Tx(self)
        yield child
        child.commit()

    def commit(self) -> None:
        """Merges the buffered changes into the parent. The transaction is closed afterwards."""
        self._check_open()
        self._open = False
        if isinstance(self._parent, State):
            self._parent._apply(self._changes)
        else:
            for name, rows in self._changes.items():
                self._parent._changes.setdefault(name, {}).update(rows)

    def _check_open(self) -> None:
        if not self._open:
            raise RuntimeError("transaction already committed")
