"""Access control of gated jobs (seed 000): requests, grants, revocations and delegates.

Ungated jobs are open to everyone. For a gated job a contributor sends ``requestAccess`` (with an
optional public key, published for off-chain encrypted exchange); the sponsor or one of the
sponsor's delegates grants or revokes access with ``setAccess``. Only the sponsor appoints
delegates. Delegates may also review manual submissions.
"""

from __future__ import annotations

from typing import Any

from dapp.domain.commands import Context, RequestAccess, SetAccess, SetDelegate
from dapp.domain.env import Env
from dapp.domain.events import AccessChanged, AccessRequested, DelegateChanged
from dapp.domain.records import ENDED, Job, get_job
from dapp.domain.store import Reader, Tx
from dapp.domain.values import Address
from dapp.errors import DomainError

GRANTS = "access_grants"  # (job_id, account) -> True
REQUESTS = "access_requests"  # (job_id, account) -> public key bytes
DELEGATES = "delegates"  # (job_id, account) -> True


def is_manager(reader: Reader, job: Job, account: Address) -> bool:
    """The sponsor or one of the job's delegates."""
    return account == job.sponsor or bool(reader.get(DELEGATES, (job.id, account)))


def require_manager(reader: Reader, job: Job, account: Address) -> None:
    """``DomainError`` unless ``account`` manages the job."""
    if not is_manager(reader, job, account):
        raise DomainError(f"{account} is neither the sponsor nor a delegate of job {job.id}", code="forbidden")


def require_access(reader: Reader, job: Job, account: Address) -> None:
    """``DomainError`` if the job is gated and ``account`` has not been granted access; the message
    says whether the account's access request stands (pending, or revoked since) or is still to send."""
    if not job.spec.gated or reader.get(GRANTS, (job.id, account)):
        return
    if reader.get(REQUESTS, (job.id, account)) is not None:
        raise DomainError(f"job {job.id} is gated and {account} has no access: its access request stands; "
                          f"the sponsor or a delegate must grant it (setAccess)", code="no_access")
    raise DomainError(f"job {job.id} is gated and {account} has no access: requestAccess first", code="no_access")


def _gated_job(tx: Tx, job_id: int) -> Job:
    job = get_job(tx, job_id)
    if not job.spec.gated:
        raise DomainError(f"job {job.id} is not gated: anyone may submit", code="not_gated")
    if job.status == ENDED:
        raise DomainError(f"job {job.id} has ended", code="job_closed")
    return job


def request_access(tx: Tx, cmd: RequestAccess, ctx: Context, env: Env) -> list[Any]:
    """Records an access request (at most ``max_public_key_bytes`` of public key)."""
    job = _gated_job(tx, cmd.job_id)
    if len(cmd.public_key) > env.limits.max_public_key_bytes:
        raise DomainError(f"public key is {len(cmd.public_key)} bytes, at most {env.limits.max_public_key_bytes}",
                          code="too_large")
    tx.put(REQUESTS, (job.id, ctx.sender), cmd.public_key)
    return [AccessRequested(job.id, ctx.sender, cmd.public_key)]


def set_access(tx: Tx, cmd: SetAccess, ctx: Context, env: Env) -> list[Any]:
    """The sponsor or a delegate grants or revokes an account's access."""
    job = _gated_job(tx, cmd.job_id)
    require_manager(tx, job, ctx.sender)
    if cmd.granted:
        tx.put(GRANTS, (job.id, cmd.account), True)
    else:
        tx.delete(GRANTS, (job.id, cmd.account))
    return [AccessChanged(job.id, cmd.account, cmd.granted)]


def set_delegate(tx: Tx, cmd: SetDelegate, ctx: Context, env: Env) -> list[Any]:
    """The sponsor appoints or removes a delegate."""
    job = get_job(tx, cmd.job_id)
    if ctx.sender != job.sponsor:
        raise DomainError(f"only the sponsor {job.sponsor} may appoint delegates of job {job.id}", code="forbidden")
    if cmd.enabled:
        tx.put(DELEGATES, (job.id, cmd.account), True)
    else:
        tx.delete(DELEGATES, (job.id, cmd.account))
    return [DelegateChanged(job.id, cmd.account, cmd.enabled)]


def access_view(reader: Reader, job: Job) -> dict[str, Any]:
    """The ``jobs/<id>/access`` answer: whether the job is gated, its sponsor, the standing access
    requests (with their public keys), the accounts granted access and the delegates, each sorted by
    address."""

    def accounts(table: str) -> list[tuple[Address, Any]]:
        return sorted((who, value) for (job_id, who), value in reader.items(table) if job_id == job.id)

    return {"job": job.id, "gated": job.spec.gated, "sponsor": job.sponsor.hex,
            "requests": [{"account": who.hex, "public_key": "0x" + key.hex()} for who, key in accounts(REQUESTS)],
            "granted": [who.hex for who, _ in accounts(GRANTS)],
            "delegates": [who.hex for who, _ in accounts(DELEGATES)]}
