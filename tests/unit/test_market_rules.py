"""Market rules through the real dispatch path, with a fake engine (scores chosen by the test)."""

import json

import pytest

from dapp.codec import abi
from dapp.codec.commitment import submission_commitment
from dapp.domain.limits import Limits
from tests.support.market import CAROL, DAVE, NOW, SPONSOR, Market
from tests.support.rollup import TOKEN, credits, notice_args, notice_names, report_json
from tests.support.rollup import token_payments as paid

COMMIT_WINDOW = Limits().commit_window


def error_code(done):
    return report_json(done)["error"]["code"]


def moves(done):
    """What an input paid: (rewards and returned stakes, credited to the contributors' dApp balances
    by default; vouchers, e.g. refunds to the sponsor)."""
    return credits(done), paid(done)


def committed(m, who, job, model, data=b"", **kw) -> bytes:
    """``who`` commits to (``model``, ``data``); the salt that reveals it."""
    done, salt = m.commit(who, job, model, data, **kw)
    assert done.accepted and "SubmissionCommitted" in notice_names(done), done.reports
    return salt


def assert_conserved(m, deposited, dones):
    """Every token deposited (``deposited``) is in a free balance, a job's budget, a stake still
    locked by a bare commit, or paid out by one of the inputs ``dones``."""
    free = sum(int(m.inspect(f"balances/{a.hex}")["balances"].get(TOKEN.hex, 0))
               for a in (SPONSOR, CAROL, DAVE))
    jobs = m.inspect("jobs")["jobs"]
    budgets = sum(int(j["budget"]) for j in jobs)
    locked = sum(int(s["stake"]) for j in jobs for s in m.job(j["id"])["submissions"]
                 if s["status"] == "committed")
    assert deposited == free + budgets + locked + sum(amount for done in dones for _, amount in paid(done))


def test_threshold_pays_each_qualifying_submission_and_refunds_the_rest_at_the_deadline():
    m = Market()
    job = m.create_job(250, reward_per_accept=100)
    good, bad = m.put_model(CAROL, 0.9), m.put_model(DAVE, 0.5)
    first = m.submit(CAROL, job, good)
    assert moves(first) == ([(CAROL, 100)], [])
    assert "ModelPublished" in notice_names(first)
    low = m.submit(DAVE, job, bad)
    assert low.accepted and moves(low) == ([], [])
    sub = m.job(job)["submissions"][1]
    assert (sub["score"], sub["accepted"], sub["status"]) == (0.5, False, "rejected")
    settle = m.call(DAVE, "settleJob", job, timestamp=NOW + 1000)
    assert moves(settle) == ([], [(SPONSOR, 150)])
    view = m.job(job)["job"]
    assert (view["status"], view["outcome"], view["budget"]) == ("ended", "paid", "0")


def test_threshold_job_ends_when_the_budget_cannot_pay_another_reward():
    m = Market()
    job = m.create_job(250, reward_per_accept=100)
    model = m.put_model(CAROL, 0.95)
    m.submit(CAROL, job, model)
    second = m.submit(DAVE, job, m.put_model(DAVE, 0.96))  # other work: the same model is paid once
    assert moves(second) == ([(DAVE, 100)], [(SPONSOR, 50)])
    assert m.job(job)["job"]["status"] == "ended"
    late = m.submit(CAROL, job, model)
    assert not late.accepted and error_code(late) == "job_closed"


def test_min_gain_requires_beating_the_best_accepted_score():
    m = Market()
    job = m.create_job(1000, reward_per_accept=100, min_gain=50_000)
    m.submit(CAROL, job, m.put_model(CAROL, 0.85))
    assert moves(m.submit(DAVE, job, m.put_model(DAVE, 0.88))) == ([], [])  # +0.03 < 0.05
    assert moves(m.submit(DAVE, job, m.put_model(DAVE, 0.91))) == ([(DAVE, 100)], [])


def test_a_data_only_submission_that_trains_the_base_model_sets_the_bar_for_min_gain():
    # the whole-market state machine's oracle once missed this: data alone trains the job's base model
    m = Market()
    base = m.put_model(SPONSOR, 0.80)
    job = m.create_job(1000, reward_per_accept=100, min_gain=50_000, base_model_cid=base)
    data = m.put(CAROL, b"x,target\n" + b"1,1\n" * 4)  # 5 lines: the base model trained scores 0.85
    assert moves(m.submit(CAROL, job, b"", data)) == ([(CAROL, 100)], [])
    assert m.job(job)["job"]["best_score"] == 0.85
    assert moves(m.submit(DAVE, job, m.put_model(DAVE, 0.88))) == ([], [])  # +0.03 < 0.05 over the trained base
    assert moves(m.submit(DAVE, job, m.put_model(DAVE, 0.90))) == ([(DAVE, 100)], [])


def test_training_data_is_used_and_the_trained_model_is_published_and_fetchable():
    m = Market()
    job = m.create_job(1000, reward_per_accept=100)
    data = m.put(CAROL, b"x,target\n" + b"1,1\n" * 12)  # 13 lines: +0.13
    done = m.submit(CAROL, job, m.put_model(CAROL, 0.7), data)
    assert moves(done) == ([(CAROL, 100)], [])
    view = m.job(job)
    trained = view["submissions"][0]["trained_model_cid"]
    assert view["job"]["model_cid"] == trained
    stored = m.inspect(f"contents/{trained}/data")
    assert json.loads(bytes.fromhex(stored["data"][2:]))["trained"] is True


def test_seeds_differ_per_submission_and_are_fixed_by_ids():
    engine_a, engine_b = Market().app.env.engine, None
    m = Market(engine=engine_a)
    job = m.create_job(1000)
    model, data = m.put_model(CAROL, 0.1), m.put(CAROL, b"a\n")
    m.submit(CAROL, job, model, data)
    m.submit(CAROL, job, model, data)
    seeds = [call[3] for call in engine_a.calls]
    assert seeds[0] != seeds[1] and all(0 <= s < 2**32 for s in seeds)
    assert engine_b is None


def test_revealing_content_that_is_not_stored_is_rejected_and_changes_nothing():
    m = Market()
    job = m.create_job(1000)
    model = b"\x01\x55\x12\x20" + bytes(32)
    salt = committed(m, CAROL, job, model)
    before = m.job(job)
    missing = m.reveal(CAROL, job, model, b"", salt)
    assert not missing.accepted and error_code(missing) == "content_missing"
    assert m.job(job) == before


def test_invalid_model_without_stake_is_rejected_at_the_reveal():
    m = Market()
    job = m.create_job(1000)
    model = m.put_model(CAROL, 0.9, bad=True)
    salt = committed(m, CAROL, job, model)
    before = m.job(job)
    done = m.reveal(CAROL, job, model, b"", salt)
    assert not done.accepted and error_code(done) == "bad_model"
    assert m.job(job) == before and before["submissions"][0]["status"] == "committed"


def test_stake_is_returned_for_a_valid_submission_and_slashed_into_the_budget_otherwise():
    m = Market()
    job = m.create_job(1000, stake=30)
    m.deposit(TOKEN, CAROL, 100)
    good = m.submit(CAROL, job, m.put_model(CAROL, 0.9))
    assert moves(good) == ([(CAROL, 30), (CAROL, 100)], [])  # the stake back, then the reward
    bad = m.submit(CAROL, job, m.put_model(CAROL, 0.9, bad=True))
    assert bad.accepted and moves(bad) == ([], [])
    assert "StakeSlashed" in notice_names(bad)
    assert m.job(job)["job"]["budget"] == str(1000 - 100 + 30)
    assert m.job(job)["submissions"][1]["status"] == "invalid"
    assert m.inspect(f"balances/{CAROL.hex}")["balances"] == {TOKEN.hex: str(100 - 30 + 30 + 100 - 30)}


def test_submission_without_the_stake_in_balance_is_rejected():
    m = Market()
    job = m.create_job(1000, stake=30)
    done = m.submit(CAROL, job, m.put_model(CAROL, 0.9))
    assert not done.accepted and error_code(done) == "insufficient_balance"


def test_stake_can_travel_as_a_deposit_carrying_the_submission():
    m = Market()
    job = m.create_job(1000, stake=30)
    model, salt = m.put_model(CAROL, 0.9), b"\x01" * 32
    commitment = submission_commitment(CAROL.hex, job, model, b"", salt)
    done = m.deposit(TOKEN, CAROL, 30, abi.inputs().encode("commitSubmission", job, commitment))
    assert done.accepted and "SubmissionCommitted" in notice_names(done) and moves(done) == ([], [])
    assert m.inspect(f"balances/{CAROL.hex}")["balances"].get(TOKEN.hex, "0") == "0"  # locked as the stake
    revealed = m.reveal(CAROL, job, model, b"", salt)
    assert revealed.accepted and moves(revealed) == ([(CAROL, 30), (CAROL, 100)], [])
    assert m.inspect(f"balances/{CAROL.hex}")["balances"] == {TOKEN.hex: "130"}  # both credited


def test_manual_review_pays_on_accept_and_default_applies_at_the_deadline():
    m = Market()
    job = m.create_job(1000, policy="manual", reward_per_accept=100, accept_by_default=True)
    for n, who in enumerate((CAROL, DAVE, CAROL)):  # three different models (the same one is paid once)
        assert moves(m.submit(who, job, m.put_model(who, 0.9, n=n))) == ([], [])
    assert not m.call(CAROL, "reviewSubmission", job, 1, True).accepted  # not the sponsor
    assert moves(m.call(SPONSOR, "reviewSubmission", job, 1, True)) == ([(CAROL, 100)], [])
    assert moves(m.call(SPONSOR, "reviewSubmission", job, 2, False)) == ([], [])
    again = m.call(SPONSOR, "reviewSubmission", job, 2, True)
    assert not again.accepted and error_code(again) == "not_reviewable"
    settle = m.call(DAVE, "settleJob", job, timestamp=NOW + 1000)
    assert moves(settle) == ([(CAROL, 100)], [(SPONSOR, 800)])
    statuses = [s["status"] for s in m.job(job)["submissions"]]
    assert statuses == ["accepted", "rejected", "accepted"]


def test_a_delegate_may_review():
    m = Market()
    job = m.create_job(1000, policy="manual", reward_per_accept=100)
    m.submit(CAROL, job, m.put_model(CAROL, 0.9))
    assert m.call(SPONSOR, "setDelegate", job, DAVE.raw, True).accepted
    assert moves(m.call(DAVE, "reviewSubmission", job, 1, True)) == ([(CAROL, 100)], [])


def test_cancel_refunds_the_remaining_budget_to_the_sponsor_only():
    m = Market()
    job = m.create_job(500, reward_per_accept=100)
    m.submit(CAROL, job, m.put_model(CAROL, 0.9))
    assert error_code(m.call(CAROL, "cancelJob", job)) == "forbidden"
    done = m.call(SPONSOR, "cancelJob", job)
    assert moves(done) == ([], [(SPONSOR, 400)]) and "JobCancelled" in notice_names(done)
    assert error_code(m.call(SPONSOR, "cancelJob", job)) == "job_closed"


def test_best_pays_the_best_score_after_the_deadline_ties_to_the_earliest():
    m = Market()
    job = m.create_job(900, policy="best", reward_per_accept=0, min_score=600_000)
    m.submit(CAROL, job, m.put_model(CAROL, 0.8))
    m.submit(DAVE, job, m.put_model(DAVE, 0.9))
    m.submit(CAROL, job, m.put_model(CAROL, 0.9, other=1))
    assert m.inspect(f"jobs/{job}/leaderboard")["leaderboard"][0]["contributor"] == DAVE.hex
    done = m.call(CAROL, "settleJob", job, timestamp=NOW + 1000)
    assert moves(done) == ([(DAVE, 900)], [])
    assert m.job(job)["job"]["outcome"] == "paid"


def test_best_rejects_a_copy_of_earlier_work_so_another_seed_cannot_take_the_prize():
    m = Market()
    job = m.create_job(900, policy="best", reward_per_accept=0, min_score=600_000)
    model, data = m.put_model(CAROL, 0.8), m.put(CAROL, b"x,target\n1,0\n2,1\n")
    m.submit(CAROL, job, model, data)
    m.submit(DAVE, job, model, data)  # the same files again: a new training seed, the same work
    subs = {s["contributor"]: s for s in m.job(job)["submissions"]}
    assert subs[DAVE.hex]["status"] == "rejected" and "submission 1" in subs[DAVE.hex]["error"]
    assert m.job(job)["job"]["best_submission"] == 1
    done = m.call(CAROL, "settleJob", job, timestamp=NOW + 1000)
    assert [(args[1], args[4]) for args in notice_args(done, "RewardPaid")] == [(1, 900)]


def test_best_without_a_qualifying_score_refunds_everything():
    m = Market()
    job = m.create_job(900, policy="best", reward_per_accept=0, min_score=950_000)
    m.submit(CAROL, job, m.put_model(CAROL, 0.8))
    done = m.call(CAROL, "settleJob", job, timestamp=NOW + 1000)
    assert moves(done) == ([], [(SPONSOR, 900)]) and m.job(job)["job"]["outcome"] == "refunded"


def test_best_job_cancelled_after_submissions_splits_the_budget_among_the_qualifying_ones():
    m = Market()
    job = m.create_job(901, policy="best", reward_per_accept=0)  # min_score 0.8
    m.submit(CAROL, job, m.put_model(CAROL, 0.8))
    m.submit(DAVE, job, m.put_model(DAVE, 0.1))
    m.submit(DAVE, job, m.put_model(DAVE, 0.9))
    done = m.call(SPONSOR, "cancelJob", job)
    assert moves(done) == ([(CAROL, 451), (DAVE, 450)], [])  # the 0.1 submission earns nothing
    assert [s["reward"] for s in m.job(job)["submissions"]] == ["451", "0", "450"]


def hidden_job(m, **kw):
    test_csv = b"x,target\n2,1\n"
    salt = b"\x07" * 32
    test_cid = b"\x01\x55\x12\x20" + __import__("hashlib").sha256(test_csv).digest()
    job = m.create_job(600, policy="best", reward_per_accept=0,
                       test_commitment=m.commitment(test_cid, salt), reveal_window=500, **kw)
    return job, test_csv, test_cid, salt


def test_hidden_test_set_reveal_scores_every_submission_and_pays_the_best():
    m = Market()
    job, test_csv, test_cid, salt = hidden_job(m)
    m.submit(CAROL, job, m.put_model(CAROL, 0.7))
    m.submit(DAVE, job, m.put_model(DAVE, 0.85))
    assert m.job(job)["submissions"][0]["status"] == "stored"
    early = m.call(SPONSOR, "revealTestSet", job, test_cid, salt)
    assert not early.accepted and error_code(early) == "not_revealing"
    late_submit = m.submit(CAROL, job, m.put_model(CAROL, 0.99), timestamp=NOW + 1000)
    assert not late_submit.accepted
    assert m.put(SPONSOR, test_csv) == test_cid
    wrong = m.call(SPONSOR, "revealTestSet", job, test_cid, b"\x08" * 32)
    assert not wrong.accepted and error_code(wrong) == "bad_reveal"
    assert error_code(m.call(CAROL, "revealTestSet", job, test_cid, salt)) == "forbidden"
    done = m.call(SPONSOR, "revealTestSet", job, test_cid, salt)
    assert done.accepted and moves(done) == ([(DAVE, 600)], [])
    assert "TestSetRevealed" in notice_names(done)


def test_no_reveal_in_time_splits_the_budget_among_submissions_qualifying_on_the_validation_set():
    m = Market()
    job, _, test_cid, salt = hidden_job(m)
    m.submit(CAROL, job, m.put_model(CAROL, 0.7))
    m.submit(DAVE, job, m.put_model(DAVE, 0.85))
    m.submit(CAROL, job, m.put_model(CAROL, 0.9))
    m.call(DAVE, "settleJob", job, timestamp=NOW + 1000)  # enters the reveal window
    assert m.job(job)["job"]["status"] == "revealing"
    done = m.call(DAVE, "settleJob", job, timestamp=NOW + 1500)  # scores them, then splits
    assert moves(done) == ([(DAVE, 300), (CAROL, 300)], [])  # 0.7 is below min_score (0.8)
    assert m.job(job)["job"]["outcome"] == "split"
    assert error_code(m.call(SPONSOR, "revealTestSet", job, test_cid, salt)) == "not_revealing"


def test_gated_job_needs_access_granted_by_the_sponsor():
    m = Market()
    job = m.create_job(1000, gated=True)
    model = m.put_model(CAROL, 0.9)
    assert error_code(m.submit(CAROL, job, model)) == "no_access"
    assert m.call(CAROL, "requestAccess", job, b"\x04pubkey").accepted
    assert error_code(m.call(DAVE, "setAccess", job, CAROL.raw, True)) == "forbidden"
    assert m.call(SPONSOR, "setAccess", job, CAROL.raw, True).accepted
    assert moves(m.submit(CAROL, job, model)) == ([(CAROL, 100)], [])
    m.call(SPONSOR, "setAccess", job, CAROL.raw, False)
    assert error_code(m.submit(CAROL, job, model)) == "no_access"


def test_the_access_query_shows_requests_grants_and_delegates():
    m = Market()
    job = m.create_job(1000, gated=True)
    empty = {"ok": True, "job": job, "gated": True, "sponsor": SPONSOR.hex, "requests": [], "granted": [],
             "delegates": [], "total": 0, "offset": 0, "limit": 100, "next": None}
    assert m.inspect(f"jobs/{job}/access") == empty
    assert m.call(DAVE, "requestAccess", job, b"\x04dave").accepted
    assert m.call(CAROL, "requestAccess", job, b"").accepted
    assert m.call(SPONSOR, "setDelegate", job, DAVE.raw, True).accepted
    assert m.call(DAVE, "setAccess", job, CAROL.raw, True).accepted  # a delegate grants
    view = m.inspect(f"jobs/{job}/access")
    assert view["requests"] == [{"account": CAROL.hex, "public_key": "0x"},
                                {"account": DAVE.hex, "public_key": "0x" + b"\x04dave".hex()}]
    assert (view["granted"], view["delegates"]) == ([CAROL.hex], [DAVE.hex])
    assert m.call(SPONSOR, "setAccess", job, CAROL.raw, False).accepted
    assert m.call(SPONSOR, "setDelegate", job, DAVE.raw, False).accepted
    view = m.inspect(f"jobs/{job}/access")
    assert (view["granted"], view["delegates"], len(view["requests"])) == ([], [], 2)
    assert m.inspect(f"jobs/{m.create_job(1000)}/access")["gated"] is False


def test_per_contributor_submission_limit():
    m = Market()
    job = m.create_job(10_000, max_submissions=2, min_score=990_000)
    model = m.put_model(CAROL, 0.5)
    assert m.submit(CAROL, job, model).accepted and m.submit(CAROL, job, model).accepted
    assert error_code(m.submit(CAROL, job, model)) == "too_many_submissions"
    assert m.submit(DAVE, job, model).accepted


@pytest.mark.parametrize("overrides, fragment", [
    (dict(policy="lottery"), "policy"),
    (dict(metric="r2"), "metric"),
    (dict(deadline=NOW - 1), "deadline"),
    (dict(reward_per_accept=0), "reward_per_accept"),
    (dict(reward_per_accept=5000), "reward_per_accept"),
    (dict(label=""), "label"),
    (dict(title="x" * 201), "title"),
    (dict(policy="manual", test_commitment=b"\x01" * 32, reveal_window=10), "hidden test"),
])
def test_bad_specs_are_reported_and_the_deposit_stays_credited(overrides, fragment):
    m = Market()
    validation = m.put(SPONSOR, b"x,target\n1,0\n")
    from tests.support.market import spec, spec_tuple
    s = spec(validation_cid=validation, **overrides)
    done = m.deposit(TOKEN, SPONSOR, 1000, abi.inputs().encode("createJob", TOKEN.raw, 1000, spec_tuple(s)))
    assert done.accepted
    error = report_json(done)["error"]
    assert error["code"] == "bad_spec" and fragment in error["message"]
    assert m.inspect(f"balances/{SPONSOR.hex}")["balances"] == {TOKEN.hex: "1000"}
    assert m.inspect("jobs")["jobs"] == []


def test_history_records_the_jobs_events_in_order():
    m = Market()
    job = m.create_job(300, reward_per_accept=100)
    m.submit(CAROL, job, m.put_model(CAROL, 0.9))
    types = [e["type"] for e in m.inspect(f"jobs/{job}/history")["history"]]
    assert types == ["JobCreated", "SubmissionCommitted", "SubmissionReceived", "SubmissionScored",
                     "RewardPaid", "ModelPublished"]


def test_top_up_adds_to_the_budget_from_anyones_balance():
    m = Market()
    job = m.create_job(100, reward_per_accept=100, min_score=990_000)
    m.deposit(TOKEN, CAROL, 50)
    assert m.call(CAROL, "topUpJob", job, 50).accepted
    assert m.job(job)["job"]["budget"] == "150"


def test_threshold_current_model_is_the_best_accepted_one():
    m = Market()
    job = m.create_job(1000, reward_per_accept=100, min_score=500_000)
    best = m.put_model(CAROL, 0.9)
    m.submit(CAROL, job, best)
    lower = m.submit(DAVE, job, m.put_model(DAVE, 0.8))
    assert moves(lower) == ([(DAVE, 100)], []) and "ModelPublished" not in notice_names(lower)
    view = m.job(job)["job"]
    assert (view["best_submission"], view["best_score"]) == (1, 0.9)


def test_manual_accept_publishes_the_trained_model():
    m = Market()
    job = m.create_job(1000, policy="manual", reward_per_accept=100)
    data = m.put(CAROL, b"x,target\n1,1\n")
    m.submit(CAROL, job, m.put_model(CAROL, 0.5), data)
    done = m.call(SPONSOR, "reviewSubmission", job, 1, True)
    assert "ModelPublished" in notice_names(done)
    view = m.job(job)
    assert view["job"]["model_cid"] == view["submissions"][0]["trained_model_cid"] is not None


def test_zero_top_up_is_refused():
    m = Market()
    job = m.create_job(100, reward_per_accept=100)
    assert error_code(m.call(SPONSOR, "topUpJob", job, 0)) == "bad_amount"


# --- commit order: a submission's place is its commit, whatever the order of the reveals ----------

def test_a_copier_committing_after_the_honest_contributor_is_not_paid_even_when_revealing_first():
    m = Market()
    job = m.create_job(1000, reward_per_accept=100)
    model = m.put_model(CAROL, 0.9)  # uploaded before the reveal: public, so DAVE can copy it
    honest = committed(m, CAROL, job, model)
    copy = committed(m, DAVE, job, model, timestamp=NOW + 10)
    early = m.reveal(DAVE, job, model, b"", copy, timestamp=NOW + 20)
    assert early.accepted and moves(early) == ([], []) and "SubmissionScored" not in notice_names(early)
    assert [s["status"] for s in m.job(job)["submissions"]] == ["committed", "revealed"]
    done = m.reveal(CAROL, job, model, b"", honest, timestamp=NOW + 30)
    assert moves(done) == ([(CAROL, 100)], [])
    first, second = m.job(job)["submissions"]
    assert (first["status"], first["reward"]) == ("accepted", "100")
    assert (second["status"], second["reward"]) == ("rejected", "0")
    assert m.job(job)["job"]["best_submission"] == 1
    assert_conserved(m, 1000, [early, done])


def test_a_copy_in_the_same_block_still_comes_after_the_earlier_commit():
    m = Market()
    job = m.create_job(1000, reward_per_accept=100)
    model = m.put_model(CAROL, 0.9)
    honest = committed(m, CAROL, job, model, timestamp=NOW + 5)
    copy = committed(m, DAVE, job, model, timestamp=NOW + 5)  # the same timestamp: order is the inputs'
    early = m.reveal(DAVE, job, model, b"", copy, timestamp=NOW + 5)
    done = m.reveal(CAROL, job, model, b"", honest, timestamp=NOW + 5)
    assert moves(early) == ([], []) and moves(done) == ([(CAROL, 100)], [])
    assert [s["status"] for s in m.job(job)["submissions"]] == ["accepted", "rejected"]
    assert_conserved(m, 1000, [early, done])


@pytest.mark.parametrize("who, salt", [(CAROL, b"\x99" * 32), (DAVE, None)],
                         ids=["wrong salt", "other account"])
def test_a_reveal_with_the_wrong_salt_or_from_another_account_is_bad_reveal_and_changes_nothing(who, salt):
    m = Market()
    job = m.create_job(1000, reward_per_accept=100, stake=30)
    m.deposit(TOKEN, CAROL, 30)
    model = m.put_model(CAROL, 0.9)
    good_salt = committed(m, CAROL, job, model)
    before = m.job(job)
    done = m.reveal(who, job, model, b"", salt or good_salt)
    assert not done.accepted and error_code(done) == "bad_reveal" and not done.vouchers
    assert m.job(job) == before
    right = m.reveal(CAROL, job, model, b"", good_salt)  # the committer's own reveal still works
    assert moves(right) == ([(CAROL, 30), (CAROL, 100)], [])
    assert_conserved(m, 1030, [right])


@pytest.mark.parametrize("late", ["commit_window", "deadline"])
def test_a_reveal_after_the_commit_window_or_the_deadline_is_too_late_and_changes_nothing(late):
    m = Market()
    deadline = NOW + (2 * COMMIT_WINDOW if late == "commit_window" else 1000)
    job = m.create_job(1000, reward_per_accept=100, deadline=deadline)
    model = m.put_model(CAROL, 0.9)
    salt = committed(m, CAROL, job, model)
    before = m.job(job)
    at = NOW + COMMIT_WINDOW if late == "commit_window" else deadline
    done = m.reveal(CAROL, job, model, b"", salt, timestamp=at)
    assert not done.accepted and error_code(done) == "reveal_too_late" and not done.vouchers
    assert m.job(job) == before
    assert_conserved(m, 1000, [])


def test_an_expired_commit_is_slashed_into_the_budget_and_the_queue_moves_on():
    m = Market()
    job = m.create_job(1000, reward_per_accept=100, stake=30, deadline=NOW + 2 * COMMIT_WINDOW)
    for who in (CAROL, DAVE):
        m.deposit(TOKEN, who, 30)
    unrevealed = m.put_model(CAROL, 0.9)
    unrevealed_salt = committed(m, CAROL, job, unrevealed)  # not revealed in time
    model = m.put_model(DAVE, 0.95)
    salt = committed(m, DAVE, job, model, timestamp=NOW + 60)
    waiting = m.reveal(DAVE, job, model, b"", salt, timestamp=NOW + 120)
    assert waiting.accepted and moves(waiting) == ([(DAVE, 30)], [])  # the stake back; the decision waits
    assert m.job(job)["submissions"][1]["status"] == "revealed"
    early = m.call(SPONSOR, "settleJob", job, timestamp=NOW + COMMIT_WINDOW - 1)
    assert not early.accepted and error_code(early) == "nothing_to_settle"
    done = m.call(SPONSOR, "settleJob", job, timestamp=NOW + COMMIT_WINDOW)
    assert done.accepted and moves(done) == ([(DAVE, 100)], []) and "StakeSlashed" in notice_names(done)
    carol, dave = m.job(job)["submissions"]
    assert (carol["status"], dave["status"], dave["reward"]) == ("expired", "accepted", "100")
    assert m.job(job)["job"]["budget"] == str(1000 + 30 - 100)
    assert m.inspect(f"balances/{CAROL.hex}")["balances"].get(TOKEN.hex, "0") == "0"
    late = m.reveal(CAROL, job, unrevealed, b"", unrevealed_salt, timestamp=NOW + COMMIT_WINDOW)
    assert not late.accepted and error_code(late) == "reveal_too_late"
    assert_conserved(m, 1060, [waiting, done])


def test_a_sponsor_holding_the_queue_with_its_own_commit_cannot_cancel_past_an_honest_reveal():
    m = Market()
    job = m.create_job(500, reward_per_accept=100)
    committed(m, SPONSOR, job, m.put_model(SPONSOR, 0.1))  # the sponsor's own commit, never revealed
    model = m.put_model(CAROL, 0.9)
    salt = committed(m, CAROL, job, model)
    waiting = m.reveal(CAROL, job, model, b"", salt)
    assert waiting.accepted and moves(waiting) == ([], [])  # waits behind the sponsor's commit
    done = m.call(SPONSOR, "cancelJob", job)  # takes effect once the open commit is revealed or expires
    assert done.accepted and moves(done) == ([], []) and m.job(job)["job"]["cancelling"] is True
    late = m.submit(DAVE, job, m.put_model(DAVE, 0.95))
    assert not late.accepted and error_code(late) == "job_closed"
    ended = m.call(DAVE, "settleJob", job, timestamp=NOW + 6 * 3600)  # the sponsor's commit expires
    assert ended.accepted and moves(ended) == ([(CAROL, 100)], [(SPONSOR, 400)])
    sponsors, carols = m.job(job)["submissions"]
    assert (sponsors["status"], carols["status"]) == ("expired", "accepted")
    assert m.job(job)["job"]["outcome"] == "cancelled"
    assert_conserved(m, 500, [waiting, done, ended])


def test_best_ties_go_to_the_earlier_commit_not_the_earlier_reveal():
    m = Market()
    job = m.create_job(900, policy="best", reward_per_accept=0, min_score=600_000)
    carols, daves = m.put_model(CAROL, 0.9), m.put_model(DAVE, 0.9, other=1)
    carol_salt = committed(m, CAROL, job, carols)
    dave_salt = committed(m, DAVE, job, daves, timestamp=NOW + 10)
    dave = m.reveal(DAVE, job, daves, b"", dave_salt, timestamp=NOW + 20)
    carol = m.reveal(CAROL, job, carols, b"", carol_salt, timestamp=NOW + 30)
    assert dave.accepted and carol.accepted
    assert m.job(job)["job"]["best_submission"] == 1
    done = m.call(DAVE, "settleJob", job, timestamp=NOW + 1000)
    assert moves(done) == ([(CAROL, 900)], []) and m.job(job)["job"]["outcome"] == "paid"
    assert_conserved(m, 900, [dave, carol, done])
