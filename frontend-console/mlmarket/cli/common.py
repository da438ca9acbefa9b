"""What every ``mlmarket`` command shares: the connection options, JSON or text output, errors.

``@command_options`` adds ``--json --account --key --rpc --node --app --rollups`` to a command and hands it a
``Session``; a ``ClientError`` raised inside becomes a message on stderr and exit status 1 (with
``--json``, also ``{"ok": false, "error": ...}`` on stdout; a failed input prints its outcome).
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import click

from mlmarket.client.errors import ClientError, InputFailed


def _connection_options() -> list[Callable[[Callable[..., Any]], Callable[..., Any]]]:
    return [
        click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout instead of text."),
        click.option("--account", type=click.IntRange(min=0), default=None, metavar="N",
                     help="Sign with dev account N of anvil's test mnemonic (default 0; local node only)."),
        click.option("--key", default=None, metavar="HEX",
                     help="Sign with this private key (or set MLMARKET_PRIVATE_KEY). Never printed."),
        click.option("--rpc", default=None, metavar="URL",
                     help="Base-layer JSON-RPC URL (or MLMARKET_RPC_URL; default: the local node's)."),
        click.option("--node", default=None, metavar="URL",
                     help="Cartesi node base URL, e.g. http://127.0.0.1:6751 (or MLMARKET_NODE_URL)."),
        click.option("--app", default=None, metavar="ADDRESS",
                     help="Application address (or MLMARKET_APP; default: the node's only application)."),
        click.option("--rollups", type=click.Choice(["1", "2"]), default=None,
                     help="Cartesi Rollups version of the node (or MLMARKET_ROLLUPS; default: the local "
                          "node's, else 2). 1: a v1 node (GraphQL reader, CartesiDApp.executeVoucher)."),
    ]


@dataclass
class Session:
    """One command's connection settings and output mode; builds the ``Market`` on first use."""

    as_json: bool = False
    account: int | None = None
    key: str | None = None
    rpc: str | None = None
    node: str | None = None
    app: str | None = None
    rollups: str | None = None
    _market: Any = field(default=None, repr=False)
    _units: Any = field(default=None, repr=False)

    def market(self, *, read_only: bool = False) -> Any:
        """The ``Market`` for these settings (read-only: no signer needed)."""
        if self._market is None:
            from mlmarket.client.market import Market

            self._market = Market.connect(rpc_url=self.rpc, node_url=self.node, app=self.app,
                                          rollups=self.rollups, account=self.account, key=self.key,
                                          read_only=read_only)
        return self._market

    def emit(self, data: Any, text: str | Callable[[], str] | None = None) -> None:
        """Prints ``data`` as JSON with ``--json``, else ``text`` (or ``data`` pretty-printed)."""
        if self.as_json:
            click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
        elif text is not None:
            click.echo(text() if callable(text) else text)
        else:
            from mlmarket.cli.render import pretty

            click.echo(pretty(data))

    def units(self) -> Any:
        """The market's ``Units`` (token symbols, dates), made on first use."""
        if self._units is None:
            from mlmarket.client.units import Units

            self._units = Units(self.market(read_only=True))
        return self._units

    def human(self, message: str) -> str:
        """``message`` with its unix times also in UTC and relative, and balances in token units
        (``Units.humanize``; as it was when the market does not answer)."""
        from mlmarket.client.units import has_raw_values

        if not has_raw_values(message):
            return message
        try:
            return self.units().humanize(message)
        except (ClientError, OSError):
            return message

    def money_note(self, outcome: Any) -> tuple[str, dict[str, str]] | None:
        """Where a failed input's deposit went (``outcomes.money_note``) and its JSON form, or None.
        ``outcome`` is an ``InputOutcome`` or a ``Sent`` holding one."""
        outcome = getattr(outcome, "outcome", outcome)
        if outcome.first("Deposited") is None:
            return None
        from mlmarket.cli.outcomes import money_note

        try:
            return money_note(self.market(read_only=True), self.units(), outcome)
        except (ClientError, OSError):
            return None

    def note(self, message: str) -> None:
        """A progress message on stderr (kept off stdout so ``--json`` output stays parseable)."""
        click.echo(message, err=True)


def command_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Adds the connection options and error handling to a command; it receives ``session`` first."""

    @functools.wraps(func)
    def wrapper(as_json: bool, account: int | None, key: str | None, rpc: str | None, node: str | None,
                app: str | None, rollups: str | None, **kwargs: Any) -> Any:
        session = Session(as_json, account, key, rpc, node, app, rollups)
        try:
            return func(session, **kwargs)
        except InputFailed as exc:
            note = session.money_note(exc.outcome)
            if as_json:
                extra = {"deposit_kept": note[1]} if note else {}
                click.echo(json.dumps({"ok": False, **exc.outcome.to_json(), **extra}, indent=2, sort_keys=True))
            fail(f"rejected: {session.human(exc.message)}" + (f"\n{note[0]}" if note else ""))
        except ClientError as exc:
            _fail_json(as_json, session.human(exc.message))
        except OSError as exc:  # requests' connection errors are OSErrors
            _fail_json(as_json, f"network error: {exc}")

    for option in reversed(_connection_options()):
        wrapper = option(wrapper)
    return wrapper


def _fail_json(as_json: bool, message: str) -> None:
    if as_json:
        click.echo(json.dumps({"ok": False, "error": message}, indent=2))
    fail(message)


def fail(message: str, code: int = 1) -> None:
    """Prints ``Error: message`` on stderr and exits with ``code``."""
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def job_id_argument(name: str = "job") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A non-negative integer JOB argument."""
    return click.argument(name, type=click.IntRange(min=0), metavar=name.upper())


def run_input(session: Session, request: Any, summary: Callable[[Any], dict[str, Any]] | None = None,
              shown: Callable[[Any], dict[str, Any]] | None = None) -> Any:
    """Sends ``request`` from the session's account, waits until the node processed it and prints
    what came out (``summary(sent)`` adds keys such as ``job`` in front; ``shown(sent)`` replaces
    some of them in the text output, e.g. an amount with its token symbol). Returns the ``Sent``."""
    from mlmarket.cli.render import outcome_text

    market = session.market()
    session.note(f"sending from {market.signer} to {market.config.app} ...")
    sent = market.send(request)
    extra = summary(sent) if summary else {}

    def text() -> str:
        lines = {**extra, **(shown(sent) if shown else {})}
        return "".join(f"{k}: {v}\n" for k, v in lines.items()) + outcome_text(sent.outcome, session.units())

    session.emit({"ok": True, **extra, **sent.to_json()}, text)
    return sent


def amount_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--token ADDR``, ``--eth`` and ``--wei`` for commands that move value."""
    func = click.option("--wei", is_flag=True,
                        help="The amount is in base units (wei), not token units.")(func)
    func = click.option("--eth", is_flag=True, help="Use Ether (the protocol's token address(0)).")(func)
    func = click.option("--token", default=None, metavar="ADDRESS",
                        help="ERC-20 token address (default: the local node's test token).")(func)
    return func


def to_base_units(market: Any, token: str, amount: str, wei: bool, what: str = "amount") -> int:
    """``amount`` in base units: raw with ``--wei``, else scaled by the token's decimals."""
    from mlmarket.client.amounts import parse_amount

    decimals = 18 if wei else market.chain.decimals_of(token)
    return parse_amount(amount, decimals=decimals, raw=wei, what=what)
