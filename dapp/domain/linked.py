"""An ordered set of keys kept in one table of the transactional store (a doubly linked list).

Appending, removing and reading the first key or the key after another each cost a few row reads
and writes, whatever the length, so a walk from the oldest key touches only the keys it visits
(``State.items`` would copy the whole table). The content store keeps its partial uploads in the
order they were last fed and its files in the order they were stored, and reclaims from the front.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, replace

from dapp.domain.store import Reader, Tx

END = ""
"""The sentinel row: its ``next`` is the first key, its ``prev`` the last. No key may equal it."""


@dataclass(frozen=True, slots=True)
class Links:
    """A key's neighbours (``END`` at either end)."""

    prev: Hashable
    next: Hashable


_EMPTY = Links(END, END)


def _links(reader: Reader, table: str, key: Hashable) -> Links:
    return reader.get(table, key, _EMPTY)


def _set(tx: Tx, table: str, key: Hashable, links: Links) -> None:
    if key == END and links == _EMPTY:
        tx.delete(table, END)  # an empty list leaves no row
    else:
        tx.put(table, key, links)


def append(tx: Tx, table: str, key: Hashable) -> None:
    """Adds ``key`` (not already present) after the last key."""
    last = _links(tx, table, END).prev
    tx.put(table, key, Links(last, END))
    _set(tx, table, last, replace(_links(tx, table, last), next=key))
    _set(tx, table, END, replace(_links(tx, table, END), prev=key))


def remove(tx: Tx, table: str, key: Hashable) -> None:
    """Takes ``key`` (present) out of the order."""
    links = tx.get(table, key)
    tx.delete(table, key)
    _set(tx, table, links.prev, replace(_links(tx, table, links.prev), next=links.next))
    _set(tx, table, links.next, replace(_links(tx, table, links.next), prev=links.prev))


def move_to_end(tx: Tx, table: str, key: Hashable) -> None:
    """Makes the present ``key`` the last one."""
    if _links(tx, table, END).prev != key:
        remove(tx, table, key)
        append(tx, table, key)


def first(reader: Reader, table: str) -> Hashable | None:
    """The first key, or ``None`` if there is none."""
    key = _links(reader, table, END).next
    return None if key == END else key


def after(reader: Reader, table: str, key: Hashable) -> Hashable | None:
    """The key after the present ``key``, or ``None`` if it is the last."""
    following = reader.get(table, key).next
    return None if following == END else following
