"""Reader JSON-RPC and inspect clients against a scripted local HTTP server (127.0.0.1, stopped after)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import eth_abi
import pytest
from eth_hash.auto import keccak
from mlmarket.client.errors import InspectFailed, NodeError
from mlmarket.client.inspect import InspectClient, query_path
from mlmarket.client.reader import ReaderClient, RpcError

APP = "0x" + "aa" * 20
Handler = Callable[[str, bytes], tuple[int, Any]]


class FakeNode:
    """Answers POSTs with ``handler(path, body)``; records every request."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[tuple[str, bytes]] = []
        fake = self

        class _Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                fake.requests.append((self.path, body))
                status, answer = fake.handler(self.path, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def node_factory() -> Iterator[Callable[[Handler], FakeNode]]:
    started: list[FakeNode] = []

    def make(handler: Handler) -> FakeNode:
        node = FakeNode(handler)
        started.append(node)
        return node

    try:
        yield make
    finally:
        for node in started:
            node.stop()


def rpc_result(body: bytes, result: Any) -> tuple[int, Any]:
    return 200, {"jsonrpc": "2.0", "id": json.loads(body)["id"], "result": result}


def rpc_error(body: bytes, code: int, message: str) -> tuple[int, Any]:
    return 200, {"jsonrpc": "2.0", "id": json.loads(body)["id"], "error": {"code": code, "message": message}}


def notice_raw(payload: bytes) -> str:
    return "0x" + (keccak(b"Notice(bytes)")[:4] + eth_abi.encode(["bytes"], [payload])).hex()


def test_wait_for_input_polls_until_processed(node_factory: Callable[[Handler], FakeNode]) -> None:
    calls = {"n": 0}
    deposited = keccak(b"Deposited(address,address,uint256)")[:4] + eth_abi.encode(
        ["address", "address", "uint256"], [APP, APP, 9])

    def handler(path: str, body: bytes) -> tuple[int, Any]:
        request = json.loads(body)
        method, params = request["method"], request["params"]
        if method == "cartesi_getInput":
            calls["n"] += 1
            if calls["n"] == 1:
                return rpc_error(body, -31001, "Input not found")
            status = "NONE" if calls["n"] == 2 else "ACCEPTED"
            return rpc_result(body, {"data": {"index": params["input_index"], "status": status}})
        assert params["input_index"] == "0x7"
        if method == "cartesi_listOutputs":
            return rpc_result(body, {"data": [{"index": "0x2", "input_index": "0x7", "raw_data": notice_raw(deposited)}],
                                     "pagination": {"total_count": 1, "limit": 500, "offset": 0}})
        return rpc_result(body, {"data": [{"index": "0x0", "input_index": "0x7",
                                           "raw_data": "0x" + b'{"ok":true}'.hex()}],
                                 "pagination": {"total_count": 1, "limit": 500, "offset": 0}})

    node = node_factory(handler)
    seen: list[str] = []
    outcome = ReaderClient(node.url + "/rpc", APP).wait_for_input(7, poll=0.01, on_wait=seen.append)
    assert outcome.status == "ACCEPTED" and outcome.index == 7 and outcome.error is None
    assert outcome.first("Deposited") == {"token": APP, "account": APP, "amount": "9"}
    assert seen == ["UNKNOWN", "NONE"]
    assert all(json.loads(b)["params"]["application"] == APP for _, b in node.requests)


def test_lists_follow_pagination(node_factory: Callable[[Handler], FakeNode]) -> None:
    reports = [{"index": hex(i), "input_index": "0x0", "raw_data": "0x"} for i in range(5)]

    def handler(path: str, body: bytes) -> tuple[int, Any]:
        offset = json.loads(body)["params"]["offset"]
        return rpc_result(body, {"data": reports[offset:offset + 2],
                                 "pagination": {"total_count": 5, "limit": 2, "offset": offset}})

    node = node_factory(handler)
    assert ReaderClient(node.url, APP).list_reports() == reports


def test_rpc_errors_carry_their_code(node_factory: Callable[[Handler], FakeNode]) -> None:
    node = node_factory(lambda path, body: rpc_error(body, -31002, "Application not found"))
    with pytest.raises(RpcError) as info:
        ReaderClient(node.url, APP).processed_input_count()
    assert info.value.code == -31002 and "Application not found" in info.value.message


def test_processed_count_is_hex_decoded(node_factory: Callable[[Handler], FakeNode]) -> None:
    node = node_factory(lambda path, body: rpc_result(body, {"data": "0x1f"}))
    assert ReaderClient(node.url, APP).processed_input_count() == 31


def test_wait_gives_up_after_its_timeout(node_factory: Callable[[Handler], FakeNode]) -> None:
    node = node_factory(lambda path, body: rpc_result(body, {"data": {"index": "0x0", "status": "NONE"}}))
    with pytest.raises(NodeError, match="not processed"):
        ReaderClient(node.url, APP).wait_for_input(0, timeout=0.05, poll=0.01)


def test_unreachable_node_is_a_node_error() -> None:
    with pytest.raises(NodeError, match="cannot reach"):
        ReaderClient("http://127.0.0.1:9/rpc", APP, timeout=1).processed_input_count()


def inspect_answer(*reports: Any) -> tuple[int, Any]:
    payloads = [{"payload": "0x" + json.dumps(r).encode().hex()} for r in reports]
    return 200, {"status": "Accepted", "reports": payloads, "processed_input_count": 3}


def test_inspect_sends_the_raw_query_and_returns_the_json(node_factory: Callable[[Handler], FakeNode]) -> None:
    node = node_factory(lambda path, body: inspect_answer({"ok": True, "jobs": []}))
    client = InspectClient(f"{node.url}/inspect/{APP}")
    assert client.query("jobs/3/submissions") == {"ok": True, "jobs": []}
    assert node.requests == [(f"/inspect/{APP}", b"jobs/3/submissions")]


def test_inspect_error_report_raises_with_code(node_factory: Callable[[Handler], FakeNode]) -> None:
    node = node_factory(lambda path, body: inspect_answer({"ok": False, "error": {"code": "not_found",
                                                                                   "message": "no job 3"}}))
    with pytest.raises(InspectFailed) as info:
        InspectClient(node.url).query("jobs/3")
    assert info.value.code == "not_found" and "no job 3" in info.value.message


def test_inspect_not_accepted_is_a_node_error(node_factory: Callable[[Handler], FakeNode]) -> None:
    node = node_factory(lambda path, body: (200, {"status": "Exception", "reports": []}))
    with pytest.raises(NodeError, match="not accepted"):
        InspectClient(node.url).query("jobs")


def test_query_path_escapes_parts_and_parameters() -> None:
    assert query_path("jobs", 3, "submissions") == "jobs/3/submissions"
    assert query_path("contents", "bafk", "data", offset=0, length=10) == "contents/bafk/data?offset=0&length=10"
    assert query_path("x", "a/b") == "x/a%2Fb"
