"""Process-level chores of the node: the state directory's lock, free ports, processes left behind by
a node that was killed, and the message that stops a diverging replay.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from devnode.store import LOCK, InputRecord, StoreError, read_info

if TYPE_CHECKING:
    from devnode.server import Finished

log = logging.getLogger(__name__)

DEFAULT_BACKEND = (sys.executable, "-m", "dapp")  # the backend as inside the machine


class PortTaken(RuntimeError):
    """A port the node needs is already in use."""


def lock_state_dir(state_dir: Path) -> IO[str]:
    """Takes the state directory's lock (held until ``unlock_state_dir``); ``StoreError`` if a node runs."""
    state_dir.mkdir(parents=True, exist_ok=True)
    handle = open(state_dir / LOCK, "a+")  # noqa: SIM115 (held for the node's life)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        info = read_info(state_dir) or {}
        raise StoreError(f"a node is already running on {state_dir} (pid {info.get('pid', '?')}, reader "
                         f"{info.get('node_url', '?')}); stop it with `python -m devnode down`") from None
    return handle


def unlock_state_dir(handle: IO[str] | None) -> None:
    """Releases the lock taken by ``lock_state_dir``."""
    if handle is not None:
        handle.close()


def node_running(state_dir: Path) -> bool:
    """Whether a node holds the state directory's lock."""
    if not (state_dir / LOCK).exists():
        return False
    with open(state_dir / LOCK, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def checked_port(host: str, port: int, what: str) -> int:
    """``port`` if it is free on ``host`` (0 is always fine); ``PortTaken`` with a clear message if not."""
    if port == 0:
        return 0
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortTaken(f"port {port} on {host} ({what}) is already in use: another node, or pass "
                                f"another port (0 picks a free one)") from None
            raise
    return port


def cmdline(pid: int) -> list[str]:
    """The command line of process ``pid`` (empty if it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return []


def end_orphans(state_dir: Path) -> None:
    """Ends the anvil and backend that a killed node (recorded in ``node.json``) left running. Call it
    only while holding the lock, i.e. when that node is gone; each pid is checked by its command line."""
    info = read_info(state_dir) or {}
    anvil_pid, backend_pid = info.get("anvil_pid"), info.get("backend_pid")
    if isinstance(anvil_pid, int) and any(str(info.get("anvil_state")) == part for part in cmdline(anvil_pid)):
        log.warning("ending anvil %d left by a previous node", anvil_pid)
        _end(anvil_pid, signal.SIGINT, group=False)  # SIGINT: anvil saves its state first
    if isinstance(backend_pid, int) and info.get("backend") and cmdline(backend_pid) == info["backend"]:
        log.warning("ending backend %d left by a previous node", backend_pid)
        _end(backend_pid, signal.SIGTERM, group=True)


def _end(pid: int, sig: signal.Signals, *, group: bool, grace: float = 10.0) -> None:
    send = os.killpg if group else os.kill
    try:
        send(pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and cmdline(pid):
            time.sleep(0.05)
        if cmdline(pid):
            send(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def tail(path: Path, size: int = 2000) -> str:
    """The last ``size`` bytes of a log file, as text."""
    return path.read_bytes()[-size:].decode(errors="replace") if path.exists() else ""


def _short(data: bytes, limit: int = 120) -> str:
    text = data.hex()
    return f"0x{text[:limit]}…({len(data)} bytes)" if len(text) > limit else f"0x{text}"


def describe_divergence(record: InputRecord, got: Finished) -> str:
    """A loud, precise account of the first difference between a recorded input and its replay."""
    head = (f"replay diverged at input {record.index} (epoch {record.epoch_index}): the backend is not "
            f"deterministic or changed since it processed the inputs. ")
    if got.status != record.status:
        return head + f"Recorded status {record.status}, replay gave {got.status}."
    for offset, (expected, actual) in enumerate(zip(record.outputs, got.outputs, strict=False)):
        if expected != actual:
            return head + (f"First differing output: #{record.first_output_index + offset} (output {offset} of "
                           f"the input): recorded {_short(expected)}, replay {_short(actual)}.")
    return head + f"Recorded {len(record.outputs)} outputs, replay gave {len(got.outputs)}."


def describe(info: dict[str, Any]) -> str:
    """A human summary of ``node.json``."""
    addresses = "\n".join(f"  {name:<30} {address}" for name, address in sorted(info.get("addresses", {}).items()))
    return (f"chain       {info.get('rpc_url')} (chain id {info.get('chain_id')})\n"
            f"reader      {info.get('reader_url')}\n"
            f"inspect     {info.get('inspect_url')}/<application>\n"
            f"epoch       {info.get('epoch_length')} blocks; auto mine {info.get('auto_mine')}\n"
            f"contracts   Rollups v{info.get('rollups', 2)}: @cartesi/rollups {info.get('contracts') or '2.2.0'}\n"
            f"node pid    {info.get('pid')} (running: {info.get('running')})\n"
            f"backend     {' '.join(info.get('backend') or [])} (pid {info.get('backend_pid')})\n"
            f"state dir   {info.get('state_dir')}\n"
            f"addresses\n{addresses}")
