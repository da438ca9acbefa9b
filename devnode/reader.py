"""The reader API clients use (CARTESI-FACTS §8), on 127.0.0.1 (default port 6751).

- ``POST /rpc``: JSON-RPC 2.0, single or batch (the methods of ``devnode.rpc``).
- ``POST /inspect/<application name or address>``: the body is the raw query (at most 2 MiB); answer
  ``{"status": "Accepted"|"Rejected"|"Exception", "exception"?: text, "reports": [{"payload"}] or null,
  "processed_input_count": N}`` (``reports`` is null when there are none, as the Go node's encoder
  writes an empty list); 404 for another application, 413 for a larger body, 503 when the backend
  cannot answer in time.
- Any other method: 405 with ``Allow: POST``.

``routes`` (optional, e.g. ``devnode.graphql_v1.routes`` in v1 mode) serves further endpoints: a
request it ``match``es (method, path) gets its ``answer(method, path, body)``, before the above.
"""

from __future__ import annotations

import json
import logging
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol

from devnode.httpd import ReplyingHandler, ThreadedHTTPServer, content_length
from devnode.rpc import LIST_DEFAULT, NodeView, NotReady, Queries
from devnode.server import ACCEPTED, EXCEPTION

log = logging.getLogger(__name__)

MAX_RPC_BODY = 1 << 20
MAX_INSPECT_BODY = 1 << 21


class Routes(Protocol):
    """Further endpoints of the reader (module docstring)."""

    def match(self, method: str, path: str) -> bool: ...
    def answer(self, method: str, path: str, body: bytes) -> tuple[int, Any]: ...


class ReaderServer(ThreadedHTTPServer):
    """Serves ``/rpc`` and ``/inspect/<app>`` (and ``routes``) for ``node`` in a daemon thread."""

    def __init__(self, node: NodeView, host: str = "127.0.0.1", port: int = 6751,
                 routes: Routes | None = None) -> None:
        self.node = node
        self.queries = Queries(node)
        self.routes = routes
        super().__init__(host, port, _handler_for(self), "reader-http")

_INSPECT_STATUS = {ACCEPTED: "Accepted", EXCEPTION: "Exception"}


def _inspect(reader: ReaderServer, app: str, payload: bytes) -> tuple[int, Any]:
    if not reader.node.app.matches(app):
        return 404, "Application not found"
    try:
        finished, processed = reader.node.inspect(payload)
    except NotReady as exc:
        return 503, f"Machine not ready: {exc}"
    answer: dict[str, Any] = {"status": _INSPECT_STATUS.get(finished.status, "Rejected")}
    if finished.status == EXCEPTION:
        text = (finished.exception or b"").decode(errors="replace")
        answer["exception"] = f"Error on the machine while inspecting: {text}"
    answer["reports"] = [{"payload": "0x" + r.hex()} for r in finished.reports] or None
    answer["processed_input_count"] = processed
    return 200, answer


def _handler_for(reader: ReaderServer) -> type[BaseHTTPRequestHandler]:
    class Handler(ReplyingHandler):
        logger = log

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            length = content_length(self.headers.get("Content-Length"))
            if length is None:
                self.close_connection = True
                self.reply(400, "Bad request")
                return
            if reader.routes is not None and reader.routes.match("POST", self.path):
                if length > MAX_INSPECT_BODY:
                    self.close_connection = True
                    self.reply(413, "Payload too large")
                    return
                self.reply(*reader.routes.answer("POST", self.path, self.rfile.read(length)))
            elif self.path.startswith("/inspect/"):
                if length > MAX_INSPECT_BODY:
                    self.close_connection = True
                    self.reply(413, "Payload too large")
                    return
                self.reply(*_inspect(reader, self.path[len("/inspect/"):], self.rfile.read(length)))
            elif self.path.rstrip("/") == "/rpc":
                if length > MAX_RPC_BODY:
                    self.close_connection = True
                    self.reply(413, "Failed to read request body")
                    return
                try:
                    body = json.loads(self.rfile.read(length))
                except ValueError:
                    self.reply(400, "Invalid JSON")
                    return
                if isinstance(body, list):
                    self.reply(200, [reader.queries.call(item) for item in body[:LIST_DEFAULT]])
                else:
                    self.reply(200, reader.queries.call(body))
            else:
                self.reply(404, "404 page not found")

        def do_GET(self) -> None:  # noqa: N802
            if reader.routes is not None and reader.routes.match("GET", self.path):
                self.reply(*reader.routes.answer("GET", self.path, b""))
                return
            self.reply(405, "Method not allowed", {"Allow": "POST"})

    return Handler
