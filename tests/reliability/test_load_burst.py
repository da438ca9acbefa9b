"""A burst of inputs through the local node (real anvil with automine, the real backend ``python -m
dapp``): every input processed, in order, with its status and exactly its outputs (``burst.py``).
200 inputs run in ``make test``; the 2,000-input burst is marked ``reliability``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from devnode.node import Node, NodeConfig
from tests.reliability.burst import run_burst

pytestmark = pytest.mark.e2e


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    started = Node(NodeConfig(state_dir=tmp_path / "state", port=0, anvil_port=0)).start()
    try:
        yield started
    finally:
        started.stop()


def burst(node: Node, count: int, figures) -> None:
    """Runs a checked burst of ``count`` inputs (``run_burst``); records its figures."""
    run = run_burst(node, count, seed=count)
    figures("inputs sent (accounts)", f"{count:,} ({len({p.sender for p in run.planned})})")
    figures("by kind", ", ".join(f"{k} {v}" for k, v in Counter(p.kind for p in run.planned).most_common()))
    figures("statuses", ", ".join(f"{k} {v}" for k, v in Counter(p.status for p in run.planned).most_common()))
    figures("outputs checked", ", ".join(f"{k}s {v}" for k, v in run.outputs.most_common()))
    figures("send s (automine)", f"{run.sending:.1f}")
    figures("blocks mined by hand to flush anvil's pool", run.flushed)
    figures("transactions sent again (anvil lost or refused them)", run.resent)
    figures("first send -> last processed s", f"{run.elapsed:.1f}")
    figures("inputs/s end to end", f"{count / run.elapsed:.0f}")


def test_burst_of_200_inputs_is_processed_in_order_with_every_output(node: Node, figures):
    burst(node, 200, figures)


@pytest.mark.reliability
def test_burst_of_2000_inputs_is_processed_in_order_with_every_output(node: Node, figures):
    burst(node, 2_000, figures)
