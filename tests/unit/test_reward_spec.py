"""The reward rule a job chooses (JobSpec.reward, top_k, permutations) and the clip bound of private
updates (clip_norm) are checked at createJob, every problem named with its field."""

import pytest

from dapp.domain import spec as spec_rules
from dapp.domain.limits import Limits
from tests.support.market import NOW, spec

ROUNDS = dict(policy="rounds", rounds=2, round_quota=4, round_duration=100, base_model_cid=b"\x01")


def fields_of(**overrides) -> list[str]:
    return [p.field for p in spec_rules.problems(spec(validation_cid=b"\x01", **overrides), 1000, NOW, Limits())]


@pytest.mark.parametrize("overrides", [
    dict(ROUNDS, reward="loo"),
    dict(ROUNDS, reward="shapley", permutations=8),
    dict(ROUNDS, clip_norm=2_500_000),
    dict(policy="best", reward_per_accept=0, reward="top_k", top_k=3),
    dict(policy="best", reward_per_accept=0),
])
def test_valid_reward_rules(overrides):
    assert fields_of(**overrides) == []


@pytest.mark.parametrize(("overrides", "field"), [
    (dict(reward="proportional"), "reward"),
    (dict(reward="loo"), "reward"),  # threshold job
    (dict(policy="best", reward_per_accept=0, reward="shapley", permutations=4), "reward"),
    (dict(ROUNDS, reward="top_k", top_k=2), "reward"),
    (dict(policy="best", reward_per_accept=0, reward="top_k"), "top_k"),
    (dict(policy="best", reward_per_accept=0, reward="top_k", top_k=spec_rules.MAX_TOP_K + 1), "top_k"),
    (dict(policy="best", reward_per_accept=0, top_k=2), "top_k"),
    (dict(ROUNDS, reward="shapley"), "permutations"),
    (dict(ROUNDS, reward="shapley", permutations=spec_rules.MAX_PERMUTATIONS + 1), "permutations"),
    (dict(ROUNDS, reward="loo", permutations=3), "permutations"),
    (dict(ROUNDS, reward="loo", round_quota=0), "round_quota"),
    (dict(ROUNDS, reward="shapley", permutations=2, round_quota=spec_rules.MAX_CONTRIBUTION_QUOTA + 1),
     "round_quota"),
    (dict(clip_norm=1_000_000), "clip_norm"),
    (dict(ROUNDS, clip_norm=spec_rules.MAX_SCORE + 1), "clip_norm"),
])
def test_each_broken_reward_rule_names_its_field(overrides, field):
    assert field in fields_of(**overrides)


def test_every_problem_is_listed_at_once():
    found = fields_of(policy="best", reward_per_accept=0, reward="top_k", permutations=5, clip_norm=1)
    assert {"top_k", "permutations", "clip_norm"} <= set(found)
