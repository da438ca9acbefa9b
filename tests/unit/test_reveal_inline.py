"""``revealSubmissionInline``: a reveal that carries its small contents, so a model spec needs no
upload input of its own; the contents follow the upload rules, and a refused reveal stores nothing."""

import json

from dapp.codec.cid import cid_of, cid_to_text
from dapp.domain.limits import Limits
from tests.support.market import CAROL, DAVE, Market
from tests.support.rollup import notice_args, notice_names, report_json

MODEL = json.dumps({"score": 0.9}).encode()


def reveal_inline(m: Market, sender, job: int, model: bytes, data: bytes, salt: bytes, *, model_bytes=b"",
                  data_bytes=b""):
    return m.call(sender, "revealSubmissionInline", job, model, data, salt, model_bytes, data_bytes)


def stored(m: Market, data: bytes) -> bool:
    return any(c["cid"] == cid_to_text(cid_of(data)) for c in m.inspect("contents")["contents"])


def test_a_model_spec_travels_with_its_reveal_and_is_scored_and_paid():
    m = Market()
    job = m.create_job(1000)
    committed, salt = m.commit(CAROL, job, cid_of(MODEL))
    assert committed.accepted
    done = reveal_inline(m, CAROL, job, cid_of(MODEL), b"", salt, model_bytes=MODEL)
    assert done.accepted, done.reports
    names = notice_names(done)
    assert names.index("ContentStored") < names.index("SubmissionReceived")
    assert "RewardPaid" in names
    assert stored(m, MODEL)
    (sub,) = m.job(job)["submissions"]
    assert sub["status"] == "accepted" and sub["contributor"] == CAROL.hex


def test_inline_data_with_a_model_already_stored():
    m = Market()
    job = m.create_job(1000)
    model = m.put(CAROL, MODEL)
    data = b"x,target\n1,0\n2,1\n"
    _, salt = m.commit(CAROL, job, model, cid_of(data))
    done = reveal_inline(m, CAROL, job, model, cid_of(data), salt, data_bytes=data)
    assert done.accepted, done.reports
    names = notice_names(done)
    assert names[0] == "ContentStored" and notice_args(done, "ContentStored")[0][0] == cid_of(data)
    assert stored(m, data)


def test_a_refused_reveal_stores_nothing():
    m = Market()
    job = m.create_job(1000)
    _, salt = m.commit(CAROL, job, cid_of(MODEL))
    wrong_salt = bytes(31) + b"\x99"
    done = reveal_inline(m, CAROL, job, cid_of(MODEL), b"", wrong_salt, model_bytes=MODEL)
    assert not done.accepted and report_json(done)["error"]["code"] == "bad_reveal"
    assert not stored(m, MODEL)
    by_another = reveal_inline(m, DAVE, job, cid_of(MODEL), b"", salt, model_bytes=MODEL)
    assert not by_another.accepted and not stored(m, MODEL)


def test_bytes_that_do_not_hash_to_the_cid_are_refused():
    m = Market()
    job = m.create_job(1000)
    _, salt = m.commit(CAROL, job, cid_of(MODEL))
    other = json.dumps({"score": 0.95}).encode()
    done = reveal_inline(m, CAROL, job, cid_of(MODEL), b"", salt, model_bytes=other)
    assert not done.accepted and report_json(done)["error"]["code"] == "cid_mismatch"
    assert not stored(m, other) and not stored(m, MODEL)


def test_more_than_the_inline_bound_is_refused_naming_the_upload_path():
    m = Market(limits=Limits(max_inline_bytes=64))
    job = m.create_job(1000)
    big = json.dumps({"score": 0.9, "pad": "x" * 80}).encode()
    _, salt = m.commit(CAROL, job, cid_of(big))
    done = reveal_inline(m, CAROL, job, cid_of(big), b"", salt, model_bytes=big)
    error = report_json(done)["error"]
    assert not done.accepted and error["code"] == "inline_too_large" and "uploadChunkCoded" in error["message"]
    assert not stored(m, big)


def test_an_already_stored_content_sent_again_inline_changes_nothing_but_the_reveal():
    m = Market()
    job = m.create_job(1000)
    model = m.put(DAVE, MODEL)  # someone else stored the same bytes before
    _, salt = m.commit(CAROL, job, model)
    done = reveal_inline(m, CAROL, job, model, b"", salt, model_bytes=MODEL)
    assert done.accepted and "ContentStored" not in notice_names(done)
    owner = next(c for c in m.inspect("contents")["contents"] if c["cid"] == cid_to_text(model))
    assert owner["uploader"] == DAVE.hex
