"""The local node as a separate process (``python -m devnode run``), so that a test can ``kill -9`` it.

``NodeProcess(state_dir)``: ``start()`` runs the node on free ports with the real backend and waits
until ``node.json`` says this process is ready (returns that info); ``kill_node()`` and
``kill_backend()`` send SIGKILL (the backend's pid is checked against its command line first, and
waited for while the node restarts it);
``stop()`` ends the node with SIGTERM (SIGKILL after a grace period) and then whatever a killed
node left running (anvil, backend), via ``devnode.lifecycle.end_orphans``. Use it in a ``finally``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from devnode import lifecycle
from devnode.anvil import repo_root
from devnode.store import NODE_LOG, read_info


class NodeProcess:
    """One state directory's node process (module docstring)."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 180.0) -> dict[str, Any]:
        """Starts ``python -m devnode run`` and returns its ``node.json`` once ready."""
        assert self.process is None or self.process.poll() is not None, "the node is running"
        self.state_dir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "devnode", "run", "--state-dir", str(self.state_dir), "--port", "0",
                   "--anvil-port", "0"]
        with open(self.state_dir / NODE_LOG, "ab") as out:
            self.process = subprocess.Popen(command, cwd=repo_root(), stdout=out, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = read_info(self.state_dir)
            if info and info.get("pid") == self.process.pid and info.get("ready"):
                return info
            if self.process.poll() is not None:
                tail = (self.state_dir / NODE_LOG).read_bytes()[-3000:].decode(errors="replace")
                raise RuntimeError(f"the node exited with status {self.process.returncode}:\n{tail}")
            time.sleep(0.05)
        raise RuntimeError(f"the node was not ready within {timeout} s")

    def info(self) -> dict[str, Any]:
        """The current ``node.json`` (rewritten when the node restarts its backend)."""
        return read_info(self.state_dir) or {}

    def kill_node(self) -> None:
        """SIGKILL to the node process alone (anvil and the backend run on, orphaned)."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=30)

    def kill_backend(self, wait: float = 10.0) -> bool:
        """SIGKILL to the backend named in ``node.json``, waiting up to ``wait`` seconds for one to run
        (the node may be restarting it); False if none did."""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            info = self.info()
            pid = info.get("backend_pid")
            if isinstance(pid, int) and lifecycle.cmdline(pid) == info.get("backend"):
                try:
                    os.kill(pid, signal.SIGKILL)
                    return True
                except ProcessLookupError:
                    pass
            time.sleep(0.01)
        return False

    def log_count(self, text: str) -> int:
        """Lines of the node's output (``node.log``, where it goes as with ``devnode up``) holding ``text``."""
        log = self.state_dir / NODE_LOG
        return sum(text in line for line in log.read_text(errors="replace").splitlines()) if log.exists() else 0

    def stop(self, grace: float = 60.0) -> None:
        """Ends the node (SIGTERM, then SIGKILL) and anything a killed node left behind."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        if not lifecycle.node_running(self.state_dir):
            lifecycle.end_orphans(self.state_dir)
