"""The console's pre-flight (``mlmarket.client.preflight``): before any deposit or transaction of a
new job or a submission, the machine dry-runs the exact input by inspect and lists every problem
with its fix, in human units (``Units.humanize``: token amounts and UTC dates, not base units and
unix times); the form comes back with all of them (``Refused``) and nothing is sent. A backend
that answers no pre-flight queries (``unknown_query``) lets the input go as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from mlmarket.client import actions, preflight
from mlmarket.client.chain import InputRequest
from mlmarket.client.errors import InspectFailed
from mlmarket.client.submission_state import SubmissionState
from mlmarket.client.units import Units

FIELDS = {"deadline": "duration", "spec": "", "token": "token", "budget": "budget", "amount": "budget"}
"""Form fields of the spec keys a problem may name, where they differ."""


class Refused(Exception):
    """The machine would refuse the input: ``problems`` (each ``code``, ``message``, ``fix``, ``field``)."""

    def __init__(self, problems: Iterable[preflight.Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(p.text() for p in self.problems))


def _wallet(market: Any, request: InputRequest, units: Units, what: str, fix: str, field: str
            ) -> list[preflight.Problem]:
    """The problem of a deposit the acting wallet cannot pay (the machine cannot see wallets: its dry
    run assumes the deposit arrives; on chain the approval would go and the deposit revert)."""
    if request.token is None or not request.amount:
        return []
    held = market.chain.balance_of(request.token, market.account)
    if held >= request.amount:
        return []
    need, has = units.amount(request.amount, request.token), units.amount(held, request.token)
    message = f"{what} needs {need} deposited from your wallet, which holds {has}"
    return [preflight.Problem("wallet_balance", message, fix.format(has=has, need=need), field)]


def _gate(check: Callable[[], preflight.Preflight], units: Units, token: str | None,
          wallet: list[preflight.Problem]) -> None:
    """Raises ``Refused`` with the machine's problems (humanized) and ``wallet``'s, if any."""
    try:
        problems = [replace(p, message=units.humanize(p.message, token), fix=units.humanize(p.fix, token))
                    for p in check().problems]
    except InspectFailed as exc:
        if exc.code != "unknown_query":
            raise
        problems = []
    if problems or wallet:
        raise Refused(problems + wallet)


def job(market: Any, request: InputRequest, units: Units, token: str, files: Iterable[bytes] = ()) -> None:
    """Raises ``Refused`` if the machine would refuse ``request`` (a ``createJob``, with its deposit)
    or the wallet cannot pay its deposit; amounts shown in the job's ``token``; ``files``: the
    validation data or base model not uploaded yet (sent inline)."""
    wallet = _wallet(market, request, units, "the budget", "lower the budget to at most {has}, get more tokens "
                     "into this wallet, or take the budget from your dApp balance", "budget")
    _gate(lambda: preflight.check_job(market, request, sender=market.account, now=market.now(),
                                      files=list(files)), units, token, wallet)


def submission(market: Any, state: SubmissionState, read: Callable[[str], bytes | None],
               units: Units) -> None:
    """Raises ``Refused`` if the machine would refuse the commit or the reveal of ``state`` (a new
    submission: its stake deposit, the job's rules, the contents not stored yet, read by CID) or the
    wallet cannot pay the stake; amounts shown in the job's token."""
    commit = actions.commit_submission(state.job, state.commitment, stake=state.stake, token=state.token)
    reveal = actions.reveal_submission(state.job, state.model_cid, state.data_cid, state.salt)
    files = [data for c in state.contents if market.content_info(c.cid) is None
             for data in [read(c.cid)] if data is not None]
    wallet = _wallet(market, commit, units, f"job {state.job}'s stake",
                     "get {need} into this wallet (it holds {has}), or submit from an account that holds "
                     "the stake", "")
    _gate(lambda: preflight.check_submission(market, commit, reveal, sender=market.account, now=market.now(),
                                             files=files), units, state.token, wallet)


def field_errors(problems: Iterable[preflight.Problem]) -> dict[str, str]:
    """Every problem's text next to the form field it names (several joined), for the form."""
    errors: dict[str, str] = {}
    for p in problems:
        if p.field:
            name = FIELDS.get(p.field, p.field)
            errors[name] = f"{errors[name]} · {p.text()}" if name in errors else p.text()
    return errors
