"""Gated jobs and delegates from the job page: request access, grant or revoke it (sponsor or delegate),
appoint or remove delegates (sponsor). The backend decides who may: the console sends what is asked
and shows the report of a refusal (``forbidden``, ``not_gated``, ``job_closed``) like any outcome."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from mlmarket.client import actions
from mlmarket.client.chain import InputRequest
from mlmarket.console.forms import FormErrors, address_field, hex_field, text
from mlmarket.console.runtime import runtime, sent_once
from mlmarket.console.views.jobs import send_from_job_page

bp = Blueprint("access", __name__)
ACTIONS = ("request", "grant", "revoke", "appoint", "dismiss")


def _access_request(job_id: int, form: Any) -> tuple[InputRequest, str]:
    action = text(form, "action")
    if action == "request":
        key = hex_field(form, "public_key", limit=runtime().settings.max_public_key_bytes)
        return actions.request_access(job_id, key), f"Request access to job {job_id}"
    if action in ("grant", "revoke"):
        account = address_field(form, "account")
        verb = "Grant" if action == "grant" else "Revoke"
        return actions.set_access(job_id, account, action == "grant"), f"{verb} access to job {job_id} for {account}"
    if action in ("appoint", "dismiss"):
        account = address_field(form, "delegate")
        title = f"{'Appoint' if action == 'appoint' else 'Remove'} delegate {account} of job {job_id}"
        return actions.set_delegate(job_id, account, action == "appoint"), title
    raise FormErrors({"action": f"unknown action {action!r}; one of {', '.join(ACTIONS)}"})


@bp.post("/jobs/<int:job_id>/access")
@sent_once
def change(job_id: int) -> Any:
    """Sends ``requestAccess``, ``setAccess`` or ``setDelegate`` (form field ``action``, see ``ACTIONS``)."""
    return send_from_job_page(job_id, _access_request)
