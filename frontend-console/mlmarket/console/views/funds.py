"""Balances (in the dApp and in the wallet), deposits and withdrawals."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request, url_for

from mlmarket.client import actions
from mlmarket.client.errors import ClientError
from mlmarket.client.inspect import query_path
from mlmarket.console.forms import FormErrors, amount, token_choice
from mlmarket.console.present import ETHER
from mlmarket.console.runtime import acting, acting_address, reader, runtime
from mlmarket.console.views.common import deliver

bp = Blueprint("funds", __name__)


def _page(errors: dict[str, str] | None = None, status: int = 200) -> tuple[str, int]:
    address = acting_address()
    market = reader()
    dapp: dict[str, str] = {}
    wallet: list[tuple[str, int]] = []
    if address:
        answer = market.query(query_path("balances", address.lower()))
        dapp = answer.get("balances", {}) if isinstance(answer, dict) else {}
        test_token = runtime().tokens.test_token()
        tokens = [ETHER] + ([test_token] if test_token else [])
        wallet = [(t, market.chain.balance_of(t, address)) for t in tokens]
    return render_template("balances.html", address=address, dapp=dapp, wallet=wallet, errors=errors or {},
                           form=request.form, test_token=runtime().tokens.test_token()), status


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
def withdraw() -> Any:
    """``withdraw(token, amount)``: a voucher pays it to the wallet (execute it on the outputs page)."""
    return _move("withdraw")


@bp.post("/balances/deposit")
def deposit() -> Any:
    """A portal deposit into the dApp balance (an approval first for ERC-20 when needed)."""
    return _move("deposit")
