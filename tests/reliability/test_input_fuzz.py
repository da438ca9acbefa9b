"""Input fuzzing through ``App.advance`` (the call the rollup loop makes), with the real ML engine.

Every input is answered: accepted, or rejected with exactly one JSON report ``{"ok": false,
"error": {"code", "message"}}`` whose code names the problem. No error report, in a rejection or
inside an accepted input (a portal deposit stands even when the call it carries fails: that failure
is an error report of the accepted input), is ever ``internal_error`` (an exception the backend did
not expect), and no exception escapes ``advance``. Two sources of inputs:

- a plain seeded loop of ``RANDOM_INPUTS`` requests from ``random_inputs.InputFuzzer`` through one
  ``App``, so that state builds up (deposits, stored contents, jobs, submissions that train);
- Hypothesis: sequences of protocol calls whose arguments come from eth-abi's own strategies for
  each argument type (``eth_abi.tools.get_abi_strategy``), sent by accounts or the portals (as
  ``execLayerData``), on a fresh funded ``App`` per example.

The seed of the loop is ``$RELIABILITY_SEED`` or a fresh one; it is printed with the figures.
"""

from __future__ import annotations

import json
import os
import random
import time
import traceback
from collections import Counter

import pytest
from eth_abi.tools import get_abi_strategy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dapp.app import App, Result
from dapp.codec import abi
from dapp.codec.chunks import plan_upload
from dapp.codec.outputs import Notice, Report, Voucher, error_report
from dapp.config import Config
from dapp.ml.engine import Engine
from tests.reliability.random_inputs import ACCOUNTS, CONTENTS, InputFuzzer
from tests.support.market import NOW, spec, spec_tuple
from tests.support.rollup import PORTALS, TOKEN, erc20_deposit, ether_deposit, v2_metadata

RANDOM_INPUTS = 20_000
NOTICE_NAMES = {f.selector: f.name for f in abi.notices().by_name.values()}
HYPOTHESIS_EXAMPLES = 1_500
ACCEPTED, CALL_FAILED, REJECTED = "accepted", "accepted, attached call failed", "rejected"


class InternalErrorReported(AssertionError):
    """An answer carried an ``internal_error`` report; the message is its traceback."""


def check_answer(result: Result) -> tuple[str, str]:
    """Asserts the answer is well formed and that none of its error reports (``ok: false``), whether
    the input was rejected or accepted, has the code ``internal_error`` (``InternalErrorReported``).
    Returns ``(outcome, code)``: ``(ACCEPTED, "")``; ``(CALL_FAILED, code)`` for an accepted input
    with an error report (a deposit whose attached call failed); ``(REJECTED, code)``."""
    assert isinstance(result, Result)
    errors = []
    for output in result.outputs:
        assert isinstance(output, Notice | Voucher | Report)
        if isinstance(output, Report):
            body = json.loads(output.payload)
            assert isinstance(body, dict)
            if body.get("ok") is False:
                assert body["error"]["code"] and body["error"]["message"], body
                errors.append(body["error"])
    for error in errors:
        if error["code"] == "internal_error":
            raise InternalErrorReported(error.get("traceback", error["message"]))
    if result.accept:
        assert len(errors) <= 1, errors
        return (CALL_FAILED, errors[0]["code"]) if errors else (ACCEPTED, "")
    assert len(result.outputs) == 1 and len(errors) == 1, result.outputs
    return REJECTED, errors[0]["code"]


def _deposit_creating_a_job(app: App, index: int, validation_cid: bytes) -> Result:
    call = abi.inputs().encode("createJob", TOKEN.raw, 100, spec_tuple(spec(validation_cid=validation_cid)))
    return app.advance(v2_metadata(PORTALS.erc20, index), "0x" + erc20_deposit(TOKEN, ACCOUNTS[0], 100, call).hex())


def test_the_check_finds_an_internal_error_in_a_rejection_and_inside_an_accepted_deposit():
    with pytest.raises(InternalErrorReported, match="the traceback"):
        check_answer(Result([error_report("internal_error", "unexpected", traceback="the traceback")], accept=False))
    app = App(Config())  # no ML engine: creating a job on stored data calls it, and the handler raises
    upload = plan_upload(CONTENTS[0])
    (chunk,) = upload.chunks
    assert check_answer(app.advance(v2_metadata(ACCOUNTS[0], 0), "0x" + chunk.payload.hex())) == (ACCEPTED, "")
    outcome, code = check_answer(_deposit_creating_a_job(app, 1, plan_upload(b"never uploaded").cid))
    assert outcome == CALL_FAILED and code not in ("", "internal_error")
    broken = _deposit_creating_a_job(app, 2, upload.cid)
    assert broken.accept
    with pytest.raises(InternalErrorReported, match="Traceback"):
        check_answer(broken)


def test_twenty_thousand_random_inputs_are_all_answered_without_an_internal_error(figures):
    seed = int(os.environ.get("RELIABILITY_SEED") or random.SystemRandom().randrange(2**32))
    fuzzer, app = InputFuzzer(seed), App(Config(), engine=Engine())
    outcomes: dict[str, Counter[str]] = {}  # kind -> outcome -> inputs
    codes = {REJECTED: Counter(), CALL_FAILED: Counter()}
    notices: Counter[str] = Counter()
    internal: list[str] = []  # the inputs answered with an internal_error report, with its traceback
    escaped: list[str] = []  # the inputs whose advance raised, with the traceback
    began = time.perf_counter()
    for n in range(RANDOM_INPUTS):
        kind, metadata, payload = fuzzer.next()
        where = f"seed {seed}, input {n} ({kind})"
        try:
            result = app.advance(metadata, payload)
        except Exception:  # noqa: BLE001 -- counted; the test fails on it after the figures
            escaped.append(f"{where}: {traceback.format_exc()}")
            continue
        try:
            outcome, code = check_answer(result)
        except InternalErrorReported as exc:
            internal.append(f"{where}: {exc}")
            continue
        except AssertionError as exc:
            raise AssertionError(f"{where}: {exc}") from None
        if result.accept:
            fuzzer.saw(result.outputs)
            notices.update(NOTICE_NAMES[o.payload[:4]] for o in result.outputs if isinstance(o, Notice))
        outcomes.setdefault(kind, Counter())[outcome] += 1
        if code:
            codes[outcome][code] += 1
    elapsed = time.perf_counter() - began

    def accepted(c: Counter[str]) -> int:
        return c[ACCEPTED] + c[CALL_FAILED]

    tried = sum(sum(c.values()) for c in outcomes.values()) + len(internal) + len(escaped)
    accepted_all = sum(accepted(c) for c in outcomes.values())
    rejected = sum(c[REJECTED] for c in outcomes.values())
    failed_calls = {k: c[CALL_FAILED] for k, c in sorted(outcomes.items()) if c[CALL_FAILED]}
    figures("seed ($RELIABILITY_SEED)", str(seed))
    figures("inputs tried", tried)
    figures("accepted / rejected", f"{accepted_all:,} / {rejected:,}")
    figures("accepted with a failed attached call", f"{sum(failed_calls.values()):,} ("
            + ", ".join(f"{k} {v:,}" for k, v in failed_calls.items()) + ")")
    figures("internal errors, escaped exceptions", f"{len(internal)}, {len(escaped)}")
    figures("distinct rejection codes", len(codes[REJECTED]))
    figures("by kind (tried, accepted)", ", ".join(f"{k} {sum(c.values()):,}/{accepted(c):,}"
                                                   for k, c in sorted(outcomes.items())))
    figures("most frequent codes", ", ".join(f"{k} {v:,}" for k, v in codes[REJECTED].most_common(8)))
    figures("failed attached calls' codes", ", ".join(f"{k} {v:,}" for k, v in codes[CALL_FAILED].most_common(8)))
    figures("notices emitted", ", ".join(f"{k} {v:,}" for k, v in notices.most_common()))
    figures("seconds", f"{elapsed:.1f}")
    assert not internal, f"{len(internal)} internal_error reports; the first: {internal[0]}"
    assert not escaped, f"{len(escaped)} exceptions escaped advance; the first: {escaped[0]}"
    assert tried == RANDOM_INPUTS
    assert accepted_all > RANDOM_INPUTS // 20, "the fuzzer should reach deep paths, not only be rejected"


def _call_strategy(function: abi.Function) -> st.SearchStrategy[bytes]:
    return st.tuples(*(get_abi_strategy(t) for t in function.arg_types)).map(lambda args: function.encode(*args))


CALLS = st.one_of(*(_call_strategy(f) for f in abi.inputs().by_name.values()))
AMOUNTS = st.integers(0, 10**30)
SENT = st.one_of(
    st.tuples(st.sampled_from(ACCOUNTS), CALLS),
    st.tuples(st.just(PORTALS.ether), st.builds(ether_deposit, st.sampled_from(ACCOUNTS), AMOUNTS, CALLS)),
    st.tuples(st.just(PORTALS.erc20), st.builds(erc20_deposit, st.just(TOKEN), st.sampled_from(ACCOUNTS), AMOUNTS,
                                                CALLS)),
)


def test_hypothesis_call_sequences_with_abi_typed_arguments_are_all_answered(figures):
    tried: Counter[str] = Counter()  # outcome -> inputs
    codes = {REJECTED: Counter(), CALL_FAILED: Counter()}
    engine = Engine()

    @settings(max_examples=HYPOTHESIS_EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.lists(SENT, min_size=1, max_size=6))
    def sequence(inputs):
        app = App(Config(), engine=engine)
        funding = [(PORTALS.erc20, erc20_deposit(TOKEN, a, 10**24)) for a in ACCOUNTS]
        for index, (sender, payload) in enumerate(funding + inputs):
            metadata = v2_metadata(sender, index, NOW + 10 * index, 100 + index)
            outcome, code = check_answer(app.advance(metadata, "0x" + payload.hex()))
            if index >= len(funding):
                tried[outcome] += 1
                if code:
                    codes[outcome][code] += 1

    began = time.perf_counter()
    sequence()
    total = sum(tried.values())
    assert total >= HYPOTHESIS_EXAMPLES
    figures("examples (sequences)", HYPOTHESIS_EXAMPLES)
    figures("inputs tried", total)
    figures("accepted", tried[ACCEPTED] + tried[CALL_FAILED])
    figures("accepted with a failed attached call", tried[CALL_FAILED])
    figures("most frequent codes", ", ".join(f"{k} {v:,}" for k, v in codes[REJECTED].most_common(5)))
    figures("failed attached calls' codes", ", ".join(f"{k} {v:,}" for k, v in codes[CALL_FAILED].most_common(5)))
    figures("seconds", f"{time.perf_counter() - began:.1f}")
