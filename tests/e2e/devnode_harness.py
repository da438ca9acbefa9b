"""Helpers of the devnode end-to-end tests: a node on a real anvil with the fake backend, and reader calls;
for the CLI and console tests, a module's started node, the example files, and the mlmarket CLI run
in-process against a node."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner, Result
from mlmarket.cli.main import cli
from web3 import Web3

from devnode.contracts import abi_of
from devnode.anvil import dev_accounts
from devnode.deploy import Deployment
from devnode.node import Node, NodeConfig
from scripts.demo import breast_cancer_csvs

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


def node_fixture(name: str = "devnode", **config: Any) -> Any:
    """A module-scoped fixture ``node``: a node on a fresh anvil (free ports, state in a new directory
    ``name``) with ``config`` (e.g. ``auto_mine=False``), stopped after the module.
    Use: ``node = node_fixture(auto_mine=False)``."""

    @pytest.fixture(scope="module", name="node")
    def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
        state = tmp_path_factory.mktemp(name)
        started = Node(NodeConfig(state_dir=state, port=0, anvil_port=0, **config)).start()
        try:
            yield started
        finally:
            started.stop()

    return node


def example_files(directory: Path) -> dict[str, Path]:
    """Writes into ``directory`` the breast-cancer ``train`` and ``valid`` CSVs (label column ``label``)
    and ``model``, a LogisticRegression spec; their paths by those names."""
    model = directory / "model.json"
    model.write_text(json.dumps({"estimator": "LogisticRegression", "params": {"max_iter": 1000}}))
    return {**breast_cancer_csvs(directory), "model": model}


def spec_file(directory: Path, validation: str, **extra: Any) -> Path:
    """A threshold classification job spec on ``validation`` (``extra`` overrides), in a new file."""
    spec = {"title": "breast cancer", "policy": "threshold", "task": "classification", "label": "label",
            "metric": "accuracy", "validation_cid": validation, "min_score": 0.8, "reward_per_accept": 10,
            "deadline": "+3600", **extra}
    path = directory / f"spec-{len(list(directory.iterdir()))}.json"
    path.write_text(json.dumps(spec))
    return path


def cli_state_dir(node: Node) -> Path:
    """Where ``mlmarket`` keeps its state files (``submissions/``) in these tests."""
    return node.config.state_dir / "client-state"


def cli_env(node: Node) -> dict[str, str]:
    """The environment that points ``mlmarket`` at ``node`` through its ``node.json`` alone (any
    MLMARKET_* setting of the caller's shell cleared)."""
    cleared = ("MLMARKET_RPC_URL", "MLMARKET_NODE_URL", "MLMARKET_APP", "MLMARKET_ROLLUPS",
               "MLMARKET_PRIVATE_KEY")
    return {"MLMARKET_DEVNODE_DIR": str(node.config.state_dir), **dict.fromkeys(cleared, ""),
            "MLMARKET_STATE_DIR": str(cli_state_dir(node))}


def run_mlmarket(node: Node, *args: str, account: int = 0, as_json: bool = True) -> Result:
    """Runs ``mlmarket ARGS [--json] --account N`` in-process against ``node``; an exception other than
    the command's exit is raised again."""
    flags = ["--json"] if as_json else []
    result = CliRunner().invoke(cli, [*args, *flags, "--account", str(account)], env=cli_env(node))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def mlmarket(node: Node, *args: str, account: int = 0, ok: bool = True) -> Any:
    """Runs ``mlmarket ARGS --json --account N`` against ``node``, checks it succeeded (or failed, with
    ``ok=False``); the parsed JSON."""
    result = run_mlmarket(node, *args, account=account)
    assert (result.exit_code == 0) == ok, result.output
    return json.loads(result.stdout)


def address(n: int) -> str:
    """Dev account ``n``'s address."""
    return user(n).address


def token_balance(w3: Web3, node: Node, owner: str) -> int:
    """``owner``'s wallet balance of the node's test token, read from the contract."""
    token = w3.eth.contract(address=node.info()["addresses"]["Token"], abi=abi_of("TestToken"))
    return token.functions.balanceOf(owner).call()


def pass_time(w3: Web3, seconds: int) -> None:
    """Moves anvil's clock ``seconds`` ahead and mines a block at the new time."""
    w3.provider.make_request("evm_increaseTime", [seconds])
    w3.provider.make_request("evm_mine", [])


def send_signed(w3: Web3, wallet: Any, txs: list[dict[str, Any]], gas: int = 500_000) -> Any:
    """Signs and sends prepared transactions in order, as a browser wallet would (``gas`` where a
    transaction does not say); checks each succeeded; the last receipt."""
    nonce, receipt = w3.eth.get_transaction_count(wallet.address), None
    for offset, tx in enumerate(txs):
        tx = {**tx, "nonce": nonce + offset}
        tx.setdefault("gas", gas)
        receipt = w3.eth.wait_for_transaction_receipt(
            w3.eth.send_raw_transaction(wallet.sign_transaction(tx).raw_transaction))
        assert receipt["status"] == 1
    return receipt
