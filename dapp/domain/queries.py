"""Inspect queries: read-only, path-like (``balances/0xabc…``), answered with JSON-ready dicts.

Amounts are decimal strings (uint256 does not fit a JSON number), addresses lower-case hex,
CIDs text. Unknown queries raise ``DomainError`` (answered as a JSON error report).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from dapp.codec.cid import cid_from_text
from dapp.domain import content, job_views, ledger
from dapp.domain.env import Env
from dapp.domain.store import Reader
from dapp.domain.values import Address
from dapp.errors import DomainError

QUERIES = {
    "balances/<account>": "free balances of an account, per token",
    "totals": "per token: deposited, balances, escrowed, paid_out",
    "contents": "stored files",
    "contents/<cid>": "one stored file's size and uploader",
    "contents/<cid>/data?offset=O&length=N": "a stored file's bytes, hex, in parts",
    "uploads/<account>": "an account's partial uploads",
    "jobs": "every job",
    "jobs/<id>": "one job",
    "jobs/<id>/submissions": "a job's submissions",
    "jobs/<id>/leaderboard": "a job's scored submissions, best first",
    "jobs/<id>/history": "a job's events in order",
    "jobs/<id>/access": "a job's access requests, grants and delegates",
}


def _address(text: str) -> Address:
    try:
        return Address.from_hex(text)
    except ValueError as exc:
        raise DomainError(f"not an address: {text!r}", code="bad_query") from exc


def _int_param(params: dict[str, list[str]], name: str, default: int) -> int:
    values = params.get(name)
    if not values:
        return default
    try:
        value = int(values[-1])
    except ValueError as exc:
        raise DomainError(f"query parameter {name} is not an integer", code="bad_query") from exc
    if value < 0:
        raise DomainError(f"query parameter {name} is negative", code="bad_query")
    return value


def _balances(reader: Reader, env: Env, parts: list[str], params: dict[str, list[str]]) -> dict[str, Any]:
    if len(parts) != 2:
        raise DomainError("usage: balances/<account>", code="bad_query")
    account = _address(parts[1])
    found = ledger.balances_of(reader, account)
    return {"account": account.hex, "balances": {t.hex: str(v) for t, v in sorted(found.items())}}


def _totals(reader: Reader, env: Env, parts: list[str], params: dict[str, list[str]]) -> dict[str, Any]:
    tokens = ledger.tokens(reader)
    return {"totals": {t.hex: {k: str(v) for k, v in ledger.totals(reader, t).items()} for t in sorted(tokens)}}


def _contents(reader: Reader, env: Env, parts: list[str], params: dict[str, list[str]]) -> dict[str, Any]:
    if len(parts) == 1:
        return {"contents": content.list_contents(reader)}
    cid = cid_from_text(parts[1])
    if len(parts) == 2:
        info = content.content_info(reader, cid)
        if info is None:
            raise DomainError(f"no content {parts[1]}", code="not_found")
        return info
    if len(parts) == 3 and parts[2] == "data":
        offset = _int_param(params, "offset", 0)
        length = _int_param(params, "length", env.limits.max_inspect_bytes)
        data = content.read_content(reader, cid, offset, min(length, env.limits.max_inspect_bytes))
        return {"cid": parts[1], "offset": offset, "length": len(data), "data": "0x" + data.hex()}
    raise DomainError("usage: contents[/<cid>[/data?offset=O&length=N]]", code="bad_query")


def _uploads(reader: Reader, env: Env, parts: list[str], params: dict[str, list[str]]) -> dict[str, Any]:
    if len(parts) != 2:
        raise DomainError("usage: uploads/<account>", code="bad_query")
    account = _address(parts[1])
    return {"account": account.hex, "uploads": content.list_uploads(reader, account)}


def _jobs(reader: Reader, env: Env, parts: list[str], params: dict[str, list[str]]) -> dict[str, Any]:
    return job_views.answer_jobs(reader, parts)


Route = Callable[[Reader, Env, list[str], dict[str, list[str]]], dict[str, Any]]

ROUTES: dict[str, Route] = {
    "balances": _balances,
    "totals": _totals,
    "contents": _contents,
    "uploads": _uploads,
    "jobs": _jobs,
}


def answer(reader: Reader, query: str, env: Env, routes: dict[str, Route] | None = None) -> dict[str, Any]:
    """Answers one inspect query. Raises ``DomainError`` for unknown or malformed queries."""
    path, _, query_string = query.strip().partition("?")
    parts = [p for p in path.strip("/").split("/") if p]
    table = ROUTES if routes is None else routes
    if not parts or parts[0] not in table:
        raise DomainError(f"unknown query {query!r}; known: {', '.join(QUERIES)}", code="unknown_query")
    return table[parts[0]](reader, env, parts, parse_qs(query_string))
