"""The backend as a supervised subprocess, each incarnation with its own rollup HTTP server.

``BackendProcess(command, env, log_path)``: ``start()`` opens a ``RollupServer`` on 127.0.0.1 and
spawns ``command`` (in its own session, output appended to ``log_path``) with the environment ``env``
(the whole of it: nothing is inherited) and ``ROLLUP_HTTP_SERVER_URL`` pointing at the server;
``wait_connected(timeout)`` waits for its first ``/finish``; ``run(request)`` hands it one request
(``BackendDied`` if the process ends first); ``stop()`` ends the whole process group and closes the
server. The node replaces a dead incarnation with a new one and replays the recorded inputs
(``devnode.node``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from devnode.server import Advance, BackendDied, Finished, Inspect, RollupServer

STOP_GRACE = 3.0


class BackendProcess:
    """One incarnation of the backend process and the rollup server it talks to."""

    def __init__(self, command: Sequence[str], env: Mapping[str, str], log_path: Path, *,
                 host: str = "127.0.0.1", port: int = 0, cwd: Path | None = None,
                 long_poll: float = 0.5) -> None:
        self.command = list(command)
        self.env = dict(env)
        self.log_path = log_path
        self.cwd = cwd
        self.server = RollupServer(host, port, long_poll=long_poll)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The process id, once started."""
        return None if self.process is None else self.process.pid

    def start(self) -> BackendProcess:
        """Serves the rollup API and spawns the process."""
        self.server.start()
        env = {**self.env, "ROLLUP_HTTP_SERVER_URL": self.server.url, "PYTHONUNBUFFERED": "1"}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(self.log_path, "ab") as log:
                self.process = subprocess.Popen(self.command, env=env, cwd=self.cwd, stdout=log,
                                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                                start_new_session=True)
        except OSError:
            self.server.stop()
            raise
        return self

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.process is not None and self.process.poll() is None

    def wait_connected(self, timeout: float) -> bool:
        """Waits until the backend asks for its first request; ``False`` if it exits or times out first."""
        deadline = time.monotonic() + timeout
        while not self.server.connected.wait(0.02):
            if not self.alive() or time.monotonic() > deadline:
                return False
        return True

    def run(self, request: Advance | Inspect, timeout: float | None = None) -> Finished:
        """Hands ``request`` to the backend and returns how it finished (``BackendDied`` otherwise)."""
        if not self.alive():
            raise BackendDied("the backend process is not running")
        return self.server.run(request, alive=self.alive, timeout=timeout)

    def stop(self) -> None:
        """Ends the process group (SIGTERM, then SIGKILL after a grace period) and closes the server."""
        if self.process is not None and self.process.poll() is None:
            _signal_group(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_GRACE)
            except subprocess.TimeoutExpired:
                _signal_group(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=STOP_GRACE)
        self.server.stop()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
