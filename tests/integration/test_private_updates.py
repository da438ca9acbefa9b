"""Private federated updates end to end (issue 16), with the real engine: contributors make noised,
clipped updates locally (mlmarket.client.privacy), the job accepts them within its clip_norm, records
each declaration and notices it with the measured distance, and publishes their FedAvg; an unclipped
update that declares privacy anyway, or a huge one, is refused by the bound."""

import json

import pytest
from mlmarket.client.privacy import private_update

from dapp.codec.cid import cid_of, cid_to_text
from dapp.ml import fedavg
from dapp.ml.engine import Engine
from dapp.ml.modelfile import Model, Privacy, read_model, write_model
from tests.support.breast_cancer import shuffled, to_csv
from tests.support.market import CAROL, DAVE, NOW, SPONSOR, Market
from tests.support.rollup import TOKEN
from tests.support.rollup import notice_args as decoded
from tests.support.rollup import notice_names as names

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

ERIN = type(CAROL)(b"\xe0" * 20)
FRANK = type(CAROL)(b"\xf0" * 20)
CLIP = 1_000_000
SPEC = {"estimator": "LogisticRegression", "params": {"max_iter": 200}}
TASK = dict(task="classification", metric="accuracy", label="target")


def parts():
    """(validation, three contributors' private rows, an outsider's rows) of breast cancer, standardised."""
    X, y, columns = shuffled()
    csv = lambda a, b: to_csv(X[a:b], y[a:b], columns)  # noqa: E731
    return csv(0, 150), [csv(150, 250), csv(250, 350), csv(350, 450)], csv(450, 569)


def stored(m: Market, cid: str) -> bytes:
    return bytes.fromhex(m.inspect(f"contents/{cid}/data")["data"][2:])


def private_job(m: Market, validation: bytes, **kw) -> int:
    return m.create_job(1000, policy="rounds", reward_per_accept=100, rounds=2, round_quota=3,
                        round_duration=1000, deadline=NOW + 5000, min_score=0, tolerance=1_000_000,
                        clip_norm=CLIP, validation_cid=m.put(SPONSOR, validation),
                        base_model_cid=m.put(SPONSOR, json.dumps(SPEC).encode()), **kw)


def test_a_round_of_private_updates_is_checked_recorded_noticed_and_averaged():
    validation, shards, _ = parts()
    engine = Engine()
    m = Market(engine=engine)
    job = private_job(m, validation)
    for round_ in range(2):
        global_model = stored(m, m.job(job)["job"]["model_cid"])
        updates, results = [], []
        for n, (who, shard) in enumerate(zip((CAROL, DAVE, ERIN), shards)):
            made = private_update(global_model=global_model, train=shard, validation=validation, **TASK,
                                  clip_norm=CLIP, epsilon=10.0, delta=1e-5, seed=10 * round_ + n, engine=engine)
            updates.append(made.model)
            results.append(m.submit(who, job, m.put(who, made.model)))
        assert all(r.accepted for r in results)
        first = 3 * round_ + 1
        declared = [decoded(r, "PrivacyDeclared")[0] for r in results]
        assert [d[:4] for d in declared] == [(job, first + i, 10_000_000, 10_000_000) for i in range(3)]
        base = read_model(global_model)
        for (_, _, _, _, norm), update in zip(declared, updates):  # the distance the machine measured
            far = (fedavg.distance(read_model(update), base) if base.trained
                   else fedavg.norm(read_model(update)))
            assert norm == round(far * 1e6) and norm <= CLIP
        (closed,) = decoded(results[-1], "RoundClosed")  # the quota closed the round
        expected = engine.aggregate([(u, 1) for u in updates])  # weights-only: equal weights
        assert closed[1:4] == (round_, 3, cid_of(expected)) and "ModelPublished" in names(results[-1])
    view = m.job(job)
    assert view["job"]["status"] == "ended" and view["job"]["model_cid"] == cid_to_text(cid_of(expected))
    assert all(s["privacy"] == {"epsilon": 10.0, "delta": 1e-5} for s in view["submissions"])


def test_declaring_privacy_without_clipping_is_refused_by_the_bound():
    validation, shards, outsider = parts()
    engine = Engine()
    m = Market(engine=engine)
    job = private_job(m, validation, stake=10)
    for who in (FRANK, CAROL, DAVE):
        m.deposit(TOKEN, who, 10)
    trained = engine.score(**TASK, validation=validation, train=outsider,
                           base_model=json.dumps(SPEC).encode()).model_bytes
    plain = read_model(trained)
    assert fedavg.norm(plain) > CLIP / 1e6  # an honest clip would have been needed
    claimed = write_model(Model(plain.spec, plain.features, plain.arrays, Privacy(100_000, 1)))
    huge = write_model(Model(plain.spec, plain.features, {**plain.arrays, "coef": plain.arrays["coef"] * 1e6}))
    for who, update in ((FRANK, claimed), (CAROL, huge)):
        done = m.submit(who, job, m.put(who, update))
        assert done.accepted and "StakeSlashed" in names(done) and "PrivacyDeclared" not in names(done)
    refused = m.job(job)["submissions"]
    assert [(s["status"], s["privacy"]) for s in refused] == [("invalid", None), ("invalid", None)]
    assert all("clip_norm" in s["error"] for s in refused)
    made = private_update(global_model=stored(m, m.job(job)["job"]["model_cid"]), train=shards[0],
                          validation=validation, **TASK, clip_norm=CLIP, epsilon=1.0, delta=1e-5, seed=0,
                          engine=engine)
    honest = m.submit(DAVE, job, m.put(DAVE, made.model))
    assert honest.accepted and decoded(honest, "PrivacyDeclared")[0][1:4] == (3, 1_000_000, 10_000_000)
