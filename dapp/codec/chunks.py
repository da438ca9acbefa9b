"""Planning an upload: a file cut into ``uploadChunk`` input payloads (used by the CLI and console).

Each payload is ``uploadChunk(cid, size, offset, deflated, data)`` ABI-encoded and at most
``MAX_PAYLOAD`` (65,216) bytes, the InputBox limit. Calldata is what uploaders pay for, so each chunk
carries as many original bytes as fit: ``data`` is either the raw bytes or a zlib stream (RFC 1950,
stdlib ``zlib``, level 6) of a longer slice, whichever covers more of the file. The CID is always
computed over the original bytes.

To find the longest slice whose zlib stream fits, the planner feeds the file to one streaming
compressor in steps; after each step it finishes a *copy* of the compressor to learn the exact size
of the stream that would end there, and bisects inside the step that overflowed. Each byte is
compressed about once (an 8 MiB numeric CSV plans in about a second), and the plan depends only on
the bytes (deterministic). A chunk never inflates to more than ``max_inflated`` bytes, the machine's
``Limits.max_inflated_chunk``.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from dapp.codec.abi import inputs
from dapp.codec.cid import cid_of
from dapp.domain.limits import Limits

MAX_PAYLOAD = 65_216
"""Largest InputBox payload (CARTESI-FACTS §3)."""

_STEP = 8_192          # bytes fed to the compressor between two size probes
_LEVEL = 6             # zlib level: level 9 saves ~2% of inputs on CSV but plans ~2x slower


@dataclass(frozen=True, slots=True)
class Chunk:
    """One planned input: original bytes ``[offset, offset + length)`` sent raw or deflated."""

    offset: int
    length: int
    deflated: bool
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
    """The largest ``data`` an ``uploadChunk`` payload for this file can carry within ``MAX_PAYLOAD``."""
    overhead = len(inputs().encode("uploadChunk", cid, size, size, False, b""))
    return (MAX_PAYLOAD - overhead) // 32 * 32  # ABI pads ``data`` to a multiple of 32 bytes


def _longest_deflated(view: memoryview, start: int, stop: int, budget: int) -> tuple[int, bytes]:
    """The longest ``n`` (and its zlib stream) such that ``view[start:start+n]`` deflates to at most
    ``budget`` bytes, with ``start + n <= stop``. ``(0, b"")`` if not even one byte fits."""
    comp = zlib.compressobj(_LEVEL)
    produced: list[bytes] = []
    produced_len = 0
    tail = b""
    pos, step = start, _STEP
    while pos < stop and step >= 1:
        end = min(pos + step, stop)
        probe = comp.copy()
        out = probe.compress(view[pos:end])
        probe_tail = probe.copy().flush()
        if produced_len + len(out) + len(probe_tail) <= budget:
            comp, pos, tail = probe, end, probe_tail
            produced.append(out)
            produced_len += len(out)
        else:
            step //= 2  # the longest fit lies inside [pos, end): bisect
    if pos == start:
        return 0, b""
    return pos - start, b"".join(produced) + tail


def plan_upload(data: bytes, *, received: int = 0, max_inflated: int | None = None) -> UploadPlan:
    """Cuts ``data`` into ``uploadChunk`` payloads, starting at byte ``received``.

    ``received`` resumes an interrupted upload: pass how many bytes the machine already holds (its
    ``upload_status``); 0 plans the whole file. An empty file is one empty chunk. ``max_inflated``
    bounds the original bytes of one deflated chunk (default: ``Limits().max_inflated_chunk``).
    Raises ``ValueError`` if ``received`` is outside ``[0, len(data)]``.
    """
    size = len(data)
    if not 0 <= received <= size:
        raise ValueError(f"received must be within 0..{size}, got {received}")
    max_inflated = Limits().max_inflated_chunk if max_inflated is None else max_inflated
    cid = cid_of(data)
    budget = max_data_bytes(cid, size)
    view = memoryview(data)
    encode = inputs()["uploadChunk"].encode
    chunks = []
    offset = received
    if size == 0:
        chunks.append(Chunk(0, 0, False, encode(cid, 0, 0, False, b"")))
    while offset < size:
        raw_len = min(budget, size - offset)
        deflated_len, stream = _longest_deflated(view, offset, min(size, offset + max_inflated), budget)
        deflated = deflated_len > raw_len or (deflated_len == raw_len and len(stream) < raw_len)
        length, body = (deflated_len, stream) if deflated else (raw_len, bytes(view[offset:offset + raw_len]))
        payload = encode(cid, size, offset, deflated, body)
        assert len(payload) <= MAX_PAYLOAD, "planner overflowed the InputBox limit"
        chunks.append(Chunk(offset, length, deflated, payload))
        offset += length
    return UploadPlan(cid, size, tuple(chunks))
