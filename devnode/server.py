"""The rollup HTTP API that the backend talks to (CARTESI-FACTS §1), served on 127.0.0.1.

One ``RollupServer`` serves one backend process: the node hands it one request at a time with
``run(request)``, which blocks until the backend calls ``/finish`` (or ``/exception``) and returns what
the backend emitted. A restarted backend gets a fresh server, so a request can never be taken by a
connection of a dead process.

Endpoints, as the machine's ``rollup-http-server`` answers them:

- ``POST /finish {"status":"accept"|"reject"}``: finishes the current request, then answers 200 with the
  next one (``advance_state`` with v2 metadata, or ``inspect_state``), or 202 when none arrives within
  ``long_poll`` seconds (the backend then asks again). Devnode addition: an accept may carry
  ``"outputs_root": "0x<32 bytes>"``, the outputs Merkle root the real machine sent with it
  (``devnode.machine_bridge``); it is kept on the advance's ``Finished``.
- ``POST /notice {"payload"}`` and ``POST /voucher {"destination","value","payload"}`` and
  ``POST /delegate-call-voucher {"destination","payload"}``: 201 ``{"index": N}``, ``N`` numbered over
  every output of the application since genesis. Only while an advance is being processed.
- ``POST /report {"payload"}``: 202. ``POST /exception {"payload"}``: 202; the request ends as an
  exception (outputs dropped, reports kept) and the node must restart the backend.
- Anything malformed: 400 with a text body. Bodies over 5 MiB: 413.
- Rollups v1 advances (metadata with ``epoch_index``, ``devnode.v1``): vouchers have no ``value`` (a zero
  one is tolerated, as the real v1 server ignores it; others are 400) and ``/delegate-call-voucher`` is 404.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from devnode import outputs as out
from devnode.httpd import ReplyingHandler, ThreadedHTTPServer, content_length

log = logging.getLogger(__name__)

MAX_BODY = 5 * 1024 * 1024  # the real server's JSON body limit
MAX_DATA = 1 << 21  # the machine's 2 MiB I/O buffers: an output, a report or an inspect payload
MAX_ITEMS = 4096  # outputs + reports of one request: a runaway backend must not exhaust the node
MAX_JOB_BYTES = 64 * 1024 * 1024  # their total size
ACCEPTED, REJECTED, EXCEPTION = "ACCEPTED", "REJECTED", "EXCEPTION"


class BackendDied(RuntimeError):
    """The backend process ended (or stopped answering) before it finished the request."""


@dataclass(frozen=True)
class Advance:
    """An input to process: v2 ``metadata`` (JSON-ready), ``payload`` and the global index of its
    first output (the number of outputs the application emitted before it)."""

    metadata: dict[str, Any]
    payload: bytes
    first_output_index: int

    def to_json(self) -> dict[str, Any]:
        """The body ``/finish`` answers with."""
        return {"request_type": "advance_state",
                "data": {"metadata": self.metadata, "payload": "0x" + self.payload.hex()}}


@dataclass(frozen=True)
class Inspect:
    """A read-only query."""

    payload: bytes

    def to_json(self) -> dict[str, Any]:
        """The body ``/finish`` answers with."""
        return {"request_type": "inspect_state", "data": {"payload": "0x" + self.payload.hex()}}


@dataclass(frozen=True)
class Finished:
    """How a request ended: ``status`` (ACCEPTED, REJECTED or EXCEPTION), the outputs as on-chain bytes
    (always empty unless accepted), the reports, the exception's payload if there was one, and the
    outputs Merkle root the machine sent with an accepted advance (only when the backend runs in the
    real machine)."""

    status: str
    outputs: tuple[bytes, ...] = ()
    reports: tuple[bytes, ...] = ()
    exception: bytes | None = None
    outputs_root: bytes | None = None


@dataclass
class _Job:
    request: Advance | Inspect
    outputs: list[bytes] = field(default_factory=list)
    reports: list[bytes] = field(default_factory=list)
    size: int = 0
    done: threading.Event = field(default_factory=threading.Event)
    result: Finished | None = None

    def add(self, item: bytes, into: list[bytes]) -> None:
        if len(self.outputs) + len(self.reports) >= MAX_ITEMS:
            raise out.BadField(f"more than {MAX_ITEMS} outputs and reports for one request")
        if self.size + len(item) > MAX_JOB_BYTES:
            raise out.BadField(f"outputs and reports of one request exceed {MAX_JOB_BYTES} bytes")
        into.append(item)
        self.size += len(item)

    def end(self, status: str, exception: bytes | None = None, root: bytes | None = None) -> None:
        kept = tuple(self.outputs) if status == ACCEPTED else ()
        root = root if status == ACCEPTED and isinstance(self.request, Advance) else None
        self.result = Finished(status, kept, tuple(self.reports), exception, root)
        self.done.set()


class RollupServer(ThreadedHTTPServer):
    """The rollup HTTP API for one backend process. Use as a context manager or ``start``/``stop``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, long_poll: float = 0.5) -> None:
        self.long_poll = long_poll
        self._cond = threading.Condition()
        self._pending: _Job | None = None
        self._current: _Job | None = None
        self.connected = threading.Event()  # set by the backend's first /finish
        super().__init__(host, port, _handler_for(self), "rollup-http")  # url: the backend's ROLLUP_HTTP_SERVER_URL

    def __enter__(self) -> RollupServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def run(self, request: Advance | Inspect, *, alive: Callable[[], bool] = lambda: True,
            timeout: float | None = None) -> Finished:
        """Hands ``request`` to the backend and waits until it finishes. Raises ``BackendDied`` when
        ``alive()`` turns false or ``timeout`` seconds pass first."""
        job = _Job(request)
        with self._cond:
            if self._pending is not None or self._current is not None:
                raise RuntimeError("the backend is already processing a request")
            self._pending = job
            self._cond.notify_all()
        deadline = None if timeout is None else time.monotonic() + timeout
        while not job.done.wait(0.02):
            if not alive():
                raise BackendDied("the backend process ended while processing a request")
            if deadline is not None and time.monotonic() > deadline:
                raise BackendDied(f"the backend did not finish the request within {timeout} s")
        assert job.result is not None
        return job.result

    # -- what the HTTP handler calls (each returns (http status, body)) --------------------------

    def finish(self, body: Any) -> tuple[int, Any]:
        status = out.field(body, "status")
        if status not in ("accept", "reject"):
            raise out.BadField("status must be 'accept' or 'reject'")
        root = None
        if isinstance(body, dict) and "outputs_root" in body:
            root = out.parse_hex(body, "outputs_root", max_bytes=32)
            if len(root) != 32 or status != "accept":
                raise out.BadField("`outputs_root` must be 32 bytes, sent with an accept")
        deadline = time.monotonic() + self.long_poll
        self.connected.set()
        with self._cond:
            if self._current is not None:
                self._current.end(ACCEPTED if status == "accept" else REJECTED, root=root)
                self._current = None
            while self._pending is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return 202, None
                self._cond.wait(remaining)
            self._current, self._pending = self._pending, None
            return 200, self._current.request.to_json()

    def emit(self, kind: str, body: Any) -> tuple[int, Any]:
        if kind == "notice":
            output = out.encode_notice(out.parse_hex(body, "payload", max_bytes=MAX_DATA))
        elif kind == "voucher":
            destination, value = out.parse_address(body, "destination"), self._voucher_value(body)
            output = out.encode_voucher(destination, value, out.parse_hex(body, "payload", max_bytes=MAX_DATA))
        else:
            destination = out.parse_address(body, "destination")
            output = out.encode_delegate_call_voucher(destination,
                                                      out.parse_hex(body, "payload", max_bytes=MAX_DATA))
        if len(output) > MAX_DATA:
            raise out.BadField(f"the {kind} encodes to {len(output)} bytes, over the {MAX_DATA}-byte buffer")
        with self._cond:
            job = self._current
            if job is None or not isinstance(job.request, Advance):
                raise out.BadField(f"a {kind} can only be emitted while processing an advance request")
            job.add(output, job.outputs)
            return 201, {"index": job.request.first_output_index + len(job.outputs) - 1}

    def serving_v1(self) -> bool:
        """Whether the request in progress is a Rollups v1 advance (its metadata has ``epoch_index``)."""
        with self._cond:
            job = self._current
        return job is not None and isinstance(job.request, Advance) and "epoch_index" in job.request.metadata

    def _voucher_value(self, body: Any) -> int:
        """v2: ``value`` is required. v1 vouchers have none: the real v1 server ignores the field, this one
        accepts it only when zero (a value would be lost) and answers ``/delegate-call-voucher`` 404."""
        if not self.serving_v1():
            return out.parse_value(body, "value")
        if isinstance(body, dict) and "value" in body and out.parse_value(body, "value") != 0:
            raise out.BadField("Rollups v1 vouchers carry no value")
        return 0

    def report(self, body: Any) -> tuple[int, Any]:
        payload = out.parse_hex(body, "payload", max_bytes=MAX_DATA)
        with self._cond:
            if self._current is None:
                raise out.BadField("a report can only be emitted while processing a request")
            self._current.add(payload, self._current.reports)
        return 202, None

    def exception(self, body: Any) -> tuple[int, Any]:
        payload = out.parse_hex(body, "payload", max_bytes=MAX_DATA)
        with self._cond:
            if self._current is None:
                raise out.BadField("an exception can only be thrown while processing a request")
            log.warning("backend exception: %r", payload[:500])
            self._current.end(EXCEPTION, payload)
            self._current = None
        return 202, None


def _handler_for(server: RollupServer) -> type[BaseHTTPRequestHandler]:
    routes: dict[str, Callable[[Any], tuple[int, Any]]] = {
        "/finish": server.finish,
        "/notice": lambda body: server.emit("notice", body),
        "/voucher": lambda body: server.emit("voucher", body),
        "/delegate-call-voucher": lambda body: server.emit("delegate-call-voucher", body),
        "/report": server.report,
        "/exception": server.exception,
    }

    class Handler(ReplyingHandler):
        logger = log

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            v1_absent = self.path == "/delegate-call-voucher" and server.serving_v1()  # no such v1 endpoint
            route = None if v1_absent else routes.get(self.path)
            if route is None:
                self.reply(404, f"no endpoint {self.path}")
                return
            length = content_length(self.headers.get("Content-Length"))
            if length is None:
                self.close_connection = True
                self.reply(400, "bad Content-Length")
                return
            if length > MAX_BODY:
                self.close_connection = True
                self.reply(413, f"body of {length} bytes exceeds the {MAX_BODY}-byte limit")
                return
            try:
                body = json.loads(self.rfile.read(length))
            except ValueError as exc:
                self.reply(400, f"Json deserialize error: {exc}")
                return
            try:
                status, answer = route(body)
            except out.BadField as exc:
                self.reply(400, str(exc))
                return
            self.reply(status, answer)

        def do_GET(self) -> None:  # noqa: N802
            self.reply(405, "only POST is served")

    return Handler
