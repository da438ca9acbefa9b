"""A multi-chunk upload through the real dispatch path: resume, idempotent resend, read back in parts."""

import numpy as np

from dapp.codec.chunks import plan_upload
from dapp.codec.cid import cid_to_text
from tests.support.rollup import ALICE, BOB, Driver, report_json


def csv_bytes(rows: int) -> bytes:
    rng = np.random.default_rng(7)
    lines = ["a,b,c,target"] + [",".join(f"{v:.6f}" for v in rng.random(3)) + f",{i % 2}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def test_a_large_csv_uploads_resumes_and_reads_back_identically():
    data = csv_bytes(40_000)  # ~1.2 MB, several 256 KiB leaves: a dag-pb CID
    plan = plan_upload(data)
    assert len(plan.chunks) > 2 and cid_to_text(plan.cid).startswith("bafybei")
    d = Driver()
    half = len(plan.chunks) // 2
    for chunk in plan.chunks[:half]:
        assert d.send(ALICE, chunk.payload).accepted
    assert d.send(ALICE, plan.chunks[half - 1].payload).accepted  # an identical resend is harmless
    (status,) = d.inspect(f"uploads/{ALICE.hex}")["uploads"]
    resumed = plan_upload(data, received=status["received"])
    last = None
    for chunk in resumed.chunks:
        last = d.send(ALICE, chunk.payload)
        assert last.accepted
    assert last.notices, "the completing chunk emits ContentStored"
    text = cid_to_text(plan.cid)
    assert d.inspect(f"contents/{text}")["size"] == len(data)
    parts, offset = [], 0
    while offset < len(data):
        answer = d.inspect(f"contents/{text}/data?offset={offset}&length=300000")
        parts.append(bytes.fromhex(answer["data"][2:]))
        offset += answer["length"]
    assert b"".join(parts) == data
    assert d.inspect(f"uploads/{ALICE.hex}")["uploads"] == []


def test_another_account_cannot_poison_someone_elses_upload():
    data = csv_bytes(20_000)
    plan = plan_upload(data)
    d = Driver()
    assert d.send(ALICE, plan.chunks[0].payload).accepted
    tampered = bytearray(plan.chunks[1].payload)
    tampered[-40] ^= 0xFF
    bob = d.send(BOB, plan.chunks[0].payload)
    assert bob.accepted  # Bob's own upload, independent of Alice's
    for chunk in plan.chunks[1:]:
        assert d.send(ALICE, chunk.payload).accepted
    assert d.inspect(f"contents/{cid_to_text(plan.cid)}")["uploader"] == ALICE.hex
    wrong = d.send(ALICE, bytes(tampered))
    assert wrong.accepted and report_json(wrong)["upload"]["received"] == len(data)  # already stored: no-op
