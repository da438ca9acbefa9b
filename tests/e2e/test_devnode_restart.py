"""Restarts of the local node and deaths of its backend, on a real anvil with the fake backend."""

from __future__ import annotations

import os
import signal

import pytest

from devnode import chain
from devnode.node import Node
from devnode.supervisor import ReplayDivergence
from devnode.store import INPUTS

from devnode_harness import (
    app_of,
    deployment_of,
    notice_payloads,
    outputs,
    reader_url,
    rpc,
    start_node,
    user,
    wait_for,
    wait_processed,
    w3_of,
)

pytestmark = pytest.mark.e2e


class Nodes:
    """Starts nodes on one state directory and stops whatever is still running at the end."""

    def __init__(self, tmp_path) -> None:
        self.state, self.markers, self.started = tmp_path / "state", tmp_path, []

    def start(self, **overrides) -> Node:
        node = start_node(self.state, self.markers, **overrides)
        self.started.append(node)
        return node

    def stop_all(self) -> None:
        for node in self.started:
            node.stop()


@pytest.fixture
def nodes(tmp_path):
    manager = Nodes(tmp_path)
    try:
        yield manager
    finally:
        manager.stop_all()


def counter(payload: bytes) -> int:
    """The fake backend's accepted-input counter at the time of a notice."""
    return int.from_bytes(payload[:8], "big")


def test_restart_replays_to_identical_outputs_and_goes_on_from_the_rebuilt_state(nodes):
    first = nodes.start()
    w3, deployment = w3_of(first), deployment_of(first)
    for payload in (b"a", b"\xffno", b"b"):
        chain.add_input(w3, deployment, user(), payload)
    url, app = reader_url(first), app_of(first)
    wait_processed(url, app, 3)
    wait_for(lambda: all(o["claimed"] for o in outputs(url, app)), 10, "the claim")
    before = outputs(url, app)
    first.stop()

    second = nodes.start()
    url = reader_url(second)
    assert outputs(url, app) == before  # the records, the claims and the proofs survived
    chain.add_input(w3_of(second), deployment_of(second), user(), b"c")
    wait_processed(url, app, 4)
    # The rebuilt backend counted the two accepted inputs before it (the rejected one left no trace).
    assert [counter(p) for p in notice_payloads(url, app)] == [0, 1, 2]
    assert [int(o["index"], 16) for o in outputs(url, app)] == [0, 1, 2]


def test_nondeterministic_backend_makes_the_restart_refuse_loudly(nodes):
    env = {"FAKE_NONDETERMINISTIC": "1"}
    first = nodes.start(backend_env=env)
    chain.add_input(w3_of(first), deployment_of(first), user(), b"random")
    wait_processed(reader_url(first), app_of(first), 1)
    first.stop()
    recorded = (nodes.state / INPUTS).read_bytes()

    with pytest.raises(ReplayDivergence) as refused:
        nodes.start(backend_env=env)
    message = str(refused.value)
    assert "input 0" in message and "First differing output: #0" in message
    assert (nodes.state / INPUTS).read_bytes() == recorded  # the records are left as they were


def test_backend_killed_mid_input_loses_nothing(nodes):
    node = nodes.start()
    w3, deployment = w3_of(node), deployment_of(node)
    url, app = reader_url(node), app_of(node)
    chain.add_input(w3, deployment, user(), b"before")
    wait_processed(url, app, 1)
    victim = node.info()["backend_pid"]
    chain.add_input(w3, deployment, user(), b"\xfdslow")
    wait_for(lambda: list(nodes.markers.glob(f"input-1-{victim}")), 10, "the backend to start input 1")
    os.kill(victim, signal.SIGKILL)

    wait_processed(url, app, 2)
    assert [i["status"] for i in rpc(url, "cartesi_listInputs", application=app)["data"]] == ["ACCEPTED"] * 2
    assert notice_payloads(url, app) == [(0).to_bytes(8, "big") + b"before", (1).to_bytes(8, "big") + b"\xfdslow"]
    assert node.info()["backend_pid"] != victim


def test_exception_rejects_the_input_and_rebuilds_the_backend(nodes):
    node = nodes.start()
    w3, deployment = w3_of(node), deployment_of(node)
    url, app = reader_url(node), app_of(node)
    chain.add_input(w3, deployment, user(), b"one")
    wait_processed(url, app, 1)
    thrower = node.info()["backend_pid"]
    chain.add_input(w3, deployment, user(), b"\xfc")
    chain.add_input(w3, deployment, user(), b"two")
    wait_processed(url, app, 3)
    assert [i["status"] for i in rpc(url, "cartesi_listInputs", application=app)["data"]] == [
        "ACCEPTED", "EXCEPTION", "ACCEPTED"]
    assert [counter(p) for p in notice_payloads(url, app)] == [0, 1]
    assert node.info()["backend_pid"] != thrower
