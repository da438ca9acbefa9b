"""Uploading a file to the dApp's content store in ``uploadChunkCoded`` inputs (``dapp.codec.chunks``).

Nothing already stored is sent again: a file the store holds (inspect ``contents/<cid>``) sends no
input, and a partial upload of the account resumes at the byte the machine holds (inspect
``uploads/<account>``). Up to ``window`` chunks are in flight at once; each is checked as the node
processes it, and the first failure stops the upload with the report's message.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dapp.codec.chunks import Chunk, UploadPlan, plan_upload
from dapp.codec.cid import cid_of, cid_to_text
from mlmarket.client.chain import InputRef, InputRequest
from mlmarket.client.errors import ClientError

if TYPE_CHECKING:
    from mlmarket.client.market import Market

MAX_UPLOAD_BYTES = 256 * 1024 * 1024
"""Refuse to read files larger than this (the machine's whole content store by default)."""

Progress = Callable[[int, int], None]
"""``progress(bytes_done, size)``: called before the first chunk and after each processed one."""


@dataclass(frozen=True)
class UploadResult:
    """How an upload went: the CID, whether it was already stored, what was sent."""

    cid: str
    size: int
    already_stored: bool
    resumed_from: int
    inputs: tuple[int, ...]
    gas_used: tuple[int, ...]
    payload_bytes: int

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (``mlmarket put --json`` prints it)."""
        return {"cid": self.cid, "size": self.size, "already_stored": self.already_stored,
                "resumed_from": self.resumed_from, "chunks_sent": len(self.inputs),
                "inputs": list(self.inputs), "gas_used": sum(self.gas_used),
                "payload_bytes": self.payload_bytes}


def read_file(path: str | Path, max_bytes: int = MAX_UPLOAD_BYTES) -> bytes:
    """The bytes of ``path``; ``ClientError`` if it cannot be read or exceeds ``max_bytes``."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise ClientError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if len(data) > max_bytes:
        raise ClientError(f"{path} is larger than {max_bytes} bytes")
    return data


@dataclass(frozen=True)
class PendingUpload:
    """What is left to send of a file: nothing if ``already_stored``, else ``chunks`` from byte
    ``received`` on (each an ``uploadChunkCoded`` input; ``plan`` tells their offsets and lengths)."""

    cid: str
    size: int
    already_stored: bool
    received: int
    plan: UploadPlan | None

    @property
    def requests(self) -> tuple[InputRequest, ...]:
        """The inputs still to send, in order (for a browser wallet: ``Chain.prepare_input`` each)."""
        return tuple(InputRequest(c.payload) for c in self.plan.chunks) if self.plan else ()


def pending_upload(market: Market, data: bytes) -> PendingUpload:
    """Asks the dApp what it holds of ``data`` (inspect ``contents/<cid>``, ``uploads/<account>``)
    and plans the rest."""
    cid = cid_to_text(cid_of(data))
    if market.content_info(cid) is not None:
        return PendingUpload(cid, len(data), True, len(data), None)
    received = market.upload_received(cid)
    return PendingUpload(cid, len(data), False, received, plan_upload(data, received=received))


def upload(market: Market, data: bytes, *, progress: Progress | None = None, window: int = 8) -> UploadResult:
    """Stores ``data`` in the dApp's content store from ``market``'s account (module doc)."""
    pending = pending_upload(market, data)
    cid, size = pending.cid, pending.size
    report = progress or (lambda done, total: None)
    report(pending.received, size)
    if pending.plan is None:
        return UploadResult(cid, size, True, size, (), (), 0)
    in_flight: deque[tuple[InputRef, Chunk]] = deque()
    sent: list[InputRef] = []

    def settle_oldest() -> None:
        ref, chunk = in_flight.popleft()
        market.wait(ref)  # raises InputFailed with the report's message
        report(chunk.offset + chunk.length, size)

    for chunk in pending.plan.chunks:
        ref = market.chain.send_input(InputRequest(chunk.payload))
        sent.append(ref)
        in_flight.append((ref, chunk))
        if len(in_flight) >= max(1, window):
            settle_oldest()
    while in_flight:
        settle_oldest()
    return UploadResult(cid, size, False, pending.received, tuple(r.index for r in sent),
                        tuple(r.tx.gas_used for r in sent), pending.plan.payload_bytes)
