"""The CLI flow of ``test_cli_flow`` on a local node whose backend runs inside the real Cartesi machine
(``--machine cartesi``: ``devnode.machine_bridge`` driving ``cartesi-jsonrpc-machine`` on the snapshot of
``make machine-image``): a threshold job pays its contributor and the voucher is executed on chain, a
withdrawal is executed, and every epoch claim the node submitted is the outputs Merkle root the machine
itself sent with the epoch's last accepted input.

Marked ``machine``: it runs only when selected (``make machine-check`` runs it), since it needs
``../shared/cartesi-machine`` and the stored machine; without them it fails with the one-line reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from devnode.__main__ import default_snapshot, machine_backend
from devnode.node import Node, NodeConfig
from devnode.store import MACHINE_LOG
from tests.e2e.test_cli_flow import (  # noqa: F401 - the tests run here on the machine's node
    test_threshold_job_pays_the_contributor_on_chain, test_withdraw_then_execute_all)

pytestmark = [pytest.mark.e2e, pytest.mark.machine]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    state = tmp_path_factory.mktemp("devnode")
    snapshot = default_snapshot()
    backend = machine_backend(snapshot, None, state / MACHINE_LOG)
    started = Node(NodeConfig(state_dir=state, port=0, anvil_port=0, auto_mine=False, backend=backend,
                              machine="cartesi", machine_snapshot=snapshot, backend_start_timeout=600.0)).start()
    try:
        yield started
    finally:
        started.stop()


def test_the_node_says_the_machine_runs_the_backend(node: Node) -> None:
    assert node.info()["machine"] == "cartesi"


def test_every_claim_is_the_root_the_machine_sent(node: Node) -> None:
    node.close_epoch()
    inputs = [json.loads(line) for line in (node.config.state_dir / "inputs.jsonl").read_text().splitlines()]
    claims = [json.loads(line) for line in (node.config.state_dir / "claims.jsonl").read_text().splitlines()]
    assert claims, "no epoch was claimed"
    for claim in claims:
        roots = [i["outputs_root"] for i in inputs if i["epoch_index"] <= claim["epoch_index"] and i.get("outputs_root")]
        assert roots and claim["root"] == roots[-1]
