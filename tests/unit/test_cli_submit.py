"""``mlmarket submit``: one command commits, uploads, reveals and prints each stage; re-running it
after an interruption resumes from the state file (the fake machine of test_client_submission_flow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from mlmarket.cli import common
from mlmarket.cli.main import cli

from dapp.codec.cid import cid_of, cid_to_text
from tests.unit.test_client_submission_flow import DATA, MODEL, FakeMarket, Interrupted, Machine


@pytest.fixture()
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Machine:
    world = Machine()
    monkeypatch.setenv("MLMARKET_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(common.Session, "market", lambda self, read_only=False: FakeMarket(world))
    (tmp_path / "model.json").write_bytes(MODEL)
    (tmp_path / "train.csv").write_bytes(DATA)
    monkeypatch.chdir(tmp_path)
    return world


def submit(*extra: str) -> Result:
    return CliRunner().invoke(cli, ["submit", "1", "--model", "model.json", "--data", "train.csv", *extra])


def test_submit_prints_each_stage_and_the_outcome(machine: Machine, tmp_path: Path) -> None:
    result = submit()
    assert result.exit_code == 0, result.output
    err = result.stderr
    assert "committed as submission 1" in err
    chunks = [line for line in err.splitlines() if line.startswith("uploading data ")]
    total = len([name for name in machine.names() if name == "uploadChunk"]) - 1  # the model is one chunk
    assert chunks[-1] == f"uploading data {total}/{total} chunks"
    assert "revealed: submission 1 of job 1, score 0.93, accepted, paid 10 TEST" in result.stdout
    assert list((tmp_path / "state" / "submissions").iterdir()) == []


def test_submit_json_is_the_reveals_outcome_with_the_submission(machine: Machine) -> None:
    result = submit("--json")
    answer = json.loads(result.stdout)
    assert answer["ok"] is True and answer["submission"] == 1 and answer["resumed"] is False
    assert [n["name"] for n in answer["notices"]][:2] == ["SubmissionReceived", "SubmissionScored"]
    assert {u["cid"] for u in answer["uploads"]} == {cid_to_text(cid_of(MODEL)), cid_to_text(cid_of(DATA))}
    assert "revealed: submission 1" in result.stderr


def test_rerunning_the_same_command_resumes_the_interrupted_submission(machine: Machine, tmp_path: Path) -> None:
    data_cid = cid_to_text(cid_of(DATA))
    machine.fail_at = lambda name, args: name == "uploadChunk" and cid_to_text(args[0]) == data_cid and args[2] > 0
    first = submit()
    assert isinstance(first.exception, Interrupted)
    (kept,) = (tmp_path / "state" / "submissions").iterdir()
    salt = json.loads(kept.read_text())["salt"]
    sent_before = len(machine.sent)
    machine.fail_at = lambda name, args: False
    second = submit()
    assert second.exit_code == 0, second.output
    assert f"resuming the submission to job 1 kept in {kept}" in second.stderr
    assert machine.names().count("commitSubmission") == 1
    offsets = [args[2] for name, args, _ in machine.sent[sent_before:] if name == "uploadChunk"]
    assert offsets and min(offsets) > 0  # the data's first chunk was not sent again
    reveal_salt = machine.sent[-1][1][3]
    assert "0x" + reveal_salt.hex() == salt


def test_a_cid_that_is_not_stored_is_explained_and_kept_for_a_rerun(machine: Machine, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["submit", "1", "--model", cid_to_text(cid_of(b"elsewhere"))])
    assert result.exit_code == 1 and "is not stored and its file is not here" in result.stderr
    assert machine.names() == ["commitSubmission"]
    assert len(list((tmp_path / "state" / "submissions").iterdir())) == 1


def test_without_stake_the_part_of_the_jobs_stake_the_balance_lacks_goes_with_the_commit(
        machine: Machine) -> None:
    machine.stake, machine.balance = 3000, 1000
    result = submit()
    assert result.exit_code == 0, result.output
    commit = machine.sent[0][2]
    assert machine.sent[0][0] == "commitSubmission" and commit.amount == 2000 and commit.token is not None
    assert "depositing 2000 base units" in result.stderr
    explicit = CliRunner().invoke(cli, ["submit", "1", "--data", "train.csv", "--stake", "5000", "--wei"])
    assert explicit.exit_code == 0, explicit.output
    (last_commit,) = [req for name, _, req in machine.sent[1:] if name == "commitSubmission"]
    assert last_commit.amount == 5000
