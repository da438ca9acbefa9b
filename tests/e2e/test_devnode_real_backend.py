"""The local node with the real backend (``python -m dapp``): deposits through the real portals come
out as ``Deposited`` notices, and a restart replays them to byte-identical outputs."""

from __future__ import annotations

import pytest

from dapp.codec.abi import notices
from devnode import chain
from devnode.lifecycle import DEFAULT_BACKEND

from devnode_harness import (
    app_of,
    deployment_of,
    notice_payloads,
    outputs,
    reader_url,
    start_node,
    user,
    wait_processed,
    w3_of,
)

pytestmark = pytest.mark.e2e


def test_portal_deposits_become_notices_and_replay_identically(tmp_path):
    state = tmp_path / "state"
    node = start_node(state, tmp_path, backend=DEFAULT_BACKEND)
    try:
        w3, deployment, depositor = w3_of(node), deployment_of(node), user(3)
        chain.deposit_ether(w3, deployment, depositor, 5)
        chain.deposit_erc20(w3, deployment, depositor, 7)
        url, app = reader_url(node), app_of(node)
        wait_processed(url, app, 2, timeout=120)
        decoded = [notices().decode(p) for p in notice_payloads(url, app)]
        assert [(f.name, args[1].lower(), args[2]) for f, args in decoded] == [
            ("Deposited", depositor.address.lower(), 5), ("Deposited", depositor.address.lower(), 7)]
        assert decoded[1][1][0].lower() == deployment.token.lower()
        before = outputs(url, app)
    finally:
        node.stop()

    again = start_node(state, tmp_path, backend=DEFAULT_BACKEND)  # raises ReplayDivergence if not identical
    try:
        assert outputs(reader_url(again), app_of(again)) == before
    finally:
        again.stop()
