"""Money moves of the market: rewards, stakes, refunds and the end of a job.

A piece of work is paid at most once per job, whoever names it: a submission's **work keys** are
its input (model CID, or the job's model a data-only submission trains, with its data CID) and the
CID of the model it yields (trained bytes, or the model itself). ``reward`` notes each key with the
first submission paid for it (``PAID_WORK``); the policies ask ``first_paid`` before paying.

Rewards and returned stakes go to the contributor's free balance in the dApp, or by voucher at once
when the job or the contributor asks for that (``dapp.domain.payout_choice``); refunds to the
sponsor are always vouchers.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from dapp.domain import ledger, payout_choice
from dapp.domain.events import JobSettled, RewardPaid, StakeReturned, StakeSlashed, SubmissionScored
from dapp.domain.records import ENDED, HELD_WORK, JOBS, PAID_WORK, SUBMISSIONS, Job, Submission, job_pot, stake_pot
from dapp.domain.store import Tx
from dapp.domain.values import Address


def budget(tx: Tx, job: Job) -> int:
    """What is left in the job's escrow."""
    return ledger.pot(tx, job_pot(job.id))[1]


WorkKey = tuple[str, bytes, bytes]


def work_keys(sub: Submission, trained_cid: bytes = b"") -> tuple[WorkKey, ...]:
    """The keys of the work ``sub`` did: its input, and the model it yields (``trained_cid``, else
    the submission's recorded ``trained_cid``) when known."""
    keys: list[WorkKey] = [("input", sub.model_cid or sub.base_cid, sub.data_cid)]
    model = trained_cid or sub.trained_cid
    if model:
        keys.append(("model", model, b""))
    return tuple(keys)


def first_paid(tx: Tx, sub: Submission, trained_cid: bytes = b"") -> tuple[int, str]:
    """The first other submission of the job already paid for ``sub``'s work, with why (``(0, "")``
    when none): one look-up per key, no scan."""
    for key in work_keys(sub, trained_cid):
        first = tx.get(PAID_WORK, (sub.job_id, key), 0)
        if first and first != sub.id:
            what = "the same model and data were" if key[0] == "input" else "the same trained model was"
            return first, f"{what} already paid in submission {first}"
    return 0, ""


def hold(tx: Tx, sub: Submission) -> tuple[int, str]:
    """Notes ``sub`` as the holder of its work keys that no earlier submission of the job holds; the
    earlier holder of any of them, with why (``(0, "")`` when none). Decisions follow commit order,
    so the earliest holder is the one who committed first."""
    for key in work_keys(sub):
        first = tx.get(HELD_WORK, (sub.job_id, key), 0)
        if first and first != sub.id:
            return first, f"the same work was submitted earlier in submission {first}"
    for key in work_keys(sub):
        tx.put(HELD_WORK, (sub.job_id, key), sub.id)
    return 0, ""


def _to_contributor(tx: Tx, job: Job, pot_id: Any, to: Address, amount: int) -> list[Any]:
    """Moves ``amount`` out of a pot of ``job`` to a contributor: a voucher at once (the returned
    ``Payment``) when the job or ``to`` asked for one, else a credit to ``to``'s free balance."""
    if payout_choice.by_voucher(tx, job.spec, to):
        return [ledger.pay(tx, pot_id, to, amount)]
    ledger.release(tx, pot_id, to, amount)
    return []


def reward(tx: Tx, job: Job, sub: Submission, amount: int,
           trained_cid: bytes = b"") -> tuple[Job, Submission, list[Any]]:
    """Pays ``amount`` of the job's budget to the contributor (its balance, or a voucher: module
    docstring) and records it, noting the submission's work keys as paid (``trained_cid``: the CID
    of its model, when not recorded)."""
    for key in work_keys(sub, trained_cid):
        if not tx.get(PAID_WORK, (job.id, key)):
            tx.put(PAID_WORK, (job.id, key), sub.id)
    payment = _to_contributor(tx, job, job_pot(job.id), sub.contributor, amount)
    sub = replace(sub, status="accepted", reward=sub.reward + amount)
    job = replace(job, accepted=job.accepted + 1, paid=job.paid + amount)
    tx.put(SUBMISSIONS, (job.id, sub.id), sub)
    tx.put(JOBS, job.id, job)
    return job, sub, [*payment, RewardPaid(job.id, sub.id, sub.contributor, job.token, amount)]


def return_stake(tx: Tx, sub: Submission) -> list[Any]:
    """A valid submission's stake goes back to its contributor (its balance, or a voucher)."""
    if not sub.stake:
        return []
    payment = _to_contributor(tx, tx.get(JOBS, sub.job_id), stake_pot(sub.job_id, sub.id), sub.contributor,
                              sub.stake)
    return [*payment, StakeReturned(sub.job_id, sub.id, sub.contributor, sub.stake)]


def slash_stake(tx: Tx, sub: Submission) -> list[Any]:
    """An invalid submission's stake joins the job's budget."""
    if not sub.stake:
        return []
    ledger.move(tx, stake_pot(sub.job_id, sub.id), job_pot(sub.job_id), sub.stake)
    return [StakeSlashed(sub.job_id, sub.id, sub.contributor, sub.stake)]


def _release_undecided(tx: Tx, job: Job) -> list[Any]:
    """Submissions a job ends before deciding (``dapp.domain.decisions``): a commit still within its
    time gets its stake back (it broke no rule); a revealed one waiting for its turn is rejected."""
    events: list[Any] = []
    for sub_id in range(job.decided + 1, job.submissions + 1):
        sub = tx.get(SUBMISSIONS, (job.id, sub_id))
        if sub.status == "committed":
            tx.put(SUBMISSIONS, (job.id, sub.id), replace(sub, status="expired", error="the job ended first"))
            events += return_stake(tx, sub)
        elif sub.status == "revealed":
            sub = replace(sub, status="rejected", error="the job ended first")
            tx.put(SUBMISSIONS, (job.id, sub.id), sub)
            events.append(SubmissionScored.of(sub, False))
    return events


def end(tx: Tx, job: Job, outcome: str) -> tuple[Job, list[Any]]:
    """Ends ``job``: refunds what is left of its budget to the sponsor and emits ``JobSettled``."""
    events = _release_undecided(tx, job)
    refund = budget(tx, job)
    events += [ledger.pay(tx, job_pot(job.id), job.sponsor, refund)] if refund else []
    job = replace(job, status=ENDED, outcome=outcome)
    tx.put(JOBS, job.id, job)
    return job, events + [JobSettled(job.id, outcome, job.paid, refund)]
