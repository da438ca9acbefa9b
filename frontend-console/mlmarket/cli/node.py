"""``node up|down|info``: the embedded local node (``python -m devnode``) and what the CLI talks to."""

from __future__ import annotations

import subprocess
import sys

import click

from mlmarket.cli.common import Session, command_options, fail

_PASS_THROUGH = {"ignore_unknown_options": True, "allow_extra_args": True}


def _devnode(action: str, args: list[str]) -> None:
    """Runs ``python -m devnode <action> <args>`` with this interpreter and exits with its status."""
    code = subprocess.call([sys.executable, "-m", "devnode", action, *args])
    if code:
        fail(f"python -m devnode {action} exited with status {code}", code)


@click.group()
def node() -> None:
    """Start, stop and describe the local node (anvil, Cartesi Rollups contracts, the backend)."""


@node.command("up", context_settings=_PASS_THROUGH)
@click.pass_context
def up(ctx: click.Context) -> None:
    """Start the local node in the background and wait until it is ready.

    Other options are passed to `python -m devnode up` (see `python -m devnode up --help`). Its
    state lives in $MLMARKET_DEVNODE_DIR (default ~/.mlmarket/devnode); node.json there tells every
    mlmarket command where the node is.

    --rollups v2|v1 chooses the Cartesi Rollups release (default v2: 2.2.0; v1: 1.4.3 at its
    canonical addresses with a GraphQL reader, what Cartesi CLI 1.x / sunodo users run; every
    mlmarket command then reads `rollups: 1` from node.json). --contracts 2.2.0|2.0.0-rc.14 chooses
    the v2 contracts release: 2.0.0-rc.14 sits at the addresses Cartesi CLI 2.0.0-alpha.2's
    `cartesi send` hard-wires (docs/CLI.md: which Cartesi tools work with which node).

    --machine host|cartesi chooses what runs the backend: a host process (default; quick, but the
    Cartesi machine's answer is the authoritative one: scores may differ in their last bits across
    CPUs) or the real Cartesi machine (cartesi-machine 0.19, as a validator runs it), loaded from
    --machine-snapshot DIR (default .cache/machine/snapshot, made by `make machine-image`) with the
    emulator of --machine-dir DIR (default ../shared/cartesi-machine).

    \b
    Example:
      mlmarket node up && mlmarket node info
      mlmarket node up --machine cartesi --fresh
      mlmarket node up --rollups v1 --fresh
      mlmarket node up --contracts 2.0.0-rc.14 --fresh
    """
    _devnode("up", ctx.args)


@node.command("down", context_settings=_PASS_THROUGH)
@click.pass_context
def down(ctx: click.Context) -> None:
    """Stop the local node (its state is kept for the next `up`).

    \b
    Example:
      mlmarket node down
    """
    _devnode("down", ctx.args)


@node.command("info")
@command_options
def info(session: Session) -> None:
    """Print where the chain, the node and the contracts are, and whether they answer.

    --json prints rpc_url, chain_id, reader_url, inspect_url and addresses (InputBox,
    ERC20Portal, EtherPortal, Application, Authority, Token), plus processed_inputs; for the
    local node also machine (host or cartesi: what runs the backend) and machine_note (whose
    answer is authoritative).

    \b
    Example:
      mlmarket node info --json
      mlmarket node info --rpc https://sepolia.example --node https://node.example --app 0x...
    """
    from mlmarket.client.config import discover
    from mlmarket.client.errors import ClientError
    from mlmarket.client.market import find_application
    from mlmarket.client.reader_v1 import reader_for

    config = discover(rpc_url=session.rpc, node_url=session.node, app=session.app, rollups=session.rollups)
    if config.app is None:
        try:
            config = config.with_app(find_application(config))
        except ClientError as exc:
            session.note(f"warning: {exc.message}")
    data = {**config.to_json(), **_machine_of(config.source)}
    try:
        from mlmarket.client.chain import Chain

        data["chain_id"] = Chain(config).chain_id()
    except Exception as exc:  # noqa: BLE001 - info reports reachability instead of failing
        data["chain_error"] = f"cannot reach {config.rpc_url}: {type(exc).__name__}"
    if config.app:
        try:
            data["processed_inputs"] = reader_for(config).processed_input_count()
        except ClientError as exc:
            data["node_error"] = exc.message
    session.emit(data)


def _machine_of(source: str) -> dict[str, str]:
    """What runs the local node's backend, from its node.json (nothing for a node given by URL)."""
    import json
    from pathlib import Path

    path = Path(source)
    if path.name != "node.json" or not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if data.get("machine") == "cartesi":
        return {"machine": "cartesi", "machine_note": str(data.get("machine_note", ""))}
    return {"machine": "host", "machine_note": str(data.get("machine_note") or _HOST_NOTE)}


_HOST_NOTE = ("the backend runs as a host process: the Cartesi machine's answer is authoritative (scores may "
              "differ in their last bits across CPUs); `mlmarket node up --machine cartesi` gives it")

COMMANDS = [node]
