"""The mlmarket CLI end to end: a real anvil, the real Cartesi v2.2.0 contracts, the real backend.

One local node serves the module (auto-mining off, so epochs close only when a command forces the
claim). Commands run in-process through click's runner with ``--json``; on-chain effects are read
with web3 directly, not through the client under test.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from mlmarket.cli.main import cli
from web3 import Web3

from dapp.codec.abi import inputs
from dapp.codec.cid import cid_of, cid_to_text
from devnode.anvil import dev_accounts
from devnode.node import Node, NodeConfig
from tests.e2e.devnode_harness import (
    address, cli_env, cli_state_dir, mlmarket, node_fixture, outputs, pass_time, run_mlmarket, send_signed,
    spec_file, token_balance)

pytestmark = pytest.mark.e2e

SPONSOR, CONTRIBUTOR, BYSTANDER = 0, 1, 2
EXPECTED_REWARD = 10 * 10**18

node = node_fixture(auto_mine=False)


def kept_submissions(node: Node) -> list[Path]:
    directory = cli_state_dir(node) / "submissions"
    return sorted(directory.glob("*.json")) if directory.is_dir() else []


def test_node_info_names_every_contract(node: Node) -> None:
    info = mlmarket(node, "node", "info")
    assert info["chain_id"] == 31337 and info["reader_url"].endswith("/rpc")
    assert set(info["addresses"]) == {"InputBox", "ERC20Portal", "EtherPortal", "Application", "Authority", "Token"}
    assert info["addresses"]["Application"] == node.info()["addresses"]["Application"]


def test_put_prints_the_ipfs_cid_and_skips_what_is_stored(node: Node, files: dict[str, Path]) -> None:
    first = mlmarket(node, "put", str(files["valid"]))
    assert first["cid"] == cid_to_text(cid_of(files["valid"].read_bytes()))
    assert first["chunks_sent"] >= 1 and not first["already_stored"]
    again = mlmarket(node, "put", str(files["valid"]), account=BYSTANDER)
    assert again["cid"] == first["cid"] and again["already_stored"] and again["chunks_sent"] == 0


def test_threshold_job_pays_the_contributor_on_chain(node: Node, w3: Web3, files: dict[str, Path],
                                                     tmp_path: Path) -> None:
    validation = mlmarket(node, "put", str(files["valid"]))["cid"]
    created = mlmarket(node, "job", "create", str(spec_file(tmp_path, validation)), "--reward", "30")
    job = created["job"]
    assert isinstance(job, int) and [n["name"] for n in created["notices"]] == ["Deposited", "JobCreated"]

    train, model = (cid_to_text(cid_of(files[name].read_bytes())) for name in ("train", "model"))
    submitted = mlmarket(node, "submit", str(job), "--model", str(files["model"]), "--data", str(files["train"]),
                         account=CONTRIBUTOR)  # commit, upload, reveal
    assert submitted["job"] == job and isinstance(submitted["submission"], int) and not submitted["resumed"]
    assert {u["cid"] for u in submitted["uploads"]} == {train} and kept_submissions(node) == []  # the model: inline
    committed = [o for o in mlmarket(node, "outputs") if o.get("name") == "SubmissionCommitted"
                 and o["args"]["commitment"] == submitted["commitment"]]
    assert [c["args"]["submissionId"] for c in committed] == [submitted["submission"]]
    assert committed[0]["input_index"] < submitted["input"]
    scored = next(n["args"] for n in submitted["notices"] if n["name"] == "SubmissionScored")
    assert scored["accepted"] is True and 800_000 <= scored["score"] <= 1_000_000
    assert "RewardPaid" in [n["name"] for n in submitted["notices"]] and submitted["vouchers"] == []
    token = node.info()["addresses"]["Token"].lower()
    assert mlmarket(node, "balance", account=CONTRIBUTOR)["dapp"] == {token: str(EXPECTED_REWARD)}  # credited
    ((withdrawn,),) = [w["vouchers"] for w in mlmarket(node, "withdraw", "--all", account=CONTRIBUTOR)["withdrawn"]]
    voucher = withdrawn
    assert voucher["call"] == {"function": "transfer", "token": token,
                               "to": address(CONTRIBUTOR).lower(), "amount": str(EXPECTED_REWARD)}
    assert mlmarket(node, "balance", account=CONTRIBUTOR)["dapp"] == {}

    shown = mlmarket(node, "job", "show", str(job))
    (submission,) = shown["submissions"]
    assert submission["contributor"] == address(CONTRIBUTOR).lower() and submission["model_cid"] == model
    assert submission["data_cid"] == train and submission["accepted"] is True
    assert submission["score"] == pytest.approx(scored["score"] / 1e6)

    listed = mlmarket(node, "outputs", "--input", str(voucher["input_index"]))
    assert [o["state"] for o in listed if o["type"] == "voucher"] == ["waiting for claim"]

    before = token_balance(w3, node, address(CONTRIBUTOR))
    executed = mlmarket(node, "execute", str(voucher["index"]), account=CONTRIBUTOR)
    assert executed["executed"][0]["state"] == "executed"
    assert token_balance(w3, node, address(CONTRIBUTOR)) - before == EXPECTED_REWARD

    again = mlmarket(node, "execute", str(voucher["index"]), account=CONTRIBUTOR, ok=False)
    assert "OutputNotReexecutable" in again["error"]
    assert token_balance(w3, node, address(CONTRIBUTOR)) - before == EXPECTED_REWARD


def test_ether_job_pays_in_ether(node: Node, w3: Web3, files: dict[str, Path], tmp_path: Path) -> None:
    validation = mlmarket(node, "put", str(files["valid"]))["cid"]
    spec = spec_file(tmp_path, validation, reward_per_accept="0.25")
    job = mlmarket(node, "job", "create", str(spec), "--reward", "0.5", "--eth")["job"]
    submitted = mlmarket(node, "submit", str(job), "--model", str(files["model"]), "--data", str(files["train"]),
                         account=CONTRIBUTOR)
    assert submitted["vouchers"] == []  # the reward is credited to the contributor's Ether balance in the dApp
    (withdrawn,) = mlmarket(node, "withdraw", "--all", "--eth", account=CONTRIBUTOR)["withdrawn"]
    (voucher,) = withdrawn["vouchers"]
    assert voucher["call"]["function"] == "ether" and voucher["value"] == str(25 * 10**16)
    before = w3.eth.get_balance(address(CONTRIBUTOR))
    mlmarket(node, "execute", str(voucher["index"]), account=BYSTANDER)  # anyone may execute; the bystander pays gas
    assert w3.eth.get_balance(address(CONTRIBUTOR)) - before == 25 * 10**16


def test_withdraw_then_execute_all(node: Node, w3: Web3) -> None:
    mlmarket(node, "deposit", "3", account=BYSTANDER)
    withdrawn = mlmarket(node, "withdraw", "2", account=BYSTANDER)
    assert [n["name"] for n in withdrawn["notices"]] == ["Withdrawn"]
    balances = mlmarket(node, "balance", account=BYSTANDER)
    assert balances["dapp"][node.info()["addresses"]["Token"].lower()] == str(10**18)
    mlmarket(node, "deposit", "1", account=CONTRIBUTOR)
    (theirs,) = mlmarket(node, "withdraw", "1", account=CONTRIBUTOR)["vouchers"]
    before = token_balance(w3, node, address(BYSTANDER))
    executed = mlmarket(node, "execute", "--all", account=BYSTANDER)["executed"]
    assert token_balance(w3, node, address(BYSTANDER)) - before == 2 * 10**18
    assert executed and all(v["call"]["to"] == address(BYSTANDER).lower() for v in executed)
    vouchers = {o["index"]: o for o in mlmarket(node, "outputs", "--vouchers")}
    assert vouchers[theirs["index"]]["state"] != "executed"  # someone else's: left for them
    mlmarket(node, "execute", "--all", "--everyone", account=BYSTANDER)
    assert all(o["state"] == "executed" for o in mlmarket(node, "outputs", "--vouchers"))


def test_rejected_input_prints_the_report_and_fails(node: Node) -> None:
    answer = mlmarket(node, "settle", "999", ok=False)
    assert answer["status"] == "REJECTED" and "999" in answer["error"]
    assert answer["notices"] == [] and answer["vouchers"] == []


def test_imitated_portal_deposit_through_the_input_box_credits_nothing(node: Node) -> None:
    token = bytes.fromhex(node.info()["addresses"]["Token"][2:])
    forged = token + bytes.fromhex(address(BYSTANDER)[2:]) + (10**24).to_bytes(32, "big")
    before = mlmarket(node, "balance", account=BYSTANDER)["dapp"]
    answer = mlmarket(node, "send", "0x" + forged.hex(), account=BYSTANDER, ok=False)
    assert answer["status"] == "REJECTED"
    assert mlmarket(node, "balance", account=BYSTANDER)["dapp"] == before


def test_model_export_writes_a_loadable_joblib(node: Node, files: dict[str, Path], tmp_path: Path) -> None:
    import joblib

    model = mlmarket(node, "put", str(files["model"]), account=CONTRIBUTOR)["cid"]
    out = tmp_path / "model.joblib"
    written = mlmarket(node, "model", "export", model, "-o", str(out))
    assert written["output"] == str(out)
    estimator = joblib.load(out)  # our own file, written by the test: safe to load
    assert type(estimator).__name__ == "LogisticRegression" and estimator.max_iter == 1000


def test_interrupted_upload_resumes_and_large_files_get_a_dag_pb_cid(node: Node, tmp_path: Path) -> None:
    from dapp.codec.chunks import plan_upload

    rng = np.random.default_rng(5)
    data = rng.integers(0, 256, 300_000, dtype=np.uint8).tobytes()  # incompressible: several raw chunks
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    first = plan_upload(data).chunks[0]
    mlmarket(node, "send", "0x" + first.payload.hex(), account=CONTRIBUTOR)  # the interrupted upload's first chunk
    resumed = mlmarket(node, "put", str(path), account=CONTRIBUTOR)
    assert resumed["resumed_from"] == first.length and resumed["cid"].startswith("bafybei")
    assert resumed["cid"] == cid_to_text(cid_of(data))
    stored = mlmarket(node, "inspect", f"contents/{resumed['cid']}")
    assert stored["size"] == len(data)


def test_an_interrupted_submission_resumes_with_the_same_commitment_and_only_the_missing_chunks(
        node: Node, files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlmarket.client import submission_flow
    from mlmarket.client.chain import InputRequest

    from dapp.codec.chunks import plan_upload

    validation = mlmarket(node, "put", str(files["valid"]))["cid"]
    job = mlmarket(node, "job", "create", str(spec_file(tmp_path, validation)), "--reward", "10")["job"]
    lines = files["train"].read_bytes().splitlines(keepends=True)
    train = tmp_path / "train3.csv"
    train.write_bytes(lines[0] + b"".join(lines[1:] * 13))  # valid, and over 1 MiB: more than one chunk
    chunks = plan_upload(train.read_bytes()).chunks
    assert len(chunks) >= 2
    real_upload = submission_flow.upload

    def cut_after_the_first_chunk(market: Any, data: bytes, **kwargs: Any) -> Any:
        if data != train.read_bytes():
            return real_upload(market, data, **kwargs)
        market.send(InputRequest(chunks[0].payload))
        raise KeyboardInterrupt  # Ctrl-C in the middle of the upload

    args = ["submit", str(job), "--model", str(files["model"]), "--data", str(train), "--json", "--account",
            str(CONTRIBUTOR)]
    with monkeypatch.context() as patch:
        patch.setattr(submission_flow, "upload", cut_after_the_first_chunk)
        first = CliRunner().invoke(cli, args, env=cli_env(node))
    assert first.exit_code != 0 and "committed as submission" in first.stderr
    (kept,) = kept_submissions(node)
    commitment = json.loads(kept.read_text())["commitment"]

    resumed = mlmarket(node, *args[:-3], account=CONTRIBUTOR)
    assert resumed["resumed"] is True and resumed["commitment"] == commitment and kept_submissions(node) == []
    (data_upload,) = [u for u in resumed["uploads"] if u["cid"] == cid_to_text(cid_of(train.read_bytes()))]
    assert data_upload["resumed_from"] == chunks[0].length and data_upload["chunks_sent"] == len(chunks) - 1
    committed = [o for o in mlmarket(node, "outputs") if o.get("name") == "SubmissionCommitted"
                 and o["args"]["commitment"] == resumed["commitment"]]
    assert len(committed) == 1 and committed[0]["args"]["submissionId"] == resumed["submission"]
    assert next(n for n in resumed["notices"] if n["name"] == "SubmissionScored")["args"]["accepted"] is True


def test_a_reveal_behind_an_earlier_open_commit_waits_and_says_so(node: Node, files: dict[str, Path],
                                                                  tmp_path: Path) -> None:
    validation = mlmarket(node, "put", str(files["valid"]))["cid"]
    job = mlmarket(node, "job", "create", str(spec_file(tmp_path, validation)), "--reward", "30")["job"]
    early = inputs().encode("commitSubmission", job, b"\x42" * 32)  # a commit nobody reveals (yet)
    mlmarket(node, "send", "0x" + early.hex(), account=BYSTANDER)
    result = run_mlmarket(node, "submit", str(job), "--model", str(files["model"]), "--data",
                          str(files["train"]), account=CONTRIBUTOR, as_json=False)
    assert result.exit_code == 0, result.output
    score = mlmarket(node, "job", "show", str(job))["submissions"][1]["score_millionths"]
    assert (f"revealed: submission 2 of job {job}, accuracy {score // 10**6}.{score % 10**6:06d}, scored, waiting "
            f"for earlier commits") in result.stdout
    assert "SubmissionScored" not in result.stdout and "RewardPaid" not in result.stdout
    statuses = [s["status"] for s in mlmarket(node, "job", "show", str(job))["submissions"]]
    assert statuses == ["committed", "revealed"]
    cancelled = mlmarket(node, "cancel", str(job))  # waits for the open commit ahead of the reveal
    assert "waits for the job's open commits" in cancelled["cancelling"]
    assert not any(n["name"] == "JobCancelled" for n in cancelled["notices"])
    assert mlmarket(node, "job", "show", str(job))["job"]["cancelling"] is True


def test_manual_job_with_stake_pays_on_review(node: Node, w3: Web3, files: dict[str, Path], tmp_path: Path) -> None:
    validation = mlmarket(node, "put", str(files["valid"]))["cid"]
    spec = spec_file(tmp_path, validation, policy="manual", min_score=0, reward_per_accept=4, stake=1)
    job = mlmarket(node, "job", "create", str(spec), "--reward", "8")["job"]
    model = mlmarket(node, "put", str(files["model"]), account=CONTRIBUTOR)["cid"]
    train = mlmarket(node, "put", str(files["train"]), account=CONTRIBUTOR)["cid"]
    submitted = mlmarket(node, "submit", str(job), "--model", model, "--data", train, "--stake", "1",
                         account=CONTRIBUTOR)  # CIDs of stored content: nothing to upload
    assert submitted["uploads"] == []
    names = [n["name"] for n in submitted["notices"]]
    assert names[0] == "SubmissionReceived" and "StakeReturned" in names
    deposits = [o for o in mlmarket(node, "outputs") if o.get("name") == "Deposited"
                and o["input_index"] < submitted["input"] and o["args"]["account"] == address(CONTRIBUTOR).lower()]
    assert deposits[-1]["args"]["amount"] == str(10**18)  # the stake went in with the commit
    received = submitted["notices"][names.index("SubmissionReceived")]["args"]
    assert received["stake"] == str(10**18)
    assert submitted["vouchers"] == []  # the stake comes back to the dApp balance
    token = node.info()["addresses"]["Token"].lower()
    before = int(mlmarket(node, "balance", account=CONTRIBUTOR)["dapp"][token])  # with earlier jobs' rewards

    refused = mlmarket(node, "review", str(job), str(submitted["submission"]), "--accept", account=CONTRIBUTOR, ok=False)
    assert "forbidden" in refused["error"] or "sponsor" in refused["error"]
    reviewed = mlmarket(node, "review", str(job), str(submitted["submission"]), "--accept")
    assert [n["name"] for n in reviewed["notices"]][:2] == ["SubmissionReviewed", "RewardPaid"]
    assert reviewed["vouchers"] == []
    owed = before + 4 * 10**18
    assert mlmarket(node, "balance", account=CONTRIBUTOR)["dapp"][token] == str(owed)
    # one withdraw takes out the stake and the rewards of every job so far, with one voucher
    ((voucher,),) = [w["vouchers"] for w in mlmarket(node, "withdraw", "--all", account=CONTRIBUTOR)["withdrawn"]]
    assert voucher["call"]["amount"] == str(owed) and owed >= 5 * 10**18  # the stake and the reward at least
    wallet = token_balance(w3, node, address(CONTRIBUTOR))
    mlmarket(node, "execute", str(voucher["index"]), account=CONTRIBUTOR)
    assert token_balance(w3, node, address(CONTRIBUTOR)) - wallet == owed


def test_best_job_with_hidden_test_set_pays_after_the_reveal(node: Node, w3: Web3, files: dict[str, Path],
                                                               tmp_path: Path) -> None:
    test_cid = mlmarket(node, "cid", str(files["valid"]))["cid"]
    committed = mlmarket(node, "job", "commitment", "--test-cid", test_cid)
    validation = mlmarket(node, "put", str(files["train"]))["cid"]  # not the hidden test set: that stays secret
    spec = tmp_path / "best.json"
    spec.write_text(json.dumps({"title": "bounty", "policy": "best", "task": "classification", "label": "label",
                                "metric": "accuracy", "min_score": 0.5, "deadline": "+60", "reveal_window": 600,
                                "test_commitment": committed["test_commitment"], "validation_cid": validation}))
    job = mlmarket(node, "job", "create", str(spec), "--reward", "5")["job"]
    chosen = mlmarket(node, "payouts", "--vouchers", "on", account=CONTRIBUTOR)  # this contributor: vouchers at once
    assert chosen["payout_vouchers"] is True and mlmarket(node, "payouts", account=CONTRIBUTOR)["payout_vouchers"]
    submitted = mlmarket(node, "submit", str(job), "--model", str(files["model"]), "--data", str(files["train"]),
                         account=CONTRIBUTOR)
    assert "SubmissionScored" not in [n["name"] for n in submitted["notices"]]  # nothing to score on yet

    pass_time(w3, 61)
    assert mlmarket(node, "put", str(files["valid"]))["cid"] == test_cid
    wrong = mlmarket(node, "reveal", str(job), "--test-cid", test_cid, "--salt", "0x" + "00" * 32, ok=False)
    assert "commitment" in wrong["error"]
    revealed = mlmarket(node, "reveal", str(job), "--test-cid", test_cid, "--salt", committed["salt"])
    names = [n["name"] for n in revealed["notices"]]
    assert names[0] == "TestSetRevealed" and "SubmissionScored" in names and "RewardPaid" in names
    assert [v["call"]["to"] for v in revealed["vouchers"]] == [address(CONTRIBUTOR).lower()]
    assert [v["call"]["amount"] for v in revealed["vouchers"]] == [str(5 * 10**18)]
    mlmarket(node, "payouts", "--vouchers", "off", account=CONTRIBUTOR)
    assert mlmarket(node, "payouts", account=CONTRIBUTOR)["payout_vouchers"] is False


def test_wallet_transactions_prepared_by_the_library_deliver_a_deposit(node: Node, w3: Web3) -> None:
    """The console's browser-wallet path: the library prepares, the wallet (here eth-account) signs."""
    from mlmarket.client import actions
    from mlmarket.client.market import Market

    wallet = dev_accounts(4)[3]
    env = {"MLMARKET_DEVNODE_DIR": str(node.config.state_dir)}
    market = Market.connect(read_only=True, environ=env)
    request = actions.deposit(market.config.address("Token"), 7 * 10**18)
    txs = market.chain.prepare_input(request, wallet.address)
    assert [tx["to"] for tx in txs] == [market.config.address("Token"), market.config.address("ERC20Portal")]
    receipt = send_signed(w3, wallet, txs, gas=300_000)
    index = market.chain.input_index(receipt["transactionHash"].to_0x_hex())
    outcome = market.reader.wait_for_input(index)
    assert outcome.first("Deposited") == {"token": market.config.address("Token").lower(),
                                          "account": wallet.address.lower(), "amount": str(7 * 10**18)}


def test_flags_alone_reach_the_node_as_any_chain_would(node: Node, tmp_path: Path) -> None:
    """No node.json: --rpc/--node, the v2.2.0 default addresses and the node's only application suffice."""
    info = node.info()
    flags = ["--rpc", info["rpc_url"], "--node", info["reader_url"].removesuffix("/rpc"), "--json", "--account", "2"]
    env = {"MLMARKET_DEVNODE_DIR": str(tmp_path / "nothing-here"), "MLMARKET_APP": "", "MLMARKET_PRIVATE_KEY": ""}
    runner = CliRunner()
    shown = json.loads(runner.invoke(cli, ["node", "info", *flags], env=env).stdout)
    assert shown["addresses"]["Application"] == info["addresses"]["Application"]
    assert shown["addresses"]["InputBox"] == info["addresses"]["InputBox"] and "Token" not in shown["addresses"]
    result = runner.invoke(cli, ["deposit", "2", "--token", info["addresses"]["Token"], *flags], env=env)
    assert result.exit_code == 0, result.output
    assert [n["name"] for n in json.loads(result.stdout)["notices"]] == ["Deposited"]
    missing = runner.invoke(cli, ["deposit", "2", *flags], env=env)  # no test token known without node.json
    assert missing.exit_code == 1 and "Token" in missing.output


def test_gated_job_access_delegates_and_top_up(node: Node, files: dict[str, Path], tmp_path: Path) -> None:
    validation = mlmarket(node, "put", str(files["valid"]))["cid"]
    job = mlmarket(node, "job", "create", str(spec_file(tmp_path, validation, gated=True)), "--reward", "20")["job"]
    train, model = str(files["train"]), str(files["model"])
    refused = mlmarket(node, "submit", str(job), "--model", model, "--data", train, account=BYSTANDER, ok=False)
    assert "no access" in refused["error"] or "gated" in refused["error"]
    assert kept_submissions(node) == []  # a refused commit leaves no state behind
    mlmarket(node, "access", "request", str(job), "--public-key", "0x04ab", account=BYSTANDER)
    mlmarket(node, "delegate", "add", str(job), address(CONTRIBUTOR))
    mlmarket(node, "access", "grant", str(job), address(BYSTANDER), account=CONTRIBUTOR)
    view = mlmarket(node, "access", "list", str(job))
    assert view["requests"] == [{"account": address(BYSTANDER).lower(), "public_key": "0x04ab"}]
    assert (view["granted"], view["delegates"]) == ([address(BYSTANDER).lower()], [address(CONTRIBUTOR).lower()])
    submitted = mlmarket(node, "submit", str(job), "--model", model, "--data", train, account=BYSTANDER)
    assert submitted["submission"] == 1
    mlmarket(node, "job", "topup", str(job), "--amount", "5", account=BYSTANDER)
    assert mlmarket(node, "job", "show", str(job))["job"]["budget"] == str(15 * 10**18)


def test_a_restart_replays_every_input_including_training_to_identical_outputs(node: Node) -> None:
    """Runs last: every job above (training, scoring, payments) is replayed from genesis by a fresh
    backend; the node refuses to start if any output differs, and the reader shows the same bytes."""
    app = node.info()["addresses"]["Application"]

    def listed(reader_url: str) -> list[tuple[int, str]]:
        return [(int(o["index"], 16) if isinstance(o["index"], str) else o["index"], o["raw_data"])
                for o in outputs(reader_url, app)]

    before = listed(node.info()["reader_url"])
    assert any("SubmissionScored" in n["name"] for n in mlmarket(node, "outputs") if n.get("name"))
    node.stop()
    again = Node(NodeConfig(state_dir=node.config.state_dir, port=0, anvil_port=0, auto_mine=False)).start()
    try:
        assert listed(again.info()["reader_url"]) == before and len(before) > 20
    finally:
        again.stop()
