"""Contribution rewards of federated rounds (JobSpec.reward ``loo`` / ``shapley``, docs/PROTOCOL.md §4.7)
with the real engine. Every payment is recomputed from what anyone can read, the notices and the
job's public contents, by an independent implementation: numpy for the weighted average of the
updates' ``coef``/``intercept`` and for predictions, scikit-learn's metrics for scores, its own
leave-one-out and Shapley loops, the permutations from hashlib, and its own largest-remainder split
with fractions; never the code under test. Then the attacks: sybil copies, a poisoned update, ties,
nothing positive, a single update, data-only and weights-only updates, the budget running short, and
the creation bound on a round's valuation."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from fractions import Fraction

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.metrics import accuracy_score, log_loss

from dapp.codec.cid import cid_of, cid_to_text
from dapp.domain.values import Address
from dapp.ml.engine import Engine
from dapp.ml.modelfile import Model, read_model, write_model
from tests.support.breast_cancer import to_csv
from tests.support.market import INPUTS, NOW, SPONSOR, Market, spec, spec_tuple
from tests.support.rollup import TOKEN, notice_args, notice_names, token_payments

WHO = [Address(bytes([0x20 + i]) * 20) for i in range(8)]
LOGISTIC = {"estimator": "LogisticRegression", "params": {"max_iter": 200}}
MIN_SCORE = 500_000


# --- the data: breast cancer, standardised, shuffled once --------------------------------------------

def _arrays():
    data = load_breast_cancer()
    X = (data.data - data.data.mean(0)) / data.data.std(0)
    order = np.random.default_rng(5).permutation(len(data.target))
    return X[order], data.target[order], [f"f{i}" for i in range(X.shape[1])]


X_ALL, Y_ALL, COLUMNS = _arrays()
VALIDATION = to_csv(X_ALL[400:], Y_ALL[400:], COLUMNS)


def rows(a: int, b: int) -> bytes:
    return to_csv(X_ALL[a:b], Y_ALL[a:b], COLUMNS)


def shuffled(csv: bytes, seed: int) -> bytes:
    """The same rows in another order: other bytes (another CID), a near-identical trained model."""
    header, *lines = csv.decode().splitlines()
    order = np.random.default_rng(seed).permutation(len(lines))
    return ("\n".join([header, *(lines[i] for i in order)]) + "\n").encode()


# --- the independent implementation ------------------------------------------------------------------

def arrays_of(model: bytes) -> dict[str, np.ndarray]:
    """A trained model file's arrays, read with zipfile and numpy (no pickle)."""
    with zipfile.ZipFile(io.BytesIO(model)) as z:
        return {name[len("arrays/"):-len(".npy")]: np.load(io.BytesIO(z.read(name)), allow_pickle=False)
                for name in z.namelist() if name.startswith("arrays/")}


def csv_arrays(csv: bytes) -> tuple[np.ndarray, np.ndarray]:
    table = np.loadtxt(io.BytesIO(csv), delimiter=",", skiprows=1, ndmin=2)
    return table[:, :-1], table[:, -1].astype(int)


def millionths(value: float) -> int:
    return round(Fraction(value) * 10**6)


def score(arrays: dict[str, np.ndarray], metric: str) -> int:
    """A binary logistic model's score on the validation set (scikit-learn's metric)."""
    X, y = csv_arrays(VALIDATION)
    decision = X @ arrays["coef"].T[:, 0] + arrays["intercept"][0]
    if metric == "accuracy":
        return millionths(float(accuracy_score(y, arrays["classes"][(decision > 0).astype(int)])))
    p = 1 / (1 + np.exp(-decision))
    return millionths(float(log_loss(y, np.column_stack([1 - p, p]), labels=arrays["classes"])))


def fedavg(models: list[dict[str, np.ndarray]], weights: list[int]) -> dict[str, np.ndarray]:
    return {"classes": models[0]["classes"],
            **{name: np.average(np.stack([m[name] for m in models]), axis=0, weights=weights)
               for name in ("coef", "intercept")}}


def gain(metric: str, new: int, old: int) -> int:
    return old - new if metric == "log_loss" else new - old


def orders(job: int, round_number: int, ids: list[int], count: int) -> list[list[int]]:
    def key(k: int, i: int) -> tuple[int, int]:
        digest = hashlib.sha256(f"mlmarket/{job}/round/{round_number}/shapley/{k}/{i}".encode()).digest()
        return int.from_bytes(digest[:4], "big"), i
    return [sorted(ids, key=lambda i: key(k, i)) for k in range(count)]


def split(pool: int, contributions: dict[int, int]) -> dict[int, int]:
    """Largest remainders with exact fractions; ties to the smaller id; nothing positive: nothing."""
    weights = {i: max(c, 0) for i, c in contributions.items()}
    total = sum(weights.values())
    if not total or not pool:
        return dict.fromkeys(weights, 0)
    exact = {i: Fraction(pool * w, total) for i, w in weights.items()}
    amounts = {i: int(x) for i, x in exact.items()}
    for i in sorted(exact, key=lambda i: (-(exact[i] - amounts[i]), i))[:pool - sum(amounts.values())]:
        amounts[i] += 1
    return amounts


def content(m: Market, cid_text: str) -> bytes:
    return bytes.fromhex(m.inspect(f"contents/{cid_text}/data")["data"][2:])


class Recomputed:
    """One round valued from public data: the accepted updates of ``round_number`` (the job's
    submissions view), their models and data (contents), the job's spec."""

    def __init__(self, m: Market, job: int, round_number: int, empty: int, pool: int) -> None:
        view = m.job(job)
        self.spec = view["job"]["spec"]
        subs = [s for s in view["submissions"] if s["round"] == round_number and s["status"] == "accepted"]
        self.ids = [s["id"] for s in subs]
        self.models = {s["id"]: arrays_of(content(m, s["trained_model_cid"])) for s in subs}
        verified = {s["id"]: content(m, s["data_cid"]).count(b"\n") - 1 for s in subs if s["data_cid"]}
        fallback = max(1, sum(verified.values()) // len(verified)) if verified else 1
        self.weights = {i: verified.get(i, fallback) for i in self.ids}
        self.job, self.round, self.empty, self.pool = job, round_number, empty, pool
        self.metric, self.rule = self.spec["metric"], self.spec["reward"]
        self.values: dict[frozenset, int] = {}

    def v(self, coalition: frozenset) -> int:
        if not coalition:
            return self.empty
        if coalition not in self.values:
            members = [i for i in self.ids if i in coalition]
            self.values[coalition] = score(fedavg([self.models[i] for i in members],
                                                  [self.weights[i] for i in members]), self.metric)
        return self.values[coalition]

    def expected(self) -> list[tuple]:
        """Each ContributionMeasured's arguments, in round order."""
        everyone = frozenset(self.ids)
        if self.rule == "sequential":  # each on the updates committed before it (smaller ids)
            prefix = {i: frozenset(j for j in self.ids if j < i) for i in self.ids}
            return self._paid({i: (self.v(prefix[i] | {i}), self.v(prefix[i]),
                                   gain(self.metric, self.v(prefix[i] | {i}), self.v(prefix[i])))
                               for i in self.ids})
        if self.rule == "loo":
            pairs = {i: (self.v(everyone - {i}), gain(self.metric, self.v(everyone), self.v(everyone - {i})))
                     for i in self.ids}
        else:
            count = self.spec["permutations"]
            totals = dict.fromkeys(self.ids, 0)
            for order in orders(self.job, self.round, self.ids, count):
                for k, i in enumerate(order):
                    before, after = frozenset(order[:k]), frozenset(order[:k + 1])
                    totals[i] += gain(self.metric, self.v(after), self.v(before))
            pairs = {i: (self.empty, totals[i] // count) for i in self.ids}
        return self._paid({i: (self.v(everyone), *pairs[i]) for i in self.ids})

    def _paid(self, measured: dict[int, tuple[int, int, int]]) -> list[tuple]:
        """The notices' arguments from each update's (score, baseline, contribution)."""
        amounts = split(self.pool, {i: c for i, (_, _, c) in measured.items()})
        return [(self.job, i, self.round, self.rule, *measured[i], amounts[i]) for i in self.ids]


def check_payments(m: Market, done, recomputed: Recomputed) -> dict[int, int]:
    """The notices of the closing input and the submissions view against the recomputation; {id: amount}."""
    expected = recomputed.expected()
    assert notice_args(done, "ContributionMeasured") == expected
    amounts = {e[1]: e[-1] for e in expected}
    paid = [(args[1], args[4]) for args in notice_args(done, "RewardPaid")]
    assert paid == [(i, a) for i, a in amounts.items() if a > 0]
    names = notice_names(done)
    measured = [k for k, n in enumerate(names) if n == "ContributionMeasured"]
    for k, (i, a) in zip(measured, amounts.items()):  # each RewardPaid right after its measurement
        assert (names[k + 1] == "RewardPaid") == (a > 0)
    assert sum(amounts.values()) in (0, recomputed.pool)  # the whole pool, or nothing
    assert min(amounts.values()) >= 0
    view = {s["id"]: s for s in m.job(recomputed.job)["submissions"]}
    for e in expected:  # recorded on the submission: its contribution, what it was paid, accepted
        assert (view[e[1]]["contribution_millionths"], view[e[1]]["reward"]) == (e[6], str(e[7]))
        assert view[e[1]]["status"] == "accepted"
    return amounts


# --- running a job -----------------------------------------------------------------------------------

def create(m: Market, budget: int, reward: str, *, base: dict | bytes = LOGISTIC, rounds: int = 1, quota: int,
           per_round: int, metric: str = "accuracy", min_score: int = MIN_SCORE, **kw) -> int:
    validation = m.put(SPONSOR, VALIDATION)
    base_bytes = base if isinstance(base, bytes) else json.dumps(base).encode()
    return m.create_job(budget, policy="rounds", reward=reward, rounds=rounds, round_quota=quota,
                        round_duration=500, reward_per_accept=per_round, min_score=min_score, metric=metric,
                        validation_cid=validation, base_model_cid=m.put(SPONSOR, base_bytes),
                        deadline=NOW + 5000, tolerance=200_000, **kw)


def send(m: Market, job: int, updates: list[tuple[Address, bytes, bytes]], **kw):
    """Each (who, model bytes or b"", data CSV or b"") as a submission; the last input's result."""
    for who, model, data in updates:
        model_cid, data_cid = (m.put(who, model) if model else b""), (m.put(who, data) if data else b"")
        done = m.submit(who, job, model_cid, data_cid, **kw)
        assert done.accepted, done.reports
    return done


def weights_only(data: bytes, seed: int = 1, spec_: dict = LOGISTIC) -> bytes:
    """A model trained off-chain (the contributor's data stays local)."""
    return Engine(isolate=False).score(task="classification", metric="accuracy", label="target",
                                       validation=VALIDATION, model=json.dumps(spec_).encode(), train=data,
                                       seed=seed).model_bytes


def nudged(model: bytes) -> bytes:
    """The same model with its coefficients changed in their last bits: other bytes, the same function."""
    loaded = read_model(model)
    arrays = dict(loaded.arrays, coef=loaded.arrays["coef"] * (1 + 1e-12))
    return write_model(Model(loaded.spec, loaded.features, arrays))


# --- the rules, recomputed ---------------------------------------------------------------------------

@pytest.mark.parametrize("rule, extra", [("sequential", {}), ("loo", {}), ("shapley", {"permutations": 40})])
def test_data_only_updates_are_paid_by_the_validation_gain_of_adding_their_data(rule, extra):
    m = Market(engine=Engine())
    job = create(m, 1001, rule, quota=4, per_round=1001, **extra)
    done = send(m, job, [(WHO[0], b"", rows(0, 12)), (WHO[1], b"", rows(12, 30)), (WHO[2], b"", rows(30, 36)),
                         (WHO[3], b"", rows(36, 100))])
    assert "RoundClosed" in notice_names(done)
    amounts = check_payments(m, done, Recomputed(m, job, 0, MIN_SCORE, 1001))
    assert sum(amounts.values()) == 1001  # someone added value: the whole pool is paid
    view = m.job(job)["job"]
    assert view["status"] == "ended" and int(view["paid"]) == 1001


def test_shapley_on_a_loss_counts_a_lower_loss_as_better_and_mixes_weights_only_updates():
    """log_loss (lower is better): v(∅) = min_score, the maximum loss a model may have; a weights-only
    update weighs the mean of the round's verified row counts."""
    m = Market(engine=Engine())
    job = create(m, 777, "shapley", quota=3, per_round=777, metric="log_loss", min_score=690_000,
                 permutations=25)
    done = send(m, job, [(WHO[0], b"", rows(0, 20)), (WHO[1], weights_only(rows(100, 160)), b""),
                         (WHO[2], b"", rows(20, 80))])
    recomputed = Recomputed(m, job, 0, 690_000, 777)
    assert recomputed.weights == {1: 20, 2: 40, 3: 60}
    amounts = check_payments(m, done, recomputed)
    measured = notice_args(done, "ContributionMeasured")
    assert all(args[4] < 690_000 and args[5] == 690_000 for args in measured)  # the round lowered the loss
    assert sum(amounts.values()) == 777


def test_a_second_round_is_valued_from_the_published_global_model_and_the_budget_left():
    """Round 0 pays its pool; round 1's pool is what is left (500 of 1,000), a single update's round:
    under loo its baseline is v(∅), the global model round 0 published."""
    m = Market(engine=Engine())
    job = create(m, 1500, "loo", rounds=2, quota=1, per_round=1000)
    first = send(m, job, [(WHO[0], b"", rows(0, 8))])
    (published,) = notice_args(first, "ModelPublished")
    check_payments(m, first, Recomputed(m, job, 0, MIN_SCORE, 1000))
    global_score = score(arrays_of(content(m, cid_to_text(published[2]))), "accuracy")
    assert published[3] == global_score
    second = send(m, job, [(WHO[1], b"", rows(8, 200))])
    recomputed = Recomputed(m, job, 1, global_score, 500)
    amounts = check_payments(m, second, recomputed)
    (measured,) = notice_args(second, "ContributionMeasured")
    assert measured[5] == global_score and measured[6] > 0 and amounts == {2: 500}
    assert m.job(job)["job"]["budget"] == "0"


# --- attacks -----------------------------------------------------------------------------------------

def test_sybil_copies_under_loo_are_each_worth_nothing_and_the_distinct_update_keeps_the_pool():
    """Near-identical updates (the same rows reordered) from three addresses: removing one leaves two,
    so under loo each is worth at most 0 (here less: together they outweigh the better update); the
    distinct honest update takes the whole pool."""
    m = Market(engine=Engine())
    job = create(m, 900, "loo", quota=4, per_round=900)
    copy = rows(0, 10)
    done = send(m, job, [(WHO[0], b"", copy), (WHO[1], b"", shuffled(copy, 1)),
                         (WHO[2], b"", shuffled(copy, 2)), (WHO[3], b"", rows(100, 112))])
    amounts = check_payments(m, done, Recomputed(m, job, 0, MIN_SCORE, 900))
    contributions = {args[1]: args[6] for args in notice_args(done, "ContributionMeasured")}
    assert max(contributions[1], contributions[2], contributions[3]) <= 0 < contributions[4]
    assert amounts == {1: 0, 2: 0, 3: 0, 4: 900}


def test_sybil_copies_under_shapley_take_at_most_what_one_copy_adds_to_anyone_alone():
    """Under shapley the copies' marginal gains overlap: the first copy in an order takes the gain, the
    others add almost nothing. The group's total is recomputed like any payment; it is at most the
    gain of one copy on its own, v({copy}) - v(∅), the most its data adds to any order's prefix here.
    (It is more than one copy earns next to the honest update: see PROTOCOL §4.7.)"""
    m = Market(engine=Engine())
    job = create(m, 1000, "shapley", quota=4, per_round=1000, permutations=60)
    copy, honest = rows(0, 10), rows(100, 112)
    done = send(m, job, [(WHO[0], b"", copy), (WHO[1], b"", shuffled(copy, 1)),
                         (WHO[2], b"", shuffled(copy, 2)), (WHO[3], b"", honest)])
    recomputed = Recomputed(m, job, 0, MIN_SCORE, 1000)
    check_payments(m, done, recomputed)
    contributions = {args[1]: args[6] for args in notice_args(done, "ContributionMeasured")}
    alone = max(recomputed.v(frozenset({i})) for i in (1, 2, 3)) - MIN_SCORE
    assert 0 < contributions[1] + contributions[2] + contributions[3] <= alone


def test_limit_sybil_copies_under_shapley_take_a_larger_share_than_one_copy_would():
    """The limit PROTOCOL §4.7 states: with overlapping value (the first update of an order gains the
    most), copies of one update go first more often, so three of them take more of the pool than one
    copy gets against the same honest update. (Under loo they would get nothing.)"""
    copy, honest = rows(0, 10), rows(100, 112)
    taken = []
    for copies in (1, 3):
        m = Market(engine=Engine())
        job = create(m, 1000, "shapley", quota=copies + 1, per_round=1000, permutations=60)
        sybils = [(WHO[k], b"", shuffled(copy, k)) for k in range(copies)]
        done = send(m, job, [*sybils, (WHO[7], b"", honest)])
        amounts = check_payments(m, done, Recomputed(m, job, 0, MIN_SCORE, 1000))
        taken.append(sum(amounts[i] for i in range(1, copies + 1)))
    assert taken[1] > taken[0] > 0


def test_from_a_trained_base_copies_of_an_update_that_does_not_improve_on_it_take_nothing():
    """The same sybil round as above from a base trained on 30 rows: v(∅) is the base's score, so the
    copies gain only by improving on it, and they do not."""
    m = Market(engine=Engine())
    base = weights_only(rows(300, 330))
    job = create(m, 1000, "shapley", base=base, quota=4, per_round=1000, permutations=60)
    sybils = [(WHO[k], b"", shuffled(rows(0, 10), k)) for k in range(3)]
    done = send(m, job, [*sybils, (WHO[7], b"", rows(100, 112))])
    amounts = check_payments(m, done, Recomputed(m, job, 0, score(arrays_of(base), "accuracy"), 1000))
    assert amounts == {1: 0, 2: 0, 3: 0, 4: 1000}


@pytest.mark.parametrize("rule", ["loo", "shapley"])
def test_limit_a_copy_of_a_revealed_update_cancels_it_under_loo_and_halves_it_under_shapley(rule):
    """Someone (the sponsor, say) copies an honest update once it is revealed, nudged in its last bits,
    within the same round: under loo both are worth 0 and the pool goes back to the sponsor at the
    end; under shapley the copy takes the share of each order it leads (PROTOCOL §4.7)."""
    m = Market(engine=Engine())
    extra = {"permutations": 40} if rule == "shapley" else {}
    job = create(m, 1000, rule, quota=2, per_round=1000, **extra)
    send(m, job, [(WHO[0], b"", rows(0, 60))])
    (revealed,) = m.job(job)["submissions"]
    copy = nudged(content(m, revealed["trained_model_cid"]))
    done = send(m, job, [(SPONSOR, copy, b"")])
    amounts = check_payments(m, done, Recomputed(m, job, 0, MIN_SCORE, 1000))
    if rule == "loo":
        assert amounts == {1: 0, 2: 0} and notice_args(done, "JobSettled")[0][2:] == (0, 1000)
    else:
        leads = sum(order[0] == 2 for order in orders(job, 0, [1, 2], 40))
        assert amounts[2] == 1000 * leads // 40 and amounts[1] == 1000 - amounts[2]


def test_under_sequential_a_later_copy_of_a_revealed_update_takes_nothing_from_it():
    """The attack above against the commit-order rule: the copy is valued on the original, to which it
    adds nothing, so the original keeps the pool (the copier earns its marginal gain, here 0 or less)."""
    m = Market(engine=Engine())
    job = create(m, 1000, "sequential", quota=2, per_round=1000)
    send(m, job, [(WHO[0], b"", rows(0, 60))])
    (revealed,) = m.job(job)["submissions"]
    done = send(m, job, [(SPONSOR, nudged(content(m, revealed["trained_model_cid"])), b"")])
    amounts = check_payments(m, done, Recomputed(m, job, 0, MIN_SCORE, 1000))
    assert amounts == {1: 1000, 2: 0}


def test_under_sequential_sybils_following_an_update_cannot_change_its_value():
    """One contributor's 36 rows sent whole, or split over three addresses, after an honest update: the
    honest update's contribution is the same either way (commit order fixes what it is valued on), and
    the parts' signed contributions telescope to their joint gain over it. (Flooring at zero still lets
    parts whose gains straddle zero take a share: PROTOCOL §4.7.)"""
    honest, mine = rows(100, 112), rows(0, 36)
    first = []
    for parts in ([mine], [rows(0, 12), rows(12, 24), rows(24, 36)]):
        m = Market(engine=Engine())
        job = create(m, 1000, "sequential", quota=len(parts) + 1, per_round=1000)
        done = send(m, job, [(WHO[7], b"", honest), *[(WHO[k], b"", part) for k, part in enumerate(parts)]])
        recomputed = Recomputed(m, job, 0, MIN_SCORE, 1000)
        check_payments(m, done, recomputed)
        contributions = {args[1]: args[6] for args in notice_args(done, "ContributionMeasured")}
        first.append(contributions[1])
        everyone = frozenset(contributions)
        assert sum(c for i, c in contributions.items() if i > 1) == recomputed.v(everyone) - recomputed.v(frozenset({1}))
    assert first[0] == first[1] > 0


def test_cancelling_values_and_pays_the_open_round():
    m = Market(engine=Engine())
    job = create(m, 1000, "loo", rounds=3, quota=4, per_round=600)
    send(m, job, [(WHO[0], b"", rows(0, 15)), (WHO[1], b"", rows(15, 45))])
    done = m.call(SPONSOR, "cancelJob", job)
    assert done.accepted and "JobCancelled" in notice_names(done)
    amounts = check_payments(m, done, Recomputed(m, job, 0, MIN_SCORE, 600))
    assert notice_args(done, "JobCancelled")[0][1] == 1000 - sum(amounts.values())


def poisoned(honest: bytes, scale: float = 5.0) -> bytes:
    """An update that meets the bar alone but drags any average it joins towards a worse model: the
    honest weights with their largest coefficients flipped, scaled up."""
    model = read_model(honest)
    coef = model.arrays["coef"].copy()
    strongest = np.argsort(-np.abs(coef[0]))[:6]
    coef[0, strongest] *= -1
    arrays = dict(model.arrays, coef=scale * coef, intercept=scale * model.arrays["intercept"])
    return write_model(Model(model.spec, model.features, arrays))


@pytest.mark.parametrize("rule, extra", [("loo", {}), ("shapley", {"permutations": 30})])
def test_a_poisoned_update_that_meets_the_bar_alone_is_paid_nothing_and_never_charged(rule, extra):
    """A job from a trained base (v(∅) its score): the weights-only poison passes the bar (the global
    score - tolerance) and the distance bound, but lowers every average it joins."""
    m = Market(engine=Engine())
    base = weights_only(rows(300, 330))
    job = create(m, 1000, rule, base=base, quota=3, per_round=1000, **extra)
    bad = poisoned(weights_only(rows(200, 260)))
    empty = score(arrays_of(base), "accuracy")
    assert empty - 200_000 <= score(arrays_of(bad), "accuracy") < empty
    done = send(m, job, [(WHO[0], b"", rows(0, 60)), (WHO[1], bad, b""), (WHO[2], b"", rows(60, 120))])
    amounts = check_payments(m, done, Recomputed(m, job, 0, empty, 1000))
    contributions = {args[1]: args[6] for args in notice_args(done, "ContributionMeasured")}
    assert contributions[2] < 0 and amounts[2] == 0
    assert amounts[1] + amounts[3] == 1000
    assert 2 not in [args[1] for args in notice_args(done, "RewardPaid")]
    assert m.inspect(f"balances/{WHO[1].hex}")["balances"] == {}  # nothing credited, nothing taken


def test_updates_that_resend_the_global_model_add_nothing_and_the_pool_stays_for_the_refund():
    """A stranger's cheapest updates: the global model itself, and a copy nudged in its last bits (other
    bytes). Every coalition scores what the global model scores: every contribution is 0, nobody is
    paid, and the budget is refunded when the job ends."""
    m = Market(engine=Engine())
    base = weights_only(rows(0, 300))
    job = create(m, 1000, "shapley", base=base, quota=2, per_round=1000, permutations=10)
    again = nudged(base)
    assert again != base and score(arrays_of(again), "accuracy") == score(arrays_of(base), "accuracy")
    done = send(m, job, [(WHO[0], base, b""), (WHO[1], again, b"")])
    amounts = check_payments(m, done, Recomputed(m, job, 0, score(arrays_of(base), "accuracy"), 1000))
    assert [args[6] for args in notice_args(done, "ContributionMeasured")] == [0, 0]
    assert amounts == {1: 0, 2: 0} and "RewardPaid" not in notice_names(done)
    (settled,) = notice_args(done, "JobSettled")
    assert settled[2:] == (0, 1000) and token_payments(done) == [(SPONSOR, 1000)]


def test_tied_contributions_split_the_odd_unit_to_the_earlier_submission():
    """Two function-identical updates (the same rows reordered) valued over orders where each goes first
    equally often get equal contributions; an odd pool's last unit goes to the smaller id."""
    pool, copy = 101, rows(0, 40)
    count = next(p for p in range(2, 200, 2)
                 if sum(o[0] == 1 for o in orders(1, 0, [1, 2], p)) == p // 2)
    m = Market(engine=Engine())
    job = create(m, pool, "shapley", quota=2, per_round=pool, permutations=count)
    assert job == 1  # the orders above were drawn for job 1
    done = send(m, job, [(WHO[0], b"", copy), (WHO[1], b"", shuffled(copy, 3))])
    amounts = check_payments(m, done, Recomputed(m, job, 0, MIN_SCORE, pool))
    contributions = [args[6] for args in notice_args(done, "ContributionMeasured")]
    assert contributions[0] == contributions[1] > 0
    assert amounts == {1: 51, 2: 50}


# --- the creation bound ------------------------------------------------------------------------------

def create_call(m: Market, **overrides):
    validation = m.put(SPONSOR, VALIDATION)
    base = m.put(SPONSOR, json.dumps(LOGISTIC).encode())
    s = spec(policy="rounds", rounds=1, round_duration=500, validation_cid=validation, base_model_cid=base,
             reward_per_accept=100, **overrides)
    return m.deposit(TOKEN, SPONSOR, 100, INPUTS.encode("createJob", TOKEN.raw, 100, spec_tuple(s))), s


@pytest.mark.parametrize("overrides, field", [
    (dict(reward="loo", round_quota=64), "round_quota"),
    (dict(reward="shapley", round_quota=12, permutations=1000), "permutations"),
    (dict(reward="shapley", round_quota=64, permutations=2), "round_quota"),
])
def test_a_job_whose_round_valuation_cannot_fit_one_input_is_refused_with_the_largest_value_that_fits(
        overrides, field):
    m = Market(engine=Engine(isolate=False))
    done, _ = create_call(m, **overrides)
    assert "JobCreated" not in notice_names(done)
    error = json.loads(done.reports[-1])["error"]
    assert error["code"] == "bad_spec" and "machine cycles" in error["message"]
    named, most = re.search(r": (\w+) \d+, at most (\d+) fit$", error["message"]).groups()
    assert named == field
    accepted, _ = create_call(m, **dict(overrides, **{field: int(most)}))
    assert "JobCreated" in notice_names(accepted)
    refused, _ = create_call(m, **dict(overrides, **{field: int(most) + 1}))
    assert "JobCreated" not in notice_names(refused)
    assert json.loads(refused.reports[-1])["error"]["code"] == "bad_spec"


def test_the_preflight_reports_the_valuation_bound_with_its_fix():
    m = Market(engine=Engine(isolate=False))
    validation, base = cid_of(VALIDATION), cid_of(json.dumps(LOGISTIC).encode())
    s = spec(policy="rounds", rounds=1, round_duration=500, validation_cid=validation, base_model_cid=base,
             reward_per_accept=100, reward="shapley", round_quota=12, permutations=1000)
    payload = INPUTS.encode("createJob", TOKEN.raw, 100, spec_tuple(s))
    files = "".join(f"&content=0x{f.hex()}" for f in (VALIDATION, json.dumps(LOGISTIC).encode()))
    answer = m.inspect(f"preflight/job?sender={SPONSOR.hex}&now={NOW}&input=0x{payload.hex()}"
                       f"&deposit=100&token={TOKEN.hex}{files}")
    assert answer["accepted"] is False
    (problem,) = [p for p in answer["problems"] if p["field"] == "permutations"]
    assert problem["code"] == "bad_spec" and problem["fix"].startswith("set permutations to at most")


def test_every_coalition_a_round_can_form_is_valued_at_most_once():
    """A 3-update round valued over 500 permutations scores each of its 2^3 - 1 non-empty coalitions
    once (the round's own aggregate included): the engine's scoring calls are counted."""
    engine = Engine()
    calls = []
    original = engine.score

    def counted(**kw):
        calls.append(kw.get("train") is None)
        return original(**kw)
    engine.score = counted
    m = Market(engine=engine)
    job = create(m, 1000, "shapley", quota=3, per_round=1000, permutations=500)
    send(m, job, [(WHO[0], b"", rows(0, 20)), (WHO[1], b"", rows(20, 40))])
    before = len(calls)
    m.submit(WHO[2], job, b"", m.put(WHO[2], rows(40, 60)))
    assert calls[before] is False  # the closing update's own training and scoring
    assert len(calls) - before - 1 == 2**3 - 1 and all(calls[before + 1:])
