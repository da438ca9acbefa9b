"""Balances (in the dApp and in the wallet), deposits and withdrawals, and where the account's rewards
and returned stakes go (its dApp balance by default, or a voucher at once: ``setPayoutVouchers``)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request, url_for

from mlmarket.client import actions
from mlmarket.client.errors import ClientError
from mlmarket.client.inspect import query_path
from mlmarket.client.payouts import choice
from mlmarket.client.units import ETHER
from mlmarket.console import money
from mlmarket.console.forms import FormErrors, amount, text, token_choice
from mlmarket.console.present import voucher_summary
from mlmarket.console.runtime import acting, acting_address, reader, runtime, sent_once
from mlmarket.console.views.common import deliver

bp = Blueprint("funds", __name__)


def _answer(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, dict) else None


def _held(market: Any, address: str) -> dict[str, Any]:
    """What the dApp holds for ``address`` beyond its free balance: the budgets of the jobs it
    sponsors, its stakes not returned or slashed yet, and the vouchers paying it not executed yet."""
    jobs = _answer(market.query("jobs"), "jobs") or []
    stakes = []
    for job in jobs:
        if int((job.get("spec") or {}).get("stake") or 0) <= 0:
            continue
        subs = _answer(market.query(query_path("jobs", job["id"])), "submissions") or []
        if not any(str(s.get("contributor", "")).lower() == address.lower() for s in subs):
            continue
        history = _answer(market.query(query_path("jobs", job["id"], "history")), "history") or []
        stakes += [{"job": job, "submission": s} for s in money.locked_stakes(subs, history, address)]
    vouchers = [{"voucher": v, "summary": voucher_summary(v.call, v.value, runtime().tokens.units()),
                 "provable": money.provable(v)} for v in money.pending_vouchers(market.outputs(), address)]
    return {"escrow": money.escrow(jobs, address), "stakes": stakes, "vouchers": vouchers,
            "claims_forced": runtime().pool.dev_accounts_allowed()}


def _page(errors: dict[str, str] | None = None, status: int = 200) -> tuple[str, int]:
    address = acting_address()
    market = reader()
    dapp: dict[str, str] = {}
    wallet: list[tuple[str, int]] = []
    held: dict[str, Any] = {}
    vouchers = False
    if address:
        answer = market.query(query_path("balances", address.lower()))
        dapp = answer.get("balances", {}) if isinstance(answer, dict) else {}
        vouchers = choice(answer)
        test_token = runtime().tokens.test_token()
        tokens = [ETHER] + ([test_token] if test_token else [])
        wallet = [(t, market.chain.balance_of(t, address)) for t in tokens]
        held = _held(market, address)
    whole = {token: runtime().tokens.money(token, int(value)) for token, value in dapp.items()}
    return render_template("balances.html", address=address, dapp=dapp, whole=whole, wallet=wallet,
                           payout_vouchers=vouchers, errors=errors or {}, form=request.values,
                           test_token=runtime().tokens.test_token(), **held), status


@bp.get("/balances")
def balances() -> Any:
    """The acting account's balances in the dApp and in its wallet, with deposit and withdraw forms."""
    return _page()


def _move(kind: str) -> Any:
    form = request.form
    try:
        acting()
        token = token_choice(form, runtime().tokens.test_token(), prefix=f"{kind}_")
        value = amount(form, f"{kind}_amount", runtime().tokens.decimals(token))
        req = actions.withdraw(token, value) if kind == "withdraw" else actions.deposit(token, value)
        title = "Withdraw" if kind == "withdraw" else "Deposit"
        return deliver(req, title=title, back=url_for("funds.balances"))
    except FormErrors as exc:
        return _page(exc.errors, 400)
    except ClientError as exc:
        return _page({"": exc.message}, 400)


@bp.post("/balances/withdraw")
@sent_once
def withdraw() -> Any:
    """``withdraw(token, amount)``: a voucher pays it to the wallet (execute it on the outputs page)."""
    return _move("withdraw")


@bp.post("/balances/payouts")
@sent_once
def payouts() -> Any:
    """``setPayoutVouchers``: the acting account's own choice, ``vouchers`` = ``on`` (a voucher at once
    for each reward and returned stake) or ``off`` (credited to its dApp balance, the default)."""
    chosen = text(request.form, "vouchers")
    try:
        acting()
        if chosen not in ("on", "off"):
            raise FormErrors({"vouchers": "choose on or off"})
        return deliver(actions.set_payout_vouchers(chosen == "on"), title="Payout choice",
                       back=url_for("funds.balances"))
    except FormErrors as exc:
        return _page(exc.errors, 400)
    except ClientError as exc:
        return _page({"": exc.message}, 400)


@bp.post("/balances/deposit")
@sent_once
def deposit() -> Any:
    """A portal deposit into the dApp balance (an approval first for ERC-20 when needed)."""
    return _move("deposit")
