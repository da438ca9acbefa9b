"""The pre-flight gate of ``mlmarket job create`` and ``mlmarket submit``: before any upload,
deposit or transaction, the machine dry-runs the exact input (inspect ``preflight/…``,
``mlmarket.client.preflight``); if it finds problems, every one is printed with its fix and the
command exits with ``PREFLIGHT_REFUSED`` having sent nothing (``--json``: ``{ok: false, error,
preflight}``). A backend without pre-flight queries (``unknown_query``) is noted and the command
goes on.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import click

from mlmarket.client import actions, preflight
from mlmarket.client.errors import InspectFailed

PREFLIGHT_REFUSED = 5
"""Exit status of a command the pre-flight refused (nothing was sent)."""


def _run(session: Any, check: Callable[[], preflight.Preflight]) -> preflight.Preflight | None:
    try:
        return check()
    except InspectFailed as exc:
        if exc.code != "unknown_query":
            raise
        session.note("this node's backend answers no pre-flight queries: sending without the check")
        return None


def _refuse(session: Any, result: preflight.Preflight | None, what: str,
            on_refuse: Callable[[], None] | None = None) -> None:
    """Returns when ``result`` has no problem; else prints them all and exits ``PREFLIGHT_REFUSED``."""
    if result is None:
        return
    for cid in result.unchecked:
        session.note(f"pre-flight: {cid} is too large to check inline (it is checked after its upload)")
    if result.ok:
        return
    if on_refuse is not None:
        on_refuse()
    headline = f"the machine would refuse this {what}; nothing was sent"
    if session.as_json:
        error = f"{headline}: " + "; ".join(p.message for p in result.problems)
        click.echo(json.dumps({"ok": False, "error": error, "preflight": result.to_json()}, indent=2,
                              sort_keys=True))
    click.echo(f"Error: {headline}. Problems:\n{preflight.problems_text(result)}", err=True)
    sys.exit(PREFLIGHT_REFUSED)


def check_job(session: Any, market: Any, request: Any) -> None:
    """The gate of ``job create``: ``request`` is the ``createJob`` input about to be sent."""
    result = _run(session, lambda: preflight.check_job(market, request, sender=market.account,
                                                       now=market.now()))
    _refuse(session, result, "job")


def check_submission(session: Any, market: Any, store: Any, state: Any,
                     read: Callable[[Any], bytes | None]) -> None:
    """The gate of ``submit`` for a submission not committed yet (``state.stage`` new): its commit
    (with the stake deposit) and reveal, the files not stored yet inline. A refused submission's
    state file is deleted (nothing was sent)."""
    if state.stage != "new":
        return
    commit = actions.commit_submission(state.job, state.commitment, stake=state.stake, token=state.token)
    reveal = actions.reveal_submission(state.job, state.model_cid, state.data_cid, state.salt)
    files = [data for c in state.contents if c.path and market.content_info(c.cid) is None
             for data in [read(c)] if data is not None]
    result = _run(session, lambda: preflight.check_submission(market, commit, reveal, sender=state.sender,
                                                              now=market.now(), files=files))
    _refuse(session, result, "submission", lambda: store.delete(state))
