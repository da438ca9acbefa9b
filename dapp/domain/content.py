"""Content store: files uploaded in chunks, checked against their CID, stored once per CID.

Protocol (``uploadChunk(cid, size, offset, deflated, data)``, ``uploadChunkCoded(cid, size, offset,
codec, data)`` and ``abortUpload(cid)``):

- An upload belongs to one (uploader, CID) pair; two accounts uploading the same CID do not share
  progress. ``data`` holds the original bytes ``[offset, offset + n)`` of a file of ``size`` bytes:
  raw, or one zlib stream (RFC 1950) when ``deflated``; in ``uploadChunkCoded``, encoded with the
  chunk codec ``codec`` (stored, zlib, bz2, lzma, the last three optionally over a CSV column
  layout: ``dapp.codec.chunk_codecs``), an unknown codec byte being invalid input
  (``bad_chunk_codec``). The CID (``dapp.codec.cid``) is always over the
  original bytes.
- Chunks append in order. ``offset`` may not exceed the bytes already received (a gap is rejected
  naming the expected offset). Bytes before the received mark must equal those already stored, byte
  for byte: an identical resend is accepted and changes nothing, a different one is rejected naming
  the first differing offset. Only the bytes past the mark are added. So an interrupted upload
  resumes from ``upload_status(...)["received"]``, and resending an input is harmless.
- The first chunk fixes ``size``; later chunks declaring another size are rejected. ``size`` may
  not exceed ``max_file_size``. A chunk may not reach past ``size`` and must bring at least one byte,
  except for the empty file: ``size`` 0, offset 0 and empty data store it at once (its CID is the raw
  CID of no bytes, as ``ipfs add`` gives).
- A compressed chunk is decoded to at most ``min(size - offset, max_inflated_chunk)`` bytes; a stream
  that would give more (a bomb) is rejected (``chunk_too_large``), a corrupt, truncated or trailing-
  garbage stream is invalid input (``bad_deflate`` for zlib, ``bad_chunk_stream`` for bz2 and lzma).
- Per account at most ``max_pending_uploads`` partial uploads whose declared sizes total at most
  ``max_pending_upload_bytes``; all partial uploads of all accounts together at most
  ``max_total_pending`` bytes of footprint; a partial upload without new bytes for ``upload_ttl``
  seconds expires and is purged when room is needed (``dapp.domain.partial_uploads``). All stored
  files (and kept best models) together at most ``max_total_content`` bytes with their overhead;
  files no job uses are reclaimed ``content_ttl`` seconds after they were stored when room is needed
  (``dapp.domain.content_budget``). A sponsor whose hidden test set is due for its reveal gets
  priority for room (``dapp.domain.reveal_priority``).
- While incomplete, each chunk answers ``UploadProgress(cid, received, size)`` (a report). The chunk
  that completes the file triggers the CID check over the whole file: a match stores the file under
  its CID, drops the partial upload and emits the ``ContentStored(cid, size, uploader)`` notice; a
  mismatch rejects that input ("CID mismatch: announced X, content hashes to Y"), which leaves the
  upload one chunk short of complete: the uploader must ``abortUpload`` and send the file again.
- A CID is stored once. A chunk for a CID already stored is accepted as a no-op and answers
  ``UploadProgress(cid, size, size)`` (received == size: already stored); it also drops the sender's
  partial upload of that CID, if any (e.g. another account finished first).
- ``abortUpload`` drops the sender's partial upload of the CID (rejected if there is none) and frees
  its share of the per-account limits. It emits nothing.
- Files the machine makes itself (e.g. trained models) are stored with ``store_file``, under the same
  CID, size and storage rules, and announced with the same ``ContentStored`` notice. Settlement never
  needs fresh room: ``publish_kept`` stores a best model that already counts against the budget, and
  ``store_if_room`` lets a caller go on without storing (a rounds job keeps its previous model).

Storage: each chunk's new bytes are one immutable row (table ``upload_chunks``, key (uploader, cid,
index)) beside a small ``Upload`` record, so no chunk copies the file; a finished file is one
``bytes`` value in ``contents``. ``CLOCK`` holds the latest block time a content input changed the
store with; the ``uploads`` query says ``expired`` as of that time.
"""

from __future__ import annotations

from typing import Any

from dapp.codec.cid import check_cid, cid_of, cid_to_text
from dapp.domain import content_budget as budget
from dapp.domain import partial_uploads as pending
from dapp.domain import reveal_priority
from dapp.domain.chunk_data import original_bytes
from dapp.domain.commands import AbortUpload, Context, UploadChunk, UploadChunkCoded
from dapp.domain.content_budget import CONTENTS, Content
from dapp.domain.env import Env
from dapp.domain.events import ContentStored, UploadProgress
from dapp.domain.limits import Limits
from dapp.domain.partial_uploads import CHUNKS, PENDING, UPLOADS, Upload
from dapp.domain.store import Reader, Tx
from dapp.domain.values import Address
from dapp.errors import DomainError

CLOCK = "content_clock"          # "now" -> latest block time a content input changed the store with

__all__ = ["CHUNKS", "CLOCK", "CONTENTS", "PENDING", "UPLOADS", "Content", "abort_upload", "content_info",
           "get_content", "list_contents", "list_uploads", "publish_kept", "read_content", "store_file",
           "store_if_room", "upload_chunk", "upload_status"]


def _tick(tx: Tx, now: int) -> None:
    if now > tx.get(CLOCK, "now", 0):
        tx.put(CLOCK, "now", now)


def upload_chunk(tx: Tx, cmd: UploadChunk | UploadChunkCoded, ctx: Context, env: Env) -> list[Any]:
    """Stores one chunk (rules in the module docstring); completes the file when it is whole."""
    cid = check_cid(cmd.cid)
    stored = tx.get(CONTENTS, cid)
    if stored is not None:
        if tx.get(UPLOADS, (ctx.sender, cid)) is not None:
            pending.drop(tx, ctx.sender, cid)
        return [UploadProgress(cid, len(stored.data), len(stored.data))]
    key = (ctx.sender, cid)
    priority = reveal_priority.due_for_reveal(tx, ctx.sender, ctx.timestamp)
    upload = tx.get(UPLOADS, key) or _start(tx, ctx, cid, cmd.size, env.limits, priority)
    if cmd.size != upload.size:
        raise DomainError(f"upload of {cid_to_text(cid)} was started with size {upload.size}, "
                          f"this chunk declares {cmd.size}", code="upload_size_changed")
    if cmd.offset > upload.received:
        raise DomainError(f"chunk offset {cmd.offset} leaves a gap: {upload.received} bytes received, "
                          f"expected offset <= {upload.received}", code="upload_gap")
    data = original_bytes(cmd, upload.size, env.limits)
    if not data and upload.size > 0:
        raise DomainError(f"empty chunk at offset {cmd.offset}", code="empty_chunk")
    overlap_end = min(upload.received, cmd.offset + len(data))
    if cmd.offset < overlap_end:
        _check_resent(tx, key, upload, cmd.offset, data[:overlap_end - cmd.offset])
    fresh = data[overlap_end - cmd.offset:]
    if fresh:
        _tick(tx, ctx.timestamp)
        upload = pending.feed(tx, ctx.sender, cid, upload, fresh, ctx.timestamp, env.limits, priority)
    if upload.received < upload.size:
        return [UploadProgress(cid, upload.received, upload.size)]
    return _complete(tx, ctx, cid, upload, env, priority)


def abort_upload(tx: Tx, cmd: AbortUpload, ctx: Context, env: Env) -> list[Any]:
    """Drops the sender's partial upload of ``cmd.cid``; ``DomainError`` if there is none."""
    cid = check_cid(cmd.cid)
    if tx.get(UPLOADS, (ctx.sender, cid)) is None:
        raise DomainError(f"{ctx.sender.hex} has no partial upload of {cid_to_text(cid)}", code="no_upload")
    pending.drop(tx, ctx.sender, cid)
    return []


def _start(tx: Tx, ctx: Context, cid: bytes, size: int, limits: Limits, priority: bool) -> Upload:
    """Checks the limits for a new upload of ``size`` bytes (making room if it can, with the reveal
    ``priority`` if the sender has it) and records it."""
    if size > limits.max_file_size:
        raise DomainError(f"file of {size} bytes exceeds max_file_size = {limits.max_file_size} bytes",
                          code="file_too_large")
    _tick(tx, ctx.timestamp)
    budget.require_room(tx, size, ctx.timestamp, limits, priority)
    return pending.start(tx, ctx.sender, cid, size, ctx.timestamp, limits, priority)


def _stored_range(reader: Reader, key: tuple[Address, bytes], chunks: int, start: int, end: int) -> bytes:
    """Received bytes ``[start, end)`` of a partial upload, read from its chunk rows."""
    lo, hi = 0, chunks - 1
    while lo < hi:  # the last chunk starting at or before ``start``
        mid = (lo + hi + 1) // 2
        if reader.get(CHUNKS, key + (mid,)).offset <= start:
            lo = mid
        else:
            hi = mid - 1
    parts, pos, index = [], start, lo
    while pos < end:
        chunk = reader.get(CHUNKS, key + (index,))
        part = chunk.data[pos - chunk.offset:end - chunk.offset]
        parts.append(part)
        pos += len(part)
        index += 1
    return b"".join(parts)


def _check_resent(tx: Tx, key: tuple[Address, bytes], upload: Upload, offset: int, resent: bytes) -> None:
    """Rejects a chunk whose bytes before the received mark differ from those stored."""
    stored = _stored_range(tx, key, upload.chunks, offset, offset + len(resent))
    if stored != resent:
        first = next(i for i, (a, b) in enumerate(zip(stored, resent)) if a != b)
        raise DomainError(f"chunk at offset {offset} differs from the bytes already received at offset "
                          f"{offset + first}; resend identical bytes, or abort the upload",
                          code="chunk_mismatch")


def _complete(tx: Tx, ctx: Context, cid: bytes, upload: Upload, env: Env, priority: bool) -> list[Any]:
    """Checks the whole file against its CID, stores it and drops the partial upload. A CSV file is
    decoded by the ML engine now (a cache warm-up, no effect on the state or the outputs), so that the
    submissions that train or score on it do not pay for decoding it."""
    data = _stored_range(tx, (ctx.sender, cid), upload.chunks, 0, upload.size)
    actual = cid_of(data)
    if actual != cid:
        raise DomainError(f"CID mismatch: announced {cid_to_text(cid)}, content hashes to "
                          f"{cid_to_text(actual)}; abort the upload and send it again", code="cid_mismatch")
    _tick(tx, ctx.timestamp)
    pending.drop(tx, ctx.sender, cid)
    return _store_sent(tx, ctx, cid, data, env, priority)


def _store_sent(tx: Tx, ctx: Context, cid: bytes, data: bytes, env: Env, priority: bool) -> list[Any]:
    """Stores a checked file the sender sent (room made as for any upload; a CSV decoded ahead)."""
    budget.require_room(tx, len(data), ctx.timestamp, env.limits, priority)
    budget.add(tx, cid, Content(data, ctx.sender, ctx.input_index, ctx.timestamp))
    if env.engine is not None:
        env.engine.prepare(data)
    return [ContentStored(cid, len(data), ctx.sender)]


def store_inline(tx: Tx, cid: bytes, data: bytes, ctx: Context, env: Env) -> list[Any]:
    """A whole file sent inside another input (``revealSubmissionInline``), under the rules of an
    upload completed in one chunk: ``data`` must hash to ``cid``; already stored: nothing to do; a
    partial upload of it by the sender is dropped."""
    cid = check_cid(cid)
    actual = cid_of(data)
    if actual != cid:
        raise DomainError(f"CID mismatch: announced {cid_to_text(cid)}, the inline content hashes to "
                          f"{cid_to_text(actual)}", code="cid_mismatch")
    if tx.get(UPLOADS, (ctx.sender, cid)) is not None:
        pending.drop(tx, ctx.sender, cid)
    if tx.get(CONTENTS, cid) is not None:
        return []
    _tick(tx, ctx.timestamp)
    return _store_sent(tx, ctx, cid, data, env, reveal_priority.due_for_reveal(tx, ctx.sender, ctx.timestamp))


# Read-only queries (inspect, ML engine): JSON-ready dicts with CIDs as text and addresses as hex.

def get_content(reader: Reader, cid: bytes) -> bytes | None:
    """The stored file with this binary CID, or ``None``."""
    stored = reader.get(CONTENTS, cid)
    return None if stored is None else stored.data


def _info(cid: bytes, stored: Content) -> dict[str, Any]:
    return {"cid": cid_to_text(cid), "size": len(stored.data), "uploader": stored.uploader.hex,
            "input_index": stored.input_index, "timestamp": stored.timestamp}


def content_info(reader: Reader, cid: bytes) -> dict[str, Any] | None:
    """``{cid, size, uploader, input_index, timestamp}`` of a stored file, or ``None``."""
    stored = reader.get(CONTENTS, cid)
    return None if stored is None else _info(cid, stored)


def list_contents(reader: Reader) -> list[dict[str, Any]]:
    """``content_info`` of every stored file, in the order they were stored."""
    return [_info(cid, stored) for cid, stored in reader.items(CONTENTS)]


def read_content(reader: Reader, cid: bytes, offset: int, length: int,
                 max_length: int | None = None) -> bytes:
    """Bytes ``[offset, offset + length)`` of a stored file, at most ``max_length`` of them (default
    ``Limits().max_inspect_bytes``) and fewer at its end. ``DomainError`` if the file is not stored or
    ``offset`` is past its end."""
    max_length = Limits().max_inspect_bytes if max_length is None else max_length
    data = get_content(reader, cid)
    if data is None:
        raise DomainError(f"no content {cid_to_text(cid)}", code="not_found")
    if not 0 <= offset <= len(data) or length < 0:
        raise DomainError(f"cannot read {length} bytes at offset {offset} of a file of {len(data)} bytes",
                          code="out_of_range")
    return data[offset:offset + min(length, max_length)]


def upload_status(reader: Reader, uploader: Address, cid: bytes) -> dict[str, Any] | None:
    """``{cid, uploader, received, size, expires_at, expired}`` of a partial upload, or ``None`` if
    there is none; ``expired`` as of ``CLOCK``."""
    upload = reader.get(UPLOADS, (uploader, cid))
    return None if upload is None else pending.status(uploader, cid, upload, reader.get(CLOCK, "now", 0))


def list_uploads(reader: Reader, uploader: Address) -> list[dict[str, Any]]:
    """``upload_status`` of each partial upload of ``uploader``, oldest first (expired ones too,
    until they are purged)."""
    return pending.statuses(reader, uploader, reader.get(CLOCK, "now", 0))


def store_file(tx: Tx, data: bytes, owner: Address, ctx: Context, limits: Limits) -> tuple[bytes, list[Any]]:
    """Stores a file the machine made (e.g. a trained model) under its CID, reclaiming room if
    needed (``storage_full`` if it cannot); returns the CID and the ``ContentStored`` notice (none
    if that CID was already stored)."""
    done = store_if_room(tx, data, owner, ctx, limits)
    if done is None:
        raise budget.full_error(tx, len(data), limits)
    return done


def store_if_room(tx: Tx, data: bytes, owner: Address, ctx: Context,
                  limits: Limits) -> tuple[bytes, list[Any]] | None:
    """``store_file``, but ``None`` instead of ``storage_full`` when there is no room even after
    reclaiming: for settlement steps that go on without the file."""
    cid = cid_of(data)
    if tx.get(CONTENTS, cid) is not None:
        return cid, []
    if len(data) > limits.max_file_size:
        raise DomainError(f"a produced file of {len(data)} bytes exceeds max_file_size {limits.max_file_size}",
                          code="file_too_large")
    _tick(tx, ctx.timestamp)
    if not budget.make_room(tx, len(data), ctx.timestamp, limits):
        return None
    budget.add(tx, cid, Content(data, owner, ctx.input_index, ctx.timestamp))
    return cid, [ContentStored(cid, len(data), owner)]


def publish_kept(tx: Tx, job_id: int, owner: Address, ctx: Context) -> tuple[bytes | None, list[Any]]:
    """Stores the model kept for job ``job_id`` (``content_budget.keep_model``) and forgets it. No
    room is needed: its bytes already count against the budget. Returns its CID and ``ContentStored``
    notice; ``None`` if the job kept no model; ``b""`` if the model could not be kept for lack of
    room (then nothing is published)."""
    kept = budget.release_kept(tx, job_id)
    if kept is None:
        return None, []
    if tx.get(CONTENTS, kept.cid) is not None:
        return kept.cid, []
    if kept.data is None:
        return b"", []
    _tick(tx, ctx.timestamp)
    budget.add(tx, kept.cid, Content(kept.data, owner, ctx.input_index, ctx.timestamp))
    return kept.cid, [ContentStored(kept.cid, len(kept.data), owner)]
