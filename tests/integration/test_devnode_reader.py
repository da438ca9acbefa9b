"""The reader API's JSON-RPC and inspect shapes (CARTESI-FACTS §8), over records of a state directory."""

from __future__ import annotations

import re
from typing import Any

import eth_abi
import pytest
import requests
from eth_hash.auto import keccak
from eth_utils import to_checksum_address

from devnode import merkle
from devnode.reader import NotReady, ReaderServer
from devnode.records import NONE, Application
from devnode.server import ACCEPTED, EXCEPTION, REJECTED, Finished
from devnode.store import ClaimRecord, InputRecord, Store

APP = "0x" + "ab" * 20
SENDER = "0x" + "cd" * 20
EPOCH_LENGTH = 10


def evm_advance(index: int, block: int, payload: bytes) -> bytes:
    """An EvmAdvance input as InputBox builds it (signature from CARTESI-FACTS §2)."""
    signature = b"EvmAdvance(uint256,address,address,uint256,uint256,uint256,uint256,bytes)"
    args = [31337, APP, SENDER, block, 1_700_000_000 + block, 5, index, payload]
    types = ["uint256", "address", "address", "uint256", "uint256", "uint256", "uint256", "bytes"]
    return keccak(signature)[:4] + eth_abi.encode(types, args)


def notice(payload: bytes) -> bytes:
    return keccak(b"Notice(bytes)")[:4] + eth_abi.encode(["bytes"], [payload])


def voucher(destination: str, value: int, payload: bytes) -> bytes:
    selector = keccak(b"Voucher(address,uint256,bytes)")[:4]
    return selector + eth_abi.encode(["address", "uint256", "bytes"], [destination, value, payload])


def record(index: int, block: int, status: str, outputs: tuple[bytes, ...], reports: tuple[bytes, ...],
           first_output: int, first_report: int) -> InputRecord:
    payload = b"in%d" % index
    return InputRecord(index=index, epoch_index=block // EPOCH_LENGTH, block_number=block,
                       raw_data=evm_advance(index, block, payload), metadata={"msg_sender": SENDER},
                       payload=payload, tx_hash="0x" + "77" * 32, status=status, outputs=outputs,
                       reports=reports, first_output_index=first_output, first_report_index=first_report)


class View:
    """A stand-in for the running node: three processed inputs (epochs 1 and 2), one seen but not
    processed (epoch 3), epoch 1 claimed."""

    chain_id = 31337

    def __init__(self, store: Store) -> None:
        self.store = store
        self.app = Application("mlmarket", to_checksum_address(APP), to_checksum_address("0x" + "ee" * 20),
                               to_checksum_address("0x" + "bb" * 20), EPOCH_LENGTH, "0x" + "AB" * 32,
                               b"\xb1\x2c\x9e\xde" + eth_abi.encode(["address"], ["0x" + "bb" * 20]), 1,
                               "2026-01-01T00:00:00Z")  # data availability: InputBox(address)
        self.outputs = [notice(b"first"), voucher("0x" + "12" * 20, 3, b"pay"), notice(b"third")]
        store.append_input(record(0, 12, ACCEPTED, tuple(self.outputs[:2]), (b"r0",), 0, 0))
        store.append_input(record(1, 15, REJECTED, (), (b"why",), 2, 1))
        store.append_input(record(2, 23, ACCEPTED, (self.outputs[2],), (), 2, 2))
        root = merkle.root([keccak(o) for o in self.outputs[:2]])
        store.append_claim(ClaimRecord(1, 19, 2, root, "0x" + "99" * 32))
        self.inspect_answer: Finished | Exception = Finished(ACCEPTED, (), (b"answer",))

    def unprocessed(self) -> list[InputRecord]:
        return [record(3, 31, NONE, (), (), 0, 0)]

    def scanned_block(self) -> int:
        return 45

    def executions(self) -> dict[int, str]:
        return {1: "0x" + "55" * 32}

    def inspect(self, payload: bytes) -> tuple[Finished, int]:
        if isinstance(self.inspect_answer, Exception):
            raise self.inspect_answer
        return self.inspect_answer, len(self.store.inputs)

    def close_epoch(self) -> dict[str, Any]:
        return {"claimed_epochs": [1]}

    def info(self) -> dict[str, Any]:
        return {"reader_url": "x"}


@pytest.fixture
def view(tmp_path):
    return View(Store(tmp_path))


@pytest.fixture
def reader(view):
    server = ReaderServer(view, port=0).start()
    try:
        yield server
    finally:
        server.stop()


def call(reader: ReaderServer, method: str, params: Any = None) -> dict[str, Any]:
    body = {"jsonrpc": "2.0", "id": 7, "method": method, "params": {} if params is None else params}
    answer = requests.post(reader.url + "/rpc", json=body, timeout=10)
    assert answer.status_code == 200
    data = answer.json()
    assert data["jsonrpc"] == "2.0" and data["id"] == 7
    return data


def result(reader: ReaderServer, method: str, **params: Any) -> Any:
    data = call(reader, method, params)
    assert "error" not in data, data
    return data["result"]


def test_inputs_list_processed_and_pending_with_hex_fields_and_decoded_envelope(reader):
    page = result(reader, "cartesi_listInputs", application=APP)
    assert page["pagination"] == {"total_count": 4, "limit": 50, "offset": 0}
    assert [i["status"] for i in page["data"]] == [ACCEPTED, REJECTED, ACCEPTED, NONE]
    first = page["data"][0]
    assert (first["index"], first["epoch_index"], first["block_number"]) == ("0x0", "0x1", "0xc")
    assert first["raw_data"] == "0x" + evm_advance(0, 12, b"in0").hex()
    decoded = dict(first["decoded_data"])
    assert (decoded.pop("application_contract").lower(), decoded.pop("sender").lower()) == (APP, SENDER)
    assert decoded == {"chain_id": "0x7a69", "block_number": "0xc", "block_timestamp": hex(1_700_000_012),
                       "prev_randao": "0x5", "index": "0x0", "payload": "0x" + b"in0".hex()}


def test_list_pagination_filters_and_descending(reader):
    page = result(reader, "cartesi_listInputs", application="mlmarket", limit=2, offset=1, descending=True)
    assert [i["index"] for i in page["data"]] == ["0x2", "0x1"]
    assert page["pagination"] == {"total_count": 4, "limit": 2, "offset": 1}
    by_epoch = result(reader, "cartesi_listInputs", application=APP, epoch_index="0x1")
    assert [i["index"] for i in by_epoch["data"]] == ["0x0", "0x1"]


def test_get_input_and_processed_count(reader):
    assert result(reader, "cartesi_getInput", application=APP, input_index="0x1")["data"]["status"] == REJECTED
    assert result(reader, "cartesi_getProcessedInputCount", application=APP) == {"data": "0x3"}


def test_outputs_carry_decoded_data_hash_and_proof_only_once_claimed(reader, view):
    outputs = result(reader, "cartesi_listOutputs", application=APP)["data"]
    assert [o["index"] for o in outputs] == ["0x0", "0x1", "0x2"]
    assert [o["input_index"] for o in outputs] == ["0x0", "0x0", "0x2"]
    assert outputs[0]["decoded_data"] == {"type": "Notice", "payload": "0x" + b"first".hex()}
    assert outputs[1]["decoded_data"]["type"] == "Voucher"
    assert outputs[1]["decoded_data"]["value"] == "0x3"
    assert outputs[1]["decoded_data"]["destination"].lower() == "0x" + "12" * 20
    assert outputs[1]["execution_transaction_hash"] == "0x" + "55" * 32
    for output, raw in zip(outputs, view.outputs, strict=True):
        assert output["raw_data"] == "0x" + raw.hex()
        assert output["hash"] == "0x" + keccak(raw).hex()
    claim_root = view.store.claims[0].root
    for index in (0, 1):
        siblings = [bytes.fromhex(s[2:]) for s in outputs[index]["output_hashes_siblings"]]
        assert len(siblings) == 63 and outputs[index]["claimed"] is True
        assert merkle.root_from_proof(keccak(view.outputs[index]), index, siblings) == claim_root
    assert outputs[2]["output_hashes_siblings"] is None and outputs[2]["claimed"] is False


def test_output_filters(reader):
    vouchers = result(reader, "cartesi_listOutputs", application=APP, output_type="0x237a816f")["data"]
    assert [o["index"] for o in vouchers] == ["0x1"]
    of_input = result(reader, "cartesi_listOutputs", application=APP, input_index="0x2")["data"]
    assert [o["index"] for o in of_input] == ["0x2"]
    single = result(reader, "cartesi_getOutput", application=APP, output_index="0x2")["data"]
    assert single["decoded_data"]["payload"] == "0x" + b"third".hex()


def test_reports_are_numbered_globally_and_keep_rejected_ones(reader):
    reports = result(reader, "cartesi_listReports", application=APP)["data"]
    assert [(r["index"], r["input_index"], r["raw_data"]) for r in reports] == [
        ("0x0", "0x0", "0x" + b"r0".hex()), ("0x1", "0x1", "0x" + b"why".hex())]
    assert result(reader, "cartesi_getReport", application=APP, report_index="0x1")["data"]["input_index"] == "0x1"


def test_epochs_application_chain_and_version(reader):
    epochs = result(reader, "cartesi_listEpochs", application=APP)["data"]
    assert [(e["index"], e["status"]) for e in epochs] == [("0x1", "CLAIM_ACCEPTED"), ("0x2", "INPUTS_PROCESSED"),
                                                           ("0x3", "CLOSED")]
    assert epochs[0]["claim_transaction_hash"] == "0x" + "99" * 32
    assert (epochs[0]["first_block"], epochs[0]["last_block"]) == ("0xa", "0x13")
    assert result(reader, "cartesi_getLastAcceptedEpochIndex", application=APP) == {"data": "0x1"}
    application = result(reader, "cartesi_getApplication", application="mlmarket")["data"]
    assert application["iapplication_address"] == APP and application["processed_inputs"] == "0x3"
    assert application["epoch_length"] == hex(EPOCH_LENGTH)
    apps = result(reader, "cartesi_listApplications")
    assert apps["pagination"]["total_count"] == 1 and apps["data"][0]["name"] == "mlmarket"
    assert result(reader, "cartesi_getChainId") == {"data": "0x7a69"}
    assert result(reader, "cartesi_getNodeVersion")["data"]


def test_devnode_methods(reader):
    assert result(reader, "devnode_info") == {"reader_url": "x"}
    assert result(reader, "devnode_closeEpoch") == {"claimed_epochs": [1]}
    assert result(reader, "devnode_claimEpoch", application=APP) == {"claimed_epochs": [1]}


@pytest.mark.parametrize(("method", "params", "code"), [
    ("cartesi_noSuchMethod", {}, -32601),
    ("cartesi_getInput", {"application": APP, "input_index": "0x9"}, -32001),
    ("cartesi_getInput", {"application": APP, "input_index": "12"}, -32602),
    ("cartesi_getInput", {"application": "0x" + "00" * 20, "input_index": "0x0"}, -32001),
    ("cartesi_getOutput", {"application": APP, "output_index": "0x3"}, -32001),
    ("cartesi_listInputs", {"application": "Bad Name!"}, -32602),
    ("cartesi_listInputs", {"application": APP, "limit": -1}, -32602),
    ("cartesi_getReport", {"application": APP, "report_index": "0xzz"}, -32602),
])
def test_errors_use_json_rpc_codes(reader, method, params, code):
    assert call(reader, method, params)["error"]["code"] == code


def test_positional_params_and_batches(reader):
    data = call(reader, "cartesi_getInput", [APP, "0x2"])
    assert data["result"]["data"]["index"] == "0x2"
    batch = [{"jsonrpc": "2.0", "id": n, "method": "cartesi_getChainId", "params": {}} for n in (1, 2)]
    answers = requests.post(reader.url + "/rpc", json=batch, timeout=10).json()
    assert [a["id"] for a in answers] == [1, 2]


def test_bad_json_is_400(reader):
    assert requests.post(reader.url + "/rpc", data=b"{", timeout=10).status_code == 400


def test_inspect_answers_status_reports_and_processed_count(reader, view):
    answer = requests.post(f"{reader.url}/inspect/{APP}", data=b"\x00query", timeout=10)
    assert answer.status_code == 200
    assert answer.json() == {"status": "Accepted", "reports": [{"payload": "0x" + b"answer".hex()}],
                             "processed_input_count": 3}
    view.inspect_answer = Finished(REJECTED, (), ())
    assert requests.post(f"{reader.url}/inspect/mlmarket", data=b"", timeout=10).json()["status"] == "Rejected"
    view.inspect_answer = Finished(EXCEPTION, (), (), b"boom")
    body = requests.post(f"{reader.url}/inspect/{APP}", data=b"", timeout=10).json()
    assert body["status"] == "Exception" and "boom" in body["exception"]


def test_inspect_errors(reader, view):
    assert requests.post(f"{reader.url}/inspect/0x{'00' * 20}", data=b"", timeout=10).status_code == 404
    big = requests.post(f"{reader.url}/inspect/{APP}", data=b"x" * ((1 << 21) + 1), timeout=10)
    assert big.status_code == 413
    view.inspect_answer = NotReady("restarting")
    assert requests.post(f"{reader.url}/inspect/{APP}", data=b"", timeout=10).status_code == 503


HEX_U64 = "0x[0-9a-f]{1,16}"
# The Application fields @cartesi/viem 2.0.0-alpha.31 converts with BigInt (alpha.29: a subset).
APPLICATION_NUMBERS = ("epoch_length", "claim_staging_period", "iinputbox_block", "last_epoch_check_block",
                       "last_input_check_block", "last_output_check_block", "last_tournament_check_block",
                       "last_foreclose_check_block", "last_accounts_drive_proved_check_block",
                       "last_withdrawal_check_block", "processed_inputs", "foreclose_block",
                       "accounts_drive_proved_block")
EXECUTION_NUMBERS = ("advance_inc_cycles", "advance_max_cycles", "inspect_inc_cycles", "inspect_max_cycles",
                     "advance_inc_deadline", "advance_max_deadline", "inspect_inc_deadline",
                     "inspect_max_deadline", "load_deadline", "store_deadline", "fast_deadline")


def test_application_is_filled_as_the_go_node_fills_it(reader):
    listed = result(reader, "cartesi_listApplications")["data"][0]
    application = result(reader, "cartesi_getApplication", application=APP.upper().replace("0X", "0x"))["data"]
    assert listed.keys() == application.keys()
    for name in APPLICATION_NUMBERS:
        assert re.fullmatch(HEX_U64, application[name]), name
    assert (application["enabled"], application["status"], application["state"]) == (True, "OK", "ENABLED")
    assert application["consensus_type"] == "AUTHORITY" and application["reason"] is None
    for name in ("iapplication_address", "iconsensus_address", "iinputbox_address", "template_hash"):
        assert application[name] == application[name].lower() and application[name] != "0x"
    assert application["iconsensus_address"] == "0x" + "ee" * 20
    config = application["withdrawal_config"]
    assert int(config["guardian"], 16) == 0 and int(config["withdrawal_output_builder"], 16) == 0
    assert len(config["guardian"]) == 42 == len(config["withdrawal_output_builder"])
    assert all(int(config[k], 16) == 0 for k in ("log2_leaves_per_account", "log2_max_num_of_accounts",
                                                  "accounts_drive_start_index"))
    for name in ("foreclose_transaction", "accounts_drive_proved_transaction", "accounts_drive_merkle_root"):
        assert re.fullmatch("0x0{64}", application[name]), name
    assert int(application["foreclose_block"], 16) == 0  # never foreclosed
    execution = application["execution_parameters"]
    for name in EXECUTION_NUMBERS:
        assert re.fullmatch(HEX_U64, execution[name]) and int(execution[name], 16) > 0, name
    assert int(execution["advance_max_cycles"], 16) >= int(execution["advance_inc_cycles"], 16)
    assert int(execution["inspect_max_deadline"], 16) >= int(execution["inspect_inc_deadline"], 16)
    assert execution["snapshot_policy"] in ("NONE", "EVERY_INPUT", "EVERY_EPOCH")
    assert isinstance(execution["max_concurrent_inspects"], int) and execution["max_concurrent_inspects"] > 0
    assert execution["created_at"] and execution["updated_at"]


def test_epochs_serve_outputs_merkle_root_and_claim_hash(reader, view):
    epochs = result(reader, "cartesi_listEpochs", application=APP)["data"]
    claimed = "0x" + view.store.claims[0].root.hex()
    assert (epochs[0]["outputs_merkle_root"], epochs[0]["claim_hash"]) == (claimed, claimed)
    assert [e["outputs_merkle_root"] for e in epochs[1:]] == [None, None]
    for epoch in epochs:
        assert epoch["outputs_merkle_proof"] is None and epoch["commitment_proof"] is None
        assert epoch["staged_at_block"] is None
    single = result(reader, "cartesi_getEpoch", application=APP, epoch_index="0x1")["data"]
    assert single["outputs_merkle_root"] == claimed


def test_epoch_status_filter_takes_one_status_or_a_list(reader):
    chosen = result(reader, "cartesi_listEpochs", application=APP, status=["CLOSED", "CLAIM_ACCEPTED"])["data"]
    assert [e["index"] for e in chosen] == ["0x1", "0x3"]
    assert result(reader, "cartesi_listEpochs", application=APP, status="OPEN")["data"] == []


def test_sender_and_voucher_filters_ignore_address_case(reader):
    inputs = result(reader, "cartesi_listInputs", application=APP, sender=to_checksum_address(SENDER))["data"]
    assert len(inputs) == 4
    vouchers = result(reader, "cartesi_listOutputs", application=APP,
                      voucher_address=to_checksum_address("0x" + "12" * 20))["data"]
    assert [o["index"] for o in vouchers] == ["0x1"]


TOURNAMENT, ID_HASH = "0x" + "01" * 20, "0x" + "02" * 32
ABSENT_RECORDS = [
    ("cartesi_getTournament", {"address": TOURNAMENT}),
    ("cartesi_getCommitment", {"epoch_index": "0x1", "tournament_address": TOURNAMENT, "commitment": ID_HASH}),
    ("cartesi_getMatch", {"epoch_index": "0x1", "tournament_address": TOURNAMENT, "id_hash": ID_HASH}),
    ("cartesi_getMatchAdvance", {"epoch_index": "0x1", "tournament_address": TOURNAMENT, "id_hash": ID_HASH,
                                 "parent": ID_HASH}),
    ("cartesi_getMatchAdvanced", {"epoch_index": "0x1", "tournament_address": TOURNAMENT, "id_hash": ID_HASH,
                                  "parent": ID_HASH}),
    ("cartesi_getWithdrawal", {"account_index": "0x0"}),
]


@pytest.mark.parametrize(("method", "params"), [
    ("cartesi_listTournaments", {}), ("cartesi_listTournaments", {"epoch_index": "0x1", "level": "0x0"}),
    ("cartesi_listCommitments", {"tournament_address": TOURNAMENT}), ("cartesi_listMatches", {}),
    ("cartesi_listMatchAdvances", {"epoch_index": "0x1", "tournament_address": TOURNAMENT, "id_hash": ID_HASH}),
    ("cartesi_listWithdrawals", {}),
])
def test_an_authority_application_has_no_dispute_or_withdrawal_records(reader, method, params):
    page = result(reader, method, application=APP, limit=5, **params)
    assert page == {"data": [], "pagination": {"total_count": 0, "limit": 5, "offset": 0}}
    assert call(reader, method, {"application": "0x" + "00" * 20, **params})["error"]["code"] == -32001


@pytest.mark.parametrize(("method", "params"), ABSENT_RECORDS)
def test_dispute_and_withdrawal_gets_are_not_found(reader, method, params):
    assert call(reader, method, {"application": APP, **params})["error"]["code"] == -32001
    malformed = {name: "0xzz" for name in params}
    assert call(reader, method, {"application": APP, **malformed})["error"]["code"] == -32602
    assert call(reader, method, {"application": APP})["error"]["code"] == -32602


@pytest.mark.parametrize(("method", "params"), [
    ("cartesi_listEpochs", {"status": "BOGUS"}),
    ("cartesi_listEpochs", {"status": []}),
    ("cartesi_listInputs", {"sender": "0x1234"}),
    ("cartesi_listOutputs", {"output_type": "voucher"}),
    ("cartesi_listOutputs", {"output_type": "0x237a81"}),
    ("cartesi_listOutputs", {"voucher_address": "0x" + "12" * 19}),
    ("cartesi_listOutputs", {"input_index": "0x1" + "0" * 16}),
    ("cartesi_getInput", {"input_index": "0x1" + "0" * 16}),
    ("cartesi_listMatchAdvances", {"epoch_index": "0x1", "tournament_address": TOURNAMENT}),
])
def test_invalid_filters_are_invalid_params(reader, method, params):
    assert call(reader, method, {"application": APP, **params})["error"]["code"] == -32602


def test_rpc_discover_documents_every_method_served(reader):
    document = result(reader, "rpc.discover")
    assert document["openrpc"].startswith("1.") and document["info"]["title"]
    names = [m["name"] for m in document["methods"]]
    assert len(names) == len(set(names))
    expected = {"rpc.discover", "cartesi_getApplication", "cartesi_listApplications", "cartesi_listEpochs",
                "cartesi_listTournaments", "cartesi_getTournament", "cartesi_listCommitments",
                "cartesi_getCommitment", "cartesi_listMatches", "cartesi_getMatch", "cartesi_listMatchAdvances",
                "cartesi_getMatchAdvanced", "cartesi_listWithdrawals", "cartesi_getWithdrawal"}
    assert expected <= set(names)
    schemas = document["components"]["schemas"]
    for method in document["methods"]:
        answer = call(reader, method["name"], {})
        assert answer.get("error", {}).get("code") != -32601, method["name"]
        assert method["result"]["schema"]["$ref"].rsplit("/", 1)[1] in schemas
    assert call(reader, "cartesi_notDocumented", {})["error"]["code"] == -32601
    application = set(result(reader, "cartesi_getApplication", application=APP)["data"])
    assert application == set(schemas["Application"]["properties"])
    epoch = set(result(reader, "cartesi_getEpoch", application=APP, epoch_index="0x1")["data"])
    assert epoch == set(schemas["Epoch"]["properties"])


def test_get_is_405_with_allow_post(reader):
    for path in (f"/inspect/{APP}", "/rpc"):
        answer = requests.get(reader.url + path, timeout=10)
        assert answer.status_code == 405 and answer.headers["Allow"] == "POST"


def test_inspect_without_reports_answers_null_reports_like_the_go_node(reader, view):
    view.inspect_answer = Finished(ACCEPTED, (), ())
    body = requests.post(f"{reader.url}/inspect/{APP}", data=b"q", timeout=10).json()
    assert body == {"status": "Accepted", "reports": None, "processed_input_count": 3}
