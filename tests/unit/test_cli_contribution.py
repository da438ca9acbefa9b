"""``mlmarket job show`` for contribution rewards and private updates (issue 16): the text names the
reward rule in words and the clip norm as a length, and gives each submission its signed
contribution in the job's metric, its pay in token units and its declared privacy; ``--json``
keeps inspect's raw values. Inspect answers come from the machine's own views (the console test's
``machine_views``); expected texts are written from the raw values here."""

from __future__ import annotations

import json
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner
from mlmarket.cli import common
from mlmarket.cli.main import cli

from tests.unit.test_console_contribution import SPEC, SUBMITTED, TEST, machine_views
from tests.unit.test_console_fake import TOKEN

NOW = 1_800_000_600


class Market:
    """The parts of ``Market`` that ``job show`` reads, over job 1 with ``spec``."""

    def __init__(self, spec: Any) -> None:
        shown_spec, self.submissions, _ = machine_views(spec)
        self.job = {"id": 1, "sponsor": "0x" + "5a" * 20, "token": TOKEN.lower(), "status": "open", "outcome": "",
                    "budget": str(20 * TEST), "paid": str(10 * TEST), "submissions": len(SUBMITTED), "accepted": 3,
                    "created_at": NOW - 600, "deadline": spec.deadline, "policy": spec.policy,
                    "metric": spec.metric, "best_score": None, "round": 2, "spec": shown_spec}
        contract = SimpleNamespace(functions=SimpleNamespace(symbol=lambda: SimpleNamespace(call=lambda: "TEST")))
        self.chain = SimpleNamespace(decimals_of=lambda token: 18, contract=lambda kind, address: contract)

    def now(self) -> int:
        return NOW

    def query(self, path: str) -> Any:
        if path == "jobs/1":
            return {"ok": True, "job": self.job}
        if path == "jobs/1/submissions":
            return {"ok": True, "submissions": self.submissions}
        raise AssertionError(path)


def show(monkeypatch: pytest.MonkeyPatch, spec: Any, *args: str) -> str:
    market = Market(spec)
    monkeypatch.setattr(common.Session, "market", lambda self, read_only=False: market)
    result = CliRunner().invoke(cli, ["job", "show", "1", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def blocks(text: str) -> list[list[str]]:
    """The lines of each submission in the text (``- id: 1`` starts one)."""
    lines = text[text.index("\nsubmissions:") + 1:].splitlines()[1:]
    out: list[list[str]] = []
    for line in lines:
        if line.lstrip().startswith("- "):
            out.append([])
        out[-1].append(line.strip().removeprefix("- "))
    return out


def test_job_show_gives_each_submission_its_contribution_pay_and_privacy(monkeypatch: pytest.MonkeyPatch) -> None:
    text = show(monkeypatch, SPEC)
    assert "reward_rule: leave-one-out share of each round's 10 TEST" in text
    assert "clip_norm: 2.5" in text and "2500000" not in text
    subs = blocks(text)
    assert len(subs) == len(SUBMITTED)
    for lines, (score, contribution, paid, round_, privacy) in zip(subs, SUBMITTED, strict=True):
        if contribution is None:
            assert "contribution: -" in lines
        else:
            sign = "+" if contribution > 0 else "-"
            assert f"contribution: accuracy {sign}{abs(contribution) / 10**6:.6f}" in lines
        assert f"reward: {paid} TEST" in lines and f"round: {round_}" in lines
        assert ("privacy: ε=1.5, δ=1e-5" if privacy else "privacy: -") in lines
        assert not any(line.startswith("contribution_millionths") for line in lines)


def test_job_show_json_keeps_the_raw_values(monkeypatch: pytest.MonkeyPatch) -> None:
    shown = json.loads(show(monkeypatch, SPEC, "--json"))
    assert shown["job"]["spec"]["clip_norm"] == 2_500_000 and shown["job"]["spec"]["reward"] == "loo"
    first = shown["submissions"][0]
    assert first["contribution_millionths"] == SUBMITTED[0][1] and first["reward"] == str(SUBMITTED[0][2] * TEST)
    assert first["privacy"] == {"epsilon": 1.5, "delta": 1e-5} and "reward_rule" not in shown["job"]


@pytest.mark.parametrize("spec, rule", [
    (replace(SPEC, reward="shapley", permutations=50), "Shapley, 50 permutations: a share of each round's 10 TEST"),
    (replace(SPEC, reward="", clip_norm=0), "a fixed 10 TEST per accepted update"),
    (replace(SPEC, policy="best", reward="top_k", top_k=3, reward_per_accept=0, clip_norm=0),
     "top 3 by score above baseline"),
    (replace(SPEC, policy="best", reward="", reward_per_accept=0, clip_norm=0), "winner takes all"),
])
def test_job_show_names_the_reward_rule_in_words(monkeypatch: pytest.MonkeyPatch, spec: Any, rule: str) -> None:
    text = show(monkeypatch, spec)
    (line,) = [line for line in text.splitlines() if line.startswith("  reward_rule: ")]
    assert line.startswith(f"  reward_rule: {rule}")
    assert text.index("policy:") < text.index("reward_rule:") < text.index("\nsubmissions:")


def test_a_threshold_job_has_no_reward_rule_line(monkeypatch: pytest.MonkeyPatch) -> None:
    text = show(monkeypatch, replace(SPEC, policy="threshold", reward="", clip_norm=0))
    assert "reward_rule" not in text and "reward_per_accept: 10 TEST" in text


def test_the_formatters_write_signs_small_deltas_and_lengths_as_people_read_them() -> None:
    from mlmarket.client import units

    assert units.contribution_text(0, "r2") == "r2 0.000000" and units.contribution_text(-1, "mae") == "mae -0.000001"
    assert units.contribution_text(None, "accuracy") == "-" and units.contribution_text(2_000_000, "") == "+2.000000"
    assert units.privacy_text({"epsilon": 0.25, "delta": 1e-12}) == "ε=0.25, δ=1e-12"
    assert units.privacy_text(None) == "" and units.norm_text(1_000_001) == "1.000001"
    assert units.contribution_of({"contribution": -0.004, "contribution_millionths": None}) == -4_000
