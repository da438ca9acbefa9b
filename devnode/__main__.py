"""``python -m devnode run|up|down|info``: the embedded local node's command line.

- ``run [--state-dir D] [--port 6751] [--anvil-port 8545] [--rpc-url URL] [--epoch-length N]
  [--backend CMD] [--fresh] [--no-auto-mine] [--rollup-port 0] [--machine host|cartesi]
  [--machine-snapshot DIR] [--machine-dir DIR] [--rollups v2|v1] [--contracts 2.2.0|2.0.0-rc.14]``: runs in the foreground; prints the
  node info JSON once ready; stops on Ctrl-C/SIGTERM; exits 1 with the reason if it cannot start or
  stops on a failure (e.g. a replay that diverged). ``--machine cartesi`` runs the backend inside the
  real Cartesi machine: the backend command becomes ``python -m devnode.machine_bridge`` on the stored
  machine ``--machine-snapshot`` (default ``.cache/machine/snapshot`` of the repository, made by
  ``make machine-image``) with the emulator of ``--machine-dir`` (default ``$CARTESI_MACHINE_DIR`` or
  ``../shared/cartesi-machine``); ``--backend`` is then ignored. ``--rollups v1`` runs Cartesi Rollups v1.4
  (what Cartesi CLI 1.x and sunodo use; ``devnode.v1``) instead of v2; it needs a state directory of its own.
  ``--contracts 2.0.0-rc.14`` deploys that Rollups v2 release instead of 2.2.0: the addresses
  ``@cartesi/cli@2.0.0-alpha.2`` hard-wires, so its ``cartesi send`` reaches the node (``devnode.releases``);
  a state directory keeps the release it was started with (``--fresh`` to change it).
- ``up [same options] [--timeout S]``: starts ``run`` in the background (its output goes to
  ``D/node.log``), waits until it is ready and prints the info JSON.
- ``down [--state-dir D]``: stops the node running on ``D``.
- ``info [--state-dir D] [--json]``: what ``D/node.json`` says, and whether the node runs.

``D`` defaults to ``$MLMARKET_DEVNODE_DIR`` or ``~/.mlmarket/devnode``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from typing import TYPE_CHECKING

from devnode import lifecycle
from devnode.lifecycle import DEFAULT_BACKEND
from devnode.store import MACHINE_LOG, NODE_LOG, default_state_dir, read_info

if TYPE_CHECKING:
    from devnode.node import NodeConfig

log = logging.getLogger("devnode")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devnode", description="The embedded local Cartesi node.")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (("run", "run in the foreground"), ("up", "start in the background and wait until ready")):
        command = commands.add_parser(name, help=text)
        _state_dir_option(command)
        command.add_argument("--port", type=int, default=6751, help="reader API port (0: a free one)")
        command.add_argument("--anvil-port", type=int, default=8545, help="anvil's port (0: a free one)")
        command.add_argument("--rpc-url", help="attach to this chain instead of starting anvil")
        command.add_argument("--epoch-length", type=int, default=10, help="blocks per epoch (new deployments)")
        command.add_argument("--backend", default=shlex.join(DEFAULT_BACKEND), help="the backend's command")
        command.add_argument("--rollup-port", type=int, default=0, help="port of the backend's rollup API")
        command.add_argument("--fresh", action="store_true", help="forget the recorded state and chain first")
        command.add_argument("--no-auto-mine", action="store_true", help="never mine blocks to close epochs")
        command.add_argument("--machine", choices=("host", "cartesi"), default="host",
                             help="what runs the backend: a host process (default) or the real Cartesi machine")
        command.add_argument("--machine-snapshot", type=Path, default=None,
                             help="the stored machine for --machine cartesi (default .cache/machine/snapshot)")
        command.add_argument("--machine-dir", type=Path, default=None, help="the prebuilt cartesi-machine "
                             "(default $CARTESI_MACHINE_DIR or ../shared/cartesi-machine)")
        command.add_argument("--rollups", choices=("v2", "v1", "2", "1"), default="v2",
                             help="the Cartesi Rollups release: v2 (default) or v1 (CLI 1.x / sunodo)")
        command.add_argument("--contracts", default="2.2.0",
                             help="the Rollups v2 contracts release: 2.2.0 (default) or 2.0.0-rc.14 (the one "
                                  "@cartesi/cli 2.0.0-alpha.2 sends to)")
        if name == "up":
            command.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for ready")
    down = commands.add_parser("down", help="stop the running node")
    _state_dir_option(down)
    down.add_argument("--timeout", type=float, default=60.0)
    info = commands.add_parser("info", help="print node.json")
    _state_dir_option(info)
    info.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def _state_dir_option(command: argparse.ArgumentParser) -> None:
    command.add_argument("--state-dir", type=Path, default=None, help="default $MLMARKET_DEVNODE_DIR or "
                         "~/.mlmarket/devnode")


class MachineMissing(RuntimeError):
    """``--machine cartesi`` without the machine or its snapshot."""


def default_snapshot() -> Path:
    """Where ``make machine-image`` stores the machine: ``.cache/machine/snapshot`` of the repository."""
    return Path(__file__).resolve().parent.parent / ".cache" / "machine" / "snapshot"


def machine_backend(snapshot: Path, directory: Path | None, log_path: Path) -> tuple[str, ...]:
    """The backend command of ``--machine cartesi``; ``MachineMissing`` (one line) if something is absent."""
    from devnode.machine import MachineUnavailable, machine_dir

    try:
        chosen = machine_dir(directory)
    except MachineUnavailable as exc:
        raise MachineMissing(f"{exc}; then run `make machine-image`") from None
    if not (snapshot / "config.json").is_file():
        raise MachineMissing(f"no stored machine at {snapshot}: run `make machine-image` first "
                             "(or pass --machine-snapshot DIR)")
    return (sys.executable, "-m", "devnode.machine_bridge", "--snapshot", str(snapshot),
            "--machine-dir", str(chosen), "--log", str(log_path))


def _config(args: argparse.Namespace) -> NodeConfig:
    from devnode.node import NodeConfig  # web3 and friends load only for `run`

    backend, extra = tuple(shlex.split(args.backend)), {}
    if args.machine == "cartesi":
        backend = machine_backend(args.machine_snapshot, args.machine_dir, args.state_dir / MACHINE_LOG)
        # loading the stored machine takes longer than starting a host process
        extra = {"machine_snapshot": args.machine_snapshot, "backend_start_timeout": 600.0}
    return NodeConfig(state_dir=args.state_dir, port=args.port, anvil_port=args.anvil_port, rpc_url=args.rpc_url,
                      epoch_length=args.epoch_length, backend=backend, rollup_port=args.rollup_port,
                      fresh=args.fresh, auto_mine=not args.no_auto_mine, machine=args.machine,
                      rollups=int(args.rollups.lstrip("v")), contracts=args.contracts, **extra)


def run(args: argparse.Namespace) -> int:
    """Runs the node in the foreground until a signal or a failure."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    from devnode.node import Node

    try:
        config = _config(args)
    except MachineMissing as exc:
        print(f"devnode: {exc}", file=sys.stderr)
        return 1
    node = Node(config)
    try:
        node.start()
    except Exception as exc:  # noqa: BLE001 -- every start failure becomes one clear line and status 1
        log.debug("start failed", exc_info=True)
        print(f"devnode: cannot start: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(node.info(), indent=2), flush=True)
    while not stop.wait(0.2) and not node.wait(0):
        pass
    node.stop()
    if node.failure is not None:
        print(f"devnode: stopped on a failure: {node.failure}", file=sys.stderr)
        return 1
    return 0


def up(args: argparse.Namespace) -> int:
    """Starts ``run`` in the background and waits until it is ready."""
    state_dir: Path = args.state_dir
    if lifecycle.node_running(state_dir):
        info = read_info(state_dir) or {}
        print(f"devnode: a node is already running on {state_dir} (pid {info.get('pid')}); "
              f"`python -m devnode down` stops it", file=sys.stderr)
        return 1
    command = [sys.executable, "-m", "devnode", "run", "--state-dir", str(state_dir), "--port", str(args.port),
               "--anvil-port", str(args.anvil_port), "--epoch-length", str(args.epoch_length),
               "--backend", args.backend, "--rollup-port", str(args.rollup_port)]
    if args.machine == "cartesi":
        try:
            machine_backend(args.machine_snapshot, args.machine_dir, state_dir / MACHINE_LOG)
        except MachineMissing as exc:
            print(f"devnode: {exc}", file=sys.stderr)
            return 1
        command += ["--machine", "cartesi", "--machine-snapshot", str(args.machine_snapshot)]
        command += ["--machine-dir", str(args.machine_dir.resolve())] if args.machine_dir else []
    command += ["--rpc-url", args.rpc_url] if args.rpc_url else []
    command += ["--rollups", args.rollups, "--contracts", args.contracts]
    command += ["--fresh"] if args.fresh else []
    command += ["--no-auto-mine"] if args.no_auto_mine else []
    state_dir.mkdir(parents=True, exist_ok=True)
    log_path = state_dir / NODE_LOG
    offset = log_path.stat().st_size if log_path.exists() else 0
    with open(log_path, "ab") as out:
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 start_new_session=True)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        info = read_info(state_dir)
        if info and info.get("pid") == child.pid and info.get("ready"):
            print(json.dumps({**info, "running": True}, indent=2))
            return 0
        if child.poll() is not None:
            tail = log_path.read_bytes()[offset:][-3000:].decode(errors="replace")
            print(f"devnode: the node exited with status {child.returncode}; {log_path}:\n{tail}", file=sys.stderr)
            return 1
        time.sleep(0.1)
    child.terminate()
    child.wait(timeout=30)
    print(f"devnode: not ready within {args.timeout} s; see {log_path}", file=sys.stderr)
    return 1


def down(args: argparse.Namespace) -> int:
    """Stops the node running on the state directory (SIGTERM, then SIGKILL after ``--timeout``)."""
    state_dir: Path = args.state_dir
    if not lifecycle.node_running(state_dir):
        print(f"no node is running on {state_dir}")
        return 0
    pid = (read_info(state_dir) or {}).get("pid")
    if not isinstance(pid, int) or "devnode" not in " ".join(lifecycle.cmdline(pid)):
        print(f"devnode: {state_dir} is locked but node.json names no running node (pid {pid})", file=sys.stderr)
        return 1
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + args.timeout
    while (lifecycle.node_running(state_dir) or lifecycle.cmdline(pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    if lifecycle.node_running(state_dir):
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
        lifecycle.end_orphans(state_dir)
    print(f"stopped the node on {state_dir}")
    return 0


def info(args: argparse.Namespace) -> int:
    """Prints ``node.json`` (plus ``running``)."""
    data = read_info(args.state_dir)
    if data is None:
        print(f"devnode: no node has run in {args.state_dir}; start one with `python -m devnode up`",
              file=sys.stderr)
        return 1
    data["running"] = lifecycle.node_running(args.state_dir)
    text = lifecycle.describe(data)
    if data.get("machine"):
        text += f"\nmachine     {data['machine']}: {data.get('machine_note')}"
    print(json.dumps(data, indent=2) if args.json else text)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m devnode`` and ``mlmarket-devnode``."""
    parser = _parser()
    args = parser.parse_args(argv)
    args.state_dir = (args.state_dir or default_state_dir()).expanduser().resolve()
    if args.command in ("run", "up"):
        args.machine_snapshot = (args.machine_snapshot or default_snapshot()).expanduser().resolve()
        from devnode.releases import release  # web3 loads only for `run` and `up`

        try:
            release(args.contracts)
        except ValueError as exc:
            parser.error(str(exc))
    return {"run": run, "up": up, "down": down, "info": info}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
