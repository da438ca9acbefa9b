"""The JSON API the pages' JavaScript drives: staging files, uploading them chunk by chunk (with
progress, resumable after a reload), composing model files, hashing a file without storing it."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from dapp.codec.cid import cid_of, cid_to_text
from mlmarket.client.errors import ClientError
from mlmarket.console.forms import FormErrors
from mlmarket.console.modelform import ModelFormError, model_from_form
from mlmarket.console.runtime import acting, human, runtime
from mlmarket.console.sending import outcome_view, prepare_for_wallet, sent_transactions
from mlmarket.console.staging import StagingError
from mlmarket.console.uploads import Progress, after_chunk, next_step, partial_uploads
from mlmarket.console.views.common import uploaded_file

bp = Blueprint("api", __name__, url_prefix="/api")


def _fail(message: str, status: int = 400) -> Any:
    return jsonify(ok=False, error=human(message)), status


def _staged_progress(cid: str, data: bytes) -> dict[str, Any]:
    _, market = acting()
    plan = runtime().staging.plan(cid, data)
    return {"ok": True, **next_step(market, cid, data, plan).progress.to_json()}


@bp.post("/uploads")
def stage() -> Any:
    """Multipart ``file``: keeps it here and answers its CID and how much of it the dApp holds."""
    try:
        data = uploaded_file("file")
        if data is None:
            return _fail("choose a file")
        cid = runtime().staging.put(data)
        return jsonify(_staged_progress(cid, data))
    except (FormErrors, StagingError) as exc:
        return _fail(str(exc).removeprefix("file: "))
    except ClientError as exc:
        return _fail(exc.message)


@bp.post("/models")
def stage_model() -> Any:
    """The model builder's fields (form-encoded, ``prefix``): the model file, kept here like an upload."""
    form = request.form
    try:
        data = model_from_form(form, form.get("prefix", ""))
        cid = runtime().staging.put(data)
        return jsonify(_staged_progress(cid, data))
    except ModelFormError as exc:
        return jsonify(ok=False, error=str(exc), field=exc.field), 400
    except ClientError as exc:
        return _fail(exc.message)


@bp.post("/uploads/<cid>/next")
def send_next(cid: str) -> Any:
    """Sends the next chunk of staged file ``cid`` (dev account: signed here, answered once the node
    processed it) or prepares it for the wallet (``txs``). Answers the progress either way."""
    try:
        data = runtime().staging.get(cid)
    except StagingError as exc:
        return _fail(str(exc))
    if data is None:
        return _fail("this console no longer holds the file: choose it again to resume", 404)
    try:
        who, market = acting()
        step = next_step(market, cid, data, runtime().staging.plan(cid, data))
        if step.request is None:
            return jsonify(ok=True, **step.progress.to_json())
        if not who.signs_here:
            return jsonify(ok=True, txs=prepare_for_wallet(market, step.request), **step.progress.to_json())
        sent = market.send(step.request, check=False)
        view = outcome_view(sent.outcome, runtime().tokens.units(), sent_transactions(sent))
        if not view.ok:
            return _fail(f"chunk refused: {view.error}")
        stored = any(n["name"] == "ContentStored" and n["args"].get("cid") == cid for n in view.notices)
        return jsonify(ok=True, **after_chunk(step, stored).to_json())
    except ClientError as exc:
        return _fail(exc.message)


@bp.get("/uploads/pending")
def pending() -> Any:
    """The acting account's unfinished uploads, with their progress when this console holds the bytes."""
    try:
        _, market = acting()
        found = []
        for upload in partial_uploads(market):
            cid = upload["cid"]
            try:
                data = runtime().staging.get(cid)
            except StagingError:
                data = None
            if data is not None:
                progress = next_step(market, cid, data, runtime().staging.plan(cid, data)).progress
            else:
                progress = Progress(cid, int(upload.get("size", 0)), 0, 0, int(upload.get("received", 0)), False)
            found.append({**progress.to_json(), "resumable": data is not None})
        return jsonify(ok=True, uploads=found)
    except ClientError as exc:
        return _fail(exc.message)


@bp.post("/cid")
def hash_file() -> Any:
    """Multipart ``file``: its CID, computed here; the bytes are neither kept nor uploaded."""
    try:
        data = uploaded_file("file")
    except FormErrors as exc:
        return _fail(str(exc).removeprefix("file: "))
    if data is None:
        return _fail("choose a file")
    return jsonify(ok=True, cid=cid_to_text(cid_of(data)), size=len(data))
