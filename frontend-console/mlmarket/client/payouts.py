"""Where rewards and returned stakes go (docs/PROTOCOL.md §4.3), as the CLI and the console say it.

By default the machine credits each reward and returned stake to the contributor's free balance in
the dApp (a ``RewardPaid`` or ``StakeReturned`` notice, no voucher): one ``withdraw`` later takes out
what many jobs paid with a single voucher. A job's ``payout_vouchers``, or the contributor's own
choice (``setPayoutVouchers``, inspect ``balances/<account>``'s ``payout_vouchers``), makes each a
voucher of the same input instead. Pure: outcomes and answers in, facts and words out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlmarket.client.outputs import DecodedVoucher, InputOutcome

PAYMENTS = ("RewardPaid", "StakeReturned")
"""The notices of a payment to a contributor."""

WITHDRAW_HINT = "`mlmarket withdraw --all` takes it out, one voucher for everything"
EXECUTE_HINT = "`mlmarket execute --all` pays it to the wallet"


@dataclass(frozen=True)
class Payment:
    """One reward or returned stake of an input: who got how much, and the voucher that paid it
    (None: credited to the contributor's dApp balance)."""

    notice: int  # the index of its notice
    kind: str  # RewardPaid | StakeReturned
    job: int
    submission: int
    contributor: str
    amount: int
    voucher: DecodedVoucher | None

    @property
    def credited(self) -> bool:
        return self.voucher is None


def voucher_pays(voucher: DecodedVoucher) -> tuple[str | None, int]:
    """(the lower-case address a voucher pays, the amount) — ERC-20 transfer, Ether, v1 withdrawEther."""
    call = voucher.call or {}
    return voucher.beneficiary, int(call.get("amount") or call.get("value") or 0)


def payments(outcome: InputOutcome) -> list[Payment]:
    """Every reward and returned stake of ``outcome``, in notice order, each with the voucher of the
    same input paying its contributor that amount (the nearest one before the notice first, as the
    machine emits a voucher right before its notice), or None when none does: then it was credited."""
    unused = list(outcome.vouchers)
    found = []
    for notice in outcome.notices:
        if notice.name not in PAYMENTS:
            continue
        who, amount = str(notice.args.get("contributor", "")).lower(), int(notice.args.get("amount", 0))
        matching = [v for v in unused if voucher_pays(v) == (who, amount)]
        before = [v for v in matching if v.index < notice.index]
        voucher = (before[-1] if before else matching[0]) if matching else None
        if voucher is not None:
            unused.remove(voucher)
        found.append(Payment(notice.index, notice.name, int(notice.args.get("jobId", 0)),
                             int(notice.args.get("submissionId", 0)), who, amount, voucher))
    return found


def route_text(payment: Payment) -> str:
    """``credited to the dApp balance`` or ``by voucher #7``."""
    return "credited to the dApp balance" if payment.credited else f"by voucher #{payment.voucher.index}"


def where_text(paid: list[Payment], amount_text: Any, token: str, whose: str = "your") -> str:
    """What became of ``paid`` (one contributor's payments of one job, in ``token``), in words:
    ``11 MLT credited to your dApp balance: `mlmarket withdraw --all` takes it out, one voucher for
    everything`` and/or ``10 MLT by voucher #7: `mlmarket execute --all` pays it to the wallet``;
    ``amount_text(amount, token)`` writes an amount."""
    credited = sum(p.amount for p in paid if p.credited)
    vouchers = [p for p in paid if not p.credited]
    parts = []
    if credited:
        parts.append(f"{amount_text(credited, token)} credited to {whose} dApp balance: {WITHDRAW_HINT}")
    if vouchers:
        numbers = ", ".join(f"#{p.voucher.index}" for p in vouchers)
        total = sum(p.amount for p in vouchers)
        parts.append(f"{amount_text(total, token)} by voucher {numbers}: {EXECUTE_HINT}")
    return "; ".join(parts)


def choice(answer: Any) -> bool:
    """An account's payout choice from its inspect ``balances/<account>`` answer: True for vouchers at
    once, False (the default, and from a backend before the choice existed) for its dApp balance."""
    return bool(answer.get("payout_vouchers")) if isinstance(answer, dict) else False


def choice_text(vouchers: bool) -> str:
    """The payout choice in words."""
    if vouchers:
        return ("by voucher at once (every reward and returned stake is a voucher to execute; "
                "`mlmarket payouts --vouchers off` credits them to the dApp balance instead)")
    return ("credited to the dApp balance (the default: one `mlmarket withdraw --all` takes out many jobs' "
            "payments with one voucher; `mlmarket payouts --vouchers on` for a voucher each, at once)")
