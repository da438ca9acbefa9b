"""Events: what the domain returns. The codec turns them into notices, vouchers and reports.

A notice event's class name is its ``IMLMarketNotices`` function and its fields are the ABI
arguments in order (checked by tests). ``Payment`` becomes a voucher; ``UploadProgress`` and
``PayoutsChosen`` a report.
"""

from __future__ import annotations

from dataclasses import dataclass

from dapp.domain.commands import JobSpec
from dapp.domain.records import Submission
from dapp.domain.values import Address


@dataclass(frozen=True, slots=True)
class Payment:
    """Value leaving the dApp: a voucher paying ``amount`` of ``token`` to ``to``."""

    token: Address
    to: Address
    amount: int


@dataclass(frozen=True, slots=True)
class UploadProgress:
    """Where an upload stands after a chunk (a JSON report); ``received == size`` when the file
    was already stored."""

    cid: bytes
    received: int
    size: int


@dataclass(frozen=True, slots=True)
class PayoutsChosen:
    """``setPayoutVouchers`` took effect (a JSON report): ``account``'s rewards and returned stakes
    now leave by voucher at once (``vouchers``) or are credited to its dApp balance."""

    account: Address
    vouchers: bool


@dataclass(frozen=True, slots=True)
class CommandFailed:
    """A deposit's attached command failed: the deposit stands, the command's effects were dropped."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Deposited:
    token: Address
    account: Address
    amount: int


@dataclass(frozen=True, slots=True)
class Withdrawn:
    token: Address
    account: Address
    amount: int


@dataclass(frozen=True, slots=True)
class ContentStored:
    cid: bytes
    size: int
    uploader: Address


@dataclass(frozen=True, slots=True)
class JobCreated:
    job_id: int
    sponsor: Address
    token: Address
    budget: int
    spec: JobSpec


@dataclass(frozen=True, slots=True)
class JobFunded:
    job_id: int
    from_: Address
    amount: int
    budget: int


@dataclass(frozen=True, slots=True)
class JobCancelled:
    job_id: int
    refund: int


@dataclass(frozen=True, slots=True)
class JobSettled:
    job_id: int
    outcome: str
    paid: int
    refund: int


@dataclass(frozen=True, slots=True)
class SubmissionReceived:
    job_id: int
    submission_id: int
    contributor: Address
    model_cid: bytes
    data_cid: bytes
    stake: int


@dataclass(frozen=True, slots=True)
class SubmissionCommitted:
    job_id: int
    submission_id: int
    contributor: Address
    commitment: bytes


@dataclass(frozen=True, slots=True)
class SubmissionScored:
    job_id: int
    submission_id: int
    contributor: Address
    model_cid: bytes
    data_cid: bytes
    score: int
    accepted: bool

    @classmethod
    def of(cls, sub: Submission, accepted: bool) -> SubmissionScored:
        """The notice of ``sub`` as it stands (score 0 when it has none)."""
        return cls(sub.job_id, sub.id, sub.contributor, sub.model_cid, sub.data_cid, sub.score or 0, accepted)


@dataclass(frozen=True, slots=True)
class SubmissionReviewed:
    job_id: int
    submission_id: int
    accepted: bool


@dataclass(frozen=True, slots=True)
class RewardPaid:
    job_id: int
    submission_id: int
    contributor: Address
    token: Address
    amount: int


@dataclass(frozen=True, slots=True)
class StakeReturned:
    job_id: int
    submission_id: int
    contributor: Address
    amount: int


@dataclass(frozen=True, slots=True)
class StakeSlashed:
    job_id: int
    submission_id: int
    contributor: Address
    amount: int


@dataclass(frozen=True, slots=True)
class ModelPublished:
    job_id: int
    round: int
    model_cid: bytes
    score: int


@dataclass(frozen=True, slots=True)
class TestSetRevealed:
    job_id: int
    test_cid: bytes


@dataclass(frozen=True, slots=True)
class RoundClosed:
    job_id: int
    round: int
    updates: int
    model_cid: bytes
    score: int


@dataclass(frozen=True, slots=True)
class ContributionMeasured:
    """What one submission added, under a job's contribution ``rule`` (``loo``, ``shapley``,
    ``top_k``), and what it was paid for it (docs/PROTOCOL.md §4.7): ``score`` and ``baseline`` are the
    two scores compared, ``contribution`` the signed value the share is in proportion to (floored at
    zero when shared)."""

    job_id: int
    submission_id: int
    round: int
    rule: str
    score: int
    baseline: int
    contribution: int
    amount: int


@dataclass(frozen=True, slots=True)
class PrivacyDeclared:
    """A differentially private update: the (``epsilon`` in millionths, ``delta`` in 10⁻¹² units) its
    contributor declared, and its measured L2 distance from the global model (``norm``, millionths),
    which the machine checked against the job's ``clip_norm``."""

    job_id: int
    submission_id: int
    epsilon: int
    delta: int
    norm: int


@dataclass(frozen=True, slots=True)
class AccessRequested:
    job_id: int
    account: Address
    public_key: bytes


@dataclass(frozen=True, slots=True)
class AccessChanged:
    job_id: int
    account: Address
    granted: bool


@dataclass(frozen=True, slots=True)
class DelegateChanged:
    job_id: int
    account: Address
    enabled: bool


NOTICE_EVENTS: tuple[type, ...] = (
    Deposited, Withdrawn, ContentStored, JobCreated, JobFunded, JobCancelled, JobSettled,
    SubmissionReceived, SubmissionCommitted, SubmissionScored, SubmissionReviewed, RewardPaid, StakeReturned,
    StakeSlashed, ModelPublished, TestSetRevealed, RoundClosed, ContributionMeasured, PrivacyDeclared,
    AccessRequested, AccessChanged, DelegateChanged,
)
"""Events that become notices, one per ``IMLMarketNotices`` function of the same name."""

Event = object
"""Any of the dataclasses above."""
