"""``mlmarket submit``: one command commits, uploads, reveals and prints each stage; re-running it
after an interruption resumes from the state file (the fake machine of test_client_submission_flow,
here with the inspect answers of the submission after its reveal, so the outcome says what the
machine made of it and the exit status follows: 0 accepted or waiting, 3 refused, 4 invalid)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner, Result
from mlmarket.cli import common
from mlmarket.cli.main import cli
from mlmarket.client.chain import InputRequest
from mlmarket.client.outputs import DecodedNotice, InputOutcome, decode_notice_payload

from dapp.codec import abi
from dapp.codec.cid import cid_of, cid_to_text
from tests.unit.test_client_submission_flow import DATA, MODEL, TOKEN, FakeChain, FakeMarket, Interrupted, Machine

NOW = 1_800_000_000
STAKE = 2 * 10**18


@dataclass
class Judged(Machine):
    """The fake machine, whose reveal ends as ``status`` says (``accepted``: the base machine's
    score 0.93 and 10 TEST reward; ``rejected``: score ``score``, stake returned; ``invalid``:
    ``error``, stake slashed)."""

    status: str = "accepted"
    score: int = 930_000
    error: str = ""
    min_score: int = 900_000

    def process(self, sender: str, request: InputRequest) -> int:
        index = super().process(sender, request)
        name, args, _ = self.sent[-1]
        if not name.startswith("revealSubmission") or self.status == "accepted" or self.outcomes[index].error:
            return index
        job, model_cid, data_cid, _salt = args[:4]
        carried = [n for n in self.outcomes[index].notices if n.name == "ContentStored"]  # inline contents
        sub = next(n.args["submissionId"] for n in self.outcomes[index].notices if "submissionId" in n.args)
        out = [("SubmissionReceived", (job, sub, sender, model_cid, data_cid, self.stake)),
               ("SubmissionScored", (job, sub, sender, model_cid, data_cid, self.score, False))]
        if self.stake:
            slashed = self.status == "invalid"
            out.append(("StakeSlashed" if slashed else "StakeReturned", (job, sub, sender, self.stake)))
        del self.notices[-len(self.outcomes[index].notices) + len(carried):]
        notices = list(carried)
        for notice_name, values in out:
            payload = abi.notices().encode(notice_name, *values)
            notices.append(DecodedNotice(len(self.notices), index, *decode_notice_payload(payload), payload))
            self.notices.append(notices[-1])
        self.outcomes[index] = InputOutcome(index, "ACCEPTED", tuple(notices), (), ())
        return index


class SymbolChain(FakeChain):
    def contract(self, kind: str, address: str) -> Any:
        assert kind == "ERC20" and address.lower() == TOKEN.lower()
        return SimpleNamespace(functions=SimpleNamespace(symbol=lambda: SimpleNamespace(call=lambda: "TEST")))


class InspectedMarket(FakeMarket):
    """The fake market, answering ``jobs/1`` and the submission's record as the backend would."""

    def __init__(self, machine: Judged) -> None:
        super().__init__(machine)
        self.chain = SymbolChain(machine)

    def now(self) -> int:
        return NOW

    def query(self, path: str) -> Any:
        world = self.machine
        if path == "jobs/1":
            return {"ok": True, "job": {"id": 1, "token": TOKEN.lower(), "metric": "accuracy", "policy": "threshold",
                                        "deadline": NOW + 3600, "budget": str(90 * 10**18),
                                        "spec": {"stake": str(world.stake), "min_score": world.min_score}}}
        if path.startswith("jobs/1/submissions?"):
            paid = world.status == "accepted"
            score = 930_000 if paid else world.score
            return {"ok": True, "submissions": [
                {"id": len(world.revealed), "status": world.status, "error": world.error or None,
                 "score_millionths": None if world.status == "invalid" else score,
                 "reward": str(10 * 10**18 if paid else 0), "stake": str(world.stake)}]}
        return super().query(path)


@pytest.fixture()
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Judged:
    world = Judged()
    monkeypatch.setenv("MLMARKET_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(common.Session, "market", lambda self, read_only=False: InspectedMarket(world))
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
    total = len([name for name in machine.names() if name == "uploadChunkCoded"])  # the model travels inline
    assert chunks[-1] == f"uploading data {total}/{total} chunks"
    assert machine.names()[-1] == "revealSubmissionInline" and machine.sent[-1][1][4] == (tmp_path / "model.json").read_bytes()
    assert "revealed: submission 1 of job 1, accuracy 0.930000, accepted, paid 10 TEST" in result.stdout
    assert list((tmp_path / "state" / "submissions").iterdir()) == []


def test_submit_json_is_the_reveals_outcome_with_the_submission(machine: Machine) -> None:
    result = submit("--json")
    answer = json.loads(result.stdout)
    assert answer["ok"] is True and answer["submission"] == 1 and answer["resumed"] is False
    assert [n["name"] for n in answer["notices"]][:3] == ["ContentStored", "SubmissionReceived", "SubmissionScored"]
    assert {u["cid"] for u in answer["uploads"]} == {cid_to_text(cid_of(DATA))}  # the model travels in the reveal
    assert "revealed: submission 1" in result.stderr


def test_rerunning_the_same_command_resumes_the_interrupted_submission(machine: Machine, tmp_path: Path) -> None:
    data_cid = cid_to_text(cid_of(DATA))
    machine.fail_at = lambda name, args: name == "uploadChunkCoded" and cid_to_text(args[0]) == data_cid and args[2] > 0
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
    offsets = [args[2] for name, args, _ in machine.sent[sent_before:] if name == "uploadChunkCoded"]
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
    assert f"depositing {2000 / 10**18:.15f}".rstrip("0") + " TEST with the commit" in result.stderr
    explicit = CliRunner().invoke(cli, ["submit", "1", "--data", "train.csv", "--stake", "5000", "--wei"])
    assert explicit.exit_code == 0, explicit.output
    (last_commit,) = [req for name, _, req in machine.sent[1:] if name == "commitSubmission"]
    assert last_commit.amount == 5000


def test_a_refused_submission_says_why_and_exits_3(machine: Judged) -> None:
    machine.status, machine.score, machine.stake, machine.balance = "rejected", 512_345, STAKE, STAKE
    result = submit()
    assert result.exit_code == 3, result.output
    (head,) = [line for line in result.stdout.splitlines() if line.startswith("revealed:")]
    assert head == ("revealed: submission 1 of job 1, accuracy 0.512345, REFUSED because its score accuracy 0.512345 "
                    "is below the job's min_score accuracy 0.900000, stake returned 2 TEST, 2 TEST credited to your "
                    "dApp balance: `mlmarket withdraw --all` takes it out, one voucher for everything")
    assert "ACCEPTED" in result.stdout  # the input itself went through: only the submission was refused
    answer = json.loads(submit("--json").stdout)
    assert answer["ok"] is False and answer["submission_status"] == "rejected"


def test_a_slashed_submission_says_where_the_stake_went_and_exits_4(machine: Judged) -> None:
    machine.status, machine.error, machine.stake, machine.balance = "invalid", "model: not JSON", 3 * 10**17, 10**18
    result = submit()
    assert result.exit_code == 4, result.output
    assert ("revealed: submission 1 of job 1, INVALID: model: not JSON, stake slashed 0.3 TEST into job 1's budget"
            in result.stdout)


def test_the_machines_reason_for_a_refusal_is_shown(machine: Judged) -> None:
    machine.status, machine.error = "rejected", "the same work was paid to submission 1"
    result = submit()
    assert result.exit_code == 3 and "REFUSED because the same work was paid to submission 1" in result.stdout


def test_a_data_only_update_reveals_an_empty_model_cid(machine: Judged) -> None:
    result = CliRunner().invoke(cli, ["submit", "1", "--data", "train.csv"])
    assert result.exit_code == 0, result.output
    (reveal,) = [args for name, args, _ in machine.sent if name == "revealSubmission"]
    assert reveal[1] == b"" and cid_to_text(reveal[2]) == cid_to_text(cid_of(DATA))  # the commitment matched it
