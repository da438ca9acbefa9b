"""A pooled keep-alive connection that the node closes as the next request arrives (issue 11).

The server here answers the first request of each connection and closes the connection, without an
answer, on any later request: what a client sees when a node drops an idle keep-alive connection
just as the client reuses it (``RemoteDisconnected``). A read is idempotent, so ``ReaderClient`` sends
it again once, on a new connection; a call that changes the node (``devnode_closeEpoch``) is never
sent twice.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
from mlmarket.client.errors import NodeError
from mlmarket.client.reader import ReaderClient

from devnode.httpd import ReplyingHandler, ThreadedHTTPServer, content_length

APP = "0x" + "ab" * 20


class Node:
    """The server: answers JSON-RPC with ``{"data": <method>}`` to the first ``answers_per_connection``
    requests of a connection, and reads any later one and closes the connection without an answer.
    ``received`` counts the requests it read, per method."""

    def __init__(self, answers_per_connection: int) -> None:
        self.received: Counter[str] = Counter()
        node = self

        class Handler(ReplyingHandler):
            answered = 0  # on this connection: http.server makes one handler per connection

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = content_length(self.headers.get("Content-Length")) or 0
                request = json.loads(self.rfile.read(length))
                node.received[request["method"]] += 1
                if self.answered >= answers_per_connection:
                    self.close_connection = True
                    return
                self.answered += 1
                answer = {"data": request["method"]}
                self.reply(200, {"jsonrpc": "2.0", "id": request["id"], "result": answer})

        self.http = ThreadedHTTPServer("127.0.0.1", 0, Handler, "test-stale-connection")
        self.reader = ReaderClient(f"{self.http.url}/rpc", APP, timeout=10)


@pytest.fixture
def serve() -> Iterator[Callable[[int], Node]]:
    started: list[Node] = []

    def start(answers_per_connection: int) -> Node:
        started.append(Node(answers_per_connection))
        started[-1].http.start()
        return started[-1]

    yield start
    for node in started:
        node.http.stop()


def test_reads_in_a_row_survive_a_node_that_drops_reused_connections(serve: Callable[[int], Node]) -> None:
    node = serve(1)
    methods = ["cartesi_getProcessedInputCount", "cartesi_listInputs", "cartesi_getInput", "devnode_info"] * 3
    answers = [node.reader.call(method, application=APP) for method in methods]
    assert answers == [{"data": method} for method in methods]
    # The first read went out on a new connection; every later one was dropped once, then sent again.
    assert sum(node.received.values()) == 2 * len(methods) - 1


def test_a_call_that_changes_the_node_is_not_sent_again(serve: Callable[[int], Node]) -> None:
    node = serve(1)
    assert node.reader.call("cartesi_getChainId") == {"data": "cartesi_getChainId"}
    with pytest.raises(NodeError, match="cannot reach the node's reader API"):
        node.reader.call("devnode_closeEpoch")
    assert node.received["devnode_closeEpoch"] == 1


def test_a_read_is_sent_again_once_only(serve: Callable[[int], Node]) -> None:
    node = serve(0)  # drops every connection before answering
    with pytest.raises(NodeError, match="cannot reach the node's reader API"):
        node.reader.processed_input_count()
    assert node.received["cartesi_getProcessedInputCount"] == 2
