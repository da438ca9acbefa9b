"""Value commands: ``deposit``, ``withdraw``, ``balance``, ``payouts``, ``outputs``, ``execute``."""

from __future__ import annotations

from typing import Any

import click

from mlmarket.cli.common import Session, amount_options, command_options, run_input, to_base_units
from mlmarket.cli.render import outcome_text


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
@click.argument("amount", metavar="[AMOUNT]", required=False)
@click.option("--all", "all_", is_flag=True,
              help="Take out the whole free balance: of every token (one withdraw, one voucher per token), or "
                   "of the token --token/--eth names.")
@amount_options
@command_options
def withdraw(session: Session, amount: str | None, all_: bool, token: str | None, eth: bool, wei: bool) -> None:
    """Withdraw AMOUNT (or --all) from your balance in the dApp; a voucher pays it to your wallet.

    Rewards and returned stakes are credited to that balance by default, so one withdraw takes out
    what many jobs paid with a single voucher. Execute the voucher with `mlmarket execute` once its
    epoch is claimed.

    \b
    Example:
      mlmarket withdraw 10                # test tokens (the default)
      mlmarket withdraw --all && mlmarket execute --all
      mlmarket withdraw 0.1 --eth
    """
    from mlmarket.client import actions

    if (amount is None) == (not all_):
        raise click.UsageError("give an AMOUNT or --all (not both)")
    market = session.market()
    if not all_:
        token_address = market.token(token, eth)
        run_input(session, actions.withdraw(token_address, to_base_units(market, token_address, amount, wei)))
        return
    answer = market.query(f"balances/{market.account.lower()}")
    free = {t.lower(): int(v) for t, v in (answer.get("balances") or {}).items() if int(v)}
    if token is not None or eth:
        chosen = market.token(token, eth).lower()
        free = {chosen: free[chosen]} if chosen in free else {}
    done = []
    for token_address, value in sorted(free.items()):
        session.note(f"withdrawing {session.units().amount(value, token_address)} ...")
        done.append((token_address, value, market.send(actions.withdraw(token_address, value))))

    def text() -> str:
        if not done:
            return "nothing to withdraw: the free balance is empty"
        lines = [outcome_text(sent.outcome, session.units()) for _, _, sent in done]
        return "\n".join(lines + ["execute the voucher(s) with `mlmarket execute --all` once claimed"])

    session.emit({"ok": True, "withdrawn": [{"token": t, "amount": str(v), **sent.to_json()} for t, v, sent in done]},
                 text)


def _add(totals: dict[str, str], token: str, amount: int) -> None:
    if amount:
        totals[token.lower()] = str(int(totals.get(token.lower(), 0)) + amount)


def holdings(market: Any, who: str) -> dict[str, Any]:
    """Where ``who``'s value is, in base units per token: free in the dApp (inspect
    ``balances/<who>``), escrowed as the budgets of the open jobs it sponsors, locked as the stakes
    of its commits not revealed yet, paid out by vouchers not executed yet, and in the wallet
    (Ether and the local test token)."""
    from mlmarket.client.payouts import choice

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
            "wallet": wallet, "payout_vouchers": choice(answer)}


def holdings_text(data: dict[str, Any], units: Any) -> str:
    """``holdings`` for people: each amount with its token's symbol, vouchers with their state, and
    where rewards and returned stakes go."""
    from mlmarket.client.payouts import choice_text

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
    lines += ["rewards and returned stakes:", f"  {choice_text(bool(data.get('payout_vouchers')))}"]
    return "\n".join(lines)


@click.command()
@click.argument("address", required=False, metavar="[ADDRESS]")
@command_options
def balance(session: Session, address: str | None) -> None:
    """Show where an account's value is: free in the dApp, escrowed in its open jobs, locked as
    stakes, paid out by vouchers not executed yet, and in the wallet (Ether, test token); and where
    its rewards and returned stakes go (`mlmarket payouts`).

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
@click.argument("address", required=False, metavar="[ADDRESS]")
@click.option("--vouchers", type=click.Choice(["on", "off"]), default=None,
              help="on: your rewards and returned stakes leave by voucher at once; off (the default): they "
                   "are credited to your dApp balance. Without it: show the choice.")
@command_options
def payouts(session: Session, address: str | None, vouchers: str | None) -> None:
    """Show or set where your rewards and returned stakes go.

    By default they are credited to your free balance in the dApp: one `mlmarket withdraw --all`
    later takes out what many jobs paid with a single voucher (and the balance can pay your next
    stakes). `--vouchers on` makes each a voucher at once instead, in every job (a job can also ask
    for vouchers for all of its contributors: `payout_vouchers` in its spec). The choice is your
    account's own: nobody else can change it.

    \b
    Example:
      mlmarket payouts --account 1
      mlmarket payouts --vouchers on --account 1
    """
    from mlmarket.client import actions
    from mlmarket.client.payouts import choice, choice_text

    if vouchers is not None and address is not None:
        raise click.UsageError("--vouchers sets your own choice: give no ADDRESS")
    if vouchers is not None:
        run_input(session, actions.set_payout_vouchers(vouchers == "on"),
                  lambda sent: {"payout_vouchers": vouchers == "on"},
                  lambda sent: {"rewards and returned stakes": choice_text(vouchers == "on")})
        return
    market = session.market(read_only=address is not None)
    who = (address or market.account).lower()
    chosen = choice(market.query(f"balances/{who}"))
    session.emit({"account": who, "payout_vouchers": chosen},
                 f"account {who}\nrewards and returned stakes: {choice_text(chosen)}")


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

COMMANDS = [deposit, withdraw, balance, payouts, outputs, execute]
