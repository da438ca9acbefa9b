"""The stored-content budget: what stored files and kept models cost, and reclaiming old files.

Every stored file and every kept best model (``keep_model``) counts its bytes plus
``FILE_OVERHEAD`` against ``max_total_content``. When room is needed (an upload starts or completes,
the machine stores a file it made, a best model is kept) and the budget is short, the store first

1. releases the models kept for jobs that have ended (settlement takes the winner's; a split or a
   cancellation leaves theirs unused), then
2. drops **reclaimable** files, oldest stored first, until the request fits: a file is reclaimable
   when it was stored at least ``content_ttl`` seconds ago and no job references it, that is no job
   that has not ended names it (its validation set, base model, current model, revealed test set,
   the model, data or trained model of any of its submissions, the CID of its kept model), and no
   job at all (ended ones too) has it as its current, published model.

Only then is the request refused (``storage_full``). A dropped file's CID can be uploaded again.
An upload with the reveal priority (``dapp.domain.reveal_priority``) reclaims unreferenced files
whatever their age in step 2, oldest stored first; referenced files stay all the same.

Cost of one reclamation, paid only when the budget is short: O(kept models) row reads to release
the ended jobs' ones; then, only if the oldest file is old enough to be reclaimable,
O(jobs + submissions of jobs not ended) row reads to collect the references, plus one step per file
visited from the oldest (files kept because they are referenced, and files dropped), stopping at the
first file younger than ``content_ttl``. Files are kept in the order they were stored
(``dapp.domain.linked``), so no walk copies the table.

Settlement never needs fresh room: a kept best model already counts against the budget, so storing
it (``publish_kept``) only moves its bytes from "kept" to "stored".
"""

from __future__ import annotations

from dataclasses import dataclass

from dapp.codec.cid import cid_of
from dapp.domain import linked
from dapp.domain.limits import Limits
from dapp.domain.records import ENDED, JOBS, submissions_of
from dapp.domain.store import Tx
from dapp.domain.values import Address
from dapp.errors import DomainError

CONTENTS = "contents"            # cid -> Content
ORDER = "content_order"          # cids in the order they were stored (dapp.domain.linked)
KEPT = "kept_models"             # job_id -> Kept
TOTALS = "content_totals"        # "footprint" -> bytes counted against max_total_content

FILE_OVERHEAD = 1024
"""Bytes counted per stored file or kept model for its rows (Content, order links; ~440 measured)."""


@dataclass(frozen=True, slots=True)
class Content:
    """A stored file and who completed its upload, in which input."""

    data: bytes
    uploader: Address
    input_index: int
    timestamp: int


@dataclass(frozen=True, slots=True)
class Kept:
    """The trained model of a job's current best submission, kept for its settlement: ``data`` is
    counted against the budget; ``None`` when the CID was already stored when kept (the reference
    protects that file) or when there was no room (the model will not be published)."""

    cid: bytes
    data: bytes | None


def footprint(size: int) -> int:
    """What a file or kept model of ``size`` bytes counts against ``max_total_content``."""
    return size + FILE_OVERHEAD


def in_use(tx: Tx) -> int:
    """Bytes counted against ``max_total_content`` now."""
    return tx.get(TOTALS, "footprint", 0)


def make_room(tx: Tx, size: int, now: int, limits: Limits, priority: bool = False) -> bool:
    """Whether a file of ``size`` bytes fits the budget at ``now``, after reclaiming (module
    docstring) what is needed if it did not; with ``priority``, unreferenced files of any age."""
    need = footprint(size)
    if in_use(tx) + need <= limits.max_total_content:
        return True
    _release_ended(tx)
    if in_use(tx) + need <= limits.max_total_content:
        return True
    _reclaim(tx, need, now, limits, None if priority else limits.content_ttl)
    return in_use(tx) + need <= limits.max_total_content


def require_room(tx: Tx, size: int, now: int, limits: Limits, priority: bool = False) -> None:
    """``make_room`` or ``full_error``."""
    if not make_room(tx, size, now, limits, priority):
        raise full_error(tx, size, limits)


def full_error(tx: Tx, size: int, limits: Limits) -> DomainError:
    """The ``storage_full`` error for a file of ``size`` bytes that does not fit."""
    return DomainError(f"storing {size} more bytes would exceed max_total_content = {limits.max_total_content} "
                       f"bytes ({in_use(tx)} in use by stored files and kept models, {FILE_OVERHEAD} counted "
                       f"per file; files no job uses are reclaimed content_ttl = {limits.content_ttl} s after "
                       f"they were stored)", code="storage_full")


def add(tx: Tx, cid: bytes, stored: Content) -> None:
    """Stores a file under ``cid`` (not stored yet), counting it against the budget (no check)."""
    tx.put(CONTENTS, cid, stored)
    linked.append(tx, ORDER, cid)
    tx.add(TOTALS, "footprint", footprint(len(stored.data)))


def drop(tx: Tx, cid: bytes) -> None:
    """Deletes a stored file and frees its share of the budget."""
    stored = tx.get(CONTENTS, cid)
    tx.delete(CONTENTS, cid)
    linked.remove(tx, ORDER, cid)
    _release(tx, len(stored.data))


def keep_model(tx: Tx, job_id: int, model: bytes | None, now: int, limits: Limits) -> None:
    """Keeps ``model`` as job ``job_id``'s best (``None``: it has no trained model to keep), in
    place of the one kept before. Never fails: without room even after reclaiming, it keeps only
    the CID, and the model is not published at settlement."""
    release_kept(tx, job_id)
    if model is None:
        return
    cid = cid_of(model)
    if tx.get(CONTENTS, cid) is None and make_room(tx, len(model), now, limits):
        tx.put(KEPT, job_id, Kept(cid, model))
        tx.add(TOTALS, "footprint", footprint(len(model)))
    else:
        tx.put(KEPT, job_id, Kept(cid, None))


def release_kept(tx: Tx, job_id: int) -> Kept | None:
    """Forgets job ``job_id``'s kept model (freeing its share); returns what was kept."""
    kept = tx.get(KEPT, job_id)
    if kept is not None:
        tx.delete(KEPT, job_id)
        if kept.data is not None:
            _release(tx, len(kept.data))
    return kept


def _release(tx: Tx, size: int) -> None:
    if tx.add(TOTALS, "footprint", -footprint(size)) == 0:
        tx.delete(TOTALS, "footprint")


def _release_ended(tx: Tx) -> None:
    """Releases the models kept for jobs that have ended."""
    for job_id, _ in list(tx.items(KEPT)):
        if tx.get(JOBS, job_id).status == ENDED:
            release_kept(tx, job_id)


def referenced(tx: Tx) -> set[bytes]:
    """The CIDs no reclamation may drop (module docstring)."""
    refs: set[bytes] = set()
    for _, job in tx.items(JOBS):
        refs.add(job.model_cid)
        if job.status == ENDED:
            continue
        refs.update((job.spec.validation_cid, job.spec.base_model_cid, job.test_cid))
        for sub in submissions_of(tx, job):
            refs.update((sub.model_cid, sub.data_cid, sub.trained_cid))
    refs.update(kept.cid for _, kept in tx.items(KEPT))
    return refs


def _reclaim(tx: Tx, need: int, now: int, limits: Limits, ttl: int | None) -> None:
    """Drops unreferenced files stored at least ``ttl`` ago (any file if ``None``), oldest first,
    until ``need`` more bytes fit (or no such file is left)."""
    def old(cid: bytes) -> bool:
        return ttl is None or now - tx.get(CONTENTS, cid).timestamp >= ttl

    cid = linked.first(tx, ORDER)
    if cid is None or not old(cid):
        return
    refs = referenced(tx)
    while cid is not None and old(cid) and in_use(tx) + need > limits.max_total_content:
        following = linked.after(tx, ORDER, cid)
        if cid not in refs:
            drop(tx, cid)
        cid = following
