"""``mlmarket update``: a differentially private update of a federated job, made locally
(``mlmarket.client.privacy``); ``mlmarket submit JOB --model FILE`` sends it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from mlmarket.cli.common import Session, command_options, job_id_argument
from mlmarket.client.errors import ClientError

FETCH_PART = 512 * 1024  # bytes per inspect "contents/<cid>/data" query


@click.command("update")
@job_id_argument()
@click.option("--data", "data", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              metavar="CSV", help="Your private training data (CSV with the job's columns). It is read here "
                                  "and never sent.")
@click.option("--epsilon", type=float, required=True,
              help="The privacy budget epsilon of this update, in (0, 100]: smaller is more private and noisier.")
@click.option("--delta", type=float, default=1e-5, show_default=True,
              help="The failure probability delta, in (0, 1); keep it well below 1 / your number of rows.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the noised model file (weights and the declared epsilon, delta only).")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=None,
              help="Seed the noise (tests and benchmarks ONLY: anyone who knows the seed can remove the "
                   "noise). Default: fresh randomness from the operating system.")
@command_options
def update(session: Session, job: int, data: Path, epsilon: float, delta: float, output: Path,
           seed: int | None) -> None:
    """Make a differentially private update of federated job JOB from a private CSV, locally.

    \b
    On this machine, with the same engine code the Cartesi machine runs:
      1. reads the job's spec, its current global model and validation set (inspect);
      2. trains the global model on --data (which never leaves this machine);
      3. clips the update (trained - global) to the job's clip_norm C, adds Gaussian noise
         calibrated for (--epsilon, --delta) with sensitivity 2C (the analytic Gaussian
         mechanism), projects it back within C, and checks it as the machine will;
      4. writes --output: the weights and the declared (epsilon, delta), nothing else.
    Then send it as a weights-only update with `mlmarket submit JOB --model FILE`.

    \b
    The job needs a clip_norm (the machine refuses a declaration without one) and a linear model
    or an MLP. The machine checks only the distance bound: the noise is your side's to add
    (noise added by the machine would be public, see docs/MODELS.md "Private updates").

    \b
    Example:
      mlmarket update 3 --data private.csv --epsilon 1 --delta 1e-5 -o update.zip
      mlmarket submit 3 --model update.zip --account 1
    """
    from mlmarket.cli.outcomes import job_record
    from mlmarket.client.content import fetch_content
    from mlmarket.client.privacy import check_budget, private_update
    from mlmarket.client.units import score_text
    from mlmarket.client.upload import read_file

    check_budget(epsilon, delta)
    market = session.market(read_only=True)
    record = job_record(market, job)
    spec = _federated_spec(job, record)
    session.note(f"training job {job}'s global model (round {record.get('round', 0)}) on {data} locally ...")
    made = private_update(global_model=fetch_content(market, str(record["model_cid"]), part=FETCH_PART),
                          train=read_file(data),
                          validation=fetch_content(market, str(spec["validation_cid"]), part=FETCH_PART),
                          task=str(spec["task"]), metric=str(spec["metric"]), label=str(spec["label"]),
                          clip_norm=int(spec["clip_norm"]), epsilon=epsilon, delta=delta, seed=seed)
    try:
        output.write_bytes(made.model)
    except OSError as exc:
        raise ClientError(f"cannot write {output}: {exc.strerror or exc}") from exc
    answer: dict[str, Any] = {
        "ok": True, "job": job, "round": record.get("round", 0), "output": str(output), "size": len(made.model),
        "epsilon": made.epsilon, "delta": made.delta, "clip_norm": made.clip, "sigma": made.sigma,
        "parameters": made.parameters, "trained_distance": made.trained_distance, "distance": made.distance,
        "rows": made.samples, "score_millionths": made.score, "meets_bar": meets_bar(record, made.score),
    }
    verdict = ("meets the round's bar" if answer["meets_bar"] else
               "BELOW the round's bar: the machine would refuse it (a smaller epsilon costs accuracy; "
               "docs/MODELS.md \"Private updates\")")

    def text() -> str:
        return (f"wrote {output} ({len(made.model)} bytes): job {job}, round {answer['round']}\n"
                f"privacy: epsilon {made.epsilon:g}, delta {made.delta:g}; Gaussian noise sigma {made.sigma:.6g} "
                f"on {made.parameters} parameters (sensitivity 2 x clip_norm {made.clip:g})\n"
                f"update: {made.trained_distance:.6g} from the global model as trained on {made.samples} rows, "
                f"{made.distance:.6g} as written (clip_norm {made.clip:g})\n"
                f"its score on the job's validation set: {score_text(made.score, str(spec['metric']))} "
                f"(the machine measures the same), {verdict}\n"
                f"next: mlmarket submit {job} --model {output}")

    session.emit(answer, text)


def meets_bar(record: dict[str, Any], score: int) -> bool:
    """Whether ``score`` (millionths) meets the bar of a rounds job as inspect shows it: the global
    score minus the tolerance, or ``min_score`` before the global model has a score."""
    from dapp.ml.metrics import gain, meets

    spec, best = record["spec"], record.get("best_score")
    metric = str(spec["metric"])
    if best is None:
        return meets(metric, score, int(spec.get("min_score") or 0))
    return gain(metric, score, round(float(best) * 1_000_000)) >= -int(spec.get("tolerance") or 0)


def _federated_spec(job: int, record: dict[str, Any]) -> dict[str, Any]:
    """The spec of ``record`` (inspect's job), once it is an open federated job with a clip_norm."""
    spec = record.get("spec")
    if not record or not isinstance(spec, dict):
        raise ClientError(f"job {job} was not found")
    if spec.get("policy") != "rounds":
        raise ClientError(f"job {job} is a '{spec.get('policy')}' job: private updates are for federated "
                          "('rounds') jobs")
    if record.get("status") != "open":
        raise ClientError(f"job {job} is {record.get('status')}: it takes no more updates")
    if not int(spec.get("clip_norm") or 0):
        raise ClientError(f"job {job} has no clip_norm: the machine refuses a privacy declaration without a "
                          "bound on each update (submit a plain update, or ask the sponsor for a clip_norm)")
    if not record.get("model_cid"):
        raise ClientError(f"job {job} has no global model")
    return spec
COMMANDS = [update]
