"""Private updates in a federated job's rules (issue 16), with the fake engine: the clip bound refuses
an update past the job's clip_norm, a declared (epsilon, delta) is recorded in the submission and
noticed (PrivacyDeclared with the measured distance) when the update joins a round, a declaration on
a job without a clip_norm is refused, and a declaration belongs to the submission that committed it."""

import json

from dapp.domain import privacy
from tests.support.market import CAROL, DAVE, NOW, SPONSOR, Market
from tests.support.rollup import TOKEN
from tests.support.rollup import notice_args as decoded
from tests.support.rollup import notice_names as names
from tests.unit.test_market_stateful import FederatedFakeEngine

ERIN = type(CAROL)(b"\xe0" * 20)
CLIP = 1_000_000
EPSILON, DELTA = 2_000_000, 10_000_000  # 2 and 1e-5


def rounds_job(m: Market, clip_norm: int = CLIP, **kw) -> int:
    """A rounds job on a fake global model scoring 0.5 (the bar: 0.5 - tolerance, 0.0 by default)."""
    settings = dict(rounds=2, round_quota=0, round_duration=100, reward_per_accept=100, min_score=0,
                    tolerance=500_000, clip_norm=clip_norm)
    return m.create_job(1000, policy="rounds", base_model_cid=m.put_model(SPONSOR, 0.5), **{**settings, **kw})


def update(m: Market, sender, score: float = 0.9, **fields) -> bytes:
    """A weights-only update of the fake engine: its score, distance and declaration."""
    return m.put(sender, json.dumps({"score": score, **fields}).encode())


def private(m: Market, sender, distance: int = 900_000, score: float = 0.9, **fields) -> bytes:
    return update(m, sender, score, distance=distance, epsilon=EPSILON, delta=DELTA, **fields)


def submissions(m: Market, job: int) -> list[dict]:
    return m.inspect(f"jobs/{job}/submissions")["submissions"]


def error_code(done) -> str:
    return json.loads(done.reports[0])["error"]["code"]


def test_a_private_update_is_recorded_and_noticed_with_its_measured_distance():
    m = Market(engine=FederatedFakeEngine())
    job = rounds_job(m)
    done = m.submit(CAROL, job, private(m, CAROL))
    assert done.accepted
    assert decoded(done, "PrivacyDeclared") == [(job, 1, EPSILON, DELTA, 900_000)]
    order = names(done)
    assert order.index("SubmissionScored") < order.index("PrivacyDeclared")
    assert submissions(m, job)[0]["privacy"] == {"epsilon": 2.0, "delta": 1e-5}
    assert list(m.app.state.items(privacy.CHECKED)) == []  # nothing kept once decided


def test_an_update_without_a_declaration_is_clipped_but_declares_nothing():
    m = Market(engine=FederatedFakeEngine())
    job = rounds_job(m)
    done = m.submit(CAROL, job, update(m, CAROL, distance=CLIP))
    assert done.accepted and "PrivacyDeclared" not in names(done)
    assert submissions(m, job)[0]["privacy"] is None


def test_the_clip_bound_accepts_the_bound_and_refuses_one_millionth_past_it():
    m = Market(engine=FederatedFakeEngine())
    job = rounds_job(m)
    assert m.submit(CAROL, job, private(m, CAROL, distance=CLIP)).accepted
    past = m.submit(DAVE, job, private(m, DAVE, distance=CLIP + 1))
    assert not past.accepted and error_code(past) == "update_beyond_clip_norm"


def test_a_staked_update_past_the_bound_is_invalid_and_its_stake_slashed():
    m = Market(engine=FederatedFakeEngine())
    job = rounds_job(m, stake=10)
    m.deposit(TOKEN, DAVE, 10)
    done = m.submit(DAVE, job, private(m, DAVE, distance=50 * CLIP))
    assert done.accepted and "StakeSlashed" in names(done) and "PrivacyDeclared" not in names(done)
    (sub,) = submissions(m, job)
    assert sub["status"] == "invalid" and "clip_norm" in sub["error"]


def test_a_declaration_on_a_job_without_a_clip_norm_is_refused():
    m = Market(engine=FederatedFakeEngine())
    job = rounds_job(m, clip_norm=0)
    done = m.submit(CAROL, job, private(m, CAROL))
    assert not done.accepted and error_code(done) == "privacy_without_clip_norm"
    assert m.submit(DAVE, job, update(m, DAVE)).accepted  # a plain update is welcome


def test_a_private_update_under_the_bar_is_recorded_but_joins_no_round():
    m = Market(engine=FederatedFakeEngine())
    job = rounds_job(m, tolerance=0)
    done = m.submit(CAROL, job, private(m, CAROL, score=0.3))
    assert done.accepted and "PrivacyDeclared" not in names(done)
    (sub,) = submissions(m, job)
    assert sub["status"] == "rejected" and sub["privacy"] == {"epsilon": 2.0, "delta": 1e-5}
    assert list(m.app.state.items(privacy.CHECKED)) == []


def test_an_update_decided_after_an_earlier_commit_is_noticed_then():
    m = Market(engine=FederatedFakeEngine())
    job = rounds_job(m)
    first = update(m, CAROL, 0.8)
    _, salt = m.commit(CAROL, job, first)  # submission 1 holds the queue
    waiting = m.submit(DAVE, job, private(m, DAVE, distance=400_000))
    assert waiting.accepted and "PrivacyDeclared" not in names(waiting)
    assert submissions(m, job)[1]["status"] == "revealed"
    done = m.reveal(CAROL, job, first, b"", salt)
    assert decoded(done, "PrivacyDeclared") == [(job, 2, EPSILON, DELTA, 400_000)]
    assert submissions(m, job)[1]["privacy"] == {"epsilon": 2.0, "delta": 1e-5}


def test_a_copied_private_update_carries_no_declaration_for_the_copier():
    m = Market(engine=FederatedFakeEngine())
    job = rounds_job(m)
    original = private(m, CAROL)
    assert decoded(m.submit(CAROL, job, original), "PrivacyDeclared")[0][1] == 1
    copy = m.submit(DAVE, job, original)  # the same bytes: the same work, not taken again
    assert copy.accepted and "PrivacyDeclared" not in names(copy)
    assert submissions(m, job)[1]["status"] == "rejected"


def test_a_declaration_is_only_ever_noticed_for_the_submission_that_committed_it():
    m = Market(engine=FederatedFakeEngine())
    job = rounds_job(m)
    m.submit(CAROL, job, private(m, CAROL))
    stronger = m.submit(DAVE, job, update(m, DAVE, distance=900_000, epsilon=100_000, delta=1))
    assert decoded(stronger, "PrivacyDeclared") == [(job, 2, 100_000, 1, 900_000)]
    carol, dave = submissions(m, job)
    assert carol["contributor"] == CAROL.hex and carol["privacy"] == {"epsilon": 2.0, "delta": 1e-5}
    assert dave["contributor"] == DAVE.hex and dave["privacy"] == {"epsilon": 0.1, "delta": 1e-12}
    settle = m.call(ERIN, "settleJob", job, timestamp=NOW + 100)
    assert [a[1:3] for a in decoded(settle, "RoundClosed")] == [(0, 2)]
