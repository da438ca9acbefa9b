"""Chunk codecs through the real dispatch: every codec stores the original bytes under the CID, hostile
streams are refused with nothing changed, and the old ``uploadChunk`` keeps working unchanged."""

import bz2
import lzma
import tracemalloc
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dapp.codec import abi
from dapp.codec.chunk_codecs import COLUMNS, LZMA_FILTERS, MAX_COLUMN_FIELDS, ChunkCodec
from dapp.codec.chunks import plan_upload
from dapp.codec.cid import cid_of, cid_to_text
from tests.support.rollup import ALICE, Driver, report_json

INPUTS = abi.inputs()
LZMA_RAW = {"format": lzma.FORMAT_RAW,
            "filters": [{"id": lzma.FILTER_LZMA2, "preset": 9, "dict_size": 1 << 20}]}
COMPRESS = {  # the protocol's codec bytes, written with the standard library directly
    0: bytes,
    1: lambda b: zlib.compress(b, 9),
    2: lambda b: bz2.compress(b, 9),
    3: lambda b: lzma.compress(b, **LZMA_RAW),
}


def layout(data: bytes, k: int | None = None, n: int | None = None) -> bytes:
    """The column layout of a CSV slice (header k, n; the first line as it is; the columns; the tail),
    with ``k`` and ``n`` overridable to build inconsistent ones."""
    head, _, rest = data.partition(b"\n")
    *lines, tail = rest.split(b"\n")
    rows = [line.split(b",") for line in lines]
    body = b"".join(b"".join(row[j] + b"\n" for row in rows) for j in range(len(rows[0])))
    k, n = len(rows[0]) if k is None else k, len(rows) if n is None else n
    return k.to_bytes(2, "big") + n.to_bytes(4, "big") + head + b"\n" + body + tail


COMPRESS |= {0x10 | codec: (lambda c: lambda b: COMPRESS[c](layout(b)))(codec) for codec in (1, 2, 3)}
CODECS = sorted(COMPRESS)
BAD_STREAM = {1: "bad_deflate"}


def csv(rows: int, seed: int = 5) -> bytes:
    rng = np.random.default_rng(seed)
    lines = ["a,b,c,label"] + [f"{x:.4f},{y:.4f},{z:.4f},{int(x > y)}" for x, y, z in rng.random((rows, 3))]
    return ("\n".join(lines) + "\n").encode()


FILE = csv(3_000)  # ~97 kB: one raw bafkrei block


def coded(data: bytes, offset: int, end: int, codec: int, stream: bytes | None = None) -> bytes:
    """An ``uploadChunkCoded`` payload carrying ``data[offset:end]`` (or the given ``stream``)."""
    body = COMPRESS[codec](data[offset:end]) if stream is None else stream
    return INPUTS.encode("uploadChunkCoded", cid_of(data), len(data), offset, codec, body)


def stored(d: Driver, data: bytes) -> bytes:
    """The stored file with ``data``'s CID, read back in parts (an answer holds at most a limit)."""
    text, parts, offset = cid_to_text(cid_of(data)), [], 0
    while offset < len(data):
        answer = d.inspect(f"contents/{text}/data?offset={offset}&length={len(data)}")
        parts.append(bytes.fromhex(answer["data"][2:]))
        offset += answer["length"]
    assert d.inspect(f"contents/{text}")["size"] == len(data)
    return b"".join(parts)


def uploads(d: Driver) -> list:
    return d.inspect(f"uploads/{ALICE.hex}")["uploads"]


def test_the_codec_bytes_are_the_documented_ones():
    assert {c.name: c.value for c in ChunkCodec} == {"STORED": 0, "ZLIB": 1, "BZ2": 2, "LZMA": 3}
    assert COLUMNS == 0x10
    assert LZMA_FILTERS[0]["dict_size"] == 1 << 20 and LZMA_FILTERS[0]["id"] == lzma.FILTER_LZMA2


@pytest.mark.parametrize("codec", CODECS)
def test_each_codec_uploads_a_file_that_is_stored_under_its_cid(codec):
    d = Driver()
    first = d.send(ALICE, coded(FILE, 0, 40_000, codec))
    assert first.accepted and report_json(first)["upload"]["received"] == 40_000
    last = d.send(ALICE, coded(FILE, 40_000, len(FILE), codec))
    assert last.accepted and last.notices
    assert stored(d, FILE) == FILE and uploads(d) == []


@pytest.mark.parametrize("codec", CODECS)
def test_a_partial_upload_resumes_with_an_overlapping_chunk_in_another_codec(codec):
    d = Driver()
    assert d.send(ALICE, coded(FILE, 0, 50_000, codec)).accepted
    assert d.send(ALICE, coded(FILE, 0, 50_000, codec)).accepted  # an identical resend is harmless
    other = CODECS[(CODECS.index(codec) + 1) % len(CODECS)]
    assert d.send(ALICE, coded(FILE, 30_000, len(FILE), other)).accepted
    assert stored(d, FILE) == FILE


@pytest.mark.parametrize("codec", [1, 2, 3, 0x12])
def test_a_planned_upload_interrupted_midway_resumes_from_the_received_byte(codec):
    data = csv(30_000)  # ~690 kB: a dag-pb CID, several chunks
    plan = plan_upload(data)
    d = Driver()
    assert len(plan.chunks) > 2 and d.send(ALICE, plan.chunks[0].payload).accepted
    (status,) = uploads(d)
    # a chunk written by hand in this codec, then the planner's resumed plan
    end = status["received"] + 10_000
    assert d.send(ALICE, coded(data, status["received"] - 100, end, codec)).accepted
    for chunk in plan_upload(data, received=end).chunks:
        assert d.send(ALICE, chunk.payload).accepted
    assert stored(d, data) == data


def hostile(codec: int) -> dict[str, bytes]:
    """Streams a machine must refuse for a 1,000-byte chunk of ``FILE`` at offset 1,000."""
    good = COMPRESS[codec](FILE[1_000:2_000])
    cases = {"bomb": COMPRESS[codec](FILE[:1_000] * 100)}  # decodes past the file's end
    if codec:
        cases |= {"truncated": good[:-4], "trailing": good + b"\0",
                  "corrupt": good[:8] + bytes(40) + good[48:]}
    if codec & 0x10:
        compress, piece = COMPRESS[codec & 0xF], FILE[1_000:2_000]
        cases |= {"miscounted": compress(layout(piece, n=len(piece.split(b"\n")) - 1)),
                  "no columns": compress(layout(piece, k=0, n=0)),
                  "no header": compress(b"\0\1")}
    return cases


@pytest.mark.parametrize("codec, case", [(c, k) for c in CODECS for k in hostile(c)])
def test_a_hostile_stream_is_refused_and_changes_nothing(codec, case):
    d = Driver()
    assert d.send(ALICE, coded(FILE, 0, 1_000, 0)).accepted
    before = uploads(d)
    done = d.send(ALICE, coded(FILE, 1_000, 0, codec, hostile(codec)[case]))
    error = report_json(done)["error"]
    expected = {"bomb": "chunk_past_end" if codec == 0 else "chunk_too_large"}.get(
        case, BAD_STREAM.get(codec, "bad_chunk_stream"))
    assert not done.accepted and error["code"] == expected
    assert uploads(d) == before
    assert d.send(ALICE, coded(FILE, 1_000, len(FILE), codec)).accepted  # the upload goes on
    assert stored(d, FILE) == FILE


def test_a_column_layout_of_more_fields_than_the_bound_is_refused_before_it_is_split():
    data = b"h\n" + b"\n" * 200_000  # 200,000 empty one-column fields, more than MAX_COLUMN_FIELDS
    laid = (1).to_bytes(2, "big") + (200_000).to_bytes(4, "big") + data
    assert MAX_COLUMN_FIELDS < 200_000
    d = Driver()
    done = d.send(ALICE, coded(data, 0, 0, 0x12, bz2.compress(laid)))
    assert not done.accepted and report_json(done)["error"]["code"] == "bad_chunk_stream"
    assert uploads(d) == []
    assert d.send(ALICE, coded(data, 0, len(data), 2)).accepted  # the same bytes without the layout


@pytest.mark.parametrize("codec", [4, 15, 0x10, 0x14, 0x20, 0x31, 255])
def test_an_unknown_codec_byte_is_refused_and_changes_nothing(codec):
    d = Driver()
    done = d.send(ALICE, INPUTS.encode("uploadChunkCoded", cid_of(FILE), len(FILE), 0, codec, FILE[:1_000]))
    error = report_json(done)["error"]
    assert not done.accepted and error["code"] == "bad_chunk_codec" and str(codec) in error["message"]
    assert uploads(d) == []


@pytest.mark.parametrize("stream", [
    lzma.compress(FILE[:1_000], format=lzma.FORMAT_XZ),            # a container: the stream picks its filters
    lzma.compress(FILE[:1_000], format=lzma.FORMAT_ALONE),         # .lzma: its header declares a dictionary
    lzma.compress(FILE[:1_000], format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA1}]),
])
def test_lzma_accepts_only_the_fixed_raw_lzma2_chain(stream):
    d = Driver()
    done = d.send(ALICE, coded(FILE, 0, 0, 3, stream))
    assert not done.accepted and report_json(done)["error"]["code"] == "bad_chunk_stream"
    assert uploads(d) == []


@pytest.mark.parametrize("codec", [1, 2, 3, 0x12])
def test_a_huge_bomb_is_never_decoded_in_memory(codec):
    zeros = bytes(32 << 20)  # 32 MiB for a 97 kB file (a layout: one line, then a tail of zeros)
    header = (1).to_bytes(2, "big") + bytes(4) + b"h\n" if codec & 0x10 else b""
    bomb = COMPRESS[codec & 0xF](header + zeros)
    d = Driver()
    tracemalloc.start()
    try:
        done = d.send(ALICE, coded(FILE, 0, 0, codec, bomb))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not done.accepted and report_json(done)["error"]["code"] == "chunk_too_large"
    assert peak < 4 << 20


def test_old_upload_chunk_inputs_are_still_accepted_with_the_same_reports():
    d = Driver()
    cid = cid_of(FILE)
    raw = d.send(ALICE, INPUTS.encode("uploadChunk", cid, len(FILE), 0, False, FILE[:30_000]))
    assert raw.accepted and report_json(raw)["upload"]["received"] == 30_000
    stream = zlib.compress(FILE[30_000:60_000])
    junk = d.send(ALICE, INPUTS.encode("uploadChunk", cid, len(FILE), 30_000, True, stream + b"junk"))
    assert report_json(junk)["error"] == {
        "code": "bad_deflate", "message": "deflated chunk at offset 30000 has 4 bytes after its zlib stream"}
    assert d.send(ALICE, INPUTS.encode("uploadChunk", cid, len(FILE), 30_000, True, stream)).accepted
    done = d.send(ALICE, INPUTS.encode("uploadChunk", cid, len(FILE), 60_000, False, FILE[60_000:]))
    assert done.accepted and done.notices and stored(d, FILE) == FILE


def csv_part(seed: int, rows: int, columns: int, cut: int) -> bytes:
    """CSV lines of ``columns`` numbers, cut ``cut`` bytes short (a part may end inside a line)."""
    rng = np.random.default_rng(seed)
    table = rng.integers(0, 10 ** int(rng.integers(1, 6)), (rows, columns))
    text = b"".join(b",".join(b"%d" % v for v in row) + b"\n" for row in table)
    return text[:max(0, len(text) - cut)]


files = st.lists(
    st.one_of(st.binary(max_size=30_000),
              st.builds(lambda unit, times: unit * times, st.binary(min_size=1, max_size=40),
                        st.integers(1, 20_000)),
              st.builds(csv_part, st.integers(0, 99), st.integers(1, 8_000), st.integers(1, 12),
                        st.integers(0, 5))),
    max_size=5,
).map(b"".join)


@settings(max_examples=15, deadline=None)
@given(data=files)
def test_any_file_planned_and_sent_is_stored_exactly_under_its_cid(data):
    plan = plan_upload(data, max_inflated=300_000)  # the machine's bound is larger: any lower one is valid
    d = Driver()
    for chunk in plan.chunks:
        assert d.send(ALICE, chunk.payload).accepted
    assert d.inspect(f"contents/{cid_to_text(plan.cid)}")["size"] == len(data)
    assert plan.cid == cid_of(data) and stored(d, data) == data
