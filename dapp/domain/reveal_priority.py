"""Which uploads get storage priority: those of a sponsor whose hidden test set is due.

A job (``best`` or ``threshold``) with a hidden test set keeps the test set secret until its
deadline, so its sponsor uploads it in the reveal window (``[deadline, deadline + reveal_window)``).
A stranger could fill the content store (or the partial-upload pool) with fresh files beforehand, so
that the upload is refused and the reveal fails. So, while one of its hidden-test jobs is **due for
a reveal** (past its deadline, not revealed, window not over, not ended), the sponsor's uploads may,
when room is short, evict unreferenced content whatever its age and other accounts' partial uploads
whether expired or not (``dapp.domain.content_budget.make_room``, ``dapp.domain.partial_uploads``).

Index: ``HIDDEN`` maps a sponsor to the ids of its hidden-test jobs that may still be due (written
at creation by ``note_job``). ``due_for_reveal`` reads that row and those jobs, and forgets the jobs
that can never be due again (ended, revealed, window over), so its cost is O(the sponsor's hidden-
test jobs not yet over): one row for any other account, whatever the number of jobs.
"""

from __future__ import annotations

from dapp.domain.records import JOBS, OPEN, REVEALING, Job
from dapp.domain.store import Tx
from dapp.domain.values import Address

HIDDEN = "hidden_test_jobs"      # sponsor -> ids of its hidden-test jobs that may still be due


def _hidden(job: Job) -> bool:
    return job.spec.test_commitment != bytes(32)


def _over(job: Job, now: int) -> bool:
    """Whether ``job`` can never be due for a reveal again (``now`` never decreases)."""
    return job.status not in (OPEN, REVEALING) or now >= job.spec.deadline + job.spec.reveal_window


def _due(job: Job, now: int) -> bool:
    return not _over(job, now) and now >= job.spec.deadline


def note_job(tx: Tx, job: Job) -> None:
    """Indexes a new job under its sponsor when it has a hidden test set (else nothing)."""
    if _hidden(job):
        tx.put(HIDDEN, job.sponsor, tx.get(HIDDEN, job.sponsor, ()) + (job.id,))


def due_for_reveal(tx: Tx, sender: Address, now: int) -> bool:
    """Whether ``sender`` sponsors a hidden-test job due for a reveal at ``now`` (module docstring);
    forgets the sender's jobs that are over."""
    ids = tx.get(HIDDEN, sender)
    if ids is None:
        return False
    jobs = [tx.get(JOBS, job_id) for job_id in ids]
    live = tuple(job.id for job in jobs if not _over(job, now))
    if live != ids:
        if live:
            tx.put(HIDDEN, sender, live)
        else:
            tx.delete(HIDDEN, sender)
    return any(_due(job, now) for job in jobs)
