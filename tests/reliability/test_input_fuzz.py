"""Input fuzzing through ``App.advance`` (the call the rollup loop makes), with the real ML engine.

Every input is answered: accepted, or rejected with exactly one JSON report ``{"ok": false,
"error": {"code", "message"}}`` whose code names the problem; never ``internal_error`` (an exception
the backend did not expect), and no exception escapes ``advance``. Two sources of inputs:

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
from collections import Counter

from eth_abi.tools import get_abi_strategy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dapp.app import App, Result
from dapp.codec import abi
from dapp.codec.outputs import Notice, Report, Voucher
from dapp.config import Config
from dapp.ml.engine import Engine
from tests.reliability.random_inputs import ACCOUNTS, PORTALS, TOKEN, InputFuzzer

RANDOM_INPUTS = 20_000
NOTICE_NAMES = {f.selector: f.name for f in abi.notices().by_name.values()}
HYPOTHESIS_EXAMPLES = 1_500


def check_answer(result: Result) -> str:
    """Asserts the answer is well formed; returns ``"accepted"`` or the rejection's error code."""
    assert isinstance(result, Result)
    for output in result.outputs:
        assert isinstance(output, Notice | Voucher | Report)
        if isinstance(output, Report):
            assert isinstance(json.loads(output.payload), dict)
    if result.accept:
        return "accepted"
    (report,) = result.outputs
    body = json.loads(report.payload)
    assert body["ok"] is False and body["error"]["message"], body
    code = body["error"]["code"]
    assert code != "internal_error", body["error"].get("traceback", body)
    return code


def test_twenty_thousand_random_inputs_are_all_answered_without_an_internal_error(figures):
    seed = int(os.environ.get("RELIABILITY_SEED") or random.SystemRandom().randrange(2**32))
    fuzzer, app = InputFuzzer(seed), App(Config(), engine=Engine())
    outcomes: dict[str, Counter[str]] = {}
    notices: Counter[str] = Counter()
    began = time.perf_counter()
    for n in range(RANDOM_INPUTS):
        kind, metadata, payload = fuzzer.next()
        result = app.advance(metadata, payload)
        try:
            answer = check_answer(result)
        except AssertionError as exc:
            raise AssertionError(f"seed {seed}, input {n} ({kind}): {exc}") from None
        if result.accept:
            fuzzer.saw(result.outputs)
            notices.update(NOTICE_NAMES[o.payload[:4]] for o in result.outputs if isinstance(o, Notice))
        outcomes.setdefault(kind, Counter())[answer] += 1
    elapsed = time.perf_counter() - began

    tried = sum(sum(c.values()) for c in outcomes.values())
    accepted = sum(c["accepted"] for c in outcomes.values())
    codes = sum((Counter({k: v for k, v in c.items() if k != "accepted"}) for c in outcomes.values()), Counter())
    assert tried == RANDOM_INPUTS
    assert accepted > RANDOM_INPUTS // 20, "the fuzzer should reach deep paths, not only be rejected"
    figures("seed ($RELIABILITY_SEED)", str(seed))
    figures("inputs tried", tried)
    figures("accepted / rejected", f"{accepted:,} / {tried - accepted:,}")
    figures("internal errors, escaped exceptions", "0, 0")
    figures("distinct rejection codes", len(codes))
    figures("by kind (tried, accepted)", ", ".join(f"{k} {sum(c.values()):,}/{c['accepted']:,}"
                                                   for k, c in sorted(outcomes.items())))
    figures("most frequent codes", ", ".join(f"{k} {v:,}" for k, v in codes.most_common(8)))
    figures("notices emitted", ", ".join(f"{k} {v:,}" for k, v in notices.most_common()))
    figures("seconds", f"{elapsed:.1f}")


def _call_strategy(function: abi.Function) -> st.SearchStrategy[bytes]:
    return st.tuples(*(get_abi_strategy(t) for t in function.arg_types)).map(lambda args: function.encode(*args))


CALLS = st.one_of(*(_call_strategy(f) for f in abi.inputs().by_name.values()))
SENT = st.one_of(
    st.tuples(st.sampled_from(ACCOUNTS), CALLS),
    st.tuples(st.just(PORTALS.ether), st.tuples(st.sampled_from(ACCOUNTS), st.integers(0, 10**30), CALLS).map(
        lambda t: t[0].raw + t[1].to_bytes(32, "big") + t[2])),
    st.tuples(st.just(PORTALS.erc20), st.tuples(st.sampled_from(ACCOUNTS), st.integers(0, 10**30), CALLS).map(
        lambda t: TOKEN.raw + t[0].raw + t[1].to_bytes(32, "big") + t[2])),
)


def _metadata(sender, index: int) -> dict:
    return {"chain_id": 31337, "app_contract": "0x" + "ab" * 20, "msg_sender": sender.hex,
            "block_number": 100 + index, "block_timestamp": 1_700_000_000 + 10 * index,
            "prev_randao": "0x" + "00" * 32, "input_index": index}


def test_hypothesis_call_sequences_with_abi_typed_arguments_are_all_answered(figures):
    tried: Counter[str] = Counter()
    engine = Engine()

    @settings(max_examples=HYPOTHESIS_EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.lists(SENT, min_size=1, max_size=6))
    def sequence(inputs):
        app = App(Config(), engine=engine)
        funding = [(PORTALS.erc20, TOKEN.raw + a.raw + (10**24).to_bytes(32, "big")) for a in ACCOUNTS]
        for index, (sender, payload) in enumerate(funding + inputs):
            answer = check_answer(app.advance(_metadata(sender, index), "0x" + payload.hex()))
            if index >= len(funding):
                tried[answer] += 1

    began = time.perf_counter()
    sequence()
    total = sum(tried.values())
    assert total >= HYPOTHESIS_EXAMPLES
    figures("examples (sequences)", HYPOTHESIS_EXAMPLES)
    figures("inputs tried", total)
    figures("accepted", tried["accepted"])
    figures("most frequent codes", ", ".join(f"{k} {v:,}" for k, v in tried.most_common(6) if k != "accepted"))
    figures("seconds", f"{time.perf_counter() - began:.1f}")
