"""What the console sends for each form, decoded with eth-abi from the protocol's signatures (an
oracle independent of the client library), server-side validation messages, and the wallet path."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import eth_abi
import pytest
from eth_hash.auto import keccak
from mlmarket.client.accounts import dev_signer

from dapp.codec.cid import cid_of, cid_to_text
from tests.unit.test_console_fake import ETHER, TOKEN, World, csrf, make_client, populated_world

SPEC = ("(string,string,string,string,string,bytes,bytes,int64,int64,uint256,uint64,bool,bytes32,uint64,uint32,"
        "uint32,uint64,int64,uint256,uint32,bool,string,string,uint32,uint32,uint64,bool)")
SIGNATURES = {"createJob": ["address", "uint256", SPEC], "commitSubmission": ["uint256", "bytes32"],
              "revealSubmission": ["uint256", "bytes", "bytes", "bytes32"],
              "revealSubmissionInline": ["uint256", "bytes", "bytes", "bytes32", "bytes", "bytes"],
              "uploadChunk": ["bytes", "uint64", "uint64", "bool", "bytes"],
              "uploadChunkCoded": ["bytes", "uint64", "uint64", "uint8", "bytes"],
              "settleJob": ["uint256"], "cancelJob": ["uint256"], "reviewSubmission": ["uint256", "uint256", "bool"],
              "revealTestSet": ["uint256", "bytes", "bytes32"], "topUpJob": ["uint256", "uint256"],
              "withdraw": ["address", "uint256"]}
VALID_CSV = b"f0,f1,label\n1,2,0\n3,4,1\n5,6,0\n"


@pytest.fixture()
def world() -> World:
    return populated_world()


def decoded(payload: bytes) -> tuple[str, tuple[Any, ...]]:
    """(function, args) of an input payload, found by its selector among the protocol's signatures."""
    for name, types in SIGNATURES.items():
        if keccak(f"{name}({','.join(types)})".encode())[:4] == payload[:4]:
            return name, eth_abi.decode(types, payload[4:])
    raise AssertionError(f"unknown selector {payload[:4].hex()}")


def job_form(csrf_token: str, **extra: Any) -> dict[str, Any]:
    return {"csrf_token": csrf_token, "title": "iris", "policy": "threshold", "task": "classification",
            "metric": "accuracy", "label": "label", "token": "test", "budget": "30", "reward_per_accept": "10",
            "min_score": "0.85", "duration": "2", "duration_unit": "hours", "base_source": "none",
            "validation_cid": cid_to_text(cid_of(VALID_CSV)), **extra}


def test_create_job_deposits_the_budget_with_the_spec_in_base_units(world: World, tmp_path: Path) -> None:
    _, client = make_client(world, tmp_path)
    response = client.post("/jobs/new", data=job_form(csrf(client), min_gain="0.01", accept_by_default="on"), follow_redirects=True)
    assert response.status_code == 200 and 'data-outcome="ok"' in response.get_data(as_text=True)
    (sender, request), = world.sent
    assert sender == dev_signer(0).address and request.token == TOKEN and request.amount == 30 * 10**18
    name, (token, budget, spec) = decoded(request.payload)
    assert name == "createJob" and token.lower() == TOKEN.lower() and budget == 30 * 10**18
    assert spec[:5] == ("iris", "threshold", "classification", "label", "accuracy")
    assert spec[5] == cid_of(VALID_CSV) and spec[7] == 850_000 and spec[8] == 10_000
    assert spec[9] == 10 * 10**18 and spec[10] == world.now + 7200
    assert spec[11] is False  # accept_by_default belongs to manual jobs: ignored for threshold


def test_create_job_from_balance_in_ether_sends_a_plain_input(world: World, tmp_path: Path) -> None:
    _, client = make_client(world, tmp_path)
    client.post("/jobs/new", data=job_form(csrf(client), token="eth", budget="0.5", reward_per_accept="0.25",
                                           from_balance="on"), follow_redirects=True)
    (_, request), = world.sent
    name, (token, budget, _) = decoded(request.payload)
    assert name == "createJob"
    assert request.token is None and token == ETHER and budget == 5 * 10**17


@pytest.mark.parametrize("change, field, message", [
    ({"budget": ""}, "budget", "required"),
    ({"budget": "1.5.2"}, "budget", "is not a number"),
    ({"metric": "r2"}, "metric", "for classification, choose one of"),
    ({"validation_cid": "not-a-cid"}, "validation_cid", ""),
    ({"min_score": "0.1234567"}, "min_score", "more than 6 decimals"),
    ({"duration": "0"}, "duration", "whole number from 1"),
    ({"token": "custom", "token_address": "0x12"}, "token_address", "not a token address"),
    ({"label": ""}, "label", "required"),
    ({"base_source": "compose", "base_estimator": "DecisionTreeClassifier"}, "base_p.DecisionTreeClassifier.max_depth",
     "max_depth' is required"),
    ({"base_source": "compose", "base_estimator": "LogisticRegression", "base_p.LogisticRegression.C": "-1"},
     "base_p.LogisticRegression.C", "must be a number in (0, 1e+06]"),
])
def test_create_job_explains_each_bad_field_and_sends_nothing(world: World, tmp_path: Path, change: dict[str, str],
                                                             field: str, message: str) -> None:
    _, client = make_client(world, tmp_path)
    response = client.post("/jobs/new", data=job_form(csrf(client), **change), follow_redirects=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    found = re.search(rf'data-error-for="{re.escape(field)}">([^<]*)<', html)
    assert found, html[html.find("data-form-errors"):][:500]
    assert message in found.group(1).replace("&#39;", "'")
    assert world.sent == []


@pytest.mark.parametrize("policy, reward", [("best", ""), ("threshold", "10")])
def test_a_hidden_test_set_is_hashed_not_stored_and_its_salt_shown_once(world: World, tmp_path: Path, policy: str,
                                                                        reward: str) -> None:
    _, client = make_client(world, tmp_path)
    form = job_form(csrf(client), policy=policy, hidden_test="on", reveal_window="600", reward_per_accept=reward,
                    test_cid_file=(io.BytesIO(b"a,label\n1,0\n2,1\n"), "test.csv"))
    html = client.post("/jobs/new", data=form, content_type="multipart/form-data", follow_redirects=True).get_data(as_text=True)
    salt = re.search(r"data-secret-salt>(0x[0-9a-f]{64})<", html).group(1)
    test_cid = cid_of(b"a,label\n1,0\n2,1\n")
    (_, request), = world.sent
    _, (_, _, spec) = decoded(request.payload)
    expected = keccak(eth_abi.encode(["bytes", "bytes32"], [test_cid, bytes.fromhex(salt[2:])]))
    assert spec[1] == policy and spec[12] == expected and spec[13] == 600
    assert spec[5] == cid_of(VALID_CSV)  # the validation set is sent too: a fallback split is decided on it
    assert "data:application/json" in html and "hidden-test-reveal.json" in html
    assert world.stored == {}  # the test set was not uploaded
    again = client.get("/jobs").get_data(as_text=True) + client.get("/jobs/1").get_data(as_text=True)
    assert salt not in again


@pytest.mark.parametrize("extra", [{}, {"policy": "best", "hidden_test": "on", "reward_per_accept": ""},
                                   {"hidden_test": "on"}], ids=["threshold", "best+hidden", "threshold+hidden"])
def test_every_job_needs_a_validation_set_and_nothing_is_sent_without_one(world: World, tmp_path: Path,
                                                                          extra: dict[str, str]) -> None:
    _, client = make_client(world, tmp_path)
    form = job_form(csrf(client), validation_cid="", base_source="compose", base_estimator="LogisticRegression",
                    test_cid_file=(io.BytesIO(b"a,label\n1,0\n"), "test.csv"), **extra)
    response = client.post("/jobs/new", data=form, content_type="multipart/form-data", follow_redirects=True)
    html = response.get_data(as_text=True)
    found = re.search(r'data-error-for="validation_cid">([^<]*)<', html)
    assert response.status_code == 400 and found and "required for every job" in found.group(1)
    assert world.sent == [] and world.stored == {}  # not even the composed base model was uploaded


def test_submit_needs_a_model_or_data(world: World, tmp_path: Path) -> None:
    _, client = make_client(world, tmp_path)
    response = client.post("/submit", data={"csrf_token": csrf(client), "job": "1", "source": "cid"}, follow_redirects=True)
    assert response.status_code == 400 and "required: upload a file or paste its CID" in response.get_data(as_text=True)
    missing = client.post("/submit", data={"csrf_token": csrf(client), "job": "7", "source": "cid",
                                           "model_cid": cid_to_text(cid_of(b"{}"))}, follow_redirects=True)
    assert "there is no job 7" in missing.get_data(as_text=True) and world.sent == []


@pytest.mark.parametrize("form, function, args", [
    ({"action": "settle"}, "settleJob", (1,)),
    ({"action": "cancel"}, "cancelJob", (1,)),
    ({"action": "review", "submission": "2", "verdict": "accept"}, "reviewSubmission", (1, 2, True)),
    ({"action": "review", "submission": "2", "verdict": "reject"}, "reviewSubmission", (1, 2, False)),
    ({"action": "top_up", "amount": "1.5"}, "topUpJob", (1, 15 * 10**17)),
    ({"action": "reveal", "test_cid": cid_to_text(cid_of(b"t")), "salt": "0x" + "07" * 32}, "revealTestSet",
     (1, cid_of(b"t"), b"\x07" * 32)),
])
def test_job_actions_send_their_input(world: World, tmp_path: Path, form: dict[str, str], function: str,
                                      args: tuple[Any, ...]) -> None:
    _, client = make_client(world, tmp_path)
    response = client.post("/jobs/1/action", data={"csrf_token": csrf(client), **form}, follow_redirects=True)
    assert response.status_code == 200
    (_, request), = world.sent
    assert decoded(request.payload) == (function, args)


def test_a_bad_salt_is_explained(world: World, tmp_path: Path) -> None:
    _, client = make_client(world, tmp_path)
    response = client.post("/jobs/1/action", data={"csrf_token": csrf(client), "action": "reveal",
                                                   "test_cid": cid_to_text(cid_of(b"t")), "salt": "0x12"}, follow_redirects=True)
    assert response.status_code == 400 and "expected 0x followed by 64 hex digits" in response.get_data(as_text=True)


def test_withdraw_and_deposit(world: World, tmp_path: Path) -> None:
    _, client = make_client(world, tmp_path)
    token = csrf(client)
    client.post("/balances/withdraw", data={"csrf_token": token, "withdraw_token": "eth", "withdraw_amount": "0.1"}, follow_redirects=True)
    client.post("/balances/deposit", data={"csrf_token": token, "deposit_token": "test", "deposit_amount": "3"}, follow_redirects=True)
    (_, withdraw), (_, deposit) = world.sent
    assert decoded(withdraw.payload) == ("withdraw", (ETHER, 10**17))
    assert deposit.payload == b"" and deposit.token == TOKEN and deposit.amount == 3 * 10**18
    bad = client.post("/balances/withdraw", data={"csrf_token": token, "withdraw_token": "eth", "withdraw_amount": "0"}, follow_redirects=True)
    assert bad.status_code == 400 and "must be more than 0" in bad.get_data(as_text=True)


def test_a_dev_account_executes_a_voucher_and_sees_the_result(world: World, tmp_path: Path) -> None:
    _, client = make_client(world, tmp_path)
    response = client.post("/outputs/3/execute", data={"csrf_token": csrf(client)}, follow_redirects=True)
    assert world.executed == [(dev_signer(0).address, 3)]
    assert "voucher 3 executed in transaction 0xabab" in response.get_data(as_text=True)


def connect_wallet(client: Any, address: str) -> str:
    token = csrf(client)
    answer = client.post("/api/wallet/account", json={"address": address}, headers={"X-CSRF-Token": token})
    assert answer.json == {"ok": True, "address": address, "chain_id": 31337}
    return token


def test_a_wallet_gets_unsigned_transactions_and_the_server_signs_nothing(world: World, tmp_path: Path) -> None:
    wallet = "0x" + "Ab" * 20
    from web3 import Web3

    wallet = Web3.to_checksum_address(wallet)
    _, client = make_client(world, tmp_path)
    token = connect_wallet(client, wallet)
    html = client.post("/jobs/new", data=job_form(token), follow_redirects=True).get_data(as_text=True)
    txs = json.loads(re.search(r"data-txs='([^']*)'", html).group(1))
    assert txs[0]["from"] == wallet and txs[0]["value"] == "0x0" and txs[0]["gas"] == hex(100_000)
    assert set(txs[0]) == {"from", "to", "data", "value", "gas"}
    assert world.sent == [] and world.prepared[0][0] == wallet
    assert decoded(bytes.fromhex(txs[0]["data"][2:]))[0] == "createJob"
    executed = client.post("/outputs/3/execute", data={"csrf_token": token}, follow_redirects=True).get_data(as_text=True)
    assert 'data-kind="execute"' in executed and world.executed == []
    confirm = client.post("/api/wallet/confirm", json={"tx_hash": "0x" + "cd" * 32}, headers={"X-CSRF-Token": token})
    assert confirm.json == {"ok": True, "input": 42, "url": "/inputs/42"}
    assert client.post("/api/wallet/confirm", json={"tx_hash": "0x12"}, headers={"X-CSRF-Token": token}).status_code == 400
    world.status = "REJECTED"
    refused = client.post("/api/wallet/confirm", json={"tx_hash": "0x" + "cd" * 32, "wait": True},
                          headers={"X-CSRF-Token": token})
    assert refused.status_code == 400 and refused.json["error"] == "input 42 failed: input 42 was rejected"
    assert client.post("/api/wallet/account", json={"address": "nope"}, headers={"X-CSRF-Token": token}).status_code == 400


def test_an_input_page_shows_a_rejection_with_its_message(world: World, tmp_path: Path) -> None:
    from mlmarket.client.outputs import DecodedReport, InputOutcome

    world.outcome = lambda index: InputOutcome(index, "REJECTED", (), (), (DecodedReport(
        0, index, b"", {"ok": False, "error": {"code": "bad_spec", "message": "deadline <soon>"}}),))
    html = make_client(world, tmp_path)[1].get("/inputs/5?back=//evil.example").get_data(as_text=True)
    assert 'data-outcome="failed"' in html and "deadline &lt;soon&gt; (bad_spec)" in html
    assert 'href="//evil.example"' not in html


def test_no_response_ever_carries_a_private_key(world: World, tmp_path: Path) -> None:
    from devnode.anvil import dev_accounts

    keys = [a.key.hex().removeprefix("0x") for a in dev_accounts(10)]
    _, client = make_client(world, tmp_path)
    token = csrf(client)
    bodies = []
    for account in ("0", "5"):
        client.post("/account", data={"csrf_token": token, "account": account})
        bodies += [client.post("/jobs/new", data=job_form(token), follow_redirects=True),
                   client.post("/jobs/new", data=job_form(token, budget=""), follow_redirects=True),
                   client.post("/submit", data={"csrf_token": token, "job": "1", "source": "compose",
                                                "estimator": "GaussianNB"}, follow_redirects=True),
                   client.post("/jobs/1/action", data={"csrf_token": token, "action": "settle"}, follow_redirects=True),
                   client.post("/balances/withdraw", data={"csrf_token": token, "withdraw_token": "eth",
                                                           "withdraw_amount": "1"}, follow_redirects=True),
                   client.post("/outputs/3/execute", data={"csrf_token": token}, follow_redirects=True),
                   client.post("/api/uploads", data={"file": (io.BytesIO(VALID_CSV), "v.csv")},
                               headers={"X-CSRF-Token": token}, content_type="multipart/form-data"),
                   client.post(f"/api/uploads/{cid_to_text(cid_of(VALID_CSV))}/next", headers={"X-CSRF-Token": token}),
                   client.get("/api/uploads/pending"), client.get("/balances")]
    assert len(world.sent) >= 8
    for response in bodies:
        text = response.get_data(as_text=True).lower()
        assert not any(key in text for key in keys), response.request.path
