"""The node's persistent state directory.

Layout of ``state_dir`` (default ``$MLMARKET_DEVNODE_DIR`` or ``~/.mlmarket/devnode``):

| file | what |
|---|---|
| ``inputs.jsonl`` | one line per processed input: metadata, payload, status, outputs, reports, the machine's outputs root (append-only) |
| ``claims.jsonl`` | one line per submitted claim (append-only) |
| ``deployment.json`` | the contract addresses, written once after the first deployment |
| ``node.json`` | what ``python -m devnode info --json`` prints (rewritten at every start) |
| ``anvil-state.json`` | anvil's ``--state`` |
| ``node.log``, ``anvil.log``, ``backend.log``, ``machine.log`` | logs (the last: ``--machine cartesi``'s emulator) |
| ``node.lock`` | held (``flock``) while a node runs on this directory |

Append-only files are written one line at a time, flushed and fsynced before the node goes on, so a
``kill -9`` loses nothing that was recorded; a line cut short by a crash is dropped when loading.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

INPUTS, CLAIMS, DEPLOYMENT, INFO, LOCK = "inputs.jsonl", "claims.jsonl", "deployment.json", "node.json", "node.lock"
ANVIL_STATE, NODE_LOG, ANVIL_LOG, BACKEND_LOG = "anvil-state.json", "node.log", "anvil.log", "backend.log"
MACHINE_LOG = "machine.log"  # the cartesi-jsonrpc-machine servers of --machine cartesi
_FRESH_REMOVES = (INPUTS, CLAIMS, DEPLOYMENT, INFO, ANVIL_STATE)


class StoreError(RuntimeError):
    """The state directory is corrupt, or another node already runs on it."""


def default_state_dir() -> Path:
    """``$MLMARKET_DEVNODE_DIR`` or ``~/.mlmarket/devnode``."""
    configured = os.environ.get("MLMARKET_DEVNODE_DIR")
    return Path(configured) if configured else Path.home() / ".mlmarket" / "devnode"


def now() -> str:
    """The current UTC time in RFC 3339, as the reader API shows ``created_at``."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class InputRecord:
    """One processed input. ``raw_data`` is the ``InputAdded`` event's input (an ``EvmAdvance`` call),
    ``metadata`` what the backend was given; ``outputs`` are on-chain output bytes (empty unless
    ACCEPTED), numbered from ``first_output_index``; reports from ``first_report_index``.
    ``outputs_root``: the outputs Merkle root (over every output since genesis) that the real Cartesi
    machine sent with its accept; ``None`` unless the backend ran in the machine and accepted."""

    index: int
    epoch_index: int
    block_number: int
    raw_data: bytes
    metadata: dict[str, Any]
    payload: bytes
    tx_hash: str | None
    status: str
    outputs: tuple[bytes, ...]
    reports: tuple[bytes, ...]
    first_output_index: int
    first_report_index: int
    processed_at: str = field(default_factory=now)
    outputs_root: bytes | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON line of this record."""
        return {"index": self.index, "epoch_index": self.epoch_index, "block_number": self.block_number,
                "raw_data": self.raw_data.hex(), "metadata": self.metadata, "payload": self.payload.hex(),
                "tx_hash": self.tx_hash, "status": self.status, "outputs": [o.hex() for o in self.outputs],
                "reports": [r.hex() for r in self.reports], "first_output_index": self.first_output_index,
                "first_report_index": self.first_report_index, "processed_at": self.processed_at,
                "outputs_root": None if self.outputs_root is None else self.outputs_root.hex()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InputRecord:
        """Reads a record written by ``to_json``."""
        return cls(
            index=data["index"], epoch_index=data["epoch_index"], block_number=data["block_number"],
            raw_data=bytes.fromhex(data["raw_data"]), metadata=data["metadata"],
            payload=bytes.fromhex(data["payload"]), tx_hash=data["tx_hash"], status=data["status"],
            outputs=tuple(bytes.fromhex(o) for o in data["outputs"]),
            reports=tuple(bytes.fromhex(r) for r in data["reports"]),
            first_output_index=data["first_output_index"], first_report_index=data["first_report_index"],
            processed_at=data["processed_at"],
            outputs_root=None if data.get("outputs_root") is None else bytes.fromhex(data["outputs_root"]))


@dataclass(frozen=True)
class ClaimRecord:
    """A claim submitted to the Authority: the epoch, its last block, how many outputs (since genesis)
    its Merkle ``root`` covers, and the transaction."""

    epoch_index: int
    last_block: int
    output_count: int
    root: bytes
    tx_hash: str
    claimed_at: str = field(default_factory=now)

    def to_json(self) -> dict[str, Any]:
        """The JSON line of this record."""
        return {"epoch_index": self.epoch_index, "last_block": self.last_block,
                "output_count": self.output_count, "root": self.root.hex(), "tx_hash": self.tx_hash,
                "claimed_at": self.claimed_at}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClaimRecord:
        """Reads a record written by ``to_json``."""
        return cls(epoch_index=data["epoch_index"], last_block=data["last_block"],
                   output_count=data["output_count"], root=bytes.fromhex(data["root"]),
                   tx_hash=data["tx_hash"], claimed_at=data["claimed_at"])


class Store:
    """The records of one state directory, loaded in memory and appended durably. Thread-safe."""

    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        self.dir = Path(state_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.inputs: list[InputRecord] = [InputRecord.from_json(d) for d in _load_lines(self.path(INPUTS))]
        self.claims: list[ClaimRecord] = [ClaimRecord.from_json(d) for d in _load_lines(self.path(CLAIMS))]
        for position, record in enumerate(self.inputs):
            if record.index != position:
                raise StoreError(f"{self.path(INPUTS)}: record {position} holds input {record.index}")
        self.outputs: list[tuple[int, bytes]] = [(r.index, o) for r in self.inputs for o in r.outputs]
        self.reports: list[tuple[int, bytes]] = [(r.index, p) for r in self.inputs for p in r.reports]

    def path(self, name: str) -> Path:
        """The path of file ``name`` in the state directory."""
        return self.dir / name

    @staticmethod
    def wipe(state_dir: str | os.PathLike[str]) -> None:
        """Removes the records, the deployment and anvil's state (``--fresh``); logs stay."""
        for name in _FRESH_REMOVES:
            (Path(state_dir) / name).unlink(missing_ok=True)

    def append_input(self, record: InputRecord) -> None:
        """Records a processed input durably; it must be the next index."""
        with self.lock:
            if record.index != len(self.inputs):
                raise StoreError(f"input {record.index} recorded out of order (expected {len(self.inputs)})")
            _append_line(self.path(INPUTS), record.to_json())
            self.inputs.append(record)
            self.outputs.extend((record.index, o) for o in record.outputs)
            self.reports.extend((record.index, p) for p in record.reports)

    def append_claim(self, record: ClaimRecord) -> None:
        """Records a submitted claim durably."""
        with self.lock:
            _append_line(self.path(CLAIMS), record.to_json())
            self.claims.append(record)

    def load_json(self, name: str) -> Any:
        """The content of JSON file ``name``, ``None`` if absent."""
        path = self.path(name)
        return json.loads(path.read_text()) if path.exists() else None

    def save_json(self, name: str, data: Any) -> None:
        """Writes JSON file ``name`` atomically (temporary file, fsync, rename)."""
        write_json_atomic(self.path(name), data)


def read_info(state_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The ``node.json`` of a state directory, ``None`` if there is none."""
    path = Path(state_dir) / INFO
    return json.loads(path.read_text()) if path.exists() else None


def write_json_atomic(path: Path, data: Any) -> None:
    """Replaces ``path`` with ``data`` as indented JSON, never leaving a half-written file."""
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w") as handle:
        json.dump(data, handle, indent=2)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _append_line(path: Path, data: dict[str, Any]) -> None:
    with open(path, "a") as handle:
        handle.write(json.dumps(data, separators=(",", ":")) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _load_lines(path: Path) -> list[dict[str, Any]]:
    """The JSON lines of ``path``; a last line cut short by a crash is dropped (and truncated away)."""
    if not path.exists():
        return []
    text = path.read_bytes()
    complete = text[: text.rfind(b"\n") + 1]
    if len(complete) != len(text):
        with open(path, "r+b") as handle:
            handle.truncate(len(complete))
            os.fsync(handle.fileno())
    lines = []
    for number, line in enumerate(complete.splitlines(), start=1):
        try:
            lines.append(json.loads(line))
        except ValueError as exc:
            raise StoreError(f"{path}:{number}: corrupt record ({exc}); remove the state dir or use --fresh") from exc
    return lines
