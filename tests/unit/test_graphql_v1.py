"""The local node's v1 reader (devnode.graphql_v1): GraphQL queries, pagination, errors, v1 inspect."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from devnode.graphql_v1 import PAGE_LIMIT, GraphQLError, encode_cursor, page_bounds
from devnode.rpc import NotReady
from devnode.server import EXCEPTION, Finished
from tests.support.v1_node import SENDER, serving


@pytest.fixture
def node(tmp_path):
    with serving(tmp_path) as running:
        yield running


def gql(node: Any, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    server = node[0]
    answer = requests.post(server.url + "/graphql", json={"query": query, "variables": variables}, timeout=10)
    assert answer.status_code == 200
    return answer.json()


def data(node: Any, query: str, **variables: Any) -> dict[str, Any]:
    answer = gql(node, query, variables or None)
    assert "errors" not in answer, answer
    return answer["data"]


def error(node: Any, query: str) -> str:
    answer = gql(node, query)
    assert answer.get("data") is None and len(answer["errors"]) == 1, answer
    return answer["errors"][0]["message"]


def test_input_fields_come_from_the_recorded_input_and_its_v1_metadata(node):
    got = data(node, "{ input(index: 2) { index status msgSender timestamp blockNumber payload } }")["input"]
    assert got == {"index": 2, "status": "ACCEPTED", "msgSender": SENDER,
                   "timestamp": str(1_700_000_000 + 23), "blockNumber": "23", "payload": "0x" + b"in2".hex()}


def test_an_input_seen_but_not_processed_is_unprocessed_and_counted(node):
    got = data(node, "{ inputs { totalCount edges { node { index status } } } }")["inputs"]
    assert got["totalCount"] == 5
    assert [e["node"]["status"] for e in got["edges"]] == ["ACCEPTED", "REJECTED", "ACCEPTED", "ACCEPTED",
                                                          "UNPROCESSED"]


def test_notices_and_vouchers_are_numbered_per_input_and_per_kind(node):
    got = data(node, """{ input(index: 0) {
        notices { totalCount edges { node { index payload input { index } } } }
        vouchers { edges { node { index destination payload } } }
        reports { edges { node { index payload } } } } }""")["input"]
    assert [(e["node"]["index"], e["node"]["payload"]) for e in got["notices"]["edges"]] == [
        (0, "0x" + b"n0".hex()), (1, "0x" + b"n1".hex())]
    assert {e["node"]["input"]["index"] for e in got["notices"]["edges"]} == {0}
    assert [e["node"] for e in got["vouchers"]["edges"]] == [
        {"index": 0, "destination": "0x" + "12" * 20, "payload": "0x" + b"pay0".hex()}]
    assert got["reports"]["edges"][0]["node"] == {"index": 0, "payload": "0x" + b'{"ok": true}'.hex()}


def test_single_outputs_by_index_match_the_lists(node):
    got = data(node, """{
        voucher(voucherIndex: 1, inputIndex: 2) { index destination payload input { index } }
        notice(noticeIndex: 1, inputIndex: 0) { index payload }
        report(reportIndex: 0, inputIndex: 1) { index payload }
        input(index: 2) { voucher(index: 0) { destination } } }""")
    assert got["voucher"] == {"index": 1, "destination": "0x" + "12" * 20, "payload": "0x",
                              "input": {"index": 2}}
    assert got["notice"] == {"index": 1, "payload": "0x" + b"n1".hex()}
    assert got["report"]["index"] == 0
    assert bytes.fromhex(got["report"]["payload"][2:]).startswith(b'{"ok": false')
    assert got["input"]["voucher"]["destination"] == "0x" + "34" * 20


def test_the_top_level_lists_hold_every_input_s_outputs_in_input_order(node):
    got = data(node, "{ vouchers { totalCount edges { node { index input { index } } } } "
                     "notices { totalCount } reports { totalCount } }")
    assert [(e["node"]["input"]["index"], e["node"]["index"]) for e in got["vouchers"]["edges"]] == [
        (0, 0), (2, 0), (2, 1)]
    totals = (got["vouchers"]["totalCount"], got["notices"]["totalCount"], got["reports"]["totalCount"])
    assert totals == (3, 2, 2)


def test_proofs_come_from_the_proof_callable_and_are_null_before_the_claim(node):
    _, _, proofs = node
    got = data(node, """{ claimed: voucher(voucherIndex: 0, inputIndex: 0) { proof { context validity {
            inputIndexWithinEpoch outputIndexWithinInput outputHashesRootHash vouchersEpochRootHash
            noticesEpochRootHash machineStateHash outputHashInOutputHashesSiblings
            outputHashesInEpochSiblings } } }
        notice(noticeIndex: 1, inputIndex: 0) { proof { validity { outputIndexWithinInput } } }
        open: voucher(voucherIndex: 1, inputIndex: 2) { proof { context } } }""")
    assert got["claimed"]["proof"] == proofs("voucher", 0, 0)
    assert got["notice"]["proof"]["validity"]["outputIndexWithinInput"] == 1
    assert got["open"]["proof"] is None
    assert ("voucher", 2, 1) in proofs.calls and ("notice", 0, 1) in proofs.calls


def test_a_proof_is_asked_for_only_when_the_query_selects_it(node):
    _, _, proofs = node
    data(node, "{ vouchers { edges { node { index payload } } } }")
    assert proofs.calls == []


@pytest.mark.parametrize(("query", "message"), [
    ("{ input(index: 9) { index } }", "input not found"),
    ("{ voucher(voucherIndex: 1, inputIndex: 0) { index } }", "voucher not found"),
    ("{ voucher(voucherIndex: 0, inputIndex: 9) { index } }", "voucher not found"),
    ("{ notice(noticeIndex: 0, inputIndex: 2) { index } }", "notice not found"),
    ("{ report(reportIndex: 1, inputIndex: 0) { index } }", "report not found"),
    ("{ input(index: 0) { voucher(index: 3) { index } } }", "voucher not found"),
])
def test_a_missing_item_is_an_error_with_null_data(node, query, message):
    answer = gql(node, query)
    assert answer["data"] is None
    assert answer["errors"][0]["message"] == message and answer["errors"][0]["path"][0] in query


def test_a_query_that_does_not_validate_gets_errors_and_no_data(node):
    missing = gql(node, "{ notice(noticeIndex: 0) { index } }")
    unknown = gql(node, "{ input(index: 0) { nonsense } }")
    broken = gql(node, "{ input(index: ")
    for answer in (missing, unknown, broken):
        assert "data" not in answer and answer["errors"]
    assert "inputIndex" in missing["errors"][0]["message"]


def test_variables_and_the_where_filter(node):
    got = data(node, "query Q($low: Int, $high: Int) { inputs(where: {indexGreaterThan: $low, "
                     "indexLowerThan: $high}) { totalCount edges { node { index } } } }", low=0, high=3)
    assert got["inputs"]["totalCount"] == 2
    assert [e["node"]["index"] for e in got["inputs"]["edges"]] == [1, 2]


def test_forward_pages_walk_every_entry_once_with_their_cursors(node):
    seen, after = [], None
    while True:
        page = data(node, "query P($after: String) { vouchers(first: 2, after: $after) { totalCount "
                          "edges { node { input { index } index } cursor } "
                          "pageInfo { startCursor endCursor hasNextPage hasPreviousPage } } }",
                    after=after)["vouchers"]
        seen += [(e["node"]["input"]["index"], e["node"]["index"]) for e in page["edges"]]
        info = page["pageInfo"]
        assert info["startCursor"] == page["edges"][0]["cursor"]
        assert info["endCursor"] == page["edges"][-1]["cursor"]
        assert info["hasPreviousPage"] == (after is not None)
        if not info["hasNextPage"]:
            break
        after = info["endCursor"]
    assert seen == [(0, 0), (2, 0), (2, 1)]


def test_backward_pages_end_before_the_cursor(node):
    last_two = data(node, "{ inputs(last: 2) { edges { node { index } cursor } pageInfo { hasPreviousPage "
                          "hasNextPage } } }")["inputs"]
    assert [e["node"]["index"] for e in last_two["edges"]] == [3, 4]
    assert last_two["pageInfo"] == {"hasPreviousPage": True, "hasNextPage": False}
    before = last_two["edges"][0]["cursor"]
    earlier = data(node, "query B($b: String) { inputs(last: 10, before: $b) { edges { node { index } } } }",
                   b=before)["inputs"]
    assert [e["node"]["index"] for e in earlier["edges"]] == [0, 1, 2]


def test_an_empty_list_has_no_cursors(node):
    got = data(node, "{ input(index: 3) { notices { totalCount edges { cursor } pageInfo { startCursor "
                     "endCursor hasNextPage hasPreviousPage } } } }")["input"]["notices"]
    assert got == {"totalCount": 0, "edges": [], "pageInfo": {
        "startCursor": None, "endCursor": None, "hasNextPage": False, "hasPreviousPage": False}}


@pytest.mark.parametrize(("args", "message"), [
    ("first: 1, last: 1",
     "cannot mix forward pagination (first, after) with backward pagination (last, before)"),
    ('after: "not base64!"', "failed to decode base64 cursor"),
    ('after: "gA=="', "failed to decode UTF8 cursor"),
    ('after: "aW52YWxpZA=="', "failed to parse cursor"),
    (f'after: "{encode_cursor(5)}"', "invalid pagination cursor after"),
    (f'before: "{encode_cursor(-1)}"', "invalid pagination cursor before"),
    ("first: -1", "invalid pagination limit first"),
    ("last: -2", "invalid pagination limit last"),
])
def test_bad_pagination_arguments_are_errors(node, args, message):
    assert error(node, f"{{ inputs({args}) {{ totalCount }} }}") == message


@given(total=st.integers(0, 40), first=st.none() | st.integers(0, 50), after=st.none() | st.integers(0, 39))
def test_forward_bounds_are_the_slice_after_the_cursor(total, first, after):
    items = list(range(total))
    cursor = None if after is None else encode_cursor(after)
    if after is not None and after >= total:
        with pytest.raises(GraphQLError):
            page_bounds(total, first=first, after=cursor)
        return
    offset, count = page_bounds(total, first=first, after=cursor)
    start = 0 if after is None else after + 1
    assert items[offset:offset + count] == items[start:start + (PAGE_LIMIT if first is None else first)]


@given(total=st.integers(0, 40), last=st.none() | st.integers(0, 50), before=st.none() | st.integers(0, 39))
def test_backward_bounds_are_the_slice_before_the_cursor(total, last, before):
    items = list(range(total))
    cursor = None if before is None else encode_cursor(before)
    if before is not None and before >= total:
        with pytest.raises(GraphQLError):
            page_bounds(total, last=last, before=cursor)
        return
    offset, count = page_bounds(total, last=last, before=cursor)
    end = total if before is None else before
    expected = items[:end][-last:] if last else ([] if last == 0 else items[:end])
    assert items[offset:offset + count] == expected


def test_pages_hold_at_most_the_node_s_limit():
    assert page_bounds(5000, first=4000) == (0, PAGE_LIMIT)
    assert page_bounds(5000) == (0, PAGE_LIMIT)
    assert page_bounds(5000, last=4000) == (5000 - PAGE_LIMIT, PAGE_LIMIT)


def test_a_body_that_is_not_a_graphql_request_is_400(node):
    server = node[0]
    assert requests.post(server.url + "/graphql", data=b"{nope", timeout=10).status_code == 400
    assert requests.post(server.url + "/graphql", json={"variables": {}}, timeout=10).status_code == 400


# -- v1 inspect -----------------------------------------------------------------------------------

def test_get_inspect_sends_the_url_decoded_path_and_query_as_the_payload(node):
    server, view, _ = node
    answer = requests.get(server.url + "/inspect/jobs%2F3/submissions?limit=2", timeout=10)
    assert answer.status_code == 200
    assert view.inspected == [b"jobs/3/submissions?limit=2"]
    assert answer.json() == {"status": "Accepted", "exception_payload": None,
                             "reports": [{"payload": "0x" + b'{"answer": 1}'.hex()}],
                             "processed_input_count": 4}


def test_post_inspect_sends_the_raw_body(node):
    server, view, _ = node
    answer = requests.post(server.url + "/inspect", data=b"\x00\xffraw", timeout=10)
    assert answer.status_code == 200 and view.inspected == [b"\x00\xffraw"]
    assert answer.json()["status"] == "Accepted"


def test_an_inspect_exception_gives_its_payload_and_no_report_an_empty_list(node):
    server, view, _ = node
    view.inspect_answer = Finished(EXCEPTION, (), (), b"boom")
    answer = requests.post(server.url + "/inspect", data=b"q", timeout=10).json()
    assert answer == {"status": "Exception", "exception_payload": "0x" + b"boom".hex(), "reports": [],
                      "processed_input_count": 4}


def test_an_inspect_the_backend_cannot_answer_is_503(node):
    server, view, _ = node
    view.inspect_answer = NotReady("restarting")
    assert requests.get(server.url + "/inspect/x", timeout=10).status_code == 503
