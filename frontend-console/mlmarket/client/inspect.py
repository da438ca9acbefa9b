"""Inspect queries: ``POST <inspect_url>/<app>`` with the query as the raw UTF-8 body.

The node answers ``{"status": "Accepted", "reports": [{"payload": "0x..."}], "processed_input_count": N}``
(CARTESI-FACTS §8); the dApp answers each query with one JSON report, passed through as is, except
``{"ok": false, "error": {"code", "message"}}`` which raises ``InspectFailed``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests

from devnode.sessions import session_for
from mlmarket.client.errors import InspectFailed, NodeError
from mlmarket.client.outputs import decode_report

MAX_QUERY_BYTES = 2 * 1024 * 1024
"""The node's inspect body limit."""


def query_path(*parts: object, **params: object) -> str:
    """Builds a path-like query: ``query_path("jobs", 3, "submissions")`` -> ``"jobs/3/submissions"``;
    keyword ``params`` become ``?key=value`` (percent-encoded)."""
    path = "/".join(quote(str(p), safe="") for p in parts)
    if params:
        path += "?" + "&".join(f"{quote(k, safe='')}={quote(str(v), safe='')}" for k, v in params.items())
    return path


class InspectClient:
    """Sends inspect queries to one application."""

    def __init__(self, endpoint: str, *, session: requests.Session | None = None, timeout: float = 60.0) -> None:
        self.endpoint = endpoint
        self.session = session or session_for(endpoint)
        self.timeout = timeout

    def raw(self, payload: bytes) -> dict[str, Any]:
        """The node's whole answer to ``payload``. Raises ``NodeError`` on transport or shape errors."""
        if len(payload) > MAX_QUERY_BYTES:
            raise NodeError(f"inspect query of {len(payload)} bytes exceeds {MAX_QUERY_BYTES}")
        try:
            answer = self.session.post(self.endpoint, data=payload, timeout=self.timeout,
                                       headers={"Content-Type": "application/octet-stream"})
        except requests.RequestException as exc:
            raise NodeError(f"cannot reach the node's inspect endpoint {self.endpoint}: {exc}") from exc
        try:
            data = answer.json()
        except ValueError as exc:
            raise NodeError(f"inspect: HTTP {answer.status_code}: {answer.text[:200]!r}") from exc
        if answer.status_code != 200 or not isinstance(data, dict):
            raise NodeError(f"inspect: HTTP {answer.status_code}: {str(data)[:200]}")
        if data.get("status") != "Accepted":
            raise NodeError(f"inspect was not accepted: status {data.get('status')!r}")
        return data

    def query(self, query: str) -> Any:
        """The JSON report answering ``query`` (several reports: the list of their values).
        Raises ``InspectFailed`` on an error report."""
        data = self.raw(query.encode("utf-8"))
        values = [decode_report(r) for r in data.get("reports") or []]
        for report in values:
            if report.error:
                err = report.value.get("error")
                code = err.get("code", "error") if isinstance(err, dict) else "error"
                raise InspectFailed(f"{query}: {report.error}", code=code, report=report.value)
        if not values:
            raise NodeError(f"inspect {query!r} produced no report")
        return values[0].value if len(values) == 1 else [r.value for r in values]
