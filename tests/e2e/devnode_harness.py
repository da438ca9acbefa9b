"""Helpers of the devnode end-to-end tests: a node on a real anvil with the fake backend, and reader calls."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from web3 import Web3

from devnode.anvil import dev_accounts
from devnode.deploy import Deployment
from devnode.node import Node, NodeConfig

FAKE_BACKEND = (sys.executable, str(Path(__file__).resolve().parents[1] / "integration" / "devnode_fake_backend.py"))


def start_node(state_dir: Path, markers: Path, **overrides: Any) -> Node:
    """A node on a fresh anvil (free ports) running the fake backend unless ``backend`` says otherwise;
    stop it when done."""
    env = {"FAKE_MARKER_DIR": str(markers), **overrides.pop("backend_env", {})}
    backend = overrides.pop("backend", FAKE_BACKEND)
    config = NodeConfig(state_dir=state_dir, port=0, anvil_port=0, backend=backend, backend_env=env, **overrides)
    return Node(config).start()


def w3_of(node: Node) -> Web3:
    return Web3(Web3.HTTPProvider(node.rpc_url, request_kwargs={"timeout": 30}))


def deployment_of(node: Node) -> Deployment:
    assert node.deployment is not None
    return node.deployment


def user(n: int = 1):
    """Dev account ``n`` (the node signs claims with account 9)."""
    return dev_accounts(n + 1)[n]


def rpc(url: str, method: str, **params: Any) -> Any:
    answer = requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, timeout=60)
    data = answer.json()
    assert "error" not in data, data
    return data["result"]


def reader_url(node: Node) -> str:
    return node.info()["reader_url"]


def app_of(node: Node) -> str:
    return deployment_of(node).application


def processed(url: str, app: str) -> int:
    return int(rpc(url, "cartesi_getProcessedInputCount", application=app)["data"], 16)


def wait_for(condition: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def wait_processed(url: str, app: str, count: int, timeout: float = 30.0) -> None:
    wait_for(lambda: processed(url, app) >= count, timeout, f"{count} processed inputs")


def outputs(url: str, app: str) -> list[dict[str, Any]]:
    return rpc(url, "cartesi_listOutputs", application=app, limit=10_000)["data"]


def notice_payloads(url: str, app: str) -> list[bytes]:
    return [bytes.fromhex(o["decoded_data"]["payload"][2:]) for o in outputs(url, app)
            if o["decoded_data"]["type"] == "Notice"]
