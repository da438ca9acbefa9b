"""What measuring contributions costs (docs/PROTOCOL.md §4.7): a 10-update round of a federated
LogisticRegression job on breast cancer (10 data-only updates of 40 rows, validation 169 rows).

1. Closing the round with plain FedAvg (one aggregation + one scoring), against valuing it by ``loo``
   and by ``shapley`` for a few permutation counts: coalitions evaluated (memoized, the round's own
   aggregate shared), wall time with the sandboxed engine the machine runs, and the extra work as a
   ratio to FedAvg.
2. The constants of the creation bound (``dapp.domain.contribution``), against what one evaluation
   costs natively in process (its fixed part, each model aggregated, each byte, each Shapley step) and
   what that would be in the machine, 200 times slower (see the constants' comment there).
3. The largest round (``round_quota``) each rule fits in one input under the creation bound, for an
   untrained and a trained base.

Run: ``.venv/bin/python -m bench contribution`` (or ``python bench/contribution.py``). Figures only,
no timed assertions.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench._summary import record
from bench._table import print_table
from dapp.domain import contribution, round_rewards
from dapp.domain.limits import Limits
from dapp.domain.records import Submission
from dapp.domain.seeds import round_seed, shapley_orders
from dapp.domain.values import Address
from tests.support.market import spec

UPDATES, ROWS = 10, 40
PERMUTATIONS = (1, 5, 20, 50)
MACHINE_RATIO = 200  # machine seconds per native second of Python-bound work (contribution.py's comment)
CYCLES_PER_SECOND = 128_000_000
LOGISTIC = json.dumps({"estimator": "LogisticRegression", "params": {"max_iter": 200}}).encode()


def dataset() -> tuple[list[bytes], bytes]:
    """Ten training CSVs of 40 rows and the validation CSV (169 rows), breast cancer standardised."""
    import numpy as np
    from sklearn.datasets import load_breast_cancer

    from tests.integration.test_market_real_engine import to_csv

    data = load_breast_cancer()
    X = (data.data - data.data.mean(0)) / data.data.std(0)
    order = np.random.default_rng(3).permutation(len(data.target))
    X, y = X[order], data.target[order]
    columns = [f"f{i}" for i in range(X.shape[1])]
    parts = [to_csv(X[i * ROWS:(i + 1) * ROWS], y[i * ROWS:(i + 1) * ROWS], columns) for i in range(UPDATES)]
    return parts, to_csv(X[UPDATES * ROWS:], y[UPDATES * ROWS:], columns)


def _best(call: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        call()
        times.append(time.perf_counter() - began)
    return min(times)


class Round:
    """The round's updates and a value function over them, as ``dapp.domain.round_rewards`` builds it."""

    def __init__(self, engine, updates: list[bytes], validation: bytes) -> None:
        self.engine, self.updates, self.validation = engine, updates, validation
        self.subs = [Submission(1, i + 1, Address(bytes(20)), b"", b"d", 0, samples=ROWS)
                     for i in range(UPDATES)]
        self.ids = [s.id for s in self.subs]

    def score_of(self, members: list[Submission], weights: list[int]) -> int:
        merged = self.engine.aggregate([(self.updates[s.id - 1], w) for s, w in zip(members, weights)])
        return self.engine.score(task="classification", metric="accuracy", label="target",
                                 validation=self.validation, model=merged, seed=round_seed(1, 0)).score

    def memo(self, whole: int) -> contribution.Memo:
        value = round_rewards.coalition_value(self.subs, [ROWS] * UPDATES, 500_000, self.score_of)
        return contribution.Memo(value, {frozenset(): 500_000, frozenset(self.ids): whole})


def valuation_times(engine, updates: list[bytes], validation: bytes) -> list[tuple[str, int, float]]:
    """(rule, coalitions evaluated, seconds) for FedAvg, sequential, loo and shapley at each of PERMUTATIONS."""
    game = Round(engine, updates, validation)
    fedavg = statistics.median(_best(lambda: game.score_of(game.subs, [ROWS] * UPDATES), 1) for _ in range(5))
    whole = game.score_of(game.subs, [ROWS] * UPDATES)
    rows = [("fedavg (aggregate + score)", 1, fedavg)]
    for rule, value in (("sequential", contribution.sequential), ("loo", contribution.leave_one_out)):
        memo = game.memo(whole)
        began = time.perf_counter()
        value(game.ids, memo, "accuracy")
        rows.append((rule, memo.evaluated + 1, time.perf_counter() - began + fedavg))
    for p in PERMUTATIONS:
        memo = game.memo(whole)
        began = time.perf_counter()
        contribution.shapley(game.ids, memo, "accuracy", shapley_orders(1, 0, game.ids, p))
        rows.append((f"shapley P={p}", memo.evaluated + 1, time.perf_counter() - began + fedavg))
    return rows


def native_costs(updates: list[bytes], validation: bytes) -> dict[str, float]:
    """Seconds, natively in process: one evaluation's fixed part, each model aggregated, each byte
    (from a 50x larger model's aggregation), one Shapley step (drawing orders, walking them)."""
    from dapp.ml.engine import Engine

    engine = Engine(isolate=False)
    game = Round(engine, updates, validation)
    one = _best(lambda: game.score_of(game.subs[:1], [ROWS]), 30)
    ten = _best(lambda: game.score_of(game.subs, [ROWS] * UPDATES), 30)
    per_model = (ten - one) / (UPDATES - 1)
    ids = list(range(1, 65))
    orders = _best(lambda: contribution.shapley(ids, lambda s: len(s), "accuracy",
                                                shapley_orders(1, 0, ids, 100)), 3)
    return {"fixed": one - per_model, "per_model": per_model, "bytes": len(updates[0]),
            "step": orders / (100 * len(ids))}


def largest_rounds(engine, validation: bytes, trained_base: bytes) -> list[tuple[str, str, str]]:
    """(rule, largest quota with an untrained base, with a trained base) under the creation bound."""
    budget = round_rewards.budget(Limits())
    job_spec = spec(policy="rounds", rounds=1, round_quota=1, round_duration=100)
    found = {"untrained": round_rewards.costs(engine, job_spec, LOGISTIC, False, validation),
             "trained": round_rewards.costs(engine, job_spec, trained_base, True, validation)}
    rules = [("sequential", 0), ("loo", 0), *(("shapley", p) for p in (1, 10, 100, 1000))]
    rows = []
    for rule, p in rules:
        fits = [max((q for q in range(1, 65) if contribution.work(rule, q, p, costs) <= budget), default=0)
                for costs in found.values()]
        rows.append((f"shapley P={p}" if rule == "shapley" else rule, *map(str, fits)))
    return rows


def main() -> None:
    from dapp.ml.engine import Engine

    engine = Engine()
    parts, validation = dataset()
    updates = [engine.score(task="classification", metric="accuracy", label="target", validation=validation,
                            model=LOGISTIC, train=part, seed=i).model_bytes for i, part in enumerate(parts)]
    print(f"a round of {UPDATES} data-only LogisticRegression updates ({ROWS} rows each), sandboxed engine:")
    rows = valuation_times(engine, updates, validation)
    base = rows[0][2]
    print_table([("closing the round", "coalitions", "seconds", "x fedavg"),
                 *((name, str(n), f"{s:.3f}", f"{s / base:.1f}") for name, n, s in rows)])
    times = {name: seconds for name, _, seconds in rows}
    record("loo / shapley P=20 over FedAvg, 10 updates",
           f"{times['loo'] / base:.1f}x / {times['shapley P=20'] / base:.1f}x")

    native = native_costs(updates, validation)
    scale = MACHINE_RATIO * CYCLES_PER_SECOND

    def cycles(seconds: float) -> str:
        return f"{seconds * scale / 1e6:.1f} M"
    print("\nthe bound's constants against native in-process costs (x200 = the machine, estimated):")
    print_table([("part", "native", "machine (x200)", "constant"),
                 ("evaluation, fixed", f"{native['fixed'] * 1e3:.3f} ms", cycles(native["fixed"]),
                  f"{contribution.EVALUATION_CYCLES / 1e6:.0f} M"),
                 ("each model aggregated", f"{native['per_model'] * 1e3:.3f} ms", cycles(native["per_model"]),
                  f"{contribution.MODEL_CYCLES / 1e6:.0f} M + {contribution.BYTE_CYCLES}"
                  f" x {native['bytes']} B"),
                 ("shapley step", f"{native['step'] * 1e6:.2f} us", cycles(native["step"]),
                  f"{contribution.STEP_CYCLES / 1e6:.1f} M")])

    budget = round_rewards.budget(Limits())
    print(f"\nthe largest round_quota that fits one input ({budget:.3g} cycles for the valuation), this job:")
    table = largest_rounds(engine, validation, engine.aggregate([(u, ROWS) for u in updates]))
    print_table([("rule", "untrained base", "trained base"), *table])
    record("largest round_quota, loo / shapley P=10 (trained base)", f"{table[0][2]} / {table[2][2]}")


if __name__ == "__main__":
    main()
