"""Dispatch: one handler per command type, ``handler(tx, command, ctx, env) -> events``."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from dapp.domain import commands as c
from dapp.domain import access, content, history, jobs, ledger, payout_choice, reveal, submissions
from dapp.domain.env import Env
from dapp.domain.events import CommandFailed, Payment
from dapp.domain.values import ETHER
from dapp.domain.store import Tx
from dapp.errors import DappError, DomainError

APP_ADDRESS = ("config", "app_address")

Handler = Callable[[Tx, Any, c.Context, Env], list[Any]]


def _deposit(tx: Tx, cmd: c.Deposit, ctx: c.Context, env: Env) -> list[Any]:
    """Credits the deposit, then runs the attached command as the depositor in a nested
    transaction. The deposit stands even if the command fails: the portal already moved the funds,
    so rejecting the input would strand them. The failure is reported instead."""
    events = ledger.credit_deposit(tx, cmd.token, cmd.account, cmd.amount)
    if cmd.then_error:
        return events + [CommandFailed("invalid_input", cmd.then_error)]
    if cmd.then is None:
        return events
    try:
        with tx.transaction() as inner:
            done = handle(inner, cmd.then, replace(ctx, sender=cmd.account), env)
            require_payable(done, ctx)
            events += done
    except DappError as exc:
        events.append(CommandFailed(exc.code, exc.message))
    except Exception:  # a bug: still keep the deposit, and say it was ours, with the traceback
        events.append(CommandFailed("internal_error", traceback.format_exc(limit=8)))
    return events


def _relay_app_address(tx: Tx, cmd: c.RelayAppAddress, ctx: c.Context, env: Env) -> list[Any]:
    tx.put(*APP_ADDRESS, cmd.app)
    return []


def _withdraw(tx: Tx, cmd: c.Withdraw, ctx: c.Context, env: Env) -> list[Any]:
    return ledger.withdraw(tx, cmd.token, ctx.sender, cmd.amount)


HANDLERS: dict[type, Handler] = {
    c.Deposit: _deposit,
    c.RelayAppAddress: _relay_app_address,
    c.Withdraw: _withdraw,
    c.SetPayoutVouchers: payout_choice.set_payout_vouchers,
    c.UploadChunk: content.upload_chunk,
    c.UploadChunkCoded: content.upload_chunk,
    c.AbortUpload: content.abort_upload,
    c.CreateJob: jobs.create_job,
    c.TopUpJob: jobs.top_up,
    c.CancelJob: jobs.cancel,
    c.SettleJob: reveal.settle,
    c.CommitSubmission: submissions.commit,
    c.RevealSubmission: submissions.reveal_submission,
    c.RevealSubmissionInline: submissions.reveal_inline,
    c.ReviewSubmission: submissions.review,
    c.RevealTestSet: reveal.reveal,
    c.RequestAccess: access.request_access,
    c.SetAccess: access.set_access,
    c.SetDelegate: access.set_delegate,
}


def handle(tx: Tx, cmd: Any, ctx: c.Context, env: Env) -> list[Any]:
    """Runs the handler of ``cmd``'s type."""
    handler = HANDLERS.get(type(cmd))
    if handler is None:
        raise DomainError(f"{type(cmd).__name__} is not supported", code="not_supported")
    return handler(tx, cmd, ctx, env)


def require_payable(events: list[Any], ctx: c.Context) -> None:
    """``DomainError`` if the events pay Ether while Ether vouchers cannot be made (Rollups v1
    before the dApp's address is known), so that a deposit's command fails instead of the deposit."""
    if not ctx.ether_payable and any(isinstance(e, Payment) and e.token == ETHER for e in events):
        raise DomainError("cannot pay Ether on Rollups v1 before the dApp address is known "
                          "(relay it with DAppAddressRelay or set MLMARKET_DAPP_ADDRESS)",
                          code="app_address_unknown")


def handle_input(tx: Tx, cmd: Any, ctx: c.Context, env: Env) -> list[Any]:
    """Handles one whole input and records its job events in the jobs' histories."""
    events = handle(tx, cmd, ctx, env)
    require_payable(events, ctx)
    history.record(tx, events, ctx)
    return events
