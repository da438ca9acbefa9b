"""Drive an ``App`` through the real loop with the in-memory ``FakeRollup``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from dapp.app import App
from dapp.codec import abi
from dapp.codec.portals import DEFAULT_PORTALS
from dapp.codec.metadata import V1, V2
from dapp.domain.values import Address
from dapp.rollup.fake import FakeRollup, Finished
from dapp.rollup.loop import run

APP = Address.from_hex("0x" + "ab" * 20)
ALICE = Address.from_hex("0x" + "a1" * 20)
BOB = Address.from_hex("0x" + "b0" * 20)
TOKEN = Address.from_hex("0x" + "70" * 20)
PORTALS = DEFAULT_PORTALS[V2]
PORTALS_V1 = DEFAULT_PORTALS[V1]


def v2_metadata(sender: Address, index: int, timestamp: int = 1_700_000_000, block: int = 100) -> dict[str, Any]:
    """v2 advance metadata as the node sends it (lower-case hex)."""
    return {
        "chain_id": 31337, "app_contract": APP.hex, "msg_sender": sender.hex, "block_number": block,
        "block_timestamp": timestamp, "prev_randao": "0x" + "00" * 32, "input_index": index,
    }


def v1_metadata(sender: Address, index: int, timestamp: int = 1_700_000_000, block: int = 100) -> dict[str, Any]:
    """v1 advance metadata."""
    return {"msg_sender": sender.hex, "epoch_index": 0, "input_index": index, "block_number": block,
            "timestamp": timestamp}


def erc20_deposit(token: Address, sender: Address, amount: int, data: bytes = b"", *, v1: bool = False) -> bytes:
    """The ERC20Portal payload (v1: with the leading success byte)."""
    body = token.raw + sender.raw + amount.to_bytes(32, "big") + data
    return (b"\x01" + body) if v1 else body


def ether_deposit(sender: Address, amount: int, data: bytes = b"") -> bytes:
    """The EtherPortal payload."""
    return sender.raw + amount.to_bytes(32, "big") + data


@dataclass
class Driver:
    """Sends inputs to an ``App`` through ``FakeRollup`` and the real loop, one at a time."""

    app: App = field(default_factory=App)
    version: int = V2
    index: int = 0
    timestamp: int = 1_700_000_000

    def send(self, sender: Address, payload: bytes, *, timestamp: int | None = None) -> Finished:
        """Processes one advance input; returns what the loop finished it with."""
        rollup = FakeRollup()
        if timestamp is not None:
            self.timestamp = timestamp
        build = v2_metadata if self.version == V2 else v1_metadata
        rollup.add_advance(build(sender, self.index, self.timestamp), payload)
        run(self.app, rollup, should_stop=lambda: rollup.idle)
        self.index += 1
        return rollup.done[0]

    def deposit(self, token: Address, sender: Address, amount: int, data: bytes = b"") -> Finished:
        """An ERC-20 deposit through the configured portal."""
        portals = PORTALS if self.version == V2 else PORTALS_V1
        return self.send(portals.erc20, erc20_deposit(token, sender, amount, data, v1=self.version == V1))

    def deposit_ether(self, sender: Address, amount: int, data: bytes = b"") -> Finished:
        """An Ether deposit through the configured portal."""
        portals = PORTALS if self.version == V2 else PORTALS_V1
        return self.send(portals.ether, ether_deposit(sender, amount, data))

    def inspect(self, query: str) -> dict[str, Any]:
        """The decoded JSON answer of an inspect query."""
        rollup = FakeRollup()
        rollup.add_inspect(query.encode())
        run(self.app, rollup, should_stop=lambda: rollup.idle)
        (report,) = rollup.done[0].reports
        return json.loads(report)


def report_json(finished: Finished, n: int = 0) -> dict[str, Any]:
    """The n-th report of a finished request, decoded."""
    return json.loads(finished.reports[n])


def notice_names(finished: Finished) -> list[str]:
    """The event name of each notice of a finished request, in order."""
    return [abi.notices().decode(n)[0].name for n in finished.notices]


def notice_args(finished: Finished, name: str) -> list[tuple[Any, ...]]:
    """The decoded arguments of each ``name`` notice of a finished request, in order."""
    return [args for f, args in (abi.notices().decode(n) for n in finished.notices) if f.name == name]


def credits(finished: Finished) -> list[tuple[Address, int]]:
    """[(contributor, amount)] of a finished request's ``RewardPaid`` and ``StakeReturned`` notices, in
    order: with the default payout, what it credited to contributors' dApp balances (no voucher)."""
    return [(Address.from_hex(args[2]), args[-1]) for f, args in (abi.notices().decode(n) for n in finished.notices)
            if f.name in ("RewardPaid", "StakeReturned")]


def token_payments(finished: Finished) -> list[tuple[Address, int]]:
    """[(recipient, amount)] of a finished request's vouchers, each an ERC-20 ``transfer`` of ``TOKEN``."""
    transfer = abi.voucher_targets()["transfer"].selector
    out = []
    for destination, _, payload in finished.vouchers:
        assert destination == TOKEN and payload[:4] == transfer
        out.append((Address(payload[16:36]), int.from_bytes(payload[36:68], "big")))
    return out

