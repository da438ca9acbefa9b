"""Deposits, withdrawals and rejections through the real dispatch path (app + loop + fake rollup)."""

import pytest

from dapp.app import App
from dapp.codec import abi
from dapp.codec.metadata import V1
from dapp.config import Config
from dapp.domain import ledger
from dapp.domain.values import ETHER
from tests.support.rollup import ALICE, APP, BOB, PORTALS, TOKEN, Driver, erc20_deposit, report_json

WITHDRAW = abi.inputs()["withdraw"]
TRANSFER = abi.voucher_targets()["transfer"]


def test_erc20_deposit_credits_the_depositor_and_emits_a_notice():
    d = Driver()
    done = d.deposit(TOKEN, ALICE, 500)
    assert done.accepted
    function, args = abi.notices().decode(done.notices[0])
    assert (function.name, args[1].lower(), args[2]) == ("Deposited", ALICE.hex, 500)
    assert d.inspect(f"balances/{ALICE.hex}")["balances"] == {TOKEN.hex: "500"}


def test_withdraw_emits_an_erc20_transfer_voucher_to_the_token():
    d = Driver()
    d.deposit(TOKEN, ALICE, 500)
    done = d.send(ALICE, WITHDRAW.encode(TOKEN.raw, 200))
    assert done.accepted
    ((destination, value, payload),) = done.vouchers
    assert destination == TOKEN and value == 0
    assert payload == TRANSFER.selector + bytes(12) + ALICE.raw + (200).to_bytes(32, "big")
    assert d.inspect(f"balances/{ALICE.hex}")["balances"] == {TOKEN.hex: "300"}


def test_ether_withdraw_on_v2_is_a_voucher_with_value_and_no_payload():
    d = Driver()
    d.deposit_ether(ALICE, 10**18)
    done = d.send(ALICE, WITHDRAW.encode(ETHER.raw, 10**17))
    assert done.vouchers == [(ALICE, 10**17, b"")]


def test_ether_withdraw_on_v1_calls_withdraw_ether_on_the_relayed_dapp():
    d = Driver(version=V1)
    d.deposit_ether(ALICE, 1000)
    relay = Driver().app.config.portals_for(V1).app_address_relay
    assert d.send(relay, APP.raw).accepted
    done = d.send(ALICE, WITHDRAW.encode(ETHER.raw, 400))
    ((destination, value, payload),) = done.vouchers
    assert (destination, value) == (APP, 0)
    assert payload == abi.voucher_targets().encode("withdrawEther", ALICE.raw, 400)


def test_ether_withdraw_on_v1_without_the_dapp_address_is_rejected_and_changes_nothing():
    d = Driver(version=V1)
    d.deposit_ether(ALICE, 1000)
    done = d.send(ALICE, WITHDRAW.encode(ETHER.raw, 400))
    assert not done.accepted and done.vouchers == []
    assert report_json(done)["error"]["code"] == "app_address_unknown"
    assert d.inspect(f"balances/{ALICE.hex}")["balances"] == {ETHER.hex: "1000"}


def test_v1_erc20_deposit_layout_is_understood():
    d = Driver(version=V1)
    assert d.deposit(TOKEN, BOB, 7).accepted
    assert d.inspect(f"balances/{BOB.hex}")["balances"] == {TOKEN.hex: "7"}


def test_withdrawing_more_than_the_balance_is_rejected_and_changes_nothing():
    d = Driver()
    d.deposit(TOKEN, ALICE, 100)
    before = (d.inspect(f"balances/{ALICE.hex}"), d.inspect("totals"))
    done = d.send(ALICE, WITHDRAW.encode(TOKEN.raw, 101))
    assert not done.accepted and done.vouchers == [] and done.notices == []
    error = report_json(done)["error"]
    assert error["code"] == "insufficient_balance" and "100" in error["message"]
    assert (d.inspect(f"balances/{ALICE.hex}"), d.inspect("totals")) == before


def test_another_account_cannot_withdraw_someone_elses_balance():
    d = Driver()
    d.deposit(TOKEN, ALICE, 100)
    done = d.send(BOB, WITHDRAW.encode(TOKEN.raw, 1))
    assert not done.accepted
    assert d.inspect(f"balances/{ALICE.hex}")["balances"] == {TOKEN.hex: "100"}


def test_an_imitated_deposit_from_a_non_portal_credits_nothing():
    d = Driver()
    done = d.send(ALICE, erc20_deposit(TOKEN, ALICE, 10**24))
    assert not done.accepted
    assert "portal" in report_json(done)["error"]["message"]
    assert d.inspect(f"balances/{ALICE.hex}")["balances"] == {}


def test_a_configured_portal_address_replaces_the_default():
    custom = Config(erc20_portal=BOB)
    d = Driver(app=App(custom))
    assert not d.send(PORTALS.erc20, erc20_deposit(TOKEN, ALICE, 5)).accepted
    assert d.send(BOB, erc20_deposit(TOKEN, ALICE, 5)).accepted
    assert d.inspect(f"balances/{ALICE.hex}")["balances"] == {TOKEN.hex: "5"}


@pytest.mark.parametrize("payload, code", [
    (b"", "bad_abi"),
    (b"\x01\x02", "bad_abi"),
    (bytes.fromhex("deadbeef"), "unknown_selector"),
    (WITHDRAW.selector + bytes(40), "bad_abi"),  # truncated arguments
    (WITHDRAW.encode(TOKEN.raw, 1) + b"\x00", "bad_abi"),  # trailing byte
])
def test_undecodable_inputs_are_rejected_with_a_report_naming_the_problem(payload, code):
    d = Driver()
    done = d.send(ALICE, payload)
    assert not done.accepted
    assert report_json(done)["error"]["code"] == code


def test_short_portal_payload_is_rejected():
    d = Driver()
    done = d.send(PORTALS.erc20, b"\x00" * 71)
    assert report_json(done)["error"]["code"] == "bad_portal_payload"
    assert "71 bytes" in report_json(done)["error"]["message"]


def test_malformed_hex_and_metadata_are_rejected_not_raised():
    app = App()
    assert not app.advance({"msg_sender": "0x00"}, "0x").accept
    result = app.advance({"chain_id": 1, "app_contract": APP.hex, "msg_sender": ALICE.hex, "block_number": 1,
                          "block_timestamp": 1, "input_index": 0}, "0xabc")
    assert not result.accept


def test_deposit_whose_attached_command_fails_keeps_the_funds_and_reports():
    d = Driver()
    done = d.deposit(TOKEN, ALICE, 50, WITHDRAW.encode(TOKEN.raw, 60))
    assert done.accepted and done.vouchers == []
    assert report_json(done)["error"]["code"] == "insufficient_balance"
    assert report_json(done)["error"]["deposit"] == "credited"
    assert d.inspect(f"balances/{ALICE.hex}")["balances"] == {TOKEN.hex: "50"}


def test_deposit_with_an_attached_command_runs_it_as_the_depositor():
    d = Driver()
    done = d.deposit(TOKEN, ALICE, 50, WITHDRAW.encode(TOKEN.raw, 20))
    assert done.accepted and len(done.vouchers) == 1
    assert d.inspect(f"balances/{ALICE.hex}")["balances"] == {TOKEN.hex: "30"}


def test_deposit_with_undecodable_exec_layer_data_keeps_the_funds():
    d = Driver()
    done = d.deposit(TOKEN, ALICE, 50, b"\xde\xad\xbe\xef")
    assert done.accepted
    assert report_json(done)["error"]["code"] == "invalid_input"
    assert d.inspect(f"balances/{ALICE.hex}")["balances"] == {TOKEN.hex: "50"}


def test_failure_injected_midway_leaves_the_state_as_before(monkeypatch):
    d = Driver()
    d.deposit(TOKEN, ALICE, 100)
    before = (d.inspect(f"balances/{ALICE.hex}"), d.inspect("totals"))
    real_withdraw = ledger.withdraw

    def withdraw_then_crash(tx, token, account, amount):
        real_withdraw(tx, token, account, amount)  # the balance is already debited in tx
        raise RuntimeError("injected failure")

    monkeypatch.setattr(ledger, "withdraw", withdraw_then_crash)
    done = d.send(ALICE, WITHDRAW.encode(TOKEN.raw, 40))
    assert not done.accepted and done.vouchers == []
    error = report_json(done)["error"]
    assert error["code"] == "internal_error" and "injected failure" in error["traceback"]
    assert (d.inspect(f"balances/{ALICE.hex}"), d.inspect("totals")) == before


def test_totals_account_for_every_unit():
    d = Driver()
    d.deposit(TOKEN, ALICE, 100)
    d.deposit(TOKEN, BOB, 50)
    d.send(BOB, WITHDRAW.encode(TOKEN.raw, 20))
    assert d.inspect("totals")["totals"][TOKEN.hex] == {
        "deposited": "150", "balances": "130", "escrowed": "0", "paid_out": "20"}


def test_unknown_and_malformed_queries_get_json_errors():
    d = Driver()
    assert d.inspect("nope")["error"]["code"] == "unknown_query"
    assert d.inspect("balances/0x12")["error"]["code"] == "bad_query"
    assert d.inspect("balances")["error"]["code"] == "bad_query"


def test_v1_ether_deposit_whose_command_pays_ether_before_the_address_is_known_keeps_the_deposit():
    d = Driver(version=V1)
    done = d.deposit_ether(ALICE, 1000, WITHDRAW.encode(ETHER.raw, 400))
    assert done.accepted and done.vouchers == []
    assert report_json(done)["error"]["code"] == "app_address_unknown"
    assert d.inspect(f"balances/{ALICE.hex}")["balances"] == {ETHER.hex: "1000"}


def test_a_deposit_that_would_overflow_a_balance_is_rejected_and_changes_nothing():
    # a token that reports more than its supply (the portal trusts its transferFrom) can get here
    d = Driver()
    top = 2**256 - 1
    assert d.deposit(TOKEN, ALICE, top).accepted
    before = d.inspect(f"balances/{ALICE.hex}")
    done = d.deposit(TOKEN, ALICE, 1)
    assert not done.accepted and done.notices == [] and done.vouchers == []
    assert report_json(done)["error"]["code"] == "amount_overflow"
    assert d.inspect(f"balances/{ALICE.hex}") == before
    assert before["balances"] == {TOKEN.hex: str(top)}


def test_a_top_up_that_would_overflow_a_job_budget_is_rejected_and_changes_nothing():
    from tests.support.market import SPONSOR, Market

    m = Market()
    job = m.create_job(1000)
    top = 2**256 - 1
    assert m.deposit(TOKEN, SPONSOR, top - 1000).accepted  # the whole supply, budget included
    assert m.call(SPONSOR, "topUpJob", job, top - 1000).accepted  # the budget reaches exactly 2**256-1
    assert m.deposit(TOKEN, SPONSOR, 5).accepted
    before = (m.job(job), m.inspect(f"balances/{SPONSOR.hex}"))
    done = m.call(SPONSOR, "topUpJob", job, 5)
    assert not done.accepted and report_json(done)["error"]["code"] == "amount_overflow"
    assert (m.job(job), m.inspect(f"balances/{SPONSOR.hex}")) == before
