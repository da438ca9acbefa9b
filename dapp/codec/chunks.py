"""Planning an upload: a file cut into ``uploadChunkCoded`` input payloads (used by the CLI and console).

Each payload is ``uploadChunkCoded(cid, size, offset, codec, data)`` ABI-encoded and at most
``MAX_PAYLOAD`` (65,216) bytes, the InputBox limit. Calldata is what uploaders pay for, so each chunk
carries as many original bytes as fit: per chunk, ``data`` is the raw bytes (codec stored) or the
zlib-9, bz2-9 or lzma stream (``dapp.codec.chunk_codecs``) of a longer slice, whichever codec covers
the most of the file (on a tie, the smallest payload). The CID is always computed over the original
bytes.

To find the longest slice a codec fits in the payload, the planner compresses candidate slices,
starting just past the best slice found so far (a codec that cannot beat it costs one compression),
then moving by interpolation between the longest slice that fits and the shortest that does not,
until they are within 0.05%. The search assumes that a longer slice never compresses smaller, which
holds to within noise for these codecs; it only makes the plan a little less than optimal, never
invalid (every payload is checked against the limit). A 1 MiB numeric CSV plans in about a second;
the plan depends only on the bytes and ``received`` (deterministic). A chunk never decodes to more
than ``max_inflated`` bytes, the machine's ``Limits.max_inflated_chunk``.
"""

from __future__ import annotations

from dataclasses import dataclass

from dapp.codec.abi import inputs
from dapp.codec.chunk_codecs import ChunkCodec, codec_of_flag, decode, encode
from dapp.codec.cid import cid_of
from dapp.domain.limits import Limits

MAX_PAYLOAD = 65_216
"""Largest InputBox payload (CARTESI-FACTS §3)."""

COMPRESSED = (ChunkCodec.BZ2, ChunkCodec.LZMA, ChunkCodec.ZLIB)
"""The compressed codecs, in the order the planner tries them on a file's first chunk."""
_CLOSE = 2_000          # the search stops when the bracket is within 1/_CLOSE of the slice (0.05%)
_MAX_PROBES = 24        # ... or after this many more compressions (about 5 suffice on CSV)


@dataclass(frozen=True, slots=True)
class Chunk:
    """One planned input: original bytes ``[offset, offset + length)`` sent in ``codec``."""

    offset: int
    length: int
    codec: ChunkCodec
    payload: bytes


@dataclass(frozen=True, slots=True)
class UploadPlan:
    """The inputs that upload a file of ``size`` bytes with CID ``cid`` (binary)."""

    cid: bytes
    size: int
    chunks: tuple[Chunk, ...]

    @property
    def payload_bytes(self) -> int:
        """Total bytes of calldata the plan sends."""
        return sum(len(c.payload) for c in self.chunks)


def max_data_bytes(cid: bytes, size: int) -> int:
    """The largest ``data`` an upload payload for this file can carry within ``MAX_PAYLOAD``."""
    overhead = len(inputs().encode("uploadChunkCoded", cid, size, size, 0, b""))
    return (MAX_PAYLOAD - overhead) // 32 * 32  # ABI pads ``data`` to a multiple of 32 bytes


def read_chunk(payload: bytes) -> tuple[bytes, int, int, bytes]:
    """``(cid, size, offset, original bytes)`` of an ``uploadChunk`` or ``uploadChunkCoded`` payload
    (for clients and test doubles that follow an upload; the machine decodes in ``dapp.domain``)."""
    function, (cid, size, offset, how, data) = inputs().decode(payload)
    codec = codec_of_flag(how) if function.name == "uploadChunk" else ChunkCodec(how)
    return cid, size, offset, decode(codec, data, size - offset)


def _longest(codec: ChunkCodec, view: memoryview, start: int, stop: int, budget: int,
             beat: int) -> tuple[int, bytes] | None:
    """``(n, stream)``: a longest slice ``view[start:start+n]`` (``start + n <= stop``) whose
    ``codec`` stream fits in ``budget`` bytes, if ``n`` exceeds ``beat`` or reaches ``stop``; else
    ``None`` (the codec cannot beat a slice of ``beat`` bytes)."""
    cap = stop - start
    lo = min(cap, beat + 1)
    best = encode(codec, view[start:start + lo])
    if len(best) > budget:
        return None
    hi, over = cap + 1, 0   # the shortest slice known not to fit, and its stream's size (0: unknown)
    for _ in range(_MAX_PROBES):
        if hi - lo <= 1 + lo // _CLOSE:
            break
        if over:  # interpolate between the two ends of the bracket
            guess = lo + (budget - len(best)) * (hi - lo) // max(1, over - len(best))
        else:     # proportional from the longest fit
            guess = lo * budget // max(1, len(best))
        n = min(max(guess, lo + max(1, lo // _CLOSE)), hi - 1)
        out = encode(codec, view[start:start + n])
        if len(out) <= budget:
            lo, best = n, out
        else:
            hi, over = n, len(out)
    return lo, best


def _plan_chunk(view: memoryview, offset: int, size: int, budget: int, max_inflated: int,
                codecs: tuple[ChunkCodec, ...], first: ChunkCodec) -> tuple[ChunkCodec, int, bytes]:
    """``(codec, length, data)`` of the chunk at ``offset``: stored or one of ``codecs``, whichever
    covers the most bytes, on a tie the smallest ``data``; ``first`` (the previous chunk's codec) is
    tried first."""
    raw_len = min(budget, size - offset)
    winner = (ChunkCodec.STORED, raw_len, bytes(view[offset:offset + raw_len]))
    stop = min(size, offset + max_inflated)
    for codec in sorted(codecs, key=lambda c: c != first):
        found = _longest(codec, view, offset, stop, budget, winner[1])
        if found is not None and (found[0], -len(found[1])) > (winner[1], -len(winner[2])):
            winner = (codec, *found)
    return winner


def plan_upload(data: bytes, *, received: int = 0, max_inflated: int | None = None,
                codecs: tuple[ChunkCodec, ...] = COMPRESSED) -> UploadPlan:
    """Cuts ``data`` into ``uploadChunkCoded`` payloads, starting at byte ``received``.

    ``received`` resumes an interrupted upload: pass how many bytes the machine already holds (its
    ``upload_status``); 0 plans the whole file. An empty file is one empty chunk. ``max_inflated``
    bounds the original bytes of one compressed chunk (default: ``Limits().max_inflated_chunk``).
    ``codecs`` are the compressed codecs a chunk may use besides stored (all by default; the upload
    benchmark plans with one at a time).
    Raises ``ValueError`` if ``received`` is outside ``[0, len(data)]``.
    """
    size = len(data)
    if not 0 <= received <= size:
        raise ValueError(f"received must be within 0..{size}, got {received}")
    max_inflated = Limits().max_inflated_chunk if max_inflated is None else max_inflated
    cid = cid_of(data)
    budget = max_data_bytes(cid, size)
    view = memoryview(data)
    encode_input = inputs()["uploadChunkCoded"].encode
    chunks = []
    offset, codec = received, ChunkCodec.BZ2
    if size == 0:
        chunks.append(Chunk(0, 0, ChunkCodec.STORED, encode_input(cid, 0, 0, ChunkCodec.STORED, b"")))
    while offset < size:
        codec, length, body = _plan_chunk(view, offset, size, budget, max_inflated, codecs, codec)
        payload = encode_input(cid, size, offset, int(codec), body)
        assert len(payload) <= MAX_PAYLOAD, "planner overflowed the InputBox limit"
        chunks.append(Chunk(offset, length, codec, payload))
        offset += length
    return UploadPlan(cid, size, tuple(chunks))
