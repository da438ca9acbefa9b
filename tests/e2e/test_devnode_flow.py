"""The local node on a real anvil with the real Cartesi v2.2.0 contracts and the fake backend:
inputs in, outputs out through the reader API, epochs claimed, vouchers executed on chain.

Needs ``make setup`` (anvil and the artifacts from npm); fails loudly, never skips, without them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import requests
from eth_account import Account
from eth_hash.auto import keccak

from devnode import chain, lifecycle
from devnode.anvil import start_anvil
from devnode.node import Node, NodeConfig
from devnode.supervisor import BackendFailed
from mlmarket.client.errors import TransactionFailed

from devnode_harness import (
    app_of,
    deployment_of,
    notice_payloads,
    outputs,
    reader_url,
    rpc,
    start_node,
    user,
    wait_for,
    wait_processed,
    w3_of,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def node(tmp_path):
    started = start_node(tmp_path / "state", tmp_path)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def manual_node(tmp_path):
    started = start_node(tmp_path / "state", tmp_path, auto_mine=False)
    try:
        yield started
    finally:
        started.stop()


def test_input_is_processed_and_its_notice_is_visible_through_the_reader(node):
    w3, deployment, sender = w3_of(node), deployment_of(node), user()
    sent = chain.add_input(w3, deployment, sender, b"hello")
    url, app = reader_url(node), app_of(node)
    wait_processed(url, app, sent.index + 1)
    record = rpc(url, "cartesi_getInput", application=app, input_index=hex(sent.index))["data"]
    assert record["status"] == "ACCEPTED"
    assert record["decoded_data"]["sender"] == sender.address
    assert record["transaction_reference"] == "0x" + bytes(sent.receipt["transactionHash"]).hex()
    assert notice_payloads(url, app) == [(0).to_bytes(8, "big") + b"hello"]


def test_rejected_input_keeps_its_report_and_emits_no_output(node):
    w3, deployment = w3_of(node), deployment_of(node)
    chain.add_input(w3, deployment, user(), b"\xffno")
    chain.add_input(w3, deployment, user(), b"after")
    url, app = reader_url(node), app_of(node)
    wait_processed(url, app, 2)
    statuses = [i["status"] for i in rpc(url, "cartesi_listInputs", application=app)["data"]]
    assert statuses == ["REJECTED", "ACCEPTED"]
    reports = rpc(url, "cartesi_listReports", application=app, input_index="0x0")["data"]
    assert [bytes.fromhex(r["raw_data"][2:]) for r in reports] == [b"rejected: \xffno"]
    assert notice_payloads(url, app) == [(0).to_bytes(8, "big") + b"after"]  # the rejection left no trace


def test_epoch_is_claimed_and_voucher_executes_once_on_chain(node):
    w3, deployment, payer = w3_of(node), deployment_of(node), user(2)
    chain.deposit_ether(w3, deployment, payer, 10**18)  # the application holds Ether to pay out
    beneficiary = Account.create().address
    value = 3 * 10**17
    chain.add_input(w3, deployment, payer, b"\xfe" + bytes.fromhex(beneficiary[2:]) + value.to_bytes(32, "big"))
    url, app = reader_url(node), app_of(node)
    wait_processed(url, app, 2)
    voucher = wait_for(lambda: next((o for o in outputs(url, app) if o["decoded_data"]["type"] == "Voucher"
                                     and o["claimed"]), None), 10, "the voucher's epoch to be claimed")
    index, raw = int(voucher["index"], 16), bytes.fromhex(voucher["raw_data"][2:])
    siblings = [bytes.fromhex(s[2:]) for s in voucher["output_hashes_siblings"]]
    assert voucher["hash"] == "0x" + keccak(raw).hex()
    epoch = rpc(url, "cartesi_getEpoch", application=app, epoch_index=voucher["epoch_index"])["data"]
    assert epoch["status"] == "CLAIM_ACCEPTED"
    assert chain.is_root_valid(w3, deployment, bytes.fromhex(epoch["claim_hash"][2:]))
    assert chain.is_output_valid(w3, deployment, raw, index, siblings)

    receipt = chain.execute_output(w3, deployment, payer, raw, index, siblings)
    assert w3.eth.get_balance(beneficiary) == value
    executed = wait_for(lambda: rpc(url, "cartesi_getOutput", application=app, output_index=hex(index))["data"]
                        ["execution_transaction_hash"], 10, "the execution to show")
    assert executed == "0x" + bytes(receipt["transactionHash"]).hex()
    with pytest.raises(TransactionFailed) as again:
        chain.execute_output(w3, deployment, payer, raw, index, siblings)
    assert again.value.error is not None and again.value.error.startswith("OutputNotReexecutable")


def test_close_epoch_claims_at_once_without_auto_mine(manual_node):
    w3, deployment = w3_of(manual_node), deployment_of(manual_node)
    chain.add_input(w3, deployment, user(), b"one")
    url, app = reader_url(manual_node), app_of(manual_node)
    wait_processed(url, app, 1)
    assert outputs(url, app)[0]["output_hashes_siblings"] is None
    summary = rpc(url, "devnode_closeEpoch")
    assert summary["unclaimed_epochs"] == [] and summary["last_claim"]["output_count"] == 1
    output = outputs(url, app)[0]
    assert output["claimed"] and len(output["output_hashes_siblings"]) == 63
    assert chain.is_output_valid(w3, deployment, bytes.fromhex(output["raw_data"][2:]), 0,
                                 [bytes.fromhex(s[2:]) for s in output["output_hashes_siblings"]])


def test_inspect_sees_the_processed_state(node):
    w3, deployment = w3_of(node), deployment_of(node)
    chain.add_input(w3, deployment, user(), b"x")
    url, app = reader_url(node), app_of(node)
    wait_processed(url, app, 1)
    answer = requests.post(f"{node.info()['inspect_url']}/{app}", data=b"status?", timeout=30).json()
    assert answer == {"status": "Accepted", "reports": [{"payload": "0x" + b"count=1;status?".hex()}],
                      "processed_input_count": 1}


def test_node_attaches_to_a_running_chain_and_leaves_it_running(tmp_path):
    with start_anvil() as anvil:
        node = start_node(tmp_path / "state", tmp_path, rpc_url=anvil.url)
        try:
            assert node.info()["rpc_url"] == anvil.url and node.info()["anvil_pid"] is None
            chain.add_input(anvil.web3(), deployment_of(node), user(), b"attached")
            wait_processed(reader_url(node), app_of(node), 1)
        finally:
            node.stop()
        assert anvil.process.poll() is None
        assert anvil.web3().eth.get_code(deployment_of(node).application)


def test_a_backend_that_cannot_start_is_a_clear_error_and_leaves_nothing_running(tmp_path):
    broken = (sys.executable, "-c", "import sys; print('no such backend', file=sys.stderr); sys.exit(3)")
    node = Node(NodeConfig(state_dir=tmp_path / "state", port=0, anvil_port=0, backend=broken))
    with pytest.raises(BackendFailed) as failed:
        node.start()
    assert "no such backend" in str(failed.value)
    assert not lifecycle.node_running(tmp_path / "state")
    state = str(tmp_path / "state")
    leftovers = [p.name for p in Path("/proc").iterdir() if p.name.isdigit()
                 and any(state in part for part in lifecycle.cmdline(int(p.name)))]
    assert leftovers == []  # anvil (started with --state in that directory) is gone too
