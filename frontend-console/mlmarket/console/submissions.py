"""Submissions in the console, commit before content (``mlmarket.client.submission_flow``).

The submit form only stages the files here (``Staging``, by CID: nothing reaches the dApp before
the commit) and writes the submission's state file (the salt) under the upload directory's
``submissions/``. Then:

- a dev account: the page calls ``step`` again and again (``POST /api/submissions/<commitment>/step``):
  the commit, then one chunk per call, then the reveal, each answered with the progress; without
  JavaScript, ``run_all`` does them in one request. A reload resumes from the state file.
- a browser wallet: ``wallet_requests`` lists what is left to send, in order (the commit with its
  stake deposit unless the machine already holds it, the chunks the machine lacks, the reveal), for
  the signing page (``Chain.prepare_input`` each).

Kept states are listed on the submit page; those the machine has revealed are forgotten there.
"""

from __future__ import annotations

import threading
from typing import Any

from web3 import Web3

from mlmarket.client import actions
from mlmarket.client import submission_flow as flow
from mlmarket.client.chain import InputRequest
from mlmarket.client.errors import ClientError, InputFailed
from mlmarket.client.outputs import DecodedNotice, InputOutcome
from mlmarket.client.submission_state import (
    COMMITTED,
    COMMITTING,
    NEW,
    UPLOADED,
    Content,
    StateStore,
    SubmissionState,
)
from mlmarket.client.upload import pending_upload
from mlmarket.console.runtime import runtime
from mlmarket.console.uploads import after_chunk, next_step

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def store() -> StateStore:
    """The console's submission states (``<upload dir>/submissions``)."""
    return StateStore(runtime().settings.upload_dir / "submissions")


def _lock(state: SubmissionState) -> threading.Lock:
    """One lock per submission, so that two tabs never send the same step twice."""
    with _locks_guard:
        return _locks.setdefault(state.name, threading.Lock())


def _where(market: Any) -> dict[str, Any]:
    return {"chain_id": market.config.chain_id or market.chain.chain_id(),
            "app": Web3.to_checksum_address(market.config.address("Application")),
            "sender": Web3.to_checksum_address(market.account)}


def kept(market: Any) -> list[SubmissionState]:
    """The acting account's unfinished submissions (revealed ones are forgotten on the way)."""
    states = store().all(**_where(market))
    if not states:
        return []
    notices = [o for o in market.outputs(states=False) if isinstance(o, DecodedNotice)]
    committed = {n.args.get("commitment"): n.args.get("submissionId") for n in notices
                 if n.name == "SubmissionCommitted"}
    revealed = {(n.args.get("jobId"), n.args.get("submissionId")) for n in notices if n.name == "SubmissionReceived"}
    left = []
    for state in states:
        submission = state.submission or committed.get("0x" + state.commitment.hex())
        if submission is not None and (state.job, submission) in revealed:
            store().delete(state)
        else:
            left.append(state)
    return left


def find(market: Any, commitment: str) -> SubmissionState:
    """The acting account's kept submission with ``commitment`` (0x-hex). ``ClientError`` if none."""
    wanted = commitment.lower().removeprefix("0x")
    for state in store().all(**_where(market)):
        if state.commitment.hex() == wanted:
            return state
    raise ClientError("this console keeps no such submission for the acting account (revealed, or never made)")


def start(market: Any, *, job: int, model: Content | None, data: Content | None, stake: int,
          token: str | None) -> SubmissionState:
    """The kept state of the same submission, or a new one (fresh salt) saved before anything is sent."""
    state, _ = flow.begin(market, store(), job=job, model=model, data=data, stake=stake, token=token)
    return state


def _read(content: Content) -> bytes | None:
    return runtime().staging.get(content.cid)


def _progress(state: SubmissionState, message: str, **extra: Any) -> dict[str, Any]:
    return {"ok": True, "stage": state.stage, "submission": state.submission, "message": message, **extra}


def step(market: Any, state: SubmissionState) -> dict[str, Any]:
    """One step for a dev account: the commit, one chunk, or the reveal; answers the progress (with
    ``done`` and the reveal's ``input`` at the end). ``InputFailed`` / ``ClientError`` on a failure."""
    with _lock(state):
        state = find(market, "0x" + state.commitment.hex())  # another tab may have moved it on
        notes: list[str] = []
        if state.stage in (NEW, COMMITTING):
            state = flow.commit(market, store(), state, notes.append)
            return _progress(state, notes[-1])
        if state.stage == COMMITTED:
            missing = flow.contents_to_upload(market, state, _read)
            if not missing:
                state = store().save(state.at(UPLOADED))
                return _progress(state, "contents stored")
            return _upload_chunk(market, state, missing[0])
        outcome = flow.reveal(market, store(), state, notes.append, _read)
        return _progress(state, _revealed(outcome), done=True, input=outcome.index)


def _upload_chunk(market: Any, state: SubmissionState, content: Content) -> dict[str, Any]:
    data = _read(content)
    if data is None:
        raise ClientError(f"the {content.role} {content.cid} is not stored and this console no longer holds "
                          f"its file: choose it again on the submit page (same job and contents) to resume")
    plan = runtime().staging.plan(content.cid, data)
    chunk = next_step(market, content.cid, data, plan)
    if chunk.request is None:
        progress = chunk.progress
    else:
        sent = market.send(chunk.request, check=False)
        if sent.outcome.error:
            raise InputFailed(f"chunk refused: {sent.outcome.error}", outcome=sent.outcome)
        stored = any(n.name == "ContentStored" and n.args.get("cid") == content.cid for n in sent.outcome.notices)
        progress = after_chunk(chunk, stored)
    return _progress(state, f"uploading {content.role} {progress.done_chunks}/{progress.total_chunks} chunks",
                     upload={"role": content.role, **progress.to_json()})


def run_all(market: Any, state: SubmissionState) -> InputOutcome:
    """Every step left, in one request (a dev account without JavaScript); the reveal's outcome."""
    with _lock(state):
        state = find(market, "0x" + state.commitment.hex())
        return flow.run(market, store(), state, _read).outcome


def _revealed(outcome: InputOutcome) -> str:
    scored = outcome.first("SubmissionScored")
    if scored is None:
        return "revealed (scored once the job's hidden test set is revealed)"
    from mlmarket.client.amounts import from_millionths

    verdict = "accepted" if scored["accepted"] else "rejected"
    return f"revealed: score {from_millionths(int(scored['score'])):g}, {verdict}"


def wallet_requests(market: Any, state: SubmissionState) -> list[InputRequest]:
    """What a browser wallet still has to send, in order (module doc). The commit is left out once
    the machine holds it; ``ClientError`` when a missing content's bytes are not staged here."""
    commitment = "0x" + state.commitment.hex()
    committed = any(isinstance(o, DecodedNotice) and o.name == "SubmissionCommitted"
                    and o.args.get("commitment") == commitment for o in market.outputs(states=False))
    requests = [] if committed else [actions.commit_submission(state.job, state.commitment, stake=state.stake,
                                                               token=state.token)]
    for content in flow.contents_to_upload(market, state, _read):
        data = _read(content)
        if data is None:
            raise ClientError(f"the {content.role} {content.cid} is not stored and this console no longer "
                              f"holds its file: choose it again on the submit page")
        requests += list(pending_upload(market, data).requests)
    requests.append(flow.reveal_request(market, state, _read))
    return requests
