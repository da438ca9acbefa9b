"""``mlmarket job create`` without a node: a spec without a validation set is refused before anything is
sent, and a threshold job's hidden test set reaches ``createJob`` (decoded with eth-abi from the protocol's
signature, an oracle independent of the client library)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import eth_abi
import pytest
from click.testing import CliRunner
from eth_hash.auto import keccak
from mlmarket.cli import common, jobs
from mlmarket.cli.main import cli

from dapp.codec.cid import cid_of, cid_to_text

SPEC = ("(string,string,string,string,string,bytes,bytes,int64,int64,uint256,uint64,bool,bytes32,uint64,uint32,"
        "uint32,uint64,int64,uint256,uint32,bool,string,string,uint32,uint32,uint64,bool)")
CREATE_JOB = f"createJob(address,uint256,{SPEC})"
ETHER = "0x" + "00" * 20
NOW = 1_700_000_000
VALIDATION = cid_of(b"f0,label\n1,0\n2,1\n")
COMMITMENT = "0x" + "ab" * 32


@pytest.fixture()
def sent(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The requests ``job create`` would send; the market answers the token, time and decimals offline."""
    requests: list[Any] = []
    market = SimpleNamespace(token=lambda token, eth: ETHER, now=lambda: NOW, account=ETHER,
                             chain=SimpleNamespace(decimals_of=lambda token: 18),
                             query=lambda query: {"ok": True, "accepted": True, "problems": []})  # pre-flight
    monkeypatch.setattr(common.Session, "market", lambda self, read_only=False: market)
    monkeypatch.setattr(jobs, "run_input", lambda session, request, summary: requests.append(request))
    return requests


def create(tmp_path: Path, **spec: Any) -> Any:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({"policy": "threshold", "task": "classification", "label": "label",
                                "metric": "accuracy", "min_score": 0.8, "reward_per_accept": 1,
                                "deadline": "+3600", **spec}))
    return CliRunner().invoke(cli, ["job", "create", str(path), "--reward", "3", "--eth", "--json"])


@pytest.mark.parametrize("spec", [{}, {"validation_cid": ""},
                                  {"test_commitment": COMMITMENT, "reveal_window": 600},
                                  {"policy": "best", "reward_per_accept": 0, "test_commitment": COMMITMENT,
                                   "reveal_window": 600}],
                         ids=["absent", "empty", "threshold+hidden", "best+hidden"])
def test_a_spec_without_a_validation_set_is_refused_before_anything_is_sent(tmp_path: Path, sent: list[Any],
                                                                            spec: dict[str, Any]) -> None:
    result = create(tmp_path, **spec)
    assert result.exit_code == 1
    answer = json.loads(result.stdout)
    assert answer["ok"] is False and answer["error"].startswith("validation_cid: required for every job")
    assert sent == []


def test_a_threshold_job_with_a_hidden_test_set_sends_its_commitment(tmp_path: Path, sent: list[Any]) -> None:
    result = create(tmp_path, validation_cid=cid_to_text(VALIDATION), test_commitment=COMMITMENT, reveal_window=600)
    assert result.exit_code == 0, result.output
    (request,) = sent
    assert request.payload[:4] == keccak(CREATE_JOB.encode())[:4]
    token, budget, spec = eth_abi.decode(["address", "uint256", SPEC], request.payload[4:])
    assert token == ETHER and budget == 3 * 10**18
    assert spec[1] == "threshold" and spec[5] == VALIDATION and spec[10] == NOW + 3600
    assert spec[12] == bytes.fromhex(COMMITMENT[2:]) and spec[13] == 600


@pytest.mark.parametrize("command, words", [(("job", "create"), ("validation_cid", "threshold")),
                                            (("job", "commitment"), ("threshold",)), (("reveal",), ("threshold",))])
def test_the_help_says_hidden_test_sets_are_not_for_best_only(command: tuple[str, ...], words: tuple[str, ...]) -> None:
    text = CliRunner().invoke(cli, [*command, "--help"]).output
    assert all(word in text for word in words)
