"""Where an account's money is (pure: answers in, views out; no network, no Flask).

- ``credited``: a refused input that carried a deposit leaves the deposit on the sender's dApp
  balance (docs/PROTOCOL.md §2: the deposit stands, the command's effects are dropped); the outcome
  page says how much went where, with a withdraw form filled in.
- ``escrow``: what the jobs an account sponsors still hold of their budgets.
- ``locked_stakes``: an account's stakes not yet returned or slashed.
- ``pending_vouchers``: vouchers paying the account that nobody executed yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mlmarket.client.amounts import format_amount
from mlmarket.client.outputs import EXECUTABLE, EXECUTED, DecodedVoucher
from mlmarket.client.units import ETHER


@dataclass(frozen=True)
class Money:
    """An amount of a token, with what the forms need to move it: ``choice`` (``eth``, ``test`` or
    ``custom``) and ``units`` (token units as the amount field takes them)."""

    token: str
    amount: int
    text: str
    choice: str
    units: str


def money(token: str, amount: int, *, decimals: int, label: str, test_token: str | None) -> Money:
    """``amount`` base units of ``token`` as a ``Money``."""
    lowered = token.lower()
    is_test = bool(test_token) and lowered == str(test_token).lower()
    choice = "eth" if lowered == ETHER else "test" if is_test else "custom"
    units = format_amount(amount, decimals)
    return Money(lowered, amount, f"{units} {label}", choice, units)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def credited(ok: bool, notices: Iterable[Mapping[str, Any]]) -> list[tuple[str, str, int]]:
    """(account, token, amount) the deposit of a refused input left on the depositor's dApp balance:
    the ``Deposited`` notices of an input that ended in an error (``ok`` False); none when it went through."""
    if ok:
        return []
    found = []
    for notice in notices:
        args = notice.get("args") or {}
        if notice.get("name") == "Deposited" and _int(args.get("amount")) > 0:
            found.append((str(args.get("account", "")).lower(), str(args.get("token", ETHER)).lower(),
                          _int(args.get("amount"))))
    return found


def slashed(notices: Iterable[Mapping[str, Any]]) -> list[tuple[int, int, int]]:
    """(job, submission, amount) of each stake an input slashed (``StakeSlashed`` notices): the input
    went through, but its submission was invalid and its stake joined the job's budget."""
    return [(_int(a.get("jobId")), _int(a.get("submissionId")), _int(a.get("amount")))
            for n in notices if n.get("name") == "StakeSlashed" for a in [n.get("args") or {}]]


def escrow(jobs: Iterable[Mapping[str, Any]], account: str) -> list[Mapping[str, Any]]:
    """The jobs ``account`` sponsors that still hold budget (not ended)."""
    return [j for j in jobs if str(j.get("sponsor", "")).lower() == account.lower()
            and j.get("status") != "ended" and _int(j.get("budget")) > 0]


def locked_stakes(submissions: Iterable[Mapping[str, Any]], history: Iterable[Mapping[str, Any]],
                  account: str) -> list[Mapping[str, Any]]:
    """``account``'s submissions of one job whose stake is neither returned nor slashed yet (the
    job's ``history`` holds a ``StakeReturned`` or ``StakeSlashed`` for those that are)."""
    settled = {_int(e.get("submission_id")) for e in history
               if e.get("type") in ("StakeReturned", "StakeSlashed")}
    return [s for s in submissions if str(s.get("contributor", "")).lower() == account.lower()
            and _int(s.get("stake")) > 0 and _int(s.get("id")) not in settled]


def pending_vouchers(outputs: Iterable[Any], account: str) -> list[DecodedVoucher]:
    """The vouchers paying ``account`` that are not executed yet, oldest first."""
    return [o for o in outputs if isinstance(o, DecodedVoucher) and o.state != EXECUTED
            and o.beneficiary == account.lower()]


def provable(voucher: DecodedVoucher) -> bool:
    """Whether ``voucher`` can be executed now (its epoch is claimed and the proof accepted)."""
    return voucher.state == EXECUTABLE

