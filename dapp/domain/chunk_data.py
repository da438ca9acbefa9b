"""The original bytes of an upload chunk: its ``data`` decoded with the chunk's codec under the
machine's bound, or a clear error (rules in ``dapp.domain.content`` and PROTOCOL.md §6; the codecs
themselves are ``dapp.codec.chunk_codecs``)."""

from __future__ import annotations

from dapp.codec import chunk_codecs
from dapp.codec.chunk_codecs import ChunkCodec, codec_of_flag, parse_codec_byte
from dapp.domain.commands import UploadChunk, UploadChunkCoded
from dapp.domain.limits import Limits
from dapp.errors import DomainError, InvalidInput


def original_bytes(cmd: UploadChunk | UploadChunkCoded, size: int, limits: Limits) -> bytes:
    """The chunk's original bytes: ``data`` itself, or its stream decoded to at most
    ``min(size - offset, max_inflated_chunk)`` bytes. ``DomainError`` (``chunk_past_end``,
    ``chunk_too_large``) or ``InvalidInput`` (``bad_deflate``, ``bad_chunk_stream``,
    ``bad_chunk_codec``) otherwise."""
    room = size - cmd.offset
    codec, columns = _codec(cmd)
    if codec is ChunkCodec.STORED:
        if len(cmd.data) > room:
            raise DomainError(f"chunk of {len(cmd.data)} bytes at offset {cmd.offset} ends past the "
                              f"file size {size}", code="chunk_past_end")
        return cmd.data
    bound = min(room, limits.max_inflated_chunk)
    noun = ("deflated" if codec is ChunkCodec.ZLIB else codec.name.lower()) + (" column" if columns else "")
    try:
        return chunk_codecs.decode(codec, cmd.data, bound, columns)
    except chunk_codecs.ChunkTooLarge as exc:
        why = (f"the {room} bytes left in the file of {size}" if bound == room
               else f"max_inflated_chunk = {limits.max_inflated_chunk}")
        raise DomainError(f"{noun} chunk at offset {cmd.offset} inflates to more than {bound} bytes "
                          f"({why})", code="chunk_too_large") from exc
    except chunk_codecs.BadStream as exc:
        message = f"{noun} chunk at offset {cmd.offset} {exc}"
        if noun == "deflated":  # codec 1 and the old input keep their code
            raise InvalidInput(message, code="bad_deflate") from exc
        raise InvalidInput(message, code="bad_chunk_stream") from exc


def _codec(cmd: UploadChunk | UploadChunkCoded) -> tuple[ChunkCodec, bool]:
    """The chunk's codec and column flag: the old input's ``deflated`` flag, or the coded input's byte."""
    if isinstance(cmd, UploadChunk):
        return codec_of_flag(cmd.deflated), False
    try:
        return parse_codec_byte(cmd.codec)
    except ValueError:
        raise InvalidInput(f"unknown chunk codec {cmd.codec} at offset {cmd.offset} (known: "
                           f"{', '.join(f'{c.value} {c.name.lower()}' for c in ChunkCodec)}, "
                           f"and {chunk_codecs.COLUMNS} + a compressed one for a column layout)",
                           code="bad_chunk_codec") from None
