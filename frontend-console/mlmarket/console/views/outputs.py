"""Outputs: decoded notices and vouchers with their state, voucher execution, one input's outcome."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from mlmarket.client.errors import ClientError, NodeError
from mlmarket.client.inspect import query_path
from mlmarket.client.outputs import EXECUTED, DecodedVoucher, InputOutcome
from mlmarket.client.payouts import payments
from mlmarket.console.idempotency import Receipt
from mlmarket.console.money import ETHER, credited, slashed
from mlmarket.console.present import notice_summary, voucher_summary
from mlmarket.console.runtime import acting, acting_address, reader, runtime, sent_once
from mlmarket.console.sending import OutcomeView, outcome_view, wallet_tx
from mlmarket.console.views.common import owner, sign_later

bp = Blueprint("outputs", __name__)


def _rows(found: list[Any]) -> list[dict[str, Any]]:
    units = runtime().tokens.units()
    rows = []
    for output in found:
        if isinstance(output, DecodedVoucher):
            rows.append({"type": "voucher", "index": output.index, "input_index": output.input_index,
                         "summary": voucher_summary(output.call, output.value, units), "state": output.state,
                         "destination": output.destination, "executable": output.state != EXECUTED})
        else:
            rows.append({"type": "notice", "index": output.index, "input_index": output.input_index,
                         "name": output.name, "summary": notice_summary(output.name, output.args, units),
                         "args": output.args})
    return rows


@bp.get("/outputs")
def list_outputs() -> str:
    """Every notice and voucher (``?input=N``: of one input; ``?vouchers=1``: vouchers only)."""
    raw = request.args.get("input", "")
    input_index = int(raw) if raw.isdigit() else None
    found = reader().outputs(input_index=input_index)
    if request.args.get("vouchers"):
        found = [o for o in found if isinstance(o, DecodedVoucher)]
    return render_template("outputs.html", rows=_rows(list(reversed(found))), input_index=input_index,
                           vouchers_only=bool(request.args.get("vouchers")))


@bp.post("/outputs/<int:index>/execute")
@sent_once
def execute(index: int) -> Any:
    """Executes voucher ``index``: signed here for a dev account (waiting for its epoch's claim), or
    prepared for the browser wallet (the signing page)."""
    who, market = acting()
    if who.signs_here:
        try:
            _, tx = market.execute(index)
            flash(f"voucher {index} executed in transaction {tx.tx_hash}", "ok")
        except ClientError as exc:
            flash(f"voucher {index}: {exc.message}", "error")
        return redirect(_back(url_for("outputs.list_outputs", vouchers=1)), 303)
    try:
        voucher = market.wait_executable(index)
        if voucher.siblings is None:
            raise NodeError(f"voucher {index} has no proof yet")
        call = market.chain.execute_output_call(voucher.raw, voucher.index, voucher.siblings)
        txs = [wallet_tx(market.chain.prepare(call, market.account))]
    except ClientError as exc:
        flash(f"voucher {index}: {exc.message}", "error")
        return redirect(_back(url_for("outputs.list_outputs", vouchers=1)), 303)
    return sign_later(Receipt(f"Execute voucher {index}", _back(url_for("outputs.list_outputs", vouchers=1)),
                              txs=tuple(txs), kind="execute", owner=owner()))


def _back(default: str) -> str:
    """The page to go back to: the form's ``back`` field or ``?back=`` when local, else ``default``."""
    back = request.values.get("back", "")
    return back if back.startswith("/") and not back.startswith("//") else default


@bp.get("/sign/<rid>")
def sign(rid: str) -> Any:
    """The browser wallet's signing page of a kept receipt; once its input is known, its outcome."""
    receipt = runtime().receipts.get(rid, owner())
    if receipt is None:
        return render_template("error.html", message="this signing page has expired (or belongs to another "
                                                     "session): send the form again"), 404
    if receipt.input is not None:
        return redirect(url_for("outputs.show_input", index=receipt.input, receipt=rid), 303)
    return render_template("sign.html", title=receipt.title, txs=list(receipt.txs), kind=receipt.kind,
                           back=receipt.back, secret=receipt.secret, rid=rid)


@bp.get("/inputs/<int:index>")
def show_input(index: int) -> Any:
    """The outcome of input ``index`` (waits a little while the node processes it)."""
    try:
        outcome = reader().reader.wait_for_input(index, timeout=min(runtime().settings.wait_timeout, 60.0))
    except NodeError as exc:
        return render_template("error.html", message=exc.message), 504
    receipt = runtime().receipts.get(request.args.get("receipt"), owner())
    if receipt is None or receipt.input != index:
        receipt = Receipt(f"Input {index}", _back(url_for("outputs.list_outputs")))
    view = outcome_view(outcome, runtime().tokens.units(), list(receipt.transactions))
    return render_template("outcome.html", title=receipt.title, outcome=view, back=receipt.back,
                           secret=receipt.secret, credits=_credits(view), slashes=_slashes(view),
                           payouts=_payouts(outcome))


def _payouts(outcome: InputOutcome) -> list[dict[str, Any]]:
    """Each reward and returned stake of the input and where it went: the contributor's dApp balance,
    or the voucher that paid it (``mlmarket.client.payouts``)."""
    me, tokens, found = (acting_address() or "").lower(), {}, []
    for paid in payments(outcome):
        if paid.job not in tokens:
            answer = reader().query(query_path("jobs", paid.job))
            tokens[paid.job] = str((answer.get("job", {}) if isinstance(answer, dict) else {}).get("token") or ETHER)
        found.append({"kind": "reward" if paid.kind == "RewardPaid" else "stake returned", "job": paid.job,
                      "submission": paid.submission, "contributor": paid.contributor, "mine": paid.contributor == me,
                      "voucher": paid.voucher.index if paid.voucher else None,
                      "money": runtime().tokens.money(tokens[paid.job], paid.amount)})
    return found


def _slashes(view: OutcomeView) -> list[dict[str, Any]]:
    """Each stake the input slashed, with its amount and the submission's error (why it was invalid)."""
    found = []
    for job_id, sub_id, amount in slashed(view.notices):
        answer = reader().query(query_path("jobs", job_id))
        job = answer.get("job", {}) if isinstance(answer, dict) else {}
        subs = answer.get("submissions", []) if isinstance(answer, dict) else []
        error = next((s.get("error") for s in subs if s.get("id") == sub_id), None)
        found.append({"job": job_id, "submission": sub_id, "reason": error,
                      "money": runtime().tokens.money(str(job.get("token") or ETHER), amount)})
    return found


def _credits(view: OutcomeView) -> list[dict[str, Any]]:
    """Where the deposit of a refused input went (``money.credited``), for the outcome page."""
    me = (acting_address() or "").lower()
    return [{"money": runtime().tokens.money(token, amount), "account": account, "mine": account == me}
            for account, token, amount in credited(view.ok, view.notices)]
