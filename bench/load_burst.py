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

from bench._summary import record
from bench._table import print_table
from devnode.node import Node, NodeConfig
from tests.reliability.burst import run_burst

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
            run = run_burst(node, count, seed=count)
        finally:
            stopping = time.perf_counter()
            node.stop()
            stopped = time.perf_counter() - stopping
    stamps = [datetime.fromisoformat(i["created_at"]) for i in run.inputs]
    tenth = max(2, count // 10)
    statuses = Counter(p.status for p in run.planned)
    print(f"burst of {count:,} inputs from 4 accounts (explicit nonces), real anvil (automine) + real backend; "
          f"every input checked: {', '.join(f'{k} {v}' for k, v in statuses.items())}; "
          f"{run.outputs['notice']:,} notices, {run.outputs['voucher']:,} vouchers")
    print_table([
        ("figure", "value"),
        ("node start to ready (fresh state)", f"{ready:.1f} s"),
        ("sending every transaction (automine)", f"{run.sending:.1f} s ({count / run.sending:,.0f} tx/s)"),
        ("blocks mined by hand to flush anvil's pool (anvil bug)", f"{run.flushed}"),
        ("transactions sent again (anvil lost or refused them)", f"{run.resent}"),
        ("first send -> last input processed", f"{run.elapsed:.1f} s"),
        ("inputs/s end to end", f"{count / run.elapsed:,.0f}"),
        (f"node pace, first {tenth:,} inputs (while sending)", f"{_rate(stamps[:tenth]):,.0f} inputs/s"),
        (f"node pace, last {tenth:,} inputs (after sending)", f"{_rate(stamps[-tenth:]):,.0f} inputs/s"),
        ("node stop (anvil saves its state)", f"{stopped:.1f} s"),
    ])
    record(f"non-ML inputs through the local node, a burst of {count:,}, end to end",
           f"{count / run.elapsed:,.0f} inputs/s ({run.elapsed:.1f} s from first send to last processed)")
    record(f"node pace, last {tenth:,} inputs of the burst (after sending)",
           f"{_rate(stamps[-tenth:]):,.0f} inputs/s")


if __name__ == "__main__":
    main()
