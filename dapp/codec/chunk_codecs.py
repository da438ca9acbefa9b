"""Chunk codecs of content uploads: how an ``uploadChunkCoded`` input's ``data`` encodes the original
bytes, and its bounded decoder (the machine) and encoder (the planner).

Codec byte values (``uploadChunkCoded(cid, size, offset, codec, data)``; PROTOCOL.md §6):

- ``0`` stored: ``data`` is the original bytes.
- ``1`` zlib: one zlib stream (RFC 1950, stdlib ``zlib``); the planner uses level 9.
- ``2`` bz2: one bzip2 stream (stdlib ``bz2``); the planner uses level 9 (900 kB blocks).
- ``3`` lzma: one *raw* LZMA2 stream (stdlib ``lzma``, ``FORMAT_RAW``) with the fixed filter chain
  ``LZMA_FILTERS``. Raw, not ``.xz``: the chain is the protocol's, so a hostile stream cannot pick its
  dictionary (the decoder's memory is about ``LZMA_DICT`` whatever the bytes; Python accepts
  ``memlimit`` only for the container formats, which would let the stream choose), and no 60-byte
  container is paid per chunk (the CID already checks integrity).

The old ``uploadChunk(cid, size, offset, bool deflated, data)`` is codec 0 or 1 (``codec_of_flag``).

Every decoder stops at ``bound + 1`` output bytes (the ``max_length`` of the stdlib decompressor
objects), so a bomb costs at most that much memory and the time to produce it; more than ``bound``
is ``ChunkTooLarge``. A stream that is corrupt, does not end, or is followed by other bytes is
``BadStream``. Decoding is pure and deterministic; the machine needs only the standard library.
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from collections.abc import Callable
from enum import IntEnum
from typing import Protocol


class ChunkCodec(IntEnum):
    """The ``codec`` byte of ``uploadChunkCoded``."""

    STORED = 0
    ZLIB = 1
    BZ2 = 2
    LZMA = 3


LZMA_DICT = 1 << 20
"""The LZMA2 dictionary of codec 3: 1 MiB, the default ``max_inflated_chunk`` (a larger one cannot
help a chunk that inflates to at most that much)."""

LZMA_FILTERS = ({"id": lzma.FILTER_LZMA2, "preset": 9, "dict_size": LZMA_DICT},)
"""The fixed filter chain of codec 3. Preset 9 (``PRESET_EXTREME`` measured no better on CSV:
2.651 against 2.659 times smaller on 300 kB of ``bench.upload_size.numeric_csv``)."""


class BadStream(ValueError):
    """The stream is corrupt, truncated, or followed by trailing bytes."""


class ChunkTooLarge(ValueError):
    """The stream decodes to more than the bound (a bomb, or a chunk past the file's end)."""


class _Decompressor(Protocol):
    eof: bool
    unused_data: bytes

    def decompress(self, data: bytes, max_length: int = -1) -> bytes: ...


_DECODERS: dict[ChunkCodec, tuple[Callable[[], _Decompressor], tuple[type[Exception], ...]]] = {
    ChunkCodec.ZLIB: (zlib.decompressobj, (zlib.error,)),
    ChunkCodec.BZ2: (bz2.BZ2Decompressor, (OSError, ValueError)),
    ChunkCodec.LZMA: (lambda: lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=LZMA_FILTERS),
                      (lzma.LZMAError,)),
}

_ENCODERS: dict[ChunkCodec, Callable[[bytes], bytes]] = {
    ChunkCodec.STORED: bytes,
    ChunkCodec.ZLIB: lambda data: zlib.compress(data, 9),
    ChunkCodec.BZ2: lambda data: bz2.compress(data, 9),
    ChunkCodec.LZMA: lambda data: lzma.compress(data, lzma.FORMAT_RAW, filters=LZMA_FILTERS),
}


def codec_of_flag(deflated: bool) -> ChunkCodec:
    """The codec of an old ``uploadChunk`` input: zlib if ``deflated``, else stored."""
    return ChunkCodec.ZLIB if deflated else ChunkCodec.STORED


def encode(codec: ChunkCodec, data: bytes) -> bytes:
    """``data`` in ``codec`` at the planner's level (zlib 9, bz2 9, lzma with ``LZMA_FILTERS``)."""
    return _ENCODERS[codec](data)


def decode(codec: ChunkCodec, data: bytes, bound: int) -> bytes:
    """The original bytes of ``data`` in ``codec``, at most ``bound`` of them.

    Raises ``ChunkTooLarge`` if they would be more than ``bound``, ``BadStream`` if a compressed
    stream is corrupt, truncated or followed by trailing bytes (the message says which). Never
    produces more than ``bound + 1`` bytes."""
    if codec is ChunkCodec.STORED:
        if len(data) > bound:
            raise ChunkTooLarge(f"{len(data)} bytes")
        return data
    make, errors = _DECODERS[codec]
    decoder = make()
    try:
        out = decoder.decompress(data, bound + 1)
    except errors as exc:
        raise BadStream(f"is corrupt: {exc}") from exc
    if len(out) > bound:
        raise ChunkTooLarge(f"more than {bound} bytes")
    if not decoder.eof:
        raise BadStream(f"is truncated (the {codec.name.lower()} stream does not end)")
    if decoder.unused_data:
        raise BadStream(f"has {len(decoder.unused_data)} bytes after its {codec.name.lower()} stream")
    return out
