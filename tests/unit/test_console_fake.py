"""A fake ``Market`` for the console's route tests, and a check that it mirrors the real one.

``World`` holds what the fake node "knows" (inspect answers, outputs, what was sent); the console is
built with ``Settings(market_factory=world.factory)``. Payloads that the console sends are recorded as
``InputRequest`` values so tests can decode them with ``dapp.codec.abi`` (an independent oracle).
"""

from __future__ import annotations

import inspect as pyinspect
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from mlmarket.client.accounts import dev_signer
from mlmarket.client.chain import Chain, InputRef, InputRequest, TxResult
from mlmarket.client.config import NodeConfig
from mlmarket.client.errors import InspectFailed
from mlmarket.client.market import Market, Sent
from mlmarket.client.outputs import DecodedNotice, DecodedReport, DecodedVoucher, InputOutcome
from mlmarket.client.reader import ReaderClient
from mlmarket.console import create_app
from mlmarket.console.settings import Settings

TOKEN = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
APP = "0x9772cB7D621f14F21846f9b814ee2CC57843CF93"
ETHER = "0x" + "00" * 20
TX_HASH = "0x" + "ab" * 32


def node_config(rpc_url: str = "http://127.0.0.1:8545", chain_id: int = 31337) -> NodeConfig:
    return NodeConfig(rpc_url=rpc_url, reader_url="http://127.0.0.1:6751/rpc",
                      inspect_url="http://127.0.0.1:6751/inspect", chain_id=chain_id,
                      addresses={"Application": APP, "Token": TOKEN, "InputBox": "0x" + "11" * 20})


@dataclass
class World:
    """The fake node and chain shared by every fake market."""

    config: NodeConfig = field(default_factory=node_config)
    answers: dict[str, Any] = field(default_factory=dict)
    outputs: list[Any] = field(default_factory=list)
    sent: list[tuple[str, InputRequest]] = field(default_factory=list)
    prepared: list[tuple[str, InputRequest]] = field(default_factory=list)
    executed: list[tuple[str, int]] = field(default_factory=list)
    stored: dict[str, int] = field(default_factory=dict)
    received: dict[str, int] = field(default_factory=dict)
    outcome_notices: list[DecodedNotice] = field(default_factory=list)
    outcome_reports: list[DecodedReport] = field(default_factory=list)
    outcome_vouchers: list[DecodedVoucher] = field(default_factory=list)
    preflights: list[str] = field(default_factory=list)
    preflight_problems: list[dict[str, str]] = field(default_factory=list)
    status: str = "ACCEPTED"
    chain_id: int = 31337
    now: int = 1_800_000_000
    wallet_tokens: int = 70 * 10**18
    """What every wallet holds of the test token (Ether: 0.3)."""
    payout_vouchers: bool = False
    """Every account's payout choice, as inspect ``balances/<account>`` answers it."""

    def factory(self, kind: str, value: Any) -> FakeMarket:
        account = dev_signer(int(value)).address if kind == "dev" else value
        return FakeMarket(self, account)

    def outcome(self, index: int) -> InputOutcome:
        return InputOutcome(index, self.status, tuple(self.outcome_notices), tuple(self.outcome_vouchers),
                            tuple(self.outcome_reports))


class FakeReader:
    def __init__(self, world: World) -> None:
        self.world = world

    def wait_for_input(self, index: int, *, timeout: float = 300.0, poll: float = 0.1,
                       on_wait: Any = None) -> InputOutcome:
        return self.world.outcome(index)


class FakeChain:
    def __init__(self, world: World, account: str | None) -> None:
        self.world = world
        self.account = account

    def prepare_input(self, request: InputRequest, sender: str) -> list[dict[str, Any]]:
        self.world.prepared.append((sender, request))
        tx = {"from": sender, "to": self.world.config.addresses["InputBox"], "data": "0x" + request.payload.hex(),
              "value": request.amount if request.token == ETHER else 0, "gas": 100_000, "chainId": 31337}
        return [tx]

    def send_input(self, request: InputRequest) -> InputRef:
        self.world.sent.append((str(self.account), request))
        return InputRef(len(self.world.sent), TxResult(TX_HASH, 10, 50_000))

    def prepare(self, call: Any, sender: str, value: int = 0, *, estimate: bool = True) -> dict[str, Any]:
        return {"from": sender, "to": APP, "data": "0x" + call.hex(), "value": value, "gas": 90_000}

    def execute_output_call(self, output: bytes, index: int, siblings: Any) -> bytes:
        return output

    def decimals_of(self, token: str) -> int:
        return 18

    def contract(self, kind: str, address: str) -> Any:
        """An ERC-20 whose ``symbol()`` is ``TEST`` (the only contract the console reads directly)."""
        assert kind == "ERC20"
        return SimpleNamespace(functions=SimpleNamespace(symbol=lambda: SimpleNamespace(call=lambda: "TEST")))

    def balance_of(self, token: str, account: str) -> int:
        return self.world.wallet_tokens if int(token, 16) else 3 * 10**17

    def chain_id(self) -> int:
        return self.world.chain_id

    def input_index(self, tx_hash: str) -> int:
        return 42

    def latest_timestamp(self) -> int:
        return self.world.now


class FakeMarket:
    """The subset of ``Market`` the console uses (checked against the real class below)."""

    def __init__(self, world: World, account: str | None) -> None:
        self.world = world
        self._account = account
        self.config = world.config
        self.chain = FakeChain(world, account)
        self.reader = FakeReader(world)
        self.signer = None
        self.wait_timeout = 1.0

    @property
    def account(self) -> str:
        assert self._account is not None
        return self._account

    def query(self, query: str) -> Any:
        if query.startswith("uploads/"):
            return {"ok": True, "uploads": [{"cid": c, "received": r, "size": 10**6} for c, r in self.world.received.items()]}
        if query.startswith("contents/"):
            cid = query.split("/")[1]
            if cid in self.world.stored:
                return {"ok": True, "cid": cid, "size": self.world.stored[cid]}
            raise InspectFailed("not stored", code="not_found")
        if query.startswith("preflight/"):  # the dry runs: every problem the world was told to find
            self.world.preflights.append(query)
            return {"ok": True, "accepted": not self.world.preflight_problems, "problems": self.world.preflight_problems}
        if query.startswith("balances/"):
            return {"ok": True, "balances": {TOKEN.lower(): "5000000000000000000"},
                    "payout_vouchers": self.world.payout_vouchers}
        if query in self.world.answers:
            return self.world.answers[query]
        raise InspectFailed(f"{query}: not found", code="not_found")

    def send(self, request: InputRequest, *, check: bool = True, on_wait: Any = None) -> Sent:
        self.world.sent.append((self.account, request))
        index = len(self.world.sent)
        return Sent(InputRef(index, TxResult(TX_HASH, 10, 50_000)), self.world.outcome(index))

    def wait(self, ref: InputRef, *, check: bool = True, on_wait: Any = None) -> Sent:
        return Sent(ref, self.world.outcome(ref.index))

    def now(self) -> int:
        return self.world.now

    def outputs(self, *, input_index: int | None = None, states: bool = True) -> list[Any]:
        return [o for o in self.world.outputs if input_index is None or o.input_index == input_index]

    def execute(self, index: int, *, wait: bool = True, force: bool = True) -> tuple[DecodedVoucher, TxResult]:
        self.world.executed.append((self.account, index))
        return self.wait_executable(index), TxResult(TX_HASH, 11, 60_000)

    def wait_executable(self, index: int, *, timeout: float | None = None, force: bool = True,
                        poll: float = 0.25) -> DecodedVoucher:
        return next(o for o in self.world.outputs if o.index == index)

    def content_info(self, cid: str) -> dict[str, Any] | None:
        return {"cid": cid} if cid in self.world.stored else None

    def upload_received(self, cid: str) -> int:
        return self.world.received.get(cid, 0)


def voucher(index: int = 3, input_index: int = 2, state: str = "executable") -> DecodedVoucher:
    return DecodedVoucher(index=index, input_index=input_index, destination=TOKEN.lower(), value=0, payload=b"\x01",
                          call={"function": "transfer", "token": TOKEN.lower(), "to": "0x" + "70" * 20,
                                "amount": str(10**19)}, raw=b"\x02\x03", siblings=(b"\x00" * 32,), state=state)


JOB = {"id": 1, "policy": "threshold", "status": "open", "outcome": None, "budget": "20000000000000000000",
       "paid": "10000000000000000000", "deadline": 1_800_003_600, "metric": "accuracy", "best_score": 0.95,
       "submissions": 2, "token": TOKEN.lower(), "sponsor": "0x" + "5a" * 20, "model_cid": None, "round": 0,
       "spec": {"title": "<script>alert(1)</script>", "task": "classification", "label": "label",
                "min_score": 800000, "reward_per_accept": "10000000000000000000", "stake": "0",
                "validation_cid": "bafkreiexample", "test_commitment": "0x" + "00" * 32}}
SUBS = [{"id": 1, "contributor": "0x" + "c0" * 20, "score": 0.95, "status": "accepted", "round": 0,
         "reward": "10000000000000000000", "model_cid": "bafkm", "data_cid": "bafkd", "error": None},
        {"id": 2, "contributor": "0x" + "d0" * 20, "score": 0.7, "status": "rejected", "round": 0,
         "reward": "0", "model_cid": "bafkm2", "data_cid": None, "error": None}]
HISTORY = [{"type": "JobCreated", "job_id": 1, "input_index": 1, "timestamp": 1_800_000_000, "budget": "1",
            "sponsor": "0x" + "5a" * 20, "token": TOKEN.lower()},
           {"type": "SubmissionReceived", "job_id": 1, "submission_id": 1, "input_index": 2, "timestamp": 1},
           {"type": "ModelPublished", "job_id": 1, "round": 0, "score": 950000, "input_index": 2, "timestamp": 1}]


def populated_world() -> World:
    """A world with one threshold job (two submissions, a published model), a notice and a voucher."""
    w = World()
    w.answers.update({"jobs": {"ok": True, "jobs": [JOB]}, "jobs/1": {"ok": True, "job": JOB, "submissions": SUBS},
                      "jobs/1/leaderboard": {"ok": True, "leaderboard": SUBS[:1]},
                      "jobs/1/history": {"ok": True, "history": HISTORY},
                      "jobs/1/access": {"ok": True, "job": 1, "gated": False, "sponsor": JOB["sponsor"], "requests": [],
                                        "granted": [], "delegates": []}})
    w.outputs[:] = [DecodedNotice(1, 1, "JobCreated", {"jobId": 1, "sponsor": "0x" + "5a" * 20, "token": TOKEN.lower(),
                                                       "budget": "30000000000000000000"}, b""), voucher()]
    return w


def make_client(world: World, tmp_path: Path, **settings: Any) -> tuple[Flask, FlaskClient]:
    """A console over ``world`` and its test client."""
    app = create_app({"TESTING": True, "CONSOLE_SETTINGS": Settings(
        environ={}, secret_key="test", upload_dir=tmp_path / "staged", market_factory=world.factory, **settings)})
    return app, app.test_client()


def csrf(client: FlaskClient) -> str:
    """The session's CSRF token (creating the session by loading a page)."""
    client.get("/outputs")
    with client.session_transaction() as session:
        return session["csrf_token"]


@pytest.mark.parametrize("fake, real", [(FakeMarket, Market), (FakeChain, Chain), (FakeReader, ReaderClient)])
def test_the_fake_market_mirrors_the_real_signatures(fake: type, real: type) -> None:
    for name, member in vars(fake).items():
        if name.startswith("_") or not callable(member):
            continue
        assert hasattr(real, name), f"{real.__name__} has no {name}: the fake drifted"
        fake_params = list(pyinspect.signature(member).parameters)
        real_params = list(pyinspect.signature(getattr(real, name)).parameters)
        assert fake_params == real_params, f"{real.__name__}.{name}: {real_params} != {fake_params}"
