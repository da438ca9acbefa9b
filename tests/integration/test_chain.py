"""The chain side of the local node on a real anvil with the real Cartesi v2.2.0 contracts.

These tests need ``make setup`` (anvil from npm, the Cartesi artifacts, the compiled TestToken); they
fail loudly, never skip, when something is missing. One anvil serves the module; every test runs
inside an ``evm_snapshot`` that is reverted afterwards.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import eth_abi
import pytest
from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak
from web3 import Web3
from web3.exceptions import TimeExhausted
from web3.logs import DISCARD

from dapp.codec.releases import V2_2_0
from devnode import chain, merkle
from devnode.anvil import Anvil, AnvilError, dev_accounts, start_anvil
from devnode.contracts import cartesi_artifact_path, contract_at
from devnode.deploy import Deployment, deploy
from mlmarket.client.errors import TransactionFailed
from mlmarket.client.tx import STALL_SECONDS, send, wait_for_receipt

pytestmark = pytest.mark.e2e

EPOCH_LENGTH = 5
# CARTESI-FACTS §2 selectors.
NOTICE = bytes.fromhex("c258d6e5")
VOUCHER = bytes.fromhex("237a816f")
EVM_ADVANCE = bytes.fromhex("415bf363")
TOKEN_UNIT = 10**18


@dataclass(frozen=True)
class Node:
    anvil: Anvil
    w3: Web3
    deployment: Deployment
    accounts: list[LocalAccount]


@pytest.fixture(scope="module")
def node() -> Iterator[Node]:
    anvil = start_anvil()
    try:
        w3 = anvil.web3()
        accounts = dev_accounts(10)
        yield Node(anvil, w3, deploy(w3, accounts[0], epoch_length=EPOCH_LENGTH), accounts)
    finally:
        anvil.stop()


@pytest.fixture(autouse=True)
def isolated(request: pytest.FixtureRequest) -> Iterator[None]:
    if "node" not in request.fixturenames:
        yield
        return
    w3 = request.getfixturevalue("node").w3
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
    try:
        yield
    finally:
        w3.provider.make_request("evm_revert", [snapshot])


def notice(payload: bytes) -> bytes:
    return NOTICE + eth_abi.encode(["bytes"], [payload])


def voucher(destination: str, value: int, payload: bytes) -> bytes:
    return VOUCHER + eth_abi.encode(["address", "uint256", "bytes"], [destination, value, payload])


def erc20_transfer(to: str, amount: int) -> bytes:
    return keccak(b"transfer(address,uint256)")[:4] + eth_abi.encode(["address", "uint256"], [to, amount])


def claim_outputs(node: Node, outputs: list[bytes]) -> merkle.OutputsTree:
    """Closes the current epoch and claims the tree over ``outputs`` as the Authority owner."""
    w3 = node.w3
    epoch = chain.epoch_of(w3.eth.block_number, EPOCH_LENGTH)
    last_block = chain.epoch_last_block(epoch, EPOCH_LENGTH)
    chain.mine_to(w3, last_block + 1)
    tree = merkle.OutputsTree([merkle.leaf_hash(o) for o in outputs])
    chain.submit_claim(w3, node.deployment, node.accounts[0], last_block, tree.root)
    return tree


# ---- sending ----

def test_a_transaction_stranded_on_an_automining_anvil_is_mined_by_hand(node: Node, monkeypatch) -> None:
    """The anvil bug (foundry-rs/foundry#10122): automine is on, yet a ready transaction sits in the
    pool. Reproduced by switching automine off while the node is told it is on."""
    w3, provider = node.w3, node.w3.provider
    real = provider.make_request
    provider.make_request("evm_setAutomine", [False])
    monkeypatch.setattr(provider, "make_request", lambda method, params: (
        {"jsonrpc": "2.0", "id": 0, "result": True} if method == "anvil_getAutomine" else real(method, params)))
    try:
        before, start = w3.eth.block_number, time.monotonic()
        receipt = send(w3, node.accounts[1], {"to": node.accounts[2].address, "data": b""}, value=7)
        waited = time.monotonic() - start
    finally:
        real("evm_setAutomine", [True])
    assert receipt["status"] == 1 and receipt["blockNumber"] == before + 1
    assert STALL_SECONDS <= waited < STALL_SECONDS + 2


def test_a_chain_that_mines_by_interval_is_never_mined_by_hand(node: Node) -> None:
    w3, account = node.w3, node.accounts[1]
    w3.provider.make_request("evm_setAutomine", [False])  # as with --block-time, between two blocks
    try:
        signed = account.sign_transaction({
            "to": node.accounts[2].address, "value": 7, "gas": 21_000, "chainId": w3.eth.chain_id,
            "nonce": w3.eth.get_transaction_count(account.address), "maxFeePerGas": 2 * w3.eth.gas_price,
            "maxPriorityFeePerGas": 0})
        before = w3.eth.block_number
        tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
        with pytest.raises(TimeExhausted):
            wait_for_receipt(w3, tx_hash, timeout=STALL_SECONDS * 2.5)
        assert w3.eth.block_number == before
    finally:
        w3.provider.make_request("evm_setAutomine", [True])


# ---- deployment ----

def test_cartesi_contracts_are_at_their_published_addresses_with_their_code(node: Node) -> None:
    for name, address in V2_2_0.addresses.items():
        assert node.deployment.addresses[name] == address
        expected = json.loads(cartesi_artifact_path(name).read_text())["deployedBytecode"]
        code = bytearray(node.w3.eth.get_code(address))
        for refs in expected.get("immutableReferences", {}).values():  # constructor-set immutables
            for ref in refs:
                code[ref["start"]:ref["start"] + ref["length"]] = bytes(ref["length"])
        assert code.hex() == expected["object"].removeprefix("0x")


def test_application_reads_inputs_from_the_input_box_and_trusts_its_authority(node: Node) -> None:
    d = node.deployment
    app = contract_at(node.w3, "Application", d.application)
    assert app.functions.getDataAvailability().call() == (
        bytes.fromhex("b12c9ede") + eth_abi.encode(["address"], [V2_2_0.addresses["InputBox"]]))
    assert app.functions.getOutputsMerkleRootValidator().call() == d.authority
    assert app.functions.getTemplateHash().call() == keccak(b"mlmarket devnode")
    authority = contract_at(node.w3, "Authority", d.authority)
    assert authority.functions.owner().call() == node.accounts[0].address
    assert authority.functions.getEpochLength().call() == EPOCH_LENGTH


def test_deploying_again_changes_nothing(node: Node) -> None:
    block = node.w3.eth.block_number
    again = deploy(node.w3, node.accounts[0], epoch_length=EPOCH_LENGTH)
    assert again == node.deployment
    assert node.w3.eth.block_number == block
    assert Deployment.from_json(again.to_json()) == again


def test_test_token_prefunds_every_dev_account(node: Node) -> None:
    token = contract_at(node.w3, "TestToken", node.deployment.token)
    for account in node.accounts:
        assert token.functions.balanceOf(account.address).call() == 1_000_000 * TOKEN_UNIT
    assert token.functions.totalSupply().call() == 10 * 1_000_000 * TOKEN_UNIT


# ---- inputs ----

def test_an_added_input_is_seen_with_the_metadata_of_its_block(node: Node) -> None:
    w3, d, sender = node.w3, node.deployment, node.accounts[2]
    watcher = chain.InputWatcher(w3, d)
    sent = chain.add_input(w3, d, sender, b"\x00hello\xff")
    [seen] = watcher.poll()
    block = w3.eth.get_block(sent.receipt["blockNumber"])
    assert seen.index == sent.index == 0
    assert seen.payload == b"\x00hello\xff"
    assert seen.raw[:4] == EVM_ADVANCE
    input_box = contract_at(w3, "InputBox", d.input_box)
    assert input_box.functions.getInputHash(d.application, 0).call() == keccak(seen.raw)
    assert seen.to_rollup_metadata() == {
        "chain_id": 31337,
        "app_contract": d.application.lower(),
        "msg_sender": sender.address.lower(),
        "block_number": block["number"],
        "block_timestamp": block["timestamp"],
        "prev_randao": "0x" + bytes(block["mixHash"]).hex(),
        "input_index": 0,
    }
    assert len(seen.to_rollup_metadata()["prev_randao"]) == 66
    assert seen.to_advance_request()["data"]["payload"] == "0x00" + b"hello".hex() + "ff"


def test_watcher_resumes_without_missing_or_repeating_inputs(node: Node) -> None:
    w3, d, sender = node.w3, node.deployment, node.accounts[1]
    watcher = chain.InputWatcher(w3, d, max_block_range=2)
    for i in range(3):
        chain.add_input(w3, d, sender, bytes([i]))
        chain.mine(w3, 3)
    assert [i.payload for i in watcher.poll()] == [b"\x00", b"\x01", b"\x02"]
    assert watcher.poll() == []
    for i in range(3, 5):
        chain.add_input(w3, d, sender, bytes([i]))
    assert [i.index for i in watcher.poll()] == [3, 4]
    assert watcher.poll(from_block=d.input_box_block) == []  # a re-scan repeats nothing
    resumed = chain.InputWatcher(w3, d, start_block=watcher.next_block, next_index=watcher.next_index)
    chain.add_input(w3, d, sender, b"\x05")
    assert [i.index for i in resumed.poll()] == [5]


def test_watcher_ignores_inputs_for_other_applications(node: Node) -> None:
    w3, d = node.w3, node.deployment
    box = contract_at(w3, "InputBox", d.input_box)
    send(w3, node.accounts[1], box.functions.addInput(node.accounts[9].address, b"elsewhere"))
    chain.add_input(w3, d, node.accounts[1], b"ours")
    assert [i.payload for i in chain.InputWatcher(w3, d).poll()] == [b"ours"]


def test_input_larger_than_the_input_box_limit_reverts_by_name(node: Node) -> None:
    with pytest.raises(TransactionFailed) as failure:
        chain.add_input(node.w3, node.deployment, node.accounts[1], bytes(65_217))
    assert failure.value.error is not None and failure.value.error.startswith("InputTooLarge(")


def test_erc20_deposit_payload_is_token_sender_amount_data(node: Node) -> None:
    w3, d, depositor = node.w3, node.deployment, node.accounts[3]
    sent = chain.deposit_erc20(w3, d, depositor, 1234, exec_layer_data=b"\x01\x02")
    assert len(sent.receipts) == 2  # approve, then deposit
    [seen] = chain.InputWatcher(w3, d).poll()
    assert seen.msg_sender == V2_2_0.addresses["ERC20Portal"]
    assert seen.payload == (bytes.fromhex(d.token[2:]) + bytes.fromhex(depositor.address[2:])
                            + (1234).to_bytes(32, "big") + b"\x01\x02")
    assert chain.erc20_balance(w3, d.token, d.application) == 1234


def test_ether_deposit_payload_is_sender_value_data(node: Node) -> None:
    w3, d, depositor = node.w3, node.deployment, node.accounts[4]
    chain.deposit_ether(w3, d, depositor, 10**17, exec_layer_data=b"job")
    [seen] = chain.InputWatcher(w3, d).poll()
    assert seen.msg_sender == V2_2_0.addresses["EtherPortal"]
    assert seen.payload == bytes.fromhex(depositor.address[2:]) + (10**17).to_bytes(32, "big") + b"job"
    assert w3.eth.get_balance(d.application) == 10**17


# ---- claims and vouchers ----

def test_an_erc20_voucher_pays_once_after_its_claim_and_notices_never_execute(node: Node) -> None:
    w3, d, accounts = node.w3, node.deployment, node.accounts
    token = contract_at(w3, "TestToken", d.token)
    send(w3, accounts[0], token.functions.transfer(d.application, 500 * TOKEN_UNIT))
    recipient, wallet = accounts[5].address, accounts[7]
    outputs = [notice(b"score"), voucher(d.token, 0, erc20_transfer(recipient, 300 * TOKEN_UNIT)),
               notice(b"settled")]
    tree = merkle.OutputsTree([merkle.leaf_hash(o) for o in outputs])
    with pytest.raises(TransactionFailed) as unclaimed:
        chain.execute_output(w3, d, wallet, outputs[1], 1, tree.siblings(1))
    assert unclaimed.value.error == "InvalidOutputsMerkleRoot(bytes32)"

    assert claim_outputs(node, outputs).root == tree.root
    assert chain.is_root_valid(w3, d, tree.root)
    assert all(chain.is_output_valid(w3, d, o, i, tree.siblings(i)) for i, o in enumerate(outputs))
    assert not chain.is_output_valid(w3, d, outputs[1], 2, tree.siblings(2))
    before = chain.erc20_balance(w3, d.token, recipient)
    receipt = chain.execute_output(w3, d, wallet, outputs[1], 1, tree.siblings(1))
    assert chain.erc20_balance(w3, d.token, recipient) == before + 300 * TOKEN_UNIT
    executed = contract_at(w3, "Application", d.application).events.OutputExecuted().process_receipt(
        receipt, errors=DISCARD)
    assert [(e["args"]["outputIndex"], e["args"]["output"]) for e in executed] == [(1, outputs[1])]
    assert chain.was_output_executed(w3, d, 1) and not chain.was_output_executed(w3, d, 0)

    with pytest.raises(TransactionFailed) as again:
        chain.execute_output(w3, d, wallet, outputs[1], 1, tree.siblings(1))
    assert again.value.error == "OutputNotReexecutable(bytes)"
    with pytest.raises(TransactionFailed) as a_notice:
        chain.execute_output(w3, d, wallet, outputs[0], 0, tree.siblings(0))
    assert a_notice.value.error == "OutputNotExecutable(bytes)"


def test_an_ether_voucher_pays_its_value(node: Node) -> None:
    w3, d = node.w3, node.deployment
    chain.deposit_ether(w3, d, node.accounts[4], 10**18)
    recipient = node.accounts[6].address
    outputs = [voucher(recipient, 25 * 10**16, b"")]
    tree = claim_outputs(node, outputs)
    before = w3.eth.get_balance(recipient)
    chain.execute_output(w3, d, node.accounts[8], outputs[0], 0, tree.siblings(0))
    assert w3.eth.get_balance(recipient) == before + 25 * 10**16
    assert w3.eth.get_balance(d.application) == 75 * 10**16


def test_the_application_accepts_proofs_of_every_part_of_a_large_tree(node: Node) -> None:
    w3, d = node.w3, node.deployment
    outputs = [notice(i.to_bytes(2, "big")) for i in range(300)]
    tree = claim_outputs(node, outputs)
    for index in (0, 1, 127, 128, 255, 256, 299):
        assert chain.is_output_valid(w3, d, outputs[index], index, tree.siblings(index))
    assert not chain.is_output_valid(w3, d, notice(b"never emitted"), 300, tree.siblings(300))


def test_claims_follow_the_authority_epoch_rules(node: Node) -> None:
    w3, d, owner = node.w3, node.deployment, node.accounts[0]
    root = keccak(b"some outputs root")
    current = w3.eth.block_number
    epoch = chain.last_closed_epoch(current, EPOCH_LENGTH)
    assert epoch is not None
    last = chain.epoch_last_block(epoch, EPOCH_LENGTH)
    assert last < current <= chain.epoch_last_block(epoch + 1, EPOCH_LENGTH)

    def error_of(account: LocalAccount, block: int) -> str | None:
        with pytest.raises(TransactionFailed) as failure:
            chain.submit_claim(w3, d, account, block, root)
        return failure.value.error

    assert error_of(node.accounts[1], last) == "OwnableUnauthorizedAccount(address)"
    assert error_of(owner, last - 1) == "NotEpochFinalBlock(uint256,uint256)"
    assert error_of(owner, chain.epoch_last_block(epoch + 1, EPOCH_LENGTH)) == "NotPastBlock(uint256,uint256)"
    receipt = chain.submit_claim(w3, d, owner, last, root)
    assert error_of(owner, last) == "NotFirstClaim(address,uint256)"
    assert chain.accepted_claims(w3, d) == [chain.Claim(last, root, "0x" + bytes(receipt["transactionHash"]).hex())]
    assert chain.is_root_valid(w3, d, root) and not chain.is_root_valid(w3, d, keccak(b"other"))


def test_epoch_helpers_partition_blocks(node: Node) -> None:
    for block in range(0, 4 * EPOCH_LENGTH):
        epoch = chain.epoch_of(block, EPOCH_LENGTH)
        assert epoch * EPOCH_LENGTH <= block <= chain.epoch_last_block(epoch, EPOCH_LENGTH)
    assert chain.last_closed_epoch(EPOCH_LENGTH - 1, EPOCH_LENGTH) is None
    assert chain.last_closed_epoch(EPOCH_LENGTH, EPOCH_LENGTH) == 0


def test_increase_time_moves_the_next_block_clock(node: Node) -> None:
    w3 = node.w3
    before = w3.eth.get_block("latest")["timestamp"]
    chain.increase_time(w3, 3600)
    chain.mine(w3)
    assert w3.eth.get_block("latest")["timestamp"] >= before + 3600


# ---- anvil itself ----

def test_chain_state_survives_a_restart(tmp_path) -> None:
    state = tmp_path / "anvil" / "state.json"
    accounts = dev_accounts(2)
    with start_anvil(state_path=state) as anvil:
        w3 = anvil.web3()
        deployment = deploy(w3, accounts[0], epoch_length=EPOCH_LENGTH)
        chain.add_input(w3, deployment, accounts[1], b"before")
        block = w3.eth.block_number
    assert state.is_file()
    with start_anvil(state_path=state) as anvil:
        w3 = anvil.web3()
        assert w3.eth.block_number == block
        assert deploy(w3, accounts[0], epoch_length=EPOCH_LENGTH).addresses == deployment.addresses
        assert chain.add_input(w3, deployment, accounts[1], b"after").index == 1
        assert [i.payload for i in chain.InputWatcher(w3, deployment).poll()] == [b"before", b"after"]


def test_a_missing_anvil_binary_says_to_run_make_setup(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MLMARKET_ANVIL", str(tmp_path / "no-anvil"))
    with pytest.raises(AnvilError, match="make setup"):
        start_anvil()


def test_stop_ends_the_process_and_frees_the_port(tmp_path) -> None:
    anvil = start_anvil(log_path=tmp_path / "anvil.log")
    anvil.stop()
    assert anvil.process.poll() is not None
    assert "Listening on" in (tmp_path / "anvil.log").read_text()
    with start_anvil(port=anvil.port) as again:
        assert again.web3().eth.chain_id == 31337
