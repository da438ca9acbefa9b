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

Flag ``0x10`` (``COLUMNS``) on a compressed codec (bytes ``0x11``, ``0x12``, ``0x13``): the decoded
bytes are a CSV slice laid out column by column (``columns_to_rows``), which bz2 and lzma compress
about 4% better than rows (the upload benchmark measures it). Any other byte is unknown.

The old ``uploadChunk(cid, size, offset, bool deflated, data)`` is codec 0 or 1 (``codec_of_flag``).

Every decoder stops at ``bound + 1`` output bytes, plus a column layout's 6-byte header (the
``max_length`` of the stdlib decompressor objects), so a bomb costs at most that much memory and the
time to produce it; more than ``bound`` is ``ChunkTooLarge``. A stream that is corrupt, does not
end, or is followed by other bytes, or a column layout that does not add up, is ``BadStream``.
Decoding is pure and deterministic; the machine needs only the standard library.
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


COLUMNS = 0x10
"""The codec byte's flag for a column layout (with a compressed codec only)."""

MAX_COLUMN_FIELDS = 1 << 17
"""Most fields a column layout may hold: the inverse makes one ``bytes`` object per field, so this
bounds its memory (a few MiB) whatever the chunk's size."""

_HEADER = 6             # a column layout starts with k (2 bytes) and n (4 bytes), big-endian


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


def codec_byte(codec: ChunkCodec, columns: bool) -> int:
    """The ``codec`` byte of ``uploadChunkCoded`` for ``codec``, with or without the column layout."""
    return int(codec) | (COLUMNS if columns else 0)


def parse_codec_byte(value: int) -> tuple[ChunkCodec, bool]:
    """``(codec, columns)`` of an ``uploadChunkCoded`` codec byte; ``ValueError`` if it is unknown."""
    columns = bool(value & COLUMNS)
    codec = ChunkCodec(value & ~COLUMNS)
    if columns and codec is ChunkCodec.STORED:
        raise ValueError(f"{value} is not a chunk codec")
    return codec, columns


def rows_to_columns(data: bytes) -> bytes | None:
    """The column layout of a CSV slice, or ``None`` if it has none (fewer than two newlines, lines
    with different numbers of commas, more than ``MAX_COLUMN_FIELDS`` fields).

    Layout: ``k`` (uint16) ‖ ``n`` (uint32) ‖ the slice up to its first newline (kept as it is: a
    chunk may start inside a line) ‖ the ``n`` fields of column 1, each followed by a newline, ...,
    those of column ``k`` ‖ the bytes after the last newline. The ``n`` complete lines in between
    each hold ``k`` fields separated by commas; a field is any bytes without comma or newline (quotes
    are not special). The layout is exactly as long as the slice, plus the 6-byte header."""
    first, cut = data.find(b"\n") + 1, data.rfind(b"\n") + 1
    lines = data[first:cut].split(b"\n")[:-1]
    if not lines:
        return None
    k = lines[0].count(b",") + 1
    if k > 0xFFFF or len(lines) * k > MAX_COLUMN_FIELDS or any(line.count(b",") != k - 1 for line in lines):
        return None
    columns = zip(*(line.split(b",") for line in lines), strict=True)
    body = b"".join(b"\n".join(column) + b"\n" for column in columns)
    return k.to_bytes(2, "big") + len(lines).to_bytes(4, "big") + data[:first] + body + data[cut:]


def columns_to_rows(laid: bytes) -> bytes:
    """The CSV slice of a column layout (the inverse of ``rows_to_columns``); ``BadStream`` if the
    header does not match the body. Makes at most ``MAX_COLUMN_FIELDS + 1`` pieces."""
    k, n = int.from_bytes(laid[:2], "big"), int.from_bytes(laid[2:_HEADER], "big")
    first = laid.find(b"\n", _HEADER) + 1
    if (len(laid) < _HEADER or k == 0 or first == 0 or n * k > MAX_COLUMN_FIELDS
            or laid.count(b"\n", first) != n * k):
        raise BadStream(f"has a column layout that does not hold {n} lines of {k} fields")
    pieces = laid[first:].split(b"\n")
    columns = [pieces[j * n:(j + 1) * n] for j in range(k)]
    rows = b"".join(b",".join(row) + b"\n" for row in zip(*columns))
    return laid[_HEADER:first] + rows + pieces[-1]


def codec_of_flag(deflated: bool) -> ChunkCodec:
    """The codec of an old ``uploadChunk`` input: zlib if ``deflated``, else stored."""
    return ChunkCodec.ZLIB if deflated else ChunkCodec.STORED


def encode(codec: ChunkCodec, data: bytes, columns: bool = False) -> bytes | None:
    """``data`` in ``codec`` at the planner's level (zlib 9, bz2 9, lzma with ``LZMA_FILTERS``),
    laid out by column first if ``columns``; ``None`` if ``data`` has no column layout."""
    if not columns:
        return _ENCODERS[codec](data)
    laid = rows_to_columns(bytes(data))
    return None if laid is None else _ENCODERS[codec](laid)


def decode(codec: ChunkCodec, data: bytes, bound: int, columns: bool = False) -> bytes:
    """The original bytes of ``data`` in ``codec`` (a column layout if ``columns``), at most
    ``bound`` of them.

    Raises ``ChunkTooLarge`` if they would be more than ``bound``, ``BadStream`` if a compressed
    stream is corrupt, truncated or followed by trailing bytes, or its column layout is inconsistent
    (the message says which). Never produces more than ``bound + 1`` bytes (``bound + 7`` with the
    layout's header)."""
    if codec is ChunkCodec.STORED:
        if len(data) > bound:
            raise ChunkTooLarge(f"{len(data)} bytes")
        return data
    limit = bound + _HEADER if columns else bound
    make, errors = _DECODERS[codec]
    decoder = make()
    try:
        out = decoder.decompress(data, limit + 1)
    except errors as exc:
        raise BadStream(f"is corrupt: {exc}") from exc
    if len(out) > limit:
        raise ChunkTooLarge(f"more than {bound} bytes")
    if not decoder.eof:
        raise BadStream(f"is truncated (the {codec.name.lower()} stream does not end)")
    if decoder.unused_data:
        raise BadStream(f"has {len(decoder.unused_data)} bytes after its {codec.name.lower()} stream")
    return columns_to_rows(out) if columns else out
