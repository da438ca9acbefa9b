"""What to send for each user action, as ``InputRequest`` values (pure: no network).

Payloads are ``dapp.codec.abi.inputs()`` calls, exactly what the backend decodes. A request with a
``token`` is delivered as the ``execLayerData`` of a portal deposit of ``amount`` (the deposit is
credited first, then the call runs as the depositor); without one, through ``InputBox.addInput``.
The CLI signs them with a local key; the console can also hand them to a browser wallet
(``Chain.prepare_input``).
"""

from __future__ import annotations

from dapp.codec.abi import inputs
from dapp.domain.commands import JobSpec
from mlmarket.client.chain import InputRequest
from mlmarket.client.errors import SpecError
from mlmarket.client.jobspec import spec_tuple


def _deposit_or_plain(payload: bytes, token: str | None, amount: int) -> InputRequest:
    if amount < 0:
        raise SpecError("amounts cannot be negative")
    if amount and token is None:
        raise SpecError("depositing needs a token (or Ether)")
    return InputRequest(payload, token, amount) if amount else InputRequest(payload)


def create_job(spec: JobSpec, token: str, budget: int, *, from_balance: bool = False) -> InputRequest:
    """``createJob(token, budget, spec)``: deposits ``budget`` of ``token`` with it, or (``from_balance``)
    escrows it from the sponsor's balance in the dApp."""
    if budget <= 0:
        raise SpecError("the budget (--reward) must be positive")
    payload = inputs().encode("createJob", token, budget, spec_tuple(spec))
    return InputRequest(payload) if from_balance else InputRequest(payload, token, budget)


def top_up(job: int, amount: int, token: str | None = None) -> InputRequest:
    """``topUpJob(job, amount)``; with ``token``, deposits ``amount`` first."""
    return _deposit_or_plain(inputs().encode("topUpJob", job, amount), token, amount if token else 0)


def commit_submission(job: int, commitment: bytes, *, stake: int = 0, token: str | None = None) -> InputRequest:
    """``commitSubmission(job, commitment)``, the first step of a submission (``submission_flow``):
    ``commitment`` is ``dapp.codec.commitment.submission_commitment(sender, job, modelCid, dataCid,
    salt)``. A ``stake`` is deposited in the job's ``token`` with it (the machine locks it at the commit)."""
    if len(commitment) != 32:
        raise SpecError(f"a submission commitment is 32 bytes, got {len(commitment)}")
    return _deposit_or_plain(inputs().encode("commitSubmission", job, commitment), token, stake)


def reveal_submission(job: int, model_cid: bytes, data_cid: bytes, salt: bytes) -> InputRequest:
    """``revealSubmission(job, modelCid, dataCid, salt)``: the contents of a committed submission
    (uploaded by then); the machine recomputes the commitment with the sender."""
    if len(salt) != 32:
        raise SpecError(f"the salt is 32 bytes (64 hex digits), got {len(salt)} bytes")
    if not model_cid and not data_cid:
        raise SpecError("a submission needs a model, training data, or both")
    return InputRequest(inputs().encode("revealSubmission", job, model_cid, data_cid, salt))


def reveal_submission_inline(job: int, model_cid: bytes, data_cid: bytes, salt: bytes, *, model: bytes = b"",
                             data: bytes = b"") -> InputRequest:
    """``revealSubmissionInline(job, modelCid, dataCid, salt, model, data)``: the reveal carrying the
    bytes of small contents not stored yet (empty: already stored), so they need no upload."""
    reveal_submission(job, model_cid, data_cid, salt)  # the same argument checks
    return InputRequest(inputs().encode("revealSubmissionInline", job, model_cid, data_cid, salt, model, data))


def review(job: int, submission: int, accept: bool) -> InputRequest:
    """``reviewSubmission(job, submission, accept)``."""
    return InputRequest(inputs().encode("reviewSubmission", job, submission, accept))


def reveal(job: int, test_cid: bytes, salt: bytes) -> InputRequest:
    """``revealTestSet(job, testCid, salt)``."""
    if len(salt) != 32:
        raise SpecError(f"the salt is 32 bytes (64 hex digits), got {len(salt)} bytes")
    return InputRequest(inputs().encode("revealTestSet", job, test_cid, salt))


def settle(job: int) -> InputRequest:
    """``settleJob(job)``."""
    return InputRequest(inputs().encode("settleJob", job))


def cancel(job: int) -> InputRequest:
    """``cancelJob(job)``."""
    return InputRequest(inputs().encode("cancelJob", job))


def withdraw(token: str, amount: int) -> InputRequest:
    """``withdraw(token, amount)``: a voucher pays ``amount`` from the dApp balance to the sender."""
    if amount <= 0:
        raise SpecError("the amount to withdraw must be positive")
    return InputRequest(inputs().encode("withdraw", token, amount))


def set_payout_vouchers(enabled: bool) -> InputRequest:
    """``setPayoutVouchers(enabled)``: the sender's rewards and returned stakes by voucher at once
    (``enabled``), or credited to its dApp balance (the default; docs/PROTOCOL.md §4.3)."""
    return InputRequest(inputs().encode("setPayoutVouchers", enabled))


def deposit(token: str, amount: int) -> InputRequest:
    """A plain portal deposit of ``amount`` of ``token`` (no attached call)."""
    if amount <= 0:
        raise SpecError("the amount to deposit must be positive")
    return InputRequest(b"", token, amount)


def request_access(job: int, public_key: bytes = b"") -> InputRequest:
    """``requestAccess(job, publicKey)`` (gated jobs)."""
    return InputRequest(inputs().encode("requestAccess", job, public_key))


def set_access(job: int, account: str, granted: bool) -> InputRequest:
    """``setAccess(job, account, granted)`` (sponsor or delegate)."""
    return InputRequest(inputs().encode("setAccess", job, account, granted))


def set_delegate(job: int, account: str, enabled: bool) -> InputRequest:
    """``setDelegate(job, account, enabled)`` (sponsor)."""
    return InputRequest(inputs().encode("setDelegate", job, account, enabled))


def raw(payload: bytes) -> InputRequest:
    """Any payload through ``InputBox.addInput``."""
    return InputRequest(payload)
