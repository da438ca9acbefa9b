"""The local node in Rollups v1 mode with the real backend: the v1 contracts at their canonical addresses,
inputs through the v1 InputBox and ERC20Portal (from web3 and from the real ``@cartesi/cli@1.5.0``), v1
metadata for the backend, History claims, and a withdrawal voucher executed on chain with
``CartesiDApp.executeVoucher`` and the proof of ``devnode.v1.proofs.output_proof``."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import eth_abi
import pytest
import requests
from eth_hash.auto import keccak
from web3 import Web3

from dapp.codec.abi import inputs, notices
from devnode.anvil import repo_root
from devnode.lifecycle import DEFAULT_BACKEND
from mlmarket.client.accounts import DEV_MNEMONIC
from mlmarket.client.tx import TransactionFailed, send
from devnode.v1 import inputs as v1_inputs
from devnode.v1.contracts import contract_at
from devnode.v1.proofs import output_proof

from devnode_harness import deployment_of, start_node, user, w3_of

pytestmark = pytest.mark.e2e

CLI = repo_root() / "node_modules" / "cartesi-cli-1" / "bin" / "run.js"  # @cartesi/cli 1.5.0 (.bin/cartesi may be 2.x)
ZERO_ADDRESS = "0x" + "00" * 20
# CARTESI-FACTS §4 (v1.4) and the @cartesi/rollups 1.4.3 Sepolia records
CANONICAL = {"InputBox": "0x59b22D57D4f067708AB0c00552767405926dc768",
             "EtherPortal": "0xFfdbe43d4c855BF7e0f105c400A50857f53AB044",
             "ERC20Portal": "0x9C21AEb2093C32DDbC53eEF24B873BDCd1aDa1DB",
             "DAppAddressRelay": "0xF5DE34d6BbC0446E2a45719E718efEbaaE179daE"}


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    base = tmp_path_factory.mktemp("v1node")
    running = start_node(base / "state", base, backend=DEFAULT_BACKEND, rollups=1, epoch_length=4,
                         auto_mine=False)
    yield running
    running.stop()


def wait_inputs(node, count: int, timeout: float = 60.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while len(node.store.inputs) < count:
        assert node.failure is None, node.failure
        assert time.monotonic() < deadline, f"{len(node.store.inputs)} of {count} inputs processed"
        time.sleep(0.05)


def decoded_notices(record) -> list[tuple[str, tuple]]:
    found = []
    for output in record.outputs:
        if output[:4] == bytes.fromhex("c258d6e5"):  # Notice(bytes) as the node records it
            (payload,) = eth_abi.decode(["bytes"], output[4:])
            function, args = notices().decode(payload)
            found.append((function.name, tuple(a.lower() if isinstance(a, str) else a for a in args)))
    return found


def test_node_json_names_the_v1_contracts(node):
    info = node.info()
    assert info["rollups"] == 1
    for name, address in CANONICAL.items():
        assert info["addresses"][name] == address
    w3 = w3_of(node)
    for name in ("Application", "Authority", "History", "Token", *CANONICAL):
        assert w3.eth.get_code(info["addresses"][name]), name
    app = contract_at(w3, "CartesiDApp", info["addresses"]["Application"])
    assert app.functions.getConsensus().call() == info["addresses"]["Authority"]


def test_inputs_reach_the_backend_and_a_withdrawal_voucher_executes_once(node):
    w3, deployment, alice = w3_of(node), deployment_of(node), user(2)
    data = b"v1 content " * 40
    cid = bytes.fromhex("01551220") + hashlib.sha256(data).digest()
    upload = inputs().encode("uploadChunk", cid, len(data), 0, False, data)
    first = v1_inputs.add_input(w3, deployment, alice, upload)
    deposit = v1_inputs.deposit_erc20(w3, deployment, alice, 7)
    withdraw = v1_inputs.add_input(w3, deployment, alice, inputs().encode("withdraw", deployment.token, 4))
    wait_inputs(node, withdraw + 1)
    records = node.store.inputs

    metadata = records[first].metadata
    assert set(metadata) == {"msg_sender", "epoch_index", "input_index", "block_number", "timestamp"}
    assert metadata["msg_sender"] == alice.address.lower() and metadata["input_index"] == first
    assert metadata["timestamp"] == w3.eth.get_block(metadata["block_number"])["timestamp"]
    assert decoded_notices(records[first]) == [("ContentStored", (cid, len(data), alice.address.lower()))]
    assert records[deposit].metadata["msg_sender"] == CANONICAL["ERC20Portal"].lower()
    token, holder = deployment.token.lower(), alice.address.lower()
    assert decoded_notices(records[deposit]) == [("Deposited", (token, holder, 7))]
    assert decoded_notices(records[withdraw]) == [("Withdrawn", (token, holder, 4))]

    assert output_proof("voucher", withdraw, 0, inputs=records, claims=node.store.claims) is None
    node.close_epoch()
    claims = node.store.claims
    proof = output_proof("voucher", withdraw, 0, inputs=node.store.inputs, claims=claims)
    assert proof is not None

    query = ("query($i: Int!) { voucher(voucherIndex: 0, inputIndex: $i) { destination payload proof { context "
             "validity { inputIndexWithinEpoch outputIndexWithinInput outputHashesRootHash vouchersEpochRootHash "
             "noticesEpochRootHash machineStateHash outputHashInOutputHashesSiblings outputHashesInEpochSiblings }"
             " } } }")
    answer = requests.post(node.info()["graphql_url"], json={"query": query, "variables": {"i": withdraw}},
                           timeout=30).json()
    assert answer["data"]["voucher"]["proof"] == proof  # the node's GraphQL serves this proof

    token = w3.eth.contract(address=deployment.token, abi=[{
        "type": "function", "name": "balanceOf", "stateMutability": "view",
        "inputs": [{"name": "a", "type": "address"}], "outputs": [{"name": "", "type": "uint256"}]}])
    app = contract_at(w3, "CartesiDApp", deployment.application)
    payload = inputs_transfer(alice.address, 4)
    before = token.functions.balanceOf(alice.address).call()
    bob = user(4)  # anyone may execute
    send(w3, bob, app.functions.executeVoucher(deployment.token, payload, web3_proof(proof)))
    assert token.functions.balanceOf(alice.address).call() == before + 4
    assert app.functions.wasVoucherExecuted(withdraw, 0).call()
    with pytest.raises(TransactionFailed) as failure:
        send(w3, bob, app.functions.executeVoucher(deployment.token, payload, web3_proof(proof)))
    assert failure.value.data[:4] == keccak(b"VoucherReexecutionNotAllowed()")[:4]

    notice_proof = output_proof("notice", first, 0, inputs=node.store.inputs, claims=claims)
    (content_stored,) = [eth_abi.decode(["bytes"], o[4:])[0] for o in node.store.inputs[first].outputs]
    assert app.functions.validateNotice(content_stored, web3_proof(notice_proof)).call()


def inputs_transfer(to: str, amount: int) -> bytes:
    """``transfer(address,uint256)`` calldata, built independently of the backend."""
    return keccak(b"transfer(address,uint256)")[:4] + eth_abi.encode(["address", "uint256"], [to, amount])


def web3_proof(proof: dict) -> tuple:
    """The GraphQL ``Proof`` as web3 takes ``Proof((uint64,uint64,bytes32×4,bytes32[],bytes32[]), bytes)``."""
    v = proof["validity"]
    as_bytes = lambda text: bytes.fromhex(text[2:])  # noqa: E731
    validity = (v["inputIndexWithinEpoch"], v["outputIndexWithinInput"], as_bytes(v["outputHashesRootHash"]),
                as_bytes(v["vouchersEpochRootHash"]), as_bytes(v["noticesEpochRootHash"]),
                as_bytes(v["machineStateHash"]), [as_bytes(s) for s in v["outputHashInOutputHashesSiblings"]],
                [as_bytes(s) for s in v["outputHashesInEpochSiblings"]])
    return (validity, as_bytes(proof["context"]))


def cartesi_send(node, *args: str) -> subprocess.CompletedProcess:
    """The real Cartesi CLI 1.5.0, non-interactive: chain, RPC URL, dApp and account all given as flags
    (``--mnemonic-passphrase`` takes the mnemonic itself in this release)."""
    command = [str(CLI), "send", *args, "--chain-id", "31337", "--rpc-url", node.rpc_url,
               "--dapp", deployment_of(node).application, "--mnemonic-passphrase", DEV_MNEMONIC,
               "--mnemonic-index", "5"]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                          cwd=Path(node.store.dir))


@pytest.mark.skipif(not CLI.exists(), reason="npm install puts @cartesi/cli 1.5.0 in node_modules")
def test_cartesi_cli_1_send_generic_and_erc20_reach_the_backend(node):
    w3, deployment, carol = w3_of(node), deployment_of(node), user(5)
    start = len(node.store.inputs)
    withdraw = inputs().encode("withdraw", deployment.token, 1)
    done = cartesi_send(node, "generic", "--input", "0x" + withdraw.hex())
    assert done.returncode == 0, done.stdout + done.stderr
    token = w3.eth.contract(address=deployment.token, abi=[{
        "type": "function", "name": "approve", "stateMutability": "nonpayable",
        "inputs": [{"name": "s", "type": "address"}, {"name": "a", "type": "uint256"}],
        "outputs": [{"name": "", "type": "bool"}]}])
    send(w3, carol, token.functions.approve(CANONICAL["ERC20Portal"], 3 * 10**18))
    done = cartesi_send(node, "erc20", "--token", deployment.token, "--amount", "3")
    assert done.returncode == 0, done.stdout + done.stderr
    wait_inputs(node, start + 2)
    generic, deposit = node.store.inputs[start:start + 2]
    assert generic.metadata["msg_sender"] == carol.address.lower()
    assert generic.status == "REJECTED"  # carol has nothing to withdraw yet: the backend refused it
    assert any(b"insufficient_balance" in r for r in generic.reports)
    assert deposit.metadata["msg_sender"] == CANONICAL["ERC20Portal"].lower()
    expected = ("Deposited", (deployment.token.lower(), carol.address.lower(), 3 * 10**18))
    assert decoded_notices(deposit) == [expected]
    assert Web3.to_checksum_address(deposit.metadata["msg_sender"]) == CANONICAL["ERC20Portal"]


@pytest.mark.skipif(not CLI.exists(), reason="npm install puts @cartesi/cli 1.5.0 in node_modules")
def test_ether_through_the_relay_and_the_v1_ether_portal_is_withdrawn_by_withdraw_ether(node):
    w3, deployment, carol, bob = w3_of(node), deployment_of(node), user(5), user(4)
    start = len(node.store.inputs)
    for args in (("dapp-address",), ("ether", "--amount", "1")):
        done = cartesi_send(node, *args)
        assert done.returncode == 0, done.stdout + done.stderr
    amount = 4 * 10**17
    index = v1_inputs.add_input(w3, deployment, carol, inputs().encode("withdraw", ZERO_ADDRESS, amount))
    wait_inputs(node, index + 1)
    relay, deposit = node.store.inputs[start:start + 2]
    assert relay.metadata["msg_sender"] == CANONICAL["DAppAddressRelay"].lower()
    assert relay.payload == bytes.fromhex(deployment.application[2:])
    assert decoded_notices(deposit) == [("Deposited", (ZERO_ADDRESS, carol.address.lower(), 10**18))]
    assert w3.eth.get_balance(deployment.application) == 10**18  # the v1 EtherPortal pays the dApp itself
    node.close_epoch()
    proof = output_proof("voucher", index, 0, inputs=node.store.inputs, claims=node.store.claims)
    payload = keccak(b"withdrawEther(address,uint256)")[:4] + eth_abi.encode(["address", "uint256"],
                                                                             [carol.address, amount])
    before = w3.eth.get_balance(carol.address)
    app = contract_at(w3, "CartesiDApp", deployment.application)
    send(w3, bob, app.functions.executeVoucher(deployment.application, payload, web3_proof(proof)))
    assert w3.eth.get_balance(carol.address) == before + amount
    assert w3.eth.get_balance(deployment.application) == 10**18 - amount

def test_a_restarted_v1_node_replays_and_keeps_its_claims(node):
    deployment = deployment_of(node)
    node.close_epoch()  # claims whatever the CLI test sent
    records, claims = [r.to_json() for r in node.store.inputs], list(node.store.claims)
    executed = dict(node.executions())
    assert claims and executed  # the withdrawal voucher of the earlier test
    state = Path(node.store.dir)
    node.stop()
    again = start_node(state, state.parent, backend=DEFAULT_BACKEND, rollups=1, epoch_length=4,
                       auto_mine=False)  # raises ReplayDivergence if the backend's outputs differ
    try:
        assert deployment_of(again).addresses == deployment.addresses
        assert [r.to_json() for r in again.store.inputs] == records
        assert again.store.claims == claims
        again.close_epoch()
        assert dict(again.executions()) == executed
        w3 = w3_of(again)
        index = v1_inputs.add_input(w3, deployment, user(6), inputs().encode("withdraw", deployment.token, 1))
        wait_inputs(again, index + 1)
        assert again.store.inputs[index].metadata["epoch_index"] == len(claims)  # a new epoch: the next claim
    finally:
        again.stop()
