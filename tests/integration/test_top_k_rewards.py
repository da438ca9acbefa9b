"""reward top_k (issue 16): a best job pays its k best qualifying submissions in proportion to their
score above a baseline (docs/PROTOCOL.md §4.7), through the real dispatch path.

Every payment is recomputed from the notices alone (JobCreated, JobFunded, StakeSlashed,
SubmissionScored, ContributionMeasured, RewardPaid, JobSettled and the vouchers) with an independent
implementation of the sharing rule (exact fractions, never ``dapp.domain.shares``); the test then
checks who is ranked, the baseline and each contribution against what it built. The fake engine
scores a model at the number it carries (see tests/support/fake_engine.py); one test uses the real
engine and scikit-learn as the oracle.
"""

from __future__ import annotations

import hashlib
import json
import math
from fractions import Fraction
from typing import Any

import pytest

from dapp.codec import abi
from dapp.codec.cid import cid_of
from dapp.domain.values import Address
from tests.support.breast_cancer import shuffled, to_csv
from tests.support.fake_engine import FakeEngine
from tests.support.market import CAROL, DAVE, NOW, SPONSOR, spec, spec_tuple
from tests.support.recorded import RecordedMarket
from tests.support.rollup import TOKEN, credits, notice_args, report_json, token_payments

DEADLINE = NOW + 1000  # tests.support.market.spec's default
LOSS_METRICS = {"mae", "rmse", "log_loss"}
TEST_CSV = b"t,target\n2,1\n"
SALT = b"\x07" * 32
WINDOW = 500
DATA = b"x,target\n1,0\n2,1\n"  # the fake engine adds 0.01 per line: 0.03
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class Engine(FakeEngine):
    """The fake engine plus: a model carrying ``"trained": true`` is a trained model (what a job's base
    model must be to set the baseline), ``"units"`` scores it at exactly that many millionths, and
    ``"test"`` is its score on ``TEST_CSV`` (the hidden test set) instead of ``"score"``."""

    class Info(dict):
        estimator = "Fake"

        @property
        def trained(self) -> bool:
            return bool(self.get("trained"))

    def check_model(self, model, task=None):
        return self.Info(super().check_model(model, task))

    def score(self, *, validation, model, **kw):
        spec = json.loads(model)
        if validation == TEST_CSV and "test" in spec:
            spec = {**spec, "score": spec["test"]}
        scored = super().score(validation=validation, model=json.dumps(spec).encode(), **kw)
        if "units" in spec:
            return type(scored)(spec["units"], scored.model_bytes, scored.samples)
        return scored


def market() -> RecordedMarket:
    return RecordedMarket(engine=Engine())


def sybil(i: int) -> Address:
    return Address(b"\x33" + i.to_bytes(19, "big"))


def top_k_job(m: RecordedMarket, budget: int = 1000, k: int = 3, **overrides: Any) -> int:
    overrides.setdefault("min_score", 500_000)
    return m.create_job(budget, policy="best", reward_per_accept=0, reward="top_k", top_k=k, **overrides)


def submit(m: RecordedMarket, who: Address, job: int, score: float, data: bytes = b"", **extra: Any) -> int:
    """``who`` submits a model scoring ``score``; the submission's id."""
    done = m.submit(who, job, m.put_model(who, score, **extra), data)
    assert done.accepted, done.reports
    return m.job(job)["job"]["submissions"]


def submit_cid(m: RecordedMarket, who: Address, job: int, model: bytes, data: bytes = b"") -> int:
    done = m.submit(who, job, model, data)
    assert done.accepted, done.reports
    return m.job(job)["job"]["submissions"]


def settle(m: RecordedMarket, job: int):
    done = m.call(CAROL, "settleJob", job, timestamp=DEADLINE)
    assert done.accepted, done.reports
    return done


# --- the independent oracle ------------------------------------------------------------------------

def oracle_shares(pool: int, contributions: dict[int, int]) -> dict[int, int]:
    """PROTOCOL §4.7 with exact fractions: weights max(c, 0); floors of the exact shares; the units
    left one each to the largest fractional parts, ties to the smaller id; nothing positive: zeros."""
    weights = {sid: max(c, 0) for sid, c in contributions.items()}
    total = sum(weights.values())
    if total == 0:
        return {sid: 0 for sid in weights}
    exact = {sid: Fraction(pool * w, total) for sid, w in weights.items()}
    amounts = {sid: math.floor(x) for sid, x in exact.items()}
    left = pool - sum(amounts.values())
    for sid in sorted(exact, key=lambda s: (-(exact[s] - amounts[s]), s))[:left]:
        amounts[sid] += 1
    return amounts


def oracle_gain(metric: str, score: int, baseline: int) -> int:
    return baseline - score if metric in LOSS_METRICS else score - baseline


def job_notices(m: RecordedMarket, name: str, job: int) -> list[tuple]:
    return [args for args in m.notices(name) if args[0] == job]


def pool_before_settlement(m: RecordedMarket, job: int) -> int:
    """The job's budget from its notices: created + funded + slashed stakes (nothing paid before)."""
    (created,) = job_notices(m, "JobCreated", job)
    funded = sum(args[2] for args in job_notices(m, "JobFunded", job))
    slashed = sum(args[3] for args in job_notices(m, "StakeSlashed", job))
    return created[3] + funded + slashed


def check_settlement(m: RecordedMarket, job: int, done, top: list[int], baseline: int) -> dict[int, int]:
    """Recomputes ``done``'s payments from the notices; checks the ranked ids ``top`` (best first) and
    ``baseline``; returns {submission id: amount}."""
    (created,) = job_notices(m, "JobCreated", job)
    metric = created[4][4]
    scores = {args[1]: args[5] for args in job_notices(m, "SubmissionScored", job)}  # the last score of each
    contributors = {args[1]: Address.from_hex(args[2]) for args in job_notices(m, "SubmissionScored", job)}
    measured = [args for args in notice_args(done, "ContributionMeasured") if args[0] == job]
    assert [args[1] for args in measured] == top
    for _, sid, rnd, rule, score, base, contribution, _ in measured:
        assert (rnd, rule, score, base) == (0, "top_k", scores[sid], baseline)
        assert contribution == max(INT64_MIN, min(INT64_MAX, oracle_gain(metric, score, base)))
    pool = pool_before_settlement(m, job)
    expected = oracle_shares(pool, {args[1]: args[6] for args in measured})
    assert {args[1]: args[7] for args in measured} == expected
    assert [(args[1], args[4]) for args in notice_args(done, "RewardPaid")] == [
        (sid, expected[sid]) for sid in top if expected[sid]]
    paid = sum(expected.values())
    refund = pool - paid
    assert notice_args(done, "JobSettled") == [(job, "paid" if paid else "refunded", paid, refund)]
    assert credits(done) == [(contributors[sid], expected[sid]) for sid in top if expected[sid]]  # dApp balances
    assert token_payments(done) == ([(SPONSOR, refund)] if refund else [])
    m.assert_value_conserved(job, pool_before_settlement(m, job) - sum(
        args[3] for args in job_notices(m, "StakeSlashed", job)))
    views = {s["id"]: s for s in m.job(job)["submissions"]}
    for sid in top:
        assert views[sid]["reward"] == str(expected[sid])
    return expected


def seed_of(job: int, sub: int) -> int:
    """The protocol's submission seed (PROTOCOL: uint32 of sha256("mlmarket/<job>/<sub>"))."""
    return int.from_bytes(hashlib.sha256(f"mlmarket/{job}/{sub}".encode()).digest()[:4], "big")


def error_code(done) -> str:
    return report_json(done)["error"]["code"]


# --- sharing ---------------------------------------------------------------------------------------

def test_the_k_best_share_the_budget_by_their_score_above_min_score_and_the_best_is_published():
    m = market()
    job = top_k_job(m, budget=1001, k=3, min_score=600_000)
    submit(m, CAROL, job, 0.9)      # 1: +300000
    submit(m, DAVE, job, 0.55)      # 2: below min_score: no place
    submit(m, DAVE, job, 0.7)       # 3: +100000
    submit(m, sybil(1), job, 0.8)   # 4: +200000
    submit(m, sybil(2), job, 0.65)  # 5: fourth: no place with k = 3
    done = settle(m, job)
    amounts = check_settlement(m, job, done, top=[1, 4, 3], baseline=600_000)
    assert sum(amounts.values()) == 1001 and amounts[1] > amounts[4] > amounts[3] > 0
    published = notice_args(done, "ModelPublished")
    assert [(args[0], args[3]) for args in published] == [(job, 900_000)]
    subs = m.job(job)["submissions"]
    assert [s["status"] for s in subs] == ["accepted", "scored", "accepted", "accepted", "scored"]
    assert m.inspect(f"jobs/{job}/leaderboard")["leaderboard"][0]["id"] == 1


def test_rounding_dust_goes_one_unit_each_to_the_largest_remainders_ties_to_the_earliest():
    m = market()
    job = top_k_job(m, budget=1000, k=3, min_score=600_000)
    for i, who in enumerate((CAROL, DAVE, sybil(1))):
        submit(m, who, job, 0.7, variant=i)  # three equal contributions of 100000 from distinct models
    amounts = check_settlement(m, job, settle(m, job), top=[1, 2, 3], baseline=600_000)
    assert amounts == {1: 334, 2: 333, 3: 333}


def test_the_worked_example_of_the_protocol():
    m = market()
    job = top_k_job(m, budget=1000, k=3, min_score=600_000)
    for i, score in enumerate((0.9, 0.8, 0.7)):
        submit(m, sybil(i), job, score)
    amounts = check_settlement(m, job, settle(m, job), top=[1, 2, 3], baseline=600_000)
    assert amounts == {1: 500, 2: 333, 3: 167}  # docs/PROTOCOL.md §4.7, computed by hand
    views = m.job(job)["submissions"]
    assert [v["contribution_millionths"] for v in views] == [300_000, 200_000, 100_000]


@pytest.mark.parametrize("budget", [1, 2, 7, 999_999_999_999_999_999_999])
def test_odd_budgets_are_paid_whole(budget):
    m = market()
    job = top_k_job(m, budget=budget, k=4, min_score=0)
    for i, score in enumerate((0.3, 0.7, 0.11, 0.13)):
        submit(m, sybil(i), job, score)
    amounts = check_settlement(m, job, settle(m, job), top=[2, 1, 4, 3], baseline=0)
    assert sum(amounts.values()) == budget


def test_ties_take_places_in_commit_order_and_k_larger_than_the_qualifying_count_pays_them_all():
    m = market()
    job = top_k_job(m, budget=500, k=2, min_score=600_000)
    submit(m, CAROL, job, 0.8)
    submit(m, DAVE, job, 0.8, other=1)  # the same score, different work: the later commit loses the tie
    submit(m, sybil(1), job, 0.8, other=2)
    check_settlement(m, job, settle(m, job), top=[1, 2], baseline=600_000)

    m = market()
    job = top_k_job(m, budget=500, k=10, min_score=600_000)
    submit(m, CAROL, job, 0.8)
    submit(m, DAVE, job, 0.4)
    submit(m, sybil(1), job, 0.61)
    check_settlement(m, job, settle(m, job), top=[1, 3], baseline=600_000)


def test_a_submission_exactly_at_the_baseline_is_ranked_and_paid_nothing():
    m = market()
    job = top_k_job(m, budget=900, k=3, min_score=600_000)
    submit(m, CAROL, job, 0.6)  # meets min_score exactly: contribution 0
    submit(m, DAVE, job, 0.9)
    amounts = check_settlement(m, job, settle(m, job), top=[2, 1], baseline=600_000)
    assert amounts == {2: 900, 1: 0}
    assert m.job(job)["submissions"][0]["status"] == "scored"


def test_a_trained_base_model_is_the_baseline_and_nothing_above_it_refunds_the_budget():
    m = market()
    base = m.put_model(SPONSOR, 0.75, trained=True)
    job = top_k_job(m, budget=900, k=3, min_score=600_000, base_model_cid=base)
    submit(m, CAROL, job, 0.7)   # qualifies, but below the base: contribution -50000
    submit(m, DAVE, job, 0.85)   # +100000
    submit(m, sybil(1), job, 0.75)  # at the base: 0
    amounts = check_settlement(m, job, settle(m, job), top=[2, 3, 1], baseline=750_000)
    assert amounts == {2: 900, 3: 0, 1: 0}

    m = market()
    base = m.put_model(SPONSOR, 0.95, trained=True)
    job = top_k_job(m, budget=900, k=3, min_score=600_000, base_model_cid=base)
    submit(m, CAROL, job, 0.9)
    submit(m, DAVE, job, 0.95)
    done = settle(m, job)
    check_settlement(m, job, done, top=[2, 1], baseline=950_000)
    assert not notice_args(done, "ModelPublished")  # nobody beat the base: it stays the job's model
    assert m.job(job)["job"]["outcome"] == "refunded"


def test_an_untrained_base_model_leaves_min_score_as_the_baseline():
    m = market()
    base = m.put_model(SPONSOR, 0.99)  # a spec, not trained: data-only submissions would train it
    job = top_k_job(m, budget=100, k=2, min_score=600_000, base_model_cid=base)
    submit(m, CAROL, job, 0.7)
    check_settlement(m, job, settle(m, job), top=[1], baseline=600_000)


def test_nothing_qualifying_refunds_without_contribution_notices():
    m = market()
    job = top_k_job(m, budget=100, k=2, min_score=600_000)
    submit(m, CAROL, job, 0.5)
    done = settle(m, job)
    assert not notice_args(done, "ContributionMeasured")
    check_settlement(m, job, done, top=[], baseline=600_000)


@pytest.mark.parametrize("task, metric", [("regression", "mae"), ("regression", "rmse"),
                                          ("classification", "log_loss")])
def test_losses_rank_lower_first_and_contribute_what_they_save_below_the_baseline(task, metric):
    m = market()
    base = m.put_model(SPONSOR, 0.5, trained=True)  # a loss of 0.5
    job = top_k_job(m, budget=1000, k=3, task=task, metric=metric, min_score=800_000, base_model_cid=base)
    submit(m, CAROL, job, 0.45)      # 1: saves 50000
    submit(m, DAVE, job, 0.9)        # 2: above the maximum loss: no place
    submit(m, sybil(1), job, 0.2)    # 3: saves 300000
    submit(m, sybil(2), job, 0.6)    # 4: worse than the base: -100000
    submit(m, sybil(3), job, 0.7)    # 5: fourth
    amounts = check_settlement(m, job, settle(m, job), top=[3, 1, 4], baseline=500_000)
    assert amounts[3] > amounts[1] > amounts[4] == 0


def test_contributions_beyond_int64_are_clamped_so_the_settlement_still_goes_through():
    m = market()
    base = m.put(SPONSOR, json.dumps({"units": INT64_MIN, "trained": True}).encode())
    job = top_k_job(m, budget=1001, k=2, task="regression", metric="r2", min_score=0, base_model_cid=base)
    submit(m, CAROL, job, 0.9)
    submit(m, DAVE, job, 0.8)
    amounts = check_settlement(m, job, settle(m, job), top=[1, 2], baseline=INT64_MIN)
    assert amounts == {1: 501, 2: 500}  # both clamped to the int64 maximum: equal weights


def test_a_base_model_that_cannot_be_scored_on_the_validation_set_is_refused_at_creation():
    m = market()
    base = m.put_model(SPONSOR, 0.9, trained=True, crash=True)
    s = spec(policy="best", reward_per_accept=0, reward="top_k", top_k=2, base_model_cid=base,
             validation_cid=m.put(SPONSOR, b"x,target\n1,0\n"))
    done = m.deposit(TOKEN, SPONSOR, 100, abi.inputs().encode("createJob", TOKEN.raw, 100, spec_tuple(s)))
    assert error_code(done) == "training_failed"
    assert m.inspect("jobs")["jobs"] == []
    assert m.inspect(f"balances/{SPONSOR.hex}")["balances"] == {TOKEN.hex: "100"}


# --- attacks ---------------------------------------------------------------------------------------

def test_sybils_sending_the_same_model_from_many_addresses_take_one_place():
    m = market()
    job = top_k_job(m, budget=1000, k=3, min_score=600_000)
    model = m.put_model(CAROL, 0.95)
    submit_cid(m, CAROL, job, model)                  # 1
    for i in range(5):
        submit_cid(m, sybil(i), job, model)          # 2..6: the same work
    submit(m, DAVE, job, 0.7)                        # 7
    done = settle(m, job)
    check_settlement(m, job, done, top=[1, 7], baseline=600_000)
    subs = m.job(job)["submissions"]
    assert [s["status"] for s in subs[1:6]] == ["rejected"] * 5
    assert all("submitted earlier in submission 1" in s["error"] for s in subs[1:6])


def test_the_same_model_and_data_resent_for_a_luckier_seed_or_its_trained_model_resent_take_no_place():
    m = market()
    job = top_k_job(m, budget=1000, k=3, min_score=600_000)
    spec_cid, data_cid = m.put_model(CAROL, 0.8), m.put(CAROL, DATA)
    submit_cid(m, CAROL, job, spec_cid, data_cid)                       # 1: trained, scores 0.83
    submit_cid(m, sybil(1), job, spec_cid, data_cid)                    # 2: same input, another seed
    trained = json.dumps({"score": 0.8 + 0.03, "trained": True, "seed": seed_of(job, 1)}).encode()
    submit_cid(m, sybil(2), job, m.put(sybil(2), trained))              # 3: the model 1 yields
    submit(m, DAVE, job, 0.7)                                           # 4
    check_settlement(m, job, settle(m, job), top=[1, 4], baseline=600_000)
    errors = [s["error"] for s in m.job(job)["submissions"]]
    assert "submission 1" in errors[1] and "submission 1" in errors[2]


def test_junk_from_many_addresses_cannot_push_an_honest_submission_out_nor_can_copies_of_it():
    m = market()
    job = top_k_job(m, budget=1000, k=2, min_score=600_000)
    honest = m.put_model(CAROL, 0.8)
    submit_cid(m, CAROL, job, honest)                           # 1
    for i in range(30):
        submit(m, sybil(i), job, 0.3, junk=i)                   # 2..31: below min_score
    for i in range(30, 35):
        submit(m, sybil(i), job, 0.61, junk=i)                  # 32..36: qualify, worse than honest
    for i in range(35, 40):
        submit_cid(m, sybil(i), job, honest)                    # 37..41: copies of the honest model
    done = settle(m, job)
    amounts = check_settlement(m, job, done, top=[1, 32], baseline=600_000)
    assert amounts == {1: 952, 32: 48}  # 1000 x 20/21 = 952.38 and 47.62: the unit left to the larger .62


def test_better_models_take_places_from_an_honest_one_they_deserve_them():
    m = market()
    job = top_k_job(m, budget=1000, k=2, min_score=600_000)
    submit(m, CAROL, job, 0.8)
    submit(m, sybil(1), job, 0.9)
    submit(m, sybil(2), job, 0.85)
    check_settlement(m, job, settle(m, job), top=[2, 3], baseline=600_000)


def test_a_sponsor_cancelling_still_pays_the_fallback_split_one_share_per_piece_of_work():
    m = market()
    job = top_k_job(m, budget=901, k=1, min_score=600_000)
    model = m.put_model(CAROL, 0.9)
    submit_cid(m, CAROL, job, model)     # 1
    submit_cid(m, sybil(1), job, model)  # 2: the sponsor's sybil copies it: no share
    submit(m, DAVE, job, 0.7)            # 3
    submit(m, sybil(2), job, 0.1)        # 4: below min_score
    done = m.call(SPONSOR, "cancelJob", job)
    assert done.accepted, done.reports
    assert not notice_args(done, "ContributionMeasured")
    assert credits(done) == [(CAROL, 451), (DAVE, 450)] and not token_payments(done)
    assert notice_args(done, "JobSettled") == [(job, "split", 901, 0)]
    m.assert_value_conserved(job, 901)


def test_stakes_are_returned_to_valid_submissions_copies_included_and_slashed_stakes_join_the_shares():
    m = market()
    m.deposit(TOKEN, CAROL, 100)
    m.deposit(TOKEN, DAVE, 100)
    m.deposit(TOKEN, sybil(1), 100)
    job = top_k_job(m, budget=1000, k=2, min_score=600_000, stake=10)
    model = m.put_model(CAROL, 0.9)
    submit_cid(m, CAROL, job, model)
    submit_cid(m, sybil(1), job, model)                      # a copy: valid content, stake back
    bad = m.put(DAVE, json.dumps({"bad": True}).encode())
    assert m.submit(DAVE, job, bad).accepted                 # invalid: its stake joins the budget
    submit(m, DAVE, job, 0.8)
    assert [args[1] for args in job_notices(m, "StakeReturned", job)] == [1, 2, 4]
    assert [args[1] for args in job_notices(m, "StakeSlashed", job)] == [3]
    amounts = check_settlement(m, job, settle(m, job), top=[1, 4], baseline=600_000)
    assert sum(amounts.values()) == 1010


# --- a hidden test set -----------------------------------------------------------------------------

def hidden_job(m: RecordedMarket, **overrides: Any) -> int:
    return top_k_job(m, test_commitment=m.commitment(cid_of(TEST_CSV), SALT), reveal_window=WINDOW, **overrides)


def reveal(m: RecordedMarket, job: int):
    m.put(SPONSOR, TEST_CSV)
    done = m.call(SPONSOR, "revealTestSet", job, cid_of(TEST_CSV), SALT, timestamp=DEADLINE)
    assert done.accepted, done.reports
    return done


def test_with_a_hidden_test_set_the_ranking_is_on_the_test_scores_and_copies_take_no_place():
    m = market()
    job = hidden_job(m, budget=1000, k=2, min_score=600_000)
    submit(m, CAROL, job, 0.95, test=0.7)   # 1: best on validation, third on the test set
    model = m.put_model(DAVE, 0.7, test=0.9)
    submit_cid(m, DAVE, job, model)         # 2
    submit_cid(m, sybil(1), job, model)     # 3: a copy
    submit(m, sybil(2), job, 0.7, test=0.8)  # 4
    done = reveal(m, job)
    check_settlement(m, job, done, top=[2, 4], baseline=600_000)
    assert m.job(job)["submissions"][2]["status"] == "rejected"


@pytest.mark.parametrize("on_validation, on_test, expected", [
    (0.8, 0.75, 750_000),   # the test set is harder: the base's test score
    (0.75, 0.85, 750_000),  # the sponsor fitted its base to the test set: capped at the public score
])
def test_with_a_hidden_test_set_the_baseline_is_the_worse_of_the_bases_two_scores(on_validation, on_test, expected):
    m = market()
    base = m.put_model(SPONSOR, on_validation, test=on_test, trained=True)
    job = hidden_job(m, budget=1000, k=3, min_score=600_000, base_model_cid=base)
    submit(m, CAROL, job, 0.9, test=0.82)
    submit(m, DAVE, job, 0.9, test=0.78)
    check_settlement(m, job, reveal(m, job), top=[1, 2], baseline=expected)


class CrashingOnTest(Engine):
    """A model carrying ``"crash_on_test"`` fails to be scored on the hidden test set."""

    def score(self, *, validation, model, **kw):
        if validation == TEST_CSV and json.loads(model).get("crash_on_test"):
            model = json.dumps({"crash": True}).encode()
        return super().score(validation=validation, model=model, **kw)


def test_with_a_hidden_test_set_a_base_that_cannot_be_scored_on_it_keeps_its_validation_score():
    m = RecordedMarket(engine=CrashingOnTest())
    base = m.put_model(SPONSOR, 0.75, test=0.99, trained=True, crash_on_test=True)
    job = hidden_job(m, budget=1000, k=3, min_score=600_000, base_model_cid=base)
    submit(m, CAROL, job, 0.9, test=0.8)
    check_settlement(m, job, reveal(m, job), top=[1], baseline=750_000)


def test_with_a_hidden_test_set_not_revealed_in_time_the_fallback_split_still_applies():
    m = market()
    job = hidden_job(m, budget=1000, k=1, min_score=600_000)
    submit(m, CAROL, job, 0.9)
    submit(m, DAVE, job, 0.7)
    assert m.call(DAVE, "settleJob", job, timestamp=DEADLINE).accepted  # enters the reveal window
    done = m.call(DAVE, "settleJob", job, timestamp=DEADLINE + WINDOW)
    assert not notice_args(done, "ContributionMeasured")
    assert credits(done) == [(CAROL, 500), (DAVE, 500)]  # equal shares, k notwithstanding
    assert notice_args(done, "JobSettled") == [(job, "split", 1000, 0)]


# --- the real engine -------------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_with_the_real_engine_contributions_are_scikit_learns_accuracies_above_the_trained_bases():
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score

    from dapp.ml.engine import Engine as RealEngine

    X, y, columns = shuffled(standardised=False)
    X_train, y_train, X_val, y_val = X[:400], y[:400], X[400:], y[400:]
    engine = RealEngine()
    m = RecordedMarket(engine=engine)
    validation = m.put(SPONSOR, to_csv(X_val, y_val, columns))

    def model_spec(c: float) -> bytes:
        return json.dumps({"estimator": "LogisticRegression", "params": {"C": c, "max_iter": 500}}).encode()

    def accuracy(c: float, rows: int) -> int:
        model = LogisticRegression(C=c, max_iter=500).fit(X_train[:rows], y_train[:rows])
        return round(accuracy_score(y_val, model.predict(X_val)) * 1_000_000)

    base_bytes = engine.score(task="classification", metric="accuracy", label="target",
                              validation=to_csv(X_val, y_val, columns), model=model_spec(0.5),
                              train=to_csv(X_train[:12], y_train[:12], columns)).model_bytes
    base = m.put(SPONSOR, base_bytes)
    job = top_k_job(m, budget=999, k=2, min_score=800_000, validation_cid=validation, base_model_cid=base)
    entries = [(CAROL, 0.5, 400), (DAVE, 0.01, 200), (sybil(1), 0.5, 400)]  # the third copies the first
    for who, c, rows in entries:
        submit_cid(m, who, job, m.put(who, model_spec(c)), m.put(who, to_csv(X_train[:rows], y_train[:rows], columns)))
    scores = {1: accuracy(0.5, 400), 2: accuracy(0.01, 200)}
    baseline = accuracy(0.5, 12)
    top = sorted((sid for sid in scores if scores[sid] >= 800_000), key=lambda s: (-scores[s], s))
    done = settle(m, job)
    measured = notice_args(done, "ContributionMeasured")
    assert [(args[1], args[4], args[5]) for args in measured] == [(sid, scores[sid], baseline) for sid in top]
    check_settlement(m, job, done, top=top, baseline=baseline)
    assert m.job(job)["submissions"][2]["status"] == "rejected"
