"""Submitting to a job: a model (file, CID or composed from the catalogue) and optional training
data; the job's stake, if it has one, is deposited with the submission."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request, url_for

from mlmarket.client import actions
from mlmarket.client.errors import ClientError, InspectFailed
from mlmarket.client.inspect import query_path
from mlmarket.client.jobspec import parse_cid
from mlmarket.console.forms import FormErrors, text, whole
from mlmarket.console.modelform import catalogue_fields
from mlmarket.console.runtime import acting, reader
from mlmarket.console.views.common import content_cid, deliver, model_cid

bp = Blueprint("submit", __name__)


def _open_jobs() -> list[dict[str, Any]]:
    jobs = reader().query("jobs")
    return [j for j in (jobs.get("jobs", []) if isinstance(jobs, dict) else []) if j.get("status") == "open"]


def _page(errors: dict[str, str] | None = None, status: int = 200) -> tuple[str, int]:
    chosen = text(request.values, "job")
    return render_template("submit.html", errors=errors or {}, form=request.values, jobs=_open_jobs(),
                           chosen=chosen, catalogue=catalogue_fields()), status


@bp.get("/submit")
def form() -> Any:
    """The submission form (``?job=N`` preselects a job)."""
    return _page()


def _job(job_id: int) -> dict[str, Any]:
    try:
        answer = reader().query(query_path("jobs", job_id))
    except InspectFailed as exc:
        if exc.code == "not_found":
            raise FormErrors({"job": f"there is no job {job_id}"}) from None
        raise
    return answer.get("job", {}) if isinstance(answer, dict) else {}


@bp.post("/submit")
def submit() -> Any:
    """Validates and sends ``submit`` (deposits the job's stake with it when it has one)."""
    values = request.form
    try:
        acting()
        job_id = whole(values, "job", lo=1)
        job = _job(job_id)
        model = model_cid(values, "", "model_cid", required=not text(values, "data_cid")
                          and not request.files.get("data_cid_file"))
        data = content_cid(values, "data_cid")
        if not model and not data:
            raise FormErrors({"model_cid": "give a model, training data, or both"})
        stake = int((job.get("spec") or {}).get("stake") or 0)
        req = actions.submit(job_id, parse_cid(model, "model_cid") if model else b"",
                             parse_cid(data, "data_cid") if data else b"", stake=stake,
                             token=str(job.get("token")) if stake else None)
        return deliver(req, title=f"Submit to job {job_id}", back=url_for("jobs.show", job_id=job_id))
    except FormErrors as exc:
        return _page(exc.errors, 400)
    except ClientError as exc:
        return _page({"": exc.message}, 400)
