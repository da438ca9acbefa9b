"""The JSON API behind the pages: staging a file, chunk-by-chunk upload from what the machine holds
(resume at any chunk, or mid-chunk after another tool), pending uploads, composed models, hashing."""

from __future__ import annotations

import io
import json
import random
import zlib
from pathlib import Path
from typing import Any

import eth_abi
import pytest

from dapp.codec.chunks import plan_upload
from dapp.codec.cid import cid_of, cid_to_text
from tests.unit.test_console_fake import World, csrf, make_client, populated_world

CHUNK_TYPES = ["bytes", "uint64", "uint64", "bool", "bytes"]


@pytest.fixture()
def world() -> World:
    return populated_world()


def big_file(size: int = 300_000) -> bytes:
    rng = random.Random(3)
    return bytes(rng.getrandbits(8) for _ in range(size))


def chunk_of(payload: bytes) -> tuple[int, bytes]:
    """(offset, original bytes) of an ``uploadChunk`` payload, decoded with eth-abi and zlib."""
    _, _, offset, deflated, data = eth_abi.decode(CHUNK_TYPES, payload[4:])
    return offset, zlib.decompress(data) if deflated else data


def stage(client: Any, token: str, data: bytes) -> dict[str, Any]:
    answer = client.post("/api/uploads", data={"file": (io.BytesIO(data), "f.bin")},
                         headers={"X-CSRF-Token": token}, content_type="multipart/form-data")
    assert answer.status_code == 200, answer.json
    return answer.json


def test_staging_answers_the_cid_and_the_chunk_count(world: World, tmp_path: Path) -> None:
    data = big_file()
    _, client = make_client(world, tmp_path)
    answer = stage(client, csrf(client), data)
    assert answer["cid"] == cid_to_text(cid_of(data)) and answer["size"] == len(data)
    assert answer["total_chunks"] == len(plan_upload(data).chunks) > 3
    assert (answer["done_chunks"], answer["received"], answer["stored"]) == (0, 0, False)


def test_each_next_sends_the_chunk_at_the_byte_the_machine_holds(world: World, tmp_path: Path) -> None:
    data = big_file()
    _, client = make_client(world, tmp_path)
    token = csrf(client)
    cid = stage(client, token, data)["cid"]
    boundaries = [c.offset for c in plan_upload(data).chunks]
    for done, offset in enumerate(boundaries[:3]):
        world.received[cid] = offset
        answer = client.post(f"/api/uploads/{cid}/next", headers={"X-CSRF-Token": token}).json
        sent_offset, original = chunk_of(world.sent[-1][1].payload)
        assert sent_offset == offset and original == data[offset:offset + len(original)]
        assert answer["done_chunks"] == done + 1 and answer["received"] == offset + len(original)


def test_a_partial_upload_from_another_tool_resumes_mid_chunk(world: World, tmp_path: Path) -> None:
    data = big_file()
    _, client = make_client(world, tmp_path)
    token = csrf(client)
    cid = stage(client, token, data)["cid"]
    world.received[cid] = 1000
    client.post(f"/api/uploads/{cid}/next", headers={"X-CSRF-Token": token})
    offset, original = chunk_of(world.sent[-1][1].payload)
    assert offset == 1000 and original == data[1000:1000 + len(original)]


def test_a_stored_file_sends_nothing(world: World, tmp_path: Path) -> None:
    data = b"x,label\n1,0\n"
    _, client = make_client(world, tmp_path)
    token = csrf(client)
    cid = cid_to_text(cid_of(data))
    world.stored[cid] = len(data)
    answer = stage(client, token, data)
    assert answer["stored"] and answer["done_chunks"] == answer["total_chunks"] == 1
    assert client.post(f"/api/uploads/{cid}/next", headers={"X-CSRF-Token": token}).json["stored"]
    assert world.sent == []


def test_the_last_chunk_reports_the_file_stored(world: World, tmp_path: Path) -> None:
    from mlmarket.client.outputs import DecodedNotice

    data = b"x,label\n1,0\n2,1\n"
    cid = cid_to_text(cid_of(data))
    world.outcome_notices.append(DecodedNotice(0, 1, "ContentStored", {"cid": cid, "size": len(data)}, b""))
    _, client = make_client(world, tmp_path)
    token = csrf(client)
    stage(client, token, data)
    answer = client.post(f"/api/uploads/{cid}/next", headers={"X-CSRF-Token": token}).json
    assert answer["stored"] and answer["done_chunks"] == answer["total_chunks"] == 1


def test_a_wallet_gets_the_next_chunk_as_a_transaction(world: World, tmp_path: Path) -> None:
    data = big_file(100_000)
    _, client = make_client(world, tmp_path)
    token = csrf(client)
    client.post("/api/wallet/account", json={"address": "0x" + "ab" * 20}, headers={"X-CSRF-Token": token})
    cid = stage(client, token, data)["cid"]
    answer = client.post(f"/api/uploads/{cid}/next", headers={"X-CSRF-Token": token}).json
    (tx,) = answer["txs"]
    assert chunk_of(bytes.fromhex(tx["data"][2:]))[0] == 0 and answer["done_chunks"] == 0
    assert world.sent == []


def test_unknown_or_malformed_staged_files_are_refused(world: World, tmp_path: Path) -> None:
    _, client = make_client(world, tmp_path)
    token = csrf(client)
    missing = client.post(f"/api/uploads/{cid_to_text(cid_of(b'never staged'))}/next", headers={"X-CSRF-Token": token})
    assert missing.status_code == 404 and "choose it again" in missing.json["error"]
    traversal = client.post("/api/uploads/..%2F..%2Fetc%2Fpasswd/next", headers={"X-CSRF-Token": token})
    assert traversal.status_code in (400, 404) and world.sent == []


def test_files_over_the_dapps_limit_are_refused(world: World, tmp_path: Path) -> None:
    _, client = make_client(world, tmp_path, max_file_size=1000)
    answer = client.post("/api/uploads", data={"file": (io.BytesIO(b"x" * 1001), "f")},
                         headers={"X-CSRF-Token": csrf(client)}, content_type="multipart/form-data")
    assert answer.status_code == 400 and "larger than 1000 bytes" in answer.json["error"]


def test_pending_uploads_say_which_can_resume_here(world: World, tmp_path: Path) -> None:
    data = big_file()
    _, client = make_client(world, tmp_path)
    token = csrf(client)
    cid = stage(client, token, data)["cid"]
    plan = plan_upload(data)
    world.received = {cid: plan.chunks[2].offset, "bafkreielsewhere": 10}
    uploads = {u["cid"]: u for u in client.get("/api/uploads/pending").json["uploads"]}
    assert uploads[cid]["resumable"] and uploads[cid]["done_chunks"] == 2
    assert uploads[cid]["total_chunks"] == len(plan.chunks)
    assert not uploads["bafkreielsewhere"]["resumable"]


def test_a_composed_model_is_staged_as_its_canonical_json(world: World, tmp_path: Path) -> None:
    _, client = make_client(world, tmp_path)
    token = csrf(client)
    answer = client.post("/api/models", data={"prefix": "base_", "base_estimator": "MLPClassifier",
                                               "base_p.MLPClassifier.hidden_layer_sizes": "16, 8",
                                               "base_preprocessing": "standard_scaler"},
                         headers={"X-CSRF-Token": token})
    expected = json.dumps({"estimator": "MLPClassifier", "params": {"hidden_layer_sizes": [16, 8]},
                           "preprocessing": ["standard_scaler"]}, sort_keys=True, separators=(",", ":")).encode()
    assert answer.json["cid"] == cid_to_text(cid_of(expected))
    bad = client.post("/api/models", data={"estimator": "LogisticRegression", "p.LogisticRegression.solver": "magic"},
                      headers={"X-CSRF-Token": token})
    assert bad.status_code == 400 and bad.json["field"] == "p.LogisticRegression.solver"


@pytest.mark.parametrize("size", [10, 300_000])
def test_hashing_a_file_gives_its_ipfs_cid_and_keeps_nothing(world: World, tmp_path: Path, size: int) -> None:
    data = big_file(size)
    _, client = make_client(world, tmp_path)
    answer = client.post("/api/cid", data={"file": (io.BytesIO(data), "t.csv")},
                         headers={"X-CSRF-Token": csrf(client)}, content_type="multipart/form-data").json
    assert answer == {"ok": True, "cid": cid_to_text(cid_of(data)), "size": size}
    assert not (tmp_path / "staged").exists() or not any((tmp_path / "staged").iterdir())
