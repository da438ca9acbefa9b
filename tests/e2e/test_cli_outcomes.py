"""Issue 15 on a real local node (anvil, the Cartesi v2.2.0 contracts, the real backend): what the CLI
says about submissions and money is what the machine did. A refused submission exits 3 with its
reason, an invalid one 4 with its stake slashed; a `best` winner shows the model the machine trained
and published; a data-only update trains the job's model; access takes dev account numbers and a
revoked contributor is told its request stands; a rejected deposit says where the money is.

Commands run in-process through click's runner (helpers of devnode_harness); expected amounts are
computed here from the spec's numbers, and the machine's state is read back with `--json`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import Result
from web3 import Web3

from devnode.contracts import abi_of
from devnode.node import Node
from tests.e2e.devnode_harness import address, mlmarket, node_fixture, pass_time, run_mlmarket, spec_file

pytestmark = pytest.mark.e2e

SPONSOR, CONTRIBUTOR, OUTSIDER = 0, 1, 2

node = node_fixture(auto_mine=False)


@pytest.fixture(scope="module")
def validation(node: Node, files: dict[str, Path]) -> str:
    return mlmarket(node, "put", str(files["valid"]))["cid"]


def text(node: Node, *args: str, account: int = SPONSOR) -> Result:
    """``mlmarket ARGS --account N`` with text output (no --json)."""
    return run_mlmarket(node, *args, account=account, as_json=False)


def submit_model(node: Node, job: int, files: dict[str, Path]) -> Result:
    """The contributor's ``mlmarket submit`` of the example model on the training data, text output."""
    return text(node, "submit", str(job), "--model", str(files["model"]), "--data", str(files["train"]),
                account=CONTRIBUTOR)


def no_preflight(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sends what the pre-flight would stop, to see what the machine itself answers."""
    from mlmarket.cli import preflight

    monkeypatch.setattr(preflight, "check_submission", lambda *args, **kwargs: None)
    monkeypatch.setattr(preflight, "check_job", lambda *args, **kwargs: None)


@pytest.fixture(scope="module")
def sym(node: Node, w3: Web3) -> str:
    """The test token's symbol, read from the contract with web3 (not through the client)."""
    token = w3.eth.contract(address=node.info()["addresses"]["Token"], abi=abi_of("TestToken"))
    return token.functions.symbol().call()


def free(node: Node, account: int) -> int:
    token = node.info()["addresses"]["Token"].lower()
    return int(mlmarket(node, "balance", account=account)["dapp"].get(token, 0))


def test_a_submission_below_min_score_is_refused_with_its_reason_and_exit_3(
        node: Node, files: dict[str, Path], validation: str, tmp_path: Path) -> None:
    spec = spec_file(tmp_path, validation, min_score=0.999)
    job = mlmarket(node, "job", "create", str(spec), "--reward", "20")["job"]
    result = submit_model(node, job, files)
    assert result.exit_code == 3, result.output
    (sub,) = mlmarket(node, "job", "show", str(job))["submissions"]
    score = f"accuracy {sub['score_millionths'] // 10**6}.{sub['score_millionths'] % 10**6:06d}"
    assert (f"revealed: submission 1 of job {job}, {score}, REFUSED because its score {score} is below the job's "
            f"min_score accuracy 0.999000") in result.stdout
    assert sub["status"] == "rejected"


def test_an_invalid_submission_exits_4_and_says_its_stake_was_slashed(
        node: Node, files: dict[str, Path], validation: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        sym: str) -> None:
    no_preflight(monkeypatch)
    job = mlmarket(node, "job", "create", str(spec_file(tmp_path, validation, stake="1.5")), "--reward", "20")["job"]
    junk = tmp_path / "junk.json"
    junk.write_text(json.dumps({"estimator": "NoSuchEstimator", "params": {}}))
    result = text(node, "submit", str(job), "--model", str(junk), "--data", str(files["train"]), "--stake", "1.5",
                  account=CONTRIBUTOR)
    assert result.exit_code == 4, result.output
    (sub,) = mlmarket(node, "job", "show", str(job))["submissions"]
    assert sub["status"] == "invalid" and sub["error"]
    assert (f"revealed: submission 1 of job {job}, INVALID: {sub['error']}, stake slashed 1.5 {sym} into job {job}'s "
            f"budget") in result.stdout
    assert mlmarket(node, "job", "show", str(job))["job"]["budget"] == str(215 * 10**17)  # 20 + 1.5


def test_a_best_winner_shows_the_trained_model_the_machine_published(
        node: Node, w3: Web3, files: dict[str, Path], validation: str, tmp_path: Path) -> None:
    spec = spec_file(tmp_path, validation, policy="best", reward_per_accept=0, deadline="+120")
    job = mlmarket(node, "job", "create", str(spec), "--reward", "5")["job"]
    waiting = submit_model(node, job, files)
    assert waiting.exit_code == 0 and "a candidate for the prize" in waiting.stdout
    pass_time(w3, 121)
    settled = mlmarket(node, "settle", str(job))
    assert "ModelPublished" in [n["name"] for n in settled["notices"]]
    shown = mlmarket(node, "job", "show", str(job))
    (winner,) = shown["submissions"]
    assert winner["status"] == "accepted" and winner["reward"] == str(5 * 10**18)
    assert winner["trained_model_cid"] is not None and winner["trained_model_cid"] == shown["job"]["model_cid"]
    assert winner["trained_model_cid"] != winner["model_cid"]  # trained by the machine, not the spec sent
    assert mlmarket(node, "inspect", f"contents/{winner['trained_model_cid']}")["size"] > 0


def test_a_data_only_update_trains_the_jobs_model(node: Node, files: dict[str, Path], validation: str,
                                                  tmp_path: Path, sym: str) -> None:
    base = mlmarket(node, "put", str(files["model"]))["cid"]
    job = mlmarket(node, "job", "create", str(spec_file(tmp_path, validation, base_model_cid=base)),
                   "--reward", "10")["job"]
    result = text(node, "submit", str(job), "--data", str(files["train"]), account=CONTRIBUTOR)
    assert result.exit_code == 0, result.output
    assert f"accepted, paid 10 {sym}" in result.stdout.splitlines()[0]
    (sub,) = mlmarket(node, "job", "show", str(job))["submissions"]
    assert sub["model_cid"] is None and sub["status"] == "accepted"


def test_access_by_account_number_and_the_message_after_a_revoke(node: Node, files: dict[str, Path],
                                                                 validation: str, tmp_path: Path) -> None:
    job = mlmarket(node, "job", "create", str(spec_file(tmp_path, validation, gated=True)), "--reward", "10")["job"]
    mlmarket(node, "access", "request", str(job), account=OUTSIDER)
    mlmarket(node, "access", "grant", str(job), str(OUTSIDER))
    assert mlmarket(node, "access", "list", str(job))["granted"] == [address(OUTSIDER).lower()]
    mlmarket(node, "access", "revoke", str(job), str(OUTSIDER))
    assert mlmarket(node, "access", "list", str(job))["granted"] == []
    refused = text(node, "submit", str(job), "--model", str(files["model"]), account=OUTSIDER)
    assert refused.exit_code != 0
    assert "request stands" in refused.stderr and "requestAccess first" not in refused.stderr


def test_a_rejected_job_creation_says_where_its_deposit_went(node: Node, validation: str, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch, sym: str) -> None:
    no_preflight(monkeypatch)
    before = free(node, SPONSOR)
    result = text(node, "job", "create", str(spec_file(tmp_path, validation, label="no_such_column")),
                  "--reward", "10")
    assert result.exit_code == 1
    after = free(node, SPONSOR)
    assert after - before == 10 * 10**18  # the machine credited the deposit to the sponsor's free balance
    whole = after // 10**18
    assert (f"10 {sym} are in your dApp balance (free balance now {whole}"
            in result.stderr) and "`mlmarket withdraw 10`" in result.stderr



def test_the_reveal_of_a_hidden_test_set_says_the_winner_was_paid(node: Node, w3: Web3, files: dict[str, Path],
                                                                  validation: str, tmp_path: Path, sym: str) -> None:
    test_cid = mlmarket(node, "cid", str(files["valid"]))["cid"]
    committed = mlmarket(node, "job", "commitment", "--test-cid", test_cid)
    spec = spec_file(tmp_path, validation, policy="best", reward_per_accept=0, deadline="+120", reveal_window=600,
                     test_commitment=committed["test_commitment"])
    job = mlmarket(node, "job", "create", str(spec), "--reward", "5")["job"]
    waiting = submit_model(node, job, files)
    assert waiting.exit_code == 0 and "waiting for the sponsor to reveal the job's hidden test set" in waiting.stdout
    pass_time(w3, 121)
    revealed = text(node, "reveal", str(job), "--test-cid", test_cid, "--salt", committed["salt"])
    assert revealed.exit_code == 0, revealed.output
    (sub,) = mlmarket(node, "job", "show", str(job))["submissions"]
    score = f"accuracy {sub['score_millionths'] // 10**6}.{sub['score_millionths'] % 10**6:06d}"
    assert f"submission 1: {score}, accepted, paid 5 {sym}" in revealed.stdout
    assert "accepted=False" not in revealed.stdout
