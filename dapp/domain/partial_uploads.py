"""Partial uploads: what an unfinished upload holds, the caps on it, and the expiry of stale ones.

An upload's **footprint** is what it may hold in memory: its declared ``size`` (the reservation: the
bytes received never exceed it, deflated or not) plus ``UPLOAD_OVERHEAD`` for its records and
``CHUNK_OVERHEAD`` per chunk row (a row of one byte costs some 270 bytes of Python objects, so rows
are counted, not only their bytes). Caps:

- per account, at most ``max_pending_uploads`` uploads whose declared sizes total at most
  ``max_pending_upload_bytes`` (``too_many_uploads``, ``pending_bytes_exceeded``): fairness;
- all accounts together, footprints totalling at most ``max_total_pending`` (``uploads_full``):
  the memory bound, whatever the number of accounts.

An upload that got no new bytes for ``upload_ttl`` seconds (by the inputs' block timestamps) is
**expired** from ``expires_at`` on. Expired uploads stay until room is needed: a start or a chunk that
would break a cap first purges expired uploads, least recently fed first (the account's own for the
per-account caps, anyone's for the global one), and only then is refused. Until it is purged, an
expired upload may be continued: its next chunk with new bytes makes it fresh again. For the global
cap, an upload with the reveal priority (``dapp.domain.reveal_priority``) also purges other
accounts' uploads that have not expired, least recently fed first.

Rows: ``Upload`` per (uploader, CID), one immutable ``Chunk`` per chunk's new bytes, one ``Account``
per uploader (its CIDs in start order, their declared total), and the uploads in the order they were
last fed (``dapp.domain.linked``), so finding the oldest expired upload reads one row.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from dapp.codec.cid import cid_to_text
from dapp.domain import linked
from dapp.domain.limits import Limits
from dapp.domain.store import Reader, Tx
from dapp.domain.values import Address
from dapp.errors import DomainError

UPLOADS = "uploads"              # (uploader, cid) -> Upload
CHUNKS = "upload_chunks"         # (uploader, cid, index) -> Chunk
PENDING = "upload_pending"       # uploader -> Account
ORDER = "upload_order"           # (uploader, cid) in the order they were last fed (dapp.domain.linked)
TOTALS = "upload_totals"         # "footprint" -> footprint of every partial upload

UPLOAD_OVERHEAD = 1024
"""Bytes counted per partial upload for its rows (Upload, Account share, order links; ~480 measured)."""

CHUNK_OVERHEAD = 512
"""Bytes counted per chunk row besides its data (~270 measured for a one-byte row)."""


@dataclass(frozen=True, slots=True)
class Upload:
    """A partial upload: declared ``size``, bytes ``received`` in ``chunks`` rows, and when it
    expires (``upload_ttl`` after the input that last brought it new bytes, or started it)."""

    size: int
    received: int
    chunks: int
    expires_at: int


@dataclass(frozen=True, slots=True)
class Chunk:
    """Original bytes ``[offset, offset + len(data))`` of a partial upload."""

    offset: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Account:
    """One uploader's partial uploads (CIDs in start order) and their declared sizes' total."""

    cids: tuple[bytes, ...] = ()
    declared: int = 0


def footprint(upload: Upload) -> int:
    """What ``upload`` counts against ``max_total_pending``."""
    return UPLOAD_OVERHEAD + upload.size + upload.chunks * CHUNK_OVERHEAD


def expired(upload: Upload, now: int) -> bool:
    """Whether ``upload`` may be purged at time ``now``."""
    return now >= upload.expires_at


def start(tx: Tx, uploader: Address, cid: bytes, size: int, now: int, limits: Limits,
          preempt: bool = False) -> Upload:
    """Records a new partial upload of ``size`` bytes after checking (and making room for) the caps;
    ``preempt``: other accounts' uploads may be purged for room whether expired or not."""
    account = tx.get(PENDING, uploader, Account())
    if not _account_fits(account, size, limits):
        account = _purge_account(tx, uploader, size, now, limits)
    if len(account.cids) >= limits.max_pending_uploads:
        raise DomainError(f"{uploader.hex} already has {len(account.cids)} partial uploads, the limit "
                          f"(max_pending_uploads); finish or abort one", code="too_many_uploads")
    if account.declared + size > limits.max_pending_upload_bytes:
        raise DomainError(f"partial uploads of {uploader.hex} would declare {account.declared + size} bytes, "
                          f"over max_pending_upload_bytes = {limits.max_pending_upload_bytes}",
                          code="pending_bytes_exceeded")
    upload = Upload(size=size, received=0, chunks=0, expires_at=now + limits.upload_ttl)
    _make_room(tx, footprint(upload), now, limits, uploader if preempt else None)
    account = tx.get(PENDING, uploader, Account())  # making room may have purged one of its own
    tx.put(UPLOADS, (uploader, cid), upload)
    linked.append(tx, ORDER, (uploader, cid))
    tx.put(PENDING, uploader, Account(account.cids + (cid,), account.declared + size))
    tx.add(TOTALS, "footprint", footprint(upload))
    return upload


def feed(tx: Tx, uploader: Address, cid: bytes, upload: Upload, fresh: bytes, now: int, limits: Limits,
         preempt: bool = False) -> Upload:
    """Appends ``fresh`` (bytes past the received mark) as a new chunk row; the upload becomes the
    most recently fed one and expires ``upload_ttl`` from ``now``. ``preempt`` as in ``start``."""
    key = (uploader, cid)
    upload = replace(upload, expires_at=now + limits.upload_ttl)
    tx.put(UPLOADS, key, upload)
    linked.move_to_end(tx, ORDER, key)
    _make_room(tx, CHUNK_OVERHEAD, now, limits, uploader if preempt else None)  # never purges this one
    tx.put(CHUNKS, key + (upload.chunks,), Chunk(upload.received, fresh))
    upload = replace(upload, received=upload.received + len(fresh), chunks=upload.chunks + 1)
    tx.put(UPLOADS, key, upload)
    tx.add(TOTALS, "footprint", CHUNK_OVERHEAD)
    return upload


def drop(tx: Tx, uploader: Address, cid: bytes) -> None:
    """Deletes a partial upload, its chunk rows, and its share of the account's and global totals."""
    key = (uploader, cid)
    upload = tx.get(UPLOADS, key)
    for index in range(upload.chunks):
        tx.delete(CHUNKS, key + (index,))
    tx.delete(UPLOADS, key)
    linked.remove(tx, ORDER, key)
    account = tx.get(PENDING, uploader)
    rest = Account(tuple(c for c in account.cids if c != cid), account.declared - upload.size)
    if rest.cids:
        tx.put(PENDING, uploader, rest)
    else:
        tx.delete(PENDING, uploader)
    if tx.add(TOTALS, "footprint", -footprint(upload)) == 0:
        tx.delete(TOTALS, "footprint")


def _account_fits(account: Account, size: int, limits: Limits) -> bool:
    return (len(account.cids) < limits.max_pending_uploads
            and account.declared + size <= limits.max_pending_upload_bytes)


def _purge_account(tx: Tx, uploader: Address, size: int, now: int, limits: Limits) -> Account:
    """Purges the account's expired uploads, least recently fed first, until a new one of ``size``
    fits its caps (or none is left to purge); returns the account as it is then."""
    account = tx.get(PENDING, uploader, Account())
    uploads = [(tx.get(UPLOADS, (uploader, cid)), i, cid) for i, cid in enumerate(account.cids)]
    stale = sorted((upload.expires_at, i, cid) for upload, i, cid in uploads if expired(upload, now))
    for _, _, cid in stale:
        if _account_fits(account, size, limits):
            break
        drop(tx, uploader, cid)
        account = tx.get(PENDING, uploader, Account())
    return account


def _make_room(tx: Tx, need: int, now: int, limits: Limits, preemptor: Address | None = None) -> None:
    """Purges expired uploads, least recently fed first, until ``need`` more bytes fit under
    ``max_total_pending``; with a ``preemptor``, other accounts' uploads whether expired or not
    (its own only once expired); ``DomainError`` (``uploads_full``) if they cannot."""
    key = linked.first(tx, ORDER)
    while (held := tx.get(TOTALS, "footprint", 0)) + need > limits.max_total_pending:
        upload = None if key is None else tx.get(UPLOADS, key)
        if upload is None or (preemptor is None and not expired(upload, now)):
            when = "" if upload is None else f"; the least recently fed one expires at {upload.expires_at}"
            raise DomainError(f"partial uploads of all accounts hold {held} bytes (declared sizes and "
                              f"bookkeeping); {need} more would exceed max_total_pending = "
                              f"{limits.max_total_pending}{when}", code="uploads_full")
        following = linked.after(tx, ORDER, key)
        if expired(upload, now) or key[0] != preemptor:
            drop(tx, *key)
        key = following


def status(uploader: Address, cid: bytes, upload: Upload, now: int) -> dict[str, Any]:
    """The JSON view of a partial upload; ``expired`` as of ``now``."""
    return {"cid": cid_to_text(cid), "uploader": uploader.hex, "received": upload.received,
            "size": upload.size, "expires_at": upload.expires_at, "expired": expired(upload, now)}


def statuses(reader: Reader, uploader: Address, now: int) -> list[dict[str, Any]]:
    """``status`` of each partial upload of ``uploader``, in the order they were started."""
    account = reader.get(PENDING, uploader, Account())
    return [status(uploader, cid, reader.get(UPLOADS, (uploader, cid)), now) for cid in account.cids]
