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
      mlmarket withdraw 10                # test tokens (the default)
      mlmarket withdraw 0.1 --eth && mlmarket execute --all
    """
    from mlmarket.client import actions

    market = session.market()
    token_address = market.token(token, eth)
    run_input(session, actions.withdraw(token_address, to_base_units(market, token_address, amount, wei)))


def _add(totals: dict[str, str], token: str, amount: int) -> None:
    if amount:
        totals[token.lower()] = str(int(totals.get(token.lower(), 0)) + amount)


def holdings(market: Any, who: str) -> dict[str, Any]:
    """Where ``who``'s value is, in base units per token: free in the dApp (inspect
    ``balances/<who>``), escrowed as the budgets of the open jobs it sponsors, locked as the stakes
    of its commits not revealed yet, paid out by vouchers not executed yet, and in the wallet
    (Ether and the local test token)."""
    answer = market.query(f"balances/{who}")
    dapp = answer.get("balances", {}) if isinstance(answer, dict) else {}
    escrow: dict[str, str] = {}
    stakes: dict[str, str] = {}
    for job in market.query("jobs").get("jobs", []):
        if job["sponsor"].lower() == who and job["status"] != "ended":
            _add(escrow, job["token"], int(job["budget"]))
        if not job.get("submissions"):
            continue
        for sub in market.query(f"jobs/{job['id']}/submissions").get("submissions", []):
            if sub["contributor"].lower() == who and sub["status"] == "committed":
                _add(stakes, job["token"], int(sub.get("stake") or 0))
    vouchers = []
    for voucher in market.pending_vouchers(who):
        call = voucher.call or {}
        if call.get("function") == "ether":
            token, amount = "0x" + "00" * 20, int(voucher.value)
        elif call.get("function") == "transfer":
            token, amount = voucher.destination.lower(), int(call["amount"])
        else:
            continue
        vouchers.append({"index": voucher.index, "token": token, "amount": str(amount), "state": voucher.state})
    tokens = ["0x" + "00" * 20] + ([market.config.addresses["Token"]] if market.config.addresses.get("Token") else [])
    wallet = {t.lower(): str(market.chain.balance_of(t, who)) for t in tokens}
    return {"account": who, "dapp": dapp, "escrow": escrow, "stakes": stakes, "pending_vouchers": vouchers,
            "wallet": wallet}


def holdings_text(data: dict[str, Any], units: Any) -> str:
    """``holdings`` for people: each amount with its token's symbol, vouchers with their state."""
    def block(title: str, totals: dict[str, str]) -> list[str]:
        return [title] + ([f"  {units.amount(v, t)}" for t, v in totals.items()] or ["  -"])

    lines = [f"account {data['account']}"]
    lines += block("free in the dApp (withdraw, or fund jobs and stakes with it):", data["dapp"])
    lines += block("escrowed as the budgets of your open jobs:", data["escrow"])
    lines += block("locked as stakes of your commits not revealed yet:", data["stakes"])
    lines.append("paid to you by vouchers not executed yet (`mlmarket execute --all`):")
    lines += [f"  voucher #{v['index']}: {units.amount(v['amount'], v['token'])} [{v['state']}]"
              for v in data["pending_vouchers"]] or ["  -"]
    lines += block("in the wallet:", data["wallet"])
    return "\n".join(lines)


@click.command()
@click.argument("address", required=False, metavar="[ADDRESS]")
@command_options
def balance(session: Session, address: str | None) -> None:
    """Show where an account's value is: free in the dApp, escrowed in its open jobs, locked as
    stakes, paid out by vouchers not executed yet, and in the wallet (Ether, test token).

    ADDRESS defaults to the chosen account. Text output shows token units with the token's
    symbol; --json gives base units per token address.

    \b
    Example:
      mlmarket balance --account 1
      mlmarket balance 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 --json
    """
    market = session.market(read_only=address is not None)
    data = holdings(market, (address or market.account).lower())
    session.emit(data, lambda: holdings_text(data, session.units()))


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
        voucher_line(o, session.units()) if isinstance(o, DecodedVoucher) else notice_line(o, session.units())
        for o in found) or "no outputs")


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
    session.emit({"ok": True, "executed": data}, lambda: "\n".join(
        f"{voucher_line(v, session.units())} tx {tx.tx_hash}" for v, tx in done) or "nothing to execute")

COMMANDS = [deposit, withdraw, balance, outputs, execute]
