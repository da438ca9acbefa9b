"""The rollup HTTP API during a Rollups v1 advance (metadata with ``epoch_index``): vouchers carry no value,
there is no delegate-call voucher endpoint; v2 advances keep requiring ``value``. The test plays the
backend over HTTP."""

from __future__ import annotations

import json
import threading

import eth_abi
import pytest
import requests

from devnode.server import Advance, Finished, RollupServer
from devnode.v1.proofs import v1_output

V1_META = {"msg_sender": "0x" + "cd" * 20, "epoch_index": 0, "input_index": 0, "block_number": 7,
           "timestamp": 1700000000}
V2_META = {"chain_id": 31337, "app_contract": "0x" + "ab" * 20, "msg_sender": "0x" + "cd" * 20,
           "block_number": 7, "block_timestamp": 1700000000, "prev_randao": "0x" + "00" * 32,
           "input_index": 0}
DESTINATION = "0x" + "12" * 20


@pytest.fixture
def server():
    with RollupServer(long_poll=0.2) as rollup:
        yield rollup


def post(server: RollupServer, path: str, body: object) -> requests.Response:
    return requests.post(server.url + path, data=json.dumps(body).encode(),
                         headers={"Content-Type": "application/json"}, timeout=10)


def play(server: RollupServer, metadata: dict, backend) -> Finished:
    """Runs one advance while ``backend(server)`` plays the backend; returns how it finished."""
    result: list[Finished] = []
    thread = threading.Thread(target=lambda: result.append(server.run(Advance(metadata, b"", 0), timeout=10)))
    thread.start()
    taken = post(server, "/finish", {"status": "accept"})
    assert taken.status_code == 200 and taken.json()["data"]["metadata"] == metadata
    backend(server)
    post(server, "/finish", {"status": "accept"})
    thread.join(timeout=15)
    return result[0]


def test_v1_vouchers_need_no_value_and_refuse_a_nonzero_one(server):
    answers = {}

    def backend(rollup: RollupServer) -> None:
        answers["bare"] = post(rollup, "/voucher", {"destination": DESTINATION, "payload": "0xabcd"})
        answers["zero"] = post(rollup, "/voucher", {"destination": DESTINATION, "value": "0x" + "00" * 32,
                                                    "payload": "0x01"})
        answers["value"] = post(rollup, "/voucher", {"destination": DESTINATION,
                                                     "value": "0x" + "00" * 31 + "05", "payload": "0x02"})
        answers["delegate"] = post(rollup, "/delegate-call-voucher",
                                   {"destination": DESTINATION, "payload": "0x"})

    finished = play(server, V1_META, backend)
    assert (answers["bare"].status_code, answers["bare"].json()) == (201, {"index": 0})
    assert (answers["zero"].status_code, answers["zero"].json()) == (201, {"index": 1})
    assert answers["value"].status_code == 400
    assert answers["delegate"].status_code == 404
    assert [v1_output(o) for o in finished.outputs] == [
        ("voucher", eth_abi.encode(["address", "bytes"], [DESTINATION, b"\xab\xcd"])),
        ("voucher", eth_abi.encode(["address", "bytes"], [DESTINATION, b"\x01"]))]


def test_v2_vouchers_still_need_a_value(server):
    answers = {}

    def backend(rollup: RollupServer) -> None:
        answers["bare"] = post(rollup, "/voucher", {"destination": DESTINATION, "payload": "0xabcd"})
        answers["delegate"] = post(rollup, "/delegate-call-voucher",
                                   {"destination": DESTINATION, "payload": "0x"})

    finished = play(server, V2_META, backend)
    assert answers["bare"].status_code == 400
    assert answers["delegate"].status_code == 201
    assert len(finished.outputs) == 1
