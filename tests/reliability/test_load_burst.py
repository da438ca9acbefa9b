"""A burst of inputs through the local node (real anvil with automine, the real backend ``python -m
dapp``): every input processed, in order, with its status and exactly its outputs (``burst.py``).
200 inputs run in ``make test``; the 2,000-input burst is marked ``reliability``."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from web3 import Web3

from devnode.node import Node, NodeConfig
from tests.reliability.burst import check_burst, plan_burst, send_burst, wait_processed

pytestmark = pytest.mark.e2e


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    started = Node(NodeConfig(state_dir=tmp_path / "state", port=0, anvil_port=0)).start()
    try:
        yield started
    finally:
        started.stop()


def burst(node: Node, count: int, figures) -> None:
    """Plans, sends, waits for and checks a burst of ``count`` inputs; records its figures."""
    assert node.deployment is not None
    w3 = Web3(Web3.HTTPProvider(node.rpc_url, request_kwargs={"timeout": 60}))
    url, app = node.info()["reader_url"], node.deployment.application
    planned = plan_burst(w3, node.deployment, count, seed=count)
    began = time.perf_counter()
    sending, flushed = send_burst(node.rpc_url, planned)
    done = wait_processed(url, app, count, timeout=120 + count * 0.2)
    kinds = check_burst(url, app, planned)
    assert node.failure is None
    elapsed = done - began
    figures("inputs sent (accounts)", f"{count:,} ({len({p.sender for p in planned})})")
    figures("by kind", ", ".join(f"{k} {v}" for k, v in Counter(p.kind for p in planned).most_common()))
    figures("statuses", ", ".join(f"{k} {v}" for k, v in Counter(p.status for p in planned).most_common()))
    figures("outputs checked", ", ".join(f"{k}s {v}" for k, v in kinds.most_common()))
    figures("send s (automine)", f"{sending:.1f}")
    figures("blocks mined by hand to flush anvil's pool", flushed)
    figures("first send -> last processed s", f"{elapsed:.1f}")
    figures("inputs/s end to end", f"{count / elapsed:.0f}")


def test_burst_of_200_inputs_is_processed_in_order_with_every_output(node: Node, figures):
    burst(node, 200, figures)


@pytest.mark.reliability
def test_burst_of_2000_inputs_is_processed_in_order_with_every_output(node: Node, figures):
    burst(node, 2_000, figures)
