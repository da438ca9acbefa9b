"""The reader API clients use (CARTESI-FACTS §8), on 127.0.0.1 (default port 6751).

- ``POST /rpc``: JSON-RPC 2.0 (single or batch; params by name or position; indices as hex strings)
  with the rollups-node v2 methods ``cartesi_listApplications, cartesi_getApplication,
  cartesi_listEpochs, cartesi_getEpoch, cartesi_getLastAcceptedEpochIndex, cartesi_listInputs,
  cartesi_getInput, cartesi_getProcessedInputCount, cartesi_listOutputs, cartesi_getOutput,
  cartesi_listReports, cartesi_getReport, cartesi_getChainId, cartesi_getNodeVersion`` (results
  ``{"data": …}`` and, for lists, ``"pagination": {total_count, limit, offset}``), plus the devnode-only
  ``devnode_info`` (what ``node.json`` holds) and ``devnode_closeEpoch`` (alias ``devnode_claimEpoch``:
  mine to the end of the newest epoch holding inputs, process everything, submit the due claims;
  answers what is claimed).
- ``POST /inspect/<application name or address>``: the body is the raw query (at most 2 MiB); answer
  ``{"status": "Accepted"|"Rejected"|"Exception", "exception"?: text, "reports": [{"payload"}],
  "processed_input_count": N}``.

Errors follow the real node: -32601 unknown method, -32602 bad params, -32001 not found.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from eth_hash.auto import keccak

from devnode import records as rec
from devnode.merkle import OutputsTree
from devnode.server import ACCEPTED, EXCEPTION, Finished
from devnode.store import InputRecord, Store, now

log = logging.getLogger(__name__)

NODE_VERSION = "devnode-0.1.0"
MAX_RPC_BODY = 1 << 20
MAX_INSPECT_BODY = 1 << 21
LIST_DEFAULT, LIST_LIMIT = 50, 10_000
NOT_FOUND, INVALID_PARAMS, METHOD_NOT_FOUND, INVALID_REQUEST, INTERNAL = -32001, -32602, -32601, -32600, -32603
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_NAME = re.compile(r"[a-z0-9_-]{3,}")


class NotReady(RuntimeError):
    """The backend cannot answer now (restarting, or the node is stopping)."""


class NodeView(Protocol):
    """What the reader needs from the running node."""

    store: Store
    app: rec.Application
    chain_id: int

    def unprocessed(self) -> list[InputRecord]: ...  # seen on chain, not processed (status NONE)
    def scanned_block(self) -> int: ...  # the newest block whose inputs are all known
    def executions(self) -> Mapping[int, str]: ...  # output index -> executeOutput transaction
    def inspect(self, payload: bytes) -> tuple[Finished, int]: ...  # raises NotReady
    def close_epoch(self) -> dict[str, Any]: ...
    def info(self) -> dict[str, Any]: ...


class RpcError(Exception):
    """A JSON-RPC error answer."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class ReaderServer:
    """Serves ``/rpc`` and ``/inspect/<app>`` for ``node`` in a daemon thread."""

    def __init__(self, node: NodeView, host: str = "127.0.0.1", port: int = 6751) -> None:
        self.node = node
        self._trees: dict[int, OutputsTree] = {}
        self._leaves: list[bytes] = []
        self._tree_lock = threading.Lock()
        self._http = ThreadingHTTPServer((host, port), _handler_for(self))
        self._http.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://host:port`` of this server."""
        host, port = self._http.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> ReaderServer:
        """Serves in a daemon thread."""
        self._thread = threading.Thread(target=self._http.serve_forever, args=(0.05,), name="reader-http",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops serving and closes the socket."""
        if self._thread is not None:
            self._http.shutdown()
            self._thread.join()
            self._thread = None
        self._http.server_close()

    # -- JSON-RPC ---------------------------------------------------------------------------------

    def rpc(self, request: Any) -> dict[str, Any]:
        """The answer to one JSON-RPC request object."""
        ident = request.get("id") if isinstance(request, dict) else None
        try:
            if not isinstance(request, dict) or not isinstance(request.get("method"), str):
                raise RpcError(INVALID_REQUEST, "Invalid request")
            entry = _METHODS.get(request["method"])
            if entry is None:
                raise RpcError(METHOD_NOT_FOUND, "Method not found")
            names, handler = entry
            result = handler(self, _params(request.get("params"), names))
        except RpcError as exc:
            return {"jsonrpc": "2.0", "error": {"code": exc.code, "message": str(exc)}, "id": ident}
        except Exception:  # noqa: BLE001 -- answer, log, and keep serving
            log.exception("reader: %s failed", request.get("method"))
            return {"jsonrpc": "2.0", "error": {"code": INTERNAL, "message": "Internal server error"}, "id": ident}
        return {"jsonrpc": "2.0", "result": result, "id": ident}

    def all_inputs(self) -> list[InputRecord]:
        """Processed inputs then those seen but not processed, in index order."""
        with self.node.store.lock:
            processed = list(self.node.store.inputs)
        seen = [r for r in self.node.unprocessed() if r.index >= len(processed)]
        return processed + seen

    def siblings(self, index: int) -> list[bytes] | None:
        """The proof of output ``index`` against the first accepted claim that covers it, if any."""
        store = self.node.store
        with store.lock:
            claim = next((c for c in store.claims if c.output_count > index), None)
            if claim is None:
                return None
            with self._tree_lock:
                self._leaves.extend(keccak(o) for _, o in store.outputs[len(self._leaves):claim.output_count])
                tree = self._trees.get(claim.output_count)
                if tree is None:
                    tree = self._trees[claim.output_count] = OutputsTree(self._leaves[:claim.output_count])
        return tree.siblings(index)

    def check_app(self, params: dict[str, Any]) -> None:
        """Validates ``params["application"]`` like the real node; -32001 if it is not ours."""
        name = params.get("application")
        if not isinstance(name, str) or not (_ADDRESS.fullmatch(name) or _NAME.fullmatch(name)):
            raise RpcError(INVALID_PARAMS, "Invalid application identifier: invalid application name")
        if not self.node.app.matches(name):
            raise RpcError(NOT_FOUND, "Application not found")


def _params(raw: Any, names: tuple[str, ...]) -> dict[str, Any]:
    if raw is None:
        return {}
    if isinstance(raw, list):
        if len(raw) > len(names):
            raise RpcError(INVALID_PARAMS, "Invalid parameters")
        return dict(zip(names, raw, strict=False))
    if isinstance(raw, dict):
        return raw
    raise RpcError(INVALID_PARAMS, "Invalid parameters")


def _index(params: dict[str, Any], name: str, *, required: bool = True) -> int | None:
    value = params.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or len(value) < 3 or value[:2] not in ("0x", "0X"):
        raise RpcError(INVALID_PARAMS, f"invalid {name}: expected hex encoded value")
    try:
        return int(value[2:], 16)
    except ValueError:
        raise RpcError(INVALID_PARAMS, f"invalid {name}: error parsing") from None


def _page(params: dict[str, Any], items: list[Any]) -> dict[str, Any]:
    limit, offset, descending = params.get("limit", 0), params.get("offset", 0), params.get("descending", False)
    for name, value in (("limit", limit), ("offset", offset)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise RpcError(INVALID_PARAMS, "Invalid parameters")
    if not isinstance(descending, bool):
        raise RpcError(INVALID_PARAMS, "Invalid parameters")
    limit = min(limit or LIST_DEFAULT, LIST_LIMIT)
    ordered = items[::-1] if descending else items
    return {"data": ordered[offset:offset + limit],
            "pagination": {"total_count": len(items), "limit": limit, "offset": offset}}


def _one(found: Any, what: str) -> dict[str, Any]:
    if found is None:
        raise RpcError(NOT_FOUND, f"{what} not found")
    return {"data": found}


def _application(reader: ReaderServer) -> dict[str, Any]:
    node = reader.node
    return rec.application(node.app, len(node.store.inputs), node.scanned_block(), now())


def _epochs(reader: ReaderServer) -> list[dict[str, Any]]:
    node = reader.node
    with node.store.lock:
        claims = {c.epoch_index: c for c in node.store.claims}
    return rec.epoch_records(reader.all_inputs(), claims, node.app.epoch_length, node.scanned_block())


def _list_epochs(reader: ReaderServer, params: dict[str, Any]) -> dict[str, Any]:
    reader.check_app(params)
    epochs = _epochs(reader)
    status = params.get("status")
    return _page(params, [e for e in epochs if status is None or e["status"] == status])


def _get_epoch(reader: ReaderServer, params: dict[str, Any]) -> dict[str, Any]:
    reader.check_app(params)
    wanted = rec.hexint(_index(params, "epoch_index"))  # type: ignore[arg-type]
    return _one(next((e for e in _epochs(reader) if e["index"] == wanted), None), "Epoch")


def _last_accepted_epoch(reader: ReaderServer, params: dict[str, Any]) -> dict[str, Any]:
    reader.check_app(params)
    claims = reader.node.store.claims
    return _one(rec.hexint(claims[-1].epoch_index) if claims else None, "Epoch")


def _list_inputs(reader: ReaderServer, params: dict[str, Any]) -> dict[str, Any]:
    reader.check_app(params)
    epoch, sender = _index(params, "epoch_index", required=False), params.get("sender")
    chosen = [r for r in reader.all_inputs()
              if (epoch is None or r.epoch_index == epoch)
              and (sender is None or str(r.metadata.get("msg_sender", "")).lower() == str(sender).lower())]
    return _page(params, [rec.input_record(r) for r in chosen])


def _get_input(reader: ReaderServer, params: dict[str, Any]) -> dict[str, Any]:
    reader.check_app(params)
    index = _index(params, "input_index")
    found = next((r for r in reader.all_inputs() if r.index == index), None)
    return _one(None if found is None else rec.input_record(found), "Input")


def _processed_count(reader: ReaderServer, params: dict[str, Any]) -> dict[str, Any]:
    reader.check_app(params)
    return {"data": rec.hexint(len(reader.node.store.inputs))}


def _output(reader: ReaderServer, index: int, raw: bytes, record: InputRecord) -> dict[str, Any]:
    return rec.output_record(index, raw, record, reader.siblings(index), reader.node.executions().get(index))


def _list_outputs(reader: ReaderServer, params: dict[str, Any]) -> dict[str, Any]:
    reader.check_app(params)
    epoch, input_index = _index(params, "epoch_index", required=False), _index(params, "input_index", required=False)
    kind, destination = params.get("output_type"), params.get("voucher_address")
    store = reader.node.store
    with store.lock:
        inputs, outputs = list(store.inputs), list(store.outputs)
    chosen = []
    for index, (owner, raw) in enumerate(outputs):
        record = inputs[owner]
        if epoch is not None and record.epoch_index != epoch or input_index is not None and owner != input_index:
            continue
        if kind is not None and raw[:4].hex() != str(kind).lower().removeprefix("0x"):
            continue
        decoded = rec.decode_output(raw) or {}
        if destination is not None and str(decoded.get("destination", "")).lower() != str(destination).lower():
            continue
        chosen.append((index, raw, record))
    page = _page(params, chosen)
    page["data"] = [_output(reader, *item) for item in page["data"]]
    return page


def _get_output(reader: ReaderServer, params: dict[str, Any]) -> dict[str, Any]:
    reader.check_app(params)
    index = _index(params, "output_index")
    store = reader.node.store
    with store.lock:
        if index is None or index >= len(store.outputs):
            raise RpcError(NOT_FOUND, "Output not found")
        owner, raw = store.outputs[index]
        record = store.inputs[owner]
    return {"data": _output(reader, index, raw, record)}


def _list_reports(reader: ReaderServer, params: dict[str, Any]) -> dict[str, Any]:
    reader.check_app(params)
    epoch, input_index = _index(params, "epoch_index", required=False), _index(params, "input_index", required=False)
    store = reader.node.store
    with store.lock:
        inputs, reports = list(store.inputs), list(store.reports)
    chosen = [rec.report_record(i, raw, inputs[owner]) for i, (owner, raw) in enumerate(reports)
              if (epoch is None or inputs[owner].epoch_index == epoch)
              and (input_index is None or owner == input_index)]
    return _page(params, chosen)


def _get_report(reader: ReaderServer, params: dict[str, Any]) -> dict[str, Any]:
    reader.check_app(params)
    index = _index(params, "report_index")
    store = reader.node.store
    with store.lock:
        if index is None or index >= len(store.reports):
            raise RpcError(NOT_FOUND, "Report not found")
        owner, raw = store.reports[index]
        return {"data": rec.report_record(index, raw, store.inputs[owner])}


_METHODS: dict[str, tuple[tuple[str, ...], Callable[[ReaderServer, dict[str, Any]], Any]]] = {
    "cartesi_listApplications": (("limit", "offset", "descending"),
                                 lambda r, p: _page(p, [_application(r)])),
    "cartesi_getApplication": (("application",), lambda r, p: (r.check_app(p), {"data": _application(r)})[1]),
    "cartesi_listEpochs": (("application", "status", "limit", "offset", "descending"), _list_epochs),
    "cartesi_getEpoch": (("application", "epoch_index"), _get_epoch),
    "cartesi_getLastAcceptedEpochIndex": (("application",), _last_accepted_epoch),
    "cartesi_listInputs": (("application", "epoch_index", "sender", "limit", "offset", "descending"), _list_inputs),
    "cartesi_getInput": (("application", "input_index"), _get_input),
    "cartesi_getProcessedInputCount": (("application",), _processed_count),
    "cartesi_listOutputs": (("application", "epoch_index", "input_index", "output_type", "voucher_address",
                             "limit", "offset", "descending"), _list_outputs),
    "cartesi_getOutput": (("application", "output_index"), _get_output),
    "cartesi_listReports": (("application", "epoch_index", "input_index", "limit", "offset", "descending"),
                            _list_reports),
    "cartesi_getReport": (("application", "report_index"), _get_report),
    "cartesi_getChainId": ((), lambda r, p: {"data": rec.hexint(r.node.chain_id)}),
    "cartesi_getNodeVersion": ((), lambda r, p: {"data": NODE_VERSION}),
    "devnode_info": ((), lambda r, p: r.node.info()),
    "devnode_closeEpoch": ((), lambda r, p: r.node.close_epoch()),
    "devnode_claimEpoch": ((), lambda r, p: r.node.close_epoch()),  # the name the mlmarket client uses
}

_INSPECT_STATUS = {ACCEPTED: "Accepted", EXCEPTION: "Exception"}


def _inspect(reader: ReaderServer, app: str, payload: bytes) -> tuple[int, Any]:
    if not reader.node.app.matches(app):
        return 404, "Application not found"
    try:
        finished, processed = reader.node.inspect(payload)
    except NotReady as exc:
        return 503, f"Machine not ready: {exc}"
    answer: dict[str, Any] = {"status": _INSPECT_STATUS.get(finished.status, "Rejected")}
    if finished.status == EXCEPTION:
        text = (finished.exception or b"").decode(errors="replace")
        answer["exception"] = f"Error on the machine while inspecting: {text}"
    answer["reports"] = [{"payload": "0x" + r.hex()} for r in finished.reports]
    answer["processed_input_count"] = processed
    return 200, answer


def _handler_for(reader: ReaderServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # one small answer per request: do not wait for delayed ACKs

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            length = int(self.headers.get("Content-Length") or 0)
            if self.path.startswith("/inspect/"):
                if length > MAX_INSPECT_BODY:
                    self.close_connection = True
                    self._send(413, "Payload too large")
                    return
                self._send(*_inspect(reader, self.path[len("/inspect/"):], self.rfile.read(length)))
            elif self.path.rstrip("/") == "/rpc":
                if length > MAX_RPC_BODY:
                    self.close_connection = True
                    self._send(413, "Failed to read request body")
                    return
                try:
                    body = json.loads(self.rfile.read(length))
                except ValueError:
                    self._send(400, "Invalid JSON")
                    return
                if isinstance(body, list):
                    self._send(200, [reader.rpc(item) for item in body[:LIST_DEFAULT]])
                else:
                    self._send(200, reader.rpc(body))
            else:
                self._send(404, "404 page not found")

        def do_GET(self) -> None:  # noqa: N802
            self._send(405, "Method not allowed")

        def _send(self, status: int, body: Any) -> None:
            if isinstance(body, str):
                data, kind = body.encode(), "text/plain; charset=utf-8"
            else:
                data, kind = json.dumps(body).encode(), "application/json"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client went away (e.g. a killed backend)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            log.debug("reader %s", format % args)

    return Handler
