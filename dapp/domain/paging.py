"""Inspect numbers and pages: strict parsing of ids and parameters, ``?offset=O&limit=N`` windows.

Every number in a query is 1 to ``MAX_DIGITS`` ASCII digits (a uint256 has at most 78): no sign,
no spaces, no underscores and no other script's digits (Python's ``int`` accepts all of these).
Every list that can grow is answered a page at a time, with ``total``, ``offset``, ``limit`` and
``next`` (the offset of the next page, or ``None`` on the last one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from dapp.errors import DomainError

MAX_DIGITS = 78
"""Digits of the largest uint256; longer numbers are refused before ``int`` sees them."""

DEFAULT_LIMIT = 100
"""Items per page when the query names no ``limit``."""

MAX_LIMIT = 200
"""The largest page; a larger ``limit`` is answered with this many items."""

T = TypeVar("T")


def shown(text: str) -> str:
    """``text`` quoted for an error message, cut to 100 characters (answers must stay small)."""
    return repr(text[:100]) + ("…" if len(text) > 100 else "")


def parse_uint(text: str, what: str) -> int:
    """``text`` as a non-negative integer; ``DomainError`` (``bad_query``) unless it is 1 to
    ``MAX_DIGITS`` ASCII digits."""
    if not (0 < len(text) <= MAX_DIGITS and text.isascii() and text.isdigit()):
        raise DomainError(f"{what} must be 1 to {MAX_DIGITS} ASCII digits, got {shown(text)}",
                          code="bad_query")
    return int(text)


def uint_param(params: dict[str, list[str]], name: str, default: int) -> int:
    """Query parameter ``name`` (its last value) parsed by ``parse_uint``, or ``default``."""
    values = params.get(name)
    return parse_uint(values[-1], f"query parameter {name}") if values else default


@dataclass(frozen=True, slots=True)
class Page:
    """A window ``[offset, offset + limit)`` over a list."""

    offset: int = 0
    limit: int = DEFAULT_LIMIT

    @classmethod
    def from_params(cls, params: dict[str, list[str]]) -> Page:
        """The page a query asks for; ``limit`` is at least 1 and at most ``MAX_LIMIT``."""
        limit = uint_param(params, "limit", DEFAULT_LIMIT)
        if limit == 0:
            raise DomainError("query parameter limit must be at least 1", code="bad_query")
        return cls(uint_param(params, "offset", 0), min(limit, MAX_LIMIT))

    @property
    def end(self) -> int:
        return self.offset + self.limit

    def take(self, items: Sequence[T]) -> list[T]:
        """This page's items of ``items``."""
        return list(items[self.offset:self.end])

    def fields(self, total: int) -> dict[str, Any]:
        """``{total, offset, limit, next}`` of this page over a list of ``total`` items."""
        return {"total": total, "offset": self.offset, "limit": self.limit,
                "next": self.end if self.end < total else None}
