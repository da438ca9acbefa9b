"""Files waiting to be uploaded, kept on the console's disk by CID, and their upload plans.

A page sends a file once; the console keeps its bytes (bounded per file and in total, oldest
evicted first) so that the chunk-by-chunk upload can go on after a reload without choosing the
file again. The plan (``dapp.codec.chunks.plan_upload``, deterministic from the bytes) is cached in
memory because planning a large file takes about a second.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path

from dapp.codec.chunks import UploadPlan, plan_upload
from dapp.codec.cid import cid_from_text, cid_of, cid_to_text
from dapp.errors import InvalidInput

PLAN_CACHE = 8


class StagingError(ValueError):
    """A file is too large, or a CID is malformed."""


def canonical_cid(text: str) -> str:
    """``text`` if it is a canonical CID text (so it is safe as a file name), else ``StagingError``."""
    try:
        canonical = cid_to_text(cid_from_text(text))
    except (InvalidInput, ValueError):
        raise StagingError(f"not a CID: {text!r}") from None
    if canonical != text:
        raise StagingError(f"not a canonical CID: {text!r}")
    return canonical


class Staging:
    """The staging directory (module doc)."""

    def __init__(self, directory: Path, *, max_file: int, max_total: int) -> None:
        self.directory = directory
        self.max_file = max_file
        self.max_total = max_total
        self._lock = threading.Lock()
        self._plans: OrderedDict[str, UploadPlan] = OrderedDict()

    def put(self, data: bytes) -> str:
        """Keeps ``data``; returns its CID text. ``StagingError`` if it is larger than ``max_file``."""
        if len(data) > self.max_file:
            raise StagingError(f"the file has {len(data)} bytes; the dApp stores files of at most {self.max_file}")
        if not data:
            raise StagingError("the file is empty")
        cid = cid_to_text(cid_of(data))
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / cid
            if not path.exists():
                temporary = path.with_suffix(".part")
                temporary.write_bytes(data)
                os.replace(temporary, path)
            path.touch()
            self._evict(keep=cid)
        return cid

    def _evict(self, keep: str) -> None:
        files = sorted((p for p in self.directory.iterdir() if p.is_file() and p.suffix != ".part"),
                       key=lambda p: p.stat().st_mtime)
        total = sum(p.stat().st_size for p in files)
        for path in files:
            if total <= self.max_total:
                break
            if path.name != keep:
                total -= path.stat().st_size
                path.unlink(missing_ok=True)

    def get(self, cid: str) -> bytes | None:
        """The bytes kept for ``cid``, or None."""
        path = self.directory / canonical_cid(cid)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None

    def plan(self, cid: str, data: bytes) -> UploadPlan:
        """The whole upload plan of ``data`` (cached by CID)."""
        with self._lock:
            if cid in self._plans:
                self._plans.move_to_end(cid)
                return self._plans[cid]
        plan = plan_upload(data)
        with self._lock:
            self._plans[cid] = plan
            while len(self._plans) > PLAN_CACHE:
                self._plans.popitem(last=False)
        return plan
