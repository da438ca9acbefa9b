"""The Rollups v1 node's reader API, for the local node in v1 mode (CARTESI-FACTS §8).

What a rollups-node 1.x serves and Cartesi CLI 1.x / sunodo clients read:

- ``POST /graphql``: the v1 GraphQL reader (schema ``SCHEMA`` below, as rollups-node v1.5's
  ``api/graphql/reader.graphql`` defines it): ``input(index)``, ``voucher/notice/report(<kind>Index,
  inputIndex)``, the ``inputs/vouchers/notices/reports`` connections (``first/last/after/before``,
  ``where`` on inputs) with ``edges{node cursor} pageInfo totalCount``. Cursors are base64 of the
  offset in the list; at most 1000 entries a page; the node's error messages.
- ``GET /inspect/<payload>`` (URL-decoded path and query string as the payload) and ``POST /inspect``
  (raw body): ``{"status", "exception_payload", "reports": [{"payload"}], "processed_input_count"}``.

Vouchers and notices are numbered per input and per kind, as v1 numbers them: notice ``i`` of input
``n`` is the ``i``-th notice that input emitted. The node records outputs as on-chain v2 bytes
(``devnode.outputs``); a v1 voucher is its destination and payload (no value). A voucher's or notice's
``proof`` comes from the ``ProofFn`` given at construction (``devnode.v1.proofs.output_proof``), ``None``
until the epoch is claimed. Resolvers are pure functions over a snapshot of the recorded inputs.

The node mounts it with ``ReaderServer(node, host, port, routes=graphql_v1.routes(node, proof))``
(``devnode.v1.node.reader_routes``, in v1 mode).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from graphql import (
    GraphQLError,
    GraphQLScalarType,
    GraphQLSyntaxError,
    build_schema,
    execute,
    parse,
    validate,
)

from devnode.outputs import decode_output
from devnode.records import NONE
from devnode.rpc import NodeView, NotReady, Queries
from devnode.server import ACCEPTED, EXCEPTION, REJECTED
from devnode.store import InputRecord

log = logging.getLogger(__name__)

ProofFn = Callable[[str, int, int], Mapping[str, Any] | None]
"""``proof(kind, input_index, index_within_input)`` -> the GraphQL ``Proof`` (``{"validity": {...},
"context": "0x..."}``) of a ``"voucher"`` or ``"notice"``, or ``None`` before its epoch is claimed."""

PAGE_LIMIT = 1000  # the v1 node's default and largest page
GRAPHQL_PATH, INSPECT_PATH = "/graphql", "/inspect"

SCHEMA = '''
"Proof that an output was produced, checkable on the base layer"
type Proof { validity: OutputValidityProof!  context: String! }

"The output validity proof of Rollups v1 (CartesiDApp's OutputValidityProof)"
type OutputValidityProof {
  inputIndexWithinEpoch: Int!
  outputIndexWithinInput: Int!
  outputHashesRootHash: String!
  vouchersEpochRootHash: String!
  noticesEpochRootHash: String!
  machineStateHash: String!
  outputHashInOutputHashesSiblings: [String!]!
  outputHashesInEpochSiblings: [String!]!
}

enum CompletionStatus {
  UNPROCESSED ACCEPTED REJECTED EXCEPTION MACHINE_HALTED CYCLE_LIMIT_EXCEEDED TIME_LIMIT_EXCEEDED
  PAYLOAD_LENGTH_LIMIT_EXCEEDED
}

"64-bit integer, written as a decimal string"
scalar BigInt

"An input sent to the application (index from genesis)"
type Input {
  index: Int!
  status: CompletionStatus!
  msgSender: String!
  timestamp: BigInt!
  blockNumber: BigInt!
  payload: String!
  voucher(index: Int!): Voucher!
  notice(index: Int!): Notice!
  report(index: Int!): Report!
  vouchers(first: Int, last: Int, after: String, before: String): VoucherConnection!
  notices(first: Int, last: Int, after: String, before: String): NoticeConnection!
  reports(first: Int, last: Int, after: String, before: String): ReportConnection!
}

"A base-layer call the application asks for (index within its input)"
type Voucher { index: Int!  input: Input!  destination: String!  payload: String!  proof: Proof }

"A statement of the application, checkable on the base layer (index within its input)"
type Notice { index: Int!  input: Input!  payload: String!  proof: Proof }

"Diagnostics of the application (index within its input)"
type Report { index: Int!  input: Input!  payload: String! }

input InputFilter { indexLowerThan: Int  indexGreaterThan: Int }

type PageInfo { startCursor: String  endCursor: String  hasNextPage: Boolean!  hasPreviousPage: Boolean! }

type InputEdge { node: Input!  cursor: String! }
type VoucherEdge { node: Voucher!  cursor: String! }
type NoticeEdge { node: Notice!  cursor: String! }
type ReportEdge { node: Report!  cursor: String! }
type InputConnection { totalCount: Int!  edges: [InputEdge!]!  pageInfo: PageInfo! }
type VoucherConnection { totalCount: Int!  edges: [VoucherEdge!]!  pageInfo: PageInfo! }
type NoticeConnection { totalCount: Int!  edges: [NoticeEdge!]!  pageInfo: PageInfo! }
type ReportConnection { totalCount: Int!  edges: [ReportEdge!]!  pageInfo: PageInfo! }

type Query {
  input(index: Int!): Input!
  voucher(voucherIndex: Int!, inputIndex: Int!): Voucher!
  notice(noticeIndex: Int!, inputIndex: Int!): Notice!
  report(reportIndex: Int!, inputIndex: Int!): Report!
  inputs(first: Int, last: Int, after: String, before: String, where: InputFilter): InputConnection!
  vouchers(first: Int, last: Int, after: String, before: String): VoucherConnection!
  notices(first: Int, last: Int, after: String, before: String): NoticeConnection!
  reports(first: Int, last: Int, after: String, before: String): ReportConnection!
}
'''


def _schema() -> Any:
    schema = build_schema(SCHEMA)
    big = schema.type_map["BigInt"]
    assert isinstance(big, GraphQLScalarType)
    big.serialize = lambda value: str(int(value))  # type: ignore[method-assign]
    big.parse_value = lambda value: int(value)  # type: ignore[method-assign]
    return schema


# -- pagination (the v1 node's rules) -------------------------------------------------------------

def encode_cursor(offset: int) -> str:
    """The cursor of the entry at ``offset``: base64 of its decimal text."""
    return base64.b64encode(str(offset).encode()).decode()


def decode_cursor(cursor: str) -> int:
    """The offset a cursor names; ``GraphQLError`` with the node's messages if malformed."""
    try:
        raw = base64.b64decode(cursor, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise GraphQLError("failed to decode base64 cursor") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GraphQLError("failed to decode UTF8 cursor") from exc
    try:
        return int(text)
    except ValueError as exc:
        raise GraphQLError("failed to parse cursor") from exc


def page_bounds(total: int, first: int | None = None, last: int | None = None, after: str | None = None,
                before: str | None = None) -> tuple[int, int]:
    """``(offset, count)`` of the page asked for among ``total`` entries: forward (``first``/``after``)
    or backward (``last``/``before``), never both; at most ``PAGE_LIMIT`` entries."""
    backward = last is not None or before is not None
    if backward and (first is not None or after is not None):
        raise GraphQLError("cannot mix forward pagination (first, after) with backward pagination "
                           "(last, before)")

    def cursor(value: str, name: str) -> int:
        offset = decode_cursor(value)
        if not 0 <= offset < total:
            raise GraphQLError(f"invalid pagination cursor {name}")
        return offset

    def limit(value: int | None, name: str) -> int:
        if value is not None and value < 0:
            raise GraphQLError(f"invalid pagination limit {name}")
        return PAGE_LIMIT if value is None else min(value, PAGE_LIMIT)

    if backward:
        end = total if before is None else cursor(before, "before")
        count = limit(last, "last")
        return (0, end) if count >= end else (end - count, count)
    start = 0 if after is None else cursor(after, "after") + 1
    return start, min(limit(first, "first"), total - start)


def connection(items: Sequence[Any], first: int | None = None, last: int | None = None,
               after: str | None = None, before: str | None = None) -> dict[str, Any]:
    """A ``…Connection`` over ``items``: the page's edges, ``pageInfo`` and ``totalCount``."""
    total = len(items)
    offset, count = page_bounds(total, first, last, after, before)
    edges = [{"node": items[offset + i], "cursor": encode_cursor(offset + i)} for i in range(count)]
    return {"totalCount": total, "edges": edges, "pageInfo": {
        "startCursor": edges[0]["cursor"] if edges else None,
        "endCursor": edges[-1]["cursor"] if edges else None,
        "hasPreviousPage": bool(edges) and offset > 0,
        "hasNextPage": bool(edges) and offset + count < total,
    }}


# -- the records as v1 objects ---------------------------------------------------------------------

@dataclass(frozen=True)
class V1Outputs:
    """One input's outputs as v1 sees them: notice payloads and (destination, payload) vouchers."""

    notices: tuple[bytes, ...]
    vouchers: tuple[tuple[str, bytes], ...]


def v1_outputs(record: InputRecord) -> V1Outputs:
    """Splits an input's recorded outputs into v1 notices and vouchers, in the order emitted."""
    notices: list[bytes] = []
    vouchers: list[tuple[str, bytes]] = []
    for raw in record.outputs:
        decoded = decode_output(raw) or {}
        if decoded.get("type") == "Notice":
            notices.append(bytes.fromhex(decoded["payload"][2:]))
        elif decoded.get("type") == "Voucher":
            vouchers.append((decoded["destination"], bytes.fromhex(decoded["payload"][2:])))
    return V1Outputs(tuple(notices), tuple(vouchers))


def v1_status(status: str) -> str:
    """The ``CompletionStatus`` of a recorded status (an input seen but not processed: UNPROCESSED)."""
    return "UNPROCESSED" if status == NONE else status


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


class Lazy(Sequence[dict[str, Any]]):
    """The objects ``make(*key)`` of ``keys``, built only when a page reads them."""

    def __init__(self, keys: list[tuple[int, ...]], make: Callable[..., dict[str, Any]]) -> None:
        self.keys = keys
        self.make = make

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, position: Any) -> Any:
        if isinstance(position, slice):
            return [self.make(*key) for key in self.keys[position]]
        return self.make(*self.keys[position])


class Snapshot:
    """The v1 objects over one snapshot of the node's inputs (processed, then seen on chain);
    ``decoded`` gives an input's v1 outputs (``GraphQLReader`` caches them across requests)."""

    def __init__(self, inputs: Sequence[InputRecord], proof: ProofFn,
                 decoded: Callable[[InputRecord], V1Outputs] = v1_outputs) -> None:
        self.inputs = list(inputs)
        self.proof = proof
        self.decoded = decoded

    def outputs(self, index: int) -> V1Outputs:
        """The v1 outputs of input ``index``."""
        return self.decoded(self.inputs[index])

    def record(self, index: int) -> InputRecord:
        """Input ``index``; ``GraphQLError("input not found")`` if there is none."""
        if not 0 <= index < len(self.inputs):
            raise GraphQLError("input not found")
        return self.inputs[index]

    def input(self, index: int) -> dict[str, Any]:
        """The ``Input`` object of input ``index``."""
        record = self.record(index)
        meta = record.metadata or {}
        timestamp = meta.get("timestamp", meta.get("block_timestamp", 0))
        return {
            "index": index, "status": v1_status(record.status),
            "msgSender": str(meta.get("msg_sender", "")).lower(),
            "timestamp": int(timestamp), "blockNumber": record.block_number, "payload": _hex(record.payload),
            "voucher": lambda info, index: self.voucher(index, record.index),
            "notice": lambda info, index: self.notice(index, record.index),
            "report": lambda info, index: self.report(index, record.index),
            "vouchers": lambda info, **page: connection(self.vouchers(record.index), **page),
            "notices": lambda info, **page: connection(self.notices(record.index), **page),
            "reports": lambda info, **page: connection(self.reports(record.index), **page),
        }

    def voucher(self, index: int, input_index: int) -> dict[str, Any]:
        """Voucher ``index`` of input ``input_index``; ``GraphQLError("voucher not found")``."""
        vouchers = self.outputs(input_index).vouchers if 0 <= input_index < len(self.inputs) else ()
        if not 0 <= index < len(vouchers):
            raise GraphQLError("voucher not found")
        destination, payload = vouchers[index]
        return {"index": index, "input": lambda info: self.input(input_index),
                "destination": destination.lower(), "payload": _hex(payload),
                "proof": lambda info: self.proof("voucher", input_index, index)}

    def notice(self, index: int, input_index: int) -> dict[str, Any]:
        """Notice ``index`` of input ``input_index``; ``GraphQLError("notice not found")``."""
        notices = self.outputs(input_index).notices if 0 <= input_index < len(self.inputs) else ()
        if not 0 <= index < len(notices):
            raise GraphQLError("notice not found")
        return {"index": index, "input": lambda info: self.input(input_index),
                "payload": _hex(notices[index]),
                "proof": lambda info: self.proof("notice", input_index, index)}

    def report(self, index: int, input_index: int) -> dict[str, Any]:
        """Report ``index`` of input ``input_index``; ``GraphQLError("report not found")``."""
        reports = self.inputs[input_index].reports if 0 <= input_index < len(self.inputs) else ()
        if not 0 <= index < len(reports):
            raise GraphQLError("report not found")
        return {"index": index, "input": lambda info: self.input(input_index),
                "payload": _hex(reports[index])}

    def vouchers(self, input_index: int | None = None) -> Lazy:
        """Every voucher (of one input), by input then index."""
        keys = [(i, n) for n in self._indices(input_index) for i in range(len(self.outputs(n).vouchers))]
        return Lazy(keys, self.voucher)

    def notices(self, input_index: int | None = None) -> Lazy:
        """Every notice (of one input), by input then index."""
        keys = [(i, n) for n in self._indices(input_index) for i in range(len(self.outputs(n).notices))]
        return Lazy(keys, self.notice)

    def reports(self, input_index: int | None = None) -> Lazy:
        """Every report (of one input), by input then index."""
        keys = [(i, n) for n in self._indices(input_index) for i in range(len(self.inputs[n].reports))]
        return Lazy(keys, self.report)

    def filtered_inputs(self, where: Mapping[str, int] | None) -> Lazy:
        """The inputs ``where`` keeps (``indexLowerThan``, ``indexGreaterThan``, both exclusive)."""
        below, above = (where or {}).get("indexLowerThan"), (where or {}).get("indexGreaterThan")
        keys = [(r.index,) for r in self.inputs
                if (below is None or r.index < below) and (above is None or r.index > above)]
        return Lazy(keys, self.input)

    def _indices(self, input_index: int | None) -> range:
        if input_index is None:
            return range(len(self.inputs))
        return range(input_index, input_index + 1) if 0 <= input_index < len(self.inputs) else range(0)


class Root:
    """The ``Query`` type's resolvers over one snapshot (graphql-core calls them with ``info``)."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.s = snapshot

    def input(self, info: Any, index: int) -> dict[str, Any]:
        return self.s.input(index)

    def voucher(self, info: Any, voucherIndex: int, inputIndex: int) -> dict[str, Any]:  # noqa: N803
        return self.s.voucher(voucherIndex, inputIndex)

    def notice(self, info: Any, noticeIndex: int, inputIndex: int) -> dict[str, Any]:  # noqa: N803
        return self.s.notice(noticeIndex, inputIndex)

    def report(self, info: Any, reportIndex: int, inputIndex: int) -> dict[str, Any]:  # noqa: N803
        return self.s.report(reportIndex, inputIndex)

    def inputs(self, info: Any, where: Mapping[str, int] | None = None, **page: Any) -> dict[str, Any]:
        return connection(self.s.filtered_inputs(where), **page)

    def vouchers(self, info: Any, **page: Any) -> dict[str, Any]:
        return connection(self.s.vouchers(), **page)

    def notices(self, info: Any, **page: Any) -> dict[str, Any]:
        return connection(self.s.notices(), **page)

    def reports(self, info: Any, **page: Any) -> dict[str, Any]:
        return connection(self.s.reports(), **page)


class GraphQLReader:
    """Answers GraphQL requests over ``inputs()`` (processed inputs, then those seen on chain)."""

    def __init__(self, inputs: Callable[[], Sequence[InputRecord]], proof: ProofFn) -> None:
        self.inputs = inputs
        self.proof = proof
        self.schema = _schema()
        self._decoded: dict[int, V1Outputs] = {}  # processed inputs' outputs never change
        self._lock = threading.Lock()

    def decoded(self, record: InputRecord) -> V1Outputs:
        """The v1 outputs of ``record``, decoded once per processed input."""
        if record.status == NONE:
            return v1_outputs(record)
        with self._lock:
            found = self._decoded.get(record.index)
        if found is None:
            found = v1_outputs(record)
            with self._lock:
                self._decoded[record.index] = found
        return found

    def execute(self, query: str, variables: Mapping[str, Any] | None = None,
                operation: str | None = None) -> dict[str, Any]:
        """The JSON answer to one GraphQL request: ``{"errors"}`` alone for a query that does not parse
        or validate, else ``{"data"}`` with ``errors`` when a field failed (as the v1 node answers)."""
        try:
            document = parse(query)
        except GraphQLSyntaxError as exc:
            return {"errors": [exc.formatted]}
        invalid = validate(self.schema, document)
        if invalid:
            return {"errors": [e.formatted for e in invalid]}
        root = Root(Snapshot(self.inputs(), self.proof, self.decoded))
        result = execute(self.schema, document, root_value=root, variable_values=dict(variables or {}),
                         operation_name=operation)
        assert not isinstance(result, Awaitable)  # every resolver is synchronous
        return result.formatted

    def request(self, body: bytes) -> tuple[int, Any]:
        """``(HTTP status, answer)`` of a ``POST /graphql`` body (``{"query", "variables"?,
        "operationName"?}``); 400 with a text for a body that is not such an object."""
        try:
            request = json.loads(body)
        except ValueError as exc:
            return 400, f"Json deserialize error: {exc}"
        if not isinstance(request, dict) or not isinstance(request.get("query"), str):
            return 400, "Json deserialize error: expected an object with a `query` string"
        variables = request.get("variables")
        if variables is not None and not isinstance(variables, dict):
            return 400, "Json deserialize error: `variables` must be an object"
        operation = request.get("operationName")
        operation = operation if isinstance(operation, str) else None
        return 200, self.execute(request["query"], variables, operation)


_INSPECT_STATUS = {ACCEPTED: "Accepted", REJECTED: "Rejected", EXCEPTION: "Exception"}


def inspect_answer(node: NodeView, payload: bytes) -> tuple[int, Any]:
    """``(HTTP status, answer)`` of a v1 inspect of ``payload``: 503 text when the backend cannot
    answer in time."""
    try:
        finished, processed = node.inspect(payload)
    except NotReady as exc:
        return 503, f"Machine not ready: {exc}"
    exception = None if finished.status != EXCEPTION else _hex(finished.exception or b"")
    return 200, {"status": _INSPECT_STATUS.get(finished.status, "Rejected"), "exception_payload": exception,
                 "reports": [{"payload": _hex(r)} for r in finished.reports],
                 "processed_input_count": processed}


def inspect_payload(path: str) -> bytes:
    """The payload of ``GET /inspect/<payload>``: the URL-decoded rest of the path, query string kept."""
    rest = path[len(INSPECT_PATH) + 1:]
    route, mark, query = rest.partition("?")
    return (unquote(route) + mark + query).encode("utf-8")


class Routes:
    """The v1 endpoints, for ``devnode.reader.ReaderServer(routes=...)``: ``match`` says whether a
    request is theirs, ``answer`` gives its ``(HTTP status, body)``."""

    def __init__(self, node: NodeView, proof: ProofFn) -> None:
        self.node = node
        self.graphql = GraphQLReader(Queries(node).all_inputs, proof)

    def match(self, method: str, path: str) -> bool:
        """``POST /graphql``, ``POST /inspect``, ``GET /inspect/<payload>``."""
        bare = path.partition("?")[0].rstrip("/")
        if method == "POST":
            return bare in (GRAPHQL_PATH, INSPECT_PATH)
        return method == "GET" and path.startswith(INSPECT_PATH + "/")

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        """The answer to a request ``match`` accepted."""
        bare = path.partition("?")[0].rstrip("/")
        if method == "POST" and bare == GRAPHQL_PATH:
            return self.graphql.request(body)
        return inspect_answer(self.node, body if method == "POST" else inspect_payload(path))


def routes(node: NodeView, proof: ProofFn) -> Routes:
    """The v1 reader (GraphQL and inspect) of ``node``, proofs from ``proof``."""
    return Routes(node, proof)
