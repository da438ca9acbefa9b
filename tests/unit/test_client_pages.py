"""The client follows inspect pages (``next``), so the CLI and console still see whole lists."""

from __future__ import annotations

from typing import Any

import pytest
from mlmarket.client.errors import NodeError
from mlmarket.client.inspect import InspectClient, merge_pages, names_a_page

from dapp.codec.hexbytes import to_hex
from dapp.domain.paging import DEFAULT_LIMIT
from dapp.domain.values import Address
from tests.support.market import Market


class AppNode(InspectClient):
    """An inspect client whose node is an ``App`` in this process; records the queries sent."""

    def __init__(self, market: Market) -> None:
        super().__init__("http://node.invalid/inspect/app")
        self.market = market
        self.sent: list[str] = []

    def raw(self, payload: bytes) -> dict[str, Any]:
        self.sent.append(payload.decode())
        reports = self.market.app.inspect(to_hex(payload))
        return {"status": "Accepted", "reports": [{"payload": "0x" + r.payload.hex()} for r in reports]}


@pytest.fixture(scope="module")
def node() -> AppNode:
    m = Market()
    job = m.create_job(1000, gated=True)
    for n in range(1, 2 * DEFAULT_LIMIT + 51):
        assert m.call(Address(n.to_bytes(20, "big")), "requestAccess", job, b"").accepted
    return AppNode(m)


def test_a_query_naming_no_page_gets_every_page_merged(node):
    node.sent.clear()
    history = node.query("jobs/1/history")
    assert len(history["history"]) == 2 * DEFAULT_LIMIT + 51 and history["next"] is None
    assert history["history"][0]["type"] == "JobCreated"
    assert [e["account"] for e in history["history"][1:]] == \
        [Address(n.to_bytes(20, "big")).hex for n in range(1, 2 * DEFAULT_LIMIT + 51)]
    assert node.sent == ["jobs/1/history", f"jobs/1/history?offset={DEFAULT_LIMIT}",
                         f"jobs/1/history?offset={2 * DEFAULT_LIMIT}"]


def test_every_list_of_the_access_view_is_merged(node):
    access = node.query("jobs/1/access")
    assert len(access["requests"]) == 2 * DEFAULT_LIMIT + 50 and access["granted"] == []
    assert access["sponsor"] == node.query("jobs/1")["job"]["sponsor"]


def test_a_query_naming_a_page_gets_that_page_only(node):
    node.sent.clear()
    page = node.query("jobs/1/history?offset=5&limit=3")
    assert [e["input_index"] for e in page["history"]] == [e["input_index"] for e in
                                                           node.query("jobs/1/history")["history"][5:8]]
    assert page["next"] == 8 and node.sent[0] == "jobs/1/history?offset=5&limit=3"
    assert names_a_page("jobs?limit=2") and names_a_page("jobs?offset=0") and not names_a_page("jobs?x=1")


def test_a_dict_answer_is_merged_across_pages():
    pages = {2: {"totals": {"b": 2}, "offset": 2, "next": 3},
             3: {"totals": {"c": 3}, "offset": 3, "next": None}}
    merged = merge_pages({"ok": True, "totals": {"a": 1}, "offset": 0, "next": 2}, pages.__getitem__)
    assert merged == {"ok": True, "totals": {"a": 1, "b": 2, "c": 3}, "offset": 0, "next": None}


@pytest.mark.parametrize("page", [{"offset": 3, "next": None, "x": []}, {"offset": 2, "next": 2, "x": []},
                                  {"offset": 2, "next": "4", "x": []}, ["not", "a", "page"]])
def test_a_page_that_does_not_lead_on_is_a_node_error(page):
    with pytest.raises(NodeError, match="does not lead on"):
        merge_pages({"x": [1], "offset": 0, "next": 2}, lambda offset: page)

