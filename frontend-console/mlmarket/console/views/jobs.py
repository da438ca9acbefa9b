"""Jobs: the list, one job's page (leaderboard, chart, history, access) and its actions (settle, cancel,
review, reveal, top up; access and delegates in ``views.access``). A job with a reward rule
(``JobSpec.reward``) shows the rule in words and each submission's measured contribution and pay."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for

from mlmarket.client import actions
from mlmarket.client.chain import InputRequest
from mlmarket.client.errors import ClientError, InspectFailed
from mlmarket.client.inspect import query_path
from mlmarket.client.jobspec import parse_cid
from mlmarket.client.units import contribution_of, contribution_text, norm_text, privacy_text, reward_rule
from mlmarket.console.access_state import access_view
from mlmarket.console.chart import score_chart
from mlmarket.console.forms import FormErrors, amount, salt_field, text, whole
from mlmarket.console.runtime import acting_address, reader, runtime, sent_once
from mlmarket.console.views.common import content_cid, deliver

bp = Blueprint("jobs", __name__)
ACTIONS = ("settle", "cancel", "review", "reveal", "top_up")
CONTRIBUTION_MEANS = {
    "sequential": "how much the update improves the model of the updates committed before it; each round's "
                  "reward is shared in proportion to the positive contributions",
    "loo": "how much worse the round's model is without the update (leave-one-out); each round's reward is "
           "shared in proportion to the positive contributions",
    "shapley": "the update's average marginal value over random orders of the round's updates (Shapley); "
               "each round's reward is shared in proportion to the positive contributions",
    "top_k": "the score above the baseline; the best k share the budget in proportion to it",
}
"""What a contribution measures under each reward rule (docs/PROTOCOL.md §4.7), for the leaderboard."""


def _answer(value: Any, key: str, default: Any) -> Any:
    return value.get(key, default) if isinstance(value, dict) else default


@bp.get("/")
def index() -> Any:
    """The console opens on the jobs list."""
    return redirect(url_for("jobs.list_jobs"))


@bp.get("/jobs")
def list_jobs() -> str:
    """Every job: status, budget, deadline, policy, best score, link to its leaderboard."""
    jobs = _answer(reader().query("jobs"), "jobs", [])
    return render_template("jobs.html", jobs=sorted(jobs, key=lambda j: -int(j.get("id", 0))))


def job_context(job_id: int) -> dict[str, Any] | None:
    """What the job page shows (None if there is no such job); ``access`` is the ``jobs/<id>/access``
    answer as the acting account sees it."""
    market = reader()
    try:
        answer = market.query(query_path("jobs", job_id))
    except InspectFailed as exc:
        if exc.code == "not_found":
            return None
        raise
    job = _answer(answer, "job", {})
    submissions = _answer(answer, "submissions", [])
    leaderboard = _answer(market.query(query_path("jobs", job_id, "leaderboard")), "leaderboard", [])
    history = _answer(market.query(query_path("jobs", job_id, "history")), "history", [])
    access = market.query(query_path("jobs", job_id, "access"))
    chart = score_chart(submissions, history, str(job.get("metric", "")))
    viewer = acting_address()
    spec = job.get("spec") or {}
    return {"job": job, "submissions": _shown(submissions), "leaderboard": _shown(leaderboard),
            "history": history, "chart": chart, "spec": spec,
            "private": any(s.get("privacy") for s in submissions), **_reward_facts(job, spec),
            "access": access_view(job, access if isinstance(access, dict) else {}, viewer)}


def _reward_facts(job: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """The spec panel's ``reward_rule`` in words (rounds and best jobs, and any job with a rule) and
    ``clip_norm`` as a length (``None`` when the job keeps the default bound)."""
    policy = str(job.get("policy", ""))
    pool = runtime().tokens.fmt(spec.get("reward_per_accept", 0), job.get("token"))
    shown = policy in ("rounds", "best") or bool(spec.get("reward"))
    return {"reward_rule": reward_rule(spec, policy, pool) if shown else None,
            "contribution_means": CONTRIBUTION_MEANS.get(str(spec.get("reward") or ""), "the measured value"),
            "clip_norm": norm_text(spec["clip_norm"]) if spec.get("clip_norm") else None}


def _shown(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Submissions with their ``contribution_text`` (signed, in the metric's units, which the
    column header names) and ``privacy_text`` (``ε=…, δ=…``) added."""
    return [{**row, "contribution_text": contribution_text(contribution_of(row), ""),
             "privacy_text": privacy_text(row.get("privacy"))} for row in rows]


@bp.get("/jobs/<int:job_id>")
def show(job_id: int, errors: dict[str, str] | None = None, status: int = 200) -> Any:
    """One job: its spec, access, leaderboard, chart of scores, history and the actions it allows."""
    context = job_context(job_id)
    if context is None:
        return render_template("error.html", message=f"there is no job {job_id}"), 404
    return render_template("job.html", errors=errors or {}, form=request.form, **context), status


def _action_request(job_id: int, form: Any) -> tuple[InputRequest, str]:
    action = text(form, "action")
    if action == "settle":
        return actions.settle(job_id), f"Settle job {job_id}"
    if action == "cancel":
        return actions.cancel(job_id), f"Cancel job {job_id}"
    if action == "review":
        verdict = text(form, "verdict")
        if verdict not in ("accept", "reject"):
            raise FormErrors({"verdict": "accept or reject"})
        submission = whole(form, "submission", lo=1)
        return actions.review(job_id, submission, verdict == "accept"), f"Review submission {submission}"
    if action == "reveal":
        test_cid = content_cid(form, "test_cid", required=True)
        return actions.reveal(job_id, parse_cid(test_cid, "test_cid"), salt_field(form)), f"Reveal job {job_id}"
    if action == "top_up":
        job = _answer(reader().query(query_path("jobs", job_id)), "job", {})
        token = str(job.get("token"))
        value = amount(form, "amount", runtime().tokens.decimals(token))
        return actions.top_up(job_id, value, token), f"Top up job {job_id}"
    raise FormErrors({"action": f"unknown action {action!r}; one of {', '.join(ACTIONS)}"})


def send_from_job_page(job_id: int, build: Callable[[int, Any], tuple[InputRequest, str]]) -> Any:
    """Sends the input ``build(job_id, form)`` makes of the posted form and shows its outcome (or the
    wallet's signing page); a form or client error shows the job page again with the message."""
    try:
        req, title = build(job_id, request.form)
        return deliver(req, title=title, back=url_for("jobs.show", job_id=job_id))
    except FormErrors as exc:
        return show(job_id, errors=exc.errors, status=400)
    except ClientError as exc:
        return show(job_id, errors={"": exc.message}, status=400)


@bp.post("/jobs/<int:job_id>/action")
@sent_once
def act(job_id: int) -> Any:
    """Sends one of the job's actions (form field ``action``)."""
    return send_from_job_page(job_id, _action_request)
