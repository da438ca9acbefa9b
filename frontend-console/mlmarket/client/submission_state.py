"""The state file of a submission in progress: what a contributor must keep between the commit and
the reveal (the salt above all), written before anything is sent and deleted once revealed.

A submission is ``commitSubmission`` (the commitment hides the CIDs behind a random salt), the
upload of its contents, then ``revealSubmission`` (``submission_flow`` drives them). Whoever loses
the salt after the commit can never reveal, so the salt is on disk before the commit leaves. One
JSON file per submission, in ``<state dir>/submissions/`` (``$MLMARKET_STATE_DIR``, default
``~/.mlmarket``), named after the chain id, application, job, sender and commitment; writes are
atomic (a temporary file renamed over the old one), so an interruption leaves the previous state.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from web3 import Web3

from dapp.codec.cid import cid_from_text
from dapp.codec.commitment import submission_commitment
from mlmarket.client.errors import ClientError

NEW, COMMITTING, COMMITTED, UPLOADED, REVEALING = "new", "committing", "committed", "uploaded", "revealing"
STAGES = (NEW, COMMITTING, COMMITTED, UPLOADED, REVEALING)
"""In order: nothing sent; commit sent (``commit_input`` once known); commit processed
(``submission`` known); contents stored; reveal sent (``reveal_input`` once known)."""
SUFFIX = ".json"


@dataclass(frozen=True)
class Content:
    """One content of a submission: ``role`` ``model`` or ``data``, its CID text, and the file it
    comes from (None when only the CID was given: it must then be stored already)."""

    role: str
    cid: str
    path: str | None = None

    @property
    def cid_bytes(self) -> bytes:
        """The binary CID (what the commitment and the reveal carry)."""
        return cid_from_text(self.cid)


@dataclass(frozen=True)
class SubmissionState:
    """One submission on its way from commit to reveal (module doc)."""

    chain_id: int
    app: str
    job: int
    sender: str
    salt: bytes
    model: Content | None
    data: Content | None
    stake: int = 0
    token: str | None = None
    stage: str = NEW
    commit_input: int | None = None
    submission: int | None = None
    reveal_input: int | None = None

    def __post_init__(self) -> None:
        if len(self.salt) != 32:
            raise ClientError(f"a submission's salt is 32 bytes, got {len(self.salt)}")
        if self.model is None and self.data is None:
            raise ClientError("a submission needs a model, training data, or both")
        if self.stage not in STAGES:
            raise ClientError(f"unknown submission stage {self.stage!r}")

    @property
    def model_cid(self) -> bytes:
        """The model's binary CID (empty: none)."""
        return self.model.cid_bytes if self.model else b""

    @property
    def data_cid(self) -> bytes:
        """The training data's binary CID (empty: none)."""
        return self.data.cid_bytes if self.data else b""

    @property
    def contents(self) -> tuple[Content, ...]:
        """The model and the data, those given."""
        return tuple(c for c in (self.model, self.data) if c is not None)

    @property
    def commitment(self) -> bytes:
        """``submission_commitment(sender, job, modelCid, dataCid, salt)``."""
        return submission_commitment(self.sender, self.job, self.model_cid, self.data_cid, self.salt)

    @property
    def name(self) -> str:
        """The state file's name (chain, application, job, sender, commitment)."""
        return (f"{self.chain_id}-{self.app.lower()}-{self.job}-{self.sender.lower()}-"
                f"{self.commitment.hex()}{SUFFIX}")

    def at(self, stage: str, **changes: Any) -> SubmissionState:
        """This state moved to ``stage`` (with ``changes``)."""
        return replace(self, stage=stage, **changes)

    def same_submission(self, job: int, model: Content | None, data: Content | None) -> bool:
        """Whether this state submits the same contents to ``job`` (a re-run of the same command)."""
        cids = (model.cid if model else None, data.cid if data else None)
        return self.job == job and (self.model.cid if self.model else None,
                                    self.data.cid if self.data else None) == cids

    def to_json(self) -> dict[str, Any]:
        """The file's JSON (the salt and commitment as 0x-hex, the stake as a decimal string)."""
        data = asdict(self)
        data.update(salt="0x" + self.salt.hex(), stake=str(self.stake),
                    commitment="0x" + self.commitment.hex())
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SubmissionState:
        """Reads ``to_json``'s form back; ``ClientError`` if it is malformed or its commitment does
        not match."""
        try:
            contents = {k: Content(**data[k]) if data.get(k) else None for k in ("model", "data")}
            state = cls(chain_id=int(data["chain_id"]), app=Web3.to_checksum_address(data["app"]),
                        job=int(data["job"]), sender=Web3.to_checksum_address(data["sender"]),
                        salt=bytes.fromhex(str(data["salt"]).removeprefix("0x")),
                        stake=int(data.get("stake") or 0), token=data.get("token"),
                        stage=str(data.get("stage", NEW)), commit_input=_opt_int(data.get("commit_input")),
                        submission=_opt_int(data.get("submission")),
                        reveal_input=_opt_int(data.get("reveal_input")), **contents)
        except (KeyError, TypeError, ValueError) as exc:
            raise ClientError(f"malformed submission state: {exc}") from exc
        if data.get("commitment") and data["commitment"] != "0x" + state.commitment.hex():
            raise ClientError("the submission state's commitment does not match its contents and salt")
        return state


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def state_directory(environ: Mapping[str, str] | None = None) -> Path:
    """``$MLMARKET_STATE_DIR/submissions`` (default ``~/.mlmarket/submissions``)."""
    env = os.environ if environ is None else environ
    root = env.get("MLMARKET_STATE_DIR")
    return (Path(root).expanduser() if root else Path.home() / ".mlmarket") / "submissions"


class StateStore:
    """The state files of one directory (module doc)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def path(self, state: SubmissionState) -> Path:
        """Where ``state`` is kept."""
        return self.directory / state.name

    def save(self, state: SubmissionState) -> SubmissionState:
        """Writes ``state`` atomically (readable by its owner only); returns it."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path(state)
        temporary = path.with_suffix(".part")
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(state.to_json(), handle, indent=2, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except OSError as exc:
            raise ClientError(f"cannot write the submission state {path}: {exc.strerror or exc}") from exc
        return state

    def delete(self, state: SubmissionState) -> None:
        """Removes ``state``'s file (the submission is revealed, or can no longer be)."""
        self.path(state).unlink(missing_ok=True)

    def all(self, *, chain_id: int, app: str, sender: str) -> list[SubmissionState]:
        """The states kept for ``sender`` on this chain and application, oldest file first."""
        prefix = f"{chain_id}-{app.lower()}-"
        found = []
        paths = sorted(self.directory.glob(f"{prefix}*{SUFFIX}"), key=lambda p: p.stat().st_mtime) \
            if self.directory.is_dir() else []
        for path in paths:
            try:
                state = SubmissionState.from_json(json.loads(path.read_text()))
            except (OSError, ValueError, ClientError):
                continue  # another tool's or a damaged file: never guess
            if state.sender.lower() == sender.lower():
                found.append(state)
        return found

    def find(self, *, chain_id: int, app: str, sender: str, job: int, model: Content | None,
             data: Content | None) -> SubmissionState | None:
        """The kept state of the same submission (same job and contents), if any."""
        return next((s for s in self.all(chain_id=chain_id, app=app, sender=sender)
                     if s.same_submission(job, model, data)), None)
