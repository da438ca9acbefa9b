"""A flooded store cannot defeat a hidden test set (issue 11), through ``App.advance``.

A stranger fills the content store (or the partial-upload pool) with fresh junk before a hidden-test
job's deadline. The sponsor, who may only upload its test set after the deadline, still gets it in:
while its job is due for a reveal its uploads evict unreferenced content of any age and other
accounts' partial uploads. Nobody else gets that priority, and files a live job uses never go.
"""

from __future__ import annotations

import hashlib
import itertools

import pytest

from dapp.codec import abi
from dapp.codec.cid import cid_of, cid_to_text
from dapp.domain.limits import Limits
from dapp.domain.values import Address
from tests.support.market import CAROL, DAVE, NOW, SPONSOR, Market
from tests.support.rollup import credits, report_json

INPUTS = abi.inputs()
MALLORY = Address(b"\x66" * 20)
DEADLINE, WINDOW, BUDGET = NOW + 1000, 500, 600
SMALL_STORE = Limits(max_total_content=12 * 1024)
SMALL_POOL = Limits(max_total_pending=8192)
TEST_CSV, SALT = b"x,target\n2,1\n", b"\x07" * 32
SERIAL = itertools.count()


def attacker(i: int) -> Address:
    return Address(hashlib.sha256(b"attacker %d" % i).digest()[:20])


def code(done) -> str:
    return report_json(done)["error"]["code"]


def upload(m: Market, sender: Address, data: bytes, timestamp: int | None = None):
    """One input holding the whole (small) file."""
    payload = INPUTS.encode("uploadChunk", cid_of(data), len(data), 0, False, data)
    return m.send(sender, payload, timestamp=timestamp)


def stored(m: Market) -> set[str]:
    return {c["cid"] for c in m.inspect("contents?limit=200")["contents"]}


def snapshot(m: Market, flooders: int) -> tuple[set[str], list[list[dict]]]:
    """The stored files and the flooders' partial uploads."""
    return stored(m), [m.inspect(f"uploads/{attacker(i).hex}")["uploads"] for i in range(flooders)]


def bounty(m: Market, hidden: bool = True) -> tuple[int, list[bytes]]:
    """A best job (hidden test set unless told) with an honest best (CAROL, trained on her data), an
    honest runner-up (DAVE) and a sybil (MALLORY); returns it and the CIDs its submissions use."""
    commitment = m.commitment(cid_of(TEST_CSV), SALT) if hidden else bytes(32)
    validation = m.put(SPONSOR, b"x,target\n1,1\n")
    job = m.create_job(BUDGET, policy="best", reward_per_accept=0, validation_cid=validation,
                       test_commitment=commitment, reveal_window=WINDOW if hidden else 0)
    uses = [m.put_model(CAROL, 0.9), m.put(CAROL, b"x,target\n" + b"1,1\n" * 3), m.put_model(DAVE, 0.85),
            m.put_model(MALLORY, 0.1)]
    for sender, model, data in [(CAROL, uses[0], uses[1]), (DAVE, uses[2], b""), (MALLORY, uses[3], b"")]:
        assert m.submit(sender, job, model, data).accepted
    return job, uses


def flood_store(m: Market) -> list[bytes]:
    """Fresh junk files from several accounts until not even an 8-byte file fits."""
    junk = []
    for size in (1500, 600, 200, 60, 8):
        while True:
            data = next(SERIAL).to_bytes(8, "big") + bytes(size - 8)
            done = upload(m, attacker(len(junk)), data, timestamp=DEADLINE - 10)
            if not done.accepted:
                assert code(done) == "storage_full"
                break
            junk.append(cid_of(data))
    return junk


def flood_pool(m: Market) -> list[Address]:
    """Fresh partial uploads (1 byte of 1000 declared), one per account, until the pool refuses."""
    senders = []
    while True:
        sender, target = attacker(len(senders)), hashlib.sha256(b"never sent %d" % len(senders)).digest()
        payload = INPUTS.encode("uploadChunk", b"\x01\x55\x12\x20" + target, 1000, 0, False, b"j")
        done = m.send(sender, payload, timestamp=DEADLINE - 10)
        if not done.accepted:
            assert code(done) == "uploads_full"
            return senders
        senders.append(sender)


FLOODS = {"store": (SMALL_STORE, flood_store, "storage_full"),
          "pool": (SMALL_POOL, flood_pool, "uploads_full")}


@pytest.mark.parametrize("flood", FLOODS)
def test_after_a_flood_the_sponsor_uploads_its_test_set_and_the_reveal_pays_the_honest_best(flood):
    limits, attack, refused = FLOODS[flood]
    m = Market(limits=limits)
    job, uses = bounty(m)
    assert attack(m)
    assert code(upload(m, DAVE, b"x,target\n3,0\n", timestamp=DEADLINE)) == refused  # the flood works
    done = upload(m, SPONSOR, TEST_CSV, timestamp=DEADLINE)
    assert done.accepted, done.reports
    assert {cid_to_text(c) for c in uses} <= stored(m)  # the submissions' files all survive
    done = m.call(SPONSOR, "revealTestSet", job, cid_of(TEST_CSV), SALT)
    assert done.accepted, done.reports
    assert credits(done) == [(CAROL, BUDGET)] and not done.vouchers
    assert m.job(job)["job"]["status"] == "ended"


def test_the_pool_flood_loses_its_least_recently_fed_uploads_first():
    m = Market(limits=SMALL_POOL)
    bounty(m)
    senders = flood_pool(m)
    assert upload(m, SPONSOR, TEST_CSV, timestamp=DEADLINE).accepted
    left = [s for s in senders if m.inspect(f"uploads/{s.hex}")["uploads"]]
    assert left == senders[len(senders) - len(left):] and len(left) < len(senders)


def test_the_sponsor_evicts_junk_of_any_age_but_never_what_a_live_job_or_a_published_model_uses():
    m = Market(limits=Limits(max_total_content=16 * 1024))
    earlier = m.create_job(100, policy="best", reward_per_accept=0, deadline=NOW + 100)
    model, data = m.put_model(CAROL, 0.9), m.put(CAROL, b"x,target\n" + b"0,1\n" * 2)
    assert m.submit(CAROL, earlier, model, data).accepted
    assert m.call(DAVE, "settleJob", earlier, timestamp=NOW + 100).accepted
    published = m.job(earlier)["job"]["model_cid"]
    assert published
    job, uses = bounty(m)
    junk = flood_store(m)
    for i in range(8):  # 8 x (1,212 + 1,024 counted) bytes: more than the whole store
        done = upload(m, SPONSOR, b"x,target\n" + b"%d,1\n" % i + bytes(1200), timestamp=DEADLINE + 1)
        assert done.accepted, done.reports
    left = stored(m)
    assert {cid_to_text(c) for c in uses} | {published} <= left
    assert not left & {cid_to_text(c) for c in junk}  # every junk file went, young as it was
    too_big = b"x,target\n" + bytes(15 * 1024)  # fits the store alone, not beside what live jobs use
    done = upload(m, SPONSOR, too_big, timestamp=DEADLINE + 2)
    assert code(done) == "storage_full" and stored(m) == left


def cancel_first(m: Market, job: int) -> int:
    assert m.call(SPONSOR, "cancelJob", job, timestamp=DEADLINE - 5).accepted  # after the flood
    return DEADLINE


@pytest.mark.parametrize("flood", FLOODS)
@pytest.mark.parametrize("who, hidden, when", [
    ("stranger", True, lambda m, job: DEADLINE),
    ("sponsor", True, lambda m, job: DEADLINE - 1),              # not past its deadline yet
    ("sponsor", True, lambda m, job: DEADLINE + WINDOW),         # reveal window over (not settled yet)
    ("sponsor", True, cancel_first),                             # its job has ended
    ("sponsor", False, lambda m, job: DEADLINE),                 # no hidden test set to reveal
], ids=["stranger", "before-deadline", "window-over", "ended", "no-hidden-test"])
def test_no_one_else_gets_priority(flood, who, hidden, when):
    limits, attack, refused = FLOODS[flood]
    m = Market(limits=limits)
    job, _ = bounty(m, hidden)
    flooders = len(attack(m))
    at = when(m, job)
    before = snapshot(m, flooders)
    done = upload(m, DAVE if who == "stranger" else SPONSOR, TEST_CSV, timestamp=at)
    assert not done.accepted and code(done) == refused
    assert snapshot(m, flooders) == before  # nothing was evicted or purged


def test_a_test_set_sent_in_several_chunks_after_a_flood_gets_in_too():
    m = Market(limits=SMALL_STORE)
    test_csv = b"x,target\n" + b"2,1\n" * 50
    job = m.create_job(BUDGET, policy="best", reward_per_accept=0,
                       test_commitment=m.commitment(cid_of(test_csv), SALT), reveal_window=WINDOW)
    assert m.submit(CAROL, job, m.put_model(CAROL, 0.9)).accepted
    assert flood_store(m)
    for offset in range(0, len(test_csv), 50):
        done = m.send(SPONSOR, INPUTS.encode("uploadChunk", cid_of(test_csv), len(test_csv), offset, False,
                                             test_csv[offset:offset + 50]), timestamp=DEADLINE + offset)
        assert done.accepted, done.reports
    done = m.call(SPONSOR, "revealTestSet", job, cid_of(test_csv), SALT)
    assert done.accepted and credits(done) == [(CAROL, BUDGET)] and not done.vouchers
