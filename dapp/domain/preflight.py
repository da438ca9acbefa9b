"""Pre-flight: dry runs of a would-be input, answered by inspect before anything is sent.

``preflight/job``, ``preflight/submission`` and ``preflight/model`` take the exact ABI call the
client would send (``input``, hex) with its sender, the block time to judge it at (``now``), the
deposit it would carry (``deposit`` of ``token``) and, inline, files not uploaded yet (``content``,
hex, repeated). They run the advance path's own functions (``dapp.domain.handlers.handle_input``,
the spec rules, the engine's checks, the ledger) on a transaction over the state that is never
committed, so a dry run changes nothing. Where the advance path stops at the first broken rule, the
dry run also runs each independent check on its own, so that every problem is listed at once, each
with a code, a message and a fix. The answer's ``accepted`` is what the real input would get.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from dapp.codec.cid import cid_from_text, cid_of, cid_to_text
from dapp.codec.hexbytes import from_hex
from dapp.codec.inputs import decode_call
from dapp.domain import content_budget, contribution, ledger, policies, round_rewards, spec, submissions
from dapp.domain.commands import CommitSubmission, Context, CreateJob, Deposit, RevealSubmission
from dapp.domain.content_budget import CONTENTS, Content
from dapp.domain.env import Env
from dapp.domain.events import CommandFailed, StakeSlashed, SubmissionScored
from dapp.domain.handlers import handle_input
from dapp.domain.job_views import SCALE
from dapp.domain.jobs import require_content, touch
from dapp.domain.paging import parse_uint, uint_param
from dapp.domain.preflight_problems import FIXES, JOB_FIXES, SUBMISSION_FIXES, Found, Problem
from dapp.domain.records import SUBMISSIONS, Job, Submission, get_job
from dapp.domain.store import Reader, Tx
from dapp.domain.values import Address
from dapp.errors import DappError, DomainError

# --- the query's parameters ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Request:
    """A dry run's parameters (``parse``)."""

    sender: Address
    now: int
    payload: bytes
    deposit: int
    token: Address | None
    contents: tuple[bytes, ...]
    params: dict[str, list[str]]
    pending: frozenset[bytes] = frozenset()


def _one(params: dict[str, list[str]], name: str, required: bool = True) -> str:
    values = params.get(name) or []
    if len(values) > 1 or (required and not values):
        raise DomainError(f"preflight needs exactly one {name}= parameter", code="bad_query")
    return values[0] if values else ""


def _hex(text: str, name: str) -> bytes:
    if not text:
        return b""
    try:
        return from_hex(text)
    except DappError as exc:
        raise DomainError(f"{name}= is not 0x-hex: {exc.message}", code="bad_query") from exc


def _address(text: str, name: str) -> Address:
    try:
        return Address.from_hex(text)
    except ValueError as exc:
        raise DomainError(f"{name}= is not an address", code="bad_query") from exc


def parse(params: dict[str, list[str]], needs_input: bool = True) -> Request:
    """The dry run's ``sender``, ``now``, ``input``, ``deposit``/``token`` and inline ``content``s."""
    deposit = uint_param(params, "deposit", 0)
    token_text = _one(params, "token", required=bool(deposit))
    sender, now = _one(params, "sender", needs_input), _one(params, "now", needs_input)
    return Request(sender=_address(sender, "sender") if sender else Address(bytes(20)),
                   now=parse_uint(now, "query parameter now") if now else 0,
                   payload=_hex(_one(params, "input", needs_input), "input"),
                   deposit=deposit, token=_address(token_text, "token") if token_text else None,
                   contents=tuple(_hex(c, "content") for c in params.get("content", [])), params=params,
                   pending=frozenset(cid_from_text(c) for c in params.get("pending", [])))


def _stage(tx: Tx, req: Request, env: Env, found: Found) -> None:
    """Puts the inline files in the dry run's store, as a completed upload would (size, room)."""
    for data in req.contents:
        cid = cid_of(data)
        if tx.get(CONTENTS, cid) is not None:
            continue
        if len(data) > env.limits.max_file_size:
            found.add(Problem("file_too_large", f"{cid_to_text(cid)} is {len(data)} bytes, more than "
                              f"max_file_size {env.limits.max_file_size}", FIXES["file_too_large"]))
            continue
        if found.run(lambda: content_budget.require_room(tx, len(data), req.now, env.limits)) is None:
            content_budget.add(tx, cid, Content(data, req.sender, 0, req.now))


def _decoded(req: Request, kind: type, name: str) -> Any:
    command = decode_call(req.payload)
    if not isinstance(command, kind):
        raise DomainError(f"input= is not a {name} call", code="bad_query")
    return command


def _real_run(tx: Tx, req: Request, command: Any, env: Env, found: Found) -> list[Any]:
    """The advance path on ``command`` (inside its deposit if one is given); its events."""
    if req.deposit:
        command = Deposit(req.token, req.sender, req.deposit, then=command)
    events = found.run(lambda: handle_input(tx, command, Context(req.sender, req.now, 0, 0), env)) or []
    for failed in (e for e in events if isinstance(e, CommandFailed)):
        found.error(DomainError(failed.message, code=failed.code))
    return events


def _balance_check(tx: Tx, req: Request, token: Address, amount: int, found: Found) -> int:
    """The ledger's own lock of ``amount`` after the deposit (an ``insufficient_balance`` problem);
    returns the sender's free balance before the input."""
    scratch = Tx(tx)

    def lock() -> None:
        if req.deposit and req.token is not None:
            ledger.credit_deposit(scratch, req.token, req.sender, req.deposit)
        ledger.lock(scratch, ("preflight",), token, req.sender, amount)

    found.run(lock)
    return ledger.balance(tx, token, req.sender)


def _answer(found: Found, **details: Any) -> dict[str, Any]:
    return {"accepted": not found.items, "problems": [asdict(p) for p in found.items], **details}


# --- the dry runs ------------------------------------------------------------------------------------

def dry_run_job(reader: Reader, req: Request, env: Env) -> dict[str, Any]:
    """``createJob``: every spec rule, the validation data and base model against the spec, the
    budget against the sender's balance (after the deposit), then the real handler."""
    found, tx = Found(JOB_FIXES), Tx(reader)
    cmd: CreateJob = _decoded(req, CreateJob, "createJob")
    s = cmd.spec
    for problem in spec.problems(s, cmd.budget, req.now, env.limits):
        found.error(problem)
    _stage(tx, req, env, found)
    task_ok = not any(p.field in ("task", "label") for p in found.items)
    if s.validation_cid and task_ok:
        data = found.run(lambda: require_content(tx, s.validation_cid, "validation data"))
        if data is not None:
            found.run(lambda: env.engine.check_dataset(data, s.label, s.task), "validation data")
    if s.base_model_cid:
        model = found.run(lambda: require_content(tx, s.base_model_cid, "base model"))
        if model is not None:
            for problem in env.engine.model_problems(model, s.task if task_ok else None):
                found.error(problem, "base model")
    if not found.items:
        found.run(lambda: _valuation_bound(tx, s, env))
    balance = _balance_check(tx, req, cmd.token, cmd.budget, found)
    _real_run(tx, req, cmd, env, found)
    kept = str(req.deposit) if found.items and req.deposit else "0"
    return _answer(found, budget=str(cmd.budget), token=cmd.token.hex, balance=str(balance),
                   deposit=str(req.deposit), deposit_kept=kept)


def _valuation_bound(tx: Tx, s: Any, env: Env) -> None:
    """A contribution-reward rounds job's bound on valuing a round (``Rounds.on_create``), checked here
    once its spec and contents are valid so that its field and fix reach the answer (the real run's
    failure carries only its message)."""
    if s.policy != "rounds" or s.reward not in spec.CONTRIBUTION_REWARDS:
        return
    model = require_content(tx, s.base_model_cid, "base model")
    validation = require_content(tx, s.validation_cid, "validation data")
    base = env.engine.check_model(model, s.task)
    if base.averageable:
        contribution.check_work(s.reward, s.round_quota, s.permutations,
                                round_rewards.costs(env.engine, s, model, base.trained, validation),
                                round_rewards.budget(env.limits))


def _check_contents(tx: Tx, job: Job, sub: Submission, req: Request, env: Env, found: Found) -> int | None:
    """The reveal's content checks, each on its own: a model or data for the job's base model, the
    files stored (or inline), the model and data for the job's task and label, the estimated work
    within the engine's bounds. Files in ``req.pending`` (to be uploaded before the reveal) are not
    checked. Returns that estimate (None if a check failed or was skipped)."""
    if not sub.model_cid and not (sub.data_cid and job.model_cid):
        found.error(DomainError("a submission needs a model, or data to train the job's base model on",
                                code="bad_submission"))
        return None
    before = len(found.items)
    files = {}
    for cid, what in ((sub.model_cid, "model"), (sub.data_cid, "training data")):
        if cid and cid not in req.pending:
            files[what] = found.run(lambda cid=cid, what=what: require_content(tx, cid, what))
    if files.get("model") is not None:
        for problem in env.engine.model_problems(files["model"], job.spec.task):
            found.error(problem, "model")
    if files.get("training data") is not None:
        found.run(lambda: env.engine.check_dataset(files["training data"], job.spec.label, job.spec.task),
                  "training data")
    if len(found.items) > before or {sub.model_cid, sub.data_cid} & req.pending:
        return None
    return found.run(lambda: submissions.estimate_submission(tx, job, sub, env, job.spec.validation_cid))


def _slashed(tx: Tx, events: list[Any], found: Found) -> None:
    for event in (e for e in events if isinstance(e, StakeSlashed)):
        sub = tx.get(SUBMISSIONS, (event.job_id, event.submission_id))
        found.add(Problem("stake_slashed", f"the stake of {event.amount} would be slashed: {sub.error}",
                          FIXES["stake_slashed"]))


def dry_run_submission(reader: Reader, req: Request, env: Env) -> dict[str, Any]:
    """``commitSubmission`` (with its stake deposit) and, given ``reveal`` (the ``revealSubmission``
    call), the content checks; ``score=1``, or a job with a hidden test set (whose reveal does not
    score), also runs the real reveal."""
    found, tx = Found(SUBMISSION_FIXES), Tx(reader)
    cmd: CommitSubmission = _decoded(req, CommitSubmission, "commitSubmission")
    reveal_text = _one(req.params, "reveal", required=False)
    reveal = None
    if reveal_text:
        reveal = decode_call(_hex(reveal_text, "reveal"))
        if not isinstance(reveal, RevealSubmission) or reveal.job_id != cmd.job_id:
            raise DomainError("reveal= is not a revealSubmission call to the same job", code="bad_query")
    _stage(tx, req, env, found)
    ctx = Context(req.sender, req.now, 0, 0)
    job = found.run(lambda: touch(Tx(tx), cmd.job_id, ctx, env)[0])
    if job is None:
        return _answer(found)
    found.run(lambda: submissions.check_can_submit(Tx(tx), job, req.sender))
    balance = _balance_check(tx, req, job.token, job.spec.stake, found)
    work = None
    if reveal is not None:
        sub = Submission(job.id, job.submissions + 1, req.sender, reveal.model_cid, reveal.data_cid, req.now)
        work = _check_contents(tx, job, sub, req, env, found)
    _real_run(tx, req, cmd, env, found)
    score = None
    full = policies.has_hidden_test(job) or uint_param(req.params, "score", 0)
    if reveal is not None and not found.items and not req.pending and full:
        revealed = _real_run(tx, Request(req.sender, req.now, b"", 0, None, (), {}), reveal, env, found)
        _slashed(tx, revealed, found)
        score = next((e.score for e in revealed if isinstance(e, SubmissionScored)), None)
    details = {"job": job.id, "stake": str(job.spec.stake), "token": job.token.hex, "balance": str(balance),
               "deposit": str(req.deposit), "estimated_cycles": work,
               "unchecked": sorted(map(cid_to_text, req.pending))}
    scores = {} if score is None else {"score": score / SCALE, "score_millionths": score}
    return _answer(found, **details, **scores)


def dry_run_model(reader: Reader, req: Request, env: Env) -> dict[str, Any]:
    """A model (and training data) against job ``job``: the reveal's content checks alone."""
    found, tx = Found(), Tx(reader)
    job = get_job(reader, uint_param(req.params, "job", 0))
    model_text, data_text = _one(req.params, "model", False), _one(req.params, "data", False)
    _stage(tx, req, env, found)
    sub = Submission(job.id, 0, req.sender, cid_from_text(model_text) if model_text else b"",
                     cid_from_text(data_text) if data_text else b"", req.now)
    work = _check_contents(tx, job, sub, req, env, found)
    return _answer(found, job=job.id, estimated_cycles=work, unchecked=sorted(map(cid_to_text, req.pending)))


DRY_RUNS = {"job": dry_run_job, "submission": dry_run_submission, "model": dry_run_model}


def answer(reader: Reader, env: Env, parts: list[str], params: dict[str, list[str]]) -> dict[str, Any]:
    """The ``preflight/<kind>`` inspect route (``dapp.domain.queries``)."""
    if len(parts) != 2 or parts[1] not in DRY_RUNS:
        raise DomainError(f"usage: preflight/{'|'.join(DRY_RUNS)}?…", code="bad_query")
    return DRY_RUNS[parts[1]](reader, parse(params, needs_input=parts[1] != "model"), env)
