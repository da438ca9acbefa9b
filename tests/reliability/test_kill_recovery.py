"""``kill -9`` of the backend and of the node at random points of a stream of inputs loses nothing.

The node runs as its own process (``node_process.py``) with the real backend and a real anvil. The
inputs of ``burst.plan_burst`` are sent in batches of random size; after a batch, at a random delay
inside the time the node needs to process it, the backend or the node is killed with SIGKILL. A
killed backend is restarted by the node, which replays the recorded inputs and re-sends the one in
flight (the next kill waits until that backend answers an inspect: the node gives up, by design, on
a backend that dies three times in a row while restarting). A killed node is started again on the
same state directory: it ends the orphaned anvil (which saves the chain), checks its records against
the chain and replays them. At the end every
input must be there once, in order, with exactly the outputs the protocol defines (``check_burst``);
then a clean restart replays everything from genesis and must give byte-identical outputs and reports.

The seed is ``$RELIABILITY_SEED`` or a fresh one; it is printed with the figures. The reads never
overlap a kill (one thread kills, restarts and reads); a read that fails anyway names whether the
node process had ended and ends with the tail of its log.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from pathlib import Path

import pytest
from mlmarket.client.errors import NodeError
from mlmarket.client.inspect import InspectClient
from mlmarket.client.reader import ReaderClient
from web3 import Web3

from devnode.deploy import Deployment
from devnode.lifecycle import tail
from devnode.store import DEPLOYMENT, NODE_LOG
from tests.reliability.burst import check_burst, plan_burst, send_burst, wait_processed
from tests.reliability.node_process import NodeProcess

pytestmark = pytest.mark.e2e

SECONDS_PER_INPUT = 0.007  # the node's pace with the real backend (bench.load_burst), to aim the kills
# IDLE_DEATHS: a node gives up on a backend that exits while idle more than 3 times within 60 s (a crash
# loop, by design); a kill between two inputs counts as such, so a series never has more than 3
# backend kills without a node kill (a new node process) between them.


def wait_backend_back(inspect: InspectClient, timeout: float = 120.0) -> None:
    """Waits until the node's backend answers an inspect. The node gives up on a backend that dies 3
    times in a row while restarting (by design), so a killed backend must be back before the next
    kill: the node serves an inspect only between inputs, from a backend that has started, replayed
    the recorded inputs and finished the input it was killed in. (Waiting for the processed count to
    pass the one read before the kill was not enough: inputs processed between that read and the kill
    ended the wait at once, and the next kill hit the restarting backend.)"""
    deadline = time.monotonic() + timeout
    while True:
        try:
            inspect.raw(b"jobs")
            return
        except NodeError:  # 503 while the node is busy restarting the backend
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


def kill_series(tmp_path: Path, figures, *, inputs: int, kills: int) -> None:
    """Streams ``inputs`` inputs with ``kills`` random kills (half backend, half node), then checks."""
    seed = int(os.environ.get("RELIABILITY_SEED") or random.SystemRandom().randrange(2**32))
    figures("seed ($RELIABILITY_SEED)", str(seed))  # recorded first: printed even if the test fails
    rng, node = random.Random(seed), NodeProcess(tmp_path / "state")
    began = time.perf_counter()
    try:
        info = node.start()
        deployment = Deployment.from_dict(json.loads((node.state_dir / DEPLOYMENT).read_text()))

        def reader_of(info: dict) -> ReaderClient:
            return ReaderClient(info["reader_url"], deployment.application, timeout=60)

        reader = reader_of(info)
        planned = plan_burst(Web3(Web3.HTTPProvider(info["rpc_url"])), deployment, inputs, seed=seed)
        victims = ["backend", "node"] * (kills // 2) + ["backend"] * (kills % 2)
        rng.shuffle(victims)
        while "bbbb" in "".join(v[0] for v in victims):  # see IDLE_DEATHS
            rng.shuffle(victims)
        cuts = sorted(rng.sample(range(1, inputs), len(victims)))
        done, restarts, killed, midway, flushed, restarting = 0, [], Counter(), 0, 0, False
        for cut, victim in zip(cuts + [inputs], victims + [None]):
            flushed += send_burst(info["rpc_url"], planned[done:cut])[1]
            batch, done = cut - done, cut
            if victim is None:
                break
            if restarting:  # see wait_backend_back
                wait_backend_back(InspectClient(f"{info['inspect_url']}/{deployment.application}"))
            time.sleep(rng.uniform(0, 0.5 * batch * SECONDS_PER_INPUT))
            count = reader.processed_input_count()
            midway += count < cut  # inputs were still waiting or in flight when the kill came
            if victim == "backend":
                assert node.kill_backend(), "no backend process to kill: node.json names none that runs"
                killed["backend"] += 1
                restarting = True
            else:
                node.kill_node()
                killed["node"] += 1
                again = time.perf_counter()
                info = node.start()
                restarts.append(time.perf_counter() - again)
                reader = reader_of(info)
                restarting = False  # a node is ready once its backend has started and replayed
        wait_processed(reader, inputs, timeout=120 + inputs * 0.2)
        kinds, records = check_burst(reader, planned)
        before = (reader.list_outputs(), reader.list_reports())
        statuses = Counter(i["status"] for i in records)

        node.stop()
        info = node.start()  # replays every input; refuses to start if any output differs
        reader = reader_of(info)
        after = (reader.list_outputs(), reader.list_reports())
        assert [o["raw_data"] for o in after[0]] == [o["raw_data"] for o in before[0]]
        assert [r["raw_data"] for r in after[1]] == [r["raw_data"] for r in before[1]]
    except NodeError as exc:
        state = "ended" if node.process is not None and node.process.poll() is not None else "running"
        raise AssertionError(f"{exc} (seed {seed})\nnode process {state}; node.log ends:\n"
                             f"{tail(node.state_dir / NODE_LOG, 4000)}") from exc
    finally:
        node.stop()
    figures("inputs streamed", inputs)
    figures("kills (backend / node)", f"{killed['backend']} / {killed['node']} at inputs {cuts}")
    figures("kills with inputs still unprocessed", f"{midway} of {len(cuts)}")
    figures("backend deaths seen mid-input / idle / restarting (node log)",
            f"{node.log_count('backend died')} / {node.log_count('backend exited while idle')} / "
            f"{node.log_count('backend failed while starting or replaying')}")
    figures("node restart to ready after kill -9 s (max)", f"{max(restarts, default=0):.1f}")
    figures("blocks mined by hand to flush anvil's pool", flushed)
    figures("statuses", ", ".join(f"{k} {v}" for k, v in statuses.most_common()))
    figures("outputs checked, then replayed identically", ", ".join(f"{k}s {v}" for k, v in kinds.most_common()))
    figures("seconds", f"{time.perf_counter() - began:.1f}")


def test_kill_9_of_backend_and_node_mid_stream_loses_nothing_and_replays_identically(tmp_path: Path, figures):
    kill_series(tmp_path, figures, inputs=160, kills=4)


@pytest.mark.reliability
def test_long_series_of_kill_9_loses_nothing_and_replays_identically(tmp_path: Path, figures):
    kill_series(tmp_path, figures, inputs=800, kills=16)
