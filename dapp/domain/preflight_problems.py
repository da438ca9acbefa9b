"""Pre-flight problems: what a dry run (``dapp.domain.preflight``) found, each as a ``Problem`` with
a code, the advance path's message and a fix, collected once each and in order by ``Found``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dapp.errors import DappError

FIXES = {
    "insufficient_balance": "deposit the missing amount with the input, or deposit first (mlmarket deposit)",
    "content_missing": "upload it first (mlmarket put FILE), or give its bytes inline to the pre-flight",
    "not_found": "check the job id (mlmarket job list)",
    "job_closed": "pick an open job (mlmarket job list)",
    "no_access": "request access (mlmarket access request JOB) and wait for the sponsor's grant",
    "too_many_submissions": "this account reached the job's max_submissions: submit from another job",
    "bad_submission": "give a model, or training data for a job that has a base model",
    "file_too_large": "use a smaller file (max_file_size)",
    "storage_full": "wait until unused files are reclaimed (content_ttl), or use a smaller file",
    "invalid_input": "send a protocol call encoded with dapp.codec.abi (mlmarket encodes it for you)",
    "duplicate_commitment": "draw a new salt",
    "training_too_costly": "use fewer rows or features, or smaller hyper-parameters (docs/MODELS.md)",
    "evaluation_too_costly": "use a smaller trained model (docs/MODELS.md)",
    "dataset_missing_label": "set the spec's label to the CSV's label column, or add that column to the CSV",
    "dataset_not_utf8": "give a CSV file: UTF-8 text, a header row, numeric cells",
    "stake_slashed": "fix the model or data: with a stake, content that fails the checks is accepted and the "
                     "stake goes to the job's budget",
}
"""Fix hints by error code; engine errors not listed get one by their family (``_family_fix``)."""

JOB_FIXES = {"insufficient_balance": "deposit the budget with the job (mlmarket job create without "
                                     "--from-balance), or deposit first (mlmarket deposit)"}
SUBMISSION_FIXES = {"insufficient_balance": "deposit the stake with the commit (mlmarket submit --stake N, or "
                                            "no --stake: what the balance lacks), or deposit first (mlmarket deposit)"}


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason the input would be refused (or cost its stake): ``fix`` says what to change."""

    code: str
    message: str
    fix: str
    field: str = ""


def _family_fix(code: str) -> str:
    if code.startswith("dataset_") or code in ("value_out_of_range", "bad_task"):
        return "fix the CSV: a header row, numeric cells, the job's label column (docs/MODELS.md)"
    if code.startswith(("model_", "param_", "spec_", "estimator_", "unsafe_", "bad_pre")):
        return "fix the model file or spec: allowed estimators and parameters are in docs/MODELS.md"
    return "see docs/PROTOCOL.md §11 for this code"


def problem_of(exc: DappError, what: str = "", fixes: dict[str, str] | None = None) -> Problem:
    """The ``Problem`` an error raised by the advance path's code stands for; ``what`` prefixes
    its message (``"validation data"``); ``fixes`` overrides ``FIXES`` for one kind of input."""
    message = f"{what}: {exc.message}" if what else exc.message
    fix = (getattr(exc, "fix", "") or (fixes or {}).get(exc.code) or FIXES.get(exc.code)
           or _family_fix(exc.code))
    return Problem(exc.code, message, fix, getattr(exc, "field", ""))


class Found:
    """Problems collected in order, each (code, message of the error) once."""

    def __init__(self, fixes: dict[str, str] | None = None) -> None:
        self.items: list[Problem] = []
        self.fixes = fixes
        self._seen: set[tuple[str, str]] = set()

    def add(self, problem: Problem, raw: str | None = None) -> None:
        """Records ``problem`` unless an error with its code and ``raw`` message was recorded."""
        key = (problem.code, problem.message if raw is None else raw)
        if key not in self._seen:
            self._seen.add(key)
            self.items.append(problem)

    def error(self, exc: DappError, what: str = "") -> None:
        """Records the problem ``exc`` stands for."""
        self.add(problem_of(exc, what, self.fixes), exc.message)

    def run(self, check: Callable[[], Any], what: str = "") -> Any:
        """``check()``, or ``None`` with its ``DappError`` recorded."""
        try:
            return check()
        except DappError as exc:
            self.error(exc, what)
            return None
