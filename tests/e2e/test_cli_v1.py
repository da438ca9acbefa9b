"""The mlmarket CLI on the local node in Rollups v1 mode: the README flow (a threshold job, a submission,
its reward credited, withdrawn and the voucher executed on chain) through the GraphQL reader, v1
inspect and ``CartesiDApp.executeVoucher``, with no option telling the CLI which protocol the node runs (it reads
``rollups: 1`` from ``node.json``). On-chain effects are read with web3 directly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from mlmarket.cli.main import cli
from web3 import Web3

from dapp.codec.cid import cid_of, cid_to_text
from dapp.codec.releases import V1_4, V2_2_0
from devnode.anvil import dev_accounts
from devnode.lifecycle import DEFAULT_BACKEND
from devnode.node import Node
from tests.e2e.devnode_harness import address, mlmarket, node_fixture, send_signed, spec_file

pytestmark = pytest.mark.e2e

CONTRIBUTOR = 1
REWARD = 10 * 10**18
BALANCE_OF = [{"type": "function", "name": "balanceOf", "stateMutability": "view",
               "inputs": [{"name": "a", "type": "address"}], "outputs": [{"name": "", "type": "uint256"}]}]

node = node_fixture("v1-devnode", auto_mine=False, rollups=1, backend=DEFAULT_BACKEND)


def test_the_node_serves_the_v1_reader(node: Node) -> None:
    base = node.info()["node_url"]
    answer = requests.post(base + "/graphql", json={"query": "{ inputs { totalCount } }"}, timeout=30).json()
    assert answer == {"data": {"inputs": {"totalCount": 0}}}
    info = mlmarket(node, "node", "info")
    assert info["rollups"] == 1 and info["addresses"]["InputBox"] == V1_4.addresses["InputBox"]


def test_a_v1_node_given_by_url_needs_rollups_1(node: Node) -> None:
    """A remote v1 node (no node.json): ``--rollups 1`` selects the GraphQL reader and v1 addresses."""
    info = node.info()
    remote = ["node", "info", "--rpc", info["rpc_url"], "--node", info["node_url"],
              "--app", info["addresses"]["Application"]]
    env = {"MLMARKET_DEVNODE_DIR": str(node.config.state_dir / "absent"), "MLMARKET_ROLLUPS": ""}
    result = CliRunner().invoke(cli, [*remote, "--rollups", "1", "--json"], env=env)
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["rollups"] == 1 and shown["addresses"]["InputBox"] == V1_4.addresses["InputBox"]
    count = requests.post(info["node_url"] + "/graphql", json={"query": "{ inputs { totalCount } }"},
                          timeout=30).json()["data"]["inputs"]["totalCount"]
    assert shown["processed_inputs"] == count
    plain = json.loads(CliRunner().invoke(cli, [*remote, "--json"], env=env).stdout)
    assert plain["rollups"] == 2 and plain["addresses"]["InputBox"] == V2_2_0.addresses["InputBox"]
    bad = CliRunner().invoke(cli, [*remote, "--rollups", "3"], env=env)
    assert bad.exit_code != 0 and "--rollups" in bad.output


def test_readme_flow_pays_the_contributor_through_execute_voucher(node: Node, w3: Web3,
                                                                 files: dict[str, Path], tmp_path: Path) -> None:
    token = w3.eth.contract(address=node.info()["addresses"]["Token"], abi=BALANCE_OF)
    validation = mlmarket(node, "put", str(files["valid"]))["cid"]
    assert validation == cid_to_text(cid_of(files["valid"].read_bytes()))
    created = mlmarket(node, "job", "create", str(spec_file(tmp_path, validation)), "--reward", "30")
    assert [n["name"] for n in created["notices"]] == ["Deposited", "JobCreated"]
    shown = mlmarket(node, "job", "show", str(created["job"]))  # through v1 inspect
    assert shown["job"]["id"] == created["job"] and shown["submissions"] == []

    submitted = mlmarket(node, "submit", str(created["job"]), "--model", str(files["model"]), "--data",
                         str(files["train"]), account=CONTRIBUTOR)
    scored = next(n["args"] for n in submitted["notices"] if n["name"] == "SubmissionScored")
    assert scored["accepted"] is True
    assert submitted["vouchers"] == []  # the reward is credited to the contributor's dApp balance
    assert mlmarket(node, "balance", account=CONTRIBUTOR)["dapp"] == {token.address.lower(): str(REWARD)}
    (withdrawn,) = mlmarket(node, "withdraw", "--all", account=CONTRIBUTOR)["withdrawn"]  # one voucher for it
    (voucher,) = withdrawn["vouchers"]
    assert voucher["call"]["function"] == "transfer" and voucher["call"]["to"] == address(CONTRIBUTOR).lower()
    assert voucher["call"]["amount"] == str(REWARD)
    listed = mlmarket(node, "outputs", "--input", str(voucher["input_index"]))
    assert [o["state"] for o in listed if o["type"] == "voucher"] == ["waiting for claim"]

    before = token.functions.balanceOf(address(CONTRIBUTOR)).call()
    executed = mlmarket(node, "execute", str(voucher["index"]), account=CONTRIBUTOR)
    assert executed["executed"][0]["state"] == "executed"
    assert token.functions.balanceOf(address(CONTRIBUTOR)).call() - before == REWARD
    again = mlmarket(node, "execute", str(voucher["index"]), account=CONTRIBUTOR, ok=False)
    assert "VoucherReexecutionNotAllowed" in again["error"]
    assert token.functions.balanceOf(address(CONTRIBUTOR)).call() - before == REWARD
    states = {o["index"]: o["state"] for o in mlmarket(node, "outputs", "--vouchers")}
    assert states[voucher["index"]] == "executed"


def test_the_console_wallet_path_deposits_and_executes_a_withdrawal_on_v1(node: Node, w3: Web3) -> None:
    """The console's browser-wallet path: the library prepares, the wallet (here eth-account) signs."""
    from mlmarket.client import actions
    from mlmarket.client.market import Market

    wallet = dev_accounts(4)[3]
    market = Market.connect(read_only=True, environ={"MLMARKET_DEVNODE_DIR": str(node.config.state_dir)})
    token = market.config.address("Token")
    deposit = actions.deposit(token, 5 * 10**18)
    receipt = send_signed(w3, wallet, market.chain.prepare_input(deposit, wallet.address))
    deposited = market.reader.wait_for_input(market.chain.input_index(receipt["transactionHash"].to_0x_hex()))
    assert deposited.first("Deposited")["account"] == wallet.address.lower()
    receipt = send_signed(w3, wallet, market.chain.prepare_input(actions.withdraw(token, 2 * 10**18),
                                                                 wallet.address))
    withdrawn = market.reader.wait_for_input(market.chain.input_index(receipt["transactionHash"].to_0x_hex()))
    (voucher,) = withdrawn.vouchers
    assert voucher.beneficiary == wallet.address.lower()

    ready = market.wait_executable(voucher.index)  # forces the claim on the local node
    assert ready.state == "executable" and ready.siblings == ()
    balance = w3.eth.contract(address=token, abi=BALANCE_OF).functions.balanceOf(wallet.address)
    before = balance.call()
    call = market.chain.execute_output_call(ready.raw, ready.index, ready.siblings)
    send_signed(w3, wallet, [market.chain.prepare(call, wallet.address)])
    assert balance.call() - before == 2 * 10**18
    assert market.voucher(voucher.index).state == "executed"
