"""The content store's rules, through its handlers on a transactional State."""

import base64
import dataclasses
import hashlib
import random
import tracemalloc
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dapp.codec import abi
from dapp.codec.chunks import plan_upload
from dapp.codec.cid import CHUNK_SIZE, cid_of
from dapp.domain import content, content_budget, partial_uploads
from dapp.domain.commands import AbortUpload, Context, UploadChunk, UploadChunkCoded
from dapp.domain.env import Env
from dapp.domain.events import ContentStored, UploadProgress
from dapp.domain.limits import Limits
from dapp.domain.store import State
from dapp.domain.values import Address
from dapp.errors import DomainError, InvalidInput

ALICE = Address(b"\xa1" * 20)
BOB = Address(b"\xb0" * 20)
ENV = Env(limits=Limits(max_file_size=1 << 20, max_pending_uploads=3, max_pending_upload_bytes=1_500_000,
                        max_inflated_chunk=100_000, max_total_content=3 << 20, max_inspect_bytes=1000))


def raw_cid(data: bytes) -> bytes:
    """Independent raw CIDv1 (01 55 12 20 ‖ sha256), valid for files of one IPFS chunk."""
    assert len(data) <= CHUNK_SIZE
    return b"\x01\x55\x12\x20" + hashlib.sha256(data).digest()


def text(cid: bytes) -> str:
    return "b" + base64.b32encode(cid).decode().lower().rstrip("=")


class Machine:
    """A State fed one command per input, like the dispatch does: a rejected input changes nothing."""

    def __init__(self, env: Env = ENV) -> None:
        self.state, self.env, self.inputs = State(), env, 0

    def run(self, handler, cmd, sender: Address = ALICE):
        ctx = Context(sender=sender, timestamp=1_700_000_000 + self.inputs, block_number=10 + self.inputs,
                      input_index=self.inputs)
        self.inputs += 1
        with self.state.transaction() as tx:
            return handler(tx, cmd, ctx, self.env)

    def chunk(self, data: bytes, offset: int, piece: bytes, sender: Address = ALICE, *,
              cid: bytes | None = None, size: int | None = None, deflated: bool = False):
        cmd = UploadChunk(cid=raw_cid(data) if cid is None else cid, size=len(data) if size is None else size,
                          offset=offset, deflated=deflated, data=zlib.compress(piece) if deflated else piece)
        return self.run(content.upload_chunk, cmd, sender)

    def abort(self, cid: bytes, sender: Address = ALICE):
        return self.run(content.abort_upload, AbortUpload(cid), sender)

    def status(self, data: bytes, sender: Address = ALICE):
        return content.upload_status(self.state, sender, raw_cid(data))

    def rejected(self, error_type, code: str, *args, **kwargs) -> str:
        """Runs ``chunk`` expecting a rejection that leaves the state as it was; returns the message."""
        before = snapshot(self.state)
        with pytest.raises(error_type) as info:
            self.chunk(*args, **kwargs)
        assert info.value.code == code
        assert snapshot(self.state) == before
        return info.value.message


TABLES = (content.UPLOADS, content.CHUNKS, content.PENDING, content.CONTENTS, partial_uploads.ORDER,
          partial_uploads.TOTALS, content_budget.ORDER, content_budget.TOTALS, content.CLOCK)


def snapshot(state: State, tables: tuple[str, ...] = TABLES) -> dict:
    return {name: list(state.items(name)) for name in tables}


FILE = random.Random(5).randbytes(200_000)


def test_a_one_chunk_file_is_stored_and_announced():
    m = Machine()
    data = b"label,x\n1,2\n"
    assert m.chunk(data, 0, data) == [ContentStored(raw_cid(data), len(data), ALICE)]
    assert content.get_content(m.state, raw_cid(data)) == data
    info = {"cid": text(raw_cid(data)), "size": len(data), "uploader": ALICE.hex, "input_index": 0,
            "timestamp": 1_700_000_000}
    assert content.content_info(m.state, raw_cid(data)) == info
    assert content.list_contents(m.state) == [info]
    assert content.list_uploads(m.state, ALICE) == []


def test_chunks_report_progress_until_the_file_is_complete():
    m = Machine()
    assert m.chunk(FILE, 0, FILE[:50_000]) == [UploadProgress(raw_cid(FILE), 50_000, len(FILE))]
    assert m.status(FILE) == {"cid": text(raw_cid(FILE)), "uploader": ALICE.hex, "received": 50_000,
                              "size": len(FILE), "expires_at": 1_700_000_000 + ENV.limits.upload_ttl,
                              "expired": False}
    assert m.chunk(FILE, 50_000, FILE[50_000:120_000]) == [UploadProgress(raw_cid(FILE), 120_000, len(FILE))]
    assert content.list_uploads(m.state, ALICE) == [m.status(FILE)]
    assert content.list_uploads(m.state, BOB) == []
    assert m.chunk(FILE, 120_000, FILE[120_000:]) == [ContentStored(raw_cid(FILE), len(FILE), ALICE)]
    assert content.get_content(m.state, raw_cid(FILE)) == FILE
    assert m.status(FILE) is None


def test_a_resumed_upload_continues_from_the_received_mark():
    m = Machine()
    m.chunk(FILE, 0, FILE[:70_000])
    received = m.status(FILE)["received"]
    m.chunk(FILE, received, FILE[received:])
    assert content.get_content(m.state, raw_cid(FILE)) == FILE


def test_an_identical_resend_is_accepted_and_changes_nothing():
    m = Machine()
    m.chunk(FILE, 0, FILE[:50_000])
    m.chunk(FILE, 50_000, FILE[50_000:90_000])
    before = snapshot(m.state)
    assert m.chunk(FILE, 10_000, FILE[10_000:70_000]) == [UploadProgress(raw_cid(FILE), 90_000, len(FILE))]
    assert snapshot(m.state) == before


def test_an_overlapping_chunk_adds_only_its_new_bytes():
    m = Machine()
    m.chunk(FILE, 0, FILE[:50_000])
    m.chunk(FILE, 30_000, FILE[30_000:100_000], deflated=True)
    rows = [row for _, row in m.state.items(content.CHUNKS)]
    assert [(row.offset, len(row.data)) for row in rows] == [(0, 50_000), (50_000, 50_000)]
    assert m.status(FILE)["received"] == 100_000
    m.chunk(FILE, 99_999, FILE[99_999:])
    assert content.get_content(m.state, raw_cid(FILE)) == FILE


def test_a_different_resend_is_rejected_naming_the_first_differing_offset():
    m = Machine()
    m.chunk(FILE, 0, FILE[:50_000])
    m.chunk(FILE, 50_000, FILE[50_000:60_000])
    altered = bytearray(FILE[40_000:80_000])
    altered[12_345] ^= 1
    message = m.rejected(DomainError, "chunk_mismatch", FILE, 40_000, bytes(altered))
    assert "52345" in message


def test_a_gap_is_rejected_naming_the_expected_offset():
    m = Machine()
    m.chunk(FILE, 0, FILE[:1000])
    assert "1000" in m.rejected(DomainError, "upload_gap", FILE, 1001, FILE[1001:2000])
    fresh = Machine()
    with pytest.raises(DomainError) as info:
        fresh.chunk(FILE, 5, FILE[5:100])
    assert info.value.code == "upload_gap" and fresh.status(FILE) is None


def test_a_chunk_declaring_another_size_is_rejected():
    m = Machine()
    m.chunk(FILE, 0, FILE[:1000])
    message = m.rejected(DomainError, "upload_size_changed", FILE, 1000, FILE[1000:2000], size=len(FILE) + 1)
    assert str(len(FILE)) in message and str(len(FILE) + 1) in message


def test_a_file_over_the_size_limit_is_rejected_naming_the_limit():
    big = bytes((1 << 20) + 1)
    message = Machine().rejected(DomainError, "file_too_large", big, 0, big[:1000], cid=cid_of(big))
    assert str(1 << 20) in message and str((1 << 20) + 1) in message


def test_a_chunk_reaching_past_the_declared_size_is_rejected():
    m = Machine()
    assert "1000" in m.rejected(DomainError, "chunk_past_end", FILE[:1000], 0, FILE[:1001])
    assert "1000" in m.rejected(DomainError, "chunk_too_large", FILE[:1000], 0, FILE[:1001], deflated=True)


def test_an_empty_chunk_of_a_non_empty_file_is_rejected():
    Machine().rejected(DomainError, "empty_chunk", FILE, 0, b"")


def test_a_deflate_bomb_is_rejected_without_inflating_it():
    m = Machine()
    bomb = bytes(900_000)  # a legitimate size, but one chunk may inflate to 100,000 bytes at most
    message = m.rejected(DomainError, "chunk_too_large", bomb, 0, bomb, cid=cid_of(bomb), deflated=True)
    assert "100000" in message


def test_a_huge_bomb_is_never_inflated_in_memory():
    packer = zlib.compressobj(9)
    stream = b"".join(packer.compress(bytes(1 << 20)) for _ in range(64)) + packer.flush()  # 64 MiB
    m = Machine()
    cmd = UploadChunk(raw_cid(FILE), len(FILE), 0, True, stream)
    tracemalloc.start()
    try:
        with pytest.raises(DomainError, match="chunk_too_large|inflates to more than"):
            m.run(content.upload_chunk, cmd)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20


@pytest.mark.parametrize("stream", [
    b"not zlib at all",
    zlib.compress(FILE[:1000])[:-5],          # truncated
    zlib.compress(FILE[:1000]) + b"junk",      # trailing bytes
])
def test_a_corrupt_deflated_chunk_is_invalid_input(stream):
    m = Machine()
    cmd = UploadChunk(raw_cid(FILE), len(FILE), 0, True, stream)
    with pytest.raises(InvalidInput) as info:
        m.run(content.upload_chunk, cmd)
    assert info.value.code == "bad_deflate" and m.status(FILE) is None


def test_a_bad_cid_is_invalid_input():
    m = Machine()
    with pytest.raises(InvalidInput) as info:
        m.chunk(FILE, 0, FILE[:10], cid=b"\x01\x71\x12\x20" + bytes(32))
    assert info.value.code == "bad_cid"


def test_content_not_matching_its_cid_is_rejected_and_must_be_aborted():
    m = Machine()
    claimed = FILE[:2000]
    actual = bytes(reversed(claimed))
    m.chunk(claimed, 0, actual[:1500])
    message = m.rejected(DomainError, "cid_mismatch", claimed, 1500, actual[1500:])
    assert f"announced {text(raw_cid(claimed))}, content hashes to {text(raw_cid(actual))}" in message
    assert m.status(claimed)["received"] == 1500
    assert m.abort(raw_cid(claimed)) == []
    m.chunk(claimed, 0, claimed)
    assert content.get_content(m.state, raw_cid(claimed)) == claimed


def test_abort_drops_the_partial_upload_and_a_second_abort_is_rejected():
    m = Machine()
    m.chunk(FILE, 0, FILE[:1000])
    m.abort(raw_cid(FILE))
    assert m.status(FILE) is None
    unclocked = tuple(t for t in TABLES if t != content.CLOCK)
    assert snapshot(m.state, unclocked) == snapshot(State(), unclocked)
    with pytest.raises(DomainError) as info:
        m.abort(raw_cid(FILE))
    assert info.value.code == "no_upload"


def test_partial_uploads_per_account_are_limited_in_number():
    m = Machine()
    files = [bytes([i]) * 100 for i in range(4)]
    for f in files[:3]:
        m.chunk(f, 0, f[:10])
    assert "3" in m.rejected(DomainError, "too_many_uploads", files[3], 0, files[3][:10])
    m.chunk(files[3], 0, files[3][:10], BOB)  # another account has its own allowance
    m.abort(raw_cid(files[0]))
    m.chunk(files[3], 0, files[3][:10])
    m.chunk(files[1], 10, files[1][10:])  # completing one frees its place too
    m.chunk(files[0], 0, files[0][:10])


def test_partial_uploads_per_account_are_limited_in_declared_bytes():
    m = Machine()
    first, second = bytes(1_000_000), b"\x01" * 600_000
    m.chunk(first, 0, first[:10], cid=cid_of(first))
    message = m.rejected(DomainError, "pending_bytes_exceeded", second, 0, second[:10], cid=cid_of(second))
    assert "1600000" in message and "1500000" in message
    m.chunk(second, 0, second[:10], BOB, cid=cid_of(second))


def test_total_stored_content_is_limited_counting_each_files_overhead():
    env = Env(limits=dataclasses.replace(ENV.limits, max_total_content=250_000 + 2 * content_budget.FILE_OVERHEAD))
    m = Machine(env)
    m.chunk(FILE, 0, FILE)
    other = FILE[:60_000][::-1]
    assert str(env.limits.max_total_content) in m.rejected(DomainError, "storage_full", other, 0, other[:10])
    m.rejected(DomainError, "storage_full", FILE[:50_001][::-1], 0, b"x")  # one byte too many
    small = FILE[:50_000][::-1]
    m.chunk(small, 0, small)
    assert sum(i["size"] for i in content.list_contents(m.state)) == 250_000


def test_storage_is_checked_again_when_a_file_completes():
    env = Env(limits=dataclasses.replace(ENV.limits, max_total_content=300_000))
    m = Machine(env)
    m.chunk(FILE, 0, FILE[:100])               # fits when started...
    m.chunk(FILE[::-1], 0, FILE[::-1], BOB)    # ...but another file fills the store meanwhile
    m.rejected(DomainError, "storage_full", FILE, 100, FILE[100:])


def test_two_uploaders_of_one_cid_progress_separately_and_the_first_to_finish_stores_it():
    m = Machine()
    m.chunk(FILE, 0, FILE[:80_000])
    m.chunk(FILE, 0, FILE[:30_000], BOB)
    assert (m.status(FILE)["received"], m.status(FILE, BOB)["received"]) == (80_000, 30_000)
    assert m.chunk(FILE, 30_000, FILE[30_000:], BOB) == [ContentStored(raw_cid(FILE), len(FILE), BOB)]
    assert m.chunk(FILE, 80_000, FILE[80_000:90_000]) == [UploadProgress(raw_cid(FILE), len(FILE), len(FILE))]
    assert m.status(FILE) is None
    assert content.content_info(m.state, raw_cid(FILE))["uploader"] == BOB.hex
    assert m.state.get(content.PENDING, ALICE) is None and content.list_uploads(m.state, ALICE) == []


def test_any_chunk_for_a_stored_cid_is_a_no_op():
    m = Machine()
    m.chunk(FILE, 0, FILE)
    before = snapshot(m.state)
    answer = [UploadProgress(raw_cid(FILE), len(FILE), len(FILE))]
    assert m.chunk(FILE, 0, FILE[:10], BOB) == answer
    assert m.chunk(FILE, 7, b"whatever", BOB, size=3) == answer
    assert snapshot(m.state) == before


def test_an_empty_file_is_stored_by_one_empty_chunk():
    m = Machine()
    assert m.chunk(b"", 0, b"") == [ContentStored(raw_cid(b""), 0, ALICE)]
    assert content.get_content(m.state, raw_cid(b"")) == b""
    assert text(raw_cid(b"")) == "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"


def test_a_multi_leaf_file_uploaded_from_its_plan_is_stored_under_its_ipfs_cid():
    data = b"".join(b"%d,%d,%.3f\n" % (i, i % 7, i / 3) for i in range(60_000))
    assert len(data) > CHUNK_SIZE
    m = Machine()
    plan = plan_upload(data, max_inflated=ENV.limits.max_inflated_chunk)
    events = []
    for chunk in plan.chunks:
        _, args = abi.inputs().decode(chunk.payload)
        events = m.run(content.upload_chunk, UploadChunkCoded(*args))
    assert events == [ContentStored(cid_of(data), len(data), ALICE)]
    assert any(c.codec != 0 for c in plan.chunks)
    assert content.get_content(m.state, cid_of(data)) == data


def test_chunk_rows_hold_only_new_bytes_and_every_stored_value_is_immutable():
    m = Machine()
    for start in range(0, 150_000, 25_000):
        m.chunk(FILE, max(0, start - 5_000), FILE[max(0, start - 5_000):start + 25_000])
    rows = [row.data for _, row in m.state.items(content.CHUNKS)]
    assert sum(map(len, rows)) == m.status(FILE)["received"] == 150_000
    m.chunk(FILE[:1000], 0, FILE[:1000])
    for table in snapshot(m.state).values():
        for key, value in table:
            hash(key)
            assert isinstance(value, (int, bytes)) or dataclasses.fields(value) and type(
                value).__dataclass_params__.frozen


def test_read_content_returns_bounded_ranges():
    m = Machine()
    m.chunk(FILE, 0, FILE)
    cid = raw_cid(FILE)
    assert content.read_content(m.state, cid, 10, 20) == FILE[10:30]
    assert content.read_content(m.state, cid, 0, 5000, max_length=1000) == FILE[:1000]
    assert content.read_content(m.state, cid, len(FILE) - 3, 100) == FILE[-3:]
    with pytest.raises(DomainError) as info:
        content.read_content(m.state, cid, len(FILE) + 1, 1)
    assert info.value.code == "out_of_range"
    with pytest.raises(DomainError) as info:
        content.read_content(m.state, raw_cid(b"absent"), 0, 1)
    assert info.value.code == "not_found"
    assert content.content_info(m.state, raw_cid(b"absent")) is None


@settings(max_examples=30, deadline=None)
@given(data=st.binary(min_size=1, max_size=5_000), moves=st.lists(
    st.tuples(st.integers(0, 5_000), st.integers(1, 2_000), st.booleans()), max_size=30))
def test_any_order_of_valid_resends_rebuilds_the_file(data, moves):
    """Chunks from any offset up to the received mark, raw or deflated, end with the file stored."""
    m = Machine()
    for back, length, deflated in moves:
        status = m.status(data)
        if status is None and content.get_content(m.state, raw_cid(data)) is not None:
            break
        received = 0 if status is None else status["received"]
        offset = max(0, received - back)
        m.chunk(data, offset, data[offset:offset + length], deflated=deflated)
    status = m.status(data)
    if content.get_content(m.state, raw_cid(data)) is None:
        received = 0 if status is None else status["received"]
        m.chunk(data, received, data[received:])
    assert content.get_content(m.state, raw_cid(data)) == data
    assert m.status(data) is None
