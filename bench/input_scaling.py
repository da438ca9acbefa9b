"""Does an input get slower as the state grows? Time per input after 10 vs after 10,000 prior inputs.

A probe window of ``WINDOW`` inputs (ERC-20 deposit, withdrawal, one-chunk upload of a new 1 KiB
file, in turn) is timed input by input through ``App.advance`` (the call ``dapp.rollup.loop.serve``
makes), after each history, and reported by kind of input:

- ``10 ledger/upload``: 10 prior inputs, deposits that fund the accounts (the baseline);
- ``10,000 ledger/upload``: 10,000 prior inputs of the probe's mix (3,328 stored files);
- ``10,000 market``: 10,000 prior inputs that created 257 open jobs (threshold, manual, best) and
  made 4,870 scored submissions (each a commit and its reveal; 48 paid), with the fake ML engine
  of ``tests.support.fake_engine`` so that ML cost is excluded.

Each comparison is an A/B run: both apps are built afresh (``ROUNDS`` times), then get
``WINDOWS`` windows each in the order A B B A A B..., so that background load drifting on a shared
machine hits both alike; the figures are the medians of all per-input times and their ratio
(target <= 1.2x). "history s" is how long the 10,000-input history took to feed (median). A
submission window (100 submissions to a fresh threshold job: ``commit`` and ``reveal`` inputs,
timed apart) is also compared, after 10 and after 10,000 market inputs. One untimed warm-up round
runs first (imports, ABI and other caches), so the baseline is not charged for the process's first
inputs.

Run: ``.venv/bin/python -m bench.input_scaling``.
"""

from __future__ import annotations

import gc
import itertools
import json
import random
import statistics
import time
from collections.abc import Callable, Iterator

from bench._summary import record
from bench._table import print_table
from bench.dispatch_throughput import (
    ACCOUNTS,
    NOW,
    TOKEN,
    Request,
    erc20_deposit,
    ether_deposit,
    metadata,
    withdraw,
)
from dapp.app import App
from dapp.codec import abi
from dapp.codec.chunks import plan_upload
from dapp.codec.commitment import submission_commitment
from dapp.codec.hexbytes import to_hex
from dapp.config import Config
from dapp.domain.commands import JobSpec
from dapp.domain.values import ETHER, Address
from tests.support.fake_engine import FakeEngine

WINDOW = 200
WINDOWS = 4  # per history and round
ROUNDS = 2
TARGET = 1.2
SPONSORS = [Address(bytes([0x50 + i]) * 20) for i in range(5)]
CONTRIBUTORS = [Address(bytes([0x80]) + i.to_bytes(19, "big")) for i in range(100)]
VALIDATION = b"x,target\n1,0\n"
POLICIES = ("threshold", "manual", "best")


class Feed:
    """Numbers inputs and makes unique upload contents, so that any number of inputs can be built."""

    def __init__(self, seed: int) -> None:
        self.index = 0
        self.rng = random.Random(seed)
        self.job: int | None = None  # the submit probe's job, its models and submissions made
        self.models: list[bytes] = []
        self.submitted = 0

    def next_index(self) -> int:
        self.index += 1
        return self.index - 1

    def upload(self, sender: Address, data: bytes | None = None) -> tuple[Request, bytes]:
        """A one-chunk ``uploadChunk`` of ``data`` (default: 1 KiB of fresh random bytes); and its CID."""
        plan = plan_upload(self.rng.randbytes(1024) if data is None else data)
        (chunk,) = plan.chunks
        return (metadata(sender, self.next_index()), chunk.payload), plan.cid

    def ledger_mix(self, count: int) -> Iterator[Request]:
        """Deposit, withdraw, upload in turn, after up to 16 deposits funding the accounts."""
        for n in range(count):
            account = ACCOUNTS[n % len(ACCOUNTS)]
            if n < 2 * len(ACCOUNTS):
                deposit = erc20_deposit if n % 2 == 0 else ether_deposit
                yield deposit(self.next_index(), ACCOUNTS[n // 2], 10**24)
            elif n % 3 == 0:
                yield erc20_deposit(self.next_index(), account, 1_000)
            elif n % 3 == 1:
                yield withdraw(self.next_index(), account, TOKEN if n % 2 else ETHER, 1)
            else:
                yield self.upload(account)[0]


def spec(policy: str, validation: bytes, deadline: int, min_score: int = 900_000) -> tuple:
    """A createJob spec tuple paying rewards of 10."""
    s = JobSpec(title="bench", policy=policy, task="classification", label="target", metric="accuracy",
                validation_cid=validation, base_model_cid=b"", min_score=min_score, min_gain=0,
                reward_per_accept=10 if policy != "best" else 0, deadline=deadline, accept_by_default=False,
                test_commitment=bytes(32), reveal_window=0, rounds=0, round_quota=0, round_duration=0,
                tolerance=0, stake=0, max_submissions=0, gated=False)
    return tuple(getattr(s, f) for f in JobSpec.__slots__)


def create_job(feed: Feed, sponsor: Address, policy: str, validation: bytes, **kw: int) -> Request:
    """An ERC-20 deposit of 1,000 carrying ``createJob`` (open for 30 days: the benchmark's inputs all
    carry the same block time)."""
    deadline = NOW + 30 * 86_400
    call = abi.inputs().encode("createJob", TOKEN.raw, 1_000, spec(policy, validation, deadline, **kw))
    meta, body = erc20_deposit(feed.next_index(), sponsor, 1_000)
    return meta, body + call


def submit(feed: Feed, contributor: Address, job: int, model: bytes) -> list[Request]:
    """A submission of ``model`` (no data): ``commitSubmission``, then its ``revealSubmission``."""
    calls, index = abi.inputs(), feed.next_index()
    salt = index.to_bytes(32, "big")
    commitment = submission_commitment(contributor.hex, job, model, b"", salt)
    reveal = calls.encode("revealSubmission", job, model, b"", salt)
    return [(metadata(contributor, index), calls.encode("commitSubmission", job, commitment)),
            (metadata(contributor, feed.next_index()), reveal)]


def market_setup(feed: Feed) -> tuple[list[Request], bytes, list[bytes]]:
    """Inputs that store the validation set and two models (scores 0.5 and 0.95)."""
    inputs, cids = [], []
    for data in (VALIDATION, b'{"score": 0.5}', b'{"score": 0.95}'):
        request, cid = feed.upload(SPONSORS[0], data)
        inputs.append(request)
        cids.append(cid)
    return inputs, cids[0], cids[1:]


def market_history(feed: Feed, count: int) -> Iterator[Request]:
    """The first ``count`` inputs of :func:`market_inputs`."""
    return itertools.islice(market_inputs(feed), count)


def market_inputs(feed: Feed) -> Iterator[Request]:
    """Uploads of the contents, then in steps: a job every 20 steps and submissions (a commit and its
    reveal) to the 5 newest jobs in between (each contributor at most 20 times per job)."""
    setup, validation, models = market_setup(feed)
    yield from setup
    jobs = 0
    for n in itertools.count():
        if n % 20 == 0:
            jobs += 1
            yield create_job(feed, SPONSORS[jobs % len(SPONSORS)], POLICIES[jobs % len(POLICIES)], validation)
        else:
            job = max(1, jobs - n % 5)
            yield from submit(feed, CONTRIBUTORS[n % len(CONTRIBUTORS)], job, models[n % 7 == 0])


def apply(app: App, requests: Iterator[Request]) -> int:
    """Feeds untimed history; returns how many inputs were rejected (expected: none)."""
    return sum(not app.advance(meta, to_hex(payload)).accept for meta, payload in requests)


def timed(app: App, requests: list[Request]) -> list[float]:
    """Per-input seconds of ``App.advance``; every input must be accepted."""
    prepared = [(meta, to_hex(payload)) for meta, payload in requests]
    times = []
    for meta, payload in prepared:
        began = time.perf_counter()
        result = app.advance(meta, payload)
        times.append(time.perf_counter() - began)
        assert result.accept, json.loads(result.outputs[0].payload)
    return times


Probe = Callable[["Feed", App], dict[str, list[float]]]


def probe_ledger(feed: Feed, app: App) -> dict[str, list[float]]:
    """One window of the deposit / withdraw / upload mix; per-input seconds by kind."""
    window = []
    for n in range(WINDOW):
        account = ACCOUNTS[n % len(ACCOUNTS)]
        if n % 3 == 0:
            window.append(erc20_deposit(feed.next_index(), account, 1_000))
        elif n % 3 == 1:
            window.append(withdraw(feed.next_index(), ACCOUNTS[0], TOKEN, 1))
        else:
            window.append(feed.upload(account)[0])
    times: dict[str, list[float]] = {"deposit": [], "withdraw": [], "upload": []}
    for n, seconds in enumerate(timed(app, window)):
        times[("deposit", "withdraw", "upload")[n % 3]].append(seconds)
    return times


def probe_submit(feed: Feed, app: App) -> dict[str, list[float]]:
    """One window of ``WINDOW`` inputs, submissions (a commit, then its reveal, timed apart) to a
    threshold job nobody can win (so it stays open), created on
    the first call (after storing the contents it needs, a no-op where they are stored)."""
    if feed.job is None:
        setup, validation, feed.models = market_setup(feed)
        threshold = create_job(feed, SPONSORS[0], "threshold", validation, min_score=10**9)
        assert apply(app, iter(setup + [threshold])) == 0
        last = json.loads(app.inspect(to_hex(b"jobs"))[0].payload)["total"] - 1  # the newest ends the list
        feed.job = json.loads(app.inspect(to_hex(f"jobs?offset={last}".encode()))[0].payload)["jobs"][0]["id"]
        feed.submitted = 0
    window = []
    for n in range(WINDOW // 2):  # contributors in turn, each at most 20 times (the default cap)
        window += submit(feed, CONTRIBUTORS[feed.submitted % 100], feed.job, feed.models[n % 2])
        feed.submitted += 1
    times = timed(app, window)
    return {"commit": times[0::2], "reveal": times[1::2]}


def history_app(kind: str, count: int, seed: int) -> tuple[Feed, App, float]:
    """A fresh app (fake ML engine) after ``count`` inputs of ``kind``; and the seconds they took."""
    feed, app = Feed(seed), App(Config(), engine=FakeEngine())
    history = feed.ledger_mix(count) if kind == "ledger/upload" else market_history(feed, count)
    began = time.perf_counter()
    rejected = apply(app, history)
    elapsed = time.perf_counter() - began
    assert rejected == 0, f"{rejected} history inputs rejected"
    if kind == "market":  # the probes' withdrawals need funds
        assert apply(app, iter([erc20_deposit(feed.next_index(), ACCOUNTS[0], 10**24)])) == 0
    return feed, app, elapsed


def compare(probe: Probe, before: tuple[str, int], after: tuple[str, int]
            ) -> tuple[list[tuple[str, ...]], dict[str, float]]:
    """Table rows: per kind of input, the median time after each history and their ratio; and the
    ratios by kind."""
    times: list[dict[str, list[float]]] = [{}, {}]
    built: list[list[float]] = [[], []]
    for round_ in range(ROUNDS):
        cases = [history_app(kind, count, seed=count + round_) for kind, count in (before, after)]
        for side, (_, _, seconds) in enumerate(cases):
            built[side].append(seconds)
        gc.collect()
        for window in range(WINDOWS):  # A B B A A B...: drifting background load hits both alike
            for side in (0, 1) if window % 2 == 0 else (1, 0):
                feed, app, _ = cases[side]
                for name, found in probe(feed, app).items():
                    times[side].setdefault(name, []).extend(found)
        del cases
    rows, ratios = [], {}
    for name in times[0]:
        base, late = (statistics.median(times[side][name]) for side in (0, 1))
        ratios[name] = late / base
        rows.append((f"{name} ({len(times[1][name])})", f"{before[1]:,} {before[0]}", f"{base * 1e6:.0f}",
                     f"{after[1]:,} {after[0]}", f"{statistics.median(built[1]):.1f}", f"{late * 1e6:.0f}",
                     f"{late / base:.2f}", "yes" if late / base <= TARGET else "NO"))
    return rows, ratios


def main() -> None:
    """Prints, per kind of input, the median time after 10 and after 10,000 prior inputs, and the ratio."""
    for probe, kind, count in ((probe_ledger, "ledger/upload", 10), (probe_submit, "market", 10)):
        probe(*history_app(kind, count, seed=0)[:2])  # warm-up (imports, caches), not reported
    rows = [("input", "after", "median µs", "after", "history s", "median µs", "ratio", f"<= {TARGET}x")]
    ratios: dict[str, list[str]] = {}  # kind of input -> "ratio (after which history)"
    for probe, before, after in ((probe_ledger, ("ledger/upload", 10), ("ledger/upload", 10_000)),
                                 (probe_ledger, ("ledger/upload", 10), ("market", 10_000)),
                                 (probe_submit, ("market", 10), ("market", 10_000))):
        found, by_kind = compare(probe, before, after)
        rows += found
        for name, ratio in by_kind.items():
            ratios.setdefault(name, []).append(f"{ratio:.2f}x ({after[0]})")
    print_table(rows)
    for name, found in ratios.items():
        record(f"{name}: time per input after 10,000 prior inputs / after 10", ", ".join(found),
               f"<= {TARGET}x")


if __name__ == "__main__":
    main()
