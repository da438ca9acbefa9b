"""Commands: the typed form of every input, one frozen dataclass per protocol function.

Field names are the snake_case of the ABI argument names, in the same order (checked by tests), so
the codec maps ABI calls to commands generically. Who sent a command travels beside it, in
``Context``.
"""

from __future__ import annotations

from dataclasses import dataclass

from dapp.domain.values import Address


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A sponsor's job description (the ABI struct ``JobSpec``); validated by the jobs module."""

    title: str
    policy: str
    task: str
    label: str
    metric: str
    validation_cid: bytes
    base_model_cid: bytes
    min_score: int
    min_gain: int
    reward_per_accept: int
    deadline: int
    accept_by_default: bool
    test_commitment: bytes
    reveal_window: int
    rounds: int
    round_quota: int
    round_duration: int
    tolerance: int
    stake: int
    max_submissions: int
    gated: bool
    aggregation: str = ""
    reward: str = ""
    top_k: int = 0
    permutations: int = 0
    clip_norm: int = 0
    payout_vouchers: bool = False


@dataclass(frozen=True, slots=True)
class CreateJob:
    token: Address
    budget: int
    spec: JobSpec


@dataclass(frozen=True, slots=True)
class TopUpJob:
    job_id: int
    amount: int


@dataclass(frozen=True, slots=True)
class CancelJob:
    job_id: int


@dataclass(frozen=True, slots=True)
class SettleJob:
    job_id: int


@dataclass(frozen=True, slots=True)
class CommitSubmission:
    job_id: int
    commitment: bytes


@dataclass(frozen=True, slots=True)
class RevealSubmission:
    job_id: int
    model_cid: bytes
    data_cid: bytes
    salt: bytes


@dataclass(frozen=True, slots=True)
class RevealSubmissionInline:
    """``RevealSubmission`` with the bytes of small contents (empty: already stored)."""

    job_id: int
    model_cid: bytes
    data_cid: bytes
    salt: bytes
    model: bytes
    data: bytes


@dataclass(frozen=True, slots=True)
class ReviewSubmission:
    job_id: int
    submission_id: int
    accept: bool


@dataclass(frozen=True, slots=True)
class RevealTestSet:
    job_id: int
    test_cid: bytes
    salt: bytes


@dataclass(frozen=True, slots=True)
class RequestAccess:
    job_id: int
    public_key: bytes


@dataclass(frozen=True, slots=True)
class SetAccess:
    job_id: int
    account: Address
    granted: bool


@dataclass(frozen=True, slots=True)
class SetDelegate:
    job_id: int
    account: Address
    enabled: bool


@dataclass(frozen=True, slots=True)
class Withdraw:
    token: Address
    amount: int


@dataclass(frozen=True, slots=True)
class SetPayoutVouchers:
    """The sender's payout choice: vouchers at once (``enabled``) or their dApp balance."""

    enabled: bool


@dataclass(frozen=True, slots=True)
class UploadChunk:
    cid: bytes
    size: int
    offset: int
    deflated: bool
    data: bytes


@dataclass(frozen=True, slots=True)
class UploadChunkCoded:
    """``UploadChunk`` with ``data`` in the chunk codec ``codec`` (``dapp.codec.chunk_codecs``)."""

    cid: bytes
    size: int
    offset: int
    codec: int
    data: bytes


@dataclass(frozen=True, slots=True)
class AbortUpload:
    cid: bytes


Command = (
    CreateJob | TopUpJob | CancelJob | SettleJob | CommitSubmission | RevealSubmission | RevealSubmissionInline
    | ReviewSubmission | RevealTestSet | RequestAccess | SetAccess | SetDelegate | Withdraw | SetPayoutVouchers
    | UploadChunk
    | UploadChunkCoded | AbortUpload
)
"""Commands sent as ABI calls (plain inputs or a deposit's ``execLayerData``)."""

CALLS: dict[str, type] = {
    "createJob": CreateJob,
    "topUpJob": TopUpJob,
    "cancelJob": CancelJob,
    "settleJob": SettleJob,
    "commitSubmission": CommitSubmission,
    "revealSubmission": RevealSubmission,
    "revealSubmissionInline": RevealSubmissionInline,
    "reviewSubmission": ReviewSubmission,
    "revealTestSet": RevealTestSet,
    "requestAccess": RequestAccess,
    "setAccess": SetAccess,
    "setDelegate": SetDelegate,
    "withdraw": Withdraw,
    "setPayoutVouchers": SetPayoutVouchers,
    "uploadChunk": UploadChunk,
    "uploadChunkCoded": UploadChunkCoded,
    "abortUpload": AbortUpload,
}
"""ABI function name -> command class."""


@dataclass(frozen=True, slots=True)
class Deposit:
    """A portal deposit credited to ``account``, then ``then`` (if any) run as ``account``.

    ``then_error`` explains why the attached ``execLayerData`` could not be decoded: the deposit is
    still credited (the portal already moved the funds), and the error is reported."""

    token: Address
    account: Address
    amount: int
    then: Command | None = None
    then_error: str = ""


@dataclass(frozen=True, slots=True)
class RelayAppAddress:
    """Rollups v1 only: the DAppAddressRelay tells the machine its own contract address."""

    app: Address


Input = Command | Deposit | RelayAppAddress
"""Everything an advance request can decode to."""


@dataclass(frozen=True, slots=True)
class Context:
    """Who sent the command and when (from the input's metadata). ``ether_payable`` is False on
    Rollups v1 while the dApp's own address is unknown (Ether vouchers need it there)."""

    sender: Address
    timestamp: int
    block_number: int
    input_index: int
    ether_payable: bool = True
