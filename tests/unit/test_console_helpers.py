"""The console's pure helpers: the score chart's geometry, the model builder, form parsing, display."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mlmarket.console.chart import score_chart
from mlmarket.console.forms import FormErrors, deadline, spec_fields, token_choice
from mlmarket.console.modelform import ModelFormError, catalogue_fields, model_from_form, param_value
from mlmarket.client.units import TokenInfo, Units, short_address
from mlmarket.console.present import notice_summary, voucher_summary
from mlmarket.console.sending import wallet_tx

from dapp.ml.catalogue import CATALOGUE
from dapp.ml.spec import parse_spec


def sub(i: int, score: float, status: str = "scored", round_: int = 0) -> dict:
    return {"id": i, "score": score, "status": status, "round": round_}


@given(st.lists(st.integers(min_value=0, max_value=1_000_000), min_size=1, max_size=30))
def test_chart_points_keep_the_order_of_submissions_and_scores(millionths: list[int]) -> None:
    chart = score_chart([sub(i + 1, m / 1e6) for i, m in enumerate(millionths)], [], "accuracy")
    xs = [p.x for p in chart.points]
    assert xs == sorted(xs) and len(set(xs)) == len(xs)
    for a in chart.points:
        for b in chart.points:
            if a.value > b.value:
                assert a.y <= b.y  # higher scores are never drawn lower (pixels are rounded to 0.1)
        assert chart.top <= a.y <= chart.height - chart.bottom and chart.left <= a.x <= chart.width - chart.right


def path_ys(path: str) -> list[float]:
    return [float(step.split(",")[1]) for step in path.split()]


@pytest.mark.parametrize("metric, best", [("accuracy", 0.9), ("rmse", 0.2)])
def test_the_best_line_ends_at_the_best_score_for_the_metric(metric: str, best: float) -> None:
    chart = score_chart([sub(1, 0.5), sub(2, 0.9), sub(3, 0.2), sub(4, 0.6)], [], metric)
    best_point = next(p for p in chart.points if p.value == best)
    assert path_ys(chart.best_path)[-1] == best_point.y


def test_rounds_are_marked_and_published_models_sit_on_the_submission_before_them() -> None:
    history = [{"type": "SubmissionReceived", "submission_id": 1}, {"type": "SubmissionReceived", "submission_id": 2},
               {"type": "ModelPublished", "score": 800000, "round": 0}, {"type": "SubmissionReceived", "submission_id": 3}]
    chart = score_chart([sub(1, 0.7, "accepted", 0), sub(2, 0.75, "accepted", 0), sub(3, 0.8, "scored", 1)],
                        history, "accuracy")
    (mark,) = chart.round_marks
    assert mark[1] == "round 1" and chart.points[1].x < mark[0] < chart.points[2].x
    (model,) = chart.published
    assert model.x == chart.points[1].x and model.value == 0.8


def test_a_published_model_sits_on_the_accepted_submission_and_the_axis_ends_at_the_last_one() -> None:
    history = [{"type": "SubmissionReceived", "submission_id": 1}, {"type": "SubmissionScored", "submission_id": 1,
                                                                    "accepted": True},
               {"type": "SubmissionReceived", "submission_id": 2}, {"type": "SubmissionReceived", "submission_id": 3},
               {"type": "SubmissionScored", "submission_id": 3, "accepted": True},
               {"type": "ModelPublished", "score": 910000, "round": 0}]
    chart = score_chart([sub(1, 0.8, "accepted"), sub(2, 0.5, "rejected"), sub(3, 0.91, "accepted")], history,
                        "accuracy")
    (model,) = chart.published
    assert model.x == chart.points[2].x
    assert [label for _, label in chart.x_ticks] == ["1", "2", "3"]
    assert chart.x_ticks[-1][0] == chart.points[2].x < chart.width - chart.right


def test_invalid_and_unscored_submissions_are_not_drawn() -> None:
    chart = score_chart([sub(1, 0.0, "invalid"), {"id": 2, "score": None, "status": "stored"}], [], "accuracy")
    assert chart.empty


def test_the_builder_offers_every_catalogue_parameter_with_its_bounds() -> None:
    fields = {e.name: e for e in catalogue_fields()}
    assert set(fields) == set(CATALOGUE)
    for name, definition in CATALOGUE.items():
        assert {p.name for p in fields[name].params} == set(definition.params)
        for p in fields[name].params:
            assert p.hint == definition.params[p.name].describe()


@pytest.mark.parametrize("text, value", [("3", 3), ("0.5", 0.5), ("null", None), ("true", True), ("lbfgs", "lbfgs"),
                                         ("64, 32", [64, 32]), ("[8]", [8]), ('"balanced"', "balanced")])
def test_parameter_texts_become_json_values(text: str, value: object) -> None:
    from dapp.ml.params import Layers

    assert param_value(text, Layers(3, 256)) == value


def test_a_built_model_is_what_the_engine_accepts() -> None:
    form = {"estimator": "RandomForestClassifier", "p.RandomForestClassifier.max_depth": "4",
            "p.RandomForestClassifier.n_estimators": "20", "p.RandomForestClassifier.max_features": "sqrt",
            "p.LogisticRegression.C": "ignored: another estimator"}
    spec = json.loads(model_from_form(form))
    assert spec == {"estimator": "RandomForestClassifier",
                    "params": {"max_depth": 4, "n_estimators": 20, "max_features": "sqrt"}}
    assert parse_spec(spec).param_dict()["max_depth"] == 4


def test_a_builder_error_names_the_field() -> None:
    with pytest.raises(ModelFormError) as caught:
        model_from_form({"estimator": "RandomForestClassifier", "p.RandomForestClassifier.n_estimators": "500"})
    assert caught.value.field == "p.RandomForestClassifier.n_estimators" and "[1, 200]" in str(caught.value)
    with pytest.raises(ModelFormError) as unknown:
        model_from_form({"estimator": "SVC"})
    assert unknown.value.field == "estimator"


def base_form(**extra: str) -> dict[str, str]:
    return {"policy": "threshold", "task": "classification", "metric": "accuracy", "label": "y", "duration": "3",
            "duration_unit": "days", **extra}


def test_fields_of_other_policies_are_left_out_of_the_spec() -> None:
    values = spec_fields(base_form(rounds="3", tolerance="0.1", reveal_window="60", min_gain="0.01",
                                   reward_per_accept="5"), validation_cid="", base_model_cid="", test_commitment=None)
    assert values["deadline"] == f"+{3 * 86400}" and values["min_gain"] == "0.01" and values["reward_per_accept"] == "5"
    assert not {"rounds", "tolerance"} & set(values)
    assert values["reveal_window"] == 60  # shown for threshold jobs: without a hidden test set the pre-flight refuses it
    manual = spec_fields(base_form(policy="manual", reveal_window="60"), validation_cid="", base_model_cid="",
                         test_commitment=None)
    assert "reveal_window" not in manual  # not a field of manual jobs: left out


@pytest.mark.parametrize("form, field", [({"duration": "400", "duration_unit": "days"}, "duration"),
                                         ({"duration_unit": "weeks"}, "duration_unit"),
                                         ({"policy": "lottery"}, "policy")])
def test_bad_fields_raise_form_errors_naming_them(form: dict[str, str], field: str) -> None:
    with pytest.raises(FormErrors) as caught:
        values = base_form(**form)
        deadline(values)
        spec_fields(values, validation_cid="", base_model_cid="", test_commitment=None)
    assert field in caught.value.errors


def test_token_choice() -> None:
    test = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    assert token_choice({"token": "eth"}, test) == "0x" + "00" * 20
    assert token_choice({}, test) == test
    assert token_choice({"token": "custom", "token_address": test.lower()}, None) == test
    with pytest.raises(FormErrors):
        token_choice({"token": "test"}, None)


class JobsMarket:
    """Answers ``jobs/<id>`` with the job's metric, as inspect does; no chain (token facts are given)."""

    def query(self, path: str) -> dict:
        return {"ok": True, "job": {"id": int(path.split("/")[1]), "metric": "f1"}}


def test_notice_and_voucher_summaries_use_the_units_of_the_cli() -> None:
    token = "0x" + "7e" * 20
    units = Units(JobsMarket(), tokens={token: TokenInfo("TEST", 18)})
    assert short_address("0x" + "ab" * 20) == "0xabab…abab"
    assert notice_summary("SubmissionScored", {"jobId": 2, "submissionId": 5, "score": 912500, "accepted": True},
                          units) == "job 2: submission 5 scored f1 0.912500 (accepted)"
    assert notice_summary("RewardPaid", {"job_id": 1, "submission_id": 1, "amount": "10000000000000000000",
                                         "contributor": "0x" + "c0" * 20, "token": token}, units) \
        == "job 1: submission 1 paid 10 TEST to 0xc0c0…c0c0"
    assert voucher_summary({"function": "ether", "amount": 15 * 10**17, "to": "0x" + "c0" * 20}, 0, units) \
        == "pays 1.5 ETH to 0xc0c0…c0c0"


def test_messages_name_amounts_in_the_token_they_are_about() -> None:
    token = "0x" + "7e" * 20
    units = Units(JobsMarket(), tokens={token: TokenInfo("TEST", 18)})
    spec = f"reward_per_accept must be positive and at most the budget ({20 * 10**18}); it is 0"
    assert units.humanize(spec, token) == "reward_per_accept must be positive and at most the budget (20 TEST); it is 0 TEST"
    assert units.humanize(spec) == spec  # no token: bare amounts stay as they are
    short = f"insufficient balance: 0x{'c0' * 20} has 0 of {token}, needs {2 * 10**18}"
    assert units.humanize(short).endswith("has 0 TEST, needs 2 TEST")
    assert units.humanize(f"the stake of {5 * 10**17} would be slashed: bad model", token) \
        == "the stake of 0.5 TEST would be slashed: bad model"


def test_wallet_transactions_use_hex_quantities() -> None:
    tx = wallet_tx({"from": "0xA", "to": "0xB", "data": "0x12", "value": 10**18, "gas": 21000, "nonce": 3,
                    "chainId": 31337, "maxFeePerGas": 5})
    assert tx == {"from": "0xA", "to": "0xB", "data": "0x12", "value": hex(10**18), "gas": hex(21000)}
