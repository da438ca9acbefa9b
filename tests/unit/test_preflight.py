"""Pre-flight dry runs (inspect ``preflight/…``): every problem at once, nothing changed, and the
same verdict as the advance path."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dapp.codec.cid import cid_of, cid_to_text
from dapp.codec.commitment import submission_commitment
from dapp.ml.engine import Engine
from tests.support.market import CAROL, INPUTS, NOW, SPONSOR, Market, spec, spec_tuple
from tests.support.rollup import TOKEN, report_json

VALIDATION = b"a,b,target\n" + b"".join(f"{i},{i % 3},{i % 2}\n".encode() for i in range(20))
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(200))
TREE = {"estimator": "DecisionTreeClassifier", "params": {"max_depth": 2}}
SALT = b"\x07" * 32


def market() -> Market:
    return Market(engine=Engine(isolate=False))


def snapshot(m: Market) -> dict:
    return {name: dict(rows) for name, rows in m.app.state._tables.items()}


def job_query(payload: bytes, *, sender=SPONSOR, deposit: int = 0, files=()) -> str:
    query = f"preflight/job?sender={sender.hex}&now={NOW}&input=0x{payload.hex()}"
    if deposit:
        query += f"&deposit={deposit}&token={TOKEN.hex}"
    return query + "".join(f"&content=0x{f.hex()}" for f in files)


def dry_run(m: Market, query: str) -> dict:
    """The answer, checking that the dry run left the state as it was."""
    before = snapshot(m)
    answer = m.inspect(query)
    assert snapshot(m) == before
    assert answer["ok"] is True, answer
    return answer


def codes(answer: dict) -> list[str]:
    return [p["code"] for p in answer["problems"]]


def create_payload(budget: int = 1000, **overrides) -> bytes:
    return INPUTS.encode("createJob", TOKEN.raw, budget, spec_tuple(spec(**overrides)))


def test_a_bad_job_gets_every_problem_at_once_with_fixes_and_changes_nothing():
    m = market()
    payload = create_payload(10**18, label="y", reward_per_accept=0, reveal_window=600,
                             validation_cid=cid_of(VALIDATION))
    answer = dry_run(m, job_query(payload, files=[VALIDATION]))
    assert answer["accepted"] is False
    assert codes(answer) == ["bad_spec", "bad_spec", "dataset_missing_label", "insufficient_balance"]
    by_field = {p["field"]: p for p in answer["problems"] if p["field"]}
    assert set(by_field) == {"reward_per_accept", "reveal_window"}
    label = answer["problems"][2]["message"]
    assert "'y'" in label and "a, b, target" in label
    assert "needs 1000000000000000000" in answer["problems"][3]["message"]
    assert all(p["fix"] for p in answer["problems"])
    assert m.inspect("contents")["contents"] == []  # the inline file was not stored


def test_png_validation_data_is_named_and_the_deposit_would_stay_in_the_balance():
    m = market()
    payload = create_payload(validation_cid=cid_of(PNG))
    answer = dry_run(m, job_query(payload, deposit=1000, files=[PNG]))
    assert codes(answer) == ["dataset_not_utf8"]
    assert "not CSV (PNG header)" in answer["problems"][0]["message"]
    assert answer["deposit_kept"] == "1000"
    m.put(SPONSOR, PNG)
    real = m.deposit(TOKEN, SPONSOR, 1000, payload)  # the real input, once uploaded: the same verdict
    assert report_json(real, len(real.reports) - 1)["error"]["code"] == "dataset_not_utf8"


def test_missing_validation_content_is_named():
    m = market()
    answer = dry_run(m, job_query(create_payload(validation_cid=cid_of(VALIDATION)), deposit=1000))
    assert codes(answer) == ["content_missing"]
    assert cid_to_text(cid_of(VALIDATION)) in answer["problems"][0]["message"]


def test_a_valid_job_passes_and_then_the_real_input_is_accepted():
    m = market()
    validation = m.put(SPONSOR, VALIDATION)
    payload = create_payload(validation_cid=validation)
    answer = dry_run(m, job_query(payload, deposit=1000))
    assert answer["accepted"] is True and answer["problems"] == []
    assert answer["deposit_kept"] == "0"
    done = m.deposit(TOKEN, SPONSOR, 1000, payload)
    assert done.accepted and m.inspect("jobs")["total"] == 1
    assert m.inspect(f"balances/{SPONSOR.hex}")["balances"] == {}


def submission_query(job: int, model: bytes, data: bytes = b"", *, sender=CAROL, deposit: int = 0,
                     files=(), extra: str = "") -> str:
    mc, dc = cid_of(model) if model else b"", cid_of(data) if data else b""
    commit = INPUTS.encode("commitSubmission", job, submission_commitment(sender.hex, job, mc, dc, SALT))
    reveal = INPUTS.encode("revealSubmission", job, mc, dc, SALT)
    query = (f"preflight/submission?sender={sender.hex}&now={NOW}&input=0x{commit.hex()}"
             f"&reveal=0x{reveal.hex()}")
    if deposit:
        query += f"&deposit={deposit}&token={TOKEN.hex}"
    return query + "".join(f"&content=0x{f.hex()}" for f in files) + extra


def test_a_submission_lists_the_stake_it_needs_and_bad_parameters_together():
    m = market()
    job = m.create_job(1000, validation_cid=m.put(SPONSOR, VALIDATION), stake=2 * 10**18)
    model = json.dumps({"estimator": "DecisionTreeClassifier", "params": {"random_state": 1}}).encode()
    answer = dry_run(m, submission_query(job, model, VALIDATION, files=[model, VALIDATION]))
    assert codes(answer) == ["insufficient_balance", "param_not_allowed", "param_required"]
    assert "needs 2000000000000000000" in answer["problems"][0]["message"]
    assert "--stake" in answer["problems"][0]["fix"]
    assert "random_state" in answer["problems"][1]["message"]
    assert "max_depth" in answer["problems"][2]["message"]
    assert answer["stake"] == str(2 * 10**18) and answer["balance"] == "0"


def test_max_depth_is_required_and_no_model_or_data_is_refused():
    m = market()
    job = m.create_job(1000, validation_cid=m.put(SPONSOR, VALIDATION))
    forest = json.dumps({"estimator": "RandomForestClassifier", "params": {}}).encode()
    query = f"preflight/model?job={job}&model={cid_to_text(cid_of(forest))}&content=0x{forest.hex()}"
    answer = dry_run(m, query)
    assert codes(answer) == ["param_required"] and "max_depth" in answer["problems"][0]["message"]
    answer = dry_run(m, f"preflight/model?job={job}&data={cid_to_text(cid_of(VALIDATION))}")
    assert codes(answer) == ["bad_submission"]


def test_a_closed_job_and_a_missing_file_are_listed_together():
    m = market()
    job = m.create_job(1000, validation_cid=m.put(SPONSOR, VALIDATION))
    assert m.call(SPONSOR, "cancelJob", job).accepted
    model = json.dumps(TREE).encode()
    answer = dry_run(m, submission_query(job, model, VALIDATION))
    assert codes(answer) == ["job_closed", "content_missing"]  # the data is the stored validation set
    assert cid_to_text(cid_of(model)) in answer["problems"][1]["message"]


def test_pending_files_are_not_checked_but_the_rest_is():
    m = market()
    job = m.create_job(1000, validation_cid=m.put(SPONSOR, VALIDATION))
    model = json.dumps(TREE).encode()
    pending = f"&pending={cid_to_text(cid_of(VALIDATION))}"
    answer = dry_run(m, submission_query(job, model, VALIDATION, files=[model], extra=pending))
    assert answer["accepted"] is True and answer["unchecked"] == [cid_to_text(cid_of(VALIDATION))]


def test_a_valid_submission_with_its_stake_deposit_passes_and_then_the_real_inputs_are_accepted():
    m = market()
    job = m.create_job(1000, validation_cid=m.put(SPONSOR, VALIDATION), stake=30)
    model = json.dumps(TREE).encode()
    answer = dry_run(m, submission_query(job, model, VALIDATION, deposit=30, files=[model]))
    assert answer["accepted"] is True, answer
    assert answer["estimated_cycles"] > 0
    scored = dry_run(m, submission_query(job, model, VALIDATION, deposit=30, files=[model], extra="&score=1"))
    assert scored["accepted"] is True and 0 <= scored["score_millionths"] <= 1_000_000
    mc = m.put(CAROL, model)
    commitment = submission_commitment(CAROL.hex, job, mc, cid_of(VALIDATION), SALT)
    assert m.deposit(TOKEN, CAROL, 30, INPUTS.encode("commitSubmission", job, commitment)).accepted
    revealed = m.reveal(CAROL, job, mc, cid_of(VALIDATION), SALT)
    assert revealed.accepted
    sub = m.inspect(f"jobs/{job}/submissions")["submissions"][0]
    assert (sub["score"], sub["score_millionths"]) == (scored["score"], scored["score_millionths"])


def test_a_stake_that_would_be_slashed_is_a_problem():
    m = market()
    job = m.create_job(1000, validation_cid=m.put(SPONSOR, VALIDATION), stake=30)
    untrained = json.dumps(TREE).encode()  # an untrained spec without data cannot be scored
    answer = dry_run(m, submission_query(job, untrained, deposit=30, files=[untrained], extra="&score=1"))
    assert codes(answer) == ["stake_slashed"] and "model_not_trained" not in answer["problems"][0]["code"]


@pytest.mark.parametrize("query, fragment", [
    ("preflight/job", "sender"),
    ("preflight/nothing", "usage"),
    (f"preflight/job?sender={SPONSOR.hex}&now=1&input=0x{INPUTS.encode('settleJob', 1).hex()}", "createJob"),
    ("preflight/job?sender=0x12&now=1&input=0x", "address"),
])
def test_malformed_preflight_queries_are_error_reports(query, fragment):
    answer = market().inspect(query)
    assert answer["ok"] is False and answer["error"]["code"] == "bad_query"
    assert fragment in answer["error"]["message"]


JOB_FIELDS = st.fixed_dictionaries({}, optional={
    "policy": st.sampled_from(["threshold", "manual", "best", "rounds", "lottery"]),
    "task": st.sampled_from(["classification", "regression", "ranking"]),
    "label": st.sampled_from(["target", "y", ""]),
    "reward_per_accept": st.sampled_from([0, 100, 5000]),
    "reveal_window": st.sampled_from([0, 600]),
    "deadline": st.sampled_from([NOW - 1, NOW + 1000]),
    "min_gain": st.sampled_from([0, -1, 5]),
    "accept_by_default": st.booleans(),
    "max_submissions": st.sampled_from([0, 101]),
})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(overrides=JOB_FIELDS, budget=st.sampled_from([1000, 3000]), deposit=st.sampled_from([0, 1000]))
def test_the_preflight_agrees_with_the_advance_path(overrides, budget, deposit):
    m = market()
    m.deposit(TOKEN, SPONSOR, 2000)
    payload = create_payload(budget, validation_cid=m.put(SPONSOR, VALIDATION), **overrides)
    answer = dry_run(m, job_query(payload, deposit=deposit))
    done = m.deposit(TOKEN, SPONSOR, deposit, payload) if deposit else m.send(SPONSOR, payload)
    errors = [r for r in (json.loads(x) for x in done.reports) if r.get("ok") is False]
    assert answer["accepted"] == (done.accepted and not errors)
    if errors:
        assert errors[-1]["error"]["code"] in codes(answer)
        assert any(errors[-1]["error"]["message"] in p["message"] for p in answer["problems"])


MODELS = st.fixed_dictionaries({
    "estimator": st.sampled_from(["DecisionTreeClassifier", "LinearRegression", "GaussianNB"]),
    "params": st.fixed_dictionaries({}, optional={"max_depth": st.sampled_from([2, 0]),
                                                  "random_state": st.just(1)}),
})


@settings(max_examples=40, deadline=None)
@given(model=MODELS, stake=st.sampled_from([0, 30]), deposit=st.sampled_from([0, 30]),
       with_data=st.booleans(), closed=st.booleans())
def test_the_submission_preflight_agrees_with_the_commit_and_reveal(model, stake, deposit, with_data, closed):
    m = market()
    job = m.create_job(1000, validation_cid=m.put(SPONSOR, VALIDATION), stake=stake)
    if closed:
        m.call(SPONSOR, "cancelJob", job)
    model_bytes = json.dumps(model).encode()
    data = VALIDATION if with_data else b""
    answer = dry_run(m, submission_query(job, model_bytes, data, deposit=deposit, files=[model_bytes],
                                         extra="&score=1"))
    mc, dc = m.put(CAROL, model_bytes), cid_of(data) if data else b""
    commit = INPUTS.encode("commitSubmission", job, submission_commitment(CAROL.hex, job, mc, dc, SALT))
    committed = m.deposit(TOKEN, CAROL, deposit, commit) if deposit else m.send(CAROL, commit)
    failed = [r for r in (json.loads(x) for x in committed.reports) if r.get("ok") is False]
    if committed.accepted and not failed:
        revealed = m.reveal(CAROL, job, mc, dc, SALT)
        failed = [r for r in (json.loads(x) for x in revealed.reports) if r.get("ok") is False]
        subs = m.inspect(f"jobs/{job}/submissions")["submissions"]
        slashed = subs[0]["status"] == "invalid"
        real_ok = revealed.accepted and not failed and not slashed
    else:
        real_ok = False
    assert answer["accepted"] == real_ok, answer
    if failed:
        assert failed[-1]["error"]["code"] in codes(answer)


def test_every_broken_parameter_rule_of_a_model_is_listed():
    m = market()
    job = m.create_job(1000, validation_cid=m.put(SPONSOR, VALIDATION))
    model = json.dumps({"estimator": "RandomForestClassifier",
                        "params": {"random_state": 1, "n_jobs": 2, "n_estimators": 0}}).encode()
    answer = dry_run(m, f"preflight/model?job={job}&model={cid_to_text(cid_of(model))}&content=0x{model.hex()}")
    assert codes(answer) == ["param_not_allowed", "param_not_allowed", "param_out_of_bounds", "param_required"]
    messages = " ".join(p["message"] for p in answer["problems"])
    assert all(word in messages for word in ("random_state", "n_jobs", "n_estimators", "max_depth"))


SPEC_OBJECTS = st.fixed_dictionaries({"estimator": st.sampled_from(["DecisionTreeClassifier", "GaussianNB",
                                                                    "LogisticRegression", "Nope"])},
                                     optional={"params": st.dictionaries(
                                         st.sampled_from(["max_depth", "random_state", "C", "penalty", "dual",
                                                          "solver", "var_smoothing"]),
                                         st.sampled_from([0, 1, 3, -1.5, "l1", "liblinear", True, None]), max_size=4),
                                         "preprocessing": st.sampled_from([[], ["standard_scaler"], ["pca"]])})


@settings(max_examples=200, deadline=None)
@given(obj=SPEC_OBJECTS)
def test_spec_problems_lists_first_what_parse_spec_raises(obj):
    from dapp.ml.errors import ModelError
    from dapp.ml.spec import parse_spec, spec_problems

    found = spec_problems(obj)
    try:
        parse_spec(obj)
    except ModelError as exc:
        assert found and (found[0].code, found[0].message) == (exc.code, exc.message)
    else:
        assert found == []


def test_a_dry_run_needs_the_time_and_a_protocol_call():
    m = market()
    payload = create_payload(validation_cid=cid_of(VALIDATION))
    no_time = m.inspect(f"preflight/job?sender={SPONSOR.hex}&input=0x{payload.hex()}")
    assert no_time["ok"] is False and no_time["error"]["code"] == "bad_query" and "now" in no_time["error"]["message"]
    garbage = m.inspect(f"preflight/job?sender={SPONSOR.hex}&now={NOW}&input=0xdeadbeef")
    assert garbage["ok"] is False and garbage["error"]["code"] == "unknown_selector"
