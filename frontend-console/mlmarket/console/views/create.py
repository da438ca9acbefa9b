"""Creating a job: the spec form (policy, metric, validation data (required), base model from the
catalogue, reward and token, optional hidden test set for best and threshold jobs with a salt shown
once)."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, render_template, request, url_for

from mlmarket.client import actions
from mlmarket.client.errors import ClientError
from mlmarket.client.jobspec import hidden_test_commitment, parse_cid
from mlmarket.console import checks
from mlmarket.console.forms import (
    HIDDEN_TEST_POLICIES,
    METRICS,
    POLICIES,
    TASKS,
    UNITS,
    FormErrors,
    amount,
    checked,
    spec_fields,
    text,
    to_spec,
    token_choice,
    validation_field,
)
from mlmarket.console.modelform import catalogue_fields
from mlmarket.console.runtime import acting, reader, runtime, sent_once
from mlmarket.console.views.common import content_cid, deliver, hashed_file_cid, model_cid, store_bytes

bp = Blueprint("create", __name__)

AGGREGATIONS = (("fedavg", "FedAvg (mean weighted by samples)"), ("median", "coordinate-wise median"),
                ("trimmed_mean", "trimmed mean"))
"""The rounds policy's aggregation rules (``JobSpec.aggregation``; the machine reads "" as fedavg)."""


def _page(errors: dict[str, str] | None = None, status: int = 200,
          problems: tuple[Any, ...] = ()) -> tuple[str, int]:
    return render_template("create.html", errors=errors or {}, problems=problems, form=request.form,
                           policies=POLICIES,
                           tasks=TASKS, metrics=METRICS, units=UNITS, catalogue=catalogue_fields(),
                           aggregations=AGGREGATIONS,
                           test_token=runtime().tokens.test_token()), status


@bp.get("/jobs/new")
def new() -> Any:
    """The create-job form."""
    return _page()


def _aggregation(form: Any) -> dict[str, str]:
    """The ``aggregation`` key of a rounds job (nothing for the other policies)."""
    if text(form, "policy") != "rounds":
        return {}
    chosen = text(form, "aggregation") or "fedavg"
    if chosen not in dict(AGGREGATIONS):
        raise FormErrors({"aggregation": f"choose one of {', '.join(dict(AGGREGATIONS))}"})
    return {"aggregation": chosen}


def _commitment(form: Any) -> tuple[str | None, dict[str, str] | None]:
    """A fresh salt and the commitment of the hidden test set, if one is asked for."""
    if text(form, "policy") not in HIDDEN_TEST_POLICIES or not checked(form, "hidden_test"):
        return None, None
    test_cid = hashed_file_cid(form, "test_cid")
    if not test_cid:
        raise FormErrors({"test_cid": "choose the hidden test CSV (it is hashed here, not uploaded) or paste "
                                      "its CID"})
    salt = secrets.token_bytes(32)
    commitment = "0x" + hidden_test_commitment(parse_cid(test_cid, "test_cid"), salt).hex()
    return commitment, {"test_cid": test_cid, "salt": "0x" + salt.hex(), "test_commitment": commitment}


@bp.post("/jobs/new")
@sent_once
def create() -> Any:
    """Validates the form, uploads what the no-JavaScript fallback attached, and sends ``createJob``
    with the budget deposited (or escrowed from the balance). A missing validation set is a form
    error before anything is sent."""
    form = request.form
    try:
        _, market = acting()
        later: list[tuple[bytes, str]] = []  # files chosen without JavaScript: uploaded after the pre-flight
        token = token_choice(form, runtime().tokens.test_token())
        decimals = runtime().tokens.decimals(token)
        budget = amount(form, "budget", decimals)
        commitment, secret = _commitment(form)
        validation = validation_field(content_cid(form, "validation_cid", later=later))
        base_model = ""
        if text(form, "base_source") not in ("", "none"):
            base_model = model_cid(form, "base_", "base_model_cid", required=True, later=later)
        values = spec_fields(form, validation_cid=validation, base_model_cid=base_model, test_commitment=commitment)
        values.update(_aggregation(form))
        spec = to_spec(values, now=reader().now, decimals=decimals)
        req = actions.create_job(spec, token, budget, from_balance=checked(form, "from_balance"))
        # before any upload, deposit or transaction:
        checks.job(market, req, runtime().tokens.units(), token, [data for data, _ in later])
        for data, name in later:
            store_bytes(data, name)
        return deliver(req, title="Create a job", back=url_for("jobs.list_jobs"), secret=secret)
    except FormErrors as exc:
        return _page(exc.errors, 400)
    except checks.Refused as exc:
        return _page(checks.field_errors(exc.problems), 400, exc.problems)
    except ClientError as exc:
        return _page({"": exc.message}, 400)
