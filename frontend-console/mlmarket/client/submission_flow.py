"""A submission, commit before content: ``commitSubmission`` -> upload -> ``revealSubmission``.

The commitment hides the CIDs behind a random salt, so nobody can copy or front-run the contents
before the submission's place (its id) is fixed. Each step reads and writes the state file
(``submission_state``) so that running the same submission again, after Ctrl-C, a crash or a
failed upload, resumes where it stopped: same salt and commitment, never a second commit, and only
the chunks the machine does not hold (``upload.upload`` asks it).

``begin`` finds the kept state of the same submission or starts one (written before anything is
sent); ``commit`` sends the commit (with the stake's deposit) and waits for ``SubmissionCommitted``;
``upload_contents`` stores what is missing, except small contents (together at most
``INLINE_BYTES``), which travel inside the reveal (``revealSubmissionInline``): a model spec costs no
upload input; ``reveal`` sends the reveal and waits for the outcome;
``run`` does all of them. A failed commit, and a reveal the machine can never accept
(``bad_reveal``, ``reveal_too_late``), delete the state; any other failure keeps it for a re-run.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from web3 import Web3

from dapp.codec.cid import cid_of, cid_to_text
from dapp.domain.limits import Limits
from mlmarket.client import actions
from mlmarket.client.chain import InputRequest
from mlmarket.client.errors import ClientError, InputFailed
from mlmarket.client.inspect import query_path
from mlmarket.client.outputs import DecodedNotice, InputOutcome
from mlmarket.client.submission_state import (
    COMMITTED,
    COMMITTING,
    NEW,
    REVEALING,
    UPLOADED,
    Content,
    StateStore,
    SubmissionState,
)
from mlmarket.client.upload import UploadResult, pending_upload, upload

if TYPE_CHECKING:
    from mlmarket.client.market import Market

INLINE_BYTES = Limits().max_inline_bytes
"""The machine's default bound on the contents one reveal may carry."""

FINAL_REVEAL_ERRORS = frozenset({"bad_reveal", "reveal_too_late"})
"""Reveal errors no re-run can fix: the state is deleted."""

Notify = Callable[[str], None]
ChunkProgress = Callable[[Content, int, int], None]
"""``progress(content, chunks_done, chunks_to_send)``, before the first chunk and after each one."""
ReadContent = Callable[[Content], bytes | None]
"""The bytes of a content (None when only its CID is known)."""


@dataclass(frozen=True)
class FlowResult:
    """A revealed submission: its last state, the reveal's outcome, what was uploaded on this run."""

    state: SubmissionState
    outcome: InputOutcome
    uploads: tuple[UploadResult, ...]
    resumed: bool

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (``mlmarket submit --json``): the reveal's outcome with the submission."""
        return {"job": self.state.job, "submission": self.state.submission,
                "commitment": "0x" + self.state.commitment.hex(), "resumed": self.resumed,
                "uploads": [u.to_json() for u in self.uploads], **self.outcome.to_json()}


def error_code(outcome: InputOutcome) -> str | None:
    """The ``code`` of the outcome's error report, if any."""
    for report in outcome.reports:
        value = report.value
        if isinstance(value, dict) and value.get("ok") is False and isinstance(value.get("error"), dict):
            return str(value["error"].get("code"))
    return None


def job_stake(market: Market, job: int) -> tuple[int, str]:
    """The stake job ``job`` asks per submission and its token (inspect ``jobs/<id>``)."""
    answer = market.query(query_path("jobs", job))
    record = answer.get("job", answer) if isinstance(answer, dict) else {}
    spec = record.get("spec") or {} if isinstance(record, dict) else {}
    token = record.get("token") if isinstance(record, dict) else None
    if not isinstance(token, str):
        raise ClientError(f"cannot tell the token of job {job} from inspect jobs/{job}")
    return int(spec.get("stake") or 0), token


def stake_shortfall(market: Market, job: int) -> tuple[int, str | None]:
    """What to deposit with the commit when no stake is given: the part of the job's stake the
    sender's free balance in the dApp does not cover (the machine locks the stake from it)."""
    stake, token = job_stake(market, job)
    if not stake:
        return 0, None
    answer = market.query(query_path("balances", market.account.lower()))
    balances = answer.get("balances", {}) if isinstance(answer, dict) else {}
    free = int(balances.get(token.lower(), 0) or 0)
    return (stake - free, token) if stake > free else (0, None)


def content_of(role: str, cid: str | None = None, data: bytes | None = None,
               path: str | None = None) -> Content:
    """A ``Content`` from its bytes (the CID is computed here) or a CID text."""
    if data is not None:
        return Content(role, cid_to_text(cid_of(data)), path)
    if not cid:
        raise ClientError(f"the {role} needs a file or a CID")
    return Content(role, cid, None)


def begin(market: Market, store: StateStore, *, job: int, model: Content | None, data: Content | None,
          stake: int = 0, token: str | None = None) -> tuple[SubmissionState, bool]:
    """The kept state of this submission (same chain, application, job, sender and contents), or a
    new one with a fresh salt, saved before anything is sent. Returns (state, resumed)."""
    chain_id = market.config.chain_id or market.chain.chain_id()
    app = Web3.to_checksum_address(market.config.address("Application"))
    sender = Web3.to_checksum_address(market.account)
    kept = store.find(chain_id=chain_id, app=app, sender=sender, job=job, model=model, data=data)
    if kept is not None:
        return kept, True
    state = SubmissionState(chain_id=chain_id, app=app, job=job, sender=sender, salt=secrets.token_bytes(32),
                            model=model, data=data, stake=stake, token=token if stake else None)
    return store.save(state), False


def _notices(market: Market, name: str) -> list[DecodedNotice]:
    return [o for o in market.outputs(states=False) if isinstance(o, DecodedNotice) and o.name == name]


def _committed_id(state: SubmissionState, outcome_notices: list[DecodedNotice]) -> int | None:
    commitment = "0x" + state.commitment.hex()
    for notice in outcome_notices:
        if notice.name == "SubmissionCommitted" and notice.args.get("commitment") == commitment \
                and str(notice.args.get("contributor", "")).lower() == state.sender.lower():
            return int(notice.args["submissionId"])
    return None


def commit(market: Market, store: StateStore, state: SubmissionState, notify: Notify) -> SubmissionState:
    """Sends the commit (unless it was sent) and waits for ``SubmissionCommitted``."""
    if state.stage not in (NEW, COMMITTING):
        return state
    if state.stage == COMMITTING and state.commit_input is None:
        found = _committed_id(state, _notices(market, "SubmissionCommitted"))
        if found is not None:  # sent by an interrupted run that did not note its input
            notify(f"committed as submission {found}")
            return store.save(state.at(COMMITTED, submission=found))
    if state.commit_input is None:
        state = store.save(state.at(COMMITTING))  # before sending: a crash now leaves a trace to look for
        request = actions.commit_submission(state.job, state.commitment, stake=state.stake, token=state.token)
        ref = market.chain.send_input(request)
        state = store.save(state.at(COMMITTING, commit_input=ref.index))
        notify(f"commit sent (input {ref.index}), waiting for the node")
    outcome = market.reader.wait_for_input(state.commit_input, timeout=market.wait_timeout)
    submission = _committed_id(state, list(outcome.notices))
    if error_code(outcome) == "duplicate_commitment":  # a commit this state's run sent, then lost track of
        submission = _committed_id(state, _notices(market, "SubmissionCommitted"))
    if submission is None:
        store.delete(state)
        why = outcome.error or "no SubmissionCommitted notice"
        raise InputFailed(f"the commit failed: {why}", outcome=outcome)
    notify(f"committed as submission {submission}")
    return store.save(state.at(COMMITTED, submission=submission))


def missing_contents(market: Market, state: SubmissionState) -> list[Content]:
    """The contents the dApp does not store yet."""
    return [c for c in state.contents if market.content_info(c.cid) is None]


def inline_contents(market: Market, state: SubmissionState, read: ReadContent) -> dict[str, bytes]:
    """``{role: bytes}`` of the missing contents the reveal carries: those whose bytes are here and
    still hash to their CID, model first, while they fit in ``INLINE_BYTES`` together."""
    carried: dict[str, bytes] = {}
    room = INLINE_BYTES
    for content in missing_contents(market, state):
        data = read(content)
        if data is not None and len(data) <= room and cid_to_text(cid_of(data)) == content.cid:
            carried[content.role] = data
            room -= len(data)
    return carried


def contents_to_upload(market: Market, state: SubmissionState, read: ReadContent) -> list[Content]:
    """The missing contents that need an upload of their own (not carried by the reveal)."""
    carried = inline_contents(market, state, read)
    return [c for c in missing_contents(market, state) if c.role not in carried]


def reveal_request(market: Market, state: SubmissionState, read: ReadContent | None) -> InputRequest:
    """The reveal to send: ``revealSubmissionInline`` with the small missing contents, else
    ``revealSubmission``."""
    carried = inline_contents(market, state, read) if read is not None else {}
    if not carried:
        return actions.reveal_submission(state.job, state.model_cid, state.data_cid, state.salt)
    return actions.reveal_submission_inline(state.job, state.model_cid, state.data_cid, state.salt,
                                            model=carried.get("model", b""), data=carried.get("data", b""))


def upload_contents(market: Market, store: StateStore, state: SubmissionState, read: ReadContent,
                    notify: Notify, progress: ChunkProgress | None = None, *, window: int = 8
                    ) -> tuple[SubmissionState, tuple[UploadResult, ...]]:
    """Uploads every content the dApp lacks (from the machine's byte on); ``ClientError`` if one
    has no bytes here or its file changed since the commit (the state is kept)."""
    if state.stage != COMMITTED:
        return state, ()
    results = []
    for content in contents_to_upload(market, state, read):
        data = read(content)
        if data is None:
            raise ClientError(f"{content.role} {content.cid} is not stored and its file is not here: "
                              f"store it (mlmarket put FILE) and run the same submission again")
        if cid_to_text(cid_of(data)) != content.cid:
            raise ClientError(f"{content.path or content.role} changed since the commit (it was "
                              f"{content.cid}): restore it and run the same submission again")
        total = len(pending_upload(market, data).requests)
        done = [0]
        report = progress or (lambda c, k, n: None)
        report(content, 0, total)

        def counted(_done: int, _size: int, content: Content = content) -> None:
            if _done and done[0] < total:
                done[0] += 1
                report(content, done[0], total)

        results.append(upload(market, data, progress=counted, window=window))
        notify(f"{content.role} stored: {content.cid}")
    return store.save(state.at(UPLOADED)), tuple(results)


def _revealed_input(market: Market, state: SubmissionState) -> int | None:
    """The input that revealed ``state``'s submission, if the machine has it."""
    return next((n.input_index for n in _notices(market, "SubmissionReceived")
                 if n.args.get("jobId") == state.job and n.args.get("submissionId") == state.submission), None)


def reveal(market: Market, store: StateStore, state: SubmissionState, notify: Notify,
           read: ReadContent | None = None) -> InputOutcome:
    """Sends the reveal (unless it was sent; carrying the small contents ``read`` gives, see
    ``reveal_request``), waits for it and deletes the state once it went through (or can never go
    through: ``FINAL_REVEAL_ERRORS``)."""
    if state.stage == REVEALING and state.reveal_input is None:
        found = _revealed_input(market, state)
        if found is not None:  # revealed by an interrupted run that did not note its input
            state = store.save(state.at(REVEALING, reveal_input=found))
    if state.reveal_input is None:
        state = store.save(state.at(REVEALING))
        ref = market.chain.send_input(reveal_request(market, state, read))
        state = store.save(state.at(REVEALING, reveal_input=ref.index))
        notify(f"reveal sent (input {ref.index}), waiting for the node")
    outcome = market.reader.wait_for_input(state.reveal_input, timeout=market.wait_timeout)
    earlier = _revealed_input(market, state) if error_code(outcome) == "already_revealed" else None
    if earlier is not None:  # a reveal this state's run sent, then lost track of: its outcome is the one
        outcome = market.reader.wait_for_input(earlier, timeout=market.wait_timeout)
    if outcome.error:
        if error_code(outcome) in FINAL_REVEAL_ERRORS:
            store.delete(state)
        else:  # e.g. a content dropped from the store meanwhile: a re-run checks the contents again
            store.save(state.at(COMMITTED, reveal_input=None))
        raise InputFailed(f"the reveal failed: {outcome.error}", outcome=outcome)
    store.delete(state)
    return outcome


def run(market: Market, store: StateStore, state: SubmissionState, read: ReadContent, *,
        resumed: bool = False, notify: Notify | None = None, progress: ChunkProgress | None = None,
        window: int = 8) -> FlowResult:
    """The whole submission from wherever ``state`` stands (module doc)."""
    say = notify or (lambda message: None)
    if resumed:
        say(f"resuming the submission to job {state.job} kept in {store.path(state)} (stage {state.stage})")
    state = commit(market, store, state, say)
    state, uploads = upload_contents(market, store, state, read, say, progress, window=window)
    outcome = reveal(market, store, state, say, read)
    return FlowResult(state.at(REVEALING, reveal_input=outcome.index), outcome, uploads, resumed)


def submit_bytes(market: Market, store: StateStore, job: int, *, model: bytes | None = None,
                 data: bytes | None = None, stake: int = 0, token: str | None = None,
                 notify: Notify | None = None) -> FlowResult:
    """The whole submission of contents held in memory (scripts, the demo): ``begin`` then ``run``,
    resuming a kept state of the same contents."""
    given = {role: value for role, value in (("model", model), ("data", data)) if value is not None}
    contents = {role: content_of(role, data=value) for role, value in given.items()}
    state, resumed = begin(market, store, job=job, model=contents.get("model"), data=contents.get("data"),
                           stake=stake, token=token)
    held = {contents[role].cid: value for role, value in given.items()}
    return run(market, store, state, lambda content: held.get(content.cid), resumed=resumed, notify=notify)
