"""The Cartesi node v2 reader API (JSON-RPC at ``<node>/rpc``, CARTESI-FACTS §8).

Named params, hex-encoded indices; single records come as ``{"data": {...}}``, lists as
``{"data": [...], "pagination": {"total_count", "limit", "offset"}}``.

Calls go over a pooled keep-alive connection. A server may close an idle one just as the next request
goes out on it, which ends that request without an answer (``RemoteDisconnected``); a read
(``is_read``) is then sent once more, on a new connection. A call that changes the node
(``devnode_closeEpoch``) is never sent twice.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

import requests

from mlmarket.client.errors import NodeError
from mlmarket.client.outputs import InputOutcome, outcome_of
from mlmarket.client.sessions import session_for

NOT_FOUND_CODES = (-31001, -32001)
"""JSON-RPC error codes for "no such input/output/epoch (yet)": rollups-node v2, older nodes/devnode."""
METHOD_NOT_FOUND = -32601
PAGE = 500
UNPROCESSED = "NONE"
"""Status of an input the node has not processed yet."""
READ_ONLY_METHODS = frozenset({"devnode_info"})
"""Methods outside ``cartesi_*`` that only read; every ``cartesi_*`` method of the reader API does."""


def is_read(method: str) -> bool:
    """Whether ``method`` only reads, so that sending it twice is harmless."""
    return method.startswith("cartesi_") or method in READ_ONLY_METHODS


class RpcError(NodeError):
    """A JSON-RPC error answer; ``code`` is the JSON-RPC error code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class ReaderClient:
    """JSON-RPC client of one application on one node."""

    def __init__(self, url: str, app: str, *, session: requests.Session | None = None,
                 timeout: float = 30.0) -> None:
        self.url = url
        self.app = app
        self.session = session or session_for(url)
        self.timeout = timeout
        self._ids = itertools.count(1)

    def call(self, method: str, **params: Any) -> Any:
        """Calls ``method`` with named ``params``; returns ``result``. Raises ``RpcError``/``NodeError``.
        A read that loses its connection before an answer is sent once more (module docstring)."""
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        data = self._answer(self.url, body, again=is_read(method), what=method)
        if data.get("error"):
            error = data["error"]
            raise RpcError(f"{method}: {error.get('message', error)}", int(error.get("code", 0)))
        if "result" not in data:
            raise NodeError(f"{method}: the answer has neither result nor error")
        return data["result"]

    def _answer(self, url: str, body: dict[str, Any], *, again: bool, what: str) -> dict[str, Any]:
        """The JSON object the node answers to ``body`` posted to ``url``; ``NodeError`` (its message
        starting with ``what``) if it cannot be reached or answers anything else. ``again``: a read,
        sent once more if it loses its connection (module docstring)."""
        try:
            answer = self._post(url, body, again=again)
        except requests.RequestException as exc:
            raise NodeError(f"cannot reach the node's reader API at {url}: {exc}") from exc
        try:
            data = answer.json()
        except ValueError as exc:
            raise NodeError(f"{what}: the node answered HTTP {answer.status_code} without JSON: "
                            f"{answer.text[:200]!r}") from exc
        if not isinstance(data, dict):
            raise NodeError(f"{what}: the node answered {type(data).__name__}, not a JSON object")
        return data

    def _post(self, url: str, body: dict[str, Any], *, again: bool) -> requests.Response:
        try:
            return self.session.post(url, json=body, timeout=self.timeout)
        except requests.ConnectionError as exc:
            if not again or isinstance(exc, requests.Timeout):  # a timeout is not a lost connection
                raise
        return self.session.post(url, json=body, timeout=self.timeout)  # on a new connection

    def _get(self, method: str, **params: Any) -> dict[str, Any] | None:
        try:
            result = self.call(method, application=self.app, **params)
        except RpcError as exc:
            if exc.code in NOT_FOUND_CODES or "not found" in exc.message.lower():
                return None
            raise
        return result.get("data") if isinstance(result, dict) else None

    def _list(self, method: str, **params: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        while True:
            result = self.call(method, application=self.app, limit=PAGE, offset=len(items), **params)
            page = result.get("data") or []
            items.extend(page)
            total = (result.get("pagination") or {}).get("total_count", len(items))
            if not page or len(items) >= total:
                return items

    def get_input(self, index: int) -> dict[str, Any] | None:
        """The input record (``status``, ``decoded_data``...), or None if the node does not know it yet."""
        return self._get("cartesi_getInput", input_index=hex(index))

    def get_output(self, index: int) -> dict[str, Any] | None:
        """Output ``index`` (global index), or None if unknown."""
        return self._get("cartesi_getOutput", output_index=hex(index))

    def list_inputs(self) -> list[dict[str, Any]]:
        """Every input of the application."""
        return self._list("cartesi_listInputs")

    def list_outputs(self, input_index: int | None = None) -> list[dict[str, Any]]:
        """Every output record, or those of one input."""
        extra = {} if input_index is None else {"input_index": hex(input_index)}
        return self._list("cartesi_listOutputs", **extra)

    def list_reports(self, input_index: int | None = None) -> list[dict[str, Any]]:
        """Every report record, or those of one input."""
        extra = {} if input_index is None else {"input_index": hex(input_index)}
        return self._list("cartesi_listReports", **extra)

    def processed_input_count(self) -> int:
        """How many inputs the node has processed."""
        result = self.call("cartesi_getProcessedInputCount", application=self.app)
        raw = result.get("data") if isinstance(result, dict) else result
        return int(raw, 16) if isinstance(raw, str) else int(raw)

    def list_applications(self) -> list[dict[str, Any]]:
        """Applications the node serves (``iapplication_address``, ``name``...)."""
        result = self.call("cartesi_listApplications", limit=PAGE)
        return list(result.get("data") or [])

    def chain_id(self) -> int:
        """The chain id the node follows."""
        result = self.call("cartesi_getChainId")
        raw = result.get("data") if isinstance(result, dict) else result
        return int(raw, 16) if isinstance(raw, str) else int(raw)

    def wait_for_input(self, index: int, *, timeout: float = 300.0, poll: float = 0.1,
                       on_wait: Callable[[str], None] | None = None) -> InputOutcome:
        """Polls until the node has processed input ``index``, then returns its status, decoded
        outputs and reports. ``on_wait`` gets the status while waiting. Raises ``NodeError`` after
        ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            record = self.get_input(index)
            status = record.get("status", UNPROCESSED) if record else "UNKNOWN"
            if record and status != UNPROCESSED:
                return outcome_of(record, self.list_outputs(index), self.list_reports(index))
            if time.monotonic() >= deadline:
                raise NodeError(f"input {index} not processed within {timeout:.0f}s (status {status})")
            if on_wait:
                on_wait(status)
            time.sleep(poll)
