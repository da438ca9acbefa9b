"""Job specs: validation of a sponsor's ``JobSpec``. Metric names and what "a better score" means
per metric come from the ML engine's ``dapp.ml.metrics`` (re-exported here for the job rules).

``problems`` lists every rule a spec breaks (the pre-flight, ``dapp.domain.preflight``, shows them
all at once); ``validate`` raises the first of them, as ``createJob`` does. Each problem is a
``SpecError`` (code ``bad_spec``) naming the field and how to fix it."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain

from dapp.domain.commands import JobSpec
from dapp.domain.limits import Limits
from dapp.errors import DomainError
from dapp.ml.metrics import LOSSES, METRICS, gain, meets

__all__ = ["LOSSES", "SpecError", "gain", "meets", "problems", "submission_cap", "validate"]

POLICIES = ("threshold", "manual", "best", "rounds")
AGGREGATIONS = ("fedavg", "median", "trimmed_mean")  # rounds; "" is fedavg
HIDDEN_TEST_POLICIES = ("best", "threshold")  # may keep a hidden test set (test_commitment)
# JobSpec.reward -> the policy it is for ("": the policy's own rule)
REWARDS = {"sequential": "rounds", "loo": "rounds", "shapley": "rounds", "top_k": "best"}
CONTRIBUTION_REWARDS = ("sequential", "loo", "shapley")  # rounds: each round's budget shared by measured contribution

MAX_DURATION = 366 * 24 * 3600
MAX_ROUNDS = 100
MAX_SUBMISSIONS_PER_CONTRIBUTOR = 100
DEFAULT_SUBMISSIONS_PER_CONTRIBUTOR = 20
MAX_SCORE = 10**15  # millionths; bounds min_score, min_gain and tolerance
MAX_TOP_K = 100
MAX_PERMUTATIONS = 1000  # shapley; the job's work bound (dapp.domain.policy.rounds) is usually lower
MAX_CONTRIBUTION_QUOTA = 64  # loo / shapley: updates per round, each valued at the round's close


class SpecError(DomainError):
    """A rule of ``JobSpec`` broken: ``field`` names the spec field, ``fix`` says what to change."""

    code = "bad_spec"

    def __init__(self, message: str, field: str, fix: str) -> None:
        super().__init__(message)
        self.field = field
        self.fix = fix


_fail = SpecError


def _check_common(spec: JobSpec, budget: int, now: int, limits: Limits) -> Iterator[SpecError]:
    if len(spec.title.encode()) > limits.max_title_bytes:
        yield _fail(f"title is {len(spec.title.encode())} bytes, at most {limits.max_title_bytes}", "title",
                    "shorten the title")
    if spec.policy not in POLICIES:
        yield _fail(f"policy {spec.policy!r} is not one of {', '.join(POLICIES)}", "policy",
                    f"set policy to one of {', '.join(POLICIES)}")
    if spec.task not in METRICS:
        yield _fail(f"task {spec.task!r} is not one of {', '.join(METRICS)}", "task",
                    f"set task to one of {', '.join(METRICS)}")
    elif spec.metric not in METRICS[spec.task]:
        known = ", ".join(METRICS[spec.task])
        yield _fail(f"metric {spec.metric!r} does not apply to {spec.task}; use one of {known}", "metric",
                    f"set metric to one of {known}")
    if not spec.label or len(spec.label.encode()) > 100:
        yield _fail("label (the label column's name) must be 1 to 100 bytes", "label",
                    "set label to the name of the validation CSV's label column")
    if budget <= 0:
        yield _fail("the budget must be positive", "budget", "give a positive budget (mlmarket: --reward)")
    if not now < spec.deadline <= now + MAX_DURATION:
        yield _fail(f"deadline {spec.deadline} must be after the input's time {now} and within "
                    f"{MAX_DURATION} s", "deadline", "set deadline in the future, within a year (a spec file may say \"+3600\")")
    for name in ("min_score", "min_gain", "tolerance"):
        if abs(getattr(spec, name)) > MAX_SCORE:
            yield _fail(f"{name} is out of range (|x| <= {MAX_SCORE} millionths)", name,
                        f"give {name} in millionths of the metric, |x| <= {MAX_SCORE}")
    if spec.min_gain < 0 or spec.tolerance < 0:
        yield _fail("min_gain and tolerance cannot be negative",
                    "min_gain" if spec.min_gain < 0 else "tolerance", "give min_gain and tolerance as 0 or more")
    if spec.max_submissions > MAX_SUBMISSIONS_PER_CONTRIBUTOR:
        yield _fail(f"max_submissions is at most {MAX_SUBMISSIONS_PER_CONTRIBUTOR}", "max_submissions",
                    f"set max_submissions to {MAX_SUBMISSIONS_PER_CONTRIBUTOR} or less (0: the default "
                    f"{DEFAULT_SUBMISSIONS_PER_CONTRIBUTOR})")


def _check_hidden_test(spec: JobSpec) -> Iterator[SpecError]:
    has_commitment = spec.test_commitment != bytes(32)
    if has_commitment and spec.policy not in HIDDEN_TEST_POLICIES:
        yield _fail(f"a hidden test set (test_commitment) is for policy {' or '.join(HIDDEN_TEST_POLICIES)}",
                    "test_commitment", "drop test_commitment, or use policy best or threshold")
    if has_commitment and not 0 < spec.reveal_window <= MAX_DURATION:
        yield _fail("a hidden test set needs a reveal_window in seconds (1 s to a year)", "reveal_window",
                    "set reveal_window: the seconds after the deadline you have to reveal the test set")
    if not has_commitment and spec.reveal_window:
        yield _fail("reveal_window is only for a hidden test set", "reveal_window",
                    "drop reveal_window, or add test_commitment (mlmarket job commitment --test-cid CID)")


def _check_policy(spec: JobSpec, budget: int) -> Iterator[SpecError]:
    per_accept = spec.policy in ("threshold", "manual", "rounds")
    if per_accept and not 0 < spec.reward_per_accept <= budget:
        yield _fail(f"reward_per_accept must be positive and at most the budget ({budget}); it is "
                    f"{spec.reward_per_accept}", "reward_per_accept",
                    "set reward_per_accept to what each accepted submission earns (more than 0, at most the "
                    "budget)")
    if spec.policy == "best" and spec.reward_per_accept not in (0, budget):
        yield _fail("a best-model job pays its whole budget: leave reward_per_accept at 0",
                    "reward_per_accept", "drop reward_per_accept (or set it to 0)")
    yield from _check_hidden_test(spec)
    if not spec.validation_cid:  # with a hidden test set too: without a reveal, the split is decided on it
        yield _fail("validation_cid is required (the data submissions are scored on, or, with a hidden "
                    "test set, the bar a fallback split's submissions must meet)", "validation_cid",
                    "upload the validation CSV (mlmarket put FILE) and give its CID as validation_cid")
    if spec.policy == "rounds":
        if not 1 <= spec.rounds <= MAX_ROUNDS:
            yield _fail(f"rounds must be 1 to {MAX_ROUNDS}", "rounds", f"set rounds to 1 to {MAX_ROUNDS}")
        if spec.round_duration <= 0:
            yield _fail("round_duration (seconds per round) must be positive", "round_duration",
                        "set round_duration to the seconds each round lasts")
        if not spec.base_model_cid:
            yield _fail("a federated job needs a base_model_cid (the initial global model)", "base_model_cid",
                        "upload the initial model (mlmarket put FILE) and give its CID as base_model_cid")
        if spec.aggregation and spec.aggregation not in AGGREGATIONS:
            yield _fail(f"aggregation {spec.aggregation!r} is not one of {', '.join(AGGREGATIONS)}",
                        "aggregation", f"set aggregation to one of {', '.join(AGGREGATIONS)}")
    elif spec.rounds or spec.round_quota or spec.round_duration or spec.tolerance or spec.aggregation:
        yield _fail("rounds, round_quota, round_duration, tolerance and aggregation are for policy 'rounds'",
                    "rounds", "drop rounds, round_quota, round_duration, tolerance and aggregation, or use "
                    "policy rounds")
    yield from _check_reward(spec)
    if spec.min_gain and spec.policy != "threshold":
        yield _fail("min_gain is for policy 'threshold'", "min_gain",
                    "drop min_gain, or use policy threshold")
    if spec.accept_by_default and spec.policy != "manual":
        yield _fail("accept_by_default is for policy 'manual'", "accept_by_default",
                    "drop accept_by_default, or use policy manual")


def _check_reward(spec: JobSpec) -> Iterator[SpecError]:
    rule = spec.reward
    if rule and REWARDS.get(rule) is None:
        yield _fail(f"reward {rule!r} is not one of {', '.join(REWARDS)}", "reward",
                    "set reward to sequential, loo or shapley (policy rounds), top_k (policy best), or drop it")
    elif rule and REWARDS[rule] != spec.policy:
        yield _fail(f"reward {rule!r} is for policy {REWARDS[rule]!r}", "reward",
                    f"drop reward, or use policy {REWARDS[rule]}")
    if rule == "top_k" and not 1 <= spec.top_k <= MAX_TOP_K:
        yield _fail(f"reward top_k needs top_k, how many of the best are paid: 1 to {MAX_TOP_K}", "top_k",
                    f"set top_k to 1 to {MAX_TOP_K}")
    elif rule != "top_k" and spec.top_k:
        yield _fail("top_k is for reward 'top_k'", "top_k", "drop top_k, or set reward to top_k")
    if rule == "shapley" and not 1 <= spec.permutations <= MAX_PERMUTATIONS:
        yield _fail(f"reward shapley needs permutations (Monte-Carlo samples per round): 1 to {MAX_PERMUTATIONS}",
                    "permutations", f"set permutations to 1 to {MAX_PERMUTATIONS}")
    elif rule != "shapley" and spec.permutations:
        yield _fail("permutations is for reward 'shapley'", "permutations",
                    "drop permutations, or set reward to shapley")
    if rule in CONTRIBUTION_REWARDS and not 1 <= spec.round_quota <= MAX_CONTRIBUTION_QUOTA:
        yield _fail(f"reward {rule} values every update of a round when it closes: round_quota must bound "
                    f"them, 1 to {MAX_CONTRIBUTION_QUOTA}", "round_quota",
                    f"set round_quota to 1 to {MAX_CONTRIBUTION_QUOTA}")
    if spec.clip_norm and spec.policy != "rounds":
        yield _fail("clip_norm is for policy 'rounds'", "clip_norm", "drop clip_norm, or use policy rounds")
    if not 0 <= spec.clip_norm <= MAX_SCORE:
        yield _fail(f"clip_norm is out of range (0 to {MAX_SCORE} millionths)", "clip_norm",
                    f"give clip_norm in millionths, 0 to {MAX_SCORE}")


def problems(spec: JobSpec, budget: int, now: int, limits: Limits) -> list[SpecError]:
    """Every rule ``spec`` breaks for a job created at ``now`` with ``budget``, in the order
    ``validate`` checks them (empty: the spec is valid)."""
    return [*_check_common(spec, budget, now, limits), *_check_policy(spec, budget)]


def validate(spec: JobSpec, budget: int, now: int, limits: Limits) -> None:
    """Raises ``SpecError`` (code ``bad_spec``) naming the first field that breaks a rule."""
    for problem in chain(_check_common(spec, budget, now, limits), _check_policy(spec, budget)):
        raise problem


def submission_cap(spec: JobSpec) -> int:
    """How many submissions one contributor may make to the job."""
    return spec.max_submissions or DEFAULT_SUBMISSIONS_PER_CONTRIBUTOR
