"""``make run``: the local node, the backend and the web console, with a demo job on real data.

Starts the local node in this process (unless one already runs on the state directory), posts a
threshold job on scikit-learn's bundled breast-cancer data (validation set uploaded in chunks, 100 test
tokens, 10 per model reaching 0.9 accuracy) with one scored submission from dev account 1 (its commit,
the uploads, then its reveal; the salt kept under ``<state dir>/demo/submissions``; its reward is
credited to that account's dApp balance, for you to withdraw from the console's Balances page), writes a
training CSV and a model spec for you to submit yourself, serves the console on 127.0.0.1 and prints
its URL. Ctrl-C stops what it started. A second run reuses the node's state and the demo job.

    python scripts/demo.py [--port 5000] [--node-port 6751] [--anvil-port 8545] [--state-dir DIR] [--fresh]

(``make run PORT=… NODE_PORT=… ANVIL_PORT=…``). A port already in use stops it before anything
starts, with a message naming the option and the make variable that change it.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

DEMO_TITLE = "demo: breast cancer diagnosis"


def breast_cancer_csvs(directory: Path) -> dict[str, Path]:
    """``train.csv`` (400 rows) and ``validation.csv`` (169 rows) of scikit-learn's breast-cancer data
    after a fixed permutation, label column ``label``, floats written exactly (``repr``)."""
    import numpy as np
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    order = np.random.default_rng(0).permutation(len(data.target))
    header = ",".join([f"f{i}" for i in range(data.data.shape[1])] + ["label"])
    directory.mkdir(parents=True, exist_ok=True)

    def write(name: str, rows: Any) -> Path:
        lines = [header] + [",".join(repr(float(v)) for v in data.data[i]) + f",{int(data.target[i])}" for i in rows]
        path = directory / name
        path.write_text("\n".join(lines) + "\n")
        return path

    return {"valid": write("validation.csv", order[400:]), "train": write("train.csv", order[:400])}


def demo_files(directory: Path) -> dict[str, Path]:
    """The breast-cancer CSVs (``breast_cancer_csvs``) and a model spec."""
    model = directory / "model.json"
    files = breast_cancer_csvs(directory)
    model.write_text(json.dumps({"estimator": "LogisticRegression", "params": {"max_iter": 2000},
                                 "preprocessing": ["standard_scaler"]}))
    return {**files, "model": model}


def post_demo_job(environ: dict[str, str], files: dict[str, Path]) -> int:
    """Creates the demo job (once) and a first submission; returns the job id."""
    from mlmarket.client import actions
    from mlmarket.client.jobspec import spec_from_dict
    from mlmarket.client.market import Market
    from mlmarket.client.submission_flow import submit_bytes
    from mlmarket.client.submission_state import StateStore
    from mlmarket.client.upload import upload

    sponsor = Market.connect(account=0, environ=environ)
    for job in sponsor.query("jobs").get("jobs", []):
        if job.get("spec", {}).get("title") == DEMO_TITLE:
            return int(job["id"])
    validation = upload(sponsor, files["valid"].read_bytes()).cid
    spec = spec_from_dict({"title": DEMO_TITLE, "policy": "threshold", "task": "classification", "label": "label",
                           "metric": "accuracy", "validation_cid": validation, "min_score": 0.9,
                           "reward_per_accept": 10, "deadline": f"+{7 * 86400}"}, now=sponsor.now)
    sent = sponsor.send(actions.create_job(spec, sponsor.token(None, False), 100 * 10**18))
    job = int(sent.outcome.first("JobCreated")["jobId"])
    contributor = Market.connect(account=1, environ=environ)  # commit, upload the files, reveal
    submit_bytes(contributor, StateStore(files["model"].parent / "submissions"), job,
                 model=files["model"].read_bytes(), data=files["train"].read_bytes())
    return job


PORTS = (("port", "PORT", "the console"), ("node_port", "NODE_PORT", "the node's reader API and inspect"),
         ("anvil_port", "ANVIL_PORT", "anvil, the base layer's JSON-RPC"))
"""Each port option, its ``make run`` variable and what listens on it."""


def busy_port(args: argparse.Namespace, with_node: bool) -> str | None:
    """A message naming the first port of ``args`` already in use on 127.0.0.1 and how to change
    it (the node's ports only when this run starts the node), else None."""
    from devnode.lifecycle import PortTaken, checked_port

    for name, variable, what in PORTS if with_node else PORTS[:1]:
        port = getattr(args, name)
        try:
            checked_port("127.0.0.1", port, what)
        except PortTaken:
            option = "--" + name.replace("_", "-")
            return (f"port {port} ({what}) is already in use on 127.0.0.1: choose another with "
                    f"`make run {variable}={port + 1}` (or `scripts/demo.py {option} {port + 1}`; 0 picks a free one)")
    return None


def main(argv: list[str] | None = None) -> int:
    """Runs the demo until Ctrl-C; 2 when a port it needs is in use (nothing started)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=5000, help="the console's port on 127.0.0.1 (0: any free one)")
    parser.add_argument("--node-port", type=int, default=6751,
                        help="the node's reader API and inspect port (make run NODE_PORT=...)")
    parser.add_argument("--anvil-port", type=int, default=8545,
                        help="anvil's JSON-RPC port, the base layer (make run ANVIL_PORT=...)")
    parser.add_argument("--state-dir", type=Path, default=None, help="the local node's state directory")
    parser.add_argument("--fresh", action="store_true", help="start from a new chain (forget the node's state)")
    args = parser.parse_args(argv)

    from mlmarket.console import create_app
    from werkzeug.serving import make_server

    from devnode import lifecycle
    from devnode.node import Node, NodeConfig
    from devnode.store import default_state_dir

    state_dir = (args.state_dir or default_state_dir()).expanduser().resolve()
    environ = {"MLMARKET_DEVNODE_DIR": str(state_dir)}
    node = None
    running = lifecycle.node_running(state_dir)
    problem = busy_port(args, with_node=not running)
    if problem:
        print(f"error: {problem}", file=sys.stderr, flush=True)
        return 2
    if running:
        print(f"using the node already running on {state_dir}", flush=True)
    else:
        print(f"starting the local node on {state_dir} ...", flush=True)
        node = Node(NodeConfig(state_dir=state_dir, fresh=args.fresh, port=args.node_port,
                               anvil_port=args.anvil_port)).start()
    server = None
    try:
        files = demo_files(state_dir / "demo")
        job = post_demo_job(environ, files)
        server = make_server("127.0.0.1", args.port, create_app({"ENVIRON": environ}), threaded=True)
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        threading.Thread(target=server.serve_forever, daemon=True).start()
        print(f"\ndemo job {job} is posted; try submitting {files['train']} with {files['model']}"
              f"\nconsole: http://127.0.0.1:{server.server_port}/jobs/{job}\n(Ctrl-C stops)", flush=True)
        while not stop.wait(0.5) and (node is None or not node.wait(0)):
            pass
    finally:
        if server is not None:
            server.shutdown()
        if node is not None:
            node.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
