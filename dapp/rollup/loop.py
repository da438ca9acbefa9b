"""The rollup loop: ``/finish`` → request → app → post outputs → ``/finish`` with accept/reject."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

from dapp.app import App
from dapp.codec.outputs import Notice, Output, Report, Voucher, error_report
from dapp.rollup.api import Rollup

log = logging.getLogger(__name__)


def post(rollup: Rollup, outputs: list[Output]) -> None:
    """Posts outputs in order: the one place where outputs leave the backend."""
    for output in outputs:
        if isinstance(output, Notice):
            rollup.notice(output.payload)
        elif isinstance(output, Voucher):
            rollup.voucher(output.destination, output.value, output.payload)
        elif isinstance(output, Report):
            rollup.report(output.payload)
        else:
            raise TypeError(f"not an output: {output!r}")


def serve(app: App, rollup: Rollup, request: Any) -> bool:
    """Handles one request; returns whether to accept it. Never raises for a bad request."""
    try:
        kind = request.get("request_type") if isinstance(request, dict) else None
        data = request.get("data") if isinstance(request, dict) else None
        if not isinstance(data, dict):
            data = {}
        if kind == "advance_state":
            result = app.advance(data.get("metadata"), data.get("payload"))
            post(rollup, result.outputs)
            log.info("input %s %s", (data.get("metadata") or {}).get("input_index"),
                     "accepted" if result.accept else "rejected")
            return result.accept
        if kind == "inspect_state":
            post(rollup, app.inspect(data.get("payload")))
            return True
        post(rollup, [error_report("bad_request", f"unknown request_type {kind!r}")])
        return False
    except Exception:  # posting failed (server refused an output): reject, say why
        log.exception("failed to serve a request")
        try:
            post(rollup, [error_report("internal_error", "failed to post outputs", traceback=traceback.format_exc())])
        except Exception:
            log.exception("failed to post the error report")
        return False


def run(app: App, rollup: Rollup, *, should_stop: Callable[[], bool] = lambda: False) -> None:
    """Serves requests until ``should_stop()``; the first ``/finish`` says accept, by convention."""
    accept = True
    while not should_stop():
        request = rollup.finish(accept)
        if request is None:
            accept = True
            continue
        accept = serve(app, rollup, request)
