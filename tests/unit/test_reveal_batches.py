"""The reveal of a hidden test set scores its submissions in batches bounded by estimated work, one
submission's failure never stops the others, and a job's deferred work is capped (issue 11, findings
6 and 7). Through the real dispatch path with the fake engine (its models carry a ``work`` estimate)."""

from __future__ import annotations

import json

from sklearn.datasets import load_breast_cancer

from dapp.codec.cid import cid_of
from dapp.domain.limits import Limits
from dapp.ml.engine import Engine
from dapp.ml.errors import TrainingError
from dapp.ml.limits import MLLimits
from tests.fixtures.ml.helpers import csv_split, spec
from tests.support.fake_engine import FakeEngine
from tests.support.market import CAROL, DAVE, SPONSOR, Market
from tests.support.rollup import ALICE, credits

TEST_CSV = b"x,target\n2,1\n"
SALT = b"\x07" * 32
BUDGET = 600


def hidden_job(m: Market, **overrides) -> tuple[int, int]:
    job = m.create_job(BUDGET, policy="best", reward_per_accept=0, reveal_window=500,
                       test_commitment=m.commitment(cid_of(TEST_CSV), SALT), **overrides)
    return job, m.job(job)["job"]["deadline"]


def paid(done) -> dict[bytes, int]:
    """Token amounts the input's rewards credited to the contributors' dApp balances (the default
    payout, so no voucher), per recipient."""
    assert not done.vouchers
    out: dict[bytes, int] = {}
    for to, amount in credits(done):
        out[to.raw] = out.get(to.raw, 0) + amount
    return out


def errors(done) -> list[str]:
    return [json.loads(r)["error"]["code"] for r in done.reports if "error" in json.loads(r)]


def statuses(m: Market, job: int) -> list[str]:
    return [s["status"] for s in m.inspect(f"jobs/{job}/submissions")["submissions"]]


def reveal(m: Market, job: int, at: int):
    m.put(SPONSOR, TEST_CSV)
    return m.call(SPONSOR, "revealTestSet", job, cid_of(TEST_CSV), SALT, timestamp=at)


def test_the_reveal_scores_one_batch_and_each_settle_the_next_until_the_best_is_paid():
    # each submission: work 4, counted twice (the model, and its evaluation on the test set) = 8
    m = Market(limits=Limits(max_input_work=20))
    job, deadline = hidden_job(m)
    senders = [CAROL, DAVE, ALICE, CAROL, DAVE]
    scores = [0.85, 0.95, 0.9, 0.8, 0.7]
    for who, score in zip(senders, scores):
        assert m.submit(who, job, m.put_model(who, score, work=4)).accepted
    first = reveal(m, job, deadline)
    assert first.accepted and not first.vouchers
    assert statuses(m, job) == ["scored", "scored", "stored", "stored", "stored"]
    assert m.job(job)["job"]["status"] == "scoring"
    second = m.call(ALICE, "settleJob", job, timestamp=deadline + 10_000)  # long after the window: no split
    assert second.accepted and not second.vouchers
    assert statuses(m, job) == ["scored", "scored", "scored", "scored", "stored"]
    last = m.call(ALICE, "settleJob", job, timestamp=deadline + 20_000)
    assert last.accepted and paid(last) == {DAVE.raw: BUDGET}
    assert m.job(job)["job"]["status"] == "ended" and m.job(job)["job"]["outcome"] == "paid"


def test_a_batch_always_scores_at_least_one_submission_however_costly():
    m = Market(limits=Limits(max_input_work=1))
    job, deadline = hidden_job(m)
    for who in (CAROL, DAVE):
        m.submit(who, job, m.put_model(who, 0.9, work=1000))
    reveal(m, job, deadline)
    assert statuses(m, job) == ["scored", "stored"]
    done = m.call(DAVE, "settleJob", job, timestamp=deadline + 1)
    assert paid(done) == {CAROL.raw: BUDGET}  # equal scores: the earliest wins


def test_one_failing_submission_becomes_unscorable_and_the_rest_are_scored_and_paid():
    m = Market()
    job, deadline = hidden_job(m)
    m.submit(CAROL, job, m.put_model(CAROL, 0.99, crash=True))
    m.submit(DAVE, job, m.put_model(DAVE, 0.9))
    done = reveal(m, job, deadline)
    assert done.accepted and paid(done) == {DAVE.raw: BUDGET}
    subs = m.inspect(f"jobs/{job}/submissions")["submissions"]
    assert [s["status"] for s in subs] == ["unscorable", "accepted"]
    assert "AttributeError" in subs[0]["error"]


class UnusableTestSet(FakeEngine):
    """Every model fails on the test set, as a revealed set with other columns would make them."""

    def score(self, *, validation, **kwargs):
        if validation == TEST_CSV:
            raise TrainingError("the test set's columns are not the model's", code="training_failed")
        return super().score(validation=validation, **kwargs)


def test_when_no_submission_can_be_scored_on_the_revealed_set_the_budget_is_split_not_refunded():
    m = Market(engine=UnusableTestSet())
    job, deadline = hidden_job(m)  # min_score 0.8
    m.submit(CAROL, job, m.put_model(CAROL, 0.99))
    m.submit(DAVE, job, m.put_model(DAVE, 0.9))
    m.submit(SPONSOR, job, m.put_model(SPONSOR, 0.1))
    done = reveal(m, job, deadline)
    assert done.accepted and not done.vouchers and statuses(m, job) == ["stored"] * 3
    assert m.job(job)["job"]["status"] == "scoring"  # now on the validation set, for the split
    split = m.call(ALICE, "settleJob", job, timestamp=deadline + 1)
    assert split.accepted and paid(split) == {CAROL.raw: BUDGET // 2, DAVE.raw: BUDGET // 2}
    assert m.job(job)["job"]["outcome"] == "split"


def test_a_job_being_scored_cannot_be_cancelled_and_the_reveal_window_does_not_split_it():
    m = Market(limits=Limits(max_input_work=1))
    job, deadline = hidden_job(m)
    for who in (CAROL, DAVE):
        m.submit(who, job, m.put_model(who, 0.9 if who == CAROL else 0.95, work=5))
    reveal(m, job, deadline)
    cancel = m.call(SPONSOR, "cancelJob", job, timestamp=deadline + 1000)
    assert not cancel.accepted and errors(cancel) == ["job_scoring"]
    still_scoring = m.job(job)["job"]["status"] == "scoring"
    done = m.call(SPONSOR, "settleJob", job, timestamp=deadline + 1000)
    assert still_scoring and paid(done) == {DAVE.raw: BUDGET}


def test_a_hidden_test_job_refuses_submissions_past_its_deferred_work_cap():
    m = Market(limits=Limits(max_job_work=25))
    job, deadline = hidden_job(m)
    # a model-only submission's work counts twice: the model, and its evaluation on the validation set
    assert m.submit(CAROL, job, m.put_model(CAROL, 0.9, work=5)).accepted
    assert m.submit(DAVE, job, m.put_model(DAVE, 0.9, work=5)).accepted
    refused = m.submit(ALICE, job, m.put_model(ALICE, 0.9, work=5))
    assert not refused.accepted and errors(refused) == ["job_work_exhausted"]
    assert m.submit(ALICE, job, m.put_model(ALICE, 0.9, work=2)).accepted  # what fits still does
    assert statuses(m, job).count("stored") == 3  # the refused reveal leaves only its commit


def test_many_submissions_still_reach_an_end_state_with_every_batch_making_progress():
    m = Market(limits=Limits(max_input_work=30))
    job, deadline = hidden_job(m)
    who = [CAROL, DAVE, ALICE]
    for i in range(30):
        m.submit(who[i % 3], job, m.put_model(who[i % 3], 0.6 + i / 100, work=1 + i % 7))
    done = reveal(m, job, deadline)
    inputs = 1
    while m.job(job)["job"]["status"] == "scoring":
        before = statuses(m, job).count("stored")
        done = m.call(ALICE, "settleJob", job, timestamp=deadline + inputs)
        assert done.accepted and statuses(m, job).count("stored") < before
        inputs += 1
    assert m.job(job)["job"]["outcome"] == "paid" and paid(done) == {ALICE.raw: BUDGET}  # 0.89, the last
    assert 3 < inputs < 30  # batched: several per input, never all in one


def test_a_hidden_test_submission_over_the_training_gate_is_refused_when_it_arrives():
    train, validation = csv_split(load_breast_cancer)
    m = Market(engine=Engine(MLLimits(max_cycles=1_000)))
    job, _ = hidden_job(m, validation_cid=m.put(SPONSOR, validation))
    done = m.submit(CAROL, job, m.put(CAROL, spec("LogisticRegression")), m.put(CAROL, train))
    assert not done.accepted and errors(done) == ["training_too_costly"]
