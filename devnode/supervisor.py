"""Keeps the backend process alive and consistent with the node's records.

``Supervisor(command, env, store, ...)``:
- ``start()`` (re)starts the backend (a fresh ``BackendProcess`` and rollup server), waits for its first
  ``/finish``, and replays every recorded input but those that ended in an exception (the machine reverts
  them); each replay must give the recorded status and byte-identical outputs, else ``ReplayDivergence``
  names the first differing input and output.
- ``run(request)`` hands one request to the backend; if the backend dies meanwhile it is restarted,
  replayed and the request re-sent (up to ``max_restarts`` times, then the request ends as an exception).
- ``check()`` restarts a backend that exited while idle; ``BackendFailed`` if it keeps doing so.
- ``stop()`` ends the backend for good (requests in flight raise ``Stopping``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from devnode.backend import BackendProcess
from devnode.lifecycle import describe_divergence, tail
from devnode.server import EXCEPTION, Advance, BackendDied, Finished, Inspect
from devnode.store import Store

log = logging.getLogger(__name__)

IDLE_DEATH_WINDOW = 60.0


class BackendFailed(RuntimeError):
    """The backend cannot be started, or keeps exiting."""


class ReplayDivergence(BackendFailed):
    """Replaying a recorded input gave other outputs than those recorded: the backend is not
    deterministic, or it changed since the inputs were processed."""


class Stopping(RuntimeError):
    """The node is shutting down."""


class Supervisor:
    """The backend of one node (see the module docstring)."""

    def __init__(self, command: Sequence[str], env: Mapping[str, str], store: Store, log_path: Path, *,
                 host: str = "127.0.0.1", port: int = 0, cwd: Path | None = None, max_restarts: int = 3,
                 start_timeout: float = 120.0, advance_timeout: float | None = None,
                 inspect_timeout: float = 60.0, on_restart: Callable[[], None] = lambda: None) -> None:
        # The backend's environment: this process's, taken now, with ``env`` over it. Restarts happen in
        # the node's thread, where listing os.environ could race with a thread changing it.
        self.command, self.store, self.log_path = list(command), store, log_path
        self.env = {**os.environ, **env}
        self.host, self.port, self.cwd = host, port, cwd
        self.max_restarts, self.start_timeout = max_restarts, start_timeout
        self.advance_timeout, self.inspect_timeout = advance_timeout, inspect_timeout
        self.on_restart = on_restart
        self.backend: BackendProcess | None = None
        self._lock = threading.Lock()
        self._stopping = False
        self._idle_deaths: list[float] = []

    @property
    def pid(self) -> int | None:
        """The backend's process id."""
        return None if self.backend is None else self.backend.pid

    @property
    def url(self) -> str | None:
        """The rollup HTTP server the backend talks to."""
        return None if self.backend is None else self.backend.server.url

    def start(self) -> None:
        """(Re)starts the backend and replays the recorded inputs (see the module docstring)."""
        for attempt in range(1, self.max_restarts + 1):
            with self._lock:
                if self._stopping:
                    raise Stopping("the node is stopping")
                if self.backend is not None:
                    self.backend.stop()
                self.backend = BackendProcess(self.command, self.env, self.log_path, host=self.host,
                                              port=self.port, cwd=self.cwd).start()
            self.on_restart()
            try:
                if not self.backend.wait_connected(self.start_timeout):
                    raise BackendDied(f"it never asked for a request (exit status {self.backend.process.poll()})")
                self._replay(self.backend)
                return
            except BackendDied as exc:
                if self._stopping:
                    raise Stopping("the node is stopping") from exc
                log.warning("backend failed while starting or replaying (attempt %d): %s", attempt, exc)
        raise BackendFailed(f"the backend failed {self.max_restarts} times in a row while starting or replaying "
                            f"the recorded inputs. End of {self.log_path}:\n{tail(self.log_path)}")

    def _replay(self, backend: BackendProcess) -> None:
        started, count = time.monotonic(), 0
        for record in list(self.store.inputs):
            if record.status == EXCEPTION:
                continue  # the machine reverts such an input: replaying it would only throw again
            request = Advance(record.metadata, record.payload, record.first_output_index)
            got = backend.run(request, timeout=self.advance_timeout)
            if got.status != record.status or got.outputs != record.outputs:
                raise ReplayDivergence(describe_divergence(record, got))
            count += 1
        if count:
            log.info("replayed %d inputs in %.2f s: outputs identical", count, time.monotonic() - started)

    def run(self, request: Advance | Inspect) -> Finished:
        """Runs ``request``, restarting (and replaying) a backend that dies; gives up as an exception."""
        timeout = self.advance_timeout if isinstance(request, Advance) else self.inspect_timeout
        for attempt in range(1, self.max_restarts + 1):
            try:
                if self.backend is None:
                    raise BackendDied("no backend")
                return self.backend.run(request, timeout=timeout)
            except BackendDied as exc:
                if self._stopping:
                    raise Stopping("the node is stopping") from exc
                log.warning("backend died (attempt %d): %s; restarting and replaying", attempt, exc)
                self.start()
        text = f"the backend died {self.max_restarts} times on this request"
        log.error("%s: %r", text, request)
        return Finished(EXCEPTION, exception=text.encode())

    def check(self) -> None:
        """Restarts a backend that exited while idle; ``BackendFailed`` if that keeps happening."""
        if self._stopping or self.backend is None or self.backend.alive():
            return
        now = time.monotonic()
        self._idle_deaths = [t for t in self._idle_deaths if now - t < IDLE_DEATH_WINDOW] + [now]
        if len(self._idle_deaths) > self.max_restarts:
            raise BackendFailed(f"the backend keeps exiting while idle. End of {self.log_path}:\n{tail(self.log_path)}")
        log.warning("backend exited while idle: restarting and replaying")
        self.start()

    def stop(self) -> None:
        """Ends the backend; no restart follows."""
        with self._lock:
            self._stopping = True
            if self.backend is not None:
                self.backend.stop()
