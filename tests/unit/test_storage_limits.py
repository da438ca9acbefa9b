"""Storage that cannot lock money (issue 11, findings 3 and 4), through ``App.advance``.

Partial uploads of all accounts are capped and stale ones expire; stored files no job uses are
reclaimed when room is needed; settlement, cancellation, reveals and round closes never fail for
lack of storage, so a full store cannot keep a budget in escrow.
"""

from __future__ import annotations

import gc
import hashlib
import itertools
import json
import tracemalloc
import zlib

import pytest

from dapp.codec import abi
from dapp.codec.cid import cid_from_text, cid_of, cid_to_text
from dapp.domain.limits import MIB, Limits
from dapp.domain.partial_uploads import CHUNK_OVERHEAD, UPLOAD_OVERHEAD
from dapp.domain.values import Address
from tests.support.fake_engine import FakeEngine
from tests.support.market import CAROL, DAVE, NOW, SPONSOR, Market
from tests.support.rollup import credits, report_json
from tests.support.rollup import notice_args as notices

INPUTS = abi.inputs()
TTL = Limits().upload_ttl
CONTENT_TTL = Limits().content_ttl
MALLORY = Address(b"\x66" * 20)


def attacker(i: int) -> Address:
    return Address(hashlib.sha256(b"attacker %d" % i).digest()[:20])


def fake_cid(label: bytes) -> bytes:
    """A well-formed raw CID of bytes nobody will send: an upload to it never completes."""
    return b"\x01\x55\x12\x20" + hashlib.sha256(label).digest()


def chunk(m: Market, sender: Address, cid: bytes, size: int, offset: int, piece: bytes, deflated: bool,
          timestamp: int | None = None):
    data = zlib.compress(piece) if deflated else piece
    return m.send(sender, INPUTS.encode("uploadChunk", cid, size, offset, deflated, data), timestamp=timestamp)


def code(done) -> str:
    return report_json(done)["error"]["code"]


def uploads(m: Market, who: Address) -> list[dict]:
    return m.inspect(f"uploads/{who.hex}")["uploads"]


def held(m: Market, accounts) -> int:
    """Footprint of the listed accounts' partial uploads, from the uploads query (no chunk counts:
    a lower bound of what the cap counts)."""
    return sum(UPLOAD_OVERHEAD + u["size"] for a in accounts for u in uploads(m, a))


def traced(run) -> int:
    """Bytes of Python memory ``run()`` leaves allocated (tracemalloc, after collecting garbage)."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        run()
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


# --- partial uploads: one cap for all accounts -------------------------------------------------------

@pytest.mark.parametrize("accounts, piece, deflated", [
    (64, 1 * MIB, True),       # the reported attack: tiny deflated chunks, each inflating to 1 MiB
    (64, 200_000, True),       # smaller deflated chunks
    (24, 60_000, False),       # raw chunks, as large as a payload allows
], ids=["deflated-1MiB", "deflated-200KB", "raw-60KB"])
def test_many_accounts_filling_partial_uploads_pin_at_most_the_global_cap(accounts, piece, deflated):
    m = Market()
    cap = m.app.env.limits.max_total_pending
    size = 2 * MIB  # 8 per account fill the per-account cap of 16 MiB
    refused: list[str] = []

    def attack() -> None:
        for a, j in itertools.product(range(accounts), range(8)):
            cid, offset = fake_cid(b"%d/%d" % (a, j)), 0
            while offset < size - 1:  # one byte short: the upload never completes
                n = min(piece, size - 1 - offset)
                done = chunk(m, attacker(a), cid, size, offset, bytes(n), deflated)
                if not done.accepted:
                    refused.append(code(done))
                    break
                offset += n

    grown = traced(attack)
    assert refused and set(refused) == {"uploads_full"}
    everyone = [attacker(a) for a in range(accounts)]
    assert cap - 2 * (UPLOAD_OVERHEAD + size) < held(m, everyone) <= cap  # full, never over
    assert grown < cap + 4 * MIB, f"{grown:,} bytes held for a cap of {cap:,}"  # vs ~1 GiB before
    honest = chunk(m, CAROL, fake_cid(b"honest"), size, 0, b"x" * 10, False)
    assert not honest.accepted and code(honest) == "uploads_full"
    assert f"expires at {NOW + TTL}" in report_json(honest)["error"]["message"]


def test_one_byte_chunks_pay_for_their_rows():
    cap = 256 * 1024
    m = Market(limits=Limits(max_total_pending=cap))
    cid, size = fake_cid(b"rows"), 10_000
    accepted = 0

    def attack() -> None:
        nonlocal accepted
        for offset in range(size - 1):
            done = chunk(m, MALLORY, cid, size, offset, b"\x00", False)
            if not done.accepted:
                assert code(done) == "uploads_full"
                return
            accepted += 1

    grown = traced(attack)
    assert accepted == (cap - UPLOAD_OVERHEAD - size) // CHUNK_OVERHEAD  # far fewer than the 9,999 declared
    assert uploads(m, MALLORY)[0]["received"] == accepted
    assert grown < cap, f"{grown:,} bytes held for a cap of {cap:,}"


# --- expiry of stale partial uploads ---------------------------------------------------------------

def small_pending_market(uploads_allowed: int) -> Market:
    """A market whose global cap holds ``uploads_allowed`` partial uploads of 10,000 bytes in one row."""
    return Market(limits=Limits(max_total_pending=uploads_allowed * (UPLOAD_OVERHEAD + 10_000 + CHUNK_OVERHEAD)))


def test_stale_uploads_expire_and_their_room_goes_to_others():
    m = small_pending_market(3)
    for i in range(3):
        assert chunk(m, attacker(i), fake_cid(b"%d" % i), 10_000, 0, b"a" * 100, True, timestamp=NOW + i).accepted
    data = bytes(range(256)) * 39  # 9,984 bytes: fits in place of one stale upload
    first = chunk(m, CAROL, cid_of(data), len(data), 0, data[:5000], False, timestamp=NOW + TTL - 1)
    assert not first.accepted and code(first) == "uploads_full"
    assert [u["expired"] for u in uploads(m, attacker(0))] == [False]
    assert chunk(m, CAROL, cid_of(data), len(data), 0, data[:5000], False, timestamp=NOW + TTL).accepted
    assert uploads(m, attacker(0)) == []  # the least recently fed one was purged, and only it
    assert [(u["expired"], u["expires_at"]) for u in uploads(m, attacker(1))] == [(False, NOW + 1 + TTL)]
    done = chunk(m, CAROL, cid_of(data), len(data), 5000, data[5000:], False, timestamp=NOW + TTL + 2)
    assert done.accepted and notices(done, "ContentStored")  # its last row took attacker 1's room
    assert uploads(m, attacker(1)) == []
    assert [(u["expired"], u["expires_at"]) for u in uploads(m, attacker(2))] == [(True, NOW + 2 + TTL)]


def test_an_account_whose_own_stale_upload_makes_room_for_its_new_one_keeps_a_true_account():
    # found by the adversarial state machine: the global purge dropped the sender's own expired upload
    # while its account row was being rewritten from before the purge (a CID without an upload)
    m = small_pending_market(2)
    assert chunk(m, attacker(0), fake_cid(b"old"), 10_000, 0, b"a" * 100, True, timestamp=NOW).accepted
    assert chunk(m, attacker(1), fake_cid(b"other"), 10_000, 0, b"a" * 100, True, timestamp=NOW + TTL).accepted
    assert chunk(m, attacker(0), fake_cid(b"new"), 10_000, 0, b"a" * 100, True, timestamp=NOW + TTL).accepted
    assert [u["cid"] for u in uploads(m, attacker(0))] == [cid_to_text(fake_cid(b"new"))]
    abort = m.send(attacker(0), INPUTS.encode("abortUpload", fake_cid(b"new")), timestamp=NOW + TTL + 1)
    assert abort.accepted and uploads(m, attacker(0)) == []


def test_a_chunk_with_new_bytes_keeps_an_upload_fresh():
    m = small_pending_market(3)
    keeper, idle = fake_cid(b"keeper"), fake_cid(b"idle")
    assert chunk(m, attacker(0), keeper, 10_000, 0, b"k" * 10, False, timestamp=NOW).accepted
    assert chunk(m, attacker(1), idle, 10_000, 0, b"i" * 10, False).accepted
    assert chunk(m, attacker(0), keeper, 10_000, 0, b"k" * 10, False, timestamp=NOW + TTL - 1).accepted  # no new bytes
    assert chunk(m, attacker(0), keeper, 10_000, 10, b"k", False).accepted  # one new byte: fresh until NOW + 2 TTL - 1
    assert chunk(m, CAROL, fake_cid(b"carol"), 10_000, 0, b"c", False, timestamp=NOW + TTL).accepted
    assert [u["cid"] for u in uploads(m, attacker(0))] == [cid_to_text(keeper)]
    assert uploads(m, attacker(1)) == []


def test_an_account_at_its_limits_reuses_the_room_of_its_own_expired_uploads():
    m = Market()
    count = m.app.env.limits.max_pending_uploads
    cids = [fake_cid(b"mine %d" % i) for i in range(count + 1)]
    for i, cid in enumerate(cids[:count]):
        assert chunk(m, MALLORY, cid, 1000, 0, b"m", False, timestamp=NOW + i).accepted
    too_many = chunk(m, MALLORY, cids[count], 1000, 0, b"m", False, timestamp=NOW + 50)
    assert not too_many.accepted and code(too_many) == "too_many_uploads"  # nothing has expired yet
    assert chunk(m, MALLORY, cids[0], 1000, 1, b"m", False, timestamp=NOW + 100).accepted  # fed again
    late = chunk(m, MALLORY, cids[count], 1000, 0, b"m", False, timestamp=NOW + TTL + count)
    assert late.accepted  # cids[1], the least recently fed of the expired ones, made room
    listed = [u["cid"] for u in uploads(m, MALLORY)]
    assert cid_to_text(cids[1]) not in listed and len(listed) == count
    assert [cid_to_text(c) for c in (cids[0], *cids[2:])] == listed


def test_an_expired_upload_can_be_finished_until_it_is_purged():
    m = Market()
    data = b"label,x\n" + b"1,2\n" * 100
    assert chunk(m, CAROL, cid_of(data), len(data), 0, data[:50], False, timestamp=NOW).accepted
    assert chunk(m, DAVE, fake_cid(b"ticks the clock"), 100, 0, b"d", False, timestamp=NOW + 2 * TTL).accepted
    assert uploads(m, CAROL)[0]["expired"] is True
    done = chunk(m, CAROL, cid_of(data), len(data), 50, data[50:], True)
    assert done.accepted and notices(done, "ContentStored")


# --- a full store never keeps money in escrow --------------------------------------------------------

SMALL_STORE = Limits(max_total_content=20_000)


SERIAL = itertools.count()


def fill(m: Market, sender: Address = MALLORY) -> list[bytes]:
    """Stores distinct files, large ones first, until not even an 8-byte file fits (less than
    ``FILE_OVERHEAD + 8`` bytes are left: too few for any model); returns their CIDs in order."""
    stored = []
    for size in (1500, 600, 200, 60, 8):
        while True:
            data = next(SERIAL).to_bytes(8, "big") + bytes(size - 8)
            done = chunk(m, sender, cid_of(data), len(data), 0, data, False)
            if not done.accepted:
                assert code(done) == "storage_full"
                break
            stored.append(cid_of(data))
    return stored


def stored_bytes(m: Market) -> int:
    return sum(c["size"] + 1024 for c in m.inspect("contents?limit=200")["contents"])


@pytest.mark.parametrize("end", ["settleJob", "cancelJob"])
def test_a_full_store_does_not_lock_a_best_job_whose_winner_the_machine_trained(end):
    m = Market(limits=SMALL_STORE)
    job = m.create_job(700, policy="best", reward_per_accept=0)
    trained = m.submit(CAROL, job, m.put_model(CAROL, 0.8), m.put(CAROL, b"x,target\n" + b"1,1\n" * 5))
    assert trained.accepted
    assert fill(m)  # the attacker takes every byte left
    sender, at = (SPONSOR, NOW + 500) if end == "cancelJob" else (DAVE, NOW + 1000)
    done = m.call(sender, end, job, timestamp=at)
    assert done.accepted and credits(done) == [(CAROL, 700)] and not done.vouchers
    assert m.job(job)["job"]["status"] == "ended"
    if end == "settleJob":  # the kept model was counted when kept: publishing it needs no room
        (published,) = notices(done, "ModelPublished")
        assert m.job(job)["job"]["model_cid"] == cid_to_text(published[2])
        assert json.loads(bytes.fromhex(m.inspect(f"contents/{cid_to_text(published[2])}/data")["data"][2:]))["trained"]
    assert stored_bytes(m) <= SMALL_STORE.max_total_content


def test_without_room_to_keep_its_model_the_winner_is_still_paid():
    m = Market(limits=SMALL_STORE)
    job = m.create_job(700, policy="best", reward_per_accept=0)
    model, data = m.put_model(CAROL, 0.8), m.put(CAROL, b"x,target\n" + b"1,1\n" * 5)
    fill(m)
    assert m.submit(CAROL, job, model, data).accepted  # a best job's submission needs no storage
    done = m.call(DAVE, "settleJob", job, timestamp=NOW + 1000)
    assert done.accepted and credits(done) == [(CAROL, 700)] and not done.vouchers
    assert notices(done, "ModelPublished") == [] and m.job(job)["job"]["model_cid"] is None


def test_a_full_store_does_not_block_a_reveal():
    m = Market(limits=SMALL_STORE)
    test_csv, salt = b"x,target\n2,1\n", b"\x07" * 32
    test_cid = m.put(SPONSOR, test_csv)
    job = m.create_job(600, policy="best", reward_per_accept=0,
                       test_commitment=m.commitment(test_cid, salt), reveal_window=500)
    m.submit(CAROL, job, m.put_model(CAROL, 0.9), m.put(CAROL, b"x,target\n" + b"1,1\n" * 3))  # trained: 0.94
    m.submit(DAVE, job, m.put_model(DAVE, 0.85))
    fill(m)
    m.call(DAVE, "settleJob", job, timestamp=NOW + 1000)
    done = m.call(SPONSOR, "revealTestSet", job, test_cid, salt)  # the winner's model finds no room
    assert done.accepted and credits(done) == [(CAROL, 600)] and not done.vouchers


class RoundsEngine(FakeEngine):
    """The fake engine plus what rounds use: every model averages with every other (by score)."""

    class Info(dict):
        estimator, trained, averageable = "Fake", True, True

    def check_model(self, model, task=None):
        return self.Info(super().check_model(model, task))

    def aggregate(self, models, method="fedavg"):
        return json.dumps({"score": sum(json.loads(m)["score"] * w for m, w in models) / sum(w for _, w in models),
                           "averaged": True}).encode()


@pytest.mark.parametrize("end", ["settleJob", "cancelJob"])
def test_a_full_store_closes_a_round_on_the_previous_model_and_pays(end):
    m = Market(engine=RoundsEngine(), limits=SMALL_STORE)
    base = m.put_model(SPONSOR, 0.5)
    job = m.create_job(1000, policy="rounds", rounds=3, round_duration=100, reward_per_accept=100,
                       tolerance=100_000, min_score=0, base_model_cid=base)
    assert notices(m.submit(CAROL, job, m.put_model(CAROL, 0.9)), "SubmissionScored")[0][6] is True
    fill(m)
    sender, at = (SPONSOR, NOW + 50) if end == "cancelJob" else (DAVE, NOW + 100)
    done = m.call(sender, end, job, timestamp=at)
    assert done.accepted and (CAROL, 100) in credits(done)
    (closed,) = notices(done, "RoundClosed")
    assert closed[3] == base and notices(done, "ModelPublished") == []
    assert m.job(job)["job"]["model_cid"] == cid_to_text(base)


# --- reclaiming stored files no job uses -----------------------------------------------------------

def listed(m: Market) -> set[bytes]:
    return {cid_from_text(c["cid"]) for c in m.inspect("contents?limit=200")["contents"]}


def test_old_files_no_open_job_uses_are_reclaimed_oldest_first_and_can_come_back():
    m = Market(limits=Limits(max_total_content=24_000))
    unused_bytes = b"an unused file\n" * 100
    unused = m.put(DAVE, unused_bytes)
    open_validation = m.put(SPONSOR, b"x,target\n1,0\n")
    open_job = m.create_job(1000, validation_cid=open_validation, deadline=NOW + CONTENT_TTL * 2)
    data, model = m.put(CAROL, b"x,target\n" + b"1,1\n" * 9), m.put_model(CAROL, 0.1)
    assert m.submit(CAROL, open_job, model, data).accepted  # scored too low, but its files stay referenced
    ended_validation = m.put(SPONSOR, b"x,target\n9,0\n")
    ended_job = m.create_job(100, validation_cid=ended_validation)
    assert m.call(SPONSOR, "cancelJob", ended_job).accepted
    young = fill(m)
    assert young and fill(m, attacker(1)) == []  # nothing is old enough yet
    m.timestamp = NOW + CONTENT_TTL - 1
    assert fill(m, attacker(1)) == []
    m.timestamp = NOW + CONTENT_TTL
    order = [unused, open_validation, data, model, ended_validation, *young]
    kept = {open_validation, data, model}
    assert chunk(m, attacker(2), cid_of(bytes(8000)), 8000, 0, bytes(8000), True).accepted
    dropped = [cid for cid in order if cid not in listed(m)]
    assert dropped == [cid for cid in order if cid not in kept][:len(dropped)]  # oldest unreferenced first
    assert unused in dropped and ended_validation in dropped and kept <= listed(m)
    assert m.put(DAVE, unused_bytes) == unused and unused in listed(m)  # a dropped CID can come back
    assert kept <= listed(m)


def test_a_published_model_stays_after_its_job_ends():
    m = Market(limits=Limits(max_total_content=20_000))
    job = m.create_job(700, policy="best", reward_per_accept=0)
    m.submit(CAROL, job, m.put_model(CAROL, 0.8), m.put(CAROL, b"x,target\n" + b"1,1\n" * 5))
    published = notices(m.call(DAVE, "settleJob", job, timestamp=NOW + 1000), "ModelPublished")[0][2]
    m.timestamp = NOW + 1000 + CONTENT_TTL
    fill(m)
    listed = {c["cid"] for c in m.inspect("contents?limit=200")["contents"]}
    assert cid_to_text(published) in listed
    assert m.job(job)["job"]["spec"]["validation_cid"] not in listed  # the ended job's inputs went
    assert stored_bytes(m) <= 20_000
