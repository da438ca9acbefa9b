"""Sessions to loopback addresses ignore proxy settings (and never scan os.environ); others keep them."""

import json
import os
from collections.abc import Iterator, MutableMapping

import pytest
import requests

from devnode.httpd import ReplyingHandler, ThreadedHTTPServer, content_length
from mlmarket.client.sessions import is_loopback, session_for
from mlmarket.client.tx import web3_for

DEAD_PROXY = "http://127.0.0.1:9"  # the discard port: nothing listens, a proxied request fails


class Handler(ReplyingHandler):
    def do_GET(self) -> None:
        self.reply(200, "ok")

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(content_length(self.headers.get("Content-Length")) or 0))
        self.reply(200, {"jsonrpc": "2.0", "id": request["id"], "result": "0x7a69"})


@pytest.fixture
def server() -> Iterator[ThreadedHTTPServer]:
    served = ThreadedHTTPServer("127.0.0.1", 0, Handler, "test-sessions").start()
    yield served
    served.stop()


@pytest.fixture
def dead_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, DEAD_PROXY)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(("url", "loopback"), [
    ("http://127.0.0.1:8545", True), ("http://127.9.8.7/x", True), ("http://localhost:5004/finish", True),
    ("http://node.localhost", True), ("http://[::1]:80", True), ("https://example.com", False),
    ("http://10.0.0.1:8545", False), ("http://[2001:db8::1]/", False), ("not a url", False),
])
def test_loopback_urls_are_recognised(url: str, loopback: bool) -> None:
    assert is_loopback(url) is loopback


@pytest.mark.usefixtures("dead_proxy")
def test_a_loopback_session_does_not_go_through_the_environment_proxy(server: ThreadedHTTPServer) -> None:
    with pytest.raises(requests.exceptions.ProxyError):  # what requests does by default
        requests.Session().get(server.url, timeout=5)
    assert session_for(server.url).get(server.url, timeout=5).text == "ok"
    assert web3_for(server.url, 5).eth.chain_id == 31337


@pytest.mark.usefixtures("dead_proxy")
def test_a_session_to_another_host_keeps_the_environment_proxy() -> None:
    url = "http://example.com/"
    settings = session_for(url).merge_environment_settings(url, {}, None, None, None)
    assert settings["proxies"].get("http") == DEAD_PROXY


class ScanRefusingEnviron(MutableMapping[str, str]):
    """``os.environ`` whose keys may be read one by one but not listed."""

    def __init__(self, real: MutableMapping[str, str]) -> None:
        self.real = real

    def __getitem__(self, key: str) -> str:
        return self.real[key]

    def __setitem__(self, key: str, value: str) -> None:
        self.real[key] = value

    def __delitem__(self, key: str) -> None:
        del self.real[key]

    def __len__(self) -> int:
        return len(self.real)

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("os.environ scanned")


def test_a_loopback_request_does_not_scan_the_environment(server: ThreadedHTTPServer,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """pytest sets and removes PYTEST_CURRENT_TEST while the node's and the console's threads talk to
    anvil and the node; a request that scanned os.environ at that moment failed with KeyError (a CI
    failure). A loopback session reads no variable it does not name."""
    monkeypatch.setattr(os, "environ", ScanRefusingEnviron(os.environ))
    with pytest.raises(AssertionError, match="scanned"):  # what requests does by default
        requests.Session().get(server.url, timeout=5)
    assert session_for(server.url).get(server.url, timeout=5).text == "ok"
    assert web3_for(server.url, 5).eth.chain_id == 31337
