"""The rollup HTTP API the local node serves to the backend (CARTESI-FACTS §1), with a fake backend
process or with the test playing the backend over HTTP."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from web3 import Web3

from devnode.backend import BackendProcess
from devnode.server import ACCEPTED, EXCEPTION, REJECTED, Advance, BackendDied, Finished, Inspect, RollupServer

FAKE = Path(__file__).with_name("devnode_fake_backend.py")
OUTPUTS_ABI = Path(__file__).resolve().parents[2] / "node_modules/@cartesi/rollups/out/Outputs.sol/Outputs.json"
META = {"chain_id": 31337, "app_contract": "0x" + "ab" * 20, "msg_sender": "0x" + "cd" * 20, "block_number": 7,
        "block_timestamp": 1700000000, "prev_randao": "0x" + "00" * 32, "input_index": 0}


def oracle(name: str, *args: object) -> bytes:
    """The output bytes as Cartesi's own ``Outputs`` ABI (npm artifact) encodes them."""
    if not OUTPUTS_ABI.exists():
        pytest.skip("npm artifacts missing: run make setup")
    contract = Web3().eth.contract(abi=json.loads(OUTPUTS_ABI.read_text())["abi"])
    return bytes.fromhex(contract.encode_abi(name, args=list(args))[2:])


@pytest.fixture
def backend(tmp_path):
    process = BackendProcess([sys.executable, str(FAKE)], {**os.environ, "FAKE_MARKER_DIR": str(tmp_path)},
                             tmp_path / "backend.log").start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def server():
    with RollupServer(long_poll=0.2) as rollup:
        yield rollup


class Pending:
    """``server.run(request)`` in a thread, while the test plays the backend."""

    def __init__(self, server: RollupServer, request: Advance | Inspect) -> None:
        self.result: Finished | BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(server, request), daemon=True)
        self.thread.start()

    def _run(self, server: RollupServer, request: Advance | Inspect) -> None:
        try:
            self.result = server.run(request, timeout=10)
        except BaseException as exc:  # noqa: BLE001 -- handed to the test
            self.result = exc

    def wait(self) -> Finished:
        self.thread.join(timeout=15)
        assert isinstance(self.result, Finished), self.result
        return self.result


def advance(payload: bytes, first_output_index: int = 0, index: int = 0) -> Advance:
    return Advance({**META, "input_index": index}, payload, first_output_index)


def post(server: RollupServer, path: str, body: object) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(server.url + path, data=data, headers={"Content-Type": "application/json"}, timeout=10)


def take(server: RollupServer, status: str = "accept") -> dict:
    answer = post(server, "/finish", {"status": status})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_accepted_input_yields_notice_encoded_as_on_chain_output(backend):
    result = backend.run(advance(b"hello"), timeout=20)
    assert result.status == ACCEPTED
    assert result.outputs == (oracle("Notice", (0).to_bytes(8, "big") + b"hello"),)
    assert result.reports == (b"ok",)


def test_rejected_input_discards_notices_and_vouchers_but_keeps_reports(backend):
    rejected = backend.run(advance(b"\xffbad"), timeout=20)
    assert rejected.status == REJECTED
    assert rejected.outputs == ()
    assert rejected.reports == (b"rejected: \xffbad",)
    after = backend.run(advance(b"next", index=1), timeout=20)
    assert after.outputs == (oracle("Notice", (0).to_bytes(8, "big") + b"next"),)  # counter untouched


def test_voucher_is_encoded_with_destination_value_and_payload(backend):
    destination, value, call = bytes(range(20)), 10**18 + 7, b"\xa9\x05\x9c\xbbdata"
    result = backend.run(advance(b"\xfe" + destination + value.to_bytes(32, "big") + call), timeout=20)
    assert result.outputs == (oracle("Voucher", Web3.to_checksum_address(destination), value, call),)


def test_inspect_is_answered_with_the_reports_the_backend_emits(backend):
    backend.run(advance(b"one"), timeout=20)
    result = backend.run(Inspect(b"query"), timeout=20)
    assert (result.status, result.outputs, result.reports) == (ACCEPTED, (), (b"count=1;query",))


def test_exception_ends_the_input_as_exception_without_outputs(backend):
    result = backend.run(advance(b"\xfc"), timeout=20)
    assert result.status == EXCEPTION
    assert result.outputs == ()
    assert result.exception == b"fake backend gave up"


def test_backend_killed_mid_input_raises_backend_died(backend, tmp_path):
    def kill_when_started() -> None:
        deadline = time.monotonic() + 15
        while not list(tmp_path.glob("input-0-*")) and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(backend.pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_when_started)
    killer.start()
    with pytest.raises(BackendDied):
        backend.run(advance(b"\xfdslow"), timeout=30)
    killer.join()


def test_finish_answers_202_when_no_request_is_pending(server):
    started = time.monotonic()
    answer = post(server, "/finish", {"status": "accept"})
    assert answer.status_code == 202
    assert time.monotonic() - started >= 0.15  # it long-polled first


def test_finish_returns_v2_advance_request_and_output_indices_are_global(server):
    pending = Pending(server, advance(b"\x01\x02", first_output_index=41, index=3))
    request = take(server)
    assert request == {"request_type": "advance_state",
                       "data": {"metadata": {**META, "input_index": 3}, "payload": "0x0102"}}
    assert post(server, "/notice", {"payload": "0xaa"}).json() == {"index": 41}
    voucher = {"destination": "0x" + "22" * 20, "value": "0x" + "00" * 31 + "05", "payload": "0x"}
    answer = post(server, "/voucher", voucher)
    assert (answer.status_code, answer.json()) == (201, {"index": 42})
    answer = post(server, "/delegate-call-voucher", {"destination": "0x" + "33" * 20, "payload": "0xbeef"})
    assert (answer.status_code, answer.json()) == (201, {"index": 43})
    assert post(server, "/report", {"payload": "0x"}).status_code == 202
    assert post(server, "/finish", {"status": "accept"}).status_code == 202
    result = pending.wait()
    assert result.outputs == (oracle("Notice", b"\xaa"),
                              oracle("Voucher", Web3.to_checksum_address("0x" + "22" * 20), 5, b""),
                              oracle("DelegateCallVoucher", Web3.to_checksum_address("0x" + "33" * 20), b"\xbe\xef"))
    assert result.reports == (b"",)


@pytest.mark.parametrize("voucher", [
    {"destination": "0x" + "22" * 19 + "2", "value": "0x" + "00" * 32, "payload": "0x"},  # 41 characters
    {"destination": "0x" + "22" * 21, "value": "0x" + "00" * 32, "payload": "0x"},  # 44 characters
    {"destination": "22" * 21, "value": "0x" + "00" * 32, "payload": "0x"},  # 42 without 0x
    {"destination": "0x" + "zz" * 20, "value": "0x" + "00" * 32, "payload": "0x"},
    {"destination": "0x" + "22" * 20, "value": "0x0", "payload": "0x"},
    {"destination": "0x" + "22" * 20, "value": "0x" + "00" * 33, "payload": "0x"},
    {"destination": "0x" + "22" * 20, "payload": "0x"},
    {"destination": "0x" + "22" * 20, "value": "0x" + "00" * 32, "payload": "0x123"},
    {"destination": "0x" + "22" * 20, "value": "0x" + "00" * 32, "payload": "abcd"},
    {"destination": "0x" + "22" * 20, "value": "0x" + "00" * 32},
    ["not", "an", "object"],
])
def test_malformed_voucher_is_refused_with_400_text(server, voucher):
    pending = Pending(server, advance(b""))
    take(server)
    answer = post(server, "/voucher", voucher)
    assert answer.status_code == 400
    assert answer.headers["Content-Type"].startswith("text/plain") and answer.text
    post(server, "/finish", {"status": "accept"})
    assert pending.wait().outputs == ()


@pytest.mark.parametrize(("path", "body"), [
    ("/notice", {"payload": "0x1"}),
    ("/notice", {"payload": 12}),
    ("/notice", {}),
    ("/report", {"payload": "0xgg"}),
    ("/finish", {"status": "maybe"}),
    ("/finish", b"{not json"),
    ("/delegate-call-voucher", {"destination": "0x12", "payload": "0x"}),
])
def test_malformed_bodies_are_refused_with_400(server, path, body):
    pending = Pending(server, advance(b""))
    take(server)
    assert post(server, path, body).status_code == 400
    post(server, "/finish", {"status": "accept"})
    pending.wait()


def test_outputs_are_refused_outside_an_advance(server):
    assert post(server, "/notice", {"payload": "0x"}).status_code == 400
    pending = Pending(server, Inspect(b"q"))
    assert take(server)["request_type"] == "inspect_state"
    assert post(server, "/notice", {"payload": "0x"}).status_code == 400
    assert post(server, "/report", {"payload": "0x01"}).status_code == 202
    post(server, "/finish", {"status": "reject"})
    assert pending.wait() == Finished(REJECTED, (), (b"\x01",))


def test_body_over_5_mib_is_refused(server):
    answer = post(server, "/report", b"x" * (5 * 1024 * 1024 + 1))
    assert answer.status_code == 413
