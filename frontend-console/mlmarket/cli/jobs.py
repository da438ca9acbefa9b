"""Job commands: ``job create|list|show|commitment|topup``, ``submit``, ``review``, ``reveal``, ``settle``,
``cancel``."""

from __future__ import annotations

import secrets
import sys
from typing import Any

import click

from mlmarket.cli.common import (
    Session,
    amount_options,
    command_options,
    job_id_argument,
    run_input,
    to_base_units,
)


def _answer(value: Any) -> Any:
    """An inspect answer without its ``ok`` flag."""
    return {k: v for k, v in value.items() if k != "ok"} if isinstance(value, dict) else value


def _find_int(sent: Any, notices: tuple[str, ...], key: str) -> int | None:
    for name in notices:
        args = sent.outcome.first(name)
        if args is not None and key in args:
            return int(args[key])
    return None


def job_token(market: Any, job: int) -> str:
    """The token of ``job`` (from inspect ``jobs/<id>``)."""
    from mlmarket.client.errors import ClientError

    answer = _answer(market.query(f"jobs/{job}"))
    record = answer.get("job", answer) if isinstance(answer, dict) else {}
    token = record.get("token") if isinstance(record, dict) else None
    if not isinstance(token, str):
        raise ClientError(f"cannot tell the token of job {job} from inspect jobs/{job}")
    return token


@click.group()
def job() -> None:
    """Create, list and show jobs."""


@job.command("create")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--reward", required=True, metavar="N",
              help="The job's budget in token units (100, 1.5 = 1.5*10^18 base units for 18 decimals).")
@amount_options
@click.option("--from-balance", is_flag=True,
              help="Escrow the budget from your balance in the dApp instead of depositing it now.")
@command_options
def create(session: Session, spec: str, reward: str, token: str | None, eth: bool, wei: bool,
           from_balance: bool) -> None:
    """Create a job from the JSON spec SPEC, funded with a budget of N tokens.

    The budget is deposited through the ERC-20 portal (approving it first if needed) or the Ether
    portal, with the createJob call attached, in one transaction. The keys of SPEC are documented
    in docs/CLI.md; "deadline": "+3600" means one hour after the latest block.

    Every job needs "validation_cid" (a hidden test set's fallback split is decided on it), else
    nothing is sent. "best" and "threshold" jobs may add "test_commitment" and "reveal_window".

    "reward" chooses how the money is shared (leave it out for the policy's own rule: a fixed
    "reward_per_accept", or for "best" winner takes all). "rounds" jobs: "sequential" (what each
    update adds to those committed before it), "loo" (leave-one-out) or "shapley" (with
    "permutations", 1 to 1000) share each round's "reward_per_accept" by each
    update's measured contribution, and need "round_quota" 1 to 64; "clip_norm" (e.g. 2.5) bounds
    an update's L2 distance from the global model. "best" jobs: "top_k" with "top_k" (1 to 100):
    the k best share the budget by score above a baseline. Spec keys for each:

    \b
      {"policy": "rounds", "reward": "loo", "reward_per_accept": 10, "round_quota": 4, ...}
      {"policy": "rounds", "reward": "shapley", "permutations": 50, "clip_norm": 2.5, ...}
      {"policy": "best", "reward": "top_k", "top_k": 3, ...}

    \b
    Example:
      mlmarket job create spec.json --reward 100 --account 0
      mlmarket job create spec.json --reward 0.5 --eth --json
    """
    from mlmarket.cli import preflight
    from mlmarket.client import actions
    from mlmarket.client.errors import SpecError
    from mlmarket.client.jobspec import load_spec

    market = session.market()
    token_address = market.token(token, eth)
    job_spec = load_spec(spec, now=market.now, decimals=market.chain.decimals_of(token_address))
    if not job_spec.validation_cid:
        raise SpecError("validation_cid: required for every job, with a hidden test set too (a fallback split is "
                        "decided on it); upload the validation CSV with `mlmarket put FILE` and give its CID")
    budget = to_base_units(market, token_address, reward, wei, "--reward")
    request = actions.create_job(job_spec, token_address, budget, from_balance=from_balance)
    preflight.check_job(session, market, request)
    run_input(session, request, lambda sent: {"job": _find_int(sent, ("JobCreated",), "jobId")})


@job.command("list")
@command_options
def list_jobs(session: Session) -> None:
    """List every job (inspect "jobs").

    \b
    Example:
      mlmarket job list --json
    """
    from mlmarket.cli.render import job_line

    answer = _answer(session.market(read_only=True).query("jobs"))
    jobs = answer.get("jobs", []) if isinstance(answer, dict) else []
    session.emit(answer, lambda: "\n".join(job_line(j, session.units()) for j in jobs) or "no jobs")


@job.command("show")
@job_id_argument()
@command_options
def show(session: Session, job: int) -> None:
    """Show job JOB and its submissions (inspect "jobs/JOB" and "jobs/JOB/submissions").

    In human units: amounts with the token's symbol, times in UTC, scores in the job's metric. A
    job with a reward rule shows it in words (reward_rule), and each submission its measured
    contribution (signed, in the metric: positive is better, for losses too) and what it was paid
    (reward); a differentially private update shows its declared privacy (ε, δ). --json keeps
    inspect's raw values (base units, unix times, contribution_millionths).

    \b
    Example:
      mlmarket job show 1 --json
    """
    market = session.market(read_only=True)
    record = _answer(market.query(f"jobs/{job}"))
    subs = _answer(market.query(f"jobs/{job}/submissions"))
    record = record.get("job", record) if isinstance(record, dict) else record
    subs = subs.get("submissions", subs) if isinstance(subs, dict) else subs

    def text() -> str:
        from mlmarket.cli.contributions import shown_job, shown_submission
        from mlmarket.cli.render import pretty

        units = session.units()
        return pretty({"job": shown_job(record, units),
                       "submissions": [shown_submission(s, record, units) for s in subs]})

    session.emit({"job": record, "submissions": subs}, text)


@job.command("commitment")
@click.option("--test-cid", required=True, metavar="CID", help="CID of the hidden test set (upload it later).")
@click.option("--salt", default=None, metavar="HEX", help="32-byte salt as 64 hex digits (default: a fresh one).")
@command_options
def commitment(session: Session, test_cid: str, salt: str | None) -> None:
    """Compute a hidden test set's commitment for the test_commitment of a "best" or "threshold" job.

    Keep the salt secret until you reveal (mlmarket reveal JOB --test-cid CID --salt HEX).

    \b
    Example:
      mlmarket job commitment --test-cid bafkrei... --json
    """
    from mlmarket.client.jobspec import hidden_test_commitment, parse_bytes32, parse_cid

    salt_bytes = parse_bytes32(salt, "--salt") if salt else secrets.token_bytes(32)
    value = hidden_test_commitment(parse_cid(test_cid, "--test-cid"), salt_bytes)
    data = {"test_cid": test_cid, "salt": "0x" + salt_bytes.hex(), "test_commitment": "0x" + value.hex()}
    session.emit(data, lambda: f"test_commitment: {data['test_commitment']}\nsalt: {data['salt']} (keep it secret)")


@job.command("topup")
@job_id_argument()
@click.option("--amount", required=True, metavar="N", help="How much to add, in the job's token units.")
@click.option("--wei", is_flag=True, help="--amount is in base units (wei).")
@command_options
def topup(session: Session, job: int, amount: str, wei: bool) -> None:
    """Add N of the job's token to the budget of job JOB (anyone), deposited in the same transaction.

    \b
    Example:
      mlmarket job topup 1 --amount 50
    """
    from mlmarket.client import actions

    market = session.market()
    token = job_token(market, job)
    value = to_base_units(market, token, amount, wei, "--amount")
    run_input(session, actions.top_up(job, value, token), lambda sent: {"job": job, "amount": str(value)},
              lambda sent: {"amount": session.units().amount(value, token)})


@click.command()
@job_id_argument()
@click.option("--model", "model", default=None, metavar="FILE_OR_CID",
              help="The model (a JSON spec or a trained model file), as a file or the CID of stored content.")
@click.option("--data", "data", default=None, metavar="FILE_OR_CID",
              help="Training data (CSV), as a file or a CID (optional).")
@click.option("--stake", default=None, metavar="N",
              help="Deposit N of the job's token with the commit (default: what the job's stake needs beyond "
                   "your free balance in the dApp).")
@click.option("--wei", is_flag=True, help="--stake is in base units (wei).")
@click.option("--window", type=click.IntRange(1, 64), default=8, show_default=True,
              help="Chunks sent before waiting for the first of them to be processed.")
@command_options
def submit(session: Session, job: int, model: str | None, data: str | None, stake: str | None, wei: bool,
           window: int) -> None:
    """Submit a model and/or training data to job JOB, commit before content; prints the score.

    \b
    One command does the whole sequence:
      1. computes the CIDs of the files and draws a random 32-byte salt;
      2. writes a state file (the salt, the CIDs, the files) BEFORE sending anything, in
         $MLMARKET_STATE_DIR/submissions (default ~/.mlmarket/submissions);
      3. commits: commitSubmission(JOB, keccak256(sender, JOB, modelCid, dataCid, salt)), with the
         stake deposited in the job's token when one is given or needed; this fixes the
         submission's place before anyone can see its content;
      4. uploads the files the dApp does not hold yet (in chunks, like `mlmarket put`);
      5. reveals: revealSubmission(JOB, modelCid, dataCid, salt); the machine trains, scores, pays;
      6. prints the outcome and deletes the state file.

    \b
    Interrupted (Ctrl-C, a crash, a failed upload)? Run the SAME command again: it finds the state
    file and resumes with the same salt and commitment, never commits twice and sends only the
    chunks the machine lacks. Reveal within the machine's commit window (6 hours by default) and
    before the job's deadline. Keep the state file (nothing else) and leave the submitted files
    unchanged until the command ends.

    \b
    Example:
      mlmarket submit 1 --model model.json --data train.csv --account 1
      mlmarket submit 1 --model bafkrei... --stake 1 --json
    """
    from mlmarket.cli import preflight
    from mlmarket.cli.submitting import content_arg, read_content, revealed
    from mlmarket.client import submission_flow as flow
    from mlmarket.client.submission_state import StateStore, state_directory

    if model is None and data is None:
        raise click.UsageError("give --model, --data, or both")
    model_content, data_content = content_arg("model", model), content_arg("data", data)
    market = session.market()
    if stake is not None:
        token: str | None = job_token(market, job)
        amount = to_base_units(market, str(token), stake, wei, "--stake")
    else:  # also checks that the job exists before any state is written
        amount, token = flow.stake_shortfall(market, job)
    store = StateStore(state_directory())
    state, resumed = flow.begin(market, store, job=job, model=model_content, data=data_content, stake=amount,
                                token=token)  # a kept state keeps its own stake
    preflight.check_submission(session, market, store, state, read_content)  # before anything is sent
    if state.stake and state.stage == "new":
        session.note(f"depositing {session.units().amount(state.stake, str(state.token))} with the commit "
                     f"(the job's stake)")
    session.note(f"submitting to job {job} from {market.signer}; state file {store.path(state)}")

    def progress(content: Any, done: int, total: int) -> None:
        if total and (done == total or total <= 20 or done % max(1, total // 20) == 0):
            session.note(f"uploading {content.role} {done}/{total} chunks")

    result = flow.run(market, store, state, read_content, resumed=resumed, notify=session.note, progress=progress,
                      window=window)
    said = revealed(market, session.units(), result)
    if session.as_json:
        session.note(said.text.splitlines()[0])
    session.emit({"ok": not said.exit_code, "submission_status": said.status, **result.to_json()}, said.text)
    if said.exit_code:
        sys.exit(said.exit_code)


@click.command()
@job_id_argument()
@click.argument("submission", type=click.IntRange(min=0), metavar="SUB")
@click.option("--accept/--reject", default=None, help="Accept or reject the submission (one is required).")
@command_options
def review(session: Session, job: int, submission: int, accept: bool | None) -> None:
    """Accept or reject submission SUB of manual job JOB (sponsor or delegate).

    \b
    Example:
      mlmarket review 1 2 --accept
    """
    from mlmarket.client import actions

    if accept is None:
        raise click.UsageError("give --accept or --reject")
    run_input(session, actions.review(job, submission, accept), lambda sent: {"job": job, "submission": submission})


@click.command()
@job_id_argument()
@click.option("--test-cid", required=True, metavar="CID", help="CID of the hidden test set (uploaded).")
@click.option("--salt", required=True, metavar="HEX", help="The 32-byte salt of the commitment (64 hex digits).")
@command_options
def reveal(session: Session, job: int, test_cid: str, salt: str) -> None:
    """Reveal the hidden test set of job JOB ("best" or "threshold") after its deadline (sponsor).

    \b
    Example:
      mlmarket reveal 1 --test-cid bafkrei... --salt 0x1f2e...
    """
    from mlmarket.client import actions
    from mlmarket.client.jobspec import parse_bytes32, parse_cid

    request = actions.reveal(job, parse_cid(test_cid, "--test-cid"), parse_bytes32(salt, "--salt"))
    run_input(session, request, lambda sent: {"job": job}, lambda sent: scored_verdicts(session, job, sent.outcome))


def scored_verdicts(session: Session, job: int, outcome: Any) -> dict[str, str]:
    """``submission N: accuracy 0.93, accepted, paid 5 TEST`` for each submission ``outcome``
    scored (what the machine recorded for it after the input: ``outcomes.verdict``)."""
    from mlmarket.cli.outcomes import job_record, submission_record, verdict

    market, units = session.market(), session.units()
    record = job_record(market, job)
    scored = sorted({int(n.args["submissionId"]) for n in outcome.notices if n.name == "SubmissionScored"})
    return {f"submission {sub}": verdict(units, record, submission_record(market, job, sub), outcome,
                                         market.account).text
            for sub in scored}


@click.command()
@job_id_argument()
@command_options
def settle(session: Session, job: int) -> None:
    """Apply what is due on job JOB after its deadline (anyone may send it).

    \b
    Example:
      mlmarket settle 1
    """
    from mlmarket.client import actions

    run_input(session, actions.settle(job), lambda sent: {"job": job})


@click.command()
@job_id_argument()
@command_options
def cancel(session: Session, job: int) -> None:
    """Cancel job JOB; the remaining budget is refunded by voucher (sponsor).

    While commits of the job are still open (committed, not yet revealed and decided, within their
    window), the cancel is recorded and takes effect once they are revealed or expire (at most the
    machine's commit window, 6 hours by default); `mlmarket settle JOB` then completes it.

    \b
    Example:
      mlmarket cancel 1
    """
    from mlmarket.client import actions

    def summary(sent: Any) -> dict[str, Any]:
        waiting = not any(n.name in ("JobCancelled", "JobSettled") for n in sent.outcome.notices)
        pending = waiting and session.market().query(f"jobs/{job}")["job"].get("cancelling")
        return {"job": job, **({"cancelling": "waits for the job's open commits (revealed or expired)"}
                               if pending else {})}

    run_input(session, actions.cancel(job), summary)


COMMANDS = [job, submit, review, reveal, settle, cancel]
