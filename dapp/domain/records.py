"""Stored records of the market: jobs and submissions (immutable; replaced on change)."""

from __future__ import annotations

from dataclasses import dataclass

from dapp.domain.commands import JobSpec
from dapp.domain.store import Reader
from dapp.domain.values import Address
from dapp.errors import DomainError

JOBS = "jobs"
SUBMISSIONS = "submissions"  # (job_id, submission_id) -> Submission
BY_CONTRIBUTOR = "job_contributor_count"  # (job_id, contributor) -> submissions made
COMMITMENTS = "submission_commitments"  # (job_id, commitment) -> submission id
HELD_WORK = "held_work"  # (job_id, work key) -> the earliest submission of a manual job holding that work
PAID_WORK = "paid_work"  # (job_id, work key) -> the first submission paid for that work (payouts.work_keys)

OPEN = "open"
REVEALING = "revealing"
SCORING = "scoring"  # hidden test revealed: submissions scored in batches (settleJob sends the next)
ENDED = "ended"


@dataclass(frozen=True, slots=True)
class Job:
    """A job and where it stands. ``budget`` lives in the ledger pot ``("job", id)``."""

    id: int
    sponsor: Address
    token: Address
    spec: JobSpec
    created_at: int
    status: str = OPEN
    outcome: str = ""
    submissions: int = 0
    accepted: int = 0
    paid: int = 0
    best_submission: int = 0
    best_score: int | None = None
    model_cid: bytes = b""
    round: int = 0
    round_started: int = 0
    test_cid: bytes = b""
    deferred_work: int = 0  # estimated work of the submissions waiting for the reveal
    fallback_split: bool = False  # scoring on the validation set for the fallback split (dapp.domain.reveal)
    decided: int = 0  # submissions 1..decided are decided, in commit order (dapp.domain.decisions)
    cancelling: bool = False  # cancelled while commits were open: ends once they are revealed or expire


@dataclass(frozen=True, slots=True)
class Submission:
    """A contributor's answer to a job. ``status``: committed (not yet revealed) | expired (not
    revealed in time) | revealed (scored, waiting for earlier commits) | stored | scored | accepted |
    rejected | invalid | unscorable (could not be scored on a revealed hidden test set)."""

    job_id: int
    id: int
    contributor: Address
    model_cid: bytes
    data_cid: bytes
    created_at: int
    stake: int = 0
    status: str = "stored"
    score: int | None = None
    trained_cid: bytes = b""
    samples: int = 0
    reward: int = 0
    reviewed: bool = False
    error: str = ""
    round: int = 0
    base_cid: bytes = b""  # a data-only submission: the job's model it trains (fixed when revealed)
    commitment: bytes = b""  # keccak256(abi.encode(sender, jobId, modelCid, dataCid, salt))
    contribution: int | None = None  # under a contribution rule (JobSpec.reward): the measured value
    epsilon: int = 0  # a differentially private update: the declared epsilon (millionths), 0: none
    delta: int = 0  # ... and delta (10^-12 units)


def job_pot(job_id: int) -> tuple[str, int]:
    """The ledger pot holding a job's budget."""
    return ("job", job_id)


def stake_pot(job_id: int, submission_id: int) -> tuple[str, int, int]:
    """The ledger pot holding one submission's stake."""
    return ("stake", job_id, submission_id)


def get_job(reader: Reader, job_id: int) -> Job:
    """The job, or ``DomainError`` (code ``not_found``)."""
    job = reader.get(JOBS, job_id)
    if job is None:
        raise DomainError(f"no job {job_id}", code="not_found")
    return job


def get_submission(reader: Reader, job_id: int, submission_id: int) -> Submission:
    """The submission, or ``DomainError`` (code ``not_found``)."""
    sub = reader.get(SUBMISSIONS, (job_id, submission_id))
    if sub is None:
        raise DomainError(f"job {job_id} has no submission {submission_id}", code="not_found")
    return sub


def submissions_of(reader: Reader, job: Job) -> list[Submission]:
    """Every submission of ``job``, in order."""
    return [reader.get(SUBMISSIONS, (job.id, i)) for i in range(1, job.submissions + 1)]
