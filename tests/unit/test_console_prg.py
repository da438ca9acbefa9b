"""Post/Redirect/Get and idempotency keys (a form is sent at most once), where a refused deposit's
money is, and the balances page's escrow, stakes and pending vouchers; over the fake market."""

from __future__ import annotations

import io
import json
import re
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from mlmarket.client.accounts import dev_signer
from mlmarket.client.outputs import DecodedNotice, DecodedReport
from mlmarket.console.forms import FormErrors, cid_field
from mlmarket.console.present import report_lines

from tests.unit.test_console_actions import decoded, job_form
from tests.unit.test_console_fake import JOB, TOKEN, World, csrf, make_client, populated_world, voucher

KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')


@pytest.fixture()
def world() -> World:
    return populated_world()


def form_key(client: FlaskClient, page: str) -> str:
    """The idempotency key of the first form on ``page``."""
    return KEY.search(client.get(page).get_data(as_text=True)).group(1)


def withdraw_form(token: str, key: str, amount: str = "2") -> dict[str, str]:
    return {"csrf_token": token, "idempotency_key": key, "withdraw_token": "test", "withdraw_amount": amount}


def test_every_rendered_form_gets_its_own_key(world: World, tmp_path: Path) -> None:
    _, client = make_client(world, tmp_path)
    pages = ["/balances", "/balances", "/jobs/new", "/jobs/1", "/outputs", "/submit"]
    keys = [k for page in pages for k in KEY.findall(client.get(page).get_data(as_text=True))]
    assert len(keys) > len(pages) and len(set(keys)) == len(keys)


def test_a_withdrawal_redirects_to_its_outcome_and_a_reload_sends_nothing(world: World, tmp_path: Path) -> None:
    _, client = make_client(world, tmp_path)
    token = csrf(client)
    response = client.post("/balances/withdraw", data=withdraw_form(token, form_key(client, "/balances")))
    assert response.status_code == 303 and len(world.sent) == 1
    location = response.headers["Location"]
    assert re.fullmatch(r"/inputs/1\?receipt=[\w-]+", location)
    for _ in range(2):  # the page and its reload
        page = client.get(location)
        html = page.get_data(as_text=True)
        assert page.status_code == 200 and "<h1>Withdraw</h1>" in html and 'data-outcome="ok"' in html
        assert "0x" + "ab" * 32 in html  # the transaction, kept with the receipt
    assert len(world.sent) == 1
    name, (token_address, amount) = decoded(world.sent[0][1].payload)
    assert name == "withdraw" and token_address.lower() == TOKEN.lower() and amount == 2 * 10**18


@pytest.mark.parametrize("path, data", [
    ("/balances/withdraw", {"withdraw_token": "test", "withdraw_amount": "2"}),
    ("/balances/deposit", {"deposit_token": "eth", "deposit_amount": "0.5"}),
    ("/jobs/1/action", {"action": "settle"}),
    ("/jobs/1/access", {"action": "request", "public_key": ""}),
    ("/outputs/3/execute", {}),
])
def test_the_same_form_posted_twice_sends_once_and_answers_the_same_outcome(world: World, tmp_path: Path,
                                                                             path: str, data: dict[str, str]) -> None:
    _, client = make_client(world, tmp_path)
    form = {"csrf_token": csrf(client), "idempotency_key": "k" * 24, **data}
    first, second = client.post(path, data=form), client.post(path, data=form)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert len(world.sent) + len(world.executed) == 1
    other = client.post(path, data={**form, "idempotency_key": "m" * 24})  # another rendering of the form
    assert other.status_code == 303 and len(world.sent) + len(world.executed) == 2


def test_a_create_posted_twice_creates_one_job_and_its_outcome_links_to_it(world: World, tmp_path: Path) -> None:
    world.outcome_notices[:] = [DecodedNotice(1, 1, "JobCreated", {"jobId": 7, "sponsor": "0x" + "5a" * 20,
                                                                   "token": TOKEN.lower(), "budget": "1"}, b"")]
    _, client = make_client(world, tmp_path)
    form = job_form(csrf(client), idempotency_key=form_key(client, "/jobs/new"))
    locations = {client.post("/jobs/new", data=form).headers["Location"] for _ in range(3)}
    assert len(world.sent) == 1 and len(locations) == 1
    html = client.get(locations.pop()).get_data(as_text=True)
    assert 'href="/jobs/7"' in re.search(r"<p data-job-link>(.*?)</p>", html, re.DOTALL).group(1)


def test_a_form_error_sends_nothing_and_leaves_the_key_for_the_corrected_form(world: World, tmp_path: Path) -> None:
    _, client = make_client(world, tmp_path)
    token, key = csrf(client), form_key(client, "/balances")
    bad = client.post("/balances/withdraw", data=withdraw_form(token, key, amount="lots"))
    assert bad.status_code == 400 and not world.sent
    good = client.post("/balances/withdraw", data=withdraw_form(token, key))
    assert good.status_code == 303 and len(world.sent) == 1


def test_a_second_post_arriving_while_the_first_sends_waits_and_sends_nothing(world: World, tmp_path: Path) -> None:
    app, client = make_client(world, tmp_path)
    form = withdraw_form(csrf(client), form_key(client, "/balances"))
    cookie = client.get_cookie("session").value
    sending, release = threading.Event(), threading.Event()
    market = app.extensions["mlmarket"].pool.market("dev", 0)
    plain_send = market.send

    def slow_send(request: Any, **kwargs: Any) -> Any:
        sending.set()
        assert release.wait(10)
        return plain_send(request, **kwargs)

    market.send = slow_send
    answers: dict[str, Any] = {}

    def post(name: str) -> None:
        other = app.test_client()
        other.set_cookie("session", cookie)
        answers[name] = other.post("/balances/withdraw", data=form)

    first = threading.Thread(target=post, args=("first",))
    first.start()
    assert sending.wait(10)
    second = threading.Thread(target=post, args=("second",))
    second.start()
    second.join(0.3)
    assert second.is_alive()  # waiting for the first, not sending
    release.set()
    first.join(10)
    second.join(10)
    assert len(world.sent) == 1
    assert answers["first"].headers["Location"] == answers["second"].headers["Location"]


def test_a_browser_wallet_signs_on_a_get_page_that_becomes_the_outcome(world: World, tmp_path: Path) -> None:
    _, client = make_client(world, tmp_path)
    token = csrf(client)
    wallet = "0x" + "ee" * 20
    client.post("/api/wallet/account", json={"address": wallet}, headers={"X-CSRF-Token": token})
    form = withdraw_form(token, form_key(client, "/balances"))
    posted = [client.post("/balances/withdraw", data=form) for _ in range(2)]
    sign_url = posted[0].headers["Location"]
    assert sign_url.startswith("/sign/") and posted[1].headers["Location"] == sign_url
    assert len(world.prepared) == 1 and not world.sent
    page = client.get(sign_url).get_data(as_text=True)
    rid = sign_url.rsplit("/", 1)[1]
    assert f'data-receipt="{rid}"' in page and len(json.loads(re.search(r"data-txs='([^']*)'", page).group(1))) == 1
    confirm = client.post("/api/wallet/confirm", json={"tx_hash": "0x" + "cd" * 32, "receipt": rid},
                          headers={"X-CSRF-Token": token}).json
    assert confirm["url"] == f"/inputs/42?receipt={rid}"
    again = client.get(sign_url)  # a reload after the wallet sent: the outcome, not a second signing
    assert again.status_code == 303 and again.headers["Location"] == confirm["url"]
    assert "<h1>Withdraw</h1>" in client.get(confirm["url"]).get_data(as_text=True)


def test_a_receipt_and_its_secret_stay_with_the_session_that_made_it(world: World, tmp_path: Path) -> None:
    app, client = make_client(world, tmp_path)
    form = job_form(csrf(client), policy="best", hidden_test="on", test_cid=job_form("")["validation_cid"],
                    idempotency_key=form_key(client, "/jobs/new"))
    location = client.post("/jobs/new", data=form).headers["Location"]
    mine = client.get(location).get_data(as_text=True)
    salt = re.search(r"data-secret-salt[^>]*>([^<]+)<", mine).group(1)
    stranger = app.test_client()
    theirs = stranger.get(location).get_data(as_text=True)
    assert salt.startswith("0x") and salt not in theirs and 'data-outcome="ok"' in theirs


def deposited(amount: int, account: str) -> DecodedNotice:
    return DecodedNotice(1, 1, "Deposited", {"account": account.lower(), "token": TOKEN.lower(),
                                             "amount": str(amount)}, b"")


def error_report(code: str, message: str) -> DecodedReport:
    value = {"ok": False, "error": {"code": code, "message": message, "deposit": "credited"}}
    return DecodedReport(0, 1, json.dumps(value).encode(), value)


def test_a_refused_create_says_where_its_deposit_is_with_a_withdraw_form(world: World, tmp_path: Path) -> None:
    me = dev_signer(0).address
    world.outcome_notices[:] = [deposited(10 * 10**18, me)]
    world.outcome_reports[:] = [error_report("bad_label", "label column 'y' is not in the validation data")]
    _, client = make_client(world, tmp_path)
    location = client.post("/jobs/new", data=job_form(csrf(client), budget="10")).headers["Location"]
    html = client.get(location).get_data(as_text=True)
    assert 'data-outcome="failed"' in html and "label column" in html
    box = re.search(r'<div class="money" data-credited="([^"]+)">(.*?)</div>', html, re.DOTALL)
    assert box.group(1) == TOKEN.lower()
    assert "10 TEST" in box.group(2) and "are in your dApp balance" in box.group(2)
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', box.group(2)))
    assert fields["withdraw_amount"] == "10" and fields["withdraw_token"] == "test"
    assert "<dt>error.code</dt><dd>bad_label</dd>" in html  # the report, readable
    world.outcome_notices.clear()
    world.outcome_reports.clear()
    client.post("/balances/withdraw", data=fields)
    name, (token, amount) = decoded(world.sent[-1][1].payload)
    assert name == "withdraw" and token.lower() == TOKEN.lower() and amount == 10 * 10**18


def test_an_accepted_deposit_shows_no_credit_box(world: World, tmp_path: Path) -> None:
    world.outcome_notices[:] = [deposited(3 * 10**18, dev_signer(0).address)]
    _, client = make_client(world, tmp_path)
    html = client.post("/balances/deposit", data={"csrf_token": csrf(client), "deposit_token": "test",
                                                  "deposit_amount": "3"}, follow_redirects=True).get_data(as_text=True)
    assert 'data-outcome="ok"' in html and "data-credited" not in html


def test_balances_show_escrow_locked_stakes_and_pending_vouchers(world: World, tmp_path: Path) -> None:
    me = dev_signer(0).address.lower()
    staked = {**JOB, "id": 2, "sponsor": me, "budget": "40000000000000000000",
              "spec": {**JOB["spec"], "stake": "2000000000000000000"}}
    ended = {**JOB, "id": 3, "sponsor": me, "status": "ended", "budget": "0"}
    subs = [{"id": 1, "contributor": me, "stake": "2000000000000000000", "status": "committed"},
            {"id": 2, "contributor": me, "stake": "2000000000000000000", "status": "accepted"},
            {"id": 3, "contributor": "0x" + "d0" * 20, "stake": "2000000000000000000", "status": "committed"}]
    history = [{"type": "StakeReturned", "submission_id": 2, "job_id": 2}]
    world.answers.update({"jobs": {"ok": True, "jobs": [JOB, staked, ended]},
                          "jobs/2": {"ok": True, "job": staked, "submissions": subs},
                          "jobs/2/history": {"ok": True, "history": history}})
    pays_me = voucher(index=5, state="waiting for claim")
    pays_me = pays_me.__class__(**{**pays_me.__dict__, "call": {**pays_me.call, "to": me}})
    world.outputs.append(pays_me)
    _, client = make_client(world, tmp_path)
    html = client.get("/balances").get_data(as_text=True)
    assert re.findall(r'data-escrow-job="(\d+)"', html) == ["2"]
    assert "40 TEST" in re.search(r'data-escrow-job="2">(.*?)</tr>', html, re.DOTALL).group(1)
    assert re.findall(r'data-stake="([\d-]+)"', html) == ["2-1"]
    assert re.findall(r'data-pending-voucher="(\d+)"', html) == ["5"]  # voucher 3 pays someone else
    row = re.search(r'data-pending-voucher="5">(.*?)</tr>', html, re.DOTALL).group(1)
    assert "waiting for claim" in row and 'data-execute="5"' in row  # the local node claims on Execute
    executed = client.post("/outputs/5/execute", data={"csrf_token": csrf(client), "back": "/balances"})
    assert executed.headers["Location"] == "/balances" and world.executed == [(dev_signer(0).address, 5)]


@pytest.mark.parametrize("raw", ["hello", "bafk!!!", "bafkreiaaaa", "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"])
def test_a_bad_cid_is_explained_in_a_sentence(raw: str) -> None:
    with pytest.raises(FormErrors) as caught:
        cid_field({"validation_cid": raw}, "validation_cid")
    message = caught.value.errors["validation_cid"]
    assert "Alphabet" not in message and "Multihash" not in message and "choose the file" in message
    assert raw[:20] in message


def test_reports_read_as_text() -> None:
    report = {"ok": False, "error": {"code": "bad_spec", "message": "max_depth is required"}, "fields": ["a", "b"]}
    assert report_lines(report) == [("error.code", "bad_spec"), ("error.message", "max_depth is required"),
                                    ("fields", "a, b")]


PROBLEMS = [{"code": "bad_label", "message": "label column 'y' is not in the validation data's header (a, b, label)",
             "fix": "set label to one of a, b, label", "field": "label"},
            {"code": "bad_spec", "message": f"reward_per_accept must be positive and at most the budget ({20 * 10**18}); "
                                            "it is 0", "fix": "give a reward", "field": "reward_per_accept"},
            {"code": "not_csv", "message": "the validation data is not a CSV (it looks like a PNG)",
             "fix": "choose the CSV file", "field": "validation_cid"}]


def test_a_job_the_machine_would_refuse_lists_every_problem_and_sends_nothing(world: World, tmp_path: Path) -> None:
    world.preflight_problems[:] = PROBLEMS
    _, client = make_client(world, tmp_path)
    form = job_form(csrf(client), label="y", validation_cid="")
    form["validation_cid_file"] = (io.BytesIO(b"\x89PNG\r\n\x1a\n"), "v.png")  # no JavaScript: would be uploaded
    response = client.post("/jobs/new", data=form, content_type="multipart/form-data")
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and not world.sent and not world.received
    assert re.findall(r'data-problem="(\w+)"', html) == ["bad_label", "bad_spec", "not_csv"]
    for problem in PROBLEMS:
        assert html.count(problem["fix"]) >= 1
    assert 'data-error-for="label"' in html  # next to its field too
    assert "at most the budget (20 TEST); it is 0 TEST" in html and str(20 * 10**18) not in html  # the job's token
    (query,) = world.preflights
    assert query.startswith("preflight/job?sender=") and "&content=0x89504e47" in query and "&deposit=" in query
    world.preflight_problems.clear()
    form["validation_cid_file"] = (io.BytesIO(b"a,b,label\n1,2,0\n"), "v.csv")
    assert client.post("/jobs/new", data=form, content_type="multipart/form-data").status_code == 303
    assert [decoded(r.payload)[0] for _, r in world.sent] == ["uploadChunkCoded", "createJob"]


def test_a_submission_the_machine_would_refuse_sends_nothing_and_keeps_no_state(world: World, tmp_path: Path) -> None:
    world.preflight_problems[:] = [{"code": "insufficient_balance", "fix": "deposit the stake with the commit",
                                    "message": f"insufficient balance: 0x{'d0' * 20} has 0 of {TOKEN.lower()}, "
                                               f"needs {2 * 10**18}", "field": ""}]
    _, client = make_client(world, tmp_path)
    response = client.post("/submit", data={"csrf_token": csrf(client), "job": "1", "source": "cid",
                                            "data_file": "", "data_cid_file": (io.BytesIO(b"a,label\n1,0\n"), "t.csv")},
                           content_type="multipart/form-data")
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and not world.sent
    assert 'data-problem="insufficient_balance"' in html and "deposit the stake with the commit" in html
    assert "has 0 TEST, needs 2 TEST" in html and str(2 * 10**18) not in html
    assert world.preflights[0].startswith("preflight/submission?") and "&reveal=0x" in world.preflights[0]
    assert not list((tmp_path / "staged" / "submissions").glob("**/*.json"))


def test_a_refused_input_shows_its_error_and_report_in_token_units_and_utc(world: World, tmp_path: Path) -> None:
    me = dev_signer(0).address
    closes = world.now - 2 * 3600
    world.outcome_notices[:] = [deposited(10 * 10**18, me)]
    world.outcome_reports[:] = [error_report("bad_spec", f"reward_per_accept must be positive and at most the budget "
                                                         f"({10 * 10**18}); it is 0; submissions close at {closes}")]
    _, client = make_client(world, tmp_path)
    html = client.get(client.post("/jobs/new", data=job_form(csrf(client), budget="10")).headers["Location"]
                      ).get_data(as_text=True)
    error = re.search(r"<strong data-outcome-error>(.*?)</strong>", html, re.DOTALL).group(1)
    report = re.search(r"<dt>error.message</dt><dd>(.*?)</dd>", html, re.DOTALL).group(1)
    for text in (error, report):
        assert "at most the budget (10 TEST); it is 0 TEST" in text and str(10 * 10**18) not in text
        assert "(2 h ago; unix" in text and f"close at {str(closes)}" not in text


def test_a_deposit_the_wallet_cannot_pay_is_refused_with_the_machines_problems(world: World, tmp_path: Path) -> None:
    world.wallet_tokens = 5 * 10**18
    world.preflight_problems[:] = PROBLEMS[:1]
    _, client = make_client(world, tmp_path)
    response = client.post("/jobs/new", data=job_form(csrf(client), budget="30"))
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and not world.sent and not world.prepared
    assert re.findall(r'data-problem="(\w+)"', html) == ["bad_label", "wallet_balance"]
    assert "the budget needs 30 TEST deposited from your wallet, which holds 5 TEST" in html
    assert "lower the budget to at most 5 TEST" in html and 'data-error-for="budget"' in html
    world.preflight_problems.clear()
    world.wallet_tokens = 30 * 10**18  # exactly enough
    assert client.post("/jobs/new", data=job_form(csrf(client), budget="30")).status_code == 303


def test_a_slashed_stake_is_shown_with_its_reason(world: World, tmp_path: Path) -> None:
    world.outcome_notices[:] = [DecodedNotice(1, 1, "StakeSlashed", {"jobId": 1, "submissionId": 2,
                                                                     "contributor": "0x" + "d0" * 20,
                                                                     "amount": str(2 * 10**18)}, b"")]
    world.answers["jobs/1"] = {"ok": True, "job": JOB, "submissions": [
        {"id": 2, "contributor": "0x" + "d0" * 20, "status": "invalid", "error": "the model file is not JSON"}]}
    _, client = make_client(world, tmp_path)
    html = client.post("/jobs/1/action", data={"csrf_token": csrf(client), "action": "settle"},
                       follow_redirects=True).get_data(as_text=True)
    box = re.search(r'data-slashed="1-2">(.*?)</div>', html, re.DOTALL).group(1)
    assert "2 TEST" in box and "the model file is not JSON" in box and 'href="/jobs/1"' in box


def test_the_job_page_shows_submission_errors_scores_and_history_in_human_units(world: World, tmp_path: Path) -> None:
    expired = world.now - 90 * 60
    subs = [dict(s) for s in world.answers["jobs/1"]["submissions"]]
    subs[1]["error"] = f"revealed after its commit expired at {expired}"
    world.answers["jobs/1"] = {**world.answers["jobs/1"], "submissions": subs}
    html = make_client(world, tmp_path)[1].get("/jobs/1").get_data(as_text=True)
    assert "bar accuracy 0.800000" in html  # the spec's min_score, in the job's metric
    assert f"expired at {datetime.fromtimestamp(expired, UTC):%Y-%m-%d %H:%M}" in html
    assert f"(1 h ago; unix {expired})" in html and f"expired at {expired}" not in html
    assert "model published (round 0, score accuracy 0.950000)" in html  # history: the job's metric
