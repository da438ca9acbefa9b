"""A market driver: uploads, deposits and job inputs through the real dispatch path."""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

from dapp.app import App
from dapp.codec import abi
from dapp.codec.chunks import plan_upload
from dapp.codec.commitment import submission_commitment, test_commitment
from dapp.config import Config
from dapp.domain.commands import JobSpec
from dapp.domain.limits import Limits
from dapp.domain.values import Address
from tests.support.fake_engine import FakeEngine
from tests.support.rollup import TOKEN, Driver

SPONSOR = Address(b"\x5a" * 20)
CAROL = Address(b"\xc0" * 20)
DAVE = Address(b"\xd0" * 20)
NOW = 1_700_000_000
INPUTS = abi.inputs()


def spec(**overrides: Any) -> JobSpec:
    """A valid threshold job spec; override any field."""
    base = dict(
        title="demo", policy="threshold", task="classification", label="target", metric="accuracy",
        validation_cid=b"", base_model_cid=b"", min_score=800_000, min_gain=0, reward_per_accept=100,
        deadline=NOW + 1000, accept_by_default=False, test_commitment=bytes(32), reveal_window=0, rounds=0,
        round_quota=0, round_duration=0, tolerance=0, stake=0, max_submissions=0, gated=False,
    )
    base.update(overrides)
    return JobSpec(**base)


def spec_tuple(s: JobSpec) -> tuple:
    return tuple(getattr(s, f.name) for f in fields(JobSpec))


class Market(Driver):
    """``Driver`` plus market helpers; the engine is the fake one unless given."""

    def __init__(self, engine: Any = None, limits: Limits | None = None, **kwargs: Any) -> None:
        config = Config(limits=limits) if limits is not None else Config()
        super().__init__(app=App(config, engine=engine or FakeEngine()), timestamp=NOW, **kwargs)

    def put(self, sender: Address, data: bytes) -> bytes:
        """Uploads ``data``; returns its binary CID."""
        plan = plan_upload(data)
        for chunk in plan.chunks:
            done = self.send(sender, chunk.payload)
            assert done.accepted, done.reports
        return plan.cid

    def put_model(self, sender: Address, score: float, **extra: Any) -> bytes:
        return self.put(sender, json.dumps({"score": score, **extra}).encode())

    def call(self, sender: Address, name: str, *args: Any, timestamp: int | None = None):
        return self.send(sender, INPUTS.encode(name, *args), timestamp=timestamp)

    def create_job(self, budget: int = 1000, *, sponsor: Address = SPONSOR, **overrides: Any) -> int:
        """Deposits ``budget`` with a createJob attached; returns the new job id."""
        if "validation_cid" not in overrides:
            overrides["validation_cid"] = self.put(sponsor, b"x,target\n1,0\n")
        s = spec(**overrides)
        done = self.deposit(TOKEN, sponsor, budget, INPUTS.encode("createJob", TOKEN.raw, budget, spec_tuple(s)))
        assert done.accepted
        errors = [json.loads(r) for r in done.reports if not json.loads(r).get("ok", True)]
        assert not errors, errors
        last = self.inspect("jobs")["total"] - 1  # the newest job ends the list (pages: offset, limit)
        return self.inspect(f"jobs?offset={last}")["jobs"][0]["id"]

    def commit(self, sender: Address, job: int, model: bytes, data: bytes = b"", **kw: Any) -> tuple[Any, bytes]:
        """Commits to a submission (``commitSubmission``) with a fresh salt; (result, salt)."""
        self._salts = getattr(self, "_salts", 0) + 1
        salt = self._salts.to_bytes(32, "big")
        commitment = submission_commitment(sender.hex, job, model, data, salt)
        return self.call(sender, "commitSubmission", job, commitment, **kw), salt

    def reveal(self, sender: Address, job: int, model: bytes, data: bytes, salt: bytes, **kw: Any):
        """``revealSubmission`` of a commitment made with :meth:`commit`."""
        return self.call(sender, "revealSubmission", job, model, data, salt, **kw)

    def submit(self, sender: Address, job: int, model: bytes, data: bytes = b"", **kw: Any):
        """A whole submission: commit, then reveal (the reveal's result; the commit's if it failed)."""
        committed, salt = self.commit(sender, job, model, data, **kw)
        if not committed.accepted:
            return committed
        return self.reveal(sender, job, model, data, salt, **kw)

    def job(self, job_id: int) -> dict[str, Any]:
        return self.inspect(f"jobs/{job_id}")

    def commitment(self, test_cid: bytes, salt: bytes) -> bytes:
        return test_commitment(test_cid, salt)
