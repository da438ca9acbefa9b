"""A loopback HTTP server in a daemon thread: the base of the rollup server and the reader API."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


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
        """Stops serving and closes the socket."""
        if self._thread is not None:
            self._http.shutdown()
            self._thread.join()
            self._thread = None
        self._http.server_close()
