"""Delivering an input for the acting account, the two ways (docs/CONSOLE.md):

- a dev account: the server signs and sends (``Market.send``), waits for the node and shows the outcome;
- a browser wallet: the server prepares the unsigned transactions (``Chain.prepare_input``), the page
  asks ``window.ethereum`` to send them, posts the last hash back, and the server finds the input it
  added (``Chain.input_index``) and shows the outcome.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlmarket.client.chain import InputRequest
from mlmarket.client.outputs import InputOutcome
from mlmarket.client.units import Units
from mlmarket.console.present import notice_summary, voucher_summary


def wallet_tx(tx: Mapping[str, Any]) -> dict[str, str]:
    """An unsigned transaction (web3.py's ``build_transaction``) as ``eth_sendTransaction`` params:
    hex quantities; nonce, fees and chain id are left to the wallet."""
    data = tx.get("data") or "0x"
    out = {"from": str(tx["from"]), "to": str(tx["to"]),
           "data": data if isinstance(data, str) else "0x" + bytes(data).hex(),
           "value": hex(int(tx.get("value") or 0))}
    if tx.get("gas"):
        out["gas"] = hex(int(tx["gas"]))
    return out


def prepare_for_wallet(market: Any, request: InputRequest) -> list[dict[str, str]]:
    """The transactions a browser wallet sends, in order, to deliver ``request`` from ``market.account``."""
    return [wallet_tx(tx) for tx in market.chain.prepare_input(request, market.account)]


@dataclass(frozen=True)
class OutcomeView:
    """An input's outcome as the outcome page shows it: ``error`` in human units (``Units.humanize``),
    ``token`` the one its deposit was in (the amounts of its reports are shown in it)."""

    index: int
    status: str
    error: str | None
    token: str | None = None
    notices: list[dict[str, Any]] = field(default_factory=list)
    vouchers: list[dict[str, Any]] = field(default_factory=list)
    reports: list[Any] = field(default_factory=list)
    transactions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Accepted without an error report."""
        return self.error is None


def outcome_view(outcome: InputOutcome, units: Units, transactions: list[dict[str, Any]] | None = None
                 ) -> OutcomeView:
    """The page's view of ``outcome``."""
    notices = [{"index": n.index, "name": n.name, "summary": notice_summary(n.name, n.args, units),
                "args": n.args} for n in outcome.notices]
    vouchers = [{"index": v.index, "summary": voucher_summary(v.call, v.value, units)}
                for v in outcome.vouchers]
    reports = [r.value for r in outcome.reports]
    token = next((str(n.args.get("token")) for n in outcome.notices if n.name == "Deposited"), None)
    error = units.humanize(outcome.error, token) if outcome.error is not None else None
    return OutcomeView(outcome.index, outcome.status, error, token, notices, vouchers, reports,
                       transactions or [])


def sent_transactions(sent: Any) -> list[dict[str, Any]]:
    """The transactions of a ``Sent`` (approval first) as hash / block / gas."""
    ref = sent.ref
    return [{"hash": t.tx_hash, "block": t.block_number, "gas_used": t.gas_used}
            for t in (ref.approval, ref.tx) if t is not None]
