"""Inspect within the machine's limits (issue 11, finding 8), through ``App.inspect``.

Every answer, its JSON included, fits the 2,097,152-byte report buffer; malformed paths get
``bad_query``/``not_found``, never ``internal_error``; every list that can grow comes in pages.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dapp.app import App
from dapp.codec.chunks import plan_upload
from dapp.codec.cid import cid_of, cid_to_text
from dapp.codec.hexbytes import to_hex
from dapp.config import Config
from dapp.domain import queries
from dapp.domain.limits import Limits
from dapp.domain.paging import DEFAULT_LIMIT, MAX_DIGITS, MAX_LIMIT
from dapp.domain.values import Address
from dapp.errors import DomainError
from tests.support.market import CAROL, DAVE, SPONSOR, Market
from tests.support.rollup import TOKEN

BUFFER = 2 * 1024 * 1024  # the cmio transmit buffer, 2 MiB (CARTESI-FACTS §12), stated here independently


def answer(app: App, query: str) -> tuple[dict[str, Any], int]:
    """The decoded answer of ``query`` and the size of its report payload in bytes."""
    (report,) = app.inspect(to_hex(query.encode()))
    return json.loads(report.payload), len(report.payload)


def code(app: App, query: str) -> str | None:
    value, _ = answer(app, query)
    return None if value["ok"] else value["error"]["code"]


def account(n: int) -> Address:
    return Address(n.to_bytes(20, "big"))


VALIDATION = b"x,target\n1,0\n"  # what Market.create_job stores as the validation set
SCORES = (0.2, 0.5, 0.1, 0.4, 0.3)
PARTIAL = [np.random.default_rng(n).bytes(100_000) for n in range(3)]  # first chunks sent only
TOKENS = [Address(bytes([0x71 + n]) * 20) for n in range(3)]


@functools.cache
def market() -> Market:
    """One market with more than a page of small items in every list and several of each kind:
    3 jobs (the third gated), 5 scored submissions, 3 stored files, 3 partial uploads, 3 tokens."""
    m = Market()
    job = m.create_job(1000, min_score=999_000, reward_per_accept=100)
    for n, score in enumerate(SCORES):
        assert m.submit(CAROL if n % 2 else DAVE, job, m.put_model(CAROL, score)).accepted
    m.create_job(100)
    gated = m.create_job(100, gated=True)
    for n in range(1, 4):
        assert m.call(account(n), "requestAccess", gated, bytes([n])).accepted
    assert m.call(SPONSOR, "setAccess", gated, account(1).raw, True).accepted
    assert m.call(SPONSOR, "setDelegate", gated, account(2).raw, True).accepted
    for blob in PARTIAL:
        assert m.send(DAVE, plan_upload(blob).chunks[0].payload).accepted
    for token in TOKENS:
        assert m.deposit(token, DAVE, 5).accepted
    return m


def walk(app: App, path: str, key: str, limit: int) -> tuple[list[Any], list[dict[str, Any]]]:
    """Every item of list ``key`` of ``path``, read page by page following ``next``; and the pages."""
    items: list[Any] = []
    pages = []
    offset: int | None = 0
    separator = "&" if "?" in path else "?"
    while offset is not None:
        page, size = answer(app, f"{path}{separator}offset={offset}&limit={limit}")
        assert page["ok"] and size <= BUFFER, page
        assert (page["offset"], page["limit"]) == (offset, limit)
        items += page[key] if isinstance(page[key], list) else list(page[key].items())
        pages.append(page)
        offset = page["next"]
    return items, pages


# --- strict numbers --------------------------------------------------------------------------------

@pytest.mark.parametrize("digit", ["\u0661", "\u06f1", "\u0967", "\uff11", "\u00b2", "\U0001d7cf"],
                         ids=["arabic-indic", "persian", "devanagari", "fullwidth", "superscript", "bold"])
def test_a_job_id_in_another_script_is_a_bad_query(digit):
    app = market().app
    assert code(app, "jobs/1") is None  # the ASCII id names a job
    for path in (f"jobs/{digit}", f"jobs/{digit}/history", f"jobs/1{digit}", f"jobs?offset={digit}",
                 f"jobs/1/history?limit={digit}"):
        assert code(app, path) == "bad_query", path


@pytest.mark.parametrize("text", ["-1", "+1", " 1", "1%20", "1_0", "0x10", "1e3", "x", "", "1.0", "٣"])
def test_offsets_and_limits_must_be_ascii_digits(text):
    app = market().app
    for query in (f"jobs?offset={text}", f"jobs?limit={text}", f"jobs/1/history?offset={text}",
                  f"contents?limit={text}", f"totals?offset={text}"):
        assert code(app, query) == "bad_query", query


def test_huge_ids_and_numbers_are_answered_without_an_internal_error():
    app = market().app
    assert code(app, "jobs/" + "9" * MAX_DIGITS) == "not_found"
    for digits in (MAX_DIGITS + 1, 5_000, 100_000):
        assert code(app, "jobs/" + "9" * digits) == "bad_query"
        assert code(app, "jobs/1/history?offset=" + "1" * digits) == "bad_query"
    page, _ = answer(app, "jobs?offset=" + "9" * MAX_DIGITS)
    assert (page["jobs"], page["next"], page["total"]) == ([], None, 3)


def test_a_zero_limit_is_refused_and_a_large_one_is_cut_to_the_maximum():
    app = market().app
    assert code(app, "jobs?limit=0") == "bad_query"
    page, _ = answer(app, f"jobs?limit={MAX_LIMIT * 10}")
    assert page["limit"] == MAX_LIMIT and len(page["jobs"]) == 3


def test_a_huge_unknown_query_is_answered_with_a_short_error():
    value, size = answer(market().app, "x" * (BUFFER - 100))
    assert value["error"]["code"] == "unknown_query" and size < 2000


# --- pages -----------------------------------------------------------------------------------------

def test_every_growing_list_is_paged_and_its_pages_add_up_to_the_whole():
    m = market()
    stored = [VALIDATION] + [json.dumps({"score": score}).encode() for score in SCORES]
    expected = {  # path -> (list key, what identifies an item, the items as the market fixture made them)
        "jobs": ("jobs", lambda job: job["id"], [1, 2, 3]),
        "jobs/1": ("submissions", lambda sub: sub["id"], [1, 2, 3, 4, 5]),
        "jobs/1/submissions": ("submissions", lambda sub: sub["id"], [1, 2, 3, 4, 5]),
        "jobs/1/leaderboard": ("leaderboard", lambda sub: sub["score"], sorted(SCORES, reverse=True)),
        "jobs/3/access": ("requests", lambda asked: asked["account"], [account(n).hex for n in (1, 2, 3)]),
        "contents": ("contents", lambda info: info["cid"], [cid_to_text(cid_of(data)) for data in stored]),
        f"uploads/{DAVE.hex}": ("uploads", lambda upload: upload["cid"],
                                [cid_to_text(plan_upload(blob).cid) for blob in PARTIAL]),
        f"balances/{DAVE.hex}": ("balances", lambda pair: pair[0], [token.hex for token in TOKENS]),
        "totals": ("totals", lambda pair: pair[0], sorted(token.hex for token in [TOKEN, *TOKENS])),
    }
    for path, (key, identity, items) in expected.items():
        whole, _ = answer(m.app, path)
        paging = (whole["total"], whole["offset"], whole["limit"], whole["next"])
        assert paging == (len(items), 0, DEFAULT_LIMIT, None), path
        for limit in (1, 2):
            got, pages = walk(m.app, path, key, limit)
            assert len(pages) == -(-len(items) // limit), (path, limit)
            assert {p["total"] for p in pages} == {len(items)}
            assert [identity(item) for item in got] == items, path
            assert got == (whole[key] if isinstance(whole[key], list) else list(whole[key].items())), path


def test_access_pages_cut_each_of_its_lists_and_count_the_longest():
    app = market().app
    first, _ = answer(app, "jobs/3/access?limit=1")
    assert (first["total"], first["next"]) == (3, 1)
    assert first["requests"] == [{"account": account(1).hex, "public_key": "0x01"}]
    assert (first["granted"], first["delegates"]) == ([account(1).hex], [account(2).hex])
    second, _ = answer(app, "jobs/3/access?offset=1&limit=1")
    assert second["requests"][0]["account"] == account(2).hex
    assert (second["granted"], second["delegates"]) == ([], [])


def test_a_history_of_2000_events_comes_in_pages_each_within_the_buffer():
    m = Market()
    job = m.create_job(1000, gated=True)
    key = b"\x04" * Limits().max_public_key_bytes  # the largest event a stranger can add
    for n in range(2_000):
        assert m.call(account(1 + n % 250), "requestAccess", job, key).accepted
    events, pages = walk(m.app, f"jobs/{job}/history", "history", MAX_LIMIT)
    assert len(events) == 2_001 and len(pages) == 11
    assert [e["type"] for e in events] == ["JobCreated"] + ["AccessRequested"] * 2_000
    assert [e["account"] for e in events[1:4]] == [account(n).hex for n in (1, 2, 3)]
    requests, _ = walk(m.app, f"jobs/{job}/access", "requests", MAX_LIMIT)
    assert len(requests) == 250
    whole, size = answer(m.app, f"jobs/{job}/history")
    assert len(whole["history"]) == DEFAULT_LIMIT and whole["next"] == DEFAULT_LIMIT and size <= BUFFER


def test_the_largest_job_views_fit_at_the_largest_page():
    m = Market()
    title = "\x01" * Limits().max_title_bytes  # each byte becomes six in JSON (\u0001)
    validation = m.put(SPONSOR, b"x,target\n1,0\n")
    for _ in range(MAX_LIMIT + 1):
        m.create_job(2**240, title=title, validation_cid=validation, reward_per_accept=2**240)
    page, size = answer(m.app, f"jobs?limit={MAX_LIMIT}")
    assert len(page["jobs"]) == MAX_LIMIT and page["next"] == MAX_LIMIT and size <= BUFFER
    assert page["jobs"][0]["spec"]["title"] == title


# --- file bytes ------------------------------------------------------------------------------------

@functools.cache
def large_file() -> tuple[Market, str, bytes]:
    """A market holding one incompressible file larger than one answer can carry."""
    m = Market()
    data = np.random.default_rng(5).bytes(BUFFER // 2 + 10_000)
    return m, cid_to_text(m.put(DAVE, data)), data


@pytest.mark.parametrize("params", ["", "?offset=0", "?length=1048576", "?length=" + "9" * 78,
                                    "?offset=10000"])
def test_a_data_answer_at_its_default_and_largest_length_fits_after_hex_and_json(params):
    m, cid, data = large_file()
    value, size = answer(m.app, f"contents/{cid}/data{params}")
    assert value["ok"] and size <= BUFFER
    offset = value["offset"]
    assert bytes.fromhex(value["data"][2:]) == data[offset:offset + value["length"]]
    assert value["length"] >= (BUFFER - 4096) // 2  # no more than a few KiB below the buffer's half


def test_the_data_cap_holds_whatever_max_inspect_bytes_is_configured_to():
    m, cid, data = large_file()
    generous = App(Config(limits=Limits(max_inspect_bytes=8 * 1024 * 1024)))
    generous.state = m.app.state
    value, size = answer(generous, f"contents/{cid}/data")
    assert size <= BUFFER and value["length"] == queries.MAX_DATA_BYTES
    small = App(Config(limits=Limits(max_inspect_bytes=1000)))
    small.state = m.app.state
    assert answer(small, f"contents/{cid}/data?length=5000")[0]["length"] == 1000


def test_a_data_offset_in_another_script_or_past_the_end_is_an_error():
    m, cid, data = large_file()
    assert code(m.app, f"contents/{cid}/data?offset=\u0661") == "bad_query"
    assert code(m.app, f"contents/{cid}/data?offset={len(data) + 1}") == "out_of_range"
    assert code(m.app, f"contents/{cid}/data?offset=" + "9" * 78) == "out_of_range"


# --- the last guard --------------------------------------------------------------------------------

def test_an_answer_over_the_buffer_becomes_answer_too_large(monkeypatch):
    app = App()
    envelope = len(b'{"ok":true,"x":""}')
    monkeypatch.setitem(queries.ROUTES, "fits", lambda r, e, p, q: {"x": "a" * (BUFFER - envelope)})
    monkeypatch.setitem(queries.ROUTES, "over", lambda r, e, p, q: {"x": "a" * (BUFFER - envelope + 1)})
    value, size = answer(app, "fits")
    assert value["ok"] and size == BUFFER
    value, size = answer(app, "over")
    assert value["error"]["code"] == "answer_too_large" and size < 1000
    assert f"{BUFFER + 1:,}" in value["error"]["message"]


def test_an_error_report_over_the_buffer_is_replaced_too(monkeypatch):
    def huge_error(*args: Any) -> dict[str, Any]:
        raise DomainError("e" * BUFFER, code="bad_query")

    monkeypatch.setitem(queries.ROUTES, "huge", huge_error)
    value, size = answer(App(), "huge")
    assert value["error"]["code"] == "answer_too_large" and size <= BUFFER


# --- any query -------------------------------------------------------------------------------------

SEGMENTS = st.one_of(
    st.sampled_from(["jobs", "contents", "balances", "uploads", "totals", "data", "history", "leaderboard",
                     "access", "submissions", "1", "3", "0", "-1", "\u0661", "9" * 79, DAVE.hex, TOKEN.hex]),
    st.text(max_size=12),
    st.from_regex(r"[0-9]{1,90}", fullmatch=True),
)
PARAMS = st.lists(st.tuples(st.sampled_from(["offset", "limit", "length", "x"]),
                            st.one_of(st.text(max_size=8), st.from_regex(r"[0-9]{1,80}", fullmatch=True))),
                  max_size=3)


@st.composite
def queries_like_paths(draw: st.DrawFn) -> str:
    path = "/".join(draw(st.lists(SEGMENTS, min_size=1, max_size=4)))
    params = draw(PARAMS)
    return path + ("?" + "&".join(f"{k}={v}" for k, v in params) if params else "")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(query=st.one_of(queries_like_paths(), st.text(max_size=60)))
def test_no_query_gives_an_internal_error_and_every_answer_fits(query):
    app = market().app
    value, size = answer(app, query)
    assert size <= BUFFER
    assert value["ok"] or value["error"]["code"] != "internal_error", (query, value)


@settings(max_examples=100, deadline=None)
@given(payload=st.binary(max_size=40))
def test_no_payload_bytes_give_an_internal_error(payload):
    (report,) = market().app.inspect(to_hex(payload))
    value = json.loads(report.payload)
    assert len(report.payload) <= BUFFER and (value["ok"] or value["error"]["code"] != "internal_error")
