"""Federated rounds with the real engine: updates validated, FedAvg published per round, rewards paid."""

import json

import numpy as np
from sklearn.datasets import load_breast_cancer

from dapp.codec import abi
from dapp.codec.cid import cid_of, cid_to_text
from dapp.ml.engine import Engine
from tests.integration.test_market_real_engine import to_csv
from tests.support.market import CAROL, DAVE, NOW, SPONSOR, Market
from tests.support.rollup import TOKEN

ERIN = type(CAROL)(b"\xe0" * 20)
SPEC = {"estimator": "SGDClassifier", "params": {"loss": "log_loss", "max_iter": 50, "tol": None}}


def parts():
    data = load_breast_cancer()
    X = (data.data - data.data.mean(0)) / data.data.std(0)
    order = np.random.default_rng(1).permutation(len(data.target))
    X, y = X[order], data.target[order]
    columns = [f"f{i}" for i in range(X.shape[1])]
    csv = lambda a, b: to_csv(X[a:b], y[a:b], columns)  # noqa: E731
    return csv(0, 150), csv(150, 300), csv(300, 420), csv(420, 569)


def names(done):
    return [abi.notices().decode(n)[0].name for n in done.notices]


def decoded(done, name):
    return [args for f, args in (abi.notices().decode(n) for n in done.notices) if f.name == name]


def test_two_rounds_average_updates_publish_global_models_and_pay_contributors():
    part_a, part_b, part_c, validation_csv = parts()
    engine = Engine()
    m = Market(engine=engine)
    validation = m.put(SPONSOR, validation_csv)
    base = m.put(SPONSOR, json.dumps(SPEC).encode())
    job = m.create_job(1000, policy="rounds", rounds=2, round_quota=2, round_duration=500,
                       reward_per_accept=100, tolerance=100_000, min_score=500_000,
                       validation_cid=validation, base_model_cid=base, deadline=NOW + 2000)
    first = m.submit(CAROL, job, b"", m.put(CAROL, part_a))
    assert first.accepted and decoded(first, "SubmissionScored")[0][6] is True
    assert not m.submit(CAROL, job, b"", m.put(CAROL, part_c)).accepted  # one update per round
    second = m.submit(DAVE, job, b"", m.put(DAVE, part_b))
    (closed,) = decoded(second, "RoundClosed")
    assert closed[1:3] == (0, 2)
    assert "ModelPublished" in names(second) and "RewardPaid" in names(second)

    # the published global model is FedAvg of the two stored updates, weighted by their rows
    subs = m.job(job)["submissions"]
    updates = [bytes.fromhex(m.inspect(f"contents/{s['trained_model_cid']}/data")["data"][2:]) for s in subs
               if s["status"] == "accepted"]
    assert len(updates) == 2
    expected = engine.aggregate([(updates[0], 150), (updates[1], 150)])
    assert closed[3] == cid_of(expected)
    assert m.job(job)["job"]["model_cid"] == cid_to_text(cid_of(expected))

    # round 1: a weights-only update trained off-chain from the global model (data stays local)
    local = engine.score(task="classification", metric="accuracy", label="target", validation=validation_csv,
                         model=expected, train=part_c, seed=7)
    done = m.submit(ERIN, job, m.put(ERIN, local.model_bytes))
    assert done.accepted and decoded(done, "SubmissionScored")[0][6] is True
    settle = m.call(SPONSOR, "settleJob", job, timestamp=NOW + 1000)
    assert [a[1:3] for a in decoded(settle, "RoundClosed")] == [(1, 1)]
    view = m.job(job)["job"]
    assert (view["status"], view["round"], view["paid"]) == ("ended", 2, "300")
    assert view["budget"] == "0"
    assert m.inspect("totals")["totals"][TOKEN.hex]["paid_out"] == "1000"


def test_an_update_of_another_estimator_is_rejected():
    part_a, _, _, validation_csv = parts()
    m = Market(engine=Engine())
    validation = m.put(SPONSOR, validation_csv)
    base = m.put(SPONSOR, json.dumps(SPEC).encode())
    job = m.create_job(1000, policy="rounds", rounds=1, round_quota=0, round_duration=500,
                       reward_per_accept=100, validation_cid=validation, base_model_cid=base)
    assert m.submit(CAROL, job, b"", m.put(CAROL, part_a)).accepted
    other = json.dumps({"estimator": "GaussianNB", "params": {}}).encode()
    done = m.submit(DAVE, job, m.put(DAVE, other), m.put(DAVE, part_a + b""))
    assert not done.accepted
    assert json.loads(done.reports[0])["error"]["code"].startswith("aggregate_")


def test_a_job_on_a_non_averageable_model_is_refused_at_creation():
    _, _, _, validation_csv = parts()
    m = Market(engine=Engine())
    validation = m.put(SPONSOR, validation_csv)
    tree = m.put(SPONSOR, json.dumps({"estimator": "DecisionTreeClassifier", "params": {"max_depth": 4}}).encode())
    from tests.support.market import spec, spec_tuple
    s = spec(policy="rounds", rounds=1, round_duration=100, validation_cid=validation, base_model_cid=tree)
    done = m.deposit(TOKEN, SPONSOR, 100, abi.inputs().encode("createJob", TOKEN.raw, 100, spec_tuple(s)))
    error = json.loads(done.reports[0])["error"]
    assert error["code"] == "bad_spec" and "averaged" in error["message"]


def test_cancelling_pays_the_updates_accepted_in_the_current_round():
    part_a, _, _, validation_csv = parts()
    m = Market(engine=Engine())
    validation = m.put(SPONSOR, validation_csv)
    base = m.put(SPONSOR, json.dumps(SPEC).encode())
    job = m.create_job(1000, policy="rounds", rounds=3, round_duration=500, reward_per_accept=100,
                       validation_cid=validation, base_model_cid=base)
    assert m.submit(CAROL, job, b"", m.put(CAROL, part_a)).accepted
    done = m.call(SPONSOR, "cancelJob", job)
    assert names(done).count("RoundClosed") == 1 and "RewardPaid" in names(done) and "JobCancelled" in names(done)
    assert decoded(done, "JobCancelled")[0][1] == 900
