"""Helpers the blueprints share: delivering an input, reading content fields, form errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import redirect, request, session, url_for
from werkzeug.datastructures import FileStorage
from werkzeug.wrappers import Response

from dapp.codec.cid import cid_of, cid_to_text
from mlmarket.client.chain import InputRequest
from mlmarket.client.errors import ClientError
from mlmarket.client.upload import upload
from mlmarket.console.forms import FormErrors, cid_field, text
from mlmarket.console.idempotency import Receipt
from mlmarket.console.modelform import ModelFormError, model_from_form
from mlmarket.console.runtime import acting, runtime
from mlmarket.console.sending import prepare_for_wallet, sent_transactions


def owner() -> str:
    """Whose receipts these are: the session's CSRF token (receipts of other sessions stay hidden)."""
    token = session.get("csrf_token")
    return token if isinstance(token, str) else ""


def deliver(req: InputRequest, *, title: str, back: str, secret: Mapping[str, Any] | None = None) -> Response:
    """Sends ``req`` for the acting account, then redirects to the input's outcome page (dev
    account), or to the page that has the browser wallet send it (wallet): Post/Redirect/Get, so a
    reload never sends again. ``secret`` is shown on that page (to this session only)."""
    who, market = acting()
    kept = dict(secret) if secret else None
    if who.signs_here:
        sent = market.send(req, check=False)
        receipt = Receipt(title, back, input=sent.ref.index, transactions=tuple(sent_transactions(sent)),
                          secret=kept, owner=owner())
        rid = runtime().receipts.put(receipt)
        return redirect(url_for("outputs.show_input", index=sent.ref.index, receipt=rid), 303)
    txs = tuple(prepare_for_wallet(market, req))
    return sign_later(Receipt(title, back, secret=kept, txs=txs, kind="input", owner=owner()))


def sign_later(receipt: Receipt) -> Response:
    """Keeps the wallet's transactions and redirects to the signing page that shows them."""
    return redirect(url_for("outputs.sign", rid=runtime().receipts.put(receipt)), 303)


def uploaded_file(name: str) -> bytes | None:
    """The bytes of the uploaded file field ``name`` (None when no file was chosen)."""
    storage: FileStorage | None = request.files.get(name)
    if storage is None or not storage.filename:
        return None
    data = storage.read(runtime().settings.max_file_size + 1)
    if len(data) > runtime().settings.max_file_size:
        raise FormErrors({name: f"the file is larger than {runtime().settings.max_file_size} bytes"})
    if not data:
        raise FormErrors({name: "the file is empty"})
    return data


def store_bytes(data: bytes, field: str) -> str:
    """Uploads ``data`` from the acting dev account (no-JavaScript fallback); returns its CID."""
    who, market = acting()
    if not who.signs_here:
        raise FormErrors({field: "with a browser wallet, files are uploaded by the page's upload button "
                                 "(JavaScript must be on)"})
    try:
        return upload(market, data).cid
    except ClientError as exc:
        raise FormErrors({field: f"upload failed: {exc.message}"}) from None


def content_cid(form: Mapping[str, str], name: str, *, required: bool = False,
                later: list[tuple[bytes, str]] | None = None) -> str:
    """The CID text of content field ``name``: the pasted CID, or the file ``<name>_file`` uploaded
    now (dev accounts; the page's JavaScript uploads with progress before submitting instead), or,
    with ``later``, hashed now and added to ``later`` to be uploaded once the pre-flight passed."""
    if text(form, name):
        cid_field(form, name)
        return text(form, name)
    data = uploaded_file(f"{name}_file")
    if data is not None:
        return _kept(data, name, later)
    if required:
        raise FormErrors({name: "required: upload a file or paste its CID"})
    return ""


def _kept(data: bytes, name: str, later: list[tuple[bytes, str]] | None) -> str:
    if later is None:
        return store_bytes(data, name)
    later.append((data, name))
    return cid_to_text(cid_of(data))


def model_cid(form: Mapping[str, str], prefix: str, name: str, *, required: bool,
              later: list[tuple[bytes, str]] | None = None) -> str:
    """A model field: composed from the catalogue (``<prefix>source`` = ``compose``) and uploaded
    (or kept in ``later``), else a CID or file (``content_cid``)."""
    if text(form, f"{prefix}source") == "compose" and not text(form, name):
        try:
            data = model_from_form(form, prefix)
        except ModelFormError as exc:
            raise FormErrors({exc.field: str(exc)}) from None
        return _kept(data, name, later)
    return content_cid(form, name, required=required, later=later)


def hashed_file_cid(form: Mapping[str, str], name: str) -> str:
    """CID text of field ``name``, or of the file ``<name>_file`` hashed here and never stored (a hidden
    test set must stay secret until the reveal)."""
    if text(form, name):
        cid_field(form, name)
        return text(form, name)
    data = uploaded_file(f"{name}_file")
    return cid_to_text(cid_of(data)) if data is not None else ""
