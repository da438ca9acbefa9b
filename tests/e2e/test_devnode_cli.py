"""``python -m devnode up|info|down`` on a real anvil with the fake backend, and a kill -9 of the node."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from web3 import Web3

from devnode import chain, lifecycle
from devnode.deploy import Deployment
from devnode.store import DEPLOYMENT, read_info

from devnode_harness import FAKE_BACKEND, notice_payloads, processed, user, wait_processed

pytestmark = pytest.mark.e2e


def devnode(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "devnode", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=Path(__file__).resolve().parents[2])


def alive(pid: object) -> bool:
    return isinstance(pid, int) and bool(lifecycle.cmdline(pid))


@pytest.fixture
def state(tmp_path):
    """A state directory; whatever node ran on it is stopped afterwards, with its anvil and backend."""
    directory = tmp_path / "state"
    try:
        yield directory
    finally:
        devnode("down", "--state-dir", str(directory))
        if not lifecycle.node_running(directory):
            lifecycle.end_orphans(directory)
        info = read_info(directory) or {}
        assert not any(alive(info.get(key)) for key in ("pid", "anvil_pid", "backend_pid"))


def up(state: Path, *extra: str) -> dict:
    started = devnode("up", "--state-dir", str(state), "--port", "0", "--anvil-port", "0",
                      "--backend", shlex.join(FAKE_BACKEND), *extra)
    assert started.returncode == 0, started.stderr
    return json.loads(started.stdout)


def test_up_info_down_and_a_kill_9_of_the_node_loses_nothing(state):
    info = up(state)
    assert {"rpc_url", "chain_id", "reader_url", "inspect_url", "addresses"} <= info.keys()
    assert {"InputBox", "ERC20Portal", "EtherPortal", "Application", "Authority", "Token"} <= info["addresses"].keys()
    shown = json.loads(devnode("info", "--json", "--state-dir", str(state)).stdout)
    assert shown["running"] is True and shown["pid"] == info["pid"]

    again = devnode("up", "--state-dir", str(state), "--port", "0", "--anvil-port", "0")
    assert again.returncode == 1 and "already running" in again.stderr

    w3 = Web3(Web3.HTTPProvider(info["rpc_url"]))
    deployment = Deployment.from_dict(json.loads((state / DEPLOYMENT).read_text()))
    app = info["addresses"]["Application"]
    chain.add_input(w3, deployment, user(), b"kept")
    wait_processed(info["reader_url"], app, 1)

    os.kill(info["pid"], signal.SIGKILL)  # anvil and the backend are left running: the next start ends them
    restarted = up(state)
    assert restarted["pid"] != info["pid"] and not alive(info["backend_pid"]) and not alive(info["anvil_pid"])
    assert processed(restarted["reader_url"], app) == 1
    assert notice_payloads(restarted["reader_url"], app) == [(0).to_bytes(8, "big") + b"kept"]

    stopped = devnode("down", "--state-dir", str(state))
    assert stopped.returncode == 0
    assert not alive(restarted["pid"]) and not alive(restarted["anvil_pid"]) and not alive(restarted["backend_pid"])
    assert json.loads(devnode("info", "--json", "--state-dir", str(state)).stdout)["running"] is False


def test_a_taken_port_is_a_clear_error(state):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = devnode("run", "--state-dir", str(state), "--port", str(port), "--anvil-port", "0",
                         "--backend", shlex.join(FAKE_BACKEND))
    assert result.returncode == 1
    assert f"port {port}" in result.stderr and "already in use" in result.stderr


def test_info_without_a_node_says_so(tmp_path):
    result = devnode("info", "--state-dir", str(tmp_path / "nothing"))
    assert result.returncode == 1 and "no node has run" in result.stderr
