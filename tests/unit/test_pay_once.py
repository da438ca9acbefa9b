"""The same work earns at most once per job, whoever names it (issue 12, finding 1(c)).

A submission's work is its model and data CIDs (data alone: the job's model it trains, with the
data) and the model it yields. Through the real dispatch path with the fake engine: threshold,
manual, rounds and the fallback split. Front-running is NOT prevented by this rule (only a commit
before the content can do that): the first submission of some work is the one paid, even a copy.
"""

from dapp.codec.cid import cid_from_text
from dapp.domain.values import Address
from tests.support.market import CAROL, DAVE, NOW, SPONSOR, Market
from tests.unit.test_market_rules import error_code, hidden_job, moves
from tests.unit.test_market_stateful import FederatedFakeEngine

ERIN = Address(b"\xe0" * 20)


def subs(m, job):
    return m.job(job)["submissions"]


def test_one_address_sending_the_same_files_ten_times_is_paid_once():
    m = Market()
    job = m.create_job(1000, reward_per_accept=100)
    model, data = m.put_model(CAROL, 0.9), m.put(CAROL, b"x,target\n1,1\n")
    payments = [moves(m.submit(CAROL, job, model, data)) for _ in range(10)]
    assert payments[0] == ([(CAROL, 100)], []) and payments[1:] == [([], [])] * 9
    rest = subs(m, job)[1:]
    assert {s["status"] for s in rest} == {"rejected"}
    assert all("already paid in submission 1" in s["error"] for s in rest)
    assert m.job(job)["job"]["budget"] == "900"


def paid_then_copied(first, second):
    """``first`` is paid for a model on a threshold job, then ``second`` names the same CIDs and is
    not paid: returns the market and the job."""
    m = Market()
    job = m.create_job(1000, reward_per_accept=100)
    model = m.put_model(CAROL, 0.9)
    assert moves(m.submit(first, job, model)) == ([(first, 100)], [])
    copy = m.submit(second, job, model)
    assert copy.accepted and moves(copy) == ([], [])
    return m, job


def test_a_copier_naming_paid_cids_is_not_paid_and_other_work_still_is():
    m, job = paid_then_copied(CAROL, DAVE)
    assert subs(m, job)[1]["status"] == "rejected"
    assert "the same model and data were already paid in submission 1" in subs(m, job)[1]["error"]
    assert moves(m.submit(DAVE, job, m.put_model(DAVE, 0.91))) == ([(DAVE, 100)], [])


def test_an_unpaid_submission_does_not_block_the_same_work_later():
    m = Market()
    job = m.create_job(1000, reward_per_accept=100, min_score=950_000)
    model, data = m.put_model(CAROL, 0.9), m.put(CAROL, b"x,target\n" + b"1,1\n" * 5)
    assert moves(m.submit(CAROL, job, model)) == ([], [])  # 0.9 < 0.95: not paid, so not "the same paid work"
    assert moves(m.submit(DAVE, job, model, data)) == ([(DAVE, 100)], [])  # 0.9 + 6 lines x 0.01 = 0.96


def test_a_copy_sent_first_is_the_one_paid_front_running_needs_commit_before_content():
    # Everything on a rollup is public: DAVE sees CAROL's upload and submits its CIDs first. Paying
    # work once does not tell the author from the copier; only a commit before the content can.
    m, job = paid_then_copied(DAVE, CAROL)
    assert "already paid in submission 1" in subs(m, job)[1]["error"]


def test_the_model_a_paid_submission_trained_is_not_paid_again_as_a_model():
    m = Market()
    job = m.create_job(1000, reward_per_accept=100)
    data = m.put(CAROL, b"x,target\n1,1\n")
    assert moves(m.submit(CAROL, job, m.put_model(CAROL, 0.9), data)) == ([(CAROL, 100)], [])
    trained = cid_from_text(subs(m, job)[0]["trained_model_cid"])  # published: anyone may name it
    copy = m.submit(DAVE, job, trained)
    assert copy.accepted and moves(copy) == ([], [])
    assert "the same trained model was already paid in submission 1" in subs(m, job)[1]["error"]


def test_manual_copies_of_earlier_work_are_rejected_when_scored_so_neither_review_nor_default_pays_them():
    m = Market()
    job = m.create_job(1000, policy="manual", reward_per_accept=100, accept_by_default=True)
    model = m.put_model(CAROL, 0.9)
    for who in (CAROL, DAVE, ERIN):
        m.submit(who, job, model)
    m.submit(ERIN, job, m.put_model(ERIN, 0.8))
    assert [s["status"] for s in subs(m, job)] == ["scored", "rejected", "rejected", "scored"]
    assert "submitted earlier in submission 1" in subs(m, job)[1]["error"]
    copy = m.call(SPONSOR, "reviewSubmission", job, 2, True)
    assert not copy.accepted and error_code(copy) == "not_reviewable"
    assert moves(m.call(SPONSOR, "reviewSubmission", job, 1, True)) == ([(CAROL, 100)], [])
    settle = m.call(CAROL, "settleJob", job, timestamp=NOW + 1000)
    assert moves(settle) == ([(ERIN, 100)], [(SPONSOR, 800)])  # submission 4 only: 2 and 3 copy 1's work
    assert [s["status"] for s in subs(m, job)] == ["accepted", "rejected", "rejected", "accepted"]


def rounds_job(m, **kw):
    base = m.put_model(SPONSOR, 0.5)
    return m.create_job(1000, policy="rounds", rounds=2, round_quota=0, round_duration=100,
                        reward_per_accept=100, base_model_cid=base, min_score=0, tolerance=500_000, **kw)


def test_the_same_update_joins_a_round_once_and_is_not_paid_again_in_a_later_round():
    m = Market(engine=FederatedFakeEngine())
    job = rounds_job(m)
    update = m.put_model(CAROL, 0.9)
    assert m.submit(CAROL, job, update).accepted
    copy = m.submit(DAVE, job, update)
    assert copy.accepted and subs(m, job)[1]["status"] == "rejected"
    assert "already update 1 of round 0" in subs(m, job)[1]["error"]
    close = m.call(ERIN, "settleJob", job, timestamp=NOW + 100)
    assert moves(close) == ([(CAROL, 100)], [])
    later = m.submit(DAVE, job, update, timestamp=NOW + 150)
    assert later.accepted and subs(m, job)[2]["status"] == "rejected"
    assert "already paid in submission 1" in subs(m, job)[2]["error"]
    assert moves(m.call(ERIN, "settleJob", job, timestamp=NOW + 200)) == ([], [(SPONSOR, 900)])


def test_a_fallback_split_pays_each_piece_of_work_one_share_the_earliest_holder():
    m = Market()
    job, *_ = hidden_job(m)
    model = m.put_model(CAROL, 0.8)
    for who in (CAROL, DAVE, ERIN):
        m.submit(who, job, model)
    m.submit(DAVE, job, m.put_model(DAVE, 0.85))
    m.call(DAVE, "settleJob", job, timestamp=NOW + 1000)
    done = m.call(DAVE, "settleJob", job, timestamp=NOW + 1500)
    assert moves(done) == ([(CAROL, 300), (DAVE, 300)], [])  # submissions 1 and 4; 2 and 3 copy 1
    assert [s["reward"] for s in subs(m, job)] == ["300", "0", "0", "300"]
