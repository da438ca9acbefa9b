"""Contribution rewards and private updates in the console (issue 16): the job page of a job with a
reward rule shows the rule in words, the clip norm, each submission's measured contribution and pay
in inspect's order, and declared privacy; the create form turns the chosen rule into the JobSpec
the machine checks, and refuses a rule of another policy with the field named and nothing sent.

Inspect answers are built with the machine's own views (``dapp.domain.job_views``), so the page
reads what the backend gives; createJob payloads are decoded with the protocol ABI."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from dapp.codec import abi
from dapp.codec.cid import cid_of, cid_to_text
from dapp.domain import spec as rules
from dapp.domain.commands import JobSpec
from dapp.domain.history import jsonable
from dapp.domain.job_views import leaderboard, submission_view
from dapp.domain.limits import Limits
from dapp.domain.records import SUBMISSIONS, Job, Submission
from dapp.domain.store import State
from dapp.domain.values import Address
from tests.unit.test_console_actions import VALID_CSV, job_form
from tests.unit.test_console_fake import TOKEN, World, csrf, make_client, populated_world

TEST = 10**18
SPEC = JobSpec(title="fed", policy="rounds", task="classification", label="label", metric="accuracy",
               validation_cid=cid_of(VALID_CSV), base_model_cid=cid_of(b"{}"), min_score=0, min_gain=0,
               reward_per_accept=10 * TEST, deadline=1_800_086_400, accept_by_default=False,
               test_commitment=bytes(32), reveal_window=0, rounds=3, round_quota=4, round_duration=3600,
               tolerance=0, stake=0, max_submissions=0, gated=False, reward="loo", clip_norm=2_500_000)
SUBMITTED = [  # (score, contribution, paid in TEST, round, (epsilon, delta) declared)
    (900_000, 12_000, 6, 1, (1_500_000, 10_000_000)),
    (930_000, -4_000, 0, 1, None),
    (910_000, 8_000, 4, 1, None),
    (950_000, None, 0, 2, None),
]


def machine_views(spec: JobSpec = SPEC) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """Job 1 with ``spec`` and the submissions above as the machine's views give them: the spec
    (``jsonable``), the submissions (``submission_view``) and the leaderboard (``leaderboard``,
    in the machine's order)."""
    state = State()
    job = Job(id=1, sponsor=Address(b"\x5a" * 20), token=Address.from_hex(TOKEN), spec=spec,
              created_at=1_800_000_000, submissions=len(SUBMITTED), round=2)
    records = []
    with state.transaction() as tx:
        for n, (score, contribution, paid, round_, privacy) in enumerate(SUBMITTED, start=1):
            epsilon, delta = privacy or (0, 0)
            record = Submission(job_id=1, id=n, contributor=Address(bytes([n]) * 20), model_cid=cid_of(b"m%d" % n),
                                data_cid=b"", created_at=1_800_000_000 + n, status="accepted", score=score,
                                reward=paid * TEST, round=round_, contribution=contribution, epsilon=epsilon,
                                delta=delta)
            tx.put(SUBMISSIONS, (1, n), record)
            records.append(record)
    return (jsonable("spec", spec), [submission_view(s) for s in records],
            [submission_view(s) for s in leaderboard(state, job)])


def contribution_world(spec: JobSpec = SPEC) -> tuple[World, list[dict[str, Any]]]:
    """``populated_world`` whose job 1 has ``spec`` and the submissions above, answered as the
    machine's views answer; also the leaderboard."""
    shown_spec, submissions, board = machine_views(spec)
    world = populated_world()
    view = {**world.answers["jobs/1"]["job"], "policy": spec.policy, "metric": spec.metric, "round": 2,
            "spec": shown_spec}
    world.answers.update({"jobs/1": {"ok": True, "job": view, "submissions": submissions},
                          "jobs/1/leaderboard": {"ok": True, "leaderboard": board},
                          "jobs/1/history": {"ok": True, "history": []}})
    return world, board


def leaderboard_rows(html: str) -> list[list[str]]:
    """The cells of each row of the leaderboard table, tags stripped."""
    table = html[html.index("data-leaderboard"):]
    body = table[table.index("<tbody>"):table.index("</tbody>")]
    return [[re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
            for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def header(html: str) -> list[str]:
    table = html[html.index("data-leaderboard"):]
    return re.findall(r"<th>(.*?)</th>", table[:table.index("</thead>")])


def signed(millionths: int) -> str:
    """A contribution as the page should write it in a column naming the metric: ``+0.012000``."""
    return f"{'+' if millionths > 0 else '-'}{abs(millionths) / 10**6:.6f}"


def test_a_leave_one_out_job_shows_contributions_and_pay_in_the_order_inspect_gives(tmp_path: Path) -> None:
    world, board = contribution_world()
    html = make_client(world, tmp_path)[1].get("/jobs/1").get_data(as_text=True)
    order = [row["id"] for row in board]
    assert order != sorted(order, key=lambda i: -SUBMITTED[i - 1][0])  # contribution order, not score order
    columns = header(html)
    rows = leaderboard_rows(html)
    assert [int(row[columns.index("submission")]) for row in rows] == order
    for row, sub in zip(rows, board, strict=True):
        score, contribution, paid, round_, privacy = SUBMITTED[sub["id"] - 1]
        assert row[columns.index("contribution (accuracy)")] == (signed(contribution) if contribution is not None
                                                                  else "-")
        assert row[columns.index("paid")] == f"{paid} TEST"
        assert row[columns.index("round")] == str(round_)
        assert row[columns.index("privacy")] == ("ε=1.5, δ=1e-5" if privacy else "")
    assert "leave-one-out share of each round&#39;s 10 TEST" in html
    assert re.search(r"<dt>clip norm</dt><dd data-clip-norm>2\.5 ", html)
    assert "<dt>reward per accepted</dt>" not in html  # the rule names the round's pool
    assert str(10 * TEST) not in html and re.search(r"(?<![\d.])(12000|2500000)\b", html) is None  # raw units


def test_a_shapley_job_names_its_permutations(tmp_path: Path) -> None:
    world, _ = contribution_world(replace(SPEC, reward="shapley", permutations=50, clip_norm=0))
    html = make_client(world, tmp_path)[1].get("/jobs/1").get_data(as_text=True)
    assert "Shapley, 50 permutations: a share of each round&#39;s 10 TEST" in html
    assert "data-clip-norm" not in html  # 0: the machine's default bound


def test_a_top_k_job_names_k_and_has_no_round_column(tmp_path: Path) -> None:
    best = replace(SPEC, policy="best", reward="top_k", top_k=3, reward_per_accept=0, rounds=0, round_quota=0,
                   round_duration=0, clip_norm=0)
    world, board = contribution_world(best)
    html = make_client(world, tmp_path)[1].get("/jobs/1").get_data(as_text=True)
    assert "top 3 by score above baseline" in html
    columns = header(html)
    assert "round" not in columns and "contribution (accuracy)" in columns
    assert [int(r[columns.index("submission")]) for r in leaderboard_rows(html)] == [row["id"] for row in board]


def test_a_job_without_a_reward_rule_keeps_its_leaderboard(tmp_path: Path) -> None:
    html = make_client(populated_world(), tmp_path)[1].get("/jobs/1").get_data(as_text=True)
    assert not any(c.startswith("contribution") for c in header(html)) and "privacy" not in header(html)
    assert "data-reward-rule" not in html and "<dt>reward per accepted</dt><dd>10 TEST</dd>" in html


ROUNDS = {"policy": "rounds", "rounds": "2", "round_quota": "4", "round_duration": "600", "base_source": "cid",
          "base_model_cid": cid_to_text(cid_of(b"{}"))}
BEST = {"policy": "best", "reward_per_accept": ""}


def sent_spec(world: World) -> JobSpec:
    """The JobSpec of the one createJob sent, decoded with the protocol ABI."""
    (_, request), = world.sent
    function, (_, _, spec) = abi.inputs().decode(request.payload)
    assert function.name == "createJob"
    return JobSpec(*spec)


@pytest.mark.parametrize("fields, expected", [
    ({**ROUNDS, "reward": "loo"}, ("loo", 0, 0, 0)),
    ({**ROUNDS, "reward": "shapley", "permutations": "50", "clip_norm": "2.5"}, ("shapley", 0, 50, 2_500_000)),
    ({**ROUNDS, "reward": ""}, ("", 0, 0, 0)),
    ({**BEST, "reward": "top_k", "top_k": "3"}, ("top_k", 3, 0, 0)),
    ({**BEST, "reward": ""}, ("", 0, 0, 0)),
    ({"reward": ""}, ("", 0, 0, 0)),  # threshold: the policy's own rule
])
def test_the_chosen_reward_rule_reaches_the_job_spec(tmp_path: Path, fields: dict[str, str],
                                                     expected: tuple[Any, ...]) -> None:
    world = populated_world()
    _, client = make_client(world, tmp_path)
    response = client.post("/jobs/new", data=job_form(csrf(client), **fields), follow_redirects=True)
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    spec = sent_spec(world)
    assert (spec.reward, spec.top_k, spec.permutations, spec.clip_norm) == expected
    budget = 30 * TEST
    assert rules.problems(spec, budget, world.now, Limits()) == []  # the machine's rules accept it


@pytest.mark.parametrize("fields, field, words", [
    ({**BEST, "reward": "loo"}, "reward", "leave-one-out is for rounds jobs; a best job takes winner takes all or top k"),
    ({"reward": "shapley", "permutations": "50"}, "reward", "a threshold job takes fixed"),
    ({**ROUNDS, "reward": "top_k", "top_k": "3"}, "reward", "top k is for best jobs"),
    ({**ROUNDS, "reward": "median"}, "reward", "unknown reward rule"),
    ({**ROUNDS, "reward": "shapley"}, "permutations", "required"),
    ({**ROUNDS, "reward": "shapley", "permutations": "1001"}, "permutations", "from 1 to 1000"),
    ({**BEST, "reward": "top_k", "top_k": "0"}, "top_k", "from 1 to 100"),
    ({**ROUNDS, "reward": "loo", "permutations": "50"}, "permutations", "only the reward rule Shapley takes this"),
    ({**BEST, "reward": "", "top_k": "3"}, "top_k", "only the reward rule top k takes this"),
    ({"clip_norm": "2.5"}, "clip_norm", "only rounds jobs bound their updates"),
    ({**ROUNDS, "clip_norm": "far"}, "clip_norm", ""),
])
def test_a_wrong_reward_combination_is_refused_at_its_field_and_nothing_is_sent(
        tmp_path: Path, fields: dict[str, str], field: str, words: str) -> None:
    world = populated_world()
    _, client = make_client(world, tmp_path)
    response = client.post("/jobs/new", data=job_form(csrf(client), **fields))
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    error = re.search(rf'data-error-for="{field}">(.*?)</span>', html)
    assert error is not None, html[:3000]
    assert words in error.group(1).replace("&#39;", "'")
    assert world.sent == [] and world.preflights == []


def test_a_machine_problem_with_a_reward_field_is_shown_next_to_it(tmp_path: Path) -> None:
    world = populated_world()
    world.preflight_problems[:] = [{"code": "bad_spec", "field": "round_quota", "fix": "set round_quota to 1 to 64",
                                    "message": "reward loo values every update of a round when it closes"}]
    _, client = make_client(world, tmp_path)
    response = client.post("/jobs/new", data=job_form(csrf(client), **{**ROUNDS, "round_quota": "", "reward": "loo"}))
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and world.sent == []
    assert 'data-error-for="round_quota"' in html and "set round_quota to 1 to 64" in html


def test_the_create_form_offers_each_policy_its_rules_and_keeps_the_choice(tmp_path: Path) -> None:
    world = populated_world()
    _, client = make_client(world, tmp_path)
    html = client.get("/jobs/new").get_data(as_text=True)
    options = dict(re.findall(r'<option value="(\w*)" data-policies="([\w ]+)"', html))
    assert options == {"": "best", "sequential": "rounds", "loo": "rounds", "shapley": "rounds", "top_k": "best"}  # "" twice: the last
    assert re.findall(r'<option value="" data-policies="([\w ]+)"', html) == ["threshold manual rounds", "best"]
    assert 'data-rewards="shapley"' in html and 'data-rewards="top_k"' in html and 'name="clip_norm"' in html
    again = client.post("/jobs/new", data=job_form(csrf(client), **{**BEST, "reward": "top_k"}))
    assert again.status_code == 400  # k missing
    page = again.get_data(as_text=True)
    assert re.search(r'<option value="top_k" data-policies="best" selected', page)
    assert re.search(r'<option value="" data-policies="best" selected', page) is None


def test_the_history_says_what_contribution_and_privacy_notices_mean() -> None:
    from mlmarket.console.present import notice_summary

    class Plain:
        def amount(self, value: Any, token: str) -> str:
            return f"{value} units"

    measured = notice_summary("ContributionMeasured", {"jobId": 1, "submissionId": 2, "rule": "loo",
                                                      "contribution": -12_000, "amount": "5"}, Plain())
    assert measured == "job 1: submission 2 contributed -0.012000 (loo), earning 5 units"
    declared = notice_summary("PrivacyDeclared", {"jobId": 1, "submissionId": 2, "epsilon": 1_500_000,
                                                 "delta": 10_000_000, "norm": 2_500_000}, Plain())
    assert declared == "job 1: submission 2 declared ε=1.5, δ=1e-5, L2 distance 2.5"
