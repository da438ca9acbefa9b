"""The Python commands/events mirror the Solidity protocol, and calls round-trip through the codec."""

import re
from dataclasses import fields

import pytest
from eth_hash.auto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from dapp.codec import abi
from dapp.codec.inputs import decode_call
from dapp.codec.outputs import notice_payload
from dapp.domain import commands as c
from dapp.domain import events as ev
from dapp.domain.values import Address


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def field_names(cls) -> list[str]:
    return [f.name.rstrip("_") for f in fields(cls)]


@pytest.mark.parametrize("name", sorted(abi.inputs().by_name))
def test_every_input_has_a_command_with_the_abi_argument_names(name):
    function = abi.inputs()[name]
    assert field_names(c.CALLS[name]) == [snake(n) for n in function.arg_names]


def test_every_command_is_an_input():
    assert set(c.CALLS) == set(abi.inputs().by_name)


def test_job_spec_mirrors_the_solidity_struct():
    (spec_param,) = [p for p in abi.inputs()["createJob"].params if p["name"] == "spec"]
    assert field_names(c.JobSpec) == [snake(p["name"]) for p in spec_param["components"]]


@pytest.mark.parametrize("event", ev.NOTICE_EVENTS, ids=lambda e: e.__name__)
def test_every_notice_event_mirrors_its_abi_function(event):
    function = abi.notices()[event.__name__]
    assert field_names(event) == [snake(n) for n in function.arg_names]


def test_every_notice_function_has_an_event():
    assert {e.__name__ for e in ev.NOTICE_EVENTS} == set(abi.notices().by_name)


def test_selectors_are_keccak_of_the_canonical_signature():
    assert abi.inputs()["withdraw"].selector == keccak(b"withdraw(address,uint256)")[:4]
    assert abi.voucher_targets()["transfer"].selector == bytes.fromhex("a9059cbb")


addresses = st.binary(min_size=20, max_size=20).map(Address)
uint256 = st.integers(0, 2**256 - 1)


@settings(max_examples=50)
@given(token=addresses, amount=uint256)
def test_withdraw_round_trips(token, amount):
    payload = abi.inputs().encode("withdraw", token.raw, amount)
    assert decode_call(payload) == c.Withdraw(token, amount)


@settings(max_examples=50)
@given(cid=st.binary(max_size=80), size=st.integers(0, 2**64 - 1), offset=st.integers(0, 2**64 - 1),
       deflated=st.booleans(), data=st.binary(max_size=300))
def test_upload_chunk_round_trips(cid, size, offset, deflated, data):
    payload = abi.inputs().encode("uploadChunk", cid, size, offset, deflated, data)
    assert decode_call(payload) == c.UploadChunk(cid, size, offset, deflated, data)


def test_notice_payload_decodes_back_to_the_event_fields():
    event = ev.Deposited(Address(b"\x01" * 20), Address(b"\x02" * 20), 5)
    function, args = abi.notices().decode(notice_payload(event))
    assert function.name == "Deposited"
    assert args == ("0x" + "01" * 20, "0x" + "02" * 20, 5)


def test_notice_encoding_is_byte_stable():
    event = ev.SubmissionScored(3, 4, Address(b"\x05" * 20), b"m", b"", -12, True)
    assert notice_payload(event) == notice_payload(ev.SubmissionScored(3, 4, Address(b"\x05" * 20), b"m", b"", -12, True))
    assert notice_payload(event)[:4] == keccak(b"SubmissionScored(uint256,uint256,address,bytes,bytes,int64,bool)")[:4]
