"""Choosing who acts (a dev account, or a browser wallet) and the wallet's confirmation of a sent input."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, request, session, url_for
from web3 import Web3

from mlmarket.client.errors import ClientError
from mlmarket.console.gateway import DEV, WALLET
from mlmarket.console.runtime import reader, runtime
from mlmarket.console.settings import DEV_ACCOUNT_COUNT
from mlmarket.console.views.common import owner

bp = Blueprint("account", __name__)


def _back() -> str:
    target = request.form.get("next", "")
    return target if target.startswith("/") and not target.startswith("//") else url_for("jobs.list_jobs")


@bp.post("/account")
def choose() -> Any:
    """Form ``account``: a dev account's index (local chain only) or ``wallet``."""
    choice = request.form.get("account", "")
    if choice == WALLET:
        address = session.get("wallet_address")
        if address:
            session["account"] = {"mode": WALLET, "address": address}
        else:
            flash("connect your browser wallet first (the Connect wallet button)", "error")
        return redirect(_back())
    if not choice.isdigit() or int(choice) >= DEV_ACCOUNT_COUNT:
        abort(400, description=f"account must be a dev account 0..{DEV_ACCOUNT_COUNT - 1} or wallet")
    if not runtime().pool.dev_accounts_allowed():
        abort(400, description="dev accounts sign only on a local chain; connect a browser wallet")
    session["account"] = {"mode": DEV, "index": int(choice)}
    return redirect(_back())


@bp.post("/api/wallet/account")
def wallet_account() -> Any:
    """JSON ``{"address"}``: the browser wallet's account becomes the acting one."""
    address = (request.get_json(silent=True) or {}).get("address")
    if not isinstance(address, str) or not Web3.is_address(address):
        return jsonify(ok=False, error=f"not an address: {address!r}"), 400
    checksummed = Web3.to_checksum_address(address)
    session["wallet_address"] = checksummed
    session["account"] = {"mode": WALLET, "address": checksummed}
    return jsonify(ok=True, address=checksummed, chain_id=reader().config.chain_id)


@bp.post("/api/wallet/confirm")
def confirm() -> Any:
    """JSON ``{"tx_hash", "wait", "receipt"}`` of an input the wallet sent: the input's index and the
    page showing its outcome; with ``wait``, once the node processed it, and ``error`` (null when it
    went through); with the signing page's ``receipt``, that page now redirects to the outcome."""
    body = request.get_json(silent=True) or {}
    tx_hash = body.get("tx_hash")
    if not isinstance(tx_hash, str) or len(tx_hash) != 66 or not tx_hash.startswith("0x"):
        return jsonify(ok=False, error=f"not a transaction hash: {tx_hash!r}"), 400
    try:
        index = reader().chain.input_index(tx_hash)
        error = None
        if body.get("wait"):
            error = reader().reader.wait_for_input(index, timeout=runtime().settings.wait_timeout).error
    except ClientError as exc:
        return jsonify(ok=False, error=exc.message), 400
    if error:
        return jsonify(ok=False, input=index, error=f"input {index} failed: {error}"), 400
    rid = body.get("receipt")
    if isinstance(rid, str) and runtime().receipts.record_input(rid, owner(), index) is not None:
        return jsonify(ok=True, input=index, url=url_for("outputs.show_input", index=index, receipt=rid))
    return jsonify(ok=True, input=index, url=url_for("outputs.show_input", index=index))
