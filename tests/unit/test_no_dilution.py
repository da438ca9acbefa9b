"""No dilution (issue 12): a fallback split pays only submissions that qualify on the job's validation
set, one share per piece of work, so junk from any number of addresses cannot cut an honest
qualifying submission's share below budget / (qualifying pieces of work). Through the real dispatch
path with the fake engine (a model's score is the number it carries, on any dataset)."""

from __future__ import annotations

from collections import Counter

from dapp.codec import abi
from dapp.codec.cid import cid_of
from dapp.domain.limits import Limits
from dapp.domain.values import Address
from tests.support.market import CAROL, DAVE, NOW, SPONSOR, Market, spec, spec_tuple
from tests.support.recorded import RecordedMarket
from tests.support.rollup import TOKEN, report_json

TEST_CSV = b"x,target\n2,1\n"
SALT = b"\x07" * 32
BUDGET = 1000
WINDOW = 500
DEADLINE = NOW + 1000  # tests.support.market.spec's default


def sybil(i: int) -> Address:
    """The i-th address of the sponsor's (or anyone's) sybil set."""
    return Address(b"\x33" + i.to_bytes(19, "big"))



def hidden_job(m: Market, **overrides) -> int:
    """A best job (min_score 0.8) with a hidden test set the sponsor never reveals."""
    return m.create_job(BUDGET, policy="best", reward_per_accept=0, reveal_window=WINDOW,
                        test_commitment=m.commitment(cid_of(TEST_CSV), SALT), **overrides)


def submit(m: Market, who: Address, job: int, score: float, **extra) -> None:
    assert m.submit(who, job, m.put_model(who, score, **extra)).accepted


def flood(m: Market, job: int, count: int, score: float = 0.1, first: int = 0) -> None:
    """``count`` sybils each submit a distinct model scoring ``score`` on any set."""
    for i in range(first, first + count):
        submit(m, sybil(i), job, score, sybil=i)


def let_the_window_pass(m: Market, job: int):
    """Nobody reveals: settleJob after the reveal window starts the split's scoring (and its first batch)."""
    assert m.call(DAVE, "settleJob", job, timestamp=DEADLINE).accepted  # enters the reveal window
    return m.call(DAVE, "settleJob", job, timestamp=DEADLINE + WINDOW)


def error_code(done) -> str:
    return report_json(done)["error"]["code"]


def test_99_junk_sybils_cannot_dilute_the_one_honest_qualifying_submission_when_the_sponsor_does_not_reveal():
    m = RecordedMarket()
    job = hidden_job(m)
    flood(m, job, 50)
    submit(m, CAROL, job, 0.99)
    flood(m, job, 49, first=50)
    assert m.job(job)["job"]["submissions"] == 100
    done = let_the_window_pass(m, job)
    assert done.accepted and m.job(job)["job"]["outcome"] == "split"
    assert m.rewards(job) == {CAROL.hex: BUDGET}  # the sponsor's 99 junk submissions earn nothing
    statuses = Counter(s["status"] for s in m.inspect(f"jobs/{job}/submissions?limit=100")["submissions"])
    assert statuses == {"scored": 99, "accepted": 1}  # every one was scored on the validation set
    m.assert_value_conserved(job, BUDGET)


def test_a_sybil_set_mixing_junk_and_qualifying_models_gets_only_the_qualifying_shares_over_several_batches():
    # each submission's work: 1 for the model, 1 for the validation set; 10 per input = 5 submissions
    m = RecordedMarket(limits=Limits(max_input_work=10))
    job = hidden_job(m)
    submit(m, CAROL, job, 0.9)
    flood(m, job, 20)
    for i, score in enumerate((0.85, 0.95, 0.8)):  # qualifying models from three more sybils
        submit(m, sybil(100 + i), job, score)
    flood(m, job, 10, first=20)
    done = let_the_window_pass(m, job)
    inputs = 1
    while m.job(job)["job"]["status"] == "scoring":
        cancel = m.call(SPONSOR, "cancelJob", job)
        assert not cancel.accepted and error_code(cancel) == "job_scoring"
        done = m.call(DAVE, "settleJob", job)
        assert done.accepted
        inputs += 1
    assert inputs == 7  # 34 submissions, 5 per batch
    qualifying = 4  # CAROL and three sybils: 250 each, the junk nothing
    assert m.rewards(job)[CAROL.hex] == BUDGET // qualifying
    assert sorted(m.rewards(job).values()) == [BUDGET // qualifying] * qualifying
    assert m.job(job)["job"]["outcome"] == "split"
    m.assert_value_conserved(job, BUDGET)


def test_sybil_copies_of_the_honest_model_and_data_share_nothing():
    m = RecordedMarket()
    job = hidden_job(m)
    model, data = m.put_model(CAROL, 0.85), m.put(CAROL, b"x,target\n1,1\n2,0\n")  # trained: 0.88
    assert m.submit(CAROL, job, model, data).accepted
    for i in range(10):  # the files are public once uploaded: anyone can name them
        assert m.submit(sybil(i), job, model, data).accepted
    flood(m, job, 10, first=10)
    let_the_window_pass(m, job)
    assert m.rewards(job) == {CAROL.hex: BUDGET}  # one piece of work, paid once, to the earliest
    m.assert_value_conserved(job, BUDGET)


def test_the_share_promise_holds_whatever_the_order_remainder_to_the_earliest():
    m = RecordedMarket()
    job = m.create_job(1001, policy="best", reward_per_accept=0, reveal_window=WINDOW,
                       test_commitment=m.commitment(cid_of(TEST_CSV), SALT))
    flood(m, job, 5)
    submit(m, DAVE, job, 0.8)  # exactly min_score: qualifies
    submit(m, CAROL, job, 0.99)
    submit(m, sybil(50), job, 0.79)  # just below
    let_the_window_pass(m, job)
    assert m.rewards(job) == {DAVE.hex: 501, CAROL.hex: 500}
    m.assert_value_conserved(job, 1001)


def test_nothing_qualifying_on_the_validation_set_refunds_the_sponsor():
    m = RecordedMarket()
    job = hidden_job(m)
    flood(m, job, 5)
    done = let_the_window_pass(m, job)
    assert done.accepted and m.rewards(job) == {}
    assert m.job(job)["job"]["outcome"] == "refunded"
    m.assert_value_conserved(job, BUDGET)


def test_slashed_stakes_of_invalid_junk_join_the_honest_share():
    m = RecordedMarket()
    for who in (CAROL, sybil(0), sybil(1)):
        m.deposit(TOKEN, who, 10)
    job = hidden_job(m, stake=10)
    submit(m, CAROL, job, 0.9)
    assert m.submit(sybil(0), job, m.put_model(sybil(0), 0.1, bad=True)).accepted  # invalid: slashed
    submit(m, sybil(1), job, 0.1)  # valid junk: its stake comes back, it earns nothing
    let_the_window_pass(m, job)
    assert m.rewards(job) == {CAROL.hex: BUDGET + 10}
    m.assert_value_conserved(job, BUDGET)


def test_cancelling_a_hidden_test_job_scores_its_submissions_then_splits_among_the_qualifying_ones():
    m = RecordedMarket(limits=Limits(max_input_work=6))  # 3 submissions per batch
    job = hidden_job(m)
    submit(m, CAROL, job, 0.9)
    flood(m, job, 4)
    submit(m, DAVE, job, 0.85)
    cancel = m.call(SPONSOR, "cancelJob", job, timestamp=NOW + 10)  # before the deadline
    assert cancel.accepted and not cancel.vouchers
    assert m.job(job)["job"]["status"] == "scoring"
    again = m.call(SPONSOR, "cancelJob", job, timestamp=NOW + 11)
    assert not again.accepted and error_code(again) == "job_scoring"
    late = m.submit(CAROL, job, m.put_model(CAROL, 0.99), timestamp=NOW + 12)
    assert not late.accepted and error_code(late) == "job_closed"
    first = m.call(DAVE, "settleJob", job, timestamp=NOW + 13)
    assert first.accepted and not first.vouchers  # one batch: three of six scored
    last = m.call(DAVE, "settleJob", job, timestamp=NOW + 14)
    assert last.accepted and m.job(job)["job"]["outcome"] == "split"
    assert m.rewards(job) == {CAROL.hex: BUDGET // 2, DAVE.hex: BUDGET // 2}
    m.assert_value_conserved(job, BUDGET)


def test_cancelling_a_hidden_test_job_without_submissions_refunds_it():
    m = RecordedMarket()
    job = hidden_job(m)
    done = m.call(SPONSOR, "cancelJob", job)
    assert done.accepted and m.job(job)["job"]["outcome"] == "cancelled"
    m.assert_value_conserved(job, BUDGET)


def test_a_cancelled_best_job_with_a_visible_validation_set_splits_among_the_qualifying_ones_at_once():
    m = RecordedMarket()
    job = m.create_job(BUDGET, policy="best", reward_per_accept=0)
    submit(m, CAROL, job, 0.9)
    flood(m, job, 99)
    done = m.call(SPONSOR, "cancelJob", job)
    assert done.accepted and m.job(job)["job"]["outcome"] == "split"
    assert m.rewards(job) == {CAROL.hex: BUDGET}
    m.assert_value_conserved(job, BUDGET)


def test_a_cancelled_best_job_with_only_junk_is_cancelled_and_refunded():
    m = RecordedMarket()
    job = m.create_job(BUDGET, policy="best", reward_per_accept=0)
    flood(m, job, 3)
    done = m.call(SPONSOR, "cancelJob", job)
    assert done.accepted and m.job(job)["job"]["outcome"] == "cancelled" and m.rewards(job) == {}
    m.assert_value_conserved(job, BUDGET)


def test_a_hidden_test_job_needs_a_validation_set():
    m = Market()
    s = spec(policy="best", reward_per_accept=0, reveal_window=WINDOW, validation_cid=b"",
             test_commitment=m.commitment(cid_of(TEST_CSV), SALT))
    call = abi.inputs().encode("createJob", TOKEN.raw, BUDGET, spec_tuple(s))
    done = m.deposit(TOKEN, SPONSOR, BUDGET, call)
    error = report_json(done)["error"]
    assert error["code"] == "bad_spec" and "validation_cid" in error["message"]
