"""The devnode's real-machine mode against a fake ``cartesi-jsonrpc-machine``: ``devnode.machine``'s
``CmioMachine`` and the bridge (``devnode.machine_bridge``) between it and the node's rollup server.

The fake speaks the JSON-RPC methods the node uses (fork, shutdown, machine.load/run/read_reg/
read_memory/send_cmio_response) over HTTP on 127.0.0.1; its machine follows a script per request
(outputs, reports, then accept/reject/exception/halt, or a loop that never yields) and, like a real
machine, keeps whatever it did: only the node's rollback (a fork taken before the request) undoes a
rejected input. Outputs are built with ``eth_abi`` from the Cartesi ``Outputs`` signatures.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import eth_abi
import pytest
import requests
from eth_hash.auto import keccak

from devnode import chain, merkle
from devnode import machine as cm
from devnode.__main__ import main as devnode_main
from devnode.epochs import EpochCloser
from devnode.machine_bridge import BridgeError, RollupClient, output_request, serve
from devnode.records import input_record
from devnode.server import ACCEPTED, EXCEPTION, REJECTED, Advance, Finished, Inspect, RollupServer
from devnode.store import InputRecord, Store

META = {"chain_id": 31337, "app_contract": "0x" + "ab" * 20, "msg_sender": "0x" + "cd" * 20, "block_number": 7,
        "block_timestamp": 1700000000, "prev_randao": "0x" + "00" * 31 + "05", "input_index": 0}
RECIPIENT = "0x" + "12" * 20
STEP_CYCLES = 1000


def notice(payload: bytes) -> bytes:
    return keccak(b"Notice(bytes)")[:4] + eth_abi.encode(["bytes"], [payload])


def voucher(destination: str, value: int, payload: bytes) -> bytes:
    return keccak(b"Voucher(address,uint256,bytes)")[:4] + eth_abi.encode(
        ["address", "uint256", "bytes"], [destination, value, payload])


# -- the fake machine and its JSON-RPC servers ------------------------------------------------------

Step = tuple[str, bytes]  # ("output"|"report"|"exception", data) or ("accept"|"reject"|"halt"|"spin", b"")


@dataclass
class FakeMachine:
    """A rollup machine whose answer to each request is scripted by the request's payload."""

    script: dict[bytes, list[Step]]
    outputs: list[bytes] = field(default_factory=list)  # every output it ever emitted (its own tree)
    seen: list[bytes] = field(default_factory=list)  # the payloads of the requests it was sent
    requests: list[bytes] = field(default_factory=list)  # the raw requests
    mcycle: int = 5_000_000
    iflags_y: int = 1
    tohost: int = 1 << 48 | 1 << 32 | 32  # stored at a manual "accepted" yield, as make machine-image does
    tx: bytes = merkle.EMPTY_ROOT
    steps: list[Step] = field(default_factory=list)
    halted: bool = False

    def respond(self, reason: int, data: bytes) -> None:
        assert self.iflags_y == 1, "a response sent to a machine that is not waiting"
        payload = bytes(eth_abi.decode(cm.EVM_ADVANCE_TYPES, data[4:])[-1]) if reason == 0 else data
        self.seen.append(payload)
        self.requests.append(data)
        self.steps = list(self.script[payload])
        self.iflags_y = 0

    def run(self, end: int) -> str:
        if self.halted:
            return "halted"
        if self.iflags_y:
            return "yielded_manually"
        if not self.steps:
            raise AssertionError("the script ran out of steps")
        kind, data = self.steps[0]
        if kind == "spin" or self.mcycle + STEP_CYCLES > end:
            self.mcycle = end
            return "reached_target_mcycle"
        self.steps.pop(0)
        self.mcycle += STEP_CYCLES
        if kind in ("output", "report"):
            if kind == "output":
                self.outputs.append(data)
            self._yield(0, 2 if kind == "output" else 4, data)
            return "yielded_automatically"
        if kind == "halt":
            self.halted = True
            return "halted"
        if kind == "accept":
            self._yield(1, 1, merkle.root([keccak(o) for o in self.outputs]))
        else:
            self._yield(1, 2 if kind == "reject" else 4, data)
        self.iflags_y = 1
        return "yielded_manually"

    def _yield(self, cmd: int, reason: int, data: bytes) -> None:
        self.tx = data
        self.tohost = cmd << 48 | reason << 32 | len(data)

    def read_reg(self, name: str) -> int:
        return {"mcycle": self.mcycle, "iflags_Y": self.iflags_y, "htif_tohost": self.tohost}[name]

    def read_memory(self, address: int, length: int) -> bytes:
        assert address == 0x60800000
        return (self.tx + bytes(length))[:length]


class FakeServer:
    """One fake ``cartesi-jsonrpc-machine`` on 127.0.0.1 (forks are new ``FakeServer``s)."""

    def __init__(self, cluster: Cluster, machine: FakeMachine | None) -> None:
        self.cluster, self.machine, self.alive = cluster, machine, True
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.address = f"127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def call(self, method: str, params: dict[str, Any]) -> Any:
        if method == "fork":
            return {"address": self.cluster.add(copy.deepcopy(self.machine)).address, "pid": 0}
        if method == "shutdown":
            self.alive = False
            threading.Thread(target=self.close, daemon=True).start()
            return True
        if method == "machine.load":
            assert params["directory"] == str(self.cluster.snapshot) and self.machine is None
            self.machine = copy.deepcopy(self.cluster.stored)
            return True
        assert self.machine is not None
        if method == "machine.read_reg":
            return self.machine.read_reg(params["reg"])
        if method == "machine.read_memory":
            return base64.b64encode(self.machine.read_memory(params["address"], params["length"])).decode()
        if method == "machine.send_cmio_response":
            self.machine.respond(params["reason"], base64.b64decode(params["data"]))
            return True
        if method == "machine.run":
            return self.machine.run(params["mcycle_end"])
        raise AssertionError(f"unexpected method {method}")

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                try:
                    answer = {"result": server.call(body["method"], body.get("params", {}))}
                except Exception as exc:  # noqa: BLE001 - the fake answers as the real server would
                    answer = {"error": {"code": -32603, "message": str(exc)}}
                data = json.dumps({"jsonrpc": "2.0", "id": body["id"], **answer}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        return Handler


class Cluster:
    """Every fake server a test started (the spawned one and its forks)."""

    def __init__(self, stored: FakeMachine, snapshot: Path) -> None:
        self.stored, self.snapshot = stored, snapshot
        self.servers: list[FakeServer] = []

    def add(self, machine: FakeMachine | None) -> FakeServer:
        self.servers.append(FakeServer(self, machine))
        return self.servers[-1]

    def alive(self) -> list[FakeServer]:
        return [s for s in self.servers if s.alive]

    def at(self, address: str) -> FakeServer:
        return next(s for s in self.servers if s.address == address)

    def close(self) -> None:
        for server in self.servers:
            if server.alive:
                server.alive = False
                server.close()


SCRIPT: dict[bytes, list[Step]] = {
    b"pay": [("output", notice(b"scored")), ("report", b"r1"), ("output", voucher(RECIPIENT, 7, b"\x01\x02")),
             ("output", notice(b"paid")), ("report", b"r2"), ("accept", b"")],
    b"again": [("output", notice(b"second")), ("accept", b"")],
    b"bad": [("output", notice(b"never")), ("report", b"why not"), ("reject", b"")],
    b"boom": [("output", notice(b"never")), ("exception", b"Traceback: boom")],
    b"halt": [("report", b"bye"), ("halt", b"")],
    b"spin": [("report", b"working"), ("spin", b"")],
    b"query": [("report", b"answer"), ("output", notice(b"inspect output")), ("accept", b"")],
    b"odd": [("output", notice(b"x") + b"\x00" * 32), ("accept", b"")],
}


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    snapshot = tmp_path / "snapshot"
    fakes = Cluster(FakeMachine(SCRIPT), snapshot)
    monkeypatch.setattr(cm.RpcServer, "spawn", classmethod(lambda cls, directory, log_path: cls(
        fakes.add(None).address)))
    try:
        yield fakes
    finally:
        fakes.close()


@pytest.fixture
def machine(cluster: Cluster, tmp_path: Path) -> Iterator[cm.CmioMachine]:
    loaded = cm.CmioMachine.load(cluster.snapshot, directory=tmp_path, log_path=tmp_path / "m.log",
                                 max_cycles=50 * STEP_CYCLES)
    try:
        yield loaded
    finally:
        loaded.shutdown()


@pytest.fixture
def node(machine: cm.CmioMachine) -> Iterator[Callable[[Advance | Inspect], Finished]]:
    """The node's rollup server with the bridge as its backend; ``node(request)`` runs one request."""
    done = threading.Event()
    with RollupServer(long_poll=0.1) as rollup:
        failure: list[BaseException] = []

        def bridge() -> None:
            try:
                serve(machine, RollupClient(rollup.url), stopped=done.is_set)
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                failure.append(exc)

        thread = threading.Thread(target=bridge, daemon=True)
        thread.start()

        def run(request: Advance | Inspect) -> Finished:
            result = rollup.run(request, alive=lambda: not failure, timeout=30)
            assert not failure
            return result

        yield run
        done.set()
        thread.join(timeout=10)
    assert not thread.is_alive() and not failure


def advance(payload: bytes, index: int = 0, first_output: int = 0) -> Advance:
    return Advance({**META, "input_index": index}, payload, first_output)


def current(cluster: Cluster, machine: cm.CmioMachine) -> FakeMachine:
    found = cluster.at(machine.server.address).machine
    assert found is not None
    return found


# -- CmioMachine ------------------------------------------------------------------------------------

def test_load_refuses_a_machine_that_is_not_waiting_for_a_request(cluster: Cluster, tmp_path: Path) -> None:
    cluster.stored.iflags_y = 0
    with pytest.raises(cm.MachineError, match="not waiting"):
        cm.CmioMachine.load(cluster.snapshot, directory=tmp_path, log_path=tmp_path / "m.log")
    assert cluster.alive() == []


def test_advance_request_carries_the_metadata_and_payload(cluster: Cluster, machine: cm.CmioMachine) -> None:
    meta = {**META, "input_index": 3}
    machine.advance(cm.encode_advance(meta, b"again"))
    request = current(cluster, machine).requests[-1]
    assert request[:4] == keccak(b"EvmAdvance(uint256,address,address,uint256,uint256,uint256,uint256,bytes)")[:4]
    assert list(eth_abi.decode(cm.EVM_ADVANCE_TYPES, request[4:])) == [
        31337, META["app_contract"], META["msg_sender"], 7, 1700000000, 5, 3, b"again"]


def test_accepted_advance_keeps_the_machine_and_ends_the_snapshot(cluster: Cluster, machine: cm.CmioMachine) -> None:
    before = machine.server.address
    outcome = machine.advance(cm.encode_advance(META, b"pay"))
    assert outcome.status == "accepted" and outcome.cycles == 6 * STEP_CYCLES
    assert outcome.outputs == [notice(b"scored"), voucher(RECIPIENT, 7, b"\x01\x02"), notice(b"paid")]
    assert outcome.reports == [b"r1", b"r2"]
    assert machine.server.address == before and [s.address for s in cluster.alive()] == [before]


def test_rejected_advance_rolls_back_to_the_fork(cluster: Cluster, machine: cm.CmioMachine) -> None:
    original = cluster.at(machine.server.address)
    outcome = machine.advance(cm.encode_advance(META, b"bad"))
    assert outcome.status == "rejected" and outcome.reports == [b"why not"]
    assert not original.alive and cluster.alive() == [cluster.at(machine.server.address)]
    assert current(cluster, machine).seen == [] and current(cluster, machine).outputs == []


def test_inspect_runs_on_a_fork_that_is_discarded(cluster: Cluster, machine: cm.CmioMachine) -> None:
    before = machine.server.address
    outcome = machine.inspect(b"query")
    assert outcome.status == "accepted" and outcome.reports == [b"answer"]
    assert len(cluster.servers) == 2 and [s.address for s in cluster.alive()] == [before]
    assert current(cluster, machine).seen == []


@pytest.mark.parametrize(("payload", "status"), [(b"spin", "cycle_limit"), (b"halt", "halted"),
                                                 (b"boom", "exception")])
def test_unfinished_advance_is_rolled_back(cluster: Cluster, machine: cm.CmioMachine, payload: bytes,
                                           status: str) -> None:
    outcome = machine.advance(cm.encode_advance(META, payload))
    assert outcome.status == status and not outcome.accepted
    assert current(cluster, machine).seen == [] and len(cluster.alive()) == 1


# -- the bridge ---------------------------------------------------------------------------------------

def test_outputs_and_reports_reach_the_node_in_order_with_the_machine_root(
        cluster: Cluster, machine: cm.CmioMachine, node: Callable[[Advance | Inspect], Finished]) -> None:
    result = node(advance(b"pay"))
    expected = (notice(b"scored"), voucher(RECIPIENT, 7, b"\x01\x02"), notice(b"paid"))
    assert result.status == ACCEPTED and result.outputs == expected and result.reports == (b"r1", b"r2")
    assert result.outputs_root == merkle.root([keccak(o) for o in expected])
    second = node(advance(b"again", 1, 3))
    assert second.outputs_root == merkle.root([keccak(o) for o in (*expected, notice(b"second"))])


def test_a_rejected_input_leaves_no_trace_in_the_next_root(
        cluster: Cluster, machine: cm.CmioMachine, node: Callable[[Advance | Inspect], Finished]) -> None:
    rejected = node(advance(b"bad"))
    assert rejected.status == REJECTED and rejected.outputs == () and rejected.reports == (b"why not",)
    assert rejected.outputs_root is None
    accepted = node(advance(b"again", 1))
    assert accepted.outputs_root == merkle.root([keccak(notice(b"second"))])
    assert len(cluster.alive()) == 1


def test_inspect_reports_come_back_and_change_nothing(
        cluster: Cluster, machine: cm.CmioMachine, node: Callable[[Advance | Inspect], Finished]) -> None:
    result = node(Inspect(b"query"))
    assert result.status == ACCEPTED and result.reports == (b"answer",) and result.outputs == ()
    assert result.outputs_root is None
    assert node(advance(b"again")).outputs_root == merkle.root([keccak(notice(b"second"))])


@pytest.mark.parametrize(("payload", "message"), [(b"spin", b"cycle limit"), (b"halt", b"halted"),
                                                  (b"boom", b"Traceback: boom")])
def test_an_unfinished_request_becomes_an_exception(
        cluster: Cluster, machine: cm.CmioMachine, node: Callable[[Advance | Inspect], Finished], payload: bytes,
        message: bytes) -> None:
    result = node(advance(payload))
    assert result.status == EXCEPTION and message in (result.exception or b"") and result.outputs == ()
    assert node(advance(b"again", 1)).status == ACCEPTED  # the machine was rolled back and still serves


def test_an_output_the_server_would_record_differently_is_an_exception(
        machine: cm.CmioMachine, node: Callable[[Advance | Inspect], Finished]) -> None:
    result = node(advance(b"odd"))
    assert result.status == EXCEPTION and b"non-canonical" in (result.exception or b"")


def test_output_requests_refuse_unknown_outputs() -> None:
    with pytest.raises(BridgeError, match="unknown kind"):
        output_request(b"\xde\xad\xbe\xef" + bytes(64))
    with pytest.raises(BridgeError, match="undecodable"):
        output_request(keccak(b"Notice(bytes)")[:4] + b"\x01")


def test_the_server_takes_a_root_only_with_an_accept() -> None:
    with RollupServer(long_poll=0.05) as rollup:
        for body in ({"status": "reject", "outputs_root": "0x" + "11" * 32},
                     {"status": "accept", "outputs_root": "0x" + "11" * 31}):
            assert requests.post(rollup.url + "/finish", json=body, timeout=5).status_code == 400


# -- the root in the records and the claim ----------------------------------------------------------

def _record(index: int, epoch: int, result: Finished, first_output: int) -> InputRecord:
    return InputRecord(index=index, epoch_index=epoch, block_number=epoch * 10 + 1, raw_data=b"", metadata=META,
                       payload=b"", tx_hash=None, status=result.status, outputs=result.outputs,
                       reports=result.reports, first_output_index=first_output, first_report_index=0,
                       outputs_root=result.outputs_root)


def _closer(store: Store, monkeypatch: pytest.MonkeyPatch) -> tuple[EpochCloser, list[bytes]]:
    submitted: list[bytes] = []
    monkeypatch.setattr(chain, "submit_claim", lambda w3, deployment, owner, last_block, root: (
        submitted.append(root) or {"transactionHash": bytes(32)}))
    deployment = SimpleNamespace(epoch_length=10, block_number=0)
    return EpochCloser(None, deployment, None, store), submitted  # type: ignore[arg-type]


def test_the_machine_root_is_recorded_kept_and_claimed(
        tmp_path: Path, machine: cm.CmioMachine, node: Callable[[Advance | Inspect], Finished],
        monkeypatch: pytest.MonkeyPatch) -> None:
    paid, rejected = node(advance(b"pay")), node(advance(b"bad", 1, 3))
    store = Store(tmp_path / "state")
    store.append_input(_record(0, 0, paid, 0))
    store.append_input(_record(1, 0, rejected, 3))
    reopened = Store(tmp_path / "state")
    assert [r.outputs_root for r in reopened.inputs] == [paid.outputs_root, None]
    assert input_record(reopened.inputs[0])["outputs_hash"] == "0x" + (paid.outputs_root or b"").hex()
    closer, submitted = _closer(reopened, monkeypatch)
    assert closer.claim_due(scanned_block=100) == [0]
    assert submitted == [paid.outputs_root] and reopened.claims[0].root == paid.outputs_root


def test_a_claim_is_refused_when_the_machine_root_differs(
        tmp_path: Path, machine: cm.CmioMachine, node: Callable[[Advance | Inspect], Finished],
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    paid = node(advance(b"pay"))
    store = Store(tmp_path / "state")
    store.append_input(_record(0, 0, Finished(ACCEPTED, paid.outputs, (), None, bytes(32)), 0))
    closer, submitted = _closer(store, monkeypatch)
    with caplog.at_level(logging.ERROR, logger="devnode.epochs"):
        assert closer.claim_due(scanned_block=100) == []
    assert submitted == [] and store.claims == []
    assert "0x" + "00" * 32 in closer.summary(100)["refused_claims"]["0"]
    assert "not claimed" in caplog.text


# -- the command line --------------------------------------------------------------------------------

def test_cartesi_mode_without_a_snapshot_says_to_build_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake_machine = tmp_path / "cm"
    (fake_machine / "bin").mkdir(parents=True)
    (fake_machine / "bin" / "cartesi-jsonrpc-machine").write_text("")
    code = devnode_main(["up", "--state-dir", str(tmp_path / "state"), "--machine", "cartesi",
                         "--machine-dir", str(fake_machine), "--machine-snapshot", str(tmp_path / "none")])
    error = capsys.readouterr().err
    assert code == 1 and "make machine-image" in error and str(tmp_path / "none") in error
    assert len(error.strip().splitlines()) == 1


def test_cartesi_mode_without_the_machine_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = devnode_main(["up", "--state-dir", str(tmp_path / "state"), "--machine", "cartesi",
                         "--machine-dir", str(tmp_path)])
    error = capsys.readouterr().err
    assert code == 1 and "no Cartesi machine" in error and "make machine-image" in error
    assert len(error.strip().splitlines()) == 1
