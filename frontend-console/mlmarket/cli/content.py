"""Content and raw access: ``put``, ``model export``, ``inspect``, ``send``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mlmarket.cli.common import Session, command_options, run_input

FETCH_PART = 512 * 1024
"""Bytes asked per inspect ``contents/<cid>/data`` query (the dApp answers at most its own limit)."""


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--window", type=click.IntRange(1, 64), default=8, show_default=True,
              help="Chunks sent before waiting for the first of them to be processed.")
@command_options
def put(session: Session, file: Path, window: int) -> None:
    """Upload FILE to the dApp's content store and print its CID.

    The CID is the one `ipfs add --cid-version 1 --raw-leaves` gives. Chunks the store already
    holds are not sent again: a stored file sends nothing, an interrupted upload resumes.

    \b
    Example:
      mlmarket put train.csv
      mlmarket put model.json --json        # {"cid": "bafkrei...", ...}
    """
    from mlmarket.client.upload import read_file, upload

    data = read_file(file)
    market = session.market()
    with click.progressbar(length=max(len(data), 1), label=f"uploading {file.name}", file=sys.stderr) as bar:

        def progress(done: int, size: int) -> None:
            bar.update((done if size else 1) - bar.pos)

        result = upload(market, data, progress=progress, window=window)
    if result.already_stored:
        session.note(f"{file} is already stored")
    session.emit({"ok": True, **result.to_json()}, result.cid)


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@command_options
def cid(session: Session, file: Path) -> None:
    """Print FILE's CID without uploading it (e.g. for a hidden test set's commitment).

    \b
    Example:
      mlmarket cid test.csv
      mlmarket job commitment --test-cid $(mlmarket cid test.csv)
    """
    from dapp.codec.cid import cid_of, cid_to_text
    from mlmarket.client.upload import read_file

    data = read_file(file)
    text = cid_to_text(cid_of(data))
    session.emit({"cid": text, "size": len(data)}, text)


@click.group()
def model() -> None:
    """Work with stored models."""


@model.command("export")
@click.argument("cid", metavar="CID")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the joblib file.")
@command_options
def export(session: Session, cid: str, output: Path) -> None:
    """Export stored model CID as a joblib file scikit-learn can load.

    The model's bytes are fetched through inspect ("contents/CID/data") and converted off-chain
    by the ML engine (dapp.ml.export); the stored file itself never holds a pickle.

    \b
    Example:
      mlmarket model export bafkrei... -o model.joblib
    """
    from dapp.errors import DappError
    from mlmarket.client.content import fetch_content
    from mlmarket.client.errors import ClientError

    data = fetch_content(session.market(read_only=True), cid, part=FETCH_PART)
    from dapp.ml.export import to_joblib  # the ML engine is heavy: import it only here

    try:
        to_joblib(data, output)
    except DappError as exc:
        raise ClientError(f"{cid} cannot be exported: {exc.message}") from exc
    session.emit({"ok": True, "cid": cid, "output": str(output), "size": output.stat().st_size},
                 f"wrote {output}")


@click.command("inspect")
@click.argument("query", metavar="QUERY")
@command_options
def inspect_cmd(session: Session, query: str) -> None:
    """Ask the dApp an inspect QUERY and print its JSON answer.

    Queries: balances/<account>, totals, contents, contents/<cid>, uploads/<account>, jobs,
    jobs/<id>, jobs/<id>/submissions, jobs/<id>/leaderboard, jobs/<id>/history.

    \b
    Example:
      mlmarket inspect jobs/0/leaderboard
    """
    session.emit(session.market(read_only=True).query(query))


@click.command()
@click.argument("payload", metavar="HEX")
@command_options
def send(session: Session, payload: str) -> None:
    """Send HEX (0x-prefixed) as a raw input through the InputBox and print what came out.

    \b
    Example:
      mlmarket send 0x5c3dd2f5...
    """
    from mlmarket.client import actions

    text = payload.strip()
    if not text.startswith("0x") or len(text) % 2:
        raise click.BadParameter("expected 0x followed by an even number of hex digits", param_hint="HEX")
    try:
        data = bytes.fromhex(text[2:])
    except ValueError as exc:
        raise click.BadParameter(f"not hex: {exc}", param_hint="HEX") from exc
    run_input(session, actions.raw(data))


COMMANDS = [put, cid, model, inspect_cmd, send]
