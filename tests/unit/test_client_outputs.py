"""Decoding the reader API's records: notices, vouchers, reports, input outcomes, voucher states.

Fixtures are built by hand in the shape the node v2 reader API returns (hex indices, ``raw_data``,
``decoded_data``, ``output_hashes_siblings`` null until claimed), with selectors computed from the
signatures, not taken from the code under test.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import eth_abi
import pytest
from eth_hash.auto import keccak
from mlmarket.client.outputs import (
    EXECUTABLE,
    EXECUTED,
    WAITING_FOR_CLAIM,
    DecodedNotice,
    DecodedVoucher,
    decode_output,
    decode_report,
    outcome_of,
    voucher_state,
)
from multiformats import CID

ALICE = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"
TOKEN = "0x5fbdb2315678afecb367f032d93f642f64180aa3"


def selector(signature: str) -> bytes:
    return keccak(signature.encode())[:4]


def call(signature: str, types: list[str], values: list[Any]) -> bytes:
    return selector(signature) + eth_abi.encode(types, values)


def notice_record(index: int, input_index: int, payload: bytes) -> dict[str, Any]:
    raw = call("Notice(bytes)", ["bytes"], [payload])
    return {"epoch_index": "0x0", "input_index": hex(input_index), "index": hex(index), "raw_data": "0x" + raw.hex(),
            "decoded_data": {"type": "0x" + raw[:4].hex(), "payload": "0x" + payload.hex()},
            "hash": "0x" + keccak(raw).hex(), "output_hashes_siblings": None, "execution_transaction_hash": None,
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}


def voucher_record(index: int, input_index: int, destination: str, value: int, payload: bytes,
                   siblings: list[bytes] | None = None) -> dict[str, Any]:
    raw = call("Voucher(address,uint256,bytes)", ["address", "uint256", "bytes"], [destination, value, payload])
    return {"epoch_index": "0x0", "input_index": hex(input_index), "index": hex(index), "raw_data": "0x" + raw.hex(),
            "decoded_data": {"type": "0x" + raw[:4].hex(), "destination": destination, "value": hex(value),
                             "payload": "0x" + payload.hex()},
            "hash": "0x" + keccak(raw).hex(),
            "output_hashes_siblings": None if siblings is None else ["0x" + s.hex() for s in siblings],
            "execution_transaction_hash": None}


def report_record(index: int, input_index: int, value: Any) -> dict[str, Any]:
    payload = value if isinstance(value, bytes) else json.dumps(value).encode()
    return {"epoch_index": "0x0", "input_index": hex(input_index), "index": hex(index), "raw_data": "0x" + payload.hex()}


def input_record(index: int, status: str) -> dict[str, Any]:
    return {"epoch_index": "0x0", "index": hex(index), "block_number": "0x10", "raw_data": "0x",
            "decoded_data": {}, "status": status}


def raw_cid(data: bytes) -> tuple[bytes, str]:
    binary = bytes([0x01, 0x55, 0x12, 0x20]) + hashlib.sha256(data).digest()
    return binary, CID.decode(binary).encode("base32")


def test_notice_is_decoded_by_its_protocol_name() -> None:
    payload = call("Deposited(address,address,uint256)", ["address", "address", "uint256"], [TOKEN, ALICE, 5])
    notice = decode_output(notice_record(2, 1, payload))
    assert isinstance(notice, DecodedNotice)
    assert (notice.index, notice.input_index, notice.name) == (2, 1, "Deposited")
    assert notice.args == {"token": TOKEN, "account": ALICE, "amount": "5"}


def test_notice_cids_are_shown_as_text() -> None:
    model, model_text = raw_cid(b"model")
    payload = call("SubmissionScored(uint256,uint256,address,bytes,bytes,int64,bool)",
                   ["uint256", "uint256", "address", "bytes", "bytes", "int64", "bool"],
                   [7, 3, ALICE, model, b"", -250_000, True])
    notice = decode_output(notice_record(0, 0, payload))
    assert notice.args["modelCid"] == model_text and notice.args["dataCid"] == ""
    assert notice.args["score"] == -250_000 and notice.args["accepted"] is True
    assert notice.args["jobId"] == 7 and notice.args["submissionId"] == 3


def test_job_created_spec_becomes_a_nested_object() -> None:
    validation, validation_text = raw_cid(b"csv")
    spec_types = "(string,string,string,string,string,bytes,bytes,int64,int64,uint256,uint64,bool,bytes32,uint64,uint32,uint32,uint64,int64,uint256,uint32,bool,string,string,uint32,uint32,uint64,bool)"
    spec = ("t", "threshold", "classification", "y", "accuracy", validation, b"", 900_000, 0, 10, 2_000_000_000,
            False, bytes(32), 0, 0, 0, 0, 0, 0, 0, False, "", "", 0, 0, 0, False)
    payload = call(f"JobCreated(uint256,address,address,uint256,{spec_types})",
                   ["uint256", "address", "address", "uint256", spec_types], [1, ALICE, TOKEN, 100, spec])
    notice = decode_output(notice_record(0, 0, payload))
    assert notice.name == "JobCreated"
    assert notice.args["spec"]["validationCid"] == validation_text
    assert notice.args["spec"]["minScore"] == 900_000 and notice.args["spec"]["policy"] == "threshold"
    assert notice.args["jobId"] == 1 and notice.args["budget"] == "100"  # ids are numbers, amounts strings
    assert notice.args["spec"]["rewardPerAccept"] == "10"


def test_unknown_notice_payload_keeps_its_bytes() -> None:
    notice = decode_output(notice_record(0, 0, b"\xde\xad\xbe\xef"))
    assert notice.name is None and notice.payload == b"\xde\xad\xbe\xef"


def test_erc20_voucher_shows_the_transfer() -> None:
    payload = call("transfer(address,uint256)", ["address", "uint256"], [ALICE, 10**18])
    voucher = decode_output(voucher_record(4, 2, TOKEN, 0, payload))
    assert isinstance(voucher, DecodedVoucher)
    assert voucher.destination == TOKEN and voucher.value == 0
    assert voucher.call == {"function": "transfer", "token": TOKEN, "to": ALICE, "amount": str(10**18)}
    assert voucher.siblings is None and voucher.state is None


def test_ether_voucher_pays_its_value_to_the_destination() -> None:
    voucher = decode_output(voucher_record(5, 2, ALICE, 3 * 10**17, b""))
    assert voucher.call == {"function": "ether", "to": ALICE, "amount": str(3 * 10**17)}


def test_a_voucher_names_the_account_it_pays() -> None:
    transfer = call("transfer(address,uint256)", ["address", "uint256"], [ALICE, 5])
    withdraw_ether = call("withdrawEther(address,uint256)", ["address", "uint256"], [ALICE, 5])
    assert decode_output(voucher_record(0, 0, TOKEN, 0, transfer)).beneficiary == ALICE.lower()
    assert decode_output(voucher_record(1, 0, ALICE, 5, b"")).beneficiary == ALICE.lower()
    assert decode_output(voucher_record(2, 0, TOKEN, 0, withdraw_ether)).beneficiary == ALICE.lower()
    assert decode_output(voucher_record(3, 0, TOKEN, 0, b"\xde\xad\xbe\xef")).beneficiary is None


def test_claimed_voucher_carries_its_63_siblings_and_raw_bytes() -> None:
    siblings = [bytes([i]) * 32 for i in range(63)]
    record = voucher_record(1, 0, ALICE, 1, b"", siblings)
    voucher = decode_output(record)
    assert voucher.siblings == tuple(siblings)
    assert "0x" + voucher.raw.hex() == record["raw_data"]


def test_delegate_call_vouchers_are_skipped() -> None:
    raw = call("DelegateCallVoucher(address,bytes)", ["address", "bytes"], [ALICE, b"x"])
    assert decode_output({"index": "0x0", "input_index": "0x0", "raw_data": "0x" + raw.hex()}) is None


def test_error_report_gives_message_and_code() -> None:
    report = decode_report(report_record(0, 3, {"ok": False, "error": {"code": "rule_violated",
                                                                         "message": "balance too low"}}))
    assert report.error == "balance too low (rule_violated)"
    assert decode_report(report_record(1, 3, {"ok": True, "upload": {}})).error is None


def test_non_json_reports_are_kept_as_text_or_hex() -> None:
    assert decode_report(report_record(0, 0, b"plain text")).value == "plain text"
    assert decode_report(report_record(0, 0, b"\xff\xfe")).value == "0xfffe"


def test_rejected_input_explains_itself_with_its_report() -> None:
    error = {"ok": False, "error": {"code": "bad_spec", "message": "deadline is in the past"}}
    outcome = outcome_of(input_record(3, "REJECTED"), [], [report_record(0, 3, error)])
    assert outcome.status == "REJECTED" and outcome.error == "deadline is in the past (bad_spec)"


def test_rejected_input_without_report_names_its_status() -> None:
    outcome = outcome_of(input_record(3, "EXCEPTION"), [], [])
    assert outcome.error is not None and "exception" in outcome.error


def test_accepted_input_with_an_error_report_is_a_failure() -> None:
    deposited = call("Deposited(address,address,uint256)", ["address", "address", "uint256"], [TOKEN, ALICE, 5])
    failed = {"ok": False, "error": {"code": "rule_violated", "message": "job 9 does not exist", "deposit": "credited"}}
    outcome = outcome_of(input_record(4, "ACCEPTED"), [notice_record(0, 4, deposited)], [report_record(0, 4, failed)])
    assert outcome.error == "job 9 does not exist (rule_violated)"
    assert outcome.first("Deposited") == {"token": TOKEN, "account": ALICE, "amount": "5"}


def test_accepted_input_without_errors_has_no_error() -> None:
    payload = call("transfer(address,uint256)", ["address", "uint256"], [ALICE, 1])
    outcome = outcome_of(input_record(5, "ACCEPTED"), [voucher_record(0, 5, TOKEN, 0, payload)],
                         [report_record(0, 5, {"ok": True})])
    assert outcome.error is None and len(outcome.vouchers) == 1 and outcome.notices == ()
    assert outcome.to_json()["vouchers"][0]["call"]["to"] == ALICE


@pytest.mark.parametrize(("executed", "has_proof", "accepted", "state"), [
    (True, True, True, EXECUTED),
    (True, False, False, EXECUTED),
    (False, True, True, EXECUTABLE),
    (False, True, False, WAITING_FOR_CLAIM),
    (False, False, False, WAITING_FOR_CLAIM),
    (False, False, True, WAITING_FOR_CLAIM),
])
def test_voucher_state(executed: bool, has_proof: bool, accepted: bool, state: str) -> None:
    assert voucher_state(executed=executed, has_proof=has_proof, proof_accepted=accepted) == state


def test_state_names_are_the_documented_words() -> None:
    assert (WAITING_FOR_CLAIM, EXECUTABLE, EXECUTED) == ("waiting for claim", "executable", "executed")
