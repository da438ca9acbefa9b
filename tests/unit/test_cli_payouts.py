"""The CLI's side of issue 17 (payouts to the dApp balance): every output line and submission verdict
says where a reward or returned stake went (credited to the dApp balance, or by which voucher);
``mlmarket withdraw --all`` takes out every free balance, one withdraw per token; ``mlmarket
payouts`` shows the account's choice and ``--vouchers on|off`` sends ``setPayoutVouchers``; ``mlmarket
balance`` says where payouts go. A fake market answering inspect, with real notice and voucher
bytes decoded by the client."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner, Result
from mlmarket.cli import common
from mlmarket.cli.main import cli
from mlmarket.cli.outcomes import verdict
from mlmarket.cli.render import outcome_text
from mlmarket.client.outputs import DecodedNotice, DecodedVoucher, InputOutcome, decode_notice_payload
from mlmarket.client.payouts import payments
from mlmarket.client.units import Units

from dapp.codec import abi
from tests.unit.test_cli_units import ETHER, ME, TOKEN, Market

OTHER = "0x" + "ab" * 20
JOB = {"id": 1, "token": TOKEN, "metric": "accuracy", "policy": "threshold", "deadline": 2_000_000_000,
       "budget": "0", "spec": {}}


def notice(index: int, name: str, *args: Any) -> DecodedNotice:
    payload = abi.notices().encode(name, *args)
    return DecodedNotice(index, 9, *decode_notice_payload(payload), payload)


def voucher(index: int, to: str, amount: int) -> DecodedVoucher:
    call = {"function": "transfer", "token": TOKEN, "to": to, "amount": str(amount)}
    return DecodedVoucher(index, 9, TOKEN, 0, b"", call, b"")


def outcome(*outputs: Any) -> InputOutcome:
    return InputOutcome(9, "ACCEPTED", tuple(o for o in outputs if isinstance(o, DecodedNotice)),
                        tuple(o for o in outputs if isinstance(o, DecodedVoucher)), ())


def units() -> Units:
    return Units(Market())


def test_a_reward_without_its_voucher_was_credited_and_one_with_it_was_paid_by_that_voucher() -> None:
    credited = outcome(notice(0, "StakeReturned", 1, 1, ME, 10**18), notice(1, "RewardPaid", 1, 1, ME, TOKEN, 10 * 10**18),
                       voucher(2, "0x" + "5a" * 20, 10 * 10**18))  # the sponsor's refund of the same amount
    assert [(p.kind, p.credited) for p in payments(credited)] == [("StakeReturned", True), ("RewardPaid", True)]
    text = outcome_text(credited, units())
    assert "StakeReturned jobId=1 submissionId=1" in text and text.count("(credited to the dApp balance)") == 2
    said = verdict(units(), JOB, {"id": 1, "status": "accepted", "score_millionths": 930_000}, credited).text
    assert said.endswith("stake returned 1 TEST, paid 10 TEST, 11 TEST credited to your dApp balance: "
                         "`mlmarket withdraw --all` takes it out, one voucher for everything")
    by_voucher = outcome(voucher(0, ME, 10 * 10**18), notice(1, "RewardPaid", 1, 1, ME, TOKEN, 10 * 10**18))
    assert [p.voucher.index for p in payments(by_voucher)] == [0]
    assert "RewardPaid" in outcome_text(by_voucher, units()) and "(by voucher #0)" in outcome_text(by_voucher, units())
    said = verdict(units(), JOB, {"id": 1, "status": "accepted", "contributor": ME}, by_voucher, OTHER).text
    assert said.endswith("paid 10 TEST, 10 TEST by voucher #0: `mlmarket execute --all` pays it to the wallet")
    assert "your" not in verdict(units(), JOB, {"id": 1, "status": "accepted", "contributor": ME}, credited,
                                 OTHER).text  # the sponsor reading a contributor's verdict


class Sending(Market):
    """The fake market of test_cli_units that also processes inputs: a withdraw of the whole balance."""

    def __init__(self, balances: dict[str, int], vouchers: bool = False) -> None:
        super().__init__()
        self.balances, self.vouchers, self.sent = dict(balances), vouchers, []

    def query(self, path: str) -> Any:
        if path == f"balances/{ME}":
            return {"ok": True, "balances": {t: str(v) for t, v in self.balances.items() if v},
                    "payout_vouchers": self.vouchers}
        return super().query(path)

    def send(self, request: Any) -> Any:
        name, args = abi.inputs().decode(request.payload)
        self.sent.append((name.name, args))
        outputs: tuple = ()
        if name.name == "withdraw":
            token, amount = args
            self.balances[token.lower()] -= amount
            outputs = (notice(0, "Withdrawn", token, ME, amount), voucher(1, ME, amount))
        elif name.name == "setPayoutVouchers":
            self.vouchers = args[0]
        done = outcome(*outputs)
        return SimpleNamespace(outcome=done, to_json=lambda: done.to_json())


@pytest.fixture()
def fake(monkeypatch: pytest.MonkeyPatch) -> Any:
    def install(market: Sending) -> Sending:
        monkeypatch.setattr(common.Session, "market", lambda self, read_only=False: market)
        return market
    return install


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def test_withdraw_all_takes_out_every_free_balance_one_withdraw_per_token(fake: Any) -> None:
    market = fake(Sending({TOKEN: 130 * 10**17, ETHER: 5}))
    result = run("withdraw", "--all", "--json")
    assert result.exit_code == 0, result.output
    assert sorted(market.sent) == sorted([("withdraw", (ETHER, 5)), ("withdraw", (TOKEN, 130 * 10**17))])
    assert {w["token"]: w["amount"] for w in json.loads(result.stdout)["withdrawn"]} == {
        TOKEN: str(130 * 10**17), ETHER: "5"}
    assert market.balances == {TOKEN: 0, ETHER: 0}
    assert "nothing to withdraw" in run("withdraw", "--all").stdout and len(market.sent) == 2


def test_withdraw_all_of_one_token_leaves_the_others(fake: Any) -> None:
    market = fake(Sending({TOKEN: 7, ETHER: 5}))
    assert run("withdraw", "--all", "--eth").exit_code == 0
    assert market.sent == [("withdraw", (ETHER, 5))] and market.balances[TOKEN] == 7


def test_withdraw_needs_an_amount_or_all_not_both(fake: Any) -> None:
    market = fake(Sending({TOKEN: 7}))
    assert run("withdraw").exit_code == 2 and run("withdraw", "1", "--all").exit_code == 2 and market.sent == []


def test_payouts_shows_the_choice_and_sets_it_with_set_payout_vouchers(fake: Any) -> None:
    market = fake(Sending({}))
    assert "credited to the dApp balance" in run("payouts").stdout
    assert json.loads(run("payouts", "--json").stdout) == {"account": ME, "payout_vouchers": False}
    result = run("payouts", "--vouchers", "on")
    assert result.exit_code == 0 and market.sent == [("setPayoutVouchers", (True,))]
    assert "by voucher at once" in result.stdout
    assert json.loads(run("payouts", "--json").stdout)["payout_vouchers"] is True
    assert "by voucher at once" in run("balance").stdout
    run("payouts", "--vouchers", "off")
    assert market.sent[-1] == ("setPayoutVouchers", (False,)) and json.loads(run("balance", "--json").stdout)[
        "payout_vouchers"] is False
    assert run("payouts", OTHER, "--vouchers", "on").exit_code == 2  # only one's own choice
