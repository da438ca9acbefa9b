"""Upload planning: every payload fits the InputBox, decodes to uploadChunkCoded, and rebuilds the file."""

import bz2
import io
import lzma
import math
import random
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dapp.codec import abi
from dapp.codec.chunk_codecs import ChunkCodec
from dapp.codec.chunks import MAX_PAYLOAD, max_data_bytes, plan_upload, read_chunk
from dapp.codec.cid import cid_of

UPLOAD_CHUNK = abi.inputs()["uploadChunkCoded"]
INPUTBOX_PAYLOAD_LIMIT = 65_216  # CARTESI-FACTS §3, measured on anvil
LZMA_RAW = {"format": lzma.FORMAT_RAW,
            "filters": [{"id": lzma.FILTER_LZMA2, "preset": 9, "dict_size": 1 << 20}]}
DECOMPRESS = {0: bytes, 1: zlib.decompress, 2: bz2.decompress, 3: lambda b: lzma.decompress(b, **LZMA_RAW)}
COMPRESS = {1: lambda b: zlib.compress(b, 9), 2: lambda b: bz2.compress(b, 9),
            3: lambda b: lzma.compress(b, **LZMA_RAW)}


def numeric_csv(rows: int, seed: int = 0) -> bytes:
    table = np.random.default_rng(seed).normal(size=(rows, 6)).round(3)
    out = io.StringIO()
    np.savetxt(out, table, delimiter=",", fmt="%.3f", header="a,b,c,d,e,label", comments="")
    return out.getvalue().encode()


def from_columns(laid: bytes) -> bytes:
    """A column layout back to rows: k, n, the first line, k columns of n newline-ended fields, a tail."""
    k, n = int.from_bytes(laid[:2], "big"), int.from_bytes(laid[2:6], "big")
    head, _, rest = laid[6:].partition(b"\n")
    *fields, tail = rest.split(b"\n")
    assert len(fields) == n * k
    return head + b"\n" + b"".join(b",".join(fields[j * n + i] for j in range(k)) + b"\n"
                                    for i in range(n)) + tail


def decoded(plan):
    """(cid, size, offset, codec, data) of every payload, decoded with the protocol ABI."""
    calls = []
    for chunk in plan.chunks:
        function, args = abi.inputs().decode(chunk.payload)
        assert function.name == "uploadChunkCoded"
        calls.append(args)
    return calls


def rebuilt(plan, start: int = 0) -> bytes:
    """The original bytes the payloads carry, checking offsets are contiguous from ``start``."""
    out = bytearray()
    for cid, size, offset, codec, data in decoded(plan):
        assert (cid, size, offset) == (plan.cid, plan.size, start + len(out))
        out += DECOMPRESS[codec & 0xF](data) if codec < 0x10 else from_columns(DECOMPRESS[codec & 0xF](data))
    return bytes(out)


def test_the_payload_limit_is_the_inputbox_one():
    assert MAX_PAYLOAD == INPUTBOX_PAYLOAD_LIMIT


def test_max_data_bytes_is_the_largest_data_that_fits():
    cid, size = cid_of(b"x" * 10), 10 ** 7
    most = max_data_bytes(cid, size)
    assert len(UPLOAD_CHUNK.encode(cid, size, size, 3, bytes(most))) <= INPUTBOX_PAYLOAD_LIMIT
    assert len(UPLOAD_CHUNK.encode(cid, size, size, 3, bytes(most + 1))) > INPUTBOX_PAYLOAD_LIMIT
    old = abi.inputs()["uploadChunk"]  # the old input has the same layout
    assert len(old.encode(cid, size, size, True, bytes(most))) == len(UPLOAD_CHUNK.encode(cid, size, size, 3,
                                                                                         bytes(most)))


def test_random_bytes_go_raw_in_full_payloads():
    data = random.Random(1).randbytes(300_000)
    plan = plan_upload(data)
    most = max_data_bytes(plan.cid, len(data))
    assert plan.cid == cid_of(data) and plan.size == len(data)
    assert len(plan.chunks) == math.ceil(len(data) / most)
    assert all(c.codec is ChunkCodec.STORED for c in plan.chunks)
    assert all(c.length == most for c in plan.chunks[:-1])
    assert rebuilt(plan) == data


def test_csv_goes_compressed_with_several_times_fewer_inputs_and_nearly_full_payloads():
    data = numeric_csv(40_000)
    plan = plan_upload(data)
    most = max_data_bytes(plan.cid, len(data))
    assert rebuilt(plan) == data
    assert all(c.codec is not ChunkCodec.STORED for c in plan.chunks)
    assert len(plan.chunks) * 2 <= math.ceil(len(data) / most)
    assert all(len(args[4]) >= 0.97 * most for args in decoded(plan)[:-1])
    assert all(len(c.payload) <= INPUTBOX_PAYLOAD_LIMIT for c in plan.chunks)
    assert plan.payload_bytes == sum(len(c.payload) for c in plan.chunks)


def test_compressed_chunks_never_decode_beyond_the_bound():
    data = bytes(3 << 20)  # zeros compress ~1000x: the bound, not the payload, limits each chunk
    plan = plan_upload(data, max_inflated=1 << 20)
    assert [c.length for c in plan.chunks] == [1 << 20] * 3
    assert rebuilt(plan) == data
    small = plan_upload(data[:200_000], max_inflated=70_000)  # above one raw payload: compression wins
    assert [c.length for c in small.chunks] == [70_000, 70_000, 60_000]
    assert all(c.codec is not ChunkCodec.STORED for c in small.chunks) and rebuilt(small) == data[:200_000]


def test_raw_wins_when_the_inflation_bound_is_below_a_raw_payload():
    plan = plan_upload(bytes(100_000), max_inflated=30_000)
    assert plan.chunks[0].length == max_data_bytes(plan.cid, 100_000)
    assert plan.chunks[0].codec is ChunkCodec.STORED


def test_resume_plans_from_the_received_byte():
    data = numeric_csv(5_000) + random.Random(2).randbytes(100_000)
    whole = plan_upload(data)
    for received in (1, whole.chunks[1].offset, len(data) - 5):
        plan = plan_upload(data, received=received)
        assert plan.chunks[0].offset == received
        assert rebuilt(plan, start=received) == data[received:]
    assert plan_upload(data, received=len(data)).chunks == ()


@pytest.mark.parametrize("received", [-1, 11])
def test_resume_outside_the_file_is_refused(received):
    with pytest.raises(ValueError):
        plan_upload(b"0123456789", received=received)


def test_an_empty_file_is_one_empty_chunk():
    plan = plan_upload(b"")
    assert [args for args in decoded(plan)] == [(cid_of(b""), 0, 0, 0, b"")]


def test_planning_is_deterministic():
    data = numeric_csv(8_000, seed=3)
    assert plan_upload(data) == plan_upload(data)


segments = st.lists(
    st.one_of(st.binary(max_size=20_000),
              st.builds(lambda unit, times: unit * times, st.binary(min_size=1, max_size=50),
                        st.integers(1, 4_000))),
    max_size=6,
)


@settings(max_examples=25, deadline=None)
@given(parts=segments, max_inflated=st.integers(1, 200_000), cut=st.floats(0, 1))
def test_any_file_rebuilds_from_its_plan_within_the_limits(parts, max_inflated, cut):
    data = b"".join(parts)
    received = int(len(data) * cut)
    plan = plan_upload(data, received=received, max_inflated=max_inflated)
    assert rebuilt(plan, start=received) == data[received:]
    assert all(len(c.payload) <= INPUTBOX_PAYLOAD_LIMIT for c in plan.chunks)
    assert all(c.length <= max_inflated for c in plan.chunks if c.codec is not ChunkCodec.STORED)
    assert all(c.length > 0 for c in plan.chunks) or data == b""


def test_each_chunk_takes_the_codec_covering_the_most_bytes():
    """No codec fits a slice 0.2% longer than the chunk the planner chose in the payload (as rows;
    the column layouts are the planner's own, so they are checked by what they rebuild)."""
    data = numeric_csv(12_000) + b"x" * 300_000 + random.Random(3).randbytes(70_000)
    plan = plan_upload(data)
    budget = max_data_bytes(plan.cid, len(data))
    assert {c.codec for c in plan.chunks} >= {ChunkCodec.STORED, ChunkCodec.BZ2}
    for chunk in plan.chunks:
        end = chunk.offset + chunk.length
        if end == len(data):
            continue
        longer = data[chunk.offset:min(len(data), end + max(1, chunk.length // 500))]
        assert len(longer) > budget and all(len(compress(longer)) > budget for compress in COMPRESS.values())


def test_on_a_tie_the_smallest_stream_wins():
    data = b"abc" * 200_000  # every codec covers the whole bounded slice
    (chunk,) = plan_upload(data).chunks
    sizes = {codec: len(compress(data)) for codec, compress in COMPRESS.items()}
    assert chunk.codec == min(sizes, key=sizes.get)
    assert len(decoded(plan_upload(data))[0][4]) == min(sizes.values())


@pytest.mark.parametrize("deflated", [False, True])
def test_read_chunk_reads_the_old_input_too(deflated):
    cid, piece = cid_of(b"hello world" * 10), b"hello world" * 3
    data = zlib.compress(piece) if deflated else piece
    payload = abi.inputs().encode("uploadChunk", cid, 110, 11, deflated, data)
    assert read_chunk(payload) == (cid, 110, 11, piece)


def test_a_numeric_csv_goes_in_column_layouts_that_rebuild_it():
    data = numeric_csv(30_000, seed=4)
    plan = plan_upload(data)
    assert all(c.columns and c.codec is not ChunkCodec.STORED for c in plan.chunks)
    assert [args[3] & 0x10 for args in decoded(plan)] == [0x10] * len(plan.chunks)
    assert rebuilt(plan) == data
    assert plan.payload_bytes < plan_upload(data, columns=False).payload_bytes
