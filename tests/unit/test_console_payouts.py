"""The console's side of issue 17 (payouts to the dApp balance), over the fake market: the balances
page shows where the account's rewards and returned stakes go, with a form (CSRF, Post/Redirect/Get,
sent once) that sends ``setPayoutVouchers``, and a *Withdraw all* button per free balance; the create
form offers ``payout_vouchers``; an input's outcome page says where each reward and returned stake
went (the dApp balance, or the voucher that paid it); a job's page says how it pays."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mlmarket.client.accounts import dev_signer
from mlmarket.client.outputs import DecodedNotice, DecodedVoucher

from dapp.codec import abi
from tests.unit.test_console_actions import job_form
from tests.unit.test_console_fake import JOB, SUBS, TOKEN, World, csrf, make_client, populated_world

ME = dev_signer(0).address.lower()


@pytest.fixture()
def world() -> World:
    return populated_world()


def sent(world: World) -> list[tuple[str, tuple]]:
    return [(f.name, args) for f, args in (abi.inputs().decode(r.payload) for _, r in world.sent)]


def test_the_balances_page_shows_the_choice_and_its_form_sends_set_payout_vouchers_once(world: World,
                                                                                       tmp_path: Path) -> None:
    _, client = make_client(world, tmp_path)
    html = client.get("/balances").get_data(as_text=True)
    assert 'data-payout-choice="balance"' in html and "Pay me by voucher at once" in html
    form = re.search(r"<form[^>]*data-payouts-form>(.*?)</form>", html, re.DOTALL).group(1)
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form))
    assert fields["vouchers"] == "on" and fields["csrf_token"] and fields["idempotency_key"]
    first = client.post("/balances/payouts", data=fields)
    again = client.post("/balances/payouts", data=fields)  # the same form posted twice: sent once
    assert first.status_code == again.status_code == 303 and first.headers["Location"] == again.headers["Location"]
    assert sent(world) == [("setPayoutVouchers", (True,))]
    assert "<h1>Payout choice</h1>" in client.get(first.headers["Location"]).get_data(as_text=True)
    world.payout_vouchers = True
    html = client.get("/balances").get_data(as_text=True)
    assert 'data-payout-choice="voucher"' in html and "Credit them to my dApp balance" in html
    assert 'name="vouchers" value="off"' in html


def test_a_payout_choice_other_than_on_or_off_is_refused_at_the_field(world: World, tmp_path: Path) -> None:
    _, client = make_client(world, tmp_path)
    response = client.post("/balances/payouts", data={"csrf_token": csrf(client), "vouchers": "maybe"})
    assert response.status_code == 400 and "choose on or off" in response.get_data(as_text=True)
    assert world.sent == []


def test_withdraw_all_takes_out_the_whole_free_balance_of_a_token(world: World, tmp_path: Path) -> None:
    _, client = make_client(world, tmp_path)
    html = client.get("/balances").get_data(as_text=True)
    form = re.search(rf'data-withdraw-all="{TOKEN.lower()}">(.*?)</form>', html, re.DOTALL).group(1)
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form))
    assert client.post("/balances/withdraw", data=fields).status_code == 303
    ((name, (token, amount)),) = sent(world)
    assert name == "withdraw" and token.lower() == TOKEN.lower() and amount == 5 * 10**18  # all of it


@pytest.mark.parametrize("ticked", [False, True])
def test_the_create_form_offers_pay_by_voucher_at_once(world: World, tmp_path: Path, ticked: bool) -> None:
    _, client = make_client(world, tmp_path)
    assert 'name="payout_vouchers"' in client.get("/jobs/new").get_data(as_text=True)
    extra = {"payout_vouchers": "on"} if ticked else {}
    client.post("/jobs/new", data=job_form(csrf(client), **extra))
    ((name, (_, _, spec)),) = sent(world)
    assert name == "createJob" and spec[-1] is ticked  # JobSpec.payoutVouchers, the last field


def reward(index: int, contributor: str, amount: int) -> DecodedNotice:
    return DecodedNotice(index, 1, "RewardPaid", {"jobId": 1, "submissionId": 1, "contributor": contributor,
                                                  "token": TOKEN.lower(), "amount": str(amount)}, b"")


def transfer(index: int, to: str, amount: int) -> DecodedVoucher:
    return DecodedVoucher(index, 1, TOKEN.lower(), 0, b"", {"function": "transfer", "token": TOKEN.lower(),
                                                              "to": to, "amount": str(amount)}, b"")


def test_the_outcome_page_says_a_reward_was_credited_to_the_dapp_balance(world: World, tmp_path: Path) -> None:
    world.answers["jobs/1"] = {"ok": True, "job": JOB, "submissions": SUBS}
    world.outcome_notices[:] = [reward(2, ME, 10 * 10**18)]
    _, client = make_client(world, tmp_path)
    html = client.get("/inputs/1").get_data(as_text=True)
    box = re.search(r'data-payout="1-1" data-payout-route="(\w+)">(.*?)</div>', html, re.DOTALL)
    assert box.group(1) == "balance" and "10 TEST" in box.group(2)
    assert "credited to your dApp balance" in box.group(2) and "Withdraw all" in box.group(2)


def test_the_outcome_page_names_the_voucher_that_paid_a_reward(world: World, tmp_path: Path) -> None:
    other = "0x" + "c0" * 20
    world.answers["jobs/1"] = {"ok": True, "job": JOB, "submissions": SUBS}
    world.outcome_notices[:] = [reward(2, other, 10 * 10**18)]
    world.outcome_vouchers[:] = [transfer(1, other, 10 * 10**18)]
    _, client = make_client(world, tmp_path)
    html = client.get("/inputs/1").get_data(as_text=True)
    box = re.search(r'data-payout="1-1" data-payout-route="(\w+)">(.*?)</div>', html, re.DOTALL)
    assert box.group(1) == "voucher" and "paid by voucher 1" in box.group(2) and other in box.group(2)


def test_a_jobs_page_says_how_it_pays(world: World, tmp_path: Path) -> None:
    _, client = make_client(world, tmp_path)
    assert 'data-job-payouts="balance"' in client.get("/jobs/1").get_data(as_text=True)
    world.answers["jobs/1"] = {"ok": True, "job": {**JOB, "spec": {**JOB["spec"], "payout_vouchers": True}},
                               "submissions": SUBS}
    assert 'data-job-payouts="voucher"' in client.get("/jobs/1").get_data(as_text=True)
