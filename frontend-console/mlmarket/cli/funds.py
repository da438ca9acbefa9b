"""Value commands: ``deposit``, ``withdraw``, ``balance``, ``outputs``, ``execute``."""

from __future__ import annotations

from typing import Any

import click

from mlmarket.cli.common import Session, amount_options, command_options, run_input, to_base_units


@click.command()
@click.argument("amount", metavar="AMOUNT")
@amount_options
@command_options
def deposit(session: Session, amount: str, token: str | None, eth: bool, wei: bool) -> None:
    """Deposit AMOUNT of a token (or Ether) into your balance in the dApp.

    \b
    Example:
      mlmarket deposit 50                 # 50 test tokens
      mlmarket deposit 0.25 --eth
    """
    from mlmarket.client import actions

    market = session.market()
    token_address = market.token(token, eth)
    run_input(session, actions.deposit(token_address, to_base_units(market, token_address, amount, wei)))


@click.command()
@click.argument("amount", metavar="AMOUNT")
@amount_options
@command_options
def withdraw(session: Session, amount: str, token: str | None, eth: bool, wei: bool) -> None:
    """Withdraw AMOUNT from your balance in the dApp; a voucher pays it to your wallet.

    Execute the voucher with `mlmarket execute` once its epoch is claimed.

    \b
    Example:
      mlmarket withdraw 10 --token 0x5FbDB2315678afecb367f032d93F642f64180aa3
      mlmarket withdraw 0.1 --eth && mlmarket execute --all
    """
    from mlmarket.client import actions

    market = session.market()
    token_address = market.token(token, eth)
    run_input(session, actions.withdraw(token_address, to_base_units(market, token_address, amount, wei)))


@click.command()
@click.argument("address", required=False, metavar="[ADDRESS]")
@command_options
def balance(session: Session, address: str | None) -> None:
    """Show balances in the dApp (free, per token) and in the wallet (Ether, test token).

    ADDRESS defaults to the chosen account. Amounts are in base units; text output also shows
    token units.

    \b
    Example:
      mlmarket balance --account 1
      mlmarket balance 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 --json
    """
    from mlmarket.cli.render import token_label
    from mlmarket.client.amounts import format_amount

    market = session.market(read_only=address is not None)
    who = (address or market.account).lower()
    answer = market.query(f"balances/{who}")
    dapp = answer.get("balances", {}) if isinstance(answer, dict) else {}
    tokens = ["0x" + "00" * 20] + ([market.config.addresses["Token"]] if market.config.addresses.get("Token") else [])
    wallet = {t.lower(): str(market.chain.balance_of(t, who)) for t in tokens}
    data: dict[str, Any] = {"account": who, "dapp": dapp, "wallet": wallet}

    def text() -> str:
        lines = [f"account {who}", "in the dApp:"]
        lines += [f"  {token_label(t)}: {format_amount(int(v))} ({v} base units)" for t, v in dapp.items()] or ["  -"]
        lines.append("in the wallet:")
        lines += [f"  {token_label(t)}: {format_amount(int(v))}" for t, v in wallet.items()]
        return "\n".join(lines)

    session.emit(data, text)


@click.command()
@click.option("--input", "input_index", type=click.IntRange(min=0), default=None, metavar="N",
              help="Only the outputs of input N.")
@click.option("--vouchers", is_flag=True, help="Only vouchers.")
@command_options
def outputs(session: Session, input_index: int | None, vouchers: bool) -> None:
    """List decoded notices and vouchers; vouchers with their state
    (waiting for claim / executable / executed).

    \b
    Example:
      mlmarket outputs --vouchers
      mlmarket outputs --input 7 --json
    """
    from mlmarket.cli.render import notice_line, voucher_line
    from mlmarket.client.outputs import DecodedVoucher

    found = session.market(read_only=True).outputs(input_index=input_index)
    if vouchers:
        found = [o for o in found if isinstance(o, DecodedVoucher)]
    session.emit([o.to_json() for o in found], lambda: "\n".join(
        voucher_line(o) if isinstance(o, DecodedVoucher) else notice_line(o) for o in found) or "no outputs")


@click.command()
@click.argument("index", type=click.IntRange(min=0), required=False, metavar="[INDEX]")
@click.option("--all", "all_", is_flag=True, help="Execute every voucher not executed yet that pays your account.")
@click.option("--everyone", is_flag=True, help="With --all: every voucher not executed yet, whoever it pays.")
@click.option("--no-wait", is_flag=True, help="Fail instead of waiting for the epoch's claim.")
@click.option("--no-force", is_flag=True, help="Do not ask the local node to claim the epoch now.")
@command_options
def execute(session: Session, index: int | None, all_: bool, everyone: bool, no_wait: bool, no_force: bool) -> None:
    """Execute voucher INDEX (or --all your pending vouchers) on the base layer from your account.

    Anyone may execute any voucher (the payment goes where the voucher says; the sender pays the
    gas): --all takes the vouchers that pay your account, --all --everyone every pending one.
    Waits until the voucher's epoch is claimed; on the local node the claim is forced at once
    (--no-force leaves it to the node's schedule). Executing a voucher twice reverts
    (OutputNotReexecutable).

    \b
    Example:
      mlmarket execute 4 --account 1
      mlmarket execute --all --account 1
    """
    from mlmarket.cli.render import voucher_line

    if (index is None) == (not all_):
        raise click.UsageError("give a voucher INDEX or --all (not both)")
    if everyone and not all_:
        raise click.UsageError("--everyone goes with --all")
    market = session.market()
    mine = None if everyone else market.account
    indices = [index] if index is not None else [v.index for v in market.pending_vouchers(mine)]
    done = []
    for i in indices:
        voucher, tx = market.execute(i, wait=not no_wait, force=not no_force)
        done.append((voucher, tx))
        session.note(f"executed voucher {i} in {tx.tx_hash}")
    data = [{**v.to_json(), "transaction": tx.tx_hash, "gas_used": tx.gas_used} for v, tx in done]
    session.emit({"ok": True, "executed": data},
                 lambda: "\n".join(f"{voucher_line(v)} tx {tx.tx_hash}" for v, tx in done) or "nothing to execute")

COMMANDS = [deposit, withdraw, balance, outputs, execute]
