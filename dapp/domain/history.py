"""Per-job history: every notice event that names a job, with the input that caused it."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from dapp.codec.cid import cid_to_text
from dapp.domain.commands import Context, JobSpec
from dapp.domain.events import NOTICE_EVENTS
from dapp.domain.store import Reader, Tx
from dapp.domain.values import Address

HISTORY = "job_history"  # (job_id, n) -> (input_index, timestamp, event)
LENGTH = "job_history_length"  # job_id -> n

AMOUNT_FIELDS = frozenset({"amount", "budget", "refund", "paid", "reward", "reward_per_accept", "stake"})
CID_FIELDS = frozenset({"cid", "model_cid", "data_cid", "test_cid", "validation_cid", "base_model_cid"})


def record(tx: Tx, events: list[Any], ctx: Context) -> None:
    """Appends each notice event carrying a ``job_id`` to that job's history."""
    for event in events:
        if isinstance(event, NOTICE_EVENTS) and hasattr(event, "job_id"):
            n = tx.add(LENGTH, event.job_id, 1)
            tx.put(HISTORY, (event.job_id, n), (ctx.input_index, ctx.timestamp, event))


def jsonable(name: str, value: Any) -> Any:
    """A value of an event or record as JSON: addresses hex, CIDs text, bytes hex, big ints text."""
    if isinstance(value, Address):
        return value.hex
    if isinstance(value, bytes):
        if name in CID_FIELDS or name.endswith("_cid"):
            return cid_to_text(value) if value else None
        return "0x" + value.hex()
    if isinstance(value, JobSpec):
        return {f.name: jsonable(f.name, getattr(value, f.name)) for f in fields(JobSpec)}
    if isinstance(value, int) and not isinstance(value, bool) and (name in AMOUNT_FIELDS or abs(value) > 2**53):
        return str(value)
    return value


def event_json(event: Any) -> dict[str, Any]:
    """``{"type": <notice name>, <field>: <json value>...}``."""
    data = {f.name.rstrip("_"): jsonable(f.name, getattr(event, f.name)) for f in fields(event)}
    return {"type": type(event).__name__, **data}


def history_length(reader: Reader, job_id: int) -> int:
    """How many events the job's history holds."""
    return reader.get(LENGTH, job_id, 0)


def history(reader: Reader, job_id: int, offset: int, limit: int) -> list[dict[str, Any]]:
    """At most ``limit`` of the job's events from the ``offset``-th (0-based), oldest first, each
    with the input index and time that caused it; only those are read."""
    end = min(history_length(reader, job_id), offset + limit)
    entries = (reader.get(HISTORY, (job_id, n + 1)) for n in range(offset, end))
    return [{"input_index": i, "timestamp": t, **event_json(e)} for i, t, e in entries]
