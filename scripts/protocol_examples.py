"""The example values quoted in docs/PROTOCOL.md, produced by running the real code.

Every example block of the document sits between ``<!-- example:NAME -->`` and
``<!-- /example:NAME -->``; this script computes each block by driving the real ``App`` (real ML
engine, real codecs) through scripted sessions built with the helpers of ``tests/support``, so no
example value is ever typed by hand.

    .venv/bin/python scripts/protocol_examples.py            # print every block
    .venv/bin/python scripts/protocol_examples.py --write    # refresh the blocks in docs/PROTOCOL.md
    .venv/bin/python scripts/protocol_examples.py --check    # exit 1 if a block is stale
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "PROTOCOL.md"
sys.path[:0] = [str(ROOT), str(ROOT / "frontend-console")]

import numpy as np  # noqa: E402

from dapp.app import App, Result  # noqa: E402
from dapp.codec import abi  # noqa: E402
from dapp.codec.chunk_codecs import ChunkCodec, codec_byte  # noqa: E402
from dapp.codec.chunks import MAX_PAYLOAD, Chunk, max_data_bytes, plan_upload  # noqa: E402
from dapp.codec.cid import cid_of, cid_to_text  # noqa: E402
from dapp.codec.commitment import submission_commitment, test_commitment  # noqa: E402
from dapp.codec.hexbytes import to_hex  # noqa: E402
from dapp.codec.metadata import V1, V2  # noqa: E402
from dapp.codec.outputs import Notice, Voucher  # noqa: E402
from dapp.config import Config  # noqa: E402
from dapp.domain.values import ETHER, Address  # noqa: E402
from tests.support.market import CAROL, DAVE, NOW, SPONSOR, spec, spec_tuple  # noqa: E402
from tests.support.rollup import (APP, PORTALS, PORTALS_V1, TOKEN, erc20_deposit,  # noqa: E402
                                  ether_deposit, v1_metadata, v2_metadata)

INPUTS, NOTICES, TARGETS = abi.inputs(), abi.notices(), abi.voucher_targets()
NAMES = {SPONSOR: "sponsor", CAROL: "carol", DAVE: "dave", TOKEN: "token", APP: "dapp", ETHER: "ETH"}
DEADLINE = NOW + 3600


def codec_text(chunk: Chunk) -> str:
    """A chunk's codec byte and what it means, e.g. ``0x12 (bz2, columns)``."""
    name = chunk.codec.name.lower() + (", columns" if chunk.columns else "")
    return f"{codec_byte(chunk.codec, chunk.columns):#04x} ({name})"


# --- data ------------------------------------------------------------------------------------


def csv(rows: int, seed: int) -> bytes:
    """A small classification CSV: two integer features, label ``(x1 >= 5 and x2 >= 3)``, 10% noise."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 10, size=(rows, 2))
    y = ((x[:, 0] >= 5) & (x[:, 1] >= 3)) ^ (rng.random(rows) < 0.1)
    return ("x1,x2,target\n" + "".join(f"{a},{b},{int(c)}\n" for (a, b), c in zip(x, y))).encode()


VALIDATION, TRAIN, TEST = csv(40, 1), csv(80, 2), csv(40, 3)
MODEL = b'{"estimator": "DecisionTreeClassifier", "params": {"max_depth": 2}}'
WEAK = b'{"estimator": "DecisionTreeClassifier", "params": {"max_depth": 1}}'
NB = b'{"estimator": "GaussianNB"}'
PICKLE = b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00K\x01."  # pickle.dumps(1): never loaded
SALT = b"\x07" * 32


# --- a session on the real App ------------------------------------------------------------------

class Session:
    """Sends inputs straight to ``App.advance`` so outputs keep their real interleaved order."""

    def __init__(self, version: int = V2) -> None:
        from dapp.ml.engine import Engine

        self.app, self.version, self.index, self.now = App(Config(), engine=Engine()), version, 0, NOW
        self.log: list[tuple[int, Address, str, Result]] = []

    def send(self, sender: Address, payload: bytes, what: str, at: int | None = None) -> Result:
        self.now = self.now if at is None else at
        build = v2_metadata if self.version == V2 else v1_metadata
        result = self.app.advance(build(sender, self.index, self.now), to_hex(payload))
        self.log.append((self.index, sender, what, result))
        self.index += 1
        return result

    def call(self, sender: Address, name: str, *args, at: int | None = None) -> Result:
        return self.send(sender, INPUTS.encode(name, *args), f"{name}({', '.join(map(show, args))})", at)

    def deposit(self, sender: Address, amount: int, name: str = "", *args) -> Result:
        portals = PORTALS if self.version == V2 else PORTALS_V1
        data = INPUTS.encode(name, *args) if name else b""
        then = f" + {name}({', '.join(map(show, args))})" if name else ""
        return self.send(portals.erc20, erc20_deposit(TOKEN, sender, amount, data, v1=self.version == V1),
                         f"ERC20Portal deposit {amount} token by {show(sender)}{then}")

    def deposit_ether(self, sender: Address, amount: int, name: str = "", *args) -> Result:
        portals = PORTALS if self.version == V2 else PORTALS_V1
        data = INPUTS.encode(name, *args) if name else b""
        then = f" + {name}({', '.join(map(show, args))})" if name else ""
        return self.send(portals.ether, ether_deposit(sender, amount, data),
                         f"EtherPortal deposit {amount} wei by {show(sender)}{then}")

    def put(self, sender: Address, data: bytes) -> bytes:
        plan = plan_upload(data)
        for chunk in plan.chunks:
            self.send(sender, chunk.payload, f"uploadChunkCoded({cid_to_text(plan.cid)[:14]}…, size={plan.size}, "
                      f"offset={chunk.offset}, codec={codec_text(chunk)}, data=…)")
        return plan.cid

    def commit(self, sender: Address, job: int, model: bytes, data: bytes, at: int | None = None) -> Result:
        """``commitSubmission`` of ``(model, data)`` with a salt drawn from the session's input index
        (kept for :meth:`reveal`)."""
        self.salt = (self.index + 1).to_bytes(32, "big")
        commitment = submission_commitment(sender.hex, job, model, data, self.salt)
        return self.call(sender, "commitSubmission", job, commitment, at=at)

    def reveal(self, sender: Address, job: int, model: bytes, data: bytes, salt: bytes | None = None) -> Result:
        """``revealSubmission`` with ``salt``, by default the last :meth:`commit`'s."""
        return self.call(sender, "revealSubmission", job, model, data, salt or self.salt)

    def submit(self, sender: Address, job: int, model: bytes, data: bytes) -> Result:
        """A whole submission: commit, then reveal; the reveal's result (the commit's if refused)."""
        committed = self.commit(sender, job, model, data)
        return self.reveal(sender, job, model, data) if committed.accept else committed

    def job(self, **overrides) -> int:
        budget = overrides.pop("budget", 1000)
        s = spec(**{"validation_cid": self.put(SPONSOR, VALIDATION), "deadline": DEADLINE, **overrides})
        self.deposit(SPONSOR, budget, "createJob", TOKEN.raw, budget, spec_tuple(s))
        last = self.inspect("jobs")["total"] - 1  # the newest job ends the list (pages: offset, limit)
        return self.inspect(f"jobs?offset={last}")["jobs"][0]["id"]

    def inspect(self, query: str) -> dict:
        (report,) = self.app.inspect(to_hex(query.encode()))
        return json.loads(report.payload)


# --- rendering -------------------------------------------------------------------------------------

def show(value, name: str = "") -> str:
    """A compact, readable form of an ABI value (addresses by role, CIDs as text, spec elided)."""
    if isinstance(value, Address):
        return NAMES.get(value, value.hex)
    if isinstance(value, str) and re.fullmatch(r"0x[0-9a-f]{40}", value):
        return NAMES.get(Address.from_hex(value), value)
    if isinstance(value, bytes) and len(value) == 20 and Address(value) in NAMES:
        return NAMES[Address(value)]
    if isinstance(value, bytes):
        if name.endswith("Cid") or name == "cid" or value[:2] in (b"\x01\x55", b"\x01\x70"):
            return cid_to_text(value) if value else '""'
        return "0x" + value.hex() if len(value) <= 32 else f"<{len(value)} bytes>"
    if isinstance(value, tuple):
        return "(spec…)"
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value) if isinstance(value, str) else str(value)


def output_text(output, brief: bool = False) -> str:
    """One output as text; ``brief`` keeps names only (for the sequence table)."""
    if isinstance(output, Notice):
        function, args = NOTICES.decode(output.payload)
        if brief:
            return function.name
        return f"notice  {function.name}(" + ", ".join(
            f"{n}={show(v, n)}" for n, v in zip(function.arg_names, args)) + ")"
    if isinstance(output, Voucher):
        if not output.payload:
            body = f"value {output.value} wei to {show(output.destination)}"
        else:
            function, args = TARGETS.decode(output.payload)
            body = f"{show(output.destination)}.{function.name}({', '.join(show(a) for a in args)})"
        return f"voucher {body}" if not brief else f"voucher {body.split('(')[0]}"
    if not brief:
        return f"report  {output.payload.decode()}"
    answer = json.loads(output.payload)
    error = answer.get("error")
    if error is None:
        return "report payout choice" if "payouts" in answer else "report upload progress"
    return f"report error `{error['code']}`" + (" (deposit credited)" if "deposit" in error else "")


def transcript(session: Session, start: int = 0) -> str:
    lines = []
    for index, sender, what, result in session.log[start:]:
        status = "accepted" if result.accept else "REJECTED"
        lines.append(f"#{index} from {show(sender) if sender in NAMES else 'portal'}: {what}  -> {status}")
        lines += [f"    {output_text(o)}" for o in result.outputs]
    return "```text\n" + "\n".join(lines) + "\n```"


def fenced(value, lang: str = "json") -> str:
    text = value if isinstance(value, str) else json.dumps(value, indent=2, sort_keys=True)
    return f"```{lang}\n{text}\n```"


def table(header: tuple[str, ...], rows: list[tuple]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(map(str, r)) + " |" for r in rows])


# --- the blocks -------------------------------------------------------------------------------------

def selectors(functions) -> str:
    rows = [(f"`{f.name}`", f"`0x{f.selector.hex()}`", f"`{f.name}({','.join(f.arg_types)})`")
            for f in functions.by_name.values()]
    return table(("function", "selector", "canonical signature (what the selector hashes)"), rows)


def session_blocks() -> dict[str, str]:
    """The threshold-job walkthrough, the ledger/report examples and the inspect answers."""
    s = Session()
    s.put(SPONSOR, VALIDATION)
    job_spec = spec(title="demo", validation_cid=cid_of(VALIDATION), min_score=850_000, reward_per_accept=300,
                    deadline=DEADLINE)
    s.deposit(SPONSOR, 1000, "createJob", TOKEN.raw, 1000, spec_tuple(job_spec))
    model, train = cid_of(MODEL), cid_of(TRAIN)  # computed locally: committed before the upload
    s.commit(CAROL, 1, model, train)
    s.put(CAROL, MODEL), s.put(CAROL, TRAIN)
    s.reveal(CAROL, 1, model, train)
    weak = cid_of(WEAK)
    s.commit(DAVE, 1, weak, train)
    s.put(DAVE, WEAK)
    s.reveal(DAVE, 1, weak, train)
    s.call(DAVE, "settleJob", 1, at=DEADLINE)
    s.call(CAROL, "withdraw", TOKEN.raw, 300)  # her reward was credited to her dApp balance
    walkthrough = transcript(s)
    mark = len(s.log)
    s.deposit(DAVE, 50)
    s.call(DAVE, "withdraw", TOKEN.raw, 20)
    failed = s.call(DAVE, "withdraw", TOKEN.raw, 100)
    s.deposit_ether(DAVE, 5, "withdraw", ETHER.raw, 5)
    bad_spec = spec(validation_cid=cid_of(VALIDATION), deadline=NOW - 1)
    credited = s.deposit(SPONSOR, 10, "createJob", TOKEN.raw, 10, spec_tuple(bad_spec))
    blob = np.random.default_rng(9).bytes(100_000)
    first = plan_upload(blob).chunks[0]
    progress = s.send(DAVE, first.payload, f"uploadChunkCoded(…, size=100000, offset=0, codec={codec_text(first)}, "
                      f"data=<{first.length} bytes>)")
    s.send(DAVE, b"\xde\xad\xbe\xef", "0xdeadbeef (not a protocol call)")
    ledger = transcript(s, mark)
    deposited = next(o for o in s.log[mark][3].outputs if isinstance(o, Notice)).payload
    words = [deposited[:4].hex()] + [deposited[i:i + 32].hex() for i in range(4, len(deposited), 32)]
    val = cid_to_text(cid_of(VALIDATION))
    queries = {"balances": f"balances/{DAVE.hex}", "totals": "totals", "contents": "contents",
               "content": f"contents/{val}", "content-data": f"contents/{val}/data?offset=0&length=16",
               "uploads": f"uploads/{DAVE.hex}", "job": "jobs/1", "leaderboard": "jobs/1/leaderboard",
               "history": "jobs/1/history", "history-page": "jobs/1/history?offset=6&limit=2",
               "not-found": "jobs/7", "bad-id": "jobs/\u0661", "unknown": "prices"}
    blocks = {"walkthrough": walkthrough, "ledger": ledger,
              "notice-bytes": fenced("\n".join(words), "text"),
              "report-error": fenced(failed.outputs[0].payload.decode(), "json"),
              "report-credited": fenced(credited.outputs[-1].payload.decode(), "json"),
              "report-progress": fenced(progress.outputs[0].payload.decode(), "json")}
    for name, query in queries.items():
        blocks[f"inspect-{name}"] = f"`{query}`\n\n" + fenced(s.inspect(query))
    chose = s.call(CAROL, "setPayoutVouchers", True)  # after the inspect answers: they show the default
    blocks["report-payouts"] = fenced(chose.outputs[0].payload.decode(), "json")
    return blocks


def elided(query: str) -> str:
    """A query with its long hex values cut to their start and length."""
    return re.sub(r"0x([0-9a-f]{80,})", lambda m: f"0x{m[1][:16]}…({len(m[1]) // 2} bytes)", query)


def preflight_blocks() -> dict[str, str]:
    """A job and a submission the pre-flight refuses, every problem listed."""
    s = Session()
    for chunk in plan_upload(VALIDATION).chunks:
        s.send(SPONSOR, chunk.payload, "uploadChunk")
    bad = spec(title="demo", label="y", reward_per_accept=0, reveal_window=600, validation_cid=cid_of(VALIDATION),
               deadline=DEADLINE)
    create = INPUTS.encode("createJob", TOKEN.raw, 10**18, spec_tuple(bad))
    job_query = f"preflight/job?sender={SPONSOR.hex}&now={NOW}&input={to_hex(create)}"
    staked = spec(title="demo", validation_cid=cid_of(VALIDATION), stake=2 * 10**18, deadline=DEADLINE)
    s.deposit(SPONSOR, 1000, "createJob", TOKEN.raw, 1000, spec_tuple(staked))
    model = b'{"estimator": "DecisionTreeClassifier", "params": {"random_state": 1}}'
    mc, dc = cid_of(model), cid_of(TRAIN)
    commit = INPUTS.encode("commitSubmission", 1, submission_commitment(CAROL.hex, 1, mc, dc, SALT))
    reveal = INPUTS.encode("revealSubmission", 1, mc, dc, SALT)
    sub_query = (f"preflight/submission?sender={CAROL.hex}&now={NOW}&input={to_hex(commit)}&reveal={to_hex(reveal)}"
                 f"&content={to_hex(model)}&content={to_hex(TRAIN)}")
    return {f"preflight-{name}": f"`{elided(query)}`\n\n" + fenced(s.inspect(query))
            for name, query in (("job", job_query), ("submission", sub_query))}


def sequences() -> str:
    """Outputs, in order, of one input of each kind (fresh sessions, real engine)."""
    rows: list[tuple[str, Result]] = []

    def add(label: str, result: Result) -> None:
        rows.append((label, result))

    s = Session()
    add("ERC-20 deposit, no `execLayerData`", s.deposit(CAROL, 100))
    add("`withdraw` (ERC-20)", s.call(CAROL, "withdraw", TOKEN.raw, 40))
    add("Ether deposit + `withdraw(address(0), 5)` (v2)", s.deposit_ether(CAROL, 5, "withdraw", ETHER.raw, 5))
    blob = np.random.default_rng(3).bytes(100_000)
    plan = plan_upload(blob)
    add("`uploadChunkCoded`, file not complete yet", s.send(CAROL, plan.chunks[0].payload, ""))
    add("`uploadChunkCoded` resending the same chunk", s.send(CAROL, plan.chunks[0].payload, ""))
    add("`uploadChunkCoded` completing the file", s.send(CAROL, plan.chunks[1].payload, ""))
    add("`uploadChunkCoded` of a file already stored", s.send(DAVE, plan.chunks[0].payload, ""))
    s.send(DAVE, plan_upload(blob[:70_000]).chunks[0].payload, "")
    add("`abortUpload`", s.call(DAVE, "abortUpload", cid_of(blob[:70_000])))
    job = s.job(reward_per_accept=300, min_score=850_000)
    add("deposit + `createJob`", s.log[-1][3])
    add("deposit + undecodable `execLayerData`", s.send(
        PORTALS.erc20, erc20_deposit(TOKEN, CAROL, 10, b"\xde\xad\xbe\xef"), ""))
    model, weak, train = s.put(CAROL, MODEL), s.put(DAVE, WEAK), s.put(CAROL, TRAIN)
    add("`topUpJob`", s.call(CAROL, "topUpJob", job, 60))
    add("`commitSubmission`", s.commit(CAROL, job, model, train))
    add("`revealSubmission` with another salt", s.reveal(CAROL, job, model, train, SALT))
    add("`revealSubmission`, threshold, qualifies", s.reveal(CAROL, job, model, train))
    add("`revealSubmission`, threshold, below `minScore`", s.submit(DAVE, job, weak, train))
    add("`cancelJob` (threshold)", s.call(SPONSOR, "cancelJob", job))
    stake = s.job(reward_per_accept=100, min_score=850_000, stake=30)
    s.deposit(DAVE, 60)
    add("`revealSubmission` with stake, valid content", s.submit(DAVE, stake, weak, train))
    add("`revealSubmission` with stake, unsafe model (pickle)", s.submit(DAVE, stake, s.put(DAVE, PICKLE), b""))
    add("`setPayoutVouchers(true)`", s.call(DAVE, "setPayoutVouchers", True))
    add("`revealSubmission` with stake, valid content, the sender chose vouchers", s.submit(DAVE, stake, weak, train))
    s.call(DAVE, "setPayoutVouchers", False)
    by_voucher = s.job(reward_per_accept=100, min_score=850_000, payout_vouchers=True)
    add("`revealSubmission`, threshold, qualifies, job with `payoutVouchers`", s.submit(CAROL, by_voucher, model, train))
    last = s.job(budget=300, reward_per_accept=300, min_score=850_000)
    add("`revealSubmission`, threshold, last reward the budget can pay", s.submit(CAROL, last, model, train))
    order = s.job(reward_per_accept=100, min_score=850_000)
    s.commit(DAVE, order, weak, train)
    first = s.salt
    add("`revealSubmission` while an earlier commit is not revealed", s.submit(CAROL, order, model, train))
    add("`revealSubmission` of that earlier commit (both decided)", s.reveal(DAVE, order, weak, train, first))
    manual = s.job(policy="manual", reward_per_accept=100, accept_by_default=True)
    deeper = s.put(CAROL, MODEL.replace(b"2}", b"3}"))  # other work than the two before
    for who, m in ((CAROL, model), (DAVE, weak), (CAROL, deeper)):
        s.submit(who, manual, m, train)
    add("`revealSubmission`, manual", s.log[-1][3])
    add("`reviewSubmission(accept=true)`", s.call(SPONSOR, "reviewSubmission", manual, 1, True))
    add("`reviewSubmission(accept=false)`", s.call(SPONSOR, "reviewSubmission", manual, 2, False))
    add("`settleJob`, manual, 1 unreviewed, `acceptByDefault`", s.call(DAVE, "settleJob", manual, at=DEADLINE))
    s.now = NOW
    best = s.job(policy="best", reward_per_accept=0, min_score=700_000)
    s.submit(CAROL, best, model, train)
    add("`revealSubmission`, best", s.submit(DAVE, best, weak, train))
    add("`settleJob`, best, after the deadline", s.call(DAVE, "settleJob", best, at=DEADLINE))
    s.now = NOW
    split = s.job(policy="best", reward_per_accept=0, budget=301)
    s.submit(CAROL, split, model, train)
    s.submit(DAVE, split, weak, train)
    add("`cancelJob`, best with 2 valid submissions", s.call(SPONSOR, "cancelJob", split))
    test_cid = cid_of(TEST)
    hidden = dict(policy="best", reward_per_accept=0, stake=10, reveal_window=600,
                  test_commitment=test_commitment(test_cid, SALT))
    s.deposit(CAROL, 20), s.deposit(DAVE, 20)
    h1, h2 = s.job(**hidden), s.job(**hidden)
    add("`revealSubmission`, hidden test set, with stake", s.submit(CAROL, h1, model, train))
    for h in (h1, h2):
        s.submit(DAVE, h, weak, train)
    s.submit(CAROL, h2, model, train)
    s.put(SPONSOR, TEST)
    add("`settleJob` at the deadline (hidden test set)", s.call(DAVE, "settleJob", h1, at=DEADLINE))
    add("`revealTestSet`", s.call(SPONSOR, "revealTestSet", h1, test_cid, SALT))
    add("`settleJob` after the reveal window", s.call(DAVE, "settleJob", h2, at=DEADLINE + 600))
    s.now = DEADLINE
    nb, train2 = s.put(SPONSOR, NB), s.put(DAVE, csv(80, 4))
    rounds = s.job(policy="rounds", rounds=2, round_quota=2, round_duration=600, base_model_cid=nb,
                   reward_per_accept=100, min_score=700_000, deadline=DEADLINE + 3600)
    add("`revealSubmission`, rounds, update accepted", s.submit(CAROL, rounds, b"", train))
    add("`commitSubmission`, rounds, second update in the same round", s.submit(CAROL, rounds, nb, train))
    add("`revealSubmission`, rounds, update reaching `roundQuota`", s.submit(DAVE, rounds, nb, train2))
    add("`settleJob`, rounds, last round's `roundDuration` over", s.call(DAVE, "settleJob", rounds, at=DEADLINE + 600))
    gated = s.job(gated=True, deadline=DEADLINE + 3600)
    add("`requestAccess`", s.call(CAROL, "requestAccess", gated, b"\x04" + b"\x11" * 64))
    add("`setAccess`", s.call(SPONSOR, "setAccess", gated, CAROL.raw, True))
    add("`setDelegate`", s.call(SPONSOR, "setDelegate", gated, DAVE.raw, True))
    v1 = Session(V1)
    add("v1: `DAppAddressRelay` input", v1.send(PORTALS_V1.app_address_relay, APP.raw, "relay"))
    add("v1: Ether deposit + `withdraw(address(0), 5)`", v1.deposit_ether(CAROL, 5, "withdraw", ETHER.raw, 5))
    return table(("input", "result", "outputs, in order"), [
        (label, "accepted" if r.accept else "rejected", ", ".join(output_text(o, True) for o in r.outputs) or "—")
        for label, r in rows])


def vouchers() -> str:
    """The three voucher shapes, with their exact bytes."""
    s, v1 = Session(), Session(V1)
    s.deposit(CAROL, 100)
    erc20 = s.call(CAROL, "withdraw", TOKEN.raw, 40).outputs[-1]
    ether = s.deposit_ether(CAROL, 5, "withdraw", ETHER.raw, 5).outputs[-1]
    v1.send(PORTALS_V1.app_address_relay, APP.raw, "relay")
    legacy = v1.deposit_ether(CAROL, 5, "withdraw", ETHER.raw, 5).outputs[-1]
    rows = [(kind, f"`{o.destination.hex}`", o.value, f"`{to_hex(o.payload) if o.payload else '0x'}`")
            for kind, o in (("ERC-20 (v1, v2)", erc20), ("Ether, v2", ether), ("Ether, v1", legacy))]
    return table(("payment", "destination", "value", "payload"), rows)


def upload_figures() -> str:
    """The planner on the 1 MiB numeric CSV of ``bench/upload_size.py``."""
    from bench.upload_size import numeric_csv

    data = numeric_csv(1 << 20)
    plan = plan_upload(data)
    raw = -(-len(data) // max_data_bytes(plan.cid, len(data)))
    zlib_only = plan_upload(data, codecs=(ChunkCodec.ZLIB,), columns=False)
    rows_only = plan_upload(data, columns=False)
    first = plan.chunks[0]
    return table(("quantity", "value"), [
        ("file", f"`numeric_csv(1 MiB)` of `bench/upload_size.py`: {len(data):,} bytes, 8 float features + label"),
        ("CID", f"`{cid_to_text(plan.cid)}` (dag-pb root: the file is over 262,144 bytes)"),
        ("largest `data` per input", f"{max_data_bytes(plan.cid, len(data)):,} bytes (payload limit {MAX_PAYLOAD:,})"),
        ("inputs, raw chunks only", raw),
        ("inputs, zlib chunks only (what the old `uploadChunk` can carry)", len(zlib_only.chunks)),
        ("inputs, every codec on the rows as they are", len(rows_only.chunks)),
        ("inputs as planned", f"{len(plan.chunks)} (" + ", ".join(sorted({codec_text(c) for c in plan.chunks})) + ")"),
        ("first chunk", f"offset 0, {first.length:,} original bytes in a {len(first.payload):,}-byte payload, "
                        f"codec {codec_text(first)}"),
        ("calldata in total", f"{plan.payload_bytes:,} bytes ({plan.payload_bytes / len(data):.0%} of the file)"),
    ])


def small_values() -> dict[str, str]:
    """CID, commitment and job-spec-file examples."""
    from mlmarket.client.jobspec import spec_from_dict

    cid = cid_of(VALIDATION)
    cid_block = table(("form", "value"), [
        ("text (what `ipfs add --cid-version 1 --raw-leaves` prints)", f"`{cid_to_text(cid)}`"),
        ("binary (what inputs and notices carry)", f"`0x{cid.hex()}`"),
    ])
    commit = table(("value", "example"), [
        ("`testCid` (binary CID of the test CSV)", f"`0x{cid_of(TEST).hex()}`"),
        ("`salt`", f"`0x{SALT.hex()}`"),
        ("`testCommitment`", f"`0x{test_commitment(cid_of(TEST), SALT).hex()}`"),
    ])
    spec_file = {"title": "demo", "policy": "threshold", "task": "classification", "label": "target",
                 "metric": "accuracy", "validation_cid": cid_to_text(cid), "min_score": 0.85,
                 "reward_per_accept": "0.3", "stake": "1000wei", "deadline": "+3600", "max_submissions": 5}
    converted = spec_from_dict(spec_file, now=lambda: NOW, decimals=18)
    struct = {k: ((cid_to_text(v) if k.endswith("Cid") else "0x" + v.hex()) if isinstance(v, bytes) and v
                  else "0x" if isinstance(v, bytes) else v) for k, v in zip(
        (p["name"] for p in next(p for p in INPUTS["createJob"].params if p["name"] == "spec")["components"]),
        spec_tuple(converted))}
    return {"cid": cid_block, "commitment": commit, "spec-file": fenced(spec_file),
            "spec-struct": fenced({k: str(v) if isinstance(v, int) and not isinstance(v, bool) and abs(v) > 2**53
                                   else v for k, v in struct.items()})}


def blocks() -> dict[str, str]:
    """Every example block of the document, by name."""
    found = {"input-selectors": selectors(INPUTS), "notice-selectors": selectors(NOTICES),
             "voucher-selectors": selectors(TARGETS), "vouchers": vouchers(), "upload-figures": upload_figures(),
             "sequences": sequences()}
    found.update(small_values())
    found.update(session_blocks())
    found.update(preflight_blocks())
    return found


# --- the document ----------------------------------------------------------------------------------

BLOCK = re.compile(r"<!-- example:(?P<name>[\w-]+) -->\n(?P<body>.*?)\n?<!-- /example:(?P=name) -->", re.S)


def refresh(text: str, values: dict[str, str]) -> tuple[str, list[str]]:
    """``text`` with every example block replaced by its value; also the names that changed or are
    unknown (a block name the script does not produce)."""
    changed: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in values:
            changed.append(f"{name} (unknown block)")
            return match[0]
        if match["body"] != values[name]:
            changed.append(name)
        return f"<!-- example:{name} -->\n{values[name]}\n<!-- /example:{name} -->"

    return BLOCK.sub(replace, text), changed


def main(argv: list[str] | None = None, out: Callable[[str], None] = print) -> int:
    """Prints the blocks, or refreshes (``--write``) or checks (``--check``) the document."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="refresh the example blocks of the document")
    parser.add_argument("--check", action="store_true", help="exit 1 if an example block is stale")
    parser.add_argument("--doc", type=Path, default=DOC)
    args = parser.parse_args(argv)
    values = blocks()
    if not (args.write or args.check):
        for name, value in values.items():
            out(f"<!-- example:{name} -->\n{value}\n<!-- /example:{name} -->\n")
        return 0
    text = args.doc.read_text()
    new, changed = refresh(text, values)
    missing = sorted(set(values) - {m["name"] for m in BLOCK.finditer(text)})
    if args.write:
        args.doc.write_text(new)
        out(f"refreshed {len(changed)} block(s): {', '.join(changed) or 'none'}")
    elif changed:
        out(f"stale example blocks in {args.doc}: {', '.join(changed)}; run scripts/protocol_examples.py --write")
    if missing:
        out(f"blocks the document does not place: {', '.join(missing)}")
    return 1 if args.check and (changed or missing) else 0


if __name__ == "__main__":
    sys.exit(main())
