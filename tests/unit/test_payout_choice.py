"""Where rewards and returned stakes go (issue 17, PROTOCOL §4.3): to the contributor's free dApp
balance by default, taken out later with one ``withdraw`` voucher for many jobs; by voucher at once
when the job's spec (``payout_vouchers``) or the contributor (``setPayoutVouchers(true)``) asks.
Refunds to sponsors are vouchers either way. Through the real dispatch path, fake engine; every
policy's payments (threshold, manual review and default, best, top_k, the fallback split, rounds,
loo and shapley) follow the same rule."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dapp.codec import abi
from tests.support.market import CAROL, DAVE, NOW, SPONSOR, Market
from tests.support.rollup import TOKEN, credits, notice_names, report_json, token_payments
from tests.unit.test_market_stateful import FederatedFakeEngine

INPUTS = abi.inputs()


def balance(m: Market, who) -> int:
    return int(m.inspect(f"balances/{who.hex}")["balances"].get(TOKEN.hex, "0"))


def choose(m: Market, who, vouchers: bool):
    done = m.call(who, "setPayoutVouchers", vouchers)
    assert done.accepted and report_json(done) == {"ok": True, "payouts": {"account": who.hex, "vouchers": vouchers}}
    return done


def test_by_default_the_reward_and_the_stake_are_credited_to_the_balance_and_no_voucher_is_made():
    m = Market()
    m.deposit(TOKEN, CAROL, 30)
    job = m.create_job(1000, reward_per_accept=100, stake=30)
    done = m.submit(CAROL, job, m.put_model(CAROL, 0.9))
    assert done.accepted and done.vouchers == []
    assert credits(done) == [(CAROL, 30), (CAROL, 100)]
    assert notice_names(done).count("StakeReturned") == notice_names(done).count("RewardPaid") == 1
    assert balance(m, CAROL) == 130
    assert m.inspect(f"balances/{CAROL.hex}")["payout_vouchers"] is False
    totals = m.inspect("totals")["totals"][TOKEN.hex]
    assert (totals["paid_out"], totals["balances"]) == ("0", "130")
    refund = m.call(DAVE, "settleJob", job, timestamp=NOW + 1000)
    assert token_payments(refund) == [(SPONSOR, 900)] and balance(m, SPONSOR) == 0  # a refund: a voucher


def test_a_job_asking_for_vouchers_pays_the_stake_and_the_reward_by_voucher_at_once():
    m = Market()
    m.deposit(TOKEN, CAROL, 30)
    job = m.create_job(1000, reward_per_accept=100, stake=30, payout_vouchers=True)
    assert m.job(job)["job"]["spec"]["payout_vouchers"] is True
    done = m.submit(CAROL, job, m.put_model(CAROL, 0.9))
    assert token_payments(done) == [(CAROL, 30), (CAROL, 100)] and credits(done) == [(CAROL, 30), (CAROL, 100)]
    assert balance(m, CAROL) == 0


def test_a_contributor_who_chose_vouchers_is_paid_by_voucher_and_others_in_the_same_job_are_credited():
    m = Market()
    job = m.create_job(1000, reward_per_accept=100)
    choose(m, CAROL, True)
    assert m.inspect(f"balances/{CAROL.hex}")["payout_vouchers"] is True
    carol = m.submit(CAROL, job, m.put_model(CAROL, 0.9))
    dave = m.submit(DAVE, job, m.put_model(DAVE, 0.91))
    assert token_payments(carol) == [(CAROL, 100)] and balance(m, CAROL) == 0
    assert token_payments(dave) == [] and credits(dave) == [(DAVE, 100)] and balance(m, DAVE) == 100
    choose(m, CAROL, False)  # back to the default
    again = m.submit(CAROL, job, m.put_model(CAROL, 0.92))
    assert token_payments(again) == [] and balance(m, CAROL) == 100
    assert m.inspect(f"balances/{CAROL.hex}")["payout_vouchers"] is False


def test_a_stranger_cannot_change_anothers_choice():
    m = Market()
    choose(m, CAROL, True)
    choose(m, DAVE, False)  # DAVE's input names no account: it sets DAVE's own choice only
    assert m.inspect(f"balances/{CAROL.hex}")["payout_vouchers"] is True
    call = INPUTS.encode("setPayoutVouchers", True)
    done = m.deposit(TOKEN, DAVE, 5, call)  # attached to DAVE's deposit: the depositor's, not the portal's
    assert done.accepted and report_json(done)["payouts"] == {"account": DAVE.hex, "vouchers": True}
    choose(m, DAVE, False)
    assert [m.inspect(f"balances/{a.hex}")["payout_vouchers"] for a in (CAROL, DAVE)] == [True, False]


def test_one_withdraw_takes_out_the_rewards_and_stakes_of_several_jobs_with_one_voucher():
    m = Market()
    m.deposit(TOKEN, CAROL, 20)
    threshold = m.create_job(500, reward_per_accept=100, stake=20)
    manual = m.create_job(500, policy="manual", reward_per_accept=70, stake=20, min_score=0)
    best = m.create_job(300, policy="best", reward_per_accept=0, stake=20)
    inputs = [m.submit(CAROL, threshold, m.put_model(CAROL, 0.9)),  # each stake is the one credited back
              m.submit(CAROL, manual, m.put_model(CAROL, 0.85)),
              m.call(SPONSOR, "reviewSubmission", manual, 1, True),
              m.submit(CAROL, best, m.put_model(CAROL, 0.95)),
              m.call(DAVE, "settleJob", best, timestamp=NOW + 1000)]
    assert all(done.accepted for done in inputs)
    assert [p for done in inputs for p in token_payments(done) if p[0] == CAROL] == []
    owed = 20 + 100 + 70 + 300  # the last stake back, and three rewards
    assert balance(m, CAROL) == owed
    done = m.call(CAROL, "withdraw", TOKEN.raw, owed)
    assert done.accepted and token_payments(done) == [(CAROL, owed)]  # one voucher for everything
    assert balance(m, CAROL) == 0


def test_a_stake_credited_back_funds_the_next_commit():
    m = Market()
    m.deposit(TOKEN, CAROL, 30)  # exactly one stake
    job = m.create_job(1000, reward_per_accept=100, stake=30)
    first = m.submit(CAROL, job, m.put_model(CAROL, 0.5))  # valid but below min_score: the stake comes back
    assert first.accepted and credits(first) == [(CAROL, 30)] and balance(m, CAROL) == 30
    second = m.submit(CAROL, job, m.put_model(CAROL, 0.9))  # its stake is the one credited back
    assert second.accepted and credits(second) == [(CAROL, 30), (CAROL, 100)] and balance(m, CAROL) == 130


def test_a_stake_returned_because_the_job_ended_before_the_reveal_is_credited_too():
    m = Market()
    m.deposit(TOKEN, CAROL, 30)
    m.deposit(TOKEN, DAVE, 30)
    job = m.create_job(100, reward_per_accept=100, stake=30)  # one reward: the first paid ends the job
    model = m.put_model(DAVE, 0.95)
    committed, salt = m.commit(DAVE, job, model)
    assert committed.accepted and m.commit(CAROL, job, m.put_model(CAROL, 0.9))[0].accepted
    ended = m.reveal(DAVE, job, model, b"", salt)  # DAVE's reward ends the job before CAROL reveals
    assert ended.accepted and "JobSettled" in notice_names(ended) and token_payments(ended) == []
    assert credits(ended) == [(DAVE, 30), (DAVE, 100), (CAROL, 30)]
    assert (balance(m, CAROL), balance(m, DAVE)) == (30, 130)


# --- every policy's payments follow the choice ------------------------------------------------------

def _threshold(m: Market) -> list:
    job = m.create_job(300, reward_per_accept=100)
    return [m.submit(CAROL, job, m.put_model(CAROL, 0.9))]


def _manual_review(m: Market) -> list:
    job = m.create_job(300, policy="manual", reward_per_accept=100, min_score=0)
    return [m.submit(CAROL, job, m.put_model(CAROL, 0.9)), m.call(SPONSOR, "reviewSubmission", job, 1, True)]


def _manual_default(m: Market) -> list:
    job = m.create_job(300, policy="manual", reward_per_accept=100, min_score=0, accept_by_default=True)
    return [m.submit(CAROL, job, m.put_model(CAROL, 0.9)), m.call(DAVE, "settleJob", job, timestamp=NOW + 1000)]


def _best(m: Market) -> list:
    job = m.create_job(300, policy="best", reward_per_accept=0)
    return [m.submit(CAROL, job, m.put_model(CAROL, 0.9)), m.call(DAVE, "settleJob", job, timestamp=NOW + 1000)]


def _top_k(m: Market) -> list:
    job = m.create_job(300, policy="best", reward_per_accept=0, reward="top_k", top_k=2, min_score=500_000)
    return [m.submit(CAROL, job, m.put_model(CAROL, 0.9)), m.submit(DAVE, job, m.put_model(DAVE, 0.7)),
            m.call(DAVE, "settleJob", job, timestamp=NOW + 1000)]


def _split(m: Market) -> list:
    job = m.create_job(300, policy="best", reward_per_accept=0, min_score=500_000)
    return [m.submit(CAROL, job, m.put_model(CAROL, 0.9)), m.submit(DAVE, job, m.put_model(DAVE, 0.7)),
            m.call(SPONSOR, "cancelJob", job)]


def _rounds(reward: str) -> Callable[[Market], list]:
    def run(m: Market) -> list:
        base = m.put_model(SPONSOR, 0.5)
        extra = {"permutations": 4} if reward == "shapley" else {}
        job = m.create_job(300, policy="rounds", rounds=1, round_quota=2, round_duration=500, reward_per_accept=100,
                           tolerance=100_000, min_score=0, base_model_cid=base, reward=reward, **extra)
        return [m.submit(CAROL, job, m.put_model(CAROL, 0.9)), m.submit(DAVE, job, m.put_model(DAVE, 0.8))]
    return run


SCENARIOS = {"threshold": _threshold, "manual review": _manual_review, "manual default": _manual_default,
             "best": _best, "top_k": _top_k, "fallback split": _split, "rounds": _rounds(""),
             "rounds loo": _rounds("loo"), "rounds shapley": _rounds("shapley")}


@pytest.mark.parametrize("name", SCENARIOS)
@pytest.mark.parametrize("carol_chose_vouchers", [False, True])
def test_every_policys_rewards_follow_the_contributors_choice(name, carol_chose_vouchers):
    m = Market(engine=FederatedFakeEngine())
    if carol_chose_vouchers:
        choose(m, CAROL, True)
    inputs = SCENARIOS[name](m)
    assert all(done.accepted for done in inputs), [done.reports for done in inputs]
    rewarded = [(who, amount) for done in inputs for who, amount in credits(done)]
    carol = sum(amount for who, amount in rewarded if who == CAROL)
    assert carol > 0, rewarded  # every scenario pays CAROL something
    vouchers = [(who, amount) for done in inputs for who, amount in token_payments(done) if who != SPONSOR]
    assert vouchers == ([(who, a) for who, a in rewarded if who == CAROL] if carol_chose_vouchers else [])
    assert balance(m, CAROL) == (0 if carol_chose_vouchers else carol)
    assert balance(m, DAVE) == sum(amount for who, amount in rewarded if who == DAVE)  # DAVE kept the default
