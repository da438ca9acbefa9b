"""No byte string, metadata or request shape makes the backend raise: it rejects with a report."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dapp.app import App
from dapp.codec import abi
from dapp.rollup.fake import FakeRollup, Finished
from dapp.rollup.loop import serve
from tests.support.rollup import ALICE, PORTALS, PORTALS_V1, v1_metadata, v2_metadata

SENDERS = [ALICE, PORTALS.erc20, PORTALS.ether, PORTALS_V1.erc20, PORTALS_V1.app_address_relay]
SELECTORS = [f.selector for f in abi.inputs().by_name.values()]

payloads = st.one_of(
    st.binary(max_size=400),
    st.tuples(st.sampled_from(SELECTORS), st.binary(max_size=400)).map(lambda t: t[0] + t[1]),
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)


def check_reports_are_json(rollup: FakeRollup) -> None:
    for done in rollup.done:
        for report in done.reports:
            assert isinstance(json.loads(report), dict)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sender=st.sampled_from(SENDERS), payload=payloads, v1=st.booleans())
def test_random_payloads_never_raise(sender, payload, v1):
    app = App()
    meta = (v1_metadata if v1 else v2_metadata)(sender, 0)
    result = app.advance(meta, "0x" + payload.hex())
    if not result.accept:
        (report,) = result.outputs
        assert json.loads(report.payload)["ok"] is False


@settings(max_examples=200, deadline=None)
@given(request=json_values)
def test_random_requests_never_raise_in_the_loop(request):
    rollup = FakeRollup()
    rollup.current = Finished({})
    accepted = serve(App(), rollup, request)
    assert accepted in (True, False)


@settings(max_examples=200, deadline=None)
@given(payload=st.binary(max_size=200))
def test_random_inspect_payloads_answer_json(payload):
    (report,) = App().inspect("0x" + payload.hex())
    assert isinstance(json.loads(report.payload), dict)
