"""Creating a job: the spec form (policy, metric, validation data (required), base model from the
catalogue, reward and token, the reward rule the policy allows (rounds: fixed, leave-one-out or
Shapley; best: winner takes all or top k) and a rounds job's clip norm, optional hidden test set for
best and threshold jobs with a salt shown once)."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, render_template, request, url_for

from dapp.domain.spec import MAX_PERMUTATIONS, MAX_TOP_K
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
    whole,
)
from mlmarket.console.modelform import catalogue_fields
from mlmarket.console.runtime import acting, reader, runtime, sent_once
from mlmarket.console.views.common import content_cid, deliver, hashed_file_cid, model_cid, store_bytes

bp = Blueprint("create", __name__)

AGGREGATIONS = (("fedavg", "FedAvg (mean weighted by samples)"), ("median", "coordinate-wise median"),
                ("trimmed_mean", "trimmed mean"))
"""The rounds policy's aggregation rules (``JobSpec.aggregation``; the machine reads "" as fedavg)."""
REWARD_RULES = (("", "threshold manual rounds", "fixed", "a fixed reward per accepted submission"),
                ("", "best", "winner takes all", "the best score takes the budget"),
                ("sequential", "rounds", "in commit order",
                 "each round's reward shared by what each update adds to those committed before it"),
                ("loo", "rounds", "leave-one-out", "each round's reward shared by how much each update adds"),
                ("shapley", "rounds", "Shapley", "each round's reward shared by Shapley values (sampled)"),
                ("top_k", "best", "top k", "the k best share the budget by score above a baseline"))
"""``JobSpec.reward`` values the form offers: (value, the policies it is for, name, what it does);
"" is the policy's own rule (docs/PROTOCOL.md §4.7)."""
REWARD_FIELDS = {"top_k": ("top_k", MAX_TOP_K), "shapley": ("permutations", MAX_PERMUTATIONS)}
"""The rules that need a count: its field and bound (1 to the bound)."""
_NAMES = {value: name for value, _, name, _ in REWARD_RULES if value}


def _page(errors: dict[str, str] | None = None, status: int = 200,
          problems: tuple[Any, ...] = ()) -> tuple[str, int]:
    return render_template("create.html", errors=errors or {}, problems=problems, form=request.form,
                           policies=POLICIES,
                           tasks=TASKS, metrics=METRICS, units=UNITS, catalogue=catalogue_fields(),
                           aggregations=AGGREGATIONS, reward_rules=REWARD_RULES,
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


def _reward(form: Any) -> dict[str, Any]:
    """The reward rule's keys (``reward``, ``top_k``, ``permutations``) and a rounds job's
    ``clip_norm``. A rule of another policy, or a value typed for a rule or policy that takes none,
    is the error of its field, never dropped silently."""
    policy, chosen = text(form, "policy"), text(form, "reward")
    rules = {value: name for value, policies, name, _ in REWARD_RULES if policy in policies.split()}
    if chosen not in rules:
        if chosen not in _NAMES:
            raise FormErrors({"reward": f"unknown reward rule {chosen!r}"})
        meant = " and ".join(p for v, p, _, _ in REWARD_RULES if v == chosen)
        raise FormErrors({"reward": f"{_NAMES[chosen]} is for {meant} jobs; a {policy} job takes "
                                    f"{' or '.join(rules.values())}"})
    values: dict[str, Any] = {"reward": chosen} if chosen else {}
    for rule, (field, most) in REWARD_FIELDS.items():
        if rule == chosen:
            values[field] = whole(form, field, lo=1, hi=most)
        elif text(form, field):
            raise FormErrors({field: f"only the reward rule {_NAMES[rule]} takes this: clear it or choose "
                                     f"that rule"})
    if text(form, "clip_norm"):
        if policy != "rounds":
            raise FormErrors({"clip_norm": "only rounds jobs bound their updates: clear this field or choose "
                                           "the rounds policy"})
        values["clip_norm"] = text(form, "clip_norm")
    return values


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
        values.update(_reward(form))
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
