"""Submitting to a job, commit before content (``mlmarket.console.submissions``): the form stages a
model (file, CID or composed from the catalogue) and optional training data here, then a dev account
follows the submission's progress page (commit, chunks, reveal) and a browser wallet gets the
unsigned transactions in that order. Unfinished submissions are listed on the form with Resume."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, redirect, render_template, request, url_for

from mlmarket.client.errors import ClientError, InputFailed, InspectFailed
from mlmarket.client.inspect import query_path
from mlmarket.client.submission_flow import content_of
from mlmarket.client.submission_state import NEW, Content, SubmissionState
from mlmarket.console import checks, submissions
from mlmarket.console.forms import FormErrors, cid_field, text, whole
from mlmarket.console.modelform import ModelFormError, catalogue_fields, model_from_form
from mlmarket.console.idempotency import Receipt
from mlmarket.console.runtime import acting, reader, runtime, sent_once
from mlmarket.console.sending import prepare_for_wallet
from mlmarket.console.staging import StagingError
from mlmarket.console.views.common import owner, sign_later, uploaded_file

bp = Blueprint("submit", __name__)


def _open_jobs() -> list[dict[str, Any]]:
    jobs = reader().query("jobs")
    return [j for j in (jobs.get("jobs", []) if isinstance(jobs, dict) else []) if j.get("status") == "open"]


def _kept() -> list[SubmissionState]:
    try:
        _, market = acting()
        return submissions.kept(market)
    except ClientError:
        return []


def _page(errors: dict[str, str] | None = None, status: int = 200,
          problems: tuple[Any, ...] = ()) -> tuple[str, int]:
    chosen = text(request.values, "job")
    return render_template("submit.html", errors=errors or {}, problems=problems, form=request.values,
                           jobs=_open_jobs(),
                           chosen=chosen, catalogue=catalogue_fields(), kept=_kept()), status


@bp.get("/submit")
def form() -> Any:
    """The submission form (``?job=N`` preselects a job) and the account's unfinished submissions."""
    return _page()


def _job(job_id: int) -> dict[str, Any]:
    try:
        answer = reader().query(query_path("jobs", job_id))
    except InspectFailed as exc:
        if exc.code == "not_found":
            raise FormErrors({"job": f"there is no job {job_id}"}) from None
        raise
    return answer.get("job", {}) if isinstance(answer, dict) else {}


def _staged(role: str, field: str, data: bytes) -> Content:
    try:
        runtime().staging.put(data)
    except StagingError as exc:
        raise FormErrors({field: str(exc)}) from None
    return content_of(role, data=data)


def _content(role: str, field: str) -> Content | None:
    """A pasted CID, or the chosen file staged here (not uploaded: the commit comes first)."""
    values = request.form
    if text(values, field):
        cid_field(values, field)
        return content_of(role, cid=text(values, field))
    data = uploaded_file(f"{field}_file")
    return _staged(role, field, data) if data is not None else None


def _model() -> Content | None:
    values = request.form
    if text(values, "source") == "compose" and not text(values, "model_cid"):
        try:
            return _staged("model", "model_cid", model_from_form(values, ""))
        except ModelFormError as exc:
            raise FormErrors({exc.field: str(exc)}) from None
    return _content("model", "model_cid")


@bp.post("/submit")
@sent_once
def submit() -> Any:
    """Stages the contents, keeps the submission's state (its salt) and starts it: the progress page
    (dev account) or the wallet's transactions (commit, chunks, reveal)."""
    values = request.form
    try:
        who, market = acting()
        job_id = whole(values, "job", lo=1)
        job = _job(job_id)
        model, data = _model(), _content("data", "data_cid")
        if model is None and data is None:
            raise FormErrors({"model_cid": "required: upload a file or paste its CID (a model, data, or both)"})
        stake = int((job.get("spec") or {}).get("stake") or 0)
        state = submissions.start(market, job=job_id, model=model, data=data, stake=stake,
                                  token=str(job.get("token")) if stake else None)
        if state.stage == NEW:  # before the commit, its stake deposit or any chunk
            try:
                checks.submission(market, state, runtime().staging.get, runtime().tokens.units())
            except checks.Refused:
                submissions.store().delete(state)
                raise
        if who.signs_here:
            return redirect(url_for("submit.progress", commitment="0x" + state.commitment.hex()), 303)
        return _wallet_page(market, state)
    except FormErrors as exc:
        return _page(exc.errors, 400)
    except checks.Refused as exc:
        return _page(checks.field_errors(exc.problems), 400, exc.problems)
    except ClientError as exc:
        return _page({"": exc.message}, 400)


def _wallet_page(market: Any, state: SubmissionState) -> Any:
    """Redirects to the signing page of what the wallet still has to send (commit, chunks, reveal)."""
    requests = submissions.wallet_requests(market, state)
    txs = tuple(tx for req in requests for tx in prepare_for_wallet(market, req))
    return sign_later(Receipt(f"Submit to job {state.job}: commit, upload, reveal",
                              url_for("jobs.show", job_id=state.job), txs=txs, owner=owner()))


@bp.get("/submissions/<commitment>")
def progress(commitment: str) -> Any:
    """The progress page of a kept submission (its script drives the steps)."""
    try:
        _, market = acting()
        state = submissions.find(market, commitment)
    except ClientError as exc:
        return render_template("error.html", message=exc.message), 404
    return render_template("submission.html", state=state, commitment="0x" + state.commitment.hex())


@bp.post("/submissions/<commitment>/resume")
@sent_once
def resume(commitment: str) -> Any:
    """Continues a kept submission: the progress page (dev account) or what the wallet still has to send."""
    try:
        who, market = acting()
        state = submissions.find(market, commitment)
        if who.signs_here:
            return redirect(url_for("submit.progress", commitment=commitment), 303)
        return _wallet_page(market, state)
    except ClientError as exc:
        return _page({"": exc.message}, 400)


@bp.post("/submissions/<commitment>/run")
@sent_once
def run_all(commitment: str) -> Any:
    """Every step left in one request (dev account without JavaScript); shows the reveal's outcome."""
    try:
        who, market = acting()
        if not who.signs_here:
            return _page({"": "a browser wallet sends the submission's transactions itself: use Resume"}, 400)
        outcome = submissions.run_all(market, submissions.find(market, commitment))
    except InputFailed as exc:  # the failed input's page shows the report
        return redirect(url_for("outputs.show_input", index=exc.outcome.index), 303)
    except ClientError as exc:
        return render_template("error.html", message=exc.message), 400
    return redirect(url_for("outputs.show_input", index=outcome.index), 303)


@bp.post("/api/submissions/<commitment>/step")
def api_step(commitment: str) -> Any:
    """JSON: one step of a kept submission for a dev account (``submissions.step``)."""
    try:
        who, market = acting()
        if not who.signs_here:
            return jsonify(ok=False, error="a browser wallet sends the submission's transactions itself"), 400
        answer = submissions.step(market, submissions.find(market, commitment))
    except InputFailed as exc:  # the page opens the failed input's outcome, with the report's message
        return jsonify(ok=False, error=exc.message, url=url_for("outputs.show_input", index=exc.outcome.index)), 400
    except ClientError as exc:
        return jsonify(ok=False, error=exc.message), 400
    if answer.get("done"):
        answer["url"] = url_for("outputs.show_input", index=answer["input"])
    return jsonify(answer)
