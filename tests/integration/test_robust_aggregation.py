"""A rounds job chooses its aggregation (JobSpec.aggregation): the published global model is the
coordinate-wise median or trimmed mean of the round's accepted updates, recomputed here from the
estimators scikit-learn loads (numpy only, not the engine's code); the choice is checked at
createJob."""

import json

import numpy as np
import pytest

from dapp.domain.values import Address
from dapp.ml.engine import Engine
from dapp.ml.export import to_estimator
from tests.integration.test_federated_rounds import SPEC, parts, rounds_job
from tests.support.breast_cancer import shuffled, to_csv
from tests.support.market import NOW, SPONSOR, Market
from tests.support.rollup import notice_args, notice_names

CONTRIBUTORS = [Address(bytes([0x10 + i]) * 20) for i in range(5)]


def five_parts() -> tuple[list[bytes], bytes]:
    """Five training CSVs (84 rows each) and the validation CSV, from breast-cancer."""
    X, y, columns = shuffled()
    training = [to_csv(X[i * 84:(i + 1) * 84], y[i * 84:(i + 1) * 84], columns) for i in range(5)]
    return training, to_csv(X[420:], y[420:], columns)


def one_round(aggregation: str, training: list[bytes], validation: bytes) -> tuple[Market, list, object]:
    """Runs one round of len(training) data-only updates; returns the market, the updates' and the
    published model's estimators."""
    m = Market(engine=Engine())
    job = rounds_job(m, validation, SPEC, rounds=1, round_quota=len(training), round_duration=500,
                     tolerance=200_000, min_score=500_000, deadline=NOW + 2000, aggregation=aggregation)
    for who, csv in zip(CONTRIBUTORS, training):
        done = m.submit(who, job, b"", m.put(who, csv))
        assert done.accepted, done.reports
    assert "ModelPublished" in notice_names(done) and len(notice_args(done, "RewardPaid")) == len(training)
    view = m.job(job)
    assert view["job"]["spec"]["aggregation"] == aggregation

    def load(cid: str):
        return to_estimator(bytes.fromhex(m.inspect(f"contents/{cid}/data")["data"][2:]))
    updates = [load(s["trained_model_cid"]) for s in view["submissions"]]
    return m, updates, load(view["job"]["model_cid"])


def test_a_median_job_publishes_the_coordinatewise_median_of_its_updates():
    part_a, part_b, part_c, validation = parts()
    _, updates, published = one_round("median", [part_a, part_b, part_c], validation)
    for name in ("coef_", "intercept_"):
        stacked = np.stack([getattr(u, name) for u in updates])
        np.testing.assert_allclose(getattr(published, name), np.median(stacked, axis=0), rtol=0, atol=1e-12)
    assert not np.allclose(published.coef_, np.mean([u.coef_ for u in updates], axis=0))


def test_a_trimmed_mean_job_drops_a_fifth_at_each_end_of_every_coordinate():
    training, validation = five_parts()
    _, updates, published = one_round("trimmed_mean", training, validation)
    for name in ("coef_", "intercept_"):
        ordered = np.sort(np.stack([getattr(u, name) for u in updates]), axis=0)
        np.testing.assert_allclose(getattr(published, name), ordered[1:-1].mean(axis=0), rtol=0, atol=1e-12)


@pytest.mark.parametrize(("overrides", "needle"), [
    (dict(policy="threshold", aggregation="median"), "for policy 'rounds'"),
    (dict(aggregation="mean"), "is not one of fedavg, median, trimmed_mean"),
    (dict(aggregation="median", base=b'{"estimator": "GaussianNB"}'), "GaussianNB statistics are pooled"),
])
def test_the_aggregation_is_checked_when_the_job_is_created(overrides, needle):
    m = Market(engine=Engine())
    _, _, _, validation_csv = parts()
    base = m.put(SPONSOR, overrides.pop("base", json.dumps(SPEC).encode()))
    rounds = dict(policy="rounds", rounds=1, round_duration=500, base_model_cid=base, reward_per_accept=100)
    if overrides.get("policy") == "threshold":
        rounds = dict(policy="threshold", reward_per_accept=100)
    with pytest.raises(AssertionError) as refused:
        m.create_job(1000, validation_cid=m.put(SPONSOR, validation_csv), **{**rounds, **overrides})
    assert needle in str(refused.value)
