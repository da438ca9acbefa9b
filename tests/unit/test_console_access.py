"""Gated jobs and delegates in the console: who sees which button on the job page, what each POST sends
(decoded with the compiled protocol ABI, ``contracts/abi/IMLMarketInputs.json``, and eth-abi: an oracle
independent of the client library), CSRF, form errors, the backend's refusals, and no private key in
any response. The access state is the backend's ``jobs/<id>/access`` answer (``console.access_state``),
checked here against the real dispatch path too."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import eth_abi
import pytest
from eth_hash.auto import keccak
from flask.testing import FlaskClient
from mlmarket.client.outputs import DecodedReport, InputOutcome
from mlmarket.console.access_state import GRANTED, REQUESTED, access_view, members
from web3 import Web3

from devnode.anvil import dev_accounts
from tests.support.market import CAROL, DAVE, Market
from tests.support.market import SPONSOR as MARKET_SPONSOR
from tests.unit.test_console_fake import JOB, TOKEN, World, csrf, make_client, populated_world

ABI = json.loads((Path(__file__).resolve().parents[2] / "contracts" / "abi" / "IMLMarketInputs.json").read_text())
KEYS = [a.key.hex().removeprefix("0x") for a in dev_accounts(10)]
SPONSOR, REQUESTER, DELEGATE, GRANTEE, STRANGER = (dev_accounts(5)[i].address for i in range(5))
GATED = 2
PUBLIC_KEY = "0x04" + "ab" * 32


def decoded(payload: bytes) -> tuple[str, tuple[Any, ...]]:
    """(function, args) of an input payload, the function found by its selector in the compiled ABI."""
    for entry in ABI:
        if entry.get("type") != "function" or any(p["type"].startswith("tuple") for p in entry["inputs"]):
            continue
        types = [p["type"] for p in entry["inputs"]]
        if keccak(f"{entry['name']}({','.join(types)})".encode())[:4] == payload[:4]:
            return entry["name"], eth_abi.decode(types, payload[4:])
    raise AssertionError(f"no function of the ABI has selector {payload[:4].hex()}")


def event(kind: str, account: str, index: int, **fields: Any) -> dict[str, Any]:
    """A history entry as inspect ``jobs/<id>/history`` gives it (lower-case hex addresses)."""
    return {"type": kind, "job_id": GATED, "account": account.lower(), "input_index": index,
            "timestamp": 1_800_000_000 + index, **fields}


HISTORY = [
    {"type": "JobCreated", "job_id": GATED, "input_index": 1, "timestamp": 1_800_000_000, "budget": "1",
     "sponsor": SPONSOR.lower(), "token": TOKEN.lower()},
    event("DelegateChanged", DELEGATE, 2, enabled=True),
    event("AccessRequested", REQUESTER, 3, public_key=PUBLIC_KEY),
    event("AccessRequested", GRANTEE, 4, public_key="0x"),
    event("AccessChanged", GRANTEE, 5, granted=True),
]


def access_answer(gated: bool = True) -> dict[str, Any]:
    """The ``jobs/<id>/access`` answer the history above leads to, as the backend words it (sorted
    lower-case addresses, ``0x`` for an empty public key); an ungated job has no requests or grants."""
    requests = sorted([{"account": REQUESTER.lower(), "public_key": PUBLIC_KEY},
                       {"account": GRANTEE.lower(), "public_key": "0x"}], key=lambda r: r["account"])
    return {"ok": True, "job": GATED, "gated": gated, "sponsor": SPONSOR.lower(),
            "requests": requests if gated else [], "granted": [GRANTEE.lower()] if gated else [],
            "delegates": [DELEGATE.lower()]}


def gated_world(status: str = "open", policy: str = "threshold", gated: bool = True) -> World:
    """The populated world plus job 2 of dev account 0: gated, one delegate (dev 2), one pending
    request (dev 1, with a public key) and one grant (dev 3)."""
    w = populated_world()
    job = {**JOB, "id": GATED, "sponsor": SPONSOR.lower(), "status": status, "policy": policy,
           "spec": {**JOB["spec"], "title": "gated", "gated": gated}}
    w.answers.update({f"jobs/{GATED}": {"ok": True, "job": job, "submissions": []},
                      f"jobs/{GATED}/leaderboard": {"ok": True, "leaderboard": []},
                      f"jobs/{GATED}/history": {"ok": True, "history": HISTORY},
                      f"jobs/{GATED}/access": access_answer(gated)})
    return w


@pytest.fixture()
def world() -> World:
    return gated_world()


def as_dev(client: FlaskClient, index: int) -> str:
    token = csrf(client)
    assert client.post("/account", data={"csrf_token": token, "account": str(index)}).status_code == 302
    return token


def page_as(world: World, tmp_path: Path, index: int) -> str:
    _, client = make_client(world, tmp_path)
    as_dev(client, index)
    return client.get(f"/jobs/{GATED}").get_data(as_text=True)


def buttons(html: str) -> dict[str, list[str]]:
    """The access controls on a page: grant/revoke/remove buttons by account, and the forms present."""
    return {"grant": re.findall(r'data-access-grant="(0x[0-9a-f]{40})"', html),
            "revoke": re.findall(r'data-access-revoke="(0x[0-9a-f]{40})"', html),
            "remove": re.findall(r'data-delegate-remove="(0x[0-9a-f]{40})"', html),
            "forms": sorted(set(re.findall(r"data-(access-request-form|access-grant-form|delegate-form)\b", html)))}


def statuses(html: str) -> dict[str, str]:
    """Each member row's account and the status in that same row."""
    rows = re.findall(r'<tr data-member="(0x[0-9a-f]{40})">(.*?)</tr>', html, re.DOTALL)
    return {account: re.search(r"data-member-status>([^<]*)<", row).group(1) for account, row in rows}


# ---- the access state, from the backend's answer ------------------------------------------------

def test_members_are_the_granted_accounts_and_the_standing_requests_with_their_keys() -> None:
    a, b, c, d = ("0x" + x * 20 for x in ("aa", "bb", "cc", "dd"))
    answer = {"gated": True, "sponsor": d, "delegates": [c],
              "requests": [{"account": a, "public_key": "0x0102"}, {"account": b.upper().replace("0X", "0x"),
                                                                   "public_key": "0x"}],
              "granted": [b, c]}  # c was granted without asking
    assert [(m.account, m.status, m.public_key) for m in members(answer)] == [
        (a, REQUESTED, "0102"), (b, GRANTED, ""), (c, GRANTED, "")]
    assert members({"gated": True}) == ()


@pytest.mark.parametrize("viewer, mine, sponsor, delegate, may_submit", [
    ("0x" + "AA" * 20, REQUESTED, False, False, False), ("0x" + "Bb" * 20, GRANTED, False, True, True),
    ("0x" + "DD" * 20, None, True, False, False), ("0x" + "EE" * 20, None, False, False, False),
    (None, None, False, False, True)])
def test_the_viewer_is_found_among_members_sponsor_and_delegates_in_any_case(
        viewer: str | None, mine: str | None, sponsor: bool, delegate: bool, may_submit: bool) -> None:
    a, b, d = "0x" + "aa" * 20, "0x" + "bb" * 20, "0x" + "dd" * 20
    answer = {"gated": True, "sponsor": d, "delegates": [b], "requests": [{"account": a, "public_key": "0x"}],
              "granted": [b]}
    view = access_view({"status": "open", "policy": "manual"}, answer, viewer)
    assert (view.mine.status if view.mine else None, view.sponsor, view.delegate) == (mine, sponsor, delegate)
    assert view.viewer == (viewer.lower() if viewer else None)
    assert view.may_submit is may_submit and view.has_access is (mine == GRANTED)
    assert view.manages is (sponsor or delegate) and view.appoints is sponsor
    ungated = access_view({"status": "open"}, {**answer, "gated": False}, viewer)
    assert ungated.may_submit and not ungated.manages and not ungated.can_request


def test_the_console_shows_what_the_backend_keeps_after_grants_and_revocations() -> None:
    # the real dispatch path: CAROL asks, is granted, then revoked; DAVE is granted without asking,
    # then revoked. The backend keeps CAROL's request (she may be granted again) and forgets DAVE.
    m = Market()
    job = m.create_job(1000, gated=True)
    assert m.call(CAROL, "requestAccess", job, b"\x04carol").accepted
    for who in (CAROL, DAVE):
        assert m.call(MARKET_SPONSOR, "setAccess", job, who.raw, True).accepted
    granted = access_view(m.job(job)["job"], m.inspect(f"jobs/{job}/access"), CAROL.hex)
    assert [(x.account, x.status) for x in granted.members] == [(CAROL.hex, GRANTED), (DAVE.hex, GRANTED)]
    assert granted.has_access and not granted.can_request
    for who in (CAROL, DAVE):
        assert m.call(MARKET_SPONSOR, "setAccess", job, who.raw, False).accepted
    job_view = m.job(job)["job"]
    answer = m.inspect(f"jobs/{job}/access")
    carol = access_view(job_view, answer, CAROL.hex)
    assert [(x.account, x.status, x.public_key) for x in carol.members] == [(CAROL.hex, REQUESTED, b"\x04carol".hex())]
    assert carol.can_request and not carol.may_submit
    sponsor = access_view(job_view, answer, MARKET_SPONSOR.hex.upper().replace("0X", "0x"))
    assert sponsor.manages and sponsor.appoints and sponsor.mine is None


# ---- who sees what -------------------------------------------------------------------------------

def test_the_sponsor_sees_each_member_with_grant_or_revoke_and_manages_delegates(world: World, tmp_path: Path) -> None:
    html = page_as(world, tmp_path, 0)
    found = buttons(html)
    assert found["grant"] == [REQUESTER.lower()] and found["revoke"] == [GRANTEE.lower()]
    assert found["remove"] == [DELEGATE.lower()]
    assert found["forms"] == ["access-grant-form", "delegate-form"]  # no request button for the sponsor
    assert statuses(html) == {REQUESTER.lower(): "requested", GRANTEE.lower(): "granted"}
    assert f"{PUBLIC_KEY[:18]}…</code> (33 bytes)" in html


def test_a_delegate_grants_and_revokes_but_does_not_appoint(world: World, tmp_path: Path) -> None:
    found = buttons(page_as(world, tmp_path, 2))
    assert found["grant"] == [REQUESTER.lower()] and found["revoke"] == [GRANTEE.lower()]
    assert found["remove"] == [] and found["forms"] == ["access-grant-form"]


@pytest.mark.parametrize("index, label, mine", [(4, "Request access", None), (1, "Request access again", "requested")])
def test_a_visitor_without_access_may_only_request_it(world: World, tmp_path: Path, index: int, label: str,
                                                      mine: str | None) -> None:
    html = page_as(world, tmp_path, index)
    found = buttons(html)
    assert found == {"grant": [], "revoke": [], "remove": [], "forms": ["access-request-form"]}
    assert re.search(rf"data-access-request>{label}<", html)
    assert (f'data-access-mine="{mine}"' in html) == (mine is not None)


def test_a_granted_contributor_is_told_so_and_offered_no_button(world: World, tmp_path: Path) -> None:
    html = page_as(world, tmp_path, 3)
    assert buttons(html) == {"grant": [], "revoke": [], "remove": [], "forms": []}
    assert 'data-access-mine="granted"' in html


def test_a_revoked_account_that_had_asked_shows_as_requested_and_may_be_granted_again(world: World,
                                                                                      tmp_path: Path) -> None:
    # the backend keeps the request of GRANTEE after the revocation: the sponsor sees Grant again, and
    # GRANTEE is told it asked and may ask again, but is not offered to submit
    world.answers[f"jobs/{GATED}/access"]["granted"] = []
    sponsor = page_as(world, tmp_path, 0)
    assert statuses(sponsor) == {REQUESTER.lower(): "requested", GRANTEE.lower(): "requested"}
    assert sorted(buttons(sponsor)["grant"]) == sorted([REQUESTER.lower(), GRANTEE.lower()])
    assert buttons(sponsor)["revoke"] == []
    grantee = page_as(world, tmp_path, 3)
    assert 'data-access-mine="requested"' in grantee and re.search(r"data-access-request>Request access again<", grantee)
    assert "Submit to this job" not in grantee and "data-submit-needs-access" in grantee


def test_the_delegate_form_only_appoints_and_each_row_removes_its_delegate(world: World, tmp_path: Path) -> None:
    _, client = make_client(world, tmp_path)
    token = as_dev(client, 0)
    html = client.get(f"/jobs/{GATED}").get_data(as_text=True)
    form = re.search(r"<form[^>]*data-delegate-form>(.*?)</form>", html, re.DOTALL).group(1)
    assert re.findall(r'<button name="action" value="(\w+)"', form) == ["appoint"]
    row = re.search(rf'<li data-delegate="{DELEGATE.lower()}">(.*?)</li>', html, re.DOTALL).group(1)
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', row))
    fields.update(re.findall(r'<button name="(\w+)" value="(\w+)"', row))  # what clicking Remove posts
    assert fields["csrf_token"] == token
    response = client.post(f"/jobs/{GATED}/access", data=fields, follow_redirects=True)
    assert response.status_code == 200 and 'data-outcome="ok"' in response.get_data(as_text=True)
    (_, request), = world.sent
    assert decoded(request.payload) == ("setDelegate", (GATED, DELEGATE.lower(), False))


def test_an_ended_job_shows_its_access_but_only_delegates_still_change(tmp_path: Path) -> None:
    world = gated_world(status="ended")
    sponsor = buttons(page_as(world, tmp_path, 0))
    assert sponsor["grant"] == sponsor["revoke"] == [] and sponsor["forms"] == ["delegate-form"]
    visitor = page_as(world, tmp_path, 4)
    assert buttons(visitor)["forms"] == [] and "data-access-members" in visitor and "The job has ended" in visitor


def test_an_ungated_job_has_no_access_section_and_delegates_only_where_they_review(tmp_path: Path) -> None:
    threshold = page_as(gated_world(gated=False), tmp_path, 4)
    assert "data-access-members" not in threshold and "data-access-request" not in threshold
    manual = gated_world(gated=False, policy="manual")
    sponsor, visitor = page_as(manual, tmp_path, 0), page_as(manual, tmp_path, 4)
    assert buttons(sponsor)["forms"] == ["delegate-form"] and "data-access-members" not in sponsor
    assert buttons(visitor)["forms"] == [] and f'data-delegate="{DELEGATE.lower()}"' in visitor


def test_without_an_account_the_state_shows_and_no_button(world: World, tmp_path: Path) -> None:
    world.chain_id = 11155111  # not a local chain: no dev account acts, and no wallet is connected
    html = make_client(world, tmp_path)[1].get(f"/jobs/{GATED}").get_data(as_text=True)
    assert buttons(html)["forms"] == [] and "data-access-members" in html
    assert "Choose an account (top right) to request access" in html


# ---- what each POST sends ------------------------------------------------------------------------

@pytest.mark.parametrize("index, form, function, args", [
    (4, {"action": "request"}, "requestAccess", (GATED, b"")),
    (4, {"action": "request", "public_key": PUBLIC_KEY}, "requestAccess", (GATED, bytes.fromhex(PUBLIC_KEY[2:]))),
    (4, {"action": "request", "public_key": "ABCD"}, "requestAccess", (GATED, b"\xab\xcd")),
    (0, {"action": "grant", "account": REQUESTER.lower()}, "setAccess", (GATED, REQUESTER, True)),
    (2, {"action": "revoke", "account": GRANTEE.lower()}, "setAccess", (GATED, GRANTEE, False)),
    (0, {"action": "appoint", "delegate": STRANGER}, "setDelegate", (GATED, STRANGER, True)),
    (0, {"action": "dismiss", "delegate": DELEGATE.lower()}, "setDelegate", (GATED, DELEGATE, False)),
])
def test_each_access_action_sends_its_input_from_the_acting_account(world: World, tmp_path: Path, index: int,
                                                                    form: dict[str, str], function: str,
                                                                    args: tuple[Any, ...]) -> None:
    _, client = make_client(world, tmp_path)
    token = as_dev(client, index)
    response = client.post(f"/jobs/{GATED}/access", data={"csrf_token": token, **form}, follow_redirects=True)
    assert response.status_code == 200 and 'data-outcome="ok"' in response.get_data(as_text=True)
    (sender, request), = world.sent
    assert sender == dev_accounts(index + 1)[index].address
    assert request.token is None and request.amount == 0  # a plain input: nothing deposited
    name, values = decoded(request.payload)
    assert name == function
    assert tuple(Web3.to_checksum_address(v) if isinstance(v, str) else v for v in values) == args


def test_a_wallet_sponsor_gets_the_grant_as_an_unsigned_transaction(world: World, tmp_path: Path) -> None:
    wallet = Web3.to_checksum_address("0x" + "5e" * 20)
    world.answers[f"jobs/{GATED}"]["job"]["sponsor"] = wallet.lower()
    world.answers[f"jobs/{GATED}/access"]["sponsor"] = wallet.lower()
    _, client = make_client(world, tmp_path)
    token = csrf(client)
    assert client.post("/api/wallet/account", json={"address": wallet}, headers={"X-CSRF-Token": token}).json["ok"]
    assert buttons(client.get(f"/jobs/{GATED}").get_data(as_text=True))["grant"] == [REQUESTER.lower()]
    html = client.post(f"/jobs/{GATED}/access", data={"csrf_token": token, "action": "grant",
                                                      "account": REQUESTER.lower()}, follow_redirects=True).get_data(as_text=True)
    (tx,) = json.loads(re.search(r"data-txs='([^']*)'", html).group(1))
    assert tx["from"] == wallet and tx["value"] == "0x0" and 'data-kind="input"' in html
    assert decoded(bytes.fromhex(tx["data"][2:])) == ("setAccess", (GATED, REQUESTER.lower(), True))
    assert world.sent == [] and world.prepared[0][0] == wallet


@pytest.mark.parametrize("data", [{"action": "grant", "account": REQUESTER}, {"action": "request"},
                                  {"action": "appoint", "delegate": STRANGER}])
def test_access_posts_need_the_csrf_token(world: World, tmp_path: Path, data: dict[str, str]) -> None:
    _, client = make_client(world, tmp_path)
    csrf(client)
    for token in ({}, {"csrf_token": "x" * 43}):
        response = client.post(f"/jobs/{GATED}/access", data={**data, **token}, follow_redirects=True)
        assert response.status_code == 400 and "CSRF" in response.get_data(as_text=True)
    assert world.sent == [] and world.prepared == []


@pytest.mark.parametrize("form, field, message", [
    ({"action": "grant", "account": "0x12"}, "account", "not an account address: &#39;0x12&#39;"),
    ({"action": "revoke"}, "account", "required: an account address"),
    ({"action": "appoint", "delegate": "bob"}, "delegate", "not an account address"),
    ({"action": "request", "public_key": "0xabc"}, "public_key", "an even number of them"),
    ({"action": "request", "public_key": "0xzz"}, "public_key", "expected hex digits"),
    ({"action": "request", "public_key": "0x" + "00" * 5}, "public_key", "at most 4 bytes (8 hex digits), got 10"),
    ({"action": "promote"}, "action", "unknown action &#39;promote&#39;"),
])
def test_a_bad_field_is_explained_on_the_job_page_and_nothing_is_sent(world: World, tmp_path: Path,
                                                                      form: dict[str, str], field: str,
                                                                      message: str) -> None:
    _, client = make_client(world, tmp_path, max_public_key_bytes=4)
    response = client.post(f"/jobs/{GATED}/access", data={"csrf_token": as_dev(client, 0), **form}, follow_redirects=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "data-access-members" in html  # the job page again
    assert message in html[html.find("data-form-errors"):]
    assert world.sent == []


def test_a_refusal_by_the_backend_shows_its_report(world: World, tmp_path: Path) -> None:
    refusal = {"ok": False, "error": {"code": "forbidden", "message": f"{STRANGER.lower()} is neither the sponsor "
                                                                       f"nor a delegate of job {GATED}"}}
    world.outcome = lambda index: InputOutcome(index, "REJECTED", (), (), (DecodedReport(0, index, b"", refusal),))
    _, client = make_client(world, tmp_path)
    response = client.post(f"/jobs/{GATED}/access", data={"csrf_token": as_dev(client, 4), "action": "grant",
                                                          "account": STRANGER}, follow_redirects=True)
    html = response.get_data(as_text=True)
    assert 'data-outcome="failed"' in html
    assert re.search(r"data-outcome-error>[^<]*is neither the sponsor nor a delegate of job 2 \(forbidden\)<", html)
    assert f'href="/jobs/{GATED}"' in html and len(world.sent) == 1


def test_no_access_page_or_answer_carries_a_private_key(world: World, tmp_path: Path) -> None:
    _, client = make_client(world, tmp_path)
    bodies = []
    for index in (0, 1, 2, 4):
        token = as_dev(client, index)
        bodies += [client.get(f"/jobs/{GATED}"),
                   client.post(f"/jobs/{GATED}/access", data={"csrf_token": token, "action": "request"}, follow_redirects=True),
                   client.post(f"/jobs/{GATED}/access", data={"csrf_token": token, "action": "grant",
                                                              "account": STRANGER}, follow_redirects=True),
                   client.post(f"/jobs/{GATED}/access", data={"csrf_token": token, "action": "appoint",
                                                              "delegate": "nope"}, follow_redirects=True)]
    assert len(world.sent) == 8
    for response in bodies:
        text = response.get_data(as_text=True).lower()
        assert not any(key in text for key in KEYS), response.request.path


@pytest.mark.parametrize("index, may_submit", [(3, True), (1, False), (4, False), (0, False)])
def test_the_submit_link_shows_only_to_accounts_with_access(world: World, tmp_path: Path, index: int,
                                                            may_submit: bool) -> None:
    # the backend takes submissions to a gated job from granted accounts only, the sponsor included
    html = page_as(world, tmp_path, index)
    assert ("Submit to this job" in html) is may_submit
    assert ("data-submit-needs-access" in html) is not may_submit


@pytest.mark.parametrize("index, sponsor_actions, reviews", [(0, True, True), (2, False, True), (1, False, False),
                                                             (4, False, False), (None, True, True)])
def test_sponsor_actions_and_reviews_show_only_to_who_may_take_them(tmp_path: Path, index: int | None,
                                                                    sponsor_actions: bool, reviews: bool) -> None:
    # the sponsor alone cancels and reveals; the sponsor and delegates review; a visitor who chose no
    # account sees every form (who signs is not known); the backend refuses the others anyway
    world = gated_world(policy="manual")
    world.answers[f"jobs/{GATED}"]["job"]["spec"]["test_commitment"] = "0x" + "ab" * 32
    _, client = make_client(world, tmp_path)
    if index is not None:
        as_dev(client, index)
    html = client.get(f"/jobs/{GATED}").get_data(as_text=True)
    assert ("data-cancel" in html) is sponsor_actions
    assert ("data-reveal-form" in html) is sponsor_actions
    assert ("data-review-form" in html) is reviews
    assert "Settle what is due" in html and "Top up" in html  # anyone may settle or top up
