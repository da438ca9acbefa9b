"""A loopback HTTP server in a daemon thread, and the request handler base, of the rollup server and
the reader API."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ReplyingHandler(BaseHTTPRequestHandler):
    """Keep-alive handler base: ``reply`` answers with a text (``str``), JSON (anything else) or empty
    (``None``) body; a client that went away is not an error; requests are logged at debug level on
    ``logger`` (subclasses set their module's)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # one small answer per request: do not wait for delayed ACKs
    logger = logging.getLogger(__name__)

    def reply(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        """Sends ``status`` with ``body`` and any extra ``headers``."""
        if isinstance(body, str):
            data, kind = body.encode(), "text/plain; charset=utf-8"
        else:
            data, kind = (b"" if body is None else json.dumps(body).encode()), "application/json"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away (e.g. a killed backend)

    def log_message(self, format: str, *args: Any) -> None:  # http.server names the argument format
        self.logger.debug("%s", format % args)


def content_length(header: str | None) -> int | None:
    """The body length a request announces (0 if none), ``None`` if the header is malformed."""
    if header is None:
        return 0
    try:
        length = int(header)
    except ValueError:
        return None
    return length if length >= 0 else None


class ThreadedHTTPServer:
    """Serves ``handler`` on ``host:port`` (0 = a free port) in a daemon thread."""

    def __init__(self, host: str, port: int, handler: type[BaseHTTPRequestHandler], name: str) -> None:
        self._http = ThreadingHTTPServer((host, port), handler)
        self._http.daemon_threads = True
        self._name = name
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://host:port`` of this server."""
        host, port = self._http.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> ThreadedHTTPServer:
        """Serves in a daemon thread."""
        self._thread = threading.Thread(target=self._http.serve_forever, args=(0.05,), name=self._name,
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops serving and closes the socket; a request still pending is abandoned."""
        if self._thread is not None:
            self._http.shutdown()
            self._thread.join()
            self._thread = None
        self._http.server_close()
