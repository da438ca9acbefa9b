"""The reader's JSON-RPC methods (CARTESI-FACTS §8), over a running node's records.

``Queries(node).call(request)`` answers one JSON-RPC request object; ``node`` is anything shaped like
``NodeView``. Methods, params and results follow the rollups-node v2 (``cartesi_*``; named or positional
params; indices as hex strings; lists as ``{"data": [...], "pagination": {total_count, limit, offset}}``;
errors -32601 unknown method, -32602 bad params or filters, -32001 not found), plus the devnode-only
``devnode_info`` and ``devnode_closeEpoch`` (alias ``devnode_claimEpoch``). As the Go node answers for an
Authority application, the tournament, commitment, match, match-advance and withdrawal lists are empty
and their gets -32001. ``rpc.discover`` answers the OpenRPC document ``devnode/openrpc.json``.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from eth_hash.auto import keccak

from devnode import records as rec
from devnode.merkle import OutputsTree
from devnode.server import Finished
from devnode.store import InputRecord, Store, now

log = logging.getLogger(__name__)

NODE_VERSION = "devnode-0.1.0"
LIST_DEFAULT, LIST_LIMIT = 50, 10_000
MAX_CACHED_TREES = 16  # Merkle trees of accepted claims kept to answer proofs
NOT_FOUND, INVALID_PARAMS, METHOD_NOT_FOUND, INVALID_REQUEST, INTERNAL = -32001, -32602, -32601, -32600, -32603
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_HASH = re.compile(r"0x[0-9a-fA-F]{64}")
_SELECTOR = re.compile(r"0x[0-9a-fA-F]{8}")
_NAME = re.compile(r"[a-z0-9_-]{3,}")
MAX_INDEX = (1 << 64) - 1  # indices are uint64 in the Go node
EPOCH_STATUSES = frozenset({"OPEN", "CLOSED", "INPUTS_PROCESSED", "CLAIM_COMPUTED", "CLAIM_SUBMITTED",
                            "CLAIM_STAGED", "CLAIM_ACCEPTED", "CLAIM_REJECTED", "CLAIM_FORECLOSED"})
OPENRPC_PATH = Path(__file__).with_name("openrpc.json")


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


class Queries:
    """Answers JSON-RPC requests about ``node``; caches the Merkle trees of accepted claims."""

    def __init__(self, node: NodeView) -> None:
        self.node = node
        self._trees: dict[int, OutputsTree] = {}
        self._leaves: list[bytes] = []
        self._tree_lock = threading.Lock()

    def call(self, request: Any) -> dict[str, Any]:
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
                    if len(self._trees) >= MAX_CACHED_TREES:
                        del self._trees[next(iter(self._trees))]  # the oldest claim's tree
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
        number = int(value[2:], 16)
    except ValueError:
        raise RpcError(INVALID_PARAMS, f"invalid {name}: error parsing") from None
    if number > MAX_INDEX:
        raise RpcError(INVALID_PARAMS, f"invalid {name}: value out of range")
    return number


def _matching(params: dict[str, Any], name: str, pattern: re.Pattern[str], *,
              required: bool = False) -> str | None:
    """``params[name]`` lowercased if it fully matches ``pattern``; ``None`` if absent and optional."""
    value = params.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise RpcError(INVALID_PARAMS, f"Invalid {name}")
    return value.lower()


def _one_or_many(params: dict[str, Any], name: str, valid: Callable[[str], bool]) -> set[str] | None:
    """A filter given as one value or a non-empty list of values (OR), each ``valid``; ``None`` if absent."""
    value = params.get(name)
    if value is None:
        return None
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str) and valid(v) for v in values):
        raise RpcError(INVALID_PARAMS, f"Invalid {name}")
    return set(values)


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


def _application(q: Queries) -> dict[str, Any]:
    node = q.node
    return rec.application(node.app, len(node.store.inputs), node.scanned_block(), now())


def _epochs(q: Queries) -> list[dict[str, Any]]:
    node = q.node
    with node.store.lock:
        claims = {c.epoch_index: c for c in node.store.claims}
    return rec.epoch_records(q.all_inputs(), claims, node.app.epoch_length, node.scanned_block())


def _list_epochs(q: Queries, params: dict[str, Any]) -> dict[str, Any]:
    q.check_app(params)
    statuses = _one_or_many(params, "status", EPOCH_STATUSES.__contains__)
    return _page(params, [e for e in _epochs(q) if statuses is None or e["status"] in statuses])


def _get_epoch(q: Queries, params: dict[str, Any]) -> dict[str, Any]:
    q.check_app(params)
    wanted = rec.hexint(_index(params, "epoch_index"))  # type: ignore[arg-type]
    return _one(next((e for e in _epochs(q) if e["index"] == wanted), None), "Epoch")


def _last_accepted_epoch(q: Queries, params: dict[str, Any]) -> dict[str, Any]:
    q.check_app(params)
    claims = q.node.store.claims
    return _one(rec.hexint(claims[-1].epoch_index) if claims else None, "Epoch")


def _list_inputs(q: Queries, params: dict[str, Any]) -> dict[str, Any]:
    q.check_app(params)
    epoch, sender = _index(params, "epoch_index", required=False), _matching(params, "sender", _ADDRESS)
    chosen = [r for r in q.all_inputs()
              if (epoch is None or r.epoch_index == epoch)
              and (sender is None or str(r.metadata.get("msg_sender", "")).lower() == sender)]
    return _page(params, [rec.input_record(r) for r in chosen])


def _get_input(q: Queries, params: dict[str, Any]) -> dict[str, Any]:
    q.check_app(params)
    index = _index(params, "input_index")
    found = next((r for r in q.all_inputs() if r.index == index), None)
    return _one(None if found is None else rec.input_record(found), "Input")


def _processed_count(q: Queries, params: dict[str, Any]) -> dict[str, Any]:
    q.check_app(params)
    return {"data": rec.hexint(len(q.node.store.inputs))}


def _output(q: Queries, index: int, raw: bytes, record: InputRecord) -> dict[str, Any]:
    return rec.output_record(index, raw, record, q.siblings(index), q.node.executions().get(index))


def _list_outputs(q: Queries, params: dict[str, Any]) -> dict[str, Any]:
    q.check_app(params)
    epoch, input_index = _index(params, "epoch_index", required=False), _index(params, "input_index", required=False)
    kinds = _one_or_many(params, "output_type", lambda v: _SELECTOR.fullmatch(v) is not None)
    selectors = None if kinds is None else {k[2:].lower() for k in kinds}
    destination = _matching(params, "voucher_address", _ADDRESS)
    store = q.node.store
    with store.lock:
        inputs, outputs = list(store.inputs), list(store.outputs)
    chosen = []
    for index, (owner, raw) in enumerate(outputs):
        record = inputs[owner]
        if epoch is not None and record.epoch_index != epoch or input_index is not None and owner != input_index:
            continue
        if selectors is not None and raw[:4].hex() not in selectors:
            continue
        decoded = rec.decode_output(raw) or {}
        if destination is not None and str(decoded.get("destination", "")).lower() != destination:
            continue
        chosen.append((index, raw, record))
    page = _page(params, chosen)
    page["data"] = [_output(q, *item) for item in page["data"]]
    return page


def _get_output(q: Queries, params: dict[str, Any]) -> dict[str, Any]:
    q.check_app(params)
    index = _index(params, "output_index")
    store = q.node.store
    with store.lock:
        if index is None or index >= len(store.outputs):
            raise RpcError(NOT_FOUND, "Output not found")
        owner, raw = store.outputs[index]
        record = store.inputs[owner]
    return {"data": _output(q, index, raw, record)}


def _list_reports(q: Queries, params: dict[str, Any]) -> dict[str, Any]:
    q.check_app(params)
    epoch, input_index = _index(params, "epoch_index", required=False), _index(params, "input_index", required=False)
    store = q.node.store
    with store.lock:
        inputs, reports = list(store.inputs), list(store.reports)
    chosen = [rec.report_record(i, raw, inputs[owner]) for i, (owner, raw) in enumerate(reports)
              if (epoch is None or inputs[owner].epoch_index == epoch)
              and (input_index is None or owner == input_index)]
    return _page(params, chosen)


def _get_report(q: Queries, params: dict[str, Any]) -> dict[str, Any]:
    q.check_app(params)
    index = _index(params, "report_index")
    store = q.node.store
    with store.lock:
        if index is None or index >= len(store.reports):
            raise RpcError(NOT_FOUND, "Report not found")
        owner, raw = store.reports[index]
        return {"data": rec.report_record(index, raw, store.inputs[owner])}


def _empty_list(*addresses: str, hashes: tuple[str, ...] = (), indices: tuple[str, ...] = (),
                required: bool = False) -> Callable[[Queries, dict[str, Any]], dict[str, Any]]:
    """A list method of the dispute (PRT) or foreclosure records, which an Authority application never
    has: its parameters are checked, the page is empty."""
    def handler(q: Queries, params: dict[str, Any]) -> dict[str, Any]:
        _check_keys(q, params, addresses, hashes, indices, required)
        return _page(params, [])
    return handler


def _absent(what: str, *addresses: str, hashes: tuple[str, ...] = (),
            indices: tuple[str, ...] = ()) -> Callable[[Queries, dict[str, Any]], dict[str, Any]]:
    """A get method of those records: its parameters are checked, the answer is -32001."""
    def handler(q: Queries, params: dict[str, Any]) -> dict[str, Any]:
        _check_keys(q, params, addresses, hashes, indices, True)
        raise RpcError(NOT_FOUND, f"{what} not found")
    return handler


def _check_keys(q: Queries, params: dict[str, Any], addresses: tuple[str, ...], hashes: tuple[str, ...],
                indices: tuple[str, ...], required: bool) -> None:
    q.check_app(params)
    for name in indices:
        _index(params, name, required=required)
    for name in addresses:
        _matching(params, name, _ADDRESS, required=required)
    for name in hashes:
        _matching(params, name, _HASH, required=required)


def _discover(q: Queries, params: dict[str, Any]) -> dict[str, Any]:
    return json.loads(OPENRPC_PATH.read_text())


_PAGE = ("limit", "offset", "descending")
_MATCH_KEYS = ("epoch_index", "tournament_address", "id_hash")

_METHODS: dict[str, tuple[tuple[str, ...], Callable[[Queries, dict[str, Any]], Any]]] = {
    "cartesi_listApplications": (("limit", "offset", "descending"),
                                 lambda q, p: _page(p, [_application(q)])),
    "cartesi_getApplication": (("application",), lambda q, p: (q.check_app(p), {"data": _application(q)})[1]),
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
    "cartesi_listTournaments": (("application", "epoch_index", "level", "parent_tournament_address",
                                "parent_match_id_hash", *_PAGE),
                               _empty_list("parent_tournament_address", hashes=("parent_match_id_hash",),
                                           indices=("epoch_index", "level"))),
    "cartesi_getTournament": (("application", "address"), _absent("Tournament", "address")),
    "cartesi_listCommitments": (("application", "epoch_index", "tournament_address", *_PAGE),
                                _empty_list("tournament_address", indices=("epoch_index",))),
    "cartesi_getCommitment": (("application", "epoch_index", "tournament_address", "commitment"),
                              _absent("Commitment", "tournament_address", hashes=("commitment",),
                                      indices=("epoch_index",))),
    "cartesi_listMatches": (("application", "epoch_index", "tournament_address", *_PAGE),
                            _empty_list("tournament_address", indices=("epoch_index",))),
    "cartesi_getMatch": (("application", *_MATCH_KEYS),
                         _absent("Match", "tournament_address", hashes=("id_hash",), indices=("epoch_index",))),
    "cartesi_listMatchAdvances": (("application", *_MATCH_KEYS, *_PAGE),
                                  _empty_list("tournament_address", hashes=("id_hash",), indices=("epoch_index",),
                                              required=True)),
    "cartesi_getMatchAdvance": (("application", *_MATCH_KEYS, "parent"),
                                _absent("Match advance", "tournament_address", hashes=("id_hash", "parent"),
                                        indices=("epoch_index",))),
    "cartesi_listWithdrawals": (("application", "account_index", *_PAGE),
                                _empty_list(indices=("account_index",))),
    "cartesi_getWithdrawal": (("application", "account_index"), _absent("Withdrawal", indices=("account_index",))),
    "cartesi_getChainId": ((), lambda q, p: {"data": rec.hexint(q.node.chain_id)}),
    "cartesi_getNodeVersion": ((), lambda q, p: {"data": NODE_VERSION}),
    "rpc.discover": ((), _discover),
    "devnode_info": ((), lambda q, p: q.node.info()),
    "devnode_closeEpoch": ((), lambda q, p: q.node.close_epoch()),
    "devnode_claimEpoch": ((), lambda q, p: q.node.close_epoch()),  # the name the mlmarket client uses
}
# the name the OpenRPC document and @cartesi/viem use for the Go node's cartesi_getMatchAdvance
_METHODS["cartesi_getMatchAdvanced"] = _METHODS["cartesi_getMatchAdvance"]
