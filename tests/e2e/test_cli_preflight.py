"""``mlmarket job create`` and ``mlmarket submit`` ask the machine first (inspect ``preflight/…``) on a
real local node with the real backend: each bad input is refused with every problem and its fix,
exit status 5, and no transaction (the account's nonce, its token balance and the application's
InputBox inputs are unchanged); a good one then goes through."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mlmarket.cli.preflight import PREFLIGHT_REFUSED
from web3 import Web3

from devnode.contracts import abi_of
from devnode.node import Node
from tests.e2e.devnode_harness import (
    address, cli_state_dir, example_files, mlmarket, node_fixture, run_mlmarket, spec_file)

pytestmark = pytest.mark.e2e

SPONSOR, CONTRIBUTOR = 0, 1
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4

node = node_fixture(auto_mine=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("files")
    png = directory / "plot.png"
    png.write_bytes(PNG)
    return {**example_files(directory), "png": png}


def footprint(node: Node, w3: Web3, account: int) -> tuple[int, int, int]:
    """What a sent input would change: the account's nonce and test-token balance, the application's
    number of inputs in the InputBox."""
    owner = address(account)
    addresses = node.info()["addresses"]
    token = w3.eth.contract(address=addresses["Token"], abi=abi_of("TestToken"))
    box = w3.eth.contract(address=addresses["InputBox"], abi=abi_of("InputBox"))
    return (w3.eth.get_transaction_count(owner, "pending"), token.functions.balanceOf(owner).call(),
            box.functions.getNumberOfInputs(addresses["Application"]).call())


def refused(node: Node, w3: Web3, *args: str, account: int = SPONSOR) -> tuple[list[dict[str, Any]], str]:
    """Runs a command the pre-flight must refuse; checks nothing was sent; (problems, stderr)."""
    before = footprint(node, w3, account)
    result = run_mlmarket(node, *args, account=account)
    assert result.exit_code == PREFLIGHT_REFUSED, result.output
    assert footprint(node, w3, account) == before
    answer = json.loads(result.stdout)
    assert answer["ok"] is False
    problems = answer["preflight"]["problems"]
    for problem in problems:  # each one printed with its fix
        assert problem["message"] in result.stderr and problem["fix"] in result.stderr
    return problems, result.stderr


def test_job_create_refusals_list_every_problem_and_send_nothing(node: Node, w3: Web3, files: dict[str, Path],
                                                                 tmp_path: Path) -> None:
    validation = mlmarket(node, "put", str(files["valid"]))["cid"]
    png = mlmarket(node, "put", str(files["png"]))["cid"]

    problems, _ = refused(node, w3, "job", "create", str(spec_file(tmp_path, validation, label="y",
                                                                   reward_per_accept=0, reveal_window=600)),
                          "--reward", "30")
    assert [p["code"] for p in problems] == ["bad_spec", "bad_spec", "dataset_missing_label"]
    assert {p["field"] for p in problems[:2]} == {"reward_per_accept", "reveal_window"}
    assert "'y'" in problems[2]["message"] and "label" in problems[2]["message"]

    problems, stderr = refused(node, w3, "job", "create", str(spec_file(tmp_path, png)), "--reward", "30")
    assert [p["code"] for p in problems] == ["dataset_not_utf8"]
    assert "not CSV (PNG header)" in stderr

    problems, _ = refused(node, w3, "job", "create", str(spec_file(tmp_path, validation)), "--reward", "30",
                          "--from-balance")
    assert [p["code"] for p in problems] == ["insufficient_balance"]

    created = mlmarket(node, "job", "create", str(spec_file(tmp_path, validation)), "--reward", "30")
    assert isinstance(created["job"], int)


def test_submit_refusals_list_every_problem_and_send_nothing(node: Node, w3: Web3, files: dict[str, Path],
                                                             tmp_path: Path) -> None:
    validation = mlmarket(node, "put", str(files["valid"]))["cid"]
    spec = spec_file(tmp_path, validation, stake=2)
    job = mlmarket(node, "job", "create", str(spec), "--reward", "30")["job"]
    seeded = tmp_path / "seeded.json"
    seeded.write_text(json.dumps({"estimator": "DecisionTreeClassifier", "params": {"random_state": 1}}))
    unbounded = tmp_path / "unbounded.json"
    unbounded.write_text(json.dumps({"estimator": "RandomForestClassifier", "params": {}}))

    train = str(files["train"])
    problems, stderr = refused(node, w3, "submit", str(job), "--model", str(seeded), "--data", train,
                               "--stake", "0", account=CONTRIBUTOR)
    assert [p["code"] for p in problems] == ["insufficient_balance", "param_not_allowed", "param_required"]
    assert "needs 2000000000000000000" in problems[0]["message"] and "--stake" in problems[0]["fix"]
    assert "random_state" in problems[1]["message"] and "cannot be set" in stderr
    assert "max_depth" in problems[2]["message"] and "is required" in stderr

    problems, _ = refused(node, w3, "submit", str(job), "--model", str(unbounded), "--data", train,
                          account=CONTRIBUTOR)
    assert [p["code"] for p in problems] == ["param_required"] and "max_depth" in problems[0]["message"]
    state = cli_state_dir(node) / "submissions"
    assert not state.is_dir() or not list(state.glob("*.json"))  # a refused submission keeps no state

    done = mlmarket(node, "submit", str(job), "--model", str(files["model"]), "--data", train,
                    account=CONTRIBUTOR)
    assert done["ok"] is True
