"""Figures of the pre-flight dry runs (inspect ``preflight/…``, native, in-process engine): the time
``App.inspect`` takes to answer a job whose validation CSV goes inline (10 KiB to the ~1 MiB a 2 MiB
query allows) and a submission (commit and reveal checks, then with ``score=1`` the real training),
and the size of the query the client sends. The Cartesi machine is about 100x slower natively.

Run: ``.venv/bin/python -m bench.preflight``.
"""

from __future__ import annotations

import json
import statistics
import time

from bench._summary import record
from bench._table import print_table
from dapp.app import App
from dapp.codec.abi import inputs
from dapp.codec.cid import cid_of
from dapp.codec.commitment import submission_commitment
from dapp.codec.hexbytes import to_hex
from dapp.config import Config
from dapp.ml.engine import Engine
from tests.support.market import CAROL, NOW, SPONSOR, Market, spec, spec_tuple
from tests.support.rollup import TOKEN

RUNS = 5
MODEL = json.dumps({"estimator": "DecisionTreeClassifier", "params": {"max_depth": 3}}).encode()
SALT = b"\x01" * 32


def csv(size: int) -> bytes:
    """A numeric CSV of about ``size`` bytes (4 features, a binary label)."""
    rows = ["a,b,c,d,target"]
    i = 0
    while sum(map(len, rows)) + len(rows) < size:
        rows.append(f"{i % 97}.25,{i % 13},{(i * 7) % 101}.5,{i % 5},{i % 2}")
        i += 1
    return ("\n".join(rows) + "\n").encode()


def timed(app: App, query: str) -> tuple[float, float, dict]:
    """Milliseconds of the first answer (files not yet decoded by the engine's cache) and the median
    of ``RUNS`` answers, and the answer."""
    times, answer = [], {}
    for _ in range(RUNS):
        start = time.perf_counter()
        (report,) = app.inspect(to_hex(query.encode()))
        times.append((time.perf_counter() - start) * 1000)
        answer = json.loads(report.payload)
    assert answer.get("ok") is True, answer
    return times[0], statistics.median(times), answer


def main() -> None:
    app = App(Config(), engine=Engine(isolate=False))
    rows = [("dry run", "query bytes", "first ms", "median ms", "accepted")]
    for size in (10 << 10, 256 << 10, 1000 << 10):
        data = csv(size)
        payload = inputs().encode("createJob", TOKEN.raw, 1000, spec_tuple(spec(validation_cid=cid_of(data))))
        query = (f"preflight/job?sender={SPONSOR.hex}&now={NOW}&input={to_hex(payload)}&deposit=1000"
                 f"&token={TOKEN.hex}&content={to_hex(data)}")
        first, ms, answer = timed(app, query)
        rows.append((f"job, {len(data) >> 10} KiB validation inline", f"{len(query):,}", f"{first:.1f}",
                     f"{ms:.1f}", str(answer["accepted"])))
        if size == 1000 << 10:
            record("preflight/job, ~1 MiB CSV inline (first)", f"{first:.0f} ms")
    train, validation = csv(64 << 10), csv(32 << 10)
    market = Market(engine=Engine(isolate=False))
    job = market.create_job(1000, validation_cid=market.put(SPONSOR, validation))
    app = market.app
    mc, dc = cid_of(MODEL), cid_of(train)
    commit = inputs().encode("commitSubmission", job, submission_commitment(CAROL.hex, job, mc, dc, SALT))
    reveal = inputs().encode("revealSubmission", job, mc, dc, SALT)
    base = (f"preflight/submission?sender={CAROL.hex}&now={NOW}&input={to_hex(commit)}"
            f"&reveal={to_hex(reveal)}&content={to_hex(MODEL)}&content={to_hex(train)}")
    for label, query in (("submission, checks (64 KiB data inline)", base),
                         ("submission, score=1 (trains and scores)", base + "&score=1")):
        first, ms, answer = timed(app, query)
        rows.append((label, f"{len(query):,}", f"{first:.1f}", f"{ms:.1f}", str(answer["accepted"])))
        record(f"preflight/{label} (first)", f"{first:.0f} ms")
    print_table(rows)


if __name__ == "__main__":
    main()
