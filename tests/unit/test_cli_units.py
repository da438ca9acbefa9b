"""Text output in human units (issue 15): amounts with the token's symbol, dates in UTC and relative,
scores in the metric's units; ``--json`` keeps the raw values. A fake market answers inspect like
the backend; every expected text is computed here from the raw values, not by the code under test."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner, Result
from mlmarket.cli import common
from mlmarket.cli.main import cli
from mlmarket.client import units
from mlmarket.client.errors import InputFailed
from mlmarket.client.outputs import DecodedNotice, DecodedReport, DecodedVoucher, InputOutcome, decode_notice_payload

from dapp.codec import abi

NOW = 1_796_880_000
TOKEN = "0x5fbdb2315678afecb367f032d93f642f64180aa3"
ETHER = "0x" + "00" * 20
ME = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"
SPONSOR = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
JOB = {"id": 1, "sponsor": ME, "token": TOKEN, "status": "open", "outcome": "", "budget": str(90 * 10**18),
       "paid": str(10 * 10**18), "submissions": 2, "accepted": 1, "created_at": NOW - 2 * 86_400 - 60,
       "deadline": NOW + 3 * 3_600 + 59, "policy": "threshold", "metric": "accuracy", "best_score": 0.93,
       "spec": {"title": "cancer", "min_score": 900_000, "reward_per_accept": str(10 * 10**18), "stake": str(10**18),
                "deadline": NOW + 3 * 3_600 + 59, "reveal_window": 600, "metric": "accuracy"}}
SUBS = [{"id": 1, "contributor": ME, "status": "accepted", "score": 0.93, "score_millionths": 930_000,
         "reward": str(10 * 10**18), "stake": "0", "created_at": NOW - 3_600, "error": None},
        {"id": 2, "contributor": ME, "status": "committed", "score": None, "score_millionths": None,
         "reward": "0", "stake": str(15 * 10**17), "created_at": NOW - 60, "error": None}]


def gmt(stamp: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(stamp))


class Market:
    """The parts of ``Market`` the commands read."""

    def __init__(self) -> None:
        self.account = ME
        self.signer = f"dev account 1 ({ME})"
        self.config = SimpleNamespace(app="0x" + "aa" * 20, addresses={"Token": TOKEN})
        contract = SimpleNamespace(functions=SimpleNamespace(symbol=lambda: SimpleNamespace(call=lambda: "TEST")))
        self.chain = SimpleNamespace(decimals_of=lambda token: 18, contract=lambda kind, address: contract,
                                     balance_of=lambda token, who: 5 * 10**17 if int(token, 16) else 10**18)
        self.failure: InputFailed | None = None

    def now(self) -> int:
        return NOW

    def token(self, token: str | None, eth: bool) -> str:
        return ETHER if eth else token or TOKEN

    def query(self, path: str) -> Any:
        if path == "jobs":
            return {"jobs": [JOB, {**JOB, "id": 2, "sponsor": SPONSOR, "submissions": 0}]}
        if path == "jobs/1":
            return {"ok": True, "job": JOB}
        if path == "jobs/1/submissions":
            return {"ok": True, "submissions": SUBS}
        if path.startswith("balances/"):
            return {"ok": True, "balances": {TOKEN: str(10 * 10**18)}}
        raise AssertionError(path)

    def pending_vouchers(self, who: str) -> list[DecodedVoucher]:
        call = {"function": "transfer", "token": TOKEN, "to": ME, "amount": str(25 * 10**17)}
        return [DecodedVoucher(7, 4, TOKEN, 0, b"", call, b"", state="waiting for claim")]

    def send(self, request: Any) -> Any:
        assert self.failure is not None
        raise self.failure


@pytest.fixture()
def market(monkeypatch: pytest.MonkeyPatch) -> Market:
    fake = Market()
    monkeypatch.setattr(common.Session, "market", lambda self, read_only=False: fake)
    return fake


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def test_relative_times_and_scores_are_written_as_people_read_them() -> None:
    assert units.relative(3 * 3_600 + 59) == "in 3 h" and units.relative(-(2 * 86_400 + 5)) == "2 d ago"
    assert units.relative(0) == "now" and units.relative(-59) == "59 s ago"
    assert units.when(NOW, NOW - 600) == f"{gmt(NOW)} UTC (in 10 min)"
    assert units.score_text(900_000, "accuracy") == "accuracy 0.900000"
    assert units.score_text(-1_500_000, "r2") == "r2 -1.500000"
    assert units.tokens_text(15 * 10**17, units.TokenInfo("TEST", 18)) == "1.5 TEST"


def test_job_show_text_has_symbols_dates_and_scores_and_json_keeps_raw_values(market: Market) -> None:
    text = run("job", "show", "1").stdout
    assert "budget: 90 TEST" in text and "paid: 10 TEST" in text and "reward_per_accept: 10 TEST" in text
    assert f"deadline: {gmt(JOB['deadline'])}:59 UTC (in 3 h)" in text
    assert f"created_at: {gmt(JOB['created_at'])} UTC (2 d ago)" in text
    assert "min_score: accuracy 0.900000" in text and "score: accuracy 0.930000" in text
    assert "stake: 1.5 TEST" in text and "reveal_window: 10 min" in text
    for raw in ("90000000000000000000", str(JOB["deadline"]), ": 900000", "score_millionths"):
        assert raw not in text
    shown = json.loads(run("job", "show", "1", "--json").stdout)
    assert shown["job"]["budget"] == JOB["budget"] and shown["job"]["deadline"] == JOB["deadline"]
    assert shown["job"]["spec"]["min_score"] == 900_000 and shown["submissions"][0]["score_millionths"] == 930_000


def test_job_list_is_one_line_per_job_in_human_units(market: Market) -> None:
    first = run("job", "list").stdout.splitlines()[0]
    assert first == (f"job 1 threshold accuracy open 'cancer': budget 90 TEST, deadline {gmt(JOB['deadline'])}:59 UTC "
                     f"(in 3 h), 2 submissions (1 accepted)")


def test_balance_shows_free_escrowed_staked_pending_and_wallet_amounts(market: Market) -> None:
    text = run("balance").stdout.splitlines()
    assert text[text.index("free in the dApp (withdraw, or fund jobs and stakes with it):") + 1] == "  10 TEST"
    assert text[text.index("escrowed as the budgets of your open jobs:") + 1] == "  90 TEST"  # job 2 is not mine
    assert text[text.index("locked as stakes of your commits not revealed yet:") + 1] == "  1.5 TEST"
    assert "  voucher #7: 2.5 TEST [waiting for claim]" in text
    wallet = text.index("in the wallet:")
    assert text[wallet + 1:wallet + 3] == ["  1 ETH", "  0.5 TEST"]
    assert text[-2] == "rewards and returned stakes:" and text[-1].startswith("  credited to the dApp balance")
    data = json.loads(run("balance", "--json").stdout)
    assert data["escrow"] == {TOKEN: str(90 * 10**18)} and data["stakes"] == {TOKEN: str(15 * 10**17)}
    assert data["pending_vouchers"] == [{"index": 7, "token": TOKEN, "amount": str(25 * 10**17),
                                         "state": "waiting for claim"}]


def failed(index: int, message: str, deposit: int | None = None) -> InputFailed:
    notices = []
    if deposit is not None:
        payload = abi.notices().encode("Deposited", TOKEN, ME, deposit)
        notices.append(DecodedNotice(0, index, *decode_notice_payload(payload), payload))
    report = DecodedReport(0, index, b"", {"ok": False, "error": {"code": "bad_spec", "message": message}})
    outcome = InputOutcome(index, "ACCEPTED", tuple(notices), (), (report,))
    return InputFailed(outcome.error or message, outcome=outcome)


def test_a_rejected_deposit_says_how_much_went_where(market: Market) -> None:
    market.failure = failed(3, "label: column 'y' is not in the validation CSV", deposit=10 * 10**18)
    result = run("deposit", "10")
    assert result.exit_code == 1
    assert ("10 TEST are in your dApp balance (free balance now 10 TEST): `mlmarket withdraw 10` or use it for "
            "the next job") in result.stderr
    answer = json.loads(run("deposit", "10", "--json").stdout)
    assert answer["deposit_kept"] == {"token": TOKEN, "amount": str(10 * 10**18), "balance": str(10 * 10**18)}


def test_error_messages_show_their_times_in_utc(market: Market) -> None:
    closed = NOW - 2 * 3_600
    market.failure = failed(4, f"job 1 is closed: submissions close at {closed}")
    err = run("settle", "1").stderr
    assert f"submissions close at {gmt(closed)} UTC (2 h ago; unix {closed})" in err
    assert "dApp balance" not in err  # no deposit, nothing to say about money


def test_a_balance_shortfall_is_shown_in_token_units(market: Market) -> None:
    need = 2 * 10**18
    market.failure = failed(5, f"insufficient balance: {ME} has {25 * 10**16} of {TOKEN}, needs {need}")
    err = run("withdraw", "2").stderr
    assert f"insufficient balance: {ME} has 0.25 TEST, needs 2 TEST" in err and str(need) not in err
