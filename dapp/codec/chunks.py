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
from dapp.codec.chunk_codecs import ChunkCodec, codec_byte, codec_of_flag, decode, encode, parse_codec_byte
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
    """One planned input: original bytes ``[offset, offset + length)`` sent in ``codec`` (laid out by
    column first if ``columns``)."""

    offset: int
    length: int
    codec: ChunkCodec
    columns: bool
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
    codec, columns = (codec_of_flag(how), False) if function.name == "uploadChunk" else parse_codec_byte(how)
    return cid, size, offset, decode(codec, data, size - offset, columns)


def _longest(codec: ChunkCodec, columns: bool, view: memoryview, start: int, stop: int, budget: int,
             beat: int) -> tuple[int, bytes] | None:
    """``(n, stream)``: a longest slice ``view[start:start+n]`` (``start + n <= stop``) whose
    ``codec`` stream (of its column layout if ``columns``) fits in ``budget`` bytes, if ``n`` exceeds
    ``beat`` or reaches ``stop``; else ``None`` (this codec cannot beat a slice of ``beat`` bytes). A
    slice without a column layout counts as one that does not fit."""
    cap = stop - start
    lo = min(cap, beat + 1)
    best = encode(codec, view[start:start + lo], columns)
    if best is None or len(best) > budget:
        return None
    hi, over = cap + 1, 0   # the shortest slice known not to fit, and its stream's size (0: unknown)
    for _ in range(_MAX_PROBES):
        if hi - lo <= 1 + lo // _CLOSE:
            break
        if over:            # interpolate between the two ends of the bracket
            guess = lo + (budget - len(best)) * (hi - lo) // max(1, over - len(best))
        elif hi <= cap:     # the end that does not fit has no size (no column layout): bisect
            guess = (lo + hi) // 2
        else:               # proportional from the longest fit
            guess = lo * budget // max(1, len(best))
        n = min(max(guess, lo + max(1, lo // _CLOSE)), hi - 1)
        out = encode(codec, view[start:start + n], columns)
        if out is not None and len(out) <= budget:
            lo, best = n, out
        else:
            hi, over = n, 0 if out is None else len(out)
    return lo, best


Variant = tuple[ChunkCodec, bool]
"""A codec and whether the chunk is laid out by column first."""


def _plan_chunk(view: memoryview, offset: int, size: int, budget: int, max_inflated: int,
                variants: list[Variant], first: Variant) -> tuple[Variant, int, bytes]:
    """``(variant, length, data)`` of the chunk at ``offset``: stored or one of ``variants``,
    whichever covers the most bytes, on a tie the smallest ``data``; ``first`` (the previous chunk's
    variant) is tried first."""
    raw_len = min(budget, size - offset)
    winner = ((ChunkCodec.STORED, False), raw_len, bytes(view[offset:offset + raw_len]))
    stop = min(size, offset + max_inflated)
    for variant in sorted(variants, key=lambda v: v != first):
        found = _longest(*variant, view, offset, stop, budget, winner[1])
        if found is not None and (found[0], -len(found[1])) > (winner[1], -len(winner[2])):
            winner = (variant, *found)
    return winner


def plan_upload(data: bytes, *, received: int = 0, max_inflated: int | None = None,
                codecs: tuple[ChunkCodec, ...] = COMPRESSED, columns: bool = True) -> UploadPlan:
    """Cuts ``data`` into ``uploadChunkCoded`` payloads, starting at byte ``received``.

    ``received`` resumes an interrupted upload: pass how many bytes the machine already holds (its
    ``upload_status``); 0 plans the whole file. An empty file is one empty chunk. ``max_inflated``
    bounds the original bytes of one compressed chunk (default: ``Limits().max_inflated_chunk``).
    ``codecs`` are the compressed codecs a chunk may use besides stored (all by default), each on the
    bytes as they are and, if ``columns``, on their column layout (the upload benchmark plans with
    one at a time).
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
    variants = [(codec, laid) for codec in codecs for laid in ((False, True) if columns else (False,))]
    offset, variant = received, variants[0] if variants else (ChunkCodec.STORED, False)
    if size == 0:
        chunks.append(Chunk(0, 0, ChunkCodec.STORED, False, encode_input(cid, 0, 0, ChunkCodec.STORED, b"")))
    while offset < size:
        variant, length, body = _plan_chunk(view, offset, size, budget, max_inflated, variants, variant)
        payload = encode_input(cid, size, offset, codec_byte(*variant), body)
        assert len(payload) <= MAX_PAYLOAD, "planner overflowed the InputBox limit"
        chunks.append(Chunk(offset, length, *variant, payload))
        offset += length
    return UploadPlan(cid, size, tuple(chunks))
