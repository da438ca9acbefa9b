"""An in-memory rollup server for tests: queued requests in, recorded outputs out."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from dapp.codec.hexbytes import to_hex
from dapp.domain.values import Address


@dataclass
class Finished:
    """One served request with what the backend posted for it and its final status."""

    request: dict[str, Any]
    accepted: bool = False
    notices: list[bytes] = field(default_factory=list)
    vouchers: list[tuple[Address, int, bytes]] = field(default_factory=list)
    reports: list[bytes] = field(default_factory=list)
    order: list[str] = field(default_factory=list)  # "notice" / "voucher" per output, as emitted


class FakeRollup:
    """Serves queued requests to the loop, like the rollup HTTP server, and records outputs.
    ``finish`` returns None once the queue is empty (as a 202 would)."""

    def __init__(self) -> None:
        self.queue: deque[dict[str, Any]] = deque()
        self.done: list[Finished] = []
        self.current: Finished | None = None

    @property
    def idle(self) -> bool:
        """True when every queued request has been finished."""
        return not self.queue and self.current is None

    def add_advance(self, metadata: dict[str, Any], payload: bytes) -> None:
        """Queues an advance request."""
        self.queue.append({"request_type": "advance_state", "data": {"metadata": metadata, "payload": to_hex(payload)}})

    def add_inspect(self, payload: bytes) -> None:
        """Queues an inspect request."""
        self.queue.append({"request_type": "inspect_state", "data": {"payload": to_hex(payload)}})

    def finish(self, accept: bool) -> dict[str, Any] | None:
        if self.current is not None:
            self.current.accepted = accept
            if not accept:
                self.current.notices.clear()
                self.current.vouchers.clear()
                self.current.order.clear()
            self.done.append(self.current)
            self.current = None
        if not self.queue:
            return None
        request = self.queue.popleft()
        self.current = Finished(request)
        return request

    def notice(self, payload: bytes) -> int:
        assert self.current is not None
        self.current.notices.append(payload)
        self.current.order.append("notice")
        return len(self.current.notices) - 1

    def voucher(self, destination: Address, value: int, payload: bytes) -> int:
        assert self.current is not None
        self.current.vouchers.append((destination, value, payload))
        self.current.order.append("voucher")
        return len(self.current.vouchers) - 1

    def report(self, payload: bytes) -> None:
        assert self.current is not None
        self.current.reports.append(payload)
