"""The backend against a stub rollup HTTP server: exact request bodies, 202 retries, the real process."""

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from dapp.codec import abi
from dapp.domain.values import Address
from dapp.rollup.http import HttpRollup, RollupHttpError
from tests.support.rollup import ALICE, PORTALS, TOKEN, erc20_deposit, v2_metadata

ROOT = Path(__file__).resolve().parents[2]


class StubServer:
    """Records POSTs; answers /finish from a script of (status, body) pairs, then 202 forever."""

    def __init__(self, script=()):
        self.script = list(script)
        self.posts = []
        self.lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with stub.lock:
                    stub.posts.append((self.path, body))
                    if self.path == "/finish":
                        status, answer = stub.script.pop(0) if stub.script else (202, None)
                    elif self.path in ("/notice", "/voucher"):
                        status, answer = 201, {"index": sum(p in ("/notice", "/voucher") for p, _ in stub.posts) - 1}
                    else:
                        status, answer = 202, None
                data = json.dumps(answer).encode() if answer is not None else b""
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, predicate, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if predicate(self.posts):
                    return
            time.sleep(0.02)
        raise AssertionError(f"timed out; posts so far: {self.posts}")


def advance(sender, payload, index=0):
    return {"request_type": "advance_state",
            "data": {"metadata": v2_metadata(sender, index), "payload": "0x" + payload.hex()}}


def test_voucher_value_is_64_hex_digits_and_destination_42_chars():
    with StubServer() as stub:
        HttpRollup(stub.url).voucher(Address(b"\x11" * 20), 5, b"\x01\x02")
        ((path, body),) = stub.posts
        assert path == "/voucher"
        assert body == {"destination": "0x" + "11" * 20, "value": "0x" + "00" * 31 + "05", "payload": "0x0102"}


def test_finish_returns_none_on_202_and_the_request_on_200():
    request = advance(ALICE, b"")
    with StubServer([(202, None), (200, request)]) as stub:
        rollup = HttpRollup(stub.url)
        assert rollup.finish(True) is None
        assert rollup.finish(True) == request
        assert [b for p, b in stub.posts] == [{"status": "accept"}] * 2


def test_a_refused_request_raises():
    with StubServer([(400, "bad status")]) as stub:
        with pytest.raises(RollupHttpError, match="400"):
            HttpRollup(stub.url).finish(True)


@pytest.fixture
def backend():
    """Starts `python -m dapp` against a stub; stops it afterwards."""
    processes = []

    def start(url):
        env = {**os.environ, "ROLLUP_HTTP_SERVER_URL": url, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen([sys.executable, "-m", "dapp"], env=env, cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        processes.append(proc)
        return proc

    yield start
    for proc in processes:
        proc.kill()
        proc.wait()


def test_the_backend_process_accepts_rejects_and_reports(backend):
    withdraw = abi.inputs().encode("withdraw", TOKEN.raw, 10)
    script = [
        (200, advance(PORTALS.erc20, erc20_deposit(TOKEN, ALICE, 25), 0)),
        (200, advance(ALICE, withdraw, 1)),
        (200, advance(ALICE, abi.inputs().encode("withdraw", TOKEN.raw, 10**9), 2)),
        (200, {"request_type": "inspect_state", "data": {"payload": "0x" + f"balances/{ALICE.hex}".encode().hex()}}),
    ]
    with StubServer(script) as stub:
        backend(stub.url)
        stub.wait_for(lambda posts: sum(p == "/finish" for p, _ in posts) >= 5)
    finishes = [b["status"] for p, b in stub.posts if p == "/finish"]
    assert finishes[:5] == ["accept", "accept", "accept", "reject", "accept"]
    vouchers = [b for p, b in stub.posts if p == "/voucher"]
    assert len(vouchers) == 1 and vouchers[0]["destination"] == TOKEN.hex
    reports = [json.loads(bytes.fromhex(b["payload"][2:])) for p, b in stub.posts if p == "/report"]
    assert reports[0]["error"]["code"] == "insufficient_balance"
    assert reports[1]["balances"] == {TOKEN.hex: "15"}
