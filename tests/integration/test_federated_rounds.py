"""Federated rounds with the real engine: updates validated against the job's current model, FedAvg
published per round when it does not fall below the bar, rewards paid; attacks on rounds (a first
update of another spec, a same-function copy that poisons the average) do not change the model."""

import json

import numpy as np
import pytest

from dapp.codec import abi
from dapp.codec.cid import cid_from_text, cid_of, cid_to_text
from dapp.ml.engine import Engine
from dapp.ml.modelfile import Model, read_model, write_model
from tests.support.breast_cancer import shuffled, to_csv
from tests.support.fake_engine import FakeEngine
from tests.support.market import CAROL, DAVE, NOW, SPONSOR, Market
from tests.support.rollup import TOKEN
from tests.support.rollup import notice_args as decoded
from tests.support.rollup import notice_names as names

ERIN = type(CAROL)(b"\xe0" * 20)
SPEC = {"estimator": "SGDClassifier", "params": {"loss": "log_loss", "max_iter": 50, "tol": None}}


def parts():
    X, y, columns = shuffled()
    csv = lambda a, b: to_csv(X[a:b], y[a:b], columns)  # noqa: E731
    return csv(0, 150), csv(150, 300), csv(300, 420), csv(420, 569)


def rounds_job(m, validation_csv, base_spec, **kw):
    """A rounds job (budget 1000, 100 per accepted update) on the untrained ``base_spec``, scored on
    ``validation_csv``."""
    validation = m.put(SPONSOR, validation_csv)
    base = m.put(SPONSOR, json.dumps(base_spec).encode())
    return m.create_job(1000, policy="rounds", reward_per_accept=100, validation_cid=validation,
                        base_model_cid=base, **kw)


def test_two_rounds_average_updates_publish_global_models_and_pay_contributors():
    part_a, part_b, part_c, validation_csv = parts()
    engine = Engine()
    m = Market(engine=engine)
    job = rounds_job(m, validation_csv, SPEC, rounds=2, round_quota=2, round_duration=500, tolerance=100_000,
                     min_score=500_000, deadline=NOW + 2000)
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
    totals = m.inspect("totals")["totals"][TOKEN.hex]  # 700 refunded by voucher; 300 credited to the three
    assert (totals["paid_out"], totals["balances"]) == ("700", "300")


def test_an_update_of_another_estimator_is_rejected():
    part_a, _, _, validation_csv = parts()
    m = Market(engine=Engine())
    job = rounds_job(m, validation_csv, SPEC, rounds=1, round_quota=0, round_duration=500)
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
    job = rounds_job(m, validation_csv, SPEC, rounds=3, round_duration=500)
    assert m.submit(CAROL, job, b"", m.put(CAROL, part_a)).accepted
    done = m.call(SPONSOR, "cancelJob", job)
    assert names(done).count("RoundClosed") == 1 and "RewardPaid" in names(done) and "JobCancelled" in names(done)
    assert decoded(done, "JobCancelled")[0][1] == 900


# --- issue 12: round hijack --------------------------------------------------------------------------

STAKE = 10
LOGISTIC = {"estimator": "LogisticRegression", "params": {"max_iter": 200}}
HIJACKS = {  # updates of another spec sent first in a round of a LogisticRegression job
    "forest": ({"estimator": "RandomForestClassifier", "params": {"n_estimators": 3, "max_depth": 3}}, True),
    "sgd": (SPEC, True),  # another linear estimator: the same array shapes
    "other C, weights only": ({"estimator": "LogisticRegression", "params": {"max_iter": 200, "C": 0.01}},
                              False),
}


def stored(m, cid_text):
    return bytes.fromhex(m.inspect(f"contents/{cid_text}/data")["data"][2:])


@pytest.mark.parametrize("hijack", list(HIJACKS))
def test_a_first_update_of_another_spec_is_slashed_and_the_honest_ones_are_averaged(hijack):
    part_a, part_b, part_c, validation_csv = parts()
    engine = Engine()
    m = Market(engine=engine)
    job = rounds_job(m, validation_csv, LOGISTIC,  # an untrained spec: no global score yet
                     rounds=1, round_quota=2, round_duration=500, min_score=500_000, stake=STAKE)
    for who in (CAROL, DAVE, ERIN):
        assert m.deposit(TOKEN, who, 100).accepted
    model, trained_here = HIJACKS[hijack]
    if trained_here:
        attack = m.submit(DAVE, job, m.put(DAVE, json.dumps(model).encode()), m.put(DAVE, part_c))
    else:
        weights = engine.score(task="classification", metric="accuracy", label="target",
                               validation=validation_csv, model=json.dumps(model).encode(), train=part_c, seed=1)
        assert weights.score >= 500_000  # it would pass the score bar
        attack = m.submit(DAVE, job, m.put(DAVE, weights.model_bytes))
    assert attack.accepted and "StakeSlashed" in names(attack) and "RewardPaid" not in names(attack)
    assert decoded(attack, "SubmissionScored")[0][6] is False
    (dave,) = [s for s in m.job(job)["submissions"] if s["id"] == 1]
    assert dave["status"] == "invalid" and "differ in estimator or hyper-parameters" in dave["error"]

    first = m.submit(CAROL, job, b"", m.put(CAROL, part_a))
    assert decoded(first, "SubmissionScored")[0][6] is True and "StakeReturned" in names(first)
    second = m.submit(ERIN, job, b"", m.put(ERIN, part_b))
    assert decoded(second, "SubmissionScored")[0][6] is True
    (closed,) = decoded(second, "RoundClosed")
    assert closed[1:3] == (0, 2) and [p[1] for p in decoded(second, "RewardPaid")] == [2, 3]
    updates = [stored(m, s["trained_model_cid"]) for s in m.job(job)["submissions"]
               if s["status"] == "accepted"]
    expected = engine.aggregate([(updates[0], 150), (updates[1], 150)])
    assert closed[3] == cid_of(expected) and decoded(second, "ModelPublished")[0][2] == cid_of(expected)
    view = m.job(job)["job"]
    assert (view["status"], view["paid"]) == ("ended", "200")
    assert decoded(second, "JobSettled")[0][3] == 1000 + STAKE - 200  # the slashed stake joined the budget


def test_an_update_of_other_classes_is_refused_against_the_validation_set():
    part_a, _, _, validation_csv = parts()
    m = Market(engine=Engine())
    job = rounds_job(m, validation_csv, LOGISTIC, rounds=1, round_duration=500)
    header, *rows = part_a.decode().splitlines()
    relabelled = "\n".join([header, *(r[: r.rfind(",")] + ("," + str(2 * int(r[-1]))) for r in rows)]) + "\n"
    done = m.submit(DAVE, job, b"", m.put(DAVE, relabelled.encode()))  # classes {0, 2}, validation {0, 1}
    assert not done.accepted
    assert json.loads(done.reports[0])["error"]["code"] == "aggregate_classes_mismatch"
    assert m.submit(CAROL, job, b"", m.put(CAROL, part_a)).accepted


# --- issue 12: poisoned average ------------------------------------------------------------------------

MLP = {"estimator": "MLPClassifier",
       "params": {"hidden_layer_sizes": [8], "activation": "tanh", "max_iter": 50}}
TOLERANCE = 20_000


def same_function(model: bytes, how: str) -> bytes:
    """The same tanh network with its hidden units negated (tanh is odd) or permuted."""
    m = read_model(model)
    a = dict(m.arrays)
    if how == "negate":
        a.update(coefs_0=-a["coefs_0"], intercepts_0=-a["intercepts_0"], coefs_1=-a["coefs_1"])
    else:
        order = np.arange(a["intercepts_0"].size)[::-1]
        a.update(coefs_0=a["coefs_0"][:, order], intercepts_0=a["intercepts_0"][order],
                 coefs_1=a["coefs_1"][order])
    return write_model(Model(m.spec, m.features, a))


@pytest.mark.parametrize("how", ["negate", "permute"])
def test_a_same_function_copy_of_an_update_cannot_lower_the_published_model(how):
    part_a, part_b, part_c, validation_csv = parts()
    engine = Engine()
    score = lambda model: engine.score(task="classification", metric="accuracy", label="target",  # noqa: E731
                                       validation=validation_csv, model=model).score
    global_model = engine.score(task="classification", metric="accuracy", label="target",
                                validation=validation_csv, model=json.dumps(MLP).encode(), train=part_a,
                                seed=3).model_bytes
    m = Market(engine=engine)
    validation = m.put(SPONSOR, validation_csv)
    base = m.put(SPONSOR, global_model)
    job = m.create_job(1000, policy="rounds", rounds=2, round_quota=2, round_duration=500,
                       reward_per_accept=100, tolerance=TOLERANCE, validation_cid=validation,
                       base_model_cid=base, deadline=NOW + 2000)
    honest = m.submit(CAROL, job, b"", m.put(CAROL, part_b))
    assert decoded(honest, "SubmissionScored")[0][6] is True
    update = stored(m, m.job(job)["submissions"][0]["trained_model_cid"])
    copy = same_function(update, how)
    assert score(copy) == score(update) > score(global_model)  # the same function, a better score
    averaged = engine.aggregate([(update, 150), (copy, 150)])  # both weigh 150: the copy takes the mean count
    assert score(averaged) < score(global_model) - TOLERANCE  # the attack works on plain FedAvg

    poisoned = m.submit(DAVE, job, m.put(DAVE, copy))
    assert decoded(poisoned, "SubmissionScored")[0][6] is True  # each update alone meets the bar
    (closed,) = decoded(poisoned, "RoundClosed")
    assert closed[1:] == (0, 2, base, score(global_model))  # the round keeps the previous model
    assert "ModelPublished" not in names(poisoned)
    assert [p[1] for p in decoded(poisoned, "RewardPaid")] == [1, 2]  # the rule: accepted updates are paid
    view = m.job(job)["job"]
    assert view["model_cid"] == cid_to_text(base) and view["best_score"] == score(global_model) / 1e6

    # the next round's honest update improves the model and is published
    assert m.submit(ERIN, job, b"", m.put(ERIN, part_c)).accepted
    done = m.call(SPONSOR, "settleJob", job, timestamp=NOW + 1000)
    (published,) = decoded(done, "ModelPublished")
    assert published[1] == 1 and published[3] >= score(global_model) - TOLERANCE


class AveragesBadly(FakeEngine):
    """The fake engine whose FedAvg scores ``averaged`` whatever the updates scored."""

    class Info(dict):
        estimator, averageable = "Fake", True

        @property
        def trained(self):
            return self.get("trained", False)

    def __init__(self, averaged: float):
        super().__init__()
        self.averaged = averaged

    def check_model(self, model, task=None):
        return self.Info(super().check_model(model, task))

    def aggregate(self, models, method="fedavg"):
        return json.dumps({"score": self.averaged, "trained": True}).encode()


@pytest.mark.parametrize("trained_base, averaged, published", [
    (False, 0.79, False), (False, 0.8, True),  # no global score yet: the bar is min_score (0.8)
    (True, 0.84, False), (True, 0.85, True),  # the global model scores 0.9: the bar is 0.9 - tolerance
])
def test_a_round_publishes_its_average_only_if_it_meets_the_bar_and_pays_either_way(trained_base, averaged,
                                                                                     published):
    m = Market(engine=AveragesBadly(averaged))
    base = m.put_model(SPONSOR, 0.9, **({"trained": True} if trained_base else {}))
    job = m.create_job(1000, policy="rounds", rounds=2, round_quota=1, round_duration=100,
                       reward_per_accept=100, min_score=800_000, tolerance=50_000, base_model_cid=base)
    done = m.submit(CAROL, job, b"", m.put(CAROL, b"x,target\n1,1\n"))  # scores 0.91
    assert decoded(done, "SubmissionScored")[0][6] is True and len(decoded(done, "RewardPaid")) == 1
    (closed,) = decoded(done, "RoundClosed")
    assert bool(decoded(done, "ModelPublished")) == published
    view = m.job(job)["job"]
    if published:
        assert closed[3:] == (cid_from_text(view["model_cid"]), round(averaged * 1e6)) and closed[3] != base
    else:
        assert closed[3] == base and view["model_cid"] == cid_to_text(base)
        assert view["best_score"] == (0.9 if trained_base else None)
