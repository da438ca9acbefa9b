"""The load burst of ``tests/reliability`` as figures: N inputs (default 2,000) sent as fast as
possible from 4 accounts with explicit nonces to a local node (real anvil with automine, the real
backend), then checked (every input, in order, with its status and outputs: ``check_burst``).

Besides the end-to-end rate, the node's own pace is read from the inputs' ``created_at`` (when the
node recorded each one), over the first tenth of the burst (processed while transactions still
arrive: the senders, anvil and the node share the cores) and over the last tenth (after the sending;
also the node's pace with the longest history).

Run: ``.venv/bin/python -m bench.load_burst [N]``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

from web3 import Web3

from bench._summary import record
from bench._table import print_table
from devnode.node import Node, NodeConfig
from tests.reliability.burst import check_burst, listed, plan_burst, send_burst, wait_processed

DEFAULT_INPUTS = 2_000


def _rate(stamps: list[datetime]) -> float:
    return (len(stamps) - 1) / (stamps[-1] - stamps[0]).total_seconds()


def main(argv: list[str] | None = None) -> None:
    """Runs the burst on a fresh node and prints its figures."""
    args = sys.argv[1:] if argv is None else argv
    count = int(args[0]) if args else DEFAULT_INPUTS
    with tempfile.TemporaryDirectory(prefix="burst-bench-") as tmp:
        started = time.perf_counter()
        node = Node(NodeConfig(state_dir=Path(tmp) / "node", port=0, anvil_port=0)).start()
        ready = time.perf_counter() - started
        try:
            assert node.deployment is not None
            url, app = node.info()["reader_url"], node.deployment.application
            planned = plan_burst(Web3(Web3.HTTPProvider(node.rpc_url)), node.deployment, count, seed=count)
            began = time.perf_counter()
            sending, flushed = send_burst(node.rpc_url, planned)
            elapsed = wait_processed(url, app, count, timeout=120 + count * 0.2) - began
            kinds = check_burst(url, app, planned)
            stamps = [datetime.fromisoformat(i["created_at"].replace("Z", "+00:00"))
                      for i in listed(url, "cartesi_listInputs", app)]
            assert node.failure is None
        finally:
            stopping = time.perf_counter()
            node.stop()
            stopped = time.perf_counter() - stopping
    tenth = max(2, count // 10)
    statuses = Counter(p.status for p in planned)
    print(f"burst of {count:,} inputs from 4 accounts (explicit nonces), real anvil (automine) + real backend; "
          f"every input checked: {', '.join(f'{k} {v}' for k, v in statuses.items())}; "
          f"{kinds['notice']:,} notices, {kinds['voucher']:,} vouchers")
    print_table([
        ("figure", "value"),
        ("node start to ready (fresh state)", f"{ready:.1f} s"),
        ("sending every transaction (automine)", f"{sending:.1f} s ({count / sending:,.0f} tx/s)"),
        ("blocks mined by hand to flush anvil's pool (anvil bug)", f"{flushed}"),
        ("first send -> last input processed", f"{elapsed:.1f} s"),
        ("inputs/s end to end", f"{count / elapsed:,.0f}"),
        (f"node pace, first {tenth:,} inputs (while sending)", f"{_rate(stamps[:tenth]):,.0f} inputs/s"),
        (f"node pace, last {tenth:,} inputs (after sending)", f"{_rate(stamps[-tenth:]):,.0f} inputs/s"),
        ("node stop (anvil saves its state)", f"{stopped:.1f} s"),
    ])
    record(f"non-ML inputs through the local node, a burst of {count:,}, end to end",
           f"{count / elapsed:,.0f} inputs/s ({elapsed:.1f} s from first send to last processed)")
    record(f"node pace, last {tenth:,} inputs of the burst (after sending)",
           f"{_rate(stamps[-tenth:]):,.0f} inputs/s")


if __name__ == "__main__":
    main()
