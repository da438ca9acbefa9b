"""Inspect queries: ``POST <inspect_url>/<app>`` with the query as the raw UTF-8 body.

The node answers ``{"status": "Accepted", "reports": [{"payload": "0x..."}], "processed_input_count": N}``
(CARTESI-FACTS §8); the dApp answers each query with one JSON report, passed through as is, except
``{"ok": false, "error": {"code", "message"}}`` which raises ``InspectFailed``. The dApp answers a
list a page at a time (``next``: the offset of the next page); a query naming no ``offset`` or
``limit`` gets every page, merged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, quote

import requests

from mlmarket.client.errors import InspectFailed, NodeError
from mlmarket.client.outputs import decode_report
from mlmarket.client.sessions import session_for

MAX_QUERY_BYTES = 2 * 1024 * 1024
"""The node's inspect body limit."""


def query_path(*parts: object, **params: object) -> str:
    """Builds a path-like query: ``query_path("jobs", 3, "submissions")`` -> ``"jobs/3/submissions"``;
    keyword ``params`` become ``?key=value`` (percent-encoded)."""
    path = "/".join(quote(str(p), safe="") for p in parts)
    if params:
        path += "?" + "&".join(f"{quote(k, safe='')}={quote(str(v), safe='')}" for k, v in params.items())
    return path


def names_a_page(query: str) -> bool:
    """Whether ``query`` asks for one page itself (it has an ``offset`` or ``limit`` parameter)."""
    params = parse_qs(query.partition("?")[2])
    return "offset" in params or "limit" in params


def merge_pages(first: dict[str, Any], fetch: Callable[[int], Any]) -> dict[str, Any]:
    """``first`` with every later page (``fetch(next)``, while ``next`` is set) merged in: lists
    extended, dicts updated; the result has ``next`` null. ``NodeError`` if a page does not move on."""
    merged = dict(first)
    while merged.get("next") is not None:
        offset = merged["next"]
        page = fetch(offset)
        following = page.get("next") if isinstance(page, dict) else offset
        if not isinstance(page, dict) or page.get("offset") != offset or not (
                following is None or isinstance(following, int) and following > offset):
            raise NodeError(f"inspect: the page at offset {offset} does not lead on: {str(page)[:200]}")
        for key, value in page.items():
            if isinstance(value, list) and isinstance(merged.get(key), list):
                merged[key] = merged[key] + value
            elif isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **value}
        merged["next"] = page["next"]
    return merged


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
        """The JSON report answering ``query`` (several reports: the list of their values); a paged
        answer to a query naming no page comes with all its pages. Raises ``InspectFailed`` on an
        error report."""
        answer = self.one(query)
        if not isinstance(answer, dict) or names_a_page(query):
            return answer
        separator = "&" if "?" in query else "?"
        return merge_pages(answer, lambda offset: self.one(f"{query}{separator}offset={offset}"))

    def one(self, query: str) -> Any:
        """The JSON report answering ``query`` as is (one page of a list)."""
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
