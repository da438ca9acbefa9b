"""Inspect answers about jobs: list, detail, submissions, leaderboard, history, access, a page at a time."""

from __future__ import annotations

from typing import Any

from dapp.domain import access, payouts
from dapp.domain.history import history, history_length, jsonable
from dapp.domain.paging import Page, parse_uint
from dapp.domain.records import JOBS, Job, Submission, get_job, submissions_of
from dapp.domain.spec import LOSSES
from dapp.domain.store import Reader
from dapp.errors import DomainError

SCALE = 1_000_000


def job_view(reader: Reader, job: Job) -> dict[str, Any]:
    """A job as JSON: its state, remaining budget and spec (scores in millionths and units)."""
    return {
        "id": job.id, "sponsor": job.sponsor.hex, "token": job.token.hex, "status": job.status,
        "outcome": job.outcome, "cancelling": job.cancelling, "budget": str(payouts.budget(reader, job)),
        "paid": str(job.paid),
        "submissions": job.submissions, "accepted": job.accepted, "created_at": job.created_at,
        "deadline": job.spec.deadline, "policy": job.spec.policy, "metric": job.spec.metric,
        "best_submission": job.best_submission or None,
        "best_score": None if job.best_score is None else job.best_score / SCALE,
        "model_cid": jsonable("model_cid", job.model_cid), "round": job.round,
        "test_cid": jsonable("test_cid", job.test_cid), "spec": jsonable("spec", job.spec),
    }


def submission_view(sub: Submission) -> dict[str, Any]:
    """A submission as JSON; ``score`` in the metric's units, ``score_millionths`` exact."""
    return {
        "id": sub.id, "job": sub.job_id, "contributor": sub.contributor.hex,
        "model_cid": jsonable("model_cid", sub.model_cid), "data_cid": jsonable("data_cid", sub.data_cid),
        "status": sub.status, "accepted": sub.status == "accepted",
        "score": None if sub.score is None else sub.score / SCALE, "score_millionths": sub.score,
        "reward": str(sub.reward), "stake": str(sub.stake), "samples": sub.samples,
        "trained_model_cid": jsonable("trained_cid", sub.trained_cid), "error": sub.error or None,
        "created_at": sub.created_at, "round": sub.round,
        "contribution": None if sub.contribution is None else sub.contribution / SCALE,
        "contribution_millionths": sub.contribution,
        "privacy": {"epsilon": sub.epsilon / SCALE, "delta": sub.delta / 10**12} if sub.epsilon else None,
    }


def leaderboard(reader: Reader, job: Job) -> list[Submission]:
    """Scored submissions, best first (ties: the earliest first). With a contribution reward
    (``JobSpec.reward``), best means the largest measured contribution (unmeasured ones last), then
    the best score."""
    scored = [s for s in submissions_of(reader, job) if s.score is not None and s.status != "invalid"]
    sign = 1 if job.spec.metric in LOSSES else -1
    scored.sort(key=lambda s: (sign * s.score, s.id))
    if job.spec.reward:
        scored.sort(key=lambda s: (s.contribution is None, -(s.contribution or 0)))  # stable: score order kept
    return scored


def _history_page(reader: Reader, job: Job, page: Page) -> dict[str, Any]:
    total = history_length(reader, job.id)
    return {"job": job.id, "history": history(reader, job.id, page.offset, page.limit), **page.fields(total)}


def _access_page(reader: Reader, job: Job, page: Page) -> dict[str, Any]:
    """The access view with each of its lists cut to the page; ``total`` is the longest list's length."""
    view = access.access_view(reader, job)
    lists = ("requests", "granted", "delegates")
    total = max(len(view[name]) for name in lists)
    return {**view, **{name: page.take(view[name]) for name in lists}, **page.fields(total)}


def answer_jobs(reader: Reader, parts: list[str], page: Page) -> dict[str, Any]:
    """``jobs``, ``jobs/<id>``, ``jobs/<id>/submissions|leaderboard|history|access``, each list cut
    to ``page``."""
    if len(parts) == 1:
        jobs = [job for _, job in reader.items(JOBS)]
        return {"jobs": [job_view(reader, job) for job in page.take(jobs)], **page.fields(len(jobs))}
    job = get_job(reader, parse_uint(parts[1], "a job id"))
    if len(parts) == 2:
        subs = submissions_of(reader, job)
        return {"job": job_view(reader, job), "submissions": [submission_view(s) for s in page.take(subs)],
                **page.fields(len(subs))}
    what = parts[2] if len(parts) == 3 else ""
    if what == "submissions":
        subs = submissions_of(reader, job)
        return {"job": job.id, "submissions": [submission_view(s) for s in page.take(subs)],
                **page.fields(len(subs))}
    if what == "leaderboard":
        board = leaderboard(reader, job)
        return {"job": job.id, "metric": job.spec.metric,
                "leaderboard": [submission_view(s) for s in page.take(board)], **page.fields(len(board))}
    if what == "history":
        return _history_page(reader, job, page)
    if what == "access":
        return _access_page(reader, job, page)
    raise DomainError("usage: jobs[/<id>[/submissions|leaderboard|history|access]][?offset=O&limit=N]",
                      code="bad_query")
