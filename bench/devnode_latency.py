"""Figures of the local node: start to ready, and input-to-notice latency through the reader API.

Run: ``.venv/bin/python -m bench.devnode_latency [--fake]``. The backend is the real one
(``python -m dapp``) unless ``--fake`` is given or it cannot start, then the test suite's fake backend;
the table says which. The node under test runs as its own process (``python -m devnode up``), as users
run it; the start figures also time ``Node.start`` in this process. The input is an Ether deposit through the EtherPortal (no training): the real
backend answers it with a ``Deposited`` notice, the fake one with its echo notice.
"""

from __future__ import annotations

import json
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
from web3 import Web3

from bench._summary import record
from bench._table import print_table
from devnode import chain
from devnode.anvil import dev_accounts
from devnode.deploy import Deployment
from devnode.lifecycle import DEFAULT_BACKEND
from devnode.node import Node, NodeConfig
from devnode.store import DEPLOYMENT

SAMPLES = 20
STARTS = 3
FAKE_BACKEND = (sys.executable, str(Path(__file__).resolve().parents[1] / "tests/integration/devnode_fake_backend.py"))


def _node(state_dir: Path, backend: tuple[str, ...]) -> Node:
    return Node(NodeConfig(state_dir=state_dir, port=0, anvil_port=0, backend=backend)).start()


def _timed_start(state_dir: Path, backend: tuple[str, ...]) -> float:
    """Seconds for ``Node.start`` in this process (imports done), then stops the node."""
    began = time.perf_counter()
    node = _node(state_dir, backend)
    elapsed = time.perf_counter() - began
    node.stop()
    return elapsed


def _devnode(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "devnode", *args], check=True, capture_output=True, text=True,
                          timeout=300)
    return done.stdout


def _up(state_dir: Path, backend: tuple[str, ...]) -> tuple[float, dict[str, Any]]:
    """Wall-clock seconds of ``python -m devnode up`` (a separate process, as users run it), and its info."""
    began = time.perf_counter()
    out = _devnode("up", "--state-dir", str(state_dir), "--port", "0", "--anvil-port", "0",
                   "--backend", shlex.join(backend))
    return time.perf_counter() - began, json.loads(out)


def _has_notice(session: requests.Session, info: dict[str, Any], index: int) -> bool:
    body = {"jsonrpc": "2.0", "id": 1, "method": "cartesi_listOutputs",
            "params": {"application": info["addresses"]["Application"], "input_index": hex(index)}}
    data = session.post(info["reader_url"], json=body, timeout=30).json()["result"]["data"]
    return any(o["decoded_data"] and o["decoded_data"]["type"] == "Notice" for o in data)


def _latencies(info: dict[str, Any], deployment: Deployment, samples: int) -> list[float]:
    """Seconds from each deposit's receipt to its notice showing in the reader API."""
    w3 = Web3(Web3.HTTPProvider(info["rpc_url"]))
    account, session = dev_accounts(3)[2], requests.Session()
    result = []
    for _ in range(samples):
        sent = chain.deposit_ether(w3, deployment, account, 1)
        received = time.perf_counter()
        while not _has_notice(session, info, sent.index):
            if time.perf_counter() - received > 120:
                raise RuntimeError(f"no notice for input {sent.index}; see {info['logs']['backend']}")
            time.sleep(0.005)
        result.append(time.perf_counter() - received)
    return result


def _measure(scratch: Path, backend: tuple[str, ...]) -> dict[str, Any]:
    fresh = [_timed_start(scratch / f"fresh{n}", backend) for n in range(STARTS)]
    state = scratch / "node"
    up_seconds, info = _up(state, backend)
    try:
        deployment = Deployment.from_dict(json.loads((state / DEPLOYMENT).read_text()))
        latencies = _latencies(info, deployment, SAMPLES)
    finally:
        _devnode("down", "--state-dir", str(state))
    return {"fresh": fresh, "up": up_seconds, "latencies": latencies,
            "replay": _timed_start(state, backend), "replayed": SAMPLES}


def _choose_backend(fake: bool, scratch: Path) -> tuple[str, tuple[str, ...]]:
    if fake:
        return "fake (tests/integration/devnode_fake_backend.py)", FAKE_BACKEND
    state = scratch / "probe"
    try:
        _, info = _up(state, DEFAULT_BACKEND)
        try:
            _latencies(info, Deployment.from_dict(json.loads((state / DEPLOYMENT).read_text())), 1)
        finally:
            _devnode("down", "--state-dir", str(state))
    except Exception as exc:  # noqa: BLE001 -- fall back, and say so in the table
        print(f"real backend unusable ({exc}); using the fake one", file=sys.stderr)
        return "fake (the real backend failed to answer)", FAKE_BACKEND
    return "real (python -m dapp)", DEFAULT_BACKEND


def main(argv: list[str] | None = None) -> None:
    """Prints the table."""
    fake = "--fake" in (sys.argv[1:] if argv is None else argv)
    with tempfile.TemporaryDirectory(prefix="devnode-bench-") as tmp:
        label, backend = _choose_backend(fake, Path(tmp))
        figures = _measure(Path(tmp), backend)
    ms = sorted(x * 1000 for x in figures["latencies"])
    print(f"devnode — backend: {label}; epoch length 10, auto-mine on, "
          f"node poll interval {NodeConfig.poll_interval} s")
    rows = [
        (f"start to ready, fresh state (anvil + deploy), median of {STARTS}", f"{statistics.median(figures['fresh']):.2f} s"),
        (f"restart to ready, replaying {figures['replayed']} recorded inputs", f"{figures['replay']:.2f} s"),
        ("`python -m devnode up` to ready (new process, imports)", f"{figures['up']:.2f} s"),
        (f"addInput receipt -> notice via reader, median of {SAMPLES}", f"{statistics.median(ms):.0f} ms"),
        ("  min / max", f"{ms[0]:.0f} / {ms[-1]:.0f} ms"),
    ]
    print_table([("figure", "value"), *rows])
    record(f"node start to ready, fresh state: in process; `devnode up` ({label.split()[0]} backend)",
           f"{statistics.median(figures['fresh']):.2f} s; {figures['up']:.2f} s")
    record(f"node latency: addInput receipt -> notice via reader, median of {SAMPLES}",
           f"{statistics.median(ms):.0f} ms (min {ms[0]:.0f}, max {ms[-1]:.0f})")


if __name__ == "__main__":
    main()
