"""The market with the real ML engine: published scores equal scikit-learn's, byte-identical replays."""

import json

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score

from dapp.codec import abi
from dapp.ml.engine import Engine
from tests.support.breast_cancer import to_csv
from tests.support.market import CAROL, NOW, SPONSOR, Market

SPEC = {"estimator": "LogisticRegression", "params": {"C": 0.5, "max_iter": 500}}


def split():
    data = load_breast_cancer()
    order = np.random.default_rng(0).permutation(len(data.target))
    X, y = data.data[order], data.target[order]
    columns = [f"f{i}" for i in range(X.shape[1])]
    return (X[:400], y[:400], X[400:], y[400:], columns)


def run_session():
    X_train, y_train, X_val, y_val, columns = split()
    m = Market(engine=Engine())
    validation = m.put(SPONSOR, to_csv(X_val, y_val, columns))
    job = m.create_job(1000, reward_per_accept=100, min_score=900_000, validation_cid=validation)
    model = m.put(CAROL, json.dumps(SPEC).encode())
    data = m.put(CAROL, to_csv(X_train, y_train, columns))
    done = m.submit(CAROL, job, model, data)
    settle = m.call(SPONSOR, "settleJob", job, timestamp=NOW + 1000)
    return m, job, done, settle


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # max_iter=500 is the job's choice
def test_published_score_equals_scikit_learn_on_the_same_arrays():
    m, job, done, _ = run_session()
    assert done.accepted, done.reports
    X_train, y_train, X_val, y_val, _ = split()
    # the CSV round-trips floats exactly (repr), so scikit-learn sees the same arrays
    direct = accuracy_score(y_val, LogisticRegression(C=0.5, max_iter=500).fit(X_train, y_train).predict(X_val))
    scored = [abi.notices().decode(n) for n in done.notices]
    (args,) = [a for f, a in scored if f.name == "SubmissionScored"]
    assert args[5] == round(direct * 1_000_000)
    assert args[6] is True
    view = m.job(job)["submissions"][0]
    assert view["score"] == round(direct, 6) and view["accepted"]


def test_a_replay_gives_byte_identical_outputs():
    first, second = run_session(), run_session()
    for a, b in zip(first[2:], second[2:]):
        assert (a.notices, a.vouchers, a.reports) == (b.notices, b.vouchers, b.reports)


def test_a_pickle_submitted_as_a_model_is_rejected_and_never_loaded(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    import pickle

    X_train, y_train, X_val, y_val, columns = split()
    m = Market(engine=Engine())
    validation = m.put(SPONSOR, to_csv(X_val, y_val, columns))
    job = m.create_job(1000, validation_cid=validation)
    evil = m.put(CAROL, pickle.dumps(Evil()))
    done = m.submit(CAROL, job, evil)
    assert not done.accepted
    assert json.loads(done.reports[0])["error"]["code"] == "unsafe_model"
    assert not marker.exists()
    assert m.job(job)["job"]["budget"] == "1000"


def test_uploaded_csv_files_are_decoded_once_when_they_arrive(monkeypatch):
    from dapp.ml import engine as engine_module

    decoded: list[bytes] = []
    original = engine_module.parse_table

    def counting(data, *args, **kwargs):
        decoded.append(bytes(data[:40]))
        return original(data, *args, **kwargs)

    monkeypatch.setattr(engine_module, "parse_table", counting)
    m, job, done, _ = run_session()
    assert done.accepted, done.reports
    # the validation and the training CSV, each when its upload completed (the model JSON is not a
    # table, so it is tried and dropped); the job creation and the submission decoded nothing more
    assert [d.startswith(b"f0,f1") for d in decoded] == [True, False, True]
    cold = Market(engine=Engine())  # an engine that never saw the uploads: same outputs
    X_train, y_train, X_val, y_val, columns = split()
    validation = to_csv(X_val, y_val, columns)
    monkeypatch.setattr(engine_module.Engine, "prepare", lambda self, content: False)
    cold_job = cold.create_job(1000, reward_per_accept=100, min_score=900_000,
                               validation_cid=cold.put(SPONSOR, validation))
    cold_done = cold.submit(CAROL, cold_job, cold.put(CAROL, json.dumps(SPEC).encode()),
                            cold.put(CAROL, to_csv(X_train, y_train, columns)))
    assert (cold_done.notices, cold_done.vouchers, cold_done.reports) == (done.notices, done.vouchers, done.reports)


def test_a_hidden_test_set_is_scored_by_the_real_engine_one_batch_per_input_when_each_fills_the_budget():
    from dapp.codec.cid import cid_of
    from dapp.domain.limits import Limits
    from tests.support.market import DAVE

    X_train, y_train, X_val, y_val, columns = split()
    m = Market(engine=Engine(), limits=Limits(max_input_work=1))
    test_csv, salt = to_csv(X_val, y_val, columns), b"\x01" * 32
    validation = m.put(SPONSOR, to_csv(X_train[:50], y_train[:50], columns))  # not used: no split here
    job = m.create_job(1000, policy="best", reward_per_accept=0, validation_cid=validation,
                       reveal_window=500, test_commitment=m.commitment(cid_of(test_csv), salt))
    for who, c in ((CAROL, 0.01), (DAVE, 1.0)):
        model = m.put(who, json.dumps({"estimator": "LogisticRegression", "params": {"C": c, "max_iter": 300}}).encode())
        assert m.submit(who, job, model, m.put(who, to_csv(X_train, y_train, columns))).accepted
    deadline = m.job(job)["job"]["deadline"]
    m.put(SPONSOR, test_csv)
    first = m.call(SPONSOR, "revealTestSet", job, cid_of(test_csv), salt, timestamp=deadline)
    assert first.accepted and not first.vouchers and m.job(job)["job"]["status"] == "scoring"
    last = m.call(CAROL, "settleJob", job, timestamp=deadline + 1)
    assert last.accepted and m.job(job)["job"]["status"] == "ended"
    scores = [s["score"] for s in m.job(job)["submissions"]]
    winner = max(range(2), key=lambda i: (scores[i], -i))
    assert [s["status"] for s in m.job(job)["submissions"]][winner] == "accepted"
