"""Driving an upload one chunk at a time, from whatever the machine already holds.

The page asks for the next step again and again: ``next_step`` asks the dApp what it holds of the
file (inspect ``contents/<cid>`` and ``uploads/<account>``) and returns the chunk input to send
next, with the progress in chunks. A reload, a second tab or another tool that sent some chunks
changes nothing: the next step always starts at the byte the machine holds. When that byte is not
a boundary of the cached plan (a partial upload planned by another tool), the rest is planned again
with the client library's ``pending_upload``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dapp.codec.chunks import UploadPlan
from mlmarket.client.chain import InputRequest
from mlmarket.client.inspect import query_path
from mlmarket.client.upload import pending_upload


@dataclass(frozen=True)
class Progress:
    """How far the upload of ``cid`` is, in chunks and bytes; ``stored`` once the file is complete."""

    cid: str
    size: int
    done_chunks: int
    total_chunks: int
    received: int
    stored: bool

    def to_json(self) -> dict[str, Any]:
        """JSON for the page."""
        return {"cid": self.cid, "size": self.size, "done_chunks": self.done_chunks,
                "total_chunks": self.total_chunks, "received": self.received, "stored": self.stored}


@dataclass(frozen=True)
class Step:
    """The progress now, and the input to send next (None once stored)."""

    progress: Progress
    request: InputRequest | None
    chunk_end: int = 0


def next_step(market: Any, cid: str, data: bytes, plan: UploadPlan) -> Step:
    """What to send next for ``data`` (CID ``cid``, whole-file ``plan``) from ``market``'s account."""
    total = len(plan.chunks)
    if market.content_info(cid) is not None:
        return Step(Progress(cid, len(data), total, total, len(data), True), None)
    received = market.upload_received(cid)
    boundaries = {chunk.offset: i for i, chunk in enumerate(plan.chunks)}
    if received in boundaries:
        i = boundaries[received]
        chunk = plan.chunks[i]
        return Step(Progress(cid, len(data), i, total, received, False), InputRequest(chunk.payload),
                    chunk.offset + chunk.length)
    pending = pending_upload(market, data)
    done = sum(1 for chunk in plan.chunks if chunk.offset + chunk.length <= pending.received)
    if pending.plan is None or not pending.plan.chunks:
        return Step(Progress(cid, len(data), total, total, len(data), True), None)
    first = pending.plan.chunks[0]
    return Step(Progress(cid, len(data), done, done + len(pending.plan.chunks), pending.received, False),
                InputRequest(first.payload), first.offset + first.length)


def after_chunk(step: Step, stored: bool) -> Progress:
    """The progress once ``step``'s chunk was processed (``stored``: it completed the file)."""
    p = step.progress
    if stored:
        return Progress(p.cid, p.size, p.total_chunks, p.total_chunks, p.size, True)
    return Progress(p.cid, p.size, p.done_chunks + 1, p.total_chunks, step.chunk_end, False)


def partial_uploads(market: Any) -> list[dict[str, Any]]:
    """The account's unfinished uploads as the dApp records them (inspect ``uploads/<account>``)."""
    answer = market.query(query_path("uploads", market.account.lower()))
    uploads = answer.get("uploads", []) if isinstance(answer, dict) else []
    return [u for u in uploads if isinstance(u, dict) and isinstance(u.get("cid"), str)]
