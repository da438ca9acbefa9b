"""Hostile model files (``hostile_models.corpus``) are refused with their documented code, and nothing
in them runs: given to the engine directly and submitted through ``App`` dispatch (upload, then a
commit and its reveal to a threshold job with the real engine, without and with training data: the
reveal is refused and leaves the job as the commit left it), with pickle's
loaders replaced by tripwires and every pickle aimed at a marker file that must never appear.
With training data too: a trained model that is refitted from its spec (forests, trees, GaussianNB)
is validated like any other before training."""

from __future__ import annotations

import json
import pickle
import time
from collections import Counter
from pathlib import Path

import pytest

from dapp.domain.values import Address
from dapp.errors import DomainError
from dapp.ml.engine import Engine
from dapp.ml.modelfile import read_model
from tests.reliability.hostile_models import CSV_TRAIN, CSV_VALID, Hostile, corpus
from tests.support.market import SPONSOR, Market

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def markers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("markers")


@pytest.fixture(scope="module")
def hostile(markers: Path) -> list[Hostile]:
    return corpus(markers)


@pytest.fixture(autouse=True)
def no_unpickling(monkeypatch: pytest.MonkeyPatch):
    """Any call of pickle's loaders (numpy's ``allow_pickle`` path included) fails the test."""

    def tripwire(*args, **kwargs):
        raise AssertionError("something tried to unpickle")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, tripwire)


def refusal(engine: Engine, data: bytes) -> str:
    """The code the engine refuses ``data`` with: at ``check_model`` (what a submission checks
    first) or, for a spec that passes it, when scoring with training data."""
    try:
        engine.check_model(data, "classification")
        engine.score(task="classification", metric="accuracy", label="target", validation=CSV_VALID, model=data,
                     train=CSV_TRAIN, seed=1)
    except DomainError as exc:
        return exc.code
    return "accepted"


def test_corpus_covers_every_kind_of_attack(hostile: list[Hostile]):
    names = " ".join(h.name for h in hostile)
    for kind in ("pickle_os_system", "pickle_exec", "joblib_gzip", "zip_with_pkl_member", "npz_", "array_dtype_",
                 "array_shape_claims", "spec_billion_trees", "spec_c_nan", "spec_deeply_nested", "forest_node_is_its_own"):
        assert kind in names
    assert len({h.name for h in hostile}) == len(hostile)


def test_engine_refuses_every_hostile_file_with_its_code(hostile: list[Hostile], markers: Path, figures):
    engine, began, codes = Engine(), time.perf_counter(), Counter()
    wrong = {}
    for item in hostile:
        code = refusal(engine, item.data)
        codes[code] += 1
        if code != item.code:
            wrong[item.name] = (item.code, code)
    assert not wrong, f"expected code, got: {wrong}"
    assert list(markers.iterdir()) == []
    figures("files refused by the engine", len(hostile))
    figures("by code", ", ".join(f"{k} {v}" for k, v in codes.most_common()))
    figures("pickles aimed at marker files", sum(h.name.startswith(("pickle", "joblib")) for h in hostile))
    figures("marker files created", 0)
    figures("seconds", f"{time.perf_counter() - began:.1f}")


def refit_from_spec(item: Hostile) -> bool:
    """Whether a submission with training data would refit ``item`` from its spec, never reading its
    arrays: a well-formed file holding a trained model of an estimator without warm start."""
    try:
        model = read_model(item.data)
    except DomainError:
        return False
    return model.trained and not model.spec.definition.warm_start


class Submitter:
    """A threshold job that never pays (min_score above any accuracy), on the real engine; each
    hostile file is uploaded, committed to and revealed by a fresh contributor, with or without
    training data."""

    def __init__(self) -> None:
        self.market = Market(engine=Engine())
        validation = self.market.put(SPONSOR, CSV_VALID)
        self.job = self.market.create_job(1000, validation_cid=validation, min_score=1_000_001)
        self.data = self.market.put(SPONSOR, CSV_TRAIN)
        self.contributors = 0
        self.uploaded = 0

    def code(self, item: Hostile, *, with_data: bool) -> tuple[str, int]:
        """(the reveal's rejection code or "accepted", how many notices and vouchers it left); a
        refused reveal leaves the job as its commit left it."""
        self.contributors += 1
        contributor = Address(b"\xc0" + self.contributors.to_bytes(19, "big"))
        model = self.market.put(contributor, item.data)
        self.uploaded += len(item.data)
        data = self.data if with_data else b""
        committed, salt = self.market.commit(contributor, self.job, model, data)
        assert committed.accepted, committed.reports
        before = self.market.job(self.job)
        done = self.market.reveal(contributor, self.job, model, data, salt)
        if not done.accepted:
            assert self.market.job(self.job) == before, f"{item.name}: a refused reveal changed the job"
        code = "accepted" if done.accepted else json.loads(done.reports[0])["error"]["code"]
        return code, len(done.notices) + len(done.vouchers)


def test_submissions_of_hostile_files_are_rejected_through_dispatch(hostile: list[Hostile], markers: Path, figures):
    submitter, began = Submitter(), time.perf_counter()
    before = submitter.market.job(submitter.job)
    sent, wrong = 0, {}
    for item in (h for h in hostile if h.via_app):
        without = "model_not_trained" if item.code == "training_too_costly" else item.code
        cases = [(False, without)] + ([] if refit_from_spec(item) else [(True, item.code)])
        for with_data, expected in cases:
            got = submitter.code(item, with_data=with_data)
            sent += 1
            if got != (expected, 0):
                wrong[f"{item.name} ({'with' if with_data else 'without'} data)"] = (expected, *got)
    assert not wrong, f"expected code, got (code, outputs): {wrong}"
    after = submitter.market.job(submitter.job)  # every submission a bare commit, the budget untouched
    assert after["job"]["submissions"] == sent and after["job"]["budget"] == before["job"]["budget"]
    assert {s["status"] for s in after["submissions"]} == {"committed"}
    assert list(markers.iterdir()) == []
    figures("submissions of hostile files (with / without training data)", sent)
    figures("bytes uploaded", submitter.uploaded)
    figures("submissions accepted, marker files created", "0, 0")
    figures("seconds", f"{time.perf_counter() - began:.1f}")


def test_malformed_trained_files_are_refused_even_when_refitted_from_their_spec(hostile: list[Hostile]):
    submitter = Submitter()
    gaps = [item for item in hostile if item.via_app and refit_from_spec(item)]
    assert len(gaps) >= 10
    got = {item.name: submitter.code(item, with_data=True)[0] for item in gaps}
    assert got == {item.name: item.code for item in gaps}
