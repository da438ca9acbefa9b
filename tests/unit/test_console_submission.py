"""The console's submit flow, commit before content: the form only stages; a dev account then steps
through commit, chunks and reveal (or runs them in one request); a browser wallet gets the unsigned
transactions in that order; unfinished submissions resume from the console's state file. Payloads
are decoded with eth-abi from the protocol's signatures; the fake node answers like the backend."""

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
from mlmarket.client.outputs import DecodedNotice, DecodedReport, InputOutcome, decode_notice_payload
from web3 import Web3

from dapp.codec import abi, chunk_codecs
from dapp.codec.cid import cid_of, cid_to_text
from tests.unit.test_console_actions import VALID_CSV, connect_wallet, decoded, job_form
from tests.unit.test_console_fake import TOKEN, World, csrf, make_client, populated_world

BIG_CSV = b"f0,f1,label\n" + b"".join(b"%d,%d,%d\n" % (i, i * 7 % 13, i % 2) for i in range(2000))  # > 8 KiB
MODEL = json.dumps({"estimator": "LogisticRegression", "params": {"max_iter": 500}}, separators=(",", ":"),
                   sort_keys=True).encode()
FORM = {"job": "1", "source": "compose", "estimator": "LogisticRegression", "p.LogisticRegression.max_iter": "500"}
WALLET = Web3.to_checksum_address("0x" + "ab" * 20)


def machine(world: World) -> None:
    """Makes ``world`` answer each sent input like the backend (commit, chunks, reveal)."""
    commitments: dict[bytes, int] = {}
    received: dict[str, int] = {}

    def outcome(index: int) -> InputOutcome:
        sender, request = world.sent[index - 1]
        name, args = decoded(request.payload)
        out: list[tuple[str, tuple[Any, ...]]] = []
        error = None
        if name == "commitSubmission":
            commitments[args[1]] = len(commitments) + 1
            out.append(("SubmissionCommitted", (args[0], commitments[args[1]], sender, args[1])))
        elif name in ("uploadChunk", "uploadChunkCoded"):
            cid, size, offset, codec_byte, data = args
            text = cid_to_text(cid)
            codec, columns = chunk_codecs.parse_codec_byte(int(codec_byte))
            received[text] = offset + len(chunk_codecs.decode(codec, data, size, columns))
            if received[text] == size:
                world.stored[text] = size
                out.append(("ContentStored", (cid, size, sender)))
        elif name in ("revealSubmission", "revealSubmissionInline"):
            job, model, data, salt = args[:4]
            commitment = keccak(eth_abi.encode(["address", "uint256", "bytes", "bytes", "bytes32"],
                                               [sender, job, model, data, salt]))
            if commitment not in commitments:
                error = "bad_reveal"
            else:
                sub = commitments[commitment]
                for carried in args[4:]:  # revealSubmissionInline: the contents it carries
                    if carried:
                        world.stored[cid_to_text(cid_of(carried))] = len(carried)
                        out.append(("ContentStored", (cid_of(carried), len(carried), sender)))
                out += [("SubmissionReceived", (job, sub, sender, model, data, 0)),
                        ("SubmissionScored", (job, sub, sender, model, data, 910_000, True))]
        notices = []
        for notice_name, values in out:
            payload = abi.notices().encode(notice_name, *values)
            notices.append(DecodedNotice(index * 10 + len(notices), index, *decode_notice_payload(payload), payload))
        world.outputs.extend(notices)
        reports = (DecodedReport(0, index, b"", {"ok": False, "error": {"code": error, "message": error}}),) \
            if error else ()
        return InputOutcome(index, "REJECTED" if error else "ACCEPTED", tuple(notices), (), reports)

    cache: dict[int, InputOutcome] = {}
    world.outcome = lambda index: cache.setdefault(index, outcome(index))  # type: ignore[method-assign]


@pytest.fixture()
def world() -> World:
    w = populated_world()
    machine(w)
    return w


def kept_states(tmp_path: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in (tmp_path / "staged" / "submissions").glob("*.json")]


def start(client: Any, token: str, **extra: Any) -> str:
    response = client.post("/submit", data={"csrf_token": token, **FORM, **extra})
    assert response.status_code == 303, response.get_data(as_text=True)
    return re.fullmatch(r"/submissions/(0x[0-9a-f]{64})", response.headers["Location"]).group(1)


def test_the_form_stages_the_contents_and_sends_nothing_before_the_commit(world: World, tmp_path: Path) -> None:
    _, client = make_client(world, tmp_path)
    commitment = start(client, csrf(client), data_cid=cid_to_text(cid_of(VALID_CSV)))
    assert world.sent == [] and world.stored == {}
    (state,) = kept_states(tmp_path)
    salt = bytes.fromhex(state["salt"][2:])
    expected = keccak(eth_abi.encode(["address", "uint256", "bytes", "bytes", "bytes32"],
                                     [dev_signer(0).address, 1, cid_of(MODEL), cid_of(VALID_CSV), salt]))
    assert commitment == "0x" + expected.hex() == state["commitment"]
    page = client.get(f"/submissions/{commitment}").get_data(as_text=True)
    assert "data-step-url" in page and cid_to_text(cid_of(MODEL)) in page


def test_a_dev_account_steps_through_commit_chunks_and_reveal(world: World, tmp_path: Path) -> None:
    job = dict(world.answers["jobs/1"]["job"], spec={**world.answers["jobs/1"]["job"]["spec"], "stake": "2000"})
    world.answers["jobs/1"] = {"ok": True, "job": job, "submissions": []}
    _, client = make_client(world, tmp_path)
    token = csrf(client)
    commitment = start(client, token, data_cid_file=(io.BytesIO(BIG_CSV), "train.csv"))
    answers = []
    for _ in range(10):
        answer = client.post(f"/api/submissions/{commitment}/step", headers={"X-CSRF-Token": token}).json
        answers.append(answer)
        if answer.get("done"):
            break
    assert [a["message"] for a in answers] == ["committed as submission 1", "uploading data 1/1 chunks",
                                                "contents stored", "revealed: score 0.91, accepted"]
    assert answers[-1]["url"] == f"/inputs/{len(world.sent)}"
    names = [decoded(request.payload)[0] for _, request in world.sent]
    assert names == ["commitSubmission", "uploadChunkCoded", "revealSubmissionInline"]
    commit = world.sent[0][1]
    assert commit.token == TOKEN.lower() and commit.amount == 2000
    assert decoded(commit.payload)[1] == (1, bytes.fromhex(commitment[2:]))
    assert decoded(world.sent[1][1].payload)[1][0] == cid_of(BIG_CSV)  # the data is too large to travel inline
    # the small model travels in the reveal
    assert decoded(world.sent[2][1].payload)[1][1:] == (cid_of(MODEL), cid_of(BIG_CSV), decoded(
        world.sent[2][1].payload)[1][3], MODEL, b"")
    assert kept_states(tmp_path) == []  # revealed: the salt is no longer kept


def test_an_interrupted_submission_is_listed_and_resumes_without_a_second_commit(world: World,
                                                                               tmp_path: Path) -> None:
    _, client = make_client(world, tmp_path)
    token = csrf(client)
    commitment = start(client, token)
    client.post(f"/api/submissions/{commitment}/step", headers={"X-CSRF-Token": token})  # the commit, then a stop
    listed = client.get("/submit").get_data(as_text=True)
    assert f'data-kept="{commitment}"' in listed and "submission 1" in listed
    assert client.post(f"/submissions/{commitment}/resume", data={"csrf_token": token}).status_code == 303
    assert "committed as submission 1" in client.get(f"/submissions/{commitment}").get_data(as_text=True)
    done = client.post(f"/submissions/{commitment}/run", data={"csrf_token": token})  # the no-JavaScript path
    assert done.status_code == 303 and done.headers["Location"] == f"/inputs/{len(world.sent)}"
    names = [decoded(request.payload)[0] for _, request in world.sent]
    assert names == ["commitSubmission", "revealSubmissionInline"]
    assert f'data-kept="{commitment}"' not in client.get("/submit").get_data(as_text=True)


def test_a_browser_wallet_gets_commit_chunks_and_reveal_in_order(world: World, tmp_path: Path) -> None:
    _, client = make_client(world, tmp_path)
    token = connect_wallet(client, WALLET)
    html = client.post("/submit", data={"csrf_token": token, **FORM}, follow_redirects=True).get_data(as_text=True)
    txs = json.loads(re.search(r"data-txs='([^']*)'", html).group(1))
    names = [decoded(bytes.fromhex(tx["data"][2:]))[0] for tx in txs]
    assert names == ["commitSubmission", "revealSubmissionInline"] and world.sent == []
    assert {tx["from"] for tx in txs} == {WALLET} and 'data-kind="input"' in html
    (state,) = kept_states(tmp_path)
    _, (job, commitment) = decoded(bytes.fromhex(txs[0]["data"][2:]))
    assert state["sender"] == WALLET and "0x" + commitment.hex() == state["commitment"]
    # the wallet sent the commit only; Resume leaves it out
    world.outputs.append(DecodedNotice(50, 9, *decode_notice_payload(abi.notices().encode(
        "SubmissionCommitted", 1, 4, WALLET, commitment)), b""))
    again = client.post(f"/submissions/{state['commitment']}/resume", data={"csrf_token": token}, follow_redirects=True).get_data(as_text=True)
    txs = json.loads(re.search(r"data-txs='([^']*)'", again).group(1))
    assert [decoded(bytes.fromhex(tx["data"][2:]))[0] for tx in txs] == ["revealSubmissionInline"]
    world.outputs.append(DecodedNotice(51, 10, *decode_notice_payload(abi.notices().encode(
        "SubmissionReceived", 1, 4, WALLET, cid_of(MODEL), b"", 0)), b""))
    assert "data-kept-submissions" not in client.get("/submit").get_data(as_text=True)
    assert kept_states(tmp_path) == []
    refused = client.post(f"/api/submissions/{state['commitment']}/step", headers={"X-CSRF-Token": token})
    assert refused.status_code == 400 and world.sent == []


def test_another_account_cannot_see_or_step_a_kept_submission(world: World, tmp_path: Path) -> None:
    _, client = make_client(world, tmp_path)
    token = csrf(client)
    commitment = start(client, token)
    client.post("/account", data={"csrf_token": token, "account": "3"})
    assert client.get(f"/submissions/{commitment}").status_code == 404
    step = client.post(f"/api/submissions/{commitment}/step", headers={"X-CSRF-Token": token})
    assert step.status_code == 400 and world.sent == []


@pytest.mark.parametrize("policy, chosen, expected", [("rounds", "median", "median"), ("rounds", "", "fedavg"),
                                                      ("rounds", "trimmed_mean", "trimmed_mean"),
                                                      ("threshold", "median", "")])
def test_the_create_form_sets_the_aggregation_of_rounds_jobs(world: World, tmp_path: Path, policy: str,
                                                             chosen: str, expected: str) -> None:
    _, client = make_client(world, tmp_path)
    extra = {"rounds": "2", "round_duration": "600"} if policy == "rounds" else {}
    response = client.post("/jobs/new", data=job_form(csrf(client), policy=policy, aggregation=chosen, **extra), follow_redirects=True)
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    (_, request), = world.sent
    assert decoded(request.payload)[1][2][21] == expected  # JobSpec.aggregation


def test_an_unknown_aggregation_is_explained(world: World, tmp_path: Path) -> None:
    _, client = make_client(world, tmp_path)
    response = client.post("/jobs/new", data=job_form(csrf(client), policy="rounds", aggregation="mode"), follow_redirects=True)
    assert response.status_code == 400 and 'data-error-for="aggregation"' in response.get_data(as_text=True)
    assert world.sent == []
    assert '<select id="aggregation" name="aggregation">' in client.get("/jobs/new").get_data(as_text=True)


def test_a_refused_commit_points_the_page_at_its_outcome_and_forgets_the_state(world: World, tmp_path: Path) -> None:
    _, client = make_client(world, tmp_path)
    token = csrf(client)
    commitment = start(client, token)
    world.outcome = lambda index: InputOutcome(index, "REJECTED", (), (), (DecodedReport(  # type: ignore
        0, index, b"", {"ok": False, "error": {"code": "no_access", "message": "job 1 is gated"}}),))
    answer = client.post(f"/api/submissions/{commitment}/step", headers={"X-CSRF-Token": token})
    assert answer.status_code == 400 and answer.json["url"] == "/inputs/1" and "no_access" in answer.json["error"]
    assert kept_states(tmp_path) == []
