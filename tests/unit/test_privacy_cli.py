"""``mlmarket update``: a private update of a federated job made locally from what inspect answers
(here the real dApp with the real engine behind the client's query calls), written as a model file
that the job then accepts with its declaration; clear refusals for jobs and budgets it cannot serve."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result
from mlmarket.cli import common
from mlmarket.cli.main import cli
from mlmarket.client.errors import InspectFailed
from sklearn.datasets import load_breast_cancer

from dapp.ml.engine import Engine
from dapp.ml.modelfile import Privacy, read_model
from tests.fixtures.ml.helpers import spec, to_csv
from tests.support.market import CAROL, SPONSOR, Market
from tests.support.rollup import notice_args
from tests.support.rollup import notice_names as names

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


class DappReader:
    """The client ``Market`` as far as ``mlmarket update`` uses it: inspect, answered by the dApp."""

    def __init__(self, market: Market) -> None:
        self.market = market

    def query(self, path: str) -> Any:
        answer = self.market.inspect(path)
        if not answer.get("ok", True):
            raise InspectFailed(answer["error"]["message"], code=answer["error"]["code"], report=answer)
        return answer

    def content_info(self, cid: str) -> dict[str, Any] | None:
        try:
            return self.query(f"contents/{cid}")
        except InspectFailed as exc:
            if exc.code == "not_found":
                return None
            raise


@pytest.fixture()
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A dApp with a federated job (1, clip_norm 0.8), one without a clip_norm (2), a threshold job
    (3) and a federated job whose bar is 0.999 (4); the contributor's private.csv in the working
    directory."""
    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    order = np.random.default_rng(0).permutation(len(y))
    X, y = X[order], y[order]
    m = Market(engine=Engine())
    validation = m.put(SPONSOR, to_csv(X[:150], y[:150]))
    base = m.put(SPONSOR, spec("LogisticRegression", max_iter=100))
    rounds = dict(policy="rounds", rounds=2, round_duration=100, reward_per_accept=100, min_score=0,
                  tolerance=1_000_000, validation_cid=validation, base_model_cid=base)
    jobs = [m.create_job(1000, clip_norm=800_000, **rounds), m.create_job(1000, **rounds),
            m.create_job(1000, validation_cid=validation),
            m.create_job(1000, clip_norm=800_000, **{**rounds, "min_score": 999_000})]
    assert jobs == [1, 2, 3, 4]
    (tmp_path / "private.csv").write_bytes(to_csv(X[150:250], y[150:250]))
    monkeypatch.setattr(common.Session, "market", lambda self, read_only=False: DappReader(m))
    monkeypatch.chdir(tmp_path)
    return {"market": m, "dir": tmp_path}


def update(*args: str) -> Result:
    return CliRunner().invoke(cli, ["update", *args])


def test_update_writes_a_noised_model_file_the_job_accepts_with_its_declaration(world):
    result = update("1", "--data", "private.csv", "--epsilon", "2", "--delta", "1e-6", "-o", "update.zip",
                    "--seed", "5")
    assert result.exit_code == 0, result.output
    assert "wrote update.zip" in result.stdout and "next: mlmarket submit 1 --model update.zip" in result.stdout
    assert "epsilon 2, delta 1e-06" in result.stdout
    data = (world["dir"] / "update.zip").read_bytes()
    assert read_model(data).privacy == Privacy(2_000_000, 1_000_000)
    m = world["market"]
    done = m.submit(CAROL, 1, m.put(CAROL, data))  # what `mlmarket submit 1 --model update.zip` sends
    assert done.accepted, done.reports
    ((job, sub, epsilon, delta, norm),) = notice_args(done, "PrivacyDeclared")
    assert (job, sub, epsilon, delta) == (1, 1, 2_000_000, 1_000_000) and norm <= 800_000


def test_update_json_names_the_noise_and_the_distance(world):
    result = update("1", "--data", "private.csv", "--epsilon", "1", "-o", "update.zip", "--seed", "1", "--json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["ok"] is True and answer["job"] == 1 and answer["round"] == 0 and answer["rows"] == 100
    assert answer["epsilon"] == 1 and answer["delta"] == 1e-5 and answer["clip_norm"] == 0.8
    assert answer["sigma"] > 0 and answer["distance"] <= 0.8 and answer["parameters"] == 31
    assert answer["size"] == len((world["dir"] / "update.zip").read_bytes())
    assert answer["meets_bar"] is True  # job 1's bar is min_score 0


def test_update_says_when_the_noised_update_would_miss_the_rounds_bar(world):
    result = update("4", "--data", "private.csv", "--epsilon", "0.5", "-o", "update.zip", "--seed", "2")
    assert result.exit_code == 0, result.output
    assert "BELOW the round's bar: the machine would refuse it" in result.stdout
    m = world["market"]
    done = m.submit(CAROL, 4, m.put(CAROL, (world["dir"] / "update.zip").read_bytes()))
    assert done.accepted and "PrivacyDeclared" not in names(done)  # as said: scored, not taken
    assert m.inspect("jobs/4/submissions")["submissions"][0]["status"] == "rejected"


@pytest.mark.parametrize("job, message", [
    ("2", "job 2 has no clip_norm"),
    ("3", "job 3 is a 'threshold' job: private updates are for federated ('rounds') jobs"),
    ("9", "no job 9"),
])
def test_a_job_that_cannot_take_a_private_update_is_named(world, job, message):
    result = update(job, "--data", "private.csv", "--epsilon", "1", "-o", "update.zip")
    assert result.exit_code == 1 and message in result.stderr
    assert not (world["dir"] / "update.zip").exists()


@pytest.mark.parametrize("flags, message", [
    (["--epsilon", "0"], "epsilon must be in (0, 100]"),
    (["--epsilon", "101"], "epsilon must be in (0, 100]"),
    (["--epsilon", "1", "--delta", "1"], "delta must be in (0, 1)"),
])
def test_an_impossible_budget_is_refused_before_anything_is_read(world, flags, message):
    result = update("1", "--data", "private.csv", "-o", "update.zip", *flags)
    assert result.exit_code == 1 and message in result.stderr


def test_private_data_whose_columns_differ_is_refused_with_the_engines_reason(world):
    (world["dir"] / "other.csv").write_bytes(b"a,b,target\n1,2,0\n3,4,1\n")
    result = update("1", "--data", "other.csv", "--epsilon", "1", "-o", "update.zip")
    assert result.exit_code == 1 and "the update cannot be made" in result.stderr and "columns" in result.stderr


def test_the_command_is_listed_with_its_help():
    listing = CliRunner().invoke(cli, ["--help"]).output
    assert "update" in listing
    helped = CliRunner().invoke(cli, ["update", "--help"]).output
    for words in ("--epsilon", "--delta", "--data", "never sent", "clip_norm", "mlmarket submit"):
        assert words in helped
