"""Throughput of deposit / withdraw inputs through the real dispatch path, in process (target >= 1,000/s).

Two ways in, both as the rollup loop uses them:

- ``advance``: ``App.advance(metadata, payload_hex)`` with v2 metadata dicts, which is what
  ``dapp.rollup.loop.serve`` calls for each ``advance_state`` request;
- ``loop``: ``dapp.rollup.loop.run`` over a ``dapp.rollup.fake.FakeRollup`` holding the queued
  requests (``/finish`` → serve → post notices and vouchers → ``/finish``): everything but HTTP.

Workloads: ERC-20 portal deposits, Ether portal deposits, withdrawals (a notice and a voucher each)
and a mix of the three. Requests are built before the clock starts; each run uses a fresh ``App``
whose accounts were funded beforehand, and every input must be accepted.

Run: ``.venv/bin/python -m bench.dispatch_throughput``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from bench._summary import record
from bench._table import print_table
from dapp.app import App
from dapp.codec import abi
from dapp.codec.hexbytes import to_hex
from dapp.codec.metadata import V2
from dapp.codec.portals import DEFAULT_PORTALS
from dapp.domain.values import ETHER, Address
from dapp.rollup.fake import FakeRollup
from dapp.rollup.loop import run

INPUTS = 5_000
RUNS = 3
TARGET = 1_000  # inputs per second
APP = Address(b"\xab" * 20)
TOKEN = Address(b"\x70" * 20)
ACCOUNTS = [Address(bytes([0x10 + i]) * 20) for i in range(8)]
PORTALS = DEFAULT_PORTALS[V2]
NOW = 1_700_000_000

Request = tuple[dict[str, Any], bytes]  # (v2 metadata, payload bytes)


def metadata(sender: Address, index: int, timestamp: int = NOW) -> dict[str, Any]:
    """v2 advance metadata as the node sends it."""
    return {"chain_id": 31337, "app_contract": APP.hex, "msg_sender": sender.hex, "block_number": 100 + index,
            "block_timestamp": timestamp, "prev_randao": "0x" + "00" * 32, "input_index": index}


def erc20_deposit(index: int, account: Address, amount: int) -> Request:
    """An ERC20Portal input: token ‖ sender ‖ amount (v2 layout, no execLayerData)."""
    return metadata(PORTALS.erc20, index), TOKEN.raw + account.raw + amount.to_bytes(32, "big")


def ether_deposit(index: int, account: Address, amount: int) -> Request:
    """An EtherPortal input: sender ‖ amount."""
    return metadata(PORTALS.ether, index), account.raw + amount.to_bytes(32, "big")


def withdraw(index: int, account: Address, token: Address, amount: int) -> Request:
    """A ``withdraw(token, amount)`` call sent by ``account``."""
    return metadata(account, index), abi.inputs().encode("withdraw", token.raw, amount)


def workload(kind: str, start: int, count: int) -> list[Request]:
    """``count`` requests of one kind (erc20 | ether | withdraw | mixed), input indices from ``start``."""
    makers: dict[str, Callable[[int, Address], Request]] = {
        "erc20": lambda i, a: erc20_deposit(i, a, 1_000),
        "ether": lambda i, a: ether_deposit(i, a, 10**15),
        "withdraw": lambda i, a: withdraw(i, a, TOKEN if i % 2 else ETHER, 1),
    }
    kinds = ["erc20", "ether", "withdraw"] if kind == "mixed" else [kind]
    return [makers[kinds[n % len(kinds)]](start + n, ACCOUNTS[n % len(ACCOUNTS)]) for n in range(count)]


def funded_app() -> tuple[App, int]:
    """A fresh ``App`` where every account holds plenty of both tokens; returns it and the next index."""
    app = App()
    setup = [erc20_deposit(i, a, 10**9) for i, a in enumerate(ACCOUNTS)]
    setup += [ether_deposit(len(ACCOUNTS) + i, a, 10**24) for i, a in enumerate(ACCOUNTS)]
    for meta, payload in setup:
        assert app.advance(meta, to_hex(payload)).accept
    return app, len(setup)


def time_advance(kind: str) -> float:
    """Seconds to pass ``INPUTS`` requests to ``App.advance`` (hex payloads prepared beforehand)."""
    app, start = funded_app()
    requests = [(meta, to_hex(payload)) for meta, payload in workload(kind, start, INPUTS)]
    began = time.perf_counter()
    results = [app.advance(meta, payload) for meta, payload in requests]
    elapsed = time.perf_counter() - began
    assert all(r.accept for r in results), "an input was rejected"
    return elapsed


def time_loop(kind: str) -> float:
    """Seconds for the rollup loop to serve ``INPUTS`` queued requests from a ``FakeRollup``."""
    app, start = funded_app()
    rollup = FakeRollup()
    for meta, payload in workload(kind, start, INPUTS):
        rollup.add_advance(meta, payload)
    began = time.perf_counter()
    run(app, rollup, should_stop=lambda: rollup.idle)
    elapsed = time.perf_counter() - began
    assert len(rollup.done) == INPUTS and all(f.accepted for f in rollup.done), "an input was rejected"
    return elapsed


def main() -> None:
    """Prints inputs/s per path and workload (median of ``RUNS`` runs of ``INPUTS`` inputs)."""
    rows = [("path / workload", "inputs", f"median s ({RUNS} runs)", "inputs/s", "µs/input",
             f">= {TARGET:,}/s")]
    for path, timer in (("advance", time_advance), ("loop", time_loop)):
        rates: dict[str, float] = {}
        for kind in ("erc20", "ether", "withdraw", "mixed"):
            seconds = statistics.median(timer(kind) for _ in range(RUNS))
            rate = rates[kind] = INPUTS / seconds
            rows.append((f"{path} / {kind}", f"{INPUTS:,}", f"{seconds:.3f}", f"{rate:,.0f}",
                         f"{1e6 / rate:.0f}", "yes" if rate >= TARGET else "NO"))
        slow, fast = min(rates, key=rates.__getitem__), max(rates, key=rates.__getitem__)
        way = "App.advance" if path == "advance" else "rollup loop + FakeRollup"
        record(f"non-ML inputs/s in process, {way}",
               f"{rates[slow]:,.0f} ({slow}) – {rates[fast]:,.0f} ({fast}); mixed {rates['mixed']:,.0f}",
               f">= {TARGET:,}/s")
    print_table(rows)


if __name__ == "__main__":
    main()
