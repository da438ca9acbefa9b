"""Job specs: validation of a sponsor's ``JobSpec``. Metric names and what "a better score" means
per metric come from the ML engine's ``dapp.ml.metrics`` (re-exported here for the job rules)."""

from __future__ import annotations

from dapp.domain.commands import JobSpec
from dapp.domain.limits import Limits
from dapp.errors import DomainError
from dapp.ml.metrics import LOSSES, METRICS, gain, meets

__all__ = ["LOSSES", "gain", "meets", "submission_cap", "validate"]

POLICIES = ("threshold", "manual", "best", "rounds")
AGGREGATIONS = ("fedavg", "median", "trimmed_mean")  # rounds; "" is fedavg
HIDDEN_TEST_POLICIES = ("best", "threshold")  # may keep a hidden test set (test_commitment)

MAX_DURATION = 366 * 24 * 3600
MAX_ROUNDS = 100
MAX_SUBMISSIONS_PER_CONTRIBUTOR = 100
DEFAULT_SUBMISSIONS_PER_CONTRIBUTOR = 20
MAX_SCORE = 10**15  # millionths; bounds min_score, min_gain and tolerance


def _fail(message: str) -> DomainError:
    return DomainError(message, code="bad_spec")


def _check_common(spec: JobSpec, budget: int, now: int, limits: Limits) -> None:
    if len(spec.title.encode()) > limits.max_title_bytes:
        raise _fail(f"title is {len(spec.title.encode())} bytes, at most {limits.max_title_bytes}")
    if spec.policy not in POLICIES:
        raise _fail(f"policy {spec.policy!r} is not one of {', '.join(POLICIES)}")
    if spec.task not in METRICS:
        raise _fail(f"task {spec.task!r} is not one of {', '.join(METRICS)}")
    if spec.metric not in METRICS[spec.task]:
        raise _fail(f"metric {spec.metric!r} does not apply to {spec.task}; use one of {', '.join(METRICS[spec.task])}")
    if not spec.label or len(spec.label.encode()) > 100:
        raise _fail("label (the label column's name) must be 1 to 100 bytes")
    if budget <= 0:
        raise _fail("the budget must be positive")
    if not now < spec.deadline <= now + MAX_DURATION:
        raise _fail(f"deadline {spec.deadline} must be after the input's time {now} and within {MAX_DURATION} s")
    for name in ("min_score", "min_gain", "tolerance"):
        if abs(getattr(spec, name)) > MAX_SCORE:
            raise _fail(f"{name} is out of range (|x| <= {MAX_SCORE} millionths)")
    if spec.min_gain < 0 or spec.tolerance < 0:
        raise _fail("min_gain and tolerance cannot be negative")
    if spec.max_submissions > MAX_SUBMISSIONS_PER_CONTRIBUTOR:
        raise _fail(f"max_submissions is at most {MAX_SUBMISSIONS_PER_CONTRIBUTOR}")


def _check_policy(spec: JobSpec, budget: int) -> None:
    per_accept = spec.policy in ("threshold", "manual", "rounds")
    if per_accept and not 0 < spec.reward_per_accept <= budget:
        raise _fail(f"reward_per_accept must be positive and at most the budget ({budget})")
    if spec.policy == "best" and spec.reward_per_accept not in (0, budget):
        raise _fail("a best-model job pays its whole budget: leave reward_per_accept at 0")
    has_commitment = spec.test_commitment != bytes(32)
    if has_commitment and spec.policy not in HIDDEN_TEST_POLICIES:
        raise _fail(f"a hidden test set (test_commitment) is for policy {' or '.join(HIDDEN_TEST_POLICIES)}")
    if has_commitment and not 0 < spec.reveal_window <= MAX_DURATION:
        raise _fail("a hidden test set needs a reveal_window in seconds (1 s to a year)")
    if not has_commitment and spec.reveal_window:
        raise _fail("reveal_window is only for a hidden test set")
    if not spec.validation_cid:  # with a hidden test set too: without a reveal, the split is decided on it
        raise _fail("validation_cid is required (the data submissions are scored on, or, with a hidden "
                    "test set, the bar a fallback split's submissions must meet)")
    if spec.policy == "rounds":
        if not 1 <= spec.rounds <= MAX_ROUNDS:
            raise _fail(f"rounds must be 1 to {MAX_ROUNDS}")
        if spec.round_duration <= 0:
            raise _fail("round_duration (seconds per round) must be positive")
        if not spec.base_model_cid:
            raise _fail("a federated job needs a base_model_cid (the initial global model)")
        if spec.aggregation and spec.aggregation not in AGGREGATIONS:
            raise _fail(f"aggregation {spec.aggregation!r} is not one of {', '.join(AGGREGATIONS)}")
    elif spec.rounds or spec.round_quota or spec.round_duration or spec.tolerance or spec.aggregation:
        raise _fail("rounds, round_quota, round_duration, tolerance and aggregation are for policy 'rounds'")
    if spec.min_gain and spec.policy != "threshold":
        raise _fail("min_gain is for policy 'threshold'")
    if spec.accept_by_default and spec.policy != "manual":
        raise _fail("accept_by_default is for policy 'manual'")


def validate(spec: JobSpec, budget: int, now: int, limits: Limits) -> None:
    """Raises ``DomainError`` (code ``bad_spec``) naming the first field that breaks a rule."""
    _check_common(spec, budget, now, limits)
    _check_policy(spec, budget)


def submission_cap(spec: JobSpec) -> int:
    """How many submissions one contributor may make to the job."""
    return spec.max_submissions or DEFAULT_SUBMISSIONS_PER_CONTRIBUTOR
