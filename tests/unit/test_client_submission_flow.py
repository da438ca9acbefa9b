"""The commit -> upload -> reveal submission (mlmarket.client.submission_flow) against a small fake
machine that decodes what is sent with the protocol's ABI and answers like the backend: the commit
creates the submission, chunks fill the store, the reveal must hash to a commitment of its sender.
Interruptions are exceptions raised by the fake chain at a chosen input."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import eth_abi
import pytest
from eth_hash.auto import keccak
from mlmarket.client import actions
from mlmarket.client import submission_flow as flow
from mlmarket.client.accounts import dev_signer
from mlmarket.client.chain import InputRef, InputRequest, TxResult
from mlmarket.client.config import NodeConfig
from mlmarket.client.errors import ClientError, InputFailed
from mlmarket.client.outputs import DecodedNotice, DecodedReport, InputOutcome, decode_notice_payload
from mlmarket.client.submission_state import COMMITTED, COMMITTING, REVEALING, StateStore, SubmissionState

from dapp.codec import abi
from dapp.codec.chunks import read_chunk
from dapp.codec.cid import cid_of, cid_to_text

APP = "0x9772cB7D621f14F21846f9b814ee2CC57843CF93"
TOKEN = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
SENDER = dev_signer(1).address
MODEL = b'{"estimator":"LogisticRegression","params":{}}'
DATA = random.Random(7).randbytes(200_000)  # incompressible: several chunks


class Interrupted(Exception):
    """Stands for Ctrl-C or a crash at a chosen input."""


@dataclass
class Machine:
    """What the fake node knows, and every input it was sent (decoded)."""

    stake: int = 0
    balance: int = 0
    sent: list[tuple[str, tuple[Any, ...], InputRequest]] = field(default_factory=list)
    outcomes: dict[int, InputOutcome] = field(default_factory=dict)
    notices: list[DecodedNotice] = field(default_factory=list)
    received: dict[str, int] = field(default_factory=dict)
    stored: set[str] = field(default_factory=set)
    commitments: dict[bytes, int] = field(default_factory=dict)
    revealed: set[bytes] = field(default_factory=set)
    fail_at: Callable[[str, tuple[Any, ...]], bool] = lambda name, args: False

    def names(self) -> list[str]:
        return [name for name, _, _ in self.sent]

    def process(self, sender: str, request: InputRequest) -> int:
        function, args = abi.inputs().decode(request.payload)
        if self.fail_at(function.name, args):
            raise Interrupted(function.name)
        self.sent.append((function.name, args, request))
        index = len(self.sent)
        out: list[tuple[str, tuple[Any, ...]]] = []
        error = None
        if function.name == "commitSubmission":
            job, commitment = args
            if commitment in self.commitments or commitment in self.revealed:
                error = "duplicate_commitment"
            elif request.amount + self.balance < self.stake:
                error = "insufficient_balance"
            else:
                sub = len(self.commitments) + 1
                self.commitments[commitment] = sub
                out.append(("SubmissionCommitted", (job, sub, sender, commitment)))
        elif function.name in ("uploadChunk", "uploadChunkCoded"):
            cid, size, offset, data = read_chunk(request.payload)
            text = cid_to_text(cid)
            assert offset == self.received.get(text, 0), "a chunk must start where the machine stopped"
            self.received[text] = offset + len(data)
            if self.received[text] == size:
                self.stored.add(text)
                del self.received[text]
                out.append(("ContentStored", (cid, size, sender)))
        elif function.name in ("revealSubmission", "revealSubmissionInline"):
            job, model_cid, data_cid, salt = args[:4]
            commitment = keccak(eth_abi.encode(["address", "uint256", "bytes", "bytes", "bytes32"],
                                               [sender, job, model_cid, data_cid, salt]))
            sub = self.commitments.pop(commitment, None)
            if commitment in self.revealed:
                error = "already_revealed"
            elif sub is None:
                error = "bad_reveal"
            else:
                self.revealed.add(commitment)
                for carried in args[4:]:  # revealSubmissionInline: the contents it carries
                    if carried and cid_to_text(cid_of(carried)) not in self.stored:
                        self.stored.add(cid_to_text(cid_of(carried)))
                        out.append(("ContentStored", (cid_of(carried), len(carried), sender)))
                out += [("SubmissionReceived", (job, sub, sender, model_cid, data_cid, self.stake)),
                        ("SubmissionScored", (job, sub, sender, model_cid, data_cid, 930_000, True)),
                        ("RewardPaid", (job, sub, sender, TOKEN, 10 * 10**18))]
        notices = []
        for name, values in out:
            payload = abi.notices().encode(name, *values)
            notices.append(DecodedNotice(len(self.notices), index, *decode_notice_payload(payload), payload))
            self.notices.append(notices[-1])
        reports = (DecodedReport(0, index, b"", {"ok": False, "error": {"code": error, "message": error}}),) \
            if error else ()
        self.outcomes[index] = InputOutcome(index, "REJECTED" if error else "ACCEPTED", tuple(notices), (), reports)
        return index


class FakeChain:
    def __init__(self, machine: Machine) -> None:
        self.machine = machine

    def send_input(self, request: InputRequest) -> InputRef:
        return InputRef(self.machine.process(SENDER, request), TxResult("0x" + "ab" * 32, 1, 21_000))

    def chain_id(self) -> int:
        return 31337

    def decimals_of(self, token: str) -> int:
        return 18


class FakeReader:
    def __init__(self, machine: Machine) -> None:
        self.machine = machine

    def wait_for_input(self, index: int, *, timeout: float = 300.0, poll: float = 0.1,
                       on_wait: Any = None) -> InputOutcome:
        return self.machine.outcomes[index]


class FakeMarket:
    """The part of ``Market`` the flow uses."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.config = NodeConfig("http://x", "http://x/rpc", "http://x/inspect", 31337,
                                 {"Application": APP, "Token": TOKEN})
        self.chain = FakeChain(machine)
        self.reader = FakeReader(machine)
        self.account = SENDER
        self.signer = f"dev account 1 ({SENDER})"
        self.wait_timeout = 1.0

    def wait(self, ref: InputRef, *, check: bool = True, on_wait: Any = None) -> Any:
        outcome = self.machine.outcomes[ref.index]
        if check and outcome.error:
            raise InputFailed(outcome.error, outcome=outcome)
        return outcome

    def outputs(self, *, input_index: int | None = None, states: bool = True) -> list[Any]:
        return list(self.machine.notices)

    def content_info(self, cid: str) -> dict[str, Any] | None:
        return {"cid": cid} if cid in self.machine.stored else None

    def upload_received(self, cid: str) -> int:
        return self.machine.received.get(cid, 0)

    def query(self, path: str) -> Any:
        if path.startswith("jobs/"):
            return {"ok": True, "job": {"id": 1, "token": TOKEN.lower(), "spec": {"stake": str(self.machine.stake)}}}
        if path.startswith("balances/"):
            return {"ok": True, "balances": {TOKEN.lower(): str(self.machine.balance)}}
        if path.startswith("preflight/"):  # mlmarket submit's pre-flight: nothing to object to here
            return {"ok": True, "accepted": True, "problems": []}
        raise AssertionError(path)


def contents() -> tuple[Any, Any]:
    return flow.content_of("model", data=MODEL, path="model.json"), flow.content_of("data", data=DATA, path="train.csv")


def read(content: Any) -> bytes:
    return {"model": MODEL, "data": DATA}[content.role]


def submit(market: FakeMarket, store: StateStore, **kw: Any) -> flow.FlowResult:
    model, data = contents()
    state, resumed = flow.begin(market, store, job=1, model=model, data=data, **kw)
    return flow.run(market, store, state, read, resumed=resumed)


def chunk_offsets(machine: Machine, since: int = 0) -> list[tuple[str, int]]:
    return [(cid_to_text(args[0]), args[2]) for name, args, _ in machine.sent[since:] if name == "uploadChunkCoded"]


def test_actions_encode_the_commit_with_its_stake_deposit_and_the_reveal() -> None:
    commitment = bytes(range(32))
    plain = actions.commit_submission(3, commitment)
    assert plain.token is None and plain.payload[:4] == keccak(b"commitSubmission(uint256,bytes32)")[:4]
    assert eth_abi.decode(["uint256", "bytes32"], plain.payload[4:]) == (3, commitment)
    staked = actions.commit_submission(3, commitment, stake=5, token=TOKEN)
    assert (staked.token, staked.amount, staked.payload) == (TOKEN, 5, plain.payload)
    reveal = actions.reveal_submission(3, b"\x01m", b"", b"\x07" * 32)
    assert reveal.payload[:4] == keccak(b"revealSubmission(uint256,bytes,bytes,bytes32)")[:4]
    args = eth_abi.decode(["uint256", "bytes", "bytes", "bytes32"], reveal.payload[4:])
    assert args == (3, b"\x01m", b"", b"\x07" * 32)
    with pytest.raises(ClientError, match="32 bytes"):
        actions.commit_submission(3, b"\x00" * 31)
    with pytest.raises(ClientError, match="32 bytes"):
        actions.reveal_submission(3, b"\x01", b"", b"\x00" * 5)
    with pytest.raises(ClientError, match="a model, training data"):
        actions.reveal_submission(3, b"", b"", b"\x00" * 32)
    with pytest.raises(ClientError, match="token"):
        actions.commit_submission(3, commitment, stake=5)
    assert not hasattr(actions, "submit")


def test_one_run_commits_uploads_reveals_and_forgets_its_state(tmp_path: Path) -> None:
    machine, store = Machine(), StateStore(tmp_path)
    result = submit(FakeMarket(machine), store)
    names = machine.names()
    assert names[0] == "commitSubmission" and names[-1] == "revealSubmissionInline"
    assert set(names[1:-1]) == {"uploadChunkCoded"} and len(names) - 2 >= 4
    uploaded = {cid_to_text(args[0]) for name, args, _ in machine.sent if name == "uploadChunkCoded"}
    assert uploaded == {cid_to_text(cid_of(DATA))}  # the small model travels in the reveal, the data is uploaded
    assert machine.sent[-1][1][4:] == (MODEL, b"")
    assert machine.stored == {cid_to_text(cid_of(MODEL)), cid_to_text(cid_of(DATA))}
    assert result.state.submission == 1 and result.outcome.first("SubmissionScored")["accepted"] is True
    assert list(tmp_path.iterdir()) == []  # revealed: nothing left to keep


def test_the_state_file_holds_the_salt_before_the_commit_leaves(tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []

    def look(name: str, args: tuple[Any, ...]) -> bool:
        if name == "commitSubmission":
            (path,) = tmp_path.iterdir()
            seen.append(json.loads(path.read_text()))
        return False

    machine = Machine(fail_at=look)
    submit(FakeMarket(machine), StateStore(tmp_path))
    (state,) = seen
    salt = bytes.fromhex(state["salt"][2:])
    expected = keccak(eth_abi.encode(["address", "uint256", "bytes", "bytes", "bytes32"],
                                     [SENDER, 1, cid_of(MODEL), cid_of(DATA), salt]))
    assert machine.sent[0][1] == (1, expected) and state["commitment"] == "0x" + expected.hex()
    assert state["model"]["path"] == "model.json" and state["data"]["cid"] == cid_to_text(cid_of(DATA))


def test_an_interruption_after_the_commit_resumes_without_a_second_commit(tmp_path: Path) -> None:
    machine, store = Machine(), StateStore(tmp_path)
    machine.fail_at = lambda name, args: name == "uploadChunkCoded"  # stops right after the commit
    with pytest.raises(Interrupted):
        submit(FakeMarket(machine), store)
    (kept,) = store.all(chain_id=31337, app=APP, sender=SENDER)
    assert kept.stage == COMMITTED and kept.submission == 1
    machine.fail_at = lambda name, args: False
    result = submit(FakeMarket(machine), store)
    assert machine.names().count("commitSubmission") == 1 and result.resumed
    assert machine.names()[-1] == "revealSubmissionInline" and machine.outcomes[len(machine.sent)].error is None
    assert store.all(chain_id=31337, app=APP, sender=SENDER) == []


def test_an_interrupted_upload_resumes_with_only_the_missing_chunks(tmp_path: Path) -> None:
    machine, store = Machine(), StateStore(tmp_path)
    whole = submit(FakeMarket(Machine()), StateStore(tmp_path / "reference"))
    (data_upload,) = whole.uploads  # the model travels in the reveal
    all_chunks = len(data_upload.inputs)
    data_cid = cid_to_text(cid_of(DATA))
    machine.fail_at = lambda name, args: name == "uploadChunkCoded" and cid_to_text(args[0]) == data_cid and args[2] > 0
    with pytest.raises(Interrupted):  # the data's first chunk went through, the second did not
        submit(FakeMarket(machine), store)
    first_run = len(machine.sent)
    assert chunk_offsets(machine)[-1] == (data_cid, 0) and machine.received[data_cid] > 0
    machine.fail_at = lambda name, args: False
    submit(FakeMarket(machine), store)
    again = chunk_offsets(machine, first_run)
    assert machine.names().count("commitSubmission") == 1
    assert again and all(cid == data_cid and offset > 0 for cid, offset in again)
    assert len(again) == all_chunks - 1
    assert data_cid in machine.stored and machine.names()[-1] == "revealSubmissionInline"


def test_a_commit_whose_input_was_not_noted_is_found_by_its_notice(tmp_path: Path) -> None:
    machine, store = Machine(), StateStore(tmp_path)
    model, data = contents()
    state, _ = flow.begin(FakeMarket(machine), store, job=1, model=model, data=data)
    machine.process(SENDER, actions.commit_submission(1, state.commitment))  # sent, then the run died
    store.save(state.at(COMMITTING))
    submit(FakeMarket(machine), store)
    assert machine.names().count("commitSubmission") == 1 and machine.names()[-1] == "revealSubmissionInline"


def test_a_stake_short_of_the_free_balance_is_deposited_with_the_commit(tmp_path: Path) -> None:
    machine = Machine(stake=3000, balance=1000)
    amount, token = flow.stake_shortfall(FakeMarket(machine), 1)
    assert (amount, token) == (2000, TOKEN.lower())
    submit(FakeMarket(machine), StateStore(tmp_path), stake=amount, token=token)
    commit = machine.sent[0][2]
    assert commit.token == TOKEN.lower() and commit.amount == 2000
    assert flow.stake_shortfall(FakeMarket(Machine(stake=3000, balance=5000)), 1) == (0, None)


def test_a_failed_commit_forgets_the_state_and_says_why(tmp_path: Path) -> None:
    machine, store = Machine(stake=10), StateStore(tmp_path)
    with pytest.raises(InputFailed, match="insufficient_balance"):
        submit(FakeMarket(machine), store)
    assert machine.names() == ["commitSubmission"] and list(tmp_path.iterdir()) == []


def test_a_bad_reveal_forgets_the_state(tmp_path: Path) -> None:
    machine, store = Machine(), StateStore(tmp_path)
    model, data = contents()
    state, _ = flow.begin(FakeMarket(machine), store, job=1, model=model, data=data)
    machine.commitments.clear()
    machine.fail_at = lambda name, args: name.startswith("revealSubmission") and machine.commitments.clear() is not None
    with pytest.raises(InputFailed, match="bad_reveal"):
        flow.run(FakeMarket(machine), store, state, read)
    assert list(tmp_path.glob("*.json")) == []


def test_a_file_changed_since_the_commit_stops_and_keeps_the_state(tmp_path: Path) -> None:
    machine, store = Machine(), StateStore(tmp_path)
    model, data = contents()
    state, _ = flow.begin(FakeMarket(machine), store, job=1, model=model, data=data)
    with pytest.raises(ClientError, match="changed since the commit"):
        flow.run(FakeMarket(machine), store, state, lambda c: read(c) + b"!")
    (kept,) = store.all(chain_id=31337, app=APP, sender=SENDER)
    assert kept.stage == COMMITTED and kept.salt == state.salt


def test_the_state_round_trips_and_refuses_a_tampered_commitment(tmp_path: Path) -> None:
    model, data = contents()
    state = SubmissionState(31337, APP, 1, SENDER, b"\x05" * 32, model, data, 7, TOKEN, COMMITTED, 3, 1, None)
    again = SubmissionState.from_json(json.loads(json.dumps(state.to_json())))
    assert again == state
    tampered = {**state.to_json(), "salt": "0x" + "06" * 32}
    with pytest.raises(ClientError, match="does not match"):
        SubmissionState.from_json(tampered)
    other = SubmissionState(31337, APP, 2, SENDER, b"\x05" * 32, model, None)
    store = StateStore(tmp_path)
    store.save(state), store.save(other)
    assert store.find(chain_id=31337, app=APP, sender=SENDER, job=1, model=model, data=data) == state
    assert store.find(chain_id=31337, app=APP, sender=SENDER, job=1, model=model, data=None) is None
    assert store.all(chain_id=31337, app=APP, sender=dev_signer(2).address) == []


def test_a_commit_sent_twice_after_a_lost_trace_continues_with_the_first(tmp_path: Path) -> None:
    machine, store = Machine(), StateStore(tmp_path)
    model, data = contents()
    state, _ = flow.begin(FakeMarket(machine), store, job=1, model=model, data=data)
    machine.process(SENDER, actions.commit_submission(1, state.commitment))  # sent by a run that then died
    machine.notices.clear()  # before the node showed its notice, and before the state noted it
    market = FakeMarket(machine)
    market.outputs = lambda **kw: [DecodedNotice(0, 1, *decode_notice_payload(payload), payload)  # type: ignore
                                   for payload in [abi.notices().encode("SubmissionCommitted", 1, 1, SENDER,
                                                                        state.commitment)]]
    result = flow.run(market, store, state, read)
    assert machine.names().count("commitSubmission") == 2 and result.state.submission == 1
    assert result.outcome.first("SubmissionScored")["accepted"] is True


def test_a_reveal_sent_again_shows_the_first_reveals_outcome(tmp_path: Path) -> None:
    machine, store = Machine(), StateStore(tmp_path)
    model, data = contents()
    state, _ = flow.begin(FakeMarket(machine), store, job=1, model=model, data=data)
    state, _ = flow.upload_contents(FakeMarket(machine), store, flow.commit(FakeMarket(machine), store, state,
                                                                            print), read, print)
    first = machine.process(SENDER, actions.reveal_submission(1, state.model_cid, state.data_cid, state.salt))
    hidden = [n for n in machine.notices if n.input_index == first]
    machine.notices[:] = [n for n in machine.notices if n.input_index != first]  # not shown by the node yet
    market = FakeMarket(machine)
    calls = []

    def outputs(**kw: Any) -> list[Any]:
        calls.append(1)
        return list(machine.notices) + (hidden if len(calls) > 1 else [])

    market.outputs = outputs  # type: ignore[method-assign]
    outcome = flow.reveal(market, store, store.save(state.at(REVEALING)), print)
    assert outcome.index == first and outcome.error is None and machine.names().count("revealSubmission") == 2
    assert list(tmp_path.glob("*.json")) == []


def test_contents_held_in_memory_are_submitted_in_one_call(tmp_path: Path) -> None:
    machine = Machine()
    result = flow.submit_bytes(FakeMarket(machine), StateStore(tmp_path), 1, model=MODEL, data=DATA)
    assert machine.names()[0] == "commitSubmission" and machine.names()[-1] == "revealSubmissionInline"
    assert result.outcome.first("SubmissionScored") is not None and list(tmp_path.iterdir()) == []
