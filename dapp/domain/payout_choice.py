"""Where a contributor's rewards and returned stakes go (PROTOCOL §4.3).

By default they are credited to the contributor's free balance in the dApp, in the job's token:
one ``withdraw`` later takes out what many jobs paid with a single voucher, and meanwhile the
balance can fund the next stake or job. They leave by voucher at once instead when the job's spec
asks for it (``payout_vouchers``) or the contributor did (``setPayoutVouchers(true)``, stored per
account, changed only by that account). Refunds to sponsors are vouchers either way.
"""

from __future__ import annotations

from typing import Any

from dapp.domain.commands import Context, JobSpec, SetPayoutVouchers
from dapp.domain.env import Env
from dapp.domain.events import PayoutsChosen
from dapp.domain.store import Reader, Tx
from dapp.domain.values import Address

PAYOUT_VOUCHERS = "payout_vouchers"  # account -> True: the account asked for vouchers at once


def wants_vouchers(reader: Reader, account: Address) -> bool:
    """Whether ``account`` asked for its rewards and returned stakes by voucher at once."""
    return bool(reader.get(PAYOUT_VOUCHERS, account, False))


def by_voucher(reader: Reader, spec: JobSpec, account: Address) -> bool:
    """Whether a payment of a job with ``spec`` to ``account`` leaves by voucher at once (else it is
    credited to the account's balance)."""
    return spec.payout_vouchers or wants_vouchers(reader, account)


def set_payout_vouchers(tx: Tx, cmd: SetPayoutVouchers, ctx: Context, env: Env) -> list[Any]:
    """``setPayoutVouchers``: the sender's own choice, nobody else's; answered by a report."""
    if cmd.enabled:
        tx.put(PAYOUT_VOUCHERS, ctx.sender, True)
    else:
        tx.delete(PAYOUT_VOUCHERS, ctx.sender)
    return [PayoutsChosen(ctx.sender, cmd.enabled)]
