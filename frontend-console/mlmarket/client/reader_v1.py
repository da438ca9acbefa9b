"""The reader of a Cartesi Rollups v1 node (GraphQL at ``<node>/graphql``, CARTESI-FACTS §8), giving its
callers what ``ReaderClient`` gives them from a v2 node.

``ReaderV1Client`` answers ``get_input``, ``list_inputs``, ``get_output``, ``list_outputs``,
``list_reports``, ``processed_input_count`` and ``wait_for_input`` with records shaped like the v2
reader's, so that ``outputs.decode_output``/``outcome_of`` and ``Market`` work unchanged:

- an input: ``index`` (hex), ``status`` (v1's ``UNPROCESSED`` becomes v2's ``NONE``), ``block_number``
  and ``decoded_data`` (``sender``, ``block_timestamp``, ``payload``);
- an output: v1 numbers notices and vouchers per input and per kind; here they get one global
  ``index`` (inputs in order; in each, its notices then its vouchers), stable since outputs are
  never rewritten. ``raw_data`` is the output in its v2 encoding (a voucher with value 0), so it
  decodes as a v2 one; a voucher's ``output_hashes_siblings`` is ``[]`` once the node gives its v1
  proof (the epoch is claimed), ``None`` before: ``chain_v1.ChainV1`` fetches that proof
  (``voucher_proof``) when it validates or executes the voucher;
- a report: a global ``index`` counted the same way.

``call`` (JSON-RPC, e.g. the local node's ``devnode_closeEpoch``) goes to ``<node>/rpc``; a node that
does not serve it answers as for an unknown method. ``reader_for(config)`` picks the reader of
``config.rollups``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import eth_abi
import requests

from mlmarket.client.config import NodeConfig
from mlmarket.client.errors import ClientError, NodeError
from mlmarket.client.outputs import NOTICE_SELECTOR, VOUCHER_SELECTOR, hex_bytes
from mlmarket.client.reader import METHOD_NOT_FOUND, UNPROCESSED, ReaderClient, RpcError

PAGE = 1000  # the v1 node's largest page
V1_UNPROCESSED = "UNPROCESSED"
_PROOF = """proof { context validity { inputIndexWithinEpoch outputIndexWithinInput outputHashesRootHash
  vouchersEpochRootHash noticesEpochRootHash machineStateHash outputHashInOutputHashesSiblings
  outputHashesInEpochSiblings } }"""
_INPUT = "index status msgSender timestamp blockNumber payload"


class GraphQLFailed(NodeError):
    """The node answered a GraphQL request with errors."""


@dataclass(frozen=True)
class Counts:
    """How many notices, vouchers and reports one processed input produced."""

    notices: int
    vouchers: int
    reports: int


def graphql_url(config: NodeConfig) -> str:
    """The GraphQL endpoint of a v1 node: the configured reader URL, ``…/rpc`` read as ``…/graphql``."""
    url = config.reader_url.rstrip("/")
    return url[: -len("/rpc")] + "/graphql" if url.endswith("/rpc") else url


def reader_for(config: NodeConfig, app: str | None = None) -> ReaderClient:
    """The reader of ``config``'s node: ``ReaderV1Client`` for a Rollups v1 node, else ``ReaderClient``."""
    app = config.address("Application") if app is None else app
    if config.rollups == 1:
        return ReaderV1Client(graphql_url(config), app)
    return ReaderClient(config.reader_url, app)


def _v2_input(node: dict[str, Any]) -> dict[str, Any]:
    status = node["status"]
    return {"index": hex(node["index"]), "status": UNPROCESSED if status == V1_UNPROCESSED else status,
            "block_number": hex(int(node["blockNumber"])),
            "decoded_data": {"sender": node["msgSender"], "block_timestamp": hex(int(node["timestamp"])),
                             "payload": node["payload"], "index": hex(node["index"])}}


def _notice_record(index: int, input_index: int, node: dict[str, Any]) -> dict[str, Any]:
    raw = NOTICE_SELECTOR + eth_abi.encode(["bytes"], [hex_bytes(node["payload"])])
    return {"index": hex(index), "input_index": hex(input_index), "raw_data": "0x" + raw.hex(),
            "output_hashes_siblings": None, "execution_transaction_hash": None}


def _voucher_record(index: int, input_index: int, node: dict[str, Any]) -> dict[str, Any]:
    raw = VOUCHER_SELECTOR + eth_abi.encode(["address", "uint256", "bytes"],
                                            [node["destination"], 0, hex_bytes(node["payload"])])
    return {"index": hex(index), "input_index": hex(input_index), "raw_data": "0x" + raw.hex(),
            "output_hashes_siblings": None if node.get("proof") is None else [],
            "execution_transaction_hash": None}


class ReaderV1Client(ReaderClient):
    """GraphQL client of a v1 node (module docstring); ``url`` is its JSON-RPC sibling ``<node>/rpc``."""

    def __init__(self, graphql: str, app: str, *, session: requests.Session | None = None,
                 timeout: float = 30.0) -> None:
        base = graphql.rstrip("/").removesuffix("/graphql")
        super().__init__(base + "/rpc", app, session=session, timeout=timeout)
        self.graphql = graphql
        self._counts: list[Counts] = []  # of the processed inputs, in order (they never change)
        self._counts_lock = threading.Lock()

    # -- transport --------------------------------------------------------------------------
    def query(self, query: str, **variables: Any) -> dict[str, Any]:
        """The ``data`` of a GraphQL query. Raises ``GraphQLFailed`` on errors, ``NodeError`` if the
        node cannot be reached or does not answer GraphQL."""
        body = self._answer(self.graphql, {"query": query, "variables": variables},
                            again=True, what="GraphQL")  # queries only read: sent again if need be
        if body.get("errors"):
            raise GraphQLFailed("GraphQL: " + "; ".join(str(e.get("message", e)) for e in body["errors"]))
        return body.get("data") or {}

    def call(self, method: str, **params: Any) -> Any:
        """A JSON-RPC call to ``<node>/rpc``; a node without it answers ``METHOD_NOT_FOUND``."""
        try:
            return super().call(method, **params)
        except RpcError:
            raise
        except NodeError as exc:
            if "HTTP 404" in exc.message or "HTTP 405" in exc.message:
                raise RpcError(f"{method}: the node serves no JSON-RPC", METHOD_NOT_FOUND) from exc
            raise

    def _optional(self, query: str, **variables: Any) -> dict[str, Any] | None:
        try:
            return self.query(query, **variables)
        except GraphQLFailed as exc:
            if exc.message.endswith("not found"):
                return None
            raise

    def _all(self, field: str, selection: str) -> list[dict[str, Any]]:
        """Every node of the top-level connection ``field``, a page at a time."""
        nodes: list[dict[str, Any]] = []
        after = None
        while True:
            data = self.query(f"query P($after: String) {{ {field}(first: {PAGE}, after: $after) {{ "
                              f"edges {{ node {{ {selection} }} }} "
                              f"pageInfo {{ hasNextPage endCursor }} }} }}", after=after)[field]
            nodes += [e["node"] for e in data["edges"]]
            if not data["pageInfo"]["hasNextPage"]:
                return nodes
            after = data["pageInfo"]["endCursor"]

    # -- numbering --------------------------------------------------------------------------
    def counts(self, through: int | None = None) -> list[Counts]:
        """The output and report counts of the processed inputs (all, or at least through input
        ``through`` if it is processed); known ones are not asked again."""
        with self._counts_lock:
            if through is None or through >= len(self._counts):
                self._learn_counts()
            return list(self._counts)

    def _learn_counts(self) -> None:
        after = None
        where = f"where: {{indexGreaterThan: {len(self._counts) - 1}}}" if self._counts else ""
        while True:
            data = self.query(f"query C($after: String) {{ inputs(first: {PAGE}, after: $after {where}) {{ "
                              f"edges {{ node {{ index status notices {{ totalCount }} "
                              f"vouchers {{ totalCount }} reports {{ totalCount }} }} }} "
                              f"pageInfo {{ hasNextPage endCursor }} }} }}",
                              after=after)["inputs"]
            for edge in data["edges"]:
                node = edge["node"]
                if node["status"] == V1_UNPROCESSED or node["index"] != len(self._counts):
                    return
                self._counts.append(Counts(node["notices"]["totalCount"], node["vouchers"]["totalCount"],
                                           node["reports"]["totalCount"]))
            if not data["pageInfo"]["hasNextPage"]:
                return
            after = data["pageInfo"]["endCursor"]

    def first_output(self, input_index: int) -> int:
        """The global index of input ``input_index``'s first output."""
        return sum(c.notices + c.vouchers for c in self.counts(input_index)[:input_index])

    def locate(self, index: int) -> tuple[str, int, int]:
        """``(kind, input_index, index within the input's outputs of that kind)`` of global output
        ``index``. Raises ``ClientError`` if the node has no such output (yet)."""
        counts, start = self.counts(0), 0
        if sum(c.notices + c.vouchers for c in counts) <= index:
            counts = self.counts()
        for input_index, count in enumerate(counts):
            offset = index - start
            if offset < count.notices:
                return "notice", input_index, offset
            if offset < count.notices + count.vouchers:
                return "voucher", input_index, offset - count.notices
            start += count.notices + count.vouchers
        raise ClientError(f"the node has no output {index}")

    def voucher_proof(self, input_index: int, position: int) -> dict[str, Any] | None:
        """The v1 ``Proof`` of voucher ``position`` of input ``input_index``; None before the claim."""
        data = self.query(f"query V($v: Int!, $i: Int!) {{ voucher(voucherIndex: $v, inputIndex: $i) "
                          f"{{ {_PROOF} }} }}", v=position, i=input_index)
        return data["voucher"]["proof"]

    # -- the ReaderClient interface -----------------------------------------------------------
    def get_input(self, index: int) -> dict[str, Any] | None:
        """The input record, or None if the node does not know it yet."""
        data = self._optional(f"query I($i: Int!) {{ input(index: $i) {{ {_INPUT} }} }}", i=index)
        return None if data is None else _v2_input(data["input"])

    def list_inputs(self) -> list[dict[str, Any]]:
        """Every input of the application."""
        return [_v2_input(n) for n in self._all("inputs", _INPUT)]

    def get_output(self, index: int) -> dict[str, Any] | None:
        """Output ``index`` (global numbering, module docstring), or None if unknown."""
        try:
            kind, input_index, position = self.locate(index)
        except ClientError:
            return None
        if kind == "notice":
            data = self.query("query N($n: Int!, $i: Int!) { notice(noticeIndex: $n, inputIndex: $i) "
                              "{ payload } }", n=position, i=input_index)
            return _notice_record(index, input_index, data["notice"])
        data = self.query(f"query V($v: Int!, $i: Int!) {{ voucher(voucherIndex: $v, inputIndex: $i) {{ "
                          f"destination payload {_PROOF} }} }}", v=position, i=input_index)
        return _voucher_record(index, input_index, data["voucher"])

    def list_outputs(self, input_index: int | None = None) -> list[dict[str, Any]]:
        """Every output record, or those of one input."""
        if input_index is None:
            notices = self._all("notices", "index payload input { index }")
            vouchers = self._all("vouchers", f"index destination payload input {{ index }} {_PROOF}")
            by_input: dict[int, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}
            for node in notices:
                by_input.setdefault(node["input"]["index"], ([], []))[0].append(node)
            for node in vouchers:
                by_input.setdefault(node["input"]["index"], ([], []))[1].append(node)
            return [r for n in sorted(by_input) for r in self._records(n, *by_input[n])]
        data = self.query(f"query O($i: Int!) {{ input(index: $i) {{ "
                          f"notices {{ edges {{ node {{ index payload }} }} }} "
                          f"vouchers {{ edges {{ node {{ index destination payload {_PROOF} }} }} }} }} }}",
                          i=input_index)["input"]
        return self._records(input_index, [e["node"] for e in data["notices"]["edges"]],
                             [e["node"] for e in data["vouchers"]["edges"]])

    def _records(self, input_index: int, notices: list[dict[str, Any]],
                 vouchers: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not notices and not vouchers:
            return []
        start = self.first_output(input_index)
        records = [_notice_record(start + n["index"], input_index, n) for n in notices]
        first_voucher = start + len(notices)
        return records + [_voucher_record(first_voucher + v["index"], input_index, v) for v in vouchers]

    def list_reports(self, input_index: int | None = None) -> list[dict[str, Any]]:
        """Every report record, or those of one input."""
        if input_index is None:
            nodes = self._all("reports", "index payload input { index }")
        else:
            data = self.query("query R($i: Int!) { input(index: $i) { reports { edges { node { index payload "
                              "input { index } } } } } }", i=input_index)["input"]
            nodes = [e["node"] for e in data["reports"]["edges"]]
        if not nodes:
            return []
        counts = self.counts(max(n["input"]["index"] for n in nodes))
        firsts = [sum(c.reports for c in counts[:i]) for i in range(len(counts) + 1)]
        return [{"index": hex(firsts[min(n["input"]["index"], len(counts))] + n["index"]),
                 "input_index": hex(n["input"]["index"]), "raw_data": n["payload"]} for n in nodes]

    def processed_input_count(self) -> int:
        """How many inputs the node has processed."""
        return len(self.counts())

    def list_applications(self) -> list[dict[str, Any]]:
        """A v1 node does not name its application: always ``NodeError``."""
        raise NodeError("a Rollups v1 node does not list its application: give --app or MLMARKET_APP")
