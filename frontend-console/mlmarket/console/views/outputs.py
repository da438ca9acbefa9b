"""Outputs: decoded notices and vouchers with their state, voucher execution, one input's outcome."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from mlmarket.client.errors import ClientError, NodeError
from mlmarket.client.outputs import EXECUTED, DecodedVoucher
from mlmarket.console.present import notice_summary, voucher_summary
from mlmarket.console.runtime import acting, reader, runtime
from mlmarket.console.sending import outcome_view, wallet_tx

bp = Blueprint("outputs", __name__)


def _rows(found: list[Any]) -> list[dict[str, Any]]:
    fmt = runtime().tokens.fmt
    rows = []
    for output in found:
        if isinstance(output, DecodedVoucher):
            rows.append({"type": "voucher", "index": output.index, "input_index": output.input_index,
                         "summary": voucher_summary(output.call, output.value, fmt), "state": output.state,
                         "destination": output.destination, "executable": output.state != EXECUTED})
        else:
            rows.append({"type": "notice", "index": output.index, "input_index": output.input_index,
                         "name": output.name, "summary": notice_summary(output.name, output.args, fmt),
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
        return redirect(url_for("outputs.list_outputs", vouchers=1))
    try:
        voucher = market.wait_executable(index)
        if voucher.siblings is None:
            raise NodeError(f"voucher {index} has no proof yet")
        call = market.chain.execute_output_call(voucher.raw, voucher.index, voucher.siblings)
        txs = [wallet_tx(market.chain.prepare(call, market.account))]
    except ClientError as exc:
        flash(f"voucher {index}: {exc.message}", "error")
        return redirect(url_for("outputs.list_outputs", vouchers=1))
    return render_template("sign.html", title=f"Execute voucher {index}", txs=txs, kind="execute",
                           back=url_for("outputs.list_outputs", vouchers=1), secret=None)


@bp.get("/inputs/<int:index>")
def show_input(index: int) -> Any:
    """The outcome of input ``index`` (waits a little while the node processes it)."""
    try:
        outcome = reader().reader.wait_for_input(index, timeout=min(runtime().settings.wait_timeout, 60.0))
    except NodeError as exc:
        return render_template("error.html", message=exc.message), 504
    view = outcome_view(outcome, runtime().tokens.fmt)
    back = request.args.get("back", "")
    return render_template("outcome.html", title=f"Input {index}", outcome=view,
                           back=back if back.startswith("/") and not back.startswith("//") else url_for("outputs.list_outputs"),
                           secret=None)
