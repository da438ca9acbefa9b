"""The interface the loop needs from a rollup server (real HTTP or in-memory fake)."""

from __future__ import annotations

from typing import Any, Protocol

from dapp.domain.values import Address


class Rollup(Protocol):
    """CARTESI-FACTS §1, as methods."""

    def finish(self, accept: bool) -> dict[str, Any] | None:
        """Finishes the current request; returns the next one, or None when there is none yet."""

    def notice(self, payload: bytes) -> int:
        """Posts a notice; returns its index."""

    def voucher(self, destination: Address, value: int, payload: bytes) -> int:
        """Posts a voucher; returns its index."""

    def report(self, payload: bytes) -> None:
        """Posts a report."""
