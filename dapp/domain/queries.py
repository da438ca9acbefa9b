"""Inspect queries: read-only, path-like (``balances/0xabc…``), answered with JSON-ready dicts.

Amounts are decimal strings (uint256 does not fit a JSON number), addresses lower-case hex,
CIDs text. Unknown or malformed queries raise ``DomainError`` (answered as a JSON error report).
Every answer fits the machine's output buffer: lists come a page at a time (``dapp.domain.paging``)
and file bytes at most ``MAX_DATA_BYTES`` per answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from dapp.codec.cid import cid_from_text, cid_to_text
from dapp.domain import content, job_views, ledger, payout_choice, preflight
from dapp.domain.env import Env
from dapp.domain.paging import Page, shown, uint_param
from dapp.domain.store import Reader
from dapp.domain.values import Address
from dapp.errors import DomainError

MAX_ANSWER_BYTES = 2 * 1024 * 1024
"""The machine's output buffer: a report beyond it is refused by the rollup server (CARTESI-FACTS §12)."""

DATA_ENVELOPE = 2048
"""Room kept for the JSON around a ``contents/<cid>/data`` answer's hex (about 200 bytes are used)."""

MAX_DATA_BYTES = (MAX_ANSWER_BYTES - DATA_ENVELOPE) // 2
"""File bytes one answer carries at most, whatever ``max_inspect_bytes`` says: hex doubles them."""

QUERIES = {
    "balances/<account>": "free balances of an account, per token (paged), and its payout choice",
    "totals": "per token: deposited, balances, escrowed, paid_out (paged)",
    "contents": "stored files (paged)",
    "contents/<cid>": "one stored file's size and uploader",
    "contents/<cid>/data?offset=O&length=N": "a stored file's bytes, hex, in parts",
    "uploads/<account>": "an account's partial uploads (paged)",
    "jobs": "every job (paged)",
    "jobs/<id>": "one job and its submissions (paged)",
    "jobs/<id>/submissions": "a job's submissions (paged)",
    "jobs/<id>/leaderboard": "a job's scored submissions, best first (paged)",
    "jobs/<id>/history": "a job's events in order (paged)",
    "jobs/<id>/access": "a job's access requests, grants and delegates (paged)",
    "preflight/job": "dry run of a createJob: every problem, with its fix",
    "preflight/submission": "dry run of a commitSubmission and its revealSubmission: every problem, with its fix",
    "preflight/model": "a model (and training data) checked against a job: every problem, with its fix",
}


def _address(text: str) -> Address:
    try:
        return Address.from_hex(text)
    except ValueError as exc:
        raise DomainError(f"not an address: {shown(text)}", code="bad_query") from exc


def _balances(reader: Reader, env: Env, parts: list[str], params: dict[str, list[str]]) -> dict[str, Any]:
    if len(parts) != 2:
        raise DomainError("usage: balances/<account>", code="bad_query")
    account = _address(parts[1])
    page = Page.from_params(params)
    found = sorted(ledger.balances_of(reader, account).items())
    return {"account": account.hex, "balances": {t.hex: str(v) for t, v in page.take(found)},
            "payout_vouchers": payout_choice.wants_vouchers(reader, account), **page.fields(len(found))}


def _totals(reader: Reader, env: Env, parts: list[str], params: dict[str, list[str]]) -> dict[str, Any]:
    if len(parts) != 1:
        raise DomainError("usage: totals", code="bad_query")
    page = Page.from_params(params)
    tokens = sorted(ledger.tokens(reader))
    totals = {t.hex: {k: str(v) for k, v in ledger.totals(reader, t).items()} for t in page.take(tokens)}
    return {"totals": totals, **page.fields(len(tokens))}


def _data(reader: Reader, env: Env, cid: bytes, params: dict[str, list[str]]) -> dict[str, Any]:
    most = min(env.limits.max_inspect_bytes, MAX_DATA_BYTES)
    offset = uint_param(params, "offset", 0)
    length = min(uint_param(params, "length", most), most)
    data = content.read_content(reader, cid, offset, length, most)
    return {"cid": cid_to_text(cid), "offset": offset, "length": len(data), "data": "0x" + data.hex()}


def _contents(reader: Reader, env: Env, parts: list[str], params: dict[str, list[str]]) -> dict[str, Any]:
    if len(parts) == 1:
        page = Page.from_params(params)
        cids = [cid for cid, _ in reader.items(content.CONTENTS)]
        return {"contents": [content.content_info(reader, cid) for cid in page.take(cids)],
                **page.fields(len(cids))}
    cid = cid_from_text(parts[1])
    if len(parts) == 2:
        info = content.content_info(reader, cid)
        if info is None:
            raise DomainError(f"no content {cid_to_text(cid)}", code="not_found")
        return info
    if len(parts) == 3 and parts[2] == "data":
        return _data(reader, env, cid, params)
    raise DomainError("usage: contents[/<cid>[/data?offset=O&length=N]]", code="bad_query")


def _uploads(reader: Reader, env: Env, parts: list[str], params: dict[str, list[str]]) -> dict[str, Any]:
    if len(parts) != 2:
        raise DomainError("usage: uploads/<account>", code="bad_query")
    account = _address(parts[1])
    page = Page.from_params(params)
    uploads = content.list_uploads(reader, account)
    return {"account": account.hex, "uploads": page.take(uploads), **page.fields(len(uploads))}


def _jobs(reader: Reader, env: Env, parts: list[str], params: dict[str, list[str]]) -> dict[str, Any]:
    return job_views.answer_jobs(reader, parts, Page.from_params(params))


Route = Callable[[Reader, Env, list[str], dict[str, list[str]]], dict[str, Any]]

ROUTES: dict[str, Route] = {
    "balances": _balances,
    "totals": _totals,
    "contents": _contents,
    "uploads": _uploads,
    "jobs": _jobs,
    "preflight": preflight.answer,
}


def answer(reader: Reader, query: str, env: Env, routes: dict[str, Route] | None = None) -> dict[str, Any]:
    """Answers one inspect query. Raises ``DomainError`` for unknown or malformed queries."""
    path, _, query_string = query.strip().partition("?")
    parts = [p for p in path.strip("/").split("/") if p]
    table = ROUTES if routes is None else routes
    if not parts or parts[0] not in table:
        raise DomainError(f"unknown query {shown(query)}; known: {', '.join(QUERIES)}", code="unknown_query")
    return table[parts[0]](reader, env, parts, parse_qs(query_string, keep_blank_values=True))
