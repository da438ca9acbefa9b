"""The local node with ``--contracts 2.0.0-rc.14``: the Rollups release the real ``@cartesi/cli@2.0.0-alpha.2``
hard-wires. Its contracts land at the CLI's addresses (read from the CLI's own ``dist/contracts.js``), its
``cartesi send generic`` and ``send erc20`` reach the real backend (answers read through the reader), a
withdrawal voucher executes on chain through the mlmarket client with the reader's proof, the client
names rc.14's ``ClaimNotAccepted`` for a bad proof, and a restarted node finds its claims on chain
(rc.14's ``ClaimAcceptance`` events) instead of submitting them again."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import eth_abi
import pytest
from click.testing import CliRunner
from eth_hash.auto import keccak
from mlmarket.cli.main import cli
from mlmarket.client.accounts import DEV_MNEMONIC
from mlmarket.client.chain import InputRequest
from mlmarket.client.errors import TransactionFailed
from mlmarket.client.market import Market
from mlmarket.client.outputs import DecodedVoucher
from mlmarket.client.tx import send

from dapp.codec.abi import inputs, notices
from dapp.codec.releases import RC_14
from devnode import chain
from devnode.anvil import repo_root
from devnode.lifecycle import DEFAULT_BACKEND
from devnode.node import Node, NodeConfig

from devnode_harness import deployment_of, rpc, user, w3_of

pytestmark = pytest.mark.e2e

CLI_DIR = repo_root() / "node_modules" / "cartesi-cli-2"
RELEASE = "2.0.0-rc.14"
SENDER = 5
NOTICE = bytes.fromhex("c258d6e5")  # Notice(bytes)
APPROVE = [{"type": "function", "name": "approve", "stateMutability": "nonpayable",
            "inputs": [{"name": "s", "type": "address"}, {"name": "a", "type": "uint256"}],
            "outputs": [{"name": "", "type": "bool"}]}]

needs_cli = pytest.mark.skipif(not CLI_DIR.is_dir(), reason="npm install puts @cartesi/cli 2.0.0-alpha.2 in "
                               "node_modules/cartesi-cli-2")


def cli_binary() -> Path:
    """The 2.x CLI's executable, by its package's ``bin`` (``node_modules/.bin/cartesi`` may be 1.5.0's)."""
    return CLI_DIR / json.loads((CLI_DIR / "package.json").read_text())["bin"]["cartesi"]


def cli_addresses() -> dict[str, str]:
    """Contract name -> address, as the CLI hard-wires them (``export const inputBoxAddress = '0x…'``)."""
    text = (CLI_DIR / "dist" / "contracts.js").read_text()
    found = dict(re.findall(r"export const (\w+)Address = '(0x[0-9a-fA-F]{40})'", text))
    names = {name.lower(): name for name in RC_14.addresses}
    return {names[key.lower()]: address for key, address in found.items() if key.lower() in names}


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    state = tmp_path_factory.mktemp("rc14-devnode")
    started = Node(NodeConfig(state_dir=state, port=0, anvil_port=0, backend=DEFAULT_BACKEND,
                              contracts=RELEASE)).start()
    try:
        yield started
    finally:
        started.stop()


def cartesi_send(node: Node, *args: str) -> subprocess.CompletedProcess:
    """``cartesi send …`` of CLI 2.0.0-alpha.2, non-interactive: chain, RPC URL, application and account
    given as flags (``--mnemonic-passphrase`` takes the mnemonic itself in this release too)."""
    command = [str(cli_binary()), "send", *args, "--chain-id", "31337", "--rpc-url", node.rpc_url,
               "--dapp", deployment_of(node).application, "--mnemonic-passphrase", DEV_MNEMONIC,
               "--mnemonic-index", str(SENDER)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                          cwd=Path(node.store.dir))


def wait_inputs(node: Node, count: int, timeout: float = 60.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while len(node.store.inputs) < count:
        assert node.failure is None, node.failure
        assert time.monotonic() < deadline, f"{len(node.store.inputs)} of {count} inputs processed"
        time.sleep(0.05)


def reader_notices(node: Node, input_index: int) -> list[tuple[str, tuple]]:
    """The notices of an input, read through the reader and decoded with the protocol's codec."""
    found = []
    for output in rpc(node.info()["reader_url"], "cartesi_listOutputs", application=deployment_of(node).application,
                      input_index=hex(input_index))["data"]:
        raw = bytes.fromhex(output["raw_data"][2:])
        if raw[:4] == NOTICE:
            function, args = notices().decode(eth_abi.decode(["bytes"], raw[4:])[0])
            found.append((function.name, tuple(a.lower() if isinstance(a, str) else a for a in args)))
    return found


def market(node: Node) -> Market:
    """The mlmarket client of account ``SENDER``, configured from the node's ``node.json`` alone."""
    return Market.connect(account=SENDER, environ={"MLMARKET_DEVNODE_DIR": str(node.config.state_dir)},
                          wait_timeout=60.0)


@needs_cli
def test_every_contract_is_where_the_cli_sends(node: Node) -> None:
    wired = cli_addresses()
    assert set(wired) == set(RC_14.addresses) and wired == dict(RC_14.addresses)
    info = node.info()
    assert info["contracts"] == RELEASE
    assert {name: info["addresses"][name] for name in wired} == wired
    w3 = w3_of(node)
    assert all(w3.eth.get_code(address) for address in wired.values())
    env = {"MLMARKET_DEVNODE_DIR": str(node.config.state_dir), "MLMARKET_RPC_URL": "", "MLMARKET_NODE_URL": "",
           "MLMARKET_APP": "", "MLMARKET_ROLLUPS": ""}
    shown = CliRunner().invoke(cli, ["node", "info", "--json"], env=env)
    assert shown.exit_code == 0, shown.output
    addresses = json.loads(shown.stdout)["addresses"]
    assert addresses["InputBox"] == wired["InputBox"] and addresses["ERC20Portal"] == wired["ERC20Portal"]


@needs_cli
def test_cartesi_cli_2_send_generic_and_erc20_reach_the_backend(node: Node) -> None:
    w3, deployment, sender = w3_of(node), deployment_of(node), user(SENDER)
    start = len(node.store.inputs)
    done = cartesi_send(node, "generic", "--input", "0x" + inputs().encode("withdraw", deployment.token, 1).hex())
    assert done.returncode == 0, done.stdout + done.stderr
    token = w3.eth.contract(address=deployment.token, abi=APPROVE)
    send(w3, sender, token.functions.approve(RC_14.addresses["ERC20Portal"], 3 * 10**18))  # the CLI does not
    done = cartesi_send(node, "erc20", "--token", deployment.token, "--amount", "3")
    assert done.returncode == 0, done.stdout + done.stderr
    wait_inputs(node, start + 2)
    generic, deposit = node.store.inputs[start:start + 2]
    assert generic.metadata["msg_sender"] == sender.address.lower()
    reports = rpc(node.info()["reader_url"], "cartesi_listReports", application=deployment.application,
                  input_index=hex(generic.index))["data"]
    assert generic.status == "REJECTED"  # nothing to withdraw yet: the backend said why
    assert any(b"insufficient_balance" in bytes.fromhex(r["raw_data"][2:]) for r in reports)
    assert deposit.metadata["msg_sender"] == RC_14.addresses["ERC20Portal"].lower()
    assert reader_notices(node, deposit.index) == [
        ("Deposited", (deployment.token.lower(), sender.address.lower(), 3 * 10**18))]


@needs_cli
def test_a_withdrawal_voucher_executes_through_the_client_and_a_bad_proof_is_named(node: Node) -> None:
    w3, deployment, client = w3_of(node), deployment_of(node), market(node)
    assert client.config.contracts == RELEASE and client.config.address("InputBox") == RC_14.addresses["InputBox"]
    balance = chain.erc20_balance(w3, deployment.token, client.account)
    withdrawn = client.send(InputRequest(inputs().encode("withdraw", deployment.token, 2 * 10**18)))
    (voucher,) = [o for o in client.outputs()
                  if isinstance(o, DecodedVoucher) and o.input_index == withdrawn.ref.index]
    ready = client.wait_executable(voucher.index)
    wrong = [keccak(b"not a sibling")] + list(ready.siblings[1:])
    with pytest.raises(TransactionFailed) as refused:
        client.chain.execute_output(ready.raw, ready.index, wrong)
    assert refused.value.error == "ClaimNotAccepted(bytes32)"
    _, tx = client.execute(voucher.index)
    assert chain.was_output_executed(w3, deployment, voucher.index)
    assert chain.erc20_balance(w3, deployment.token, client.account) == balance + 2 * 10**18
    assert tx.tx_hash.startswith("0x")


@needs_cli
def test_a_restarted_node_finds_its_claims_on_chain(node: Node) -> None:
    w3, deployment = w3_of(node), deployment_of(node)
    node.close_epoch()
    claims, recorded = chain.accepted_claims(w3, deployment), list(node.store.claims)
    assert claims and len(claims) == len(recorded)
    assert [c.root for c in claims] == [r.root for r in recorded]
    node.stop()
    again = Node(node.config).start()
    try:
        moved = again.deployment
        assert moved is not None and again.info()["contracts"] == RELEASE and moved.addresses == deployment.addresses
        assert (moved.block_number, moved.input_box_block) == (deployment.block_number, deployment.input_box_block)
        summary = again.close_epoch()
        assert summary["unclaimed_epochs"] == [] and set(summary["claimed_epochs"]) == {r.epoch_index
                                                                                         for r in recorded}
        assert chain.accepted_claims(w3_of(again), deployment) == claims  # nothing submitted again
        assert list(again.store.claims) == recorded
    finally:
        again.stop()
