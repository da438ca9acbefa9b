"""Gated jobs and delegates: ``access list|request|grant|revoke``, ``delegate add|remove``."""

from __future__ import annotations

import click

from mlmarket.cli.common import Session, command_options, job_id_argument, run_input


def _account(value: str) -> str:
    """ACCOUNT as a checksummed address: an address, or N for dev account N (as ``--account N``)."""
    from web3 import Web3

    from mlmarket.client.accounts import dev_signer

    if value.isdigit() and len(value) <= 6:
        return Web3.to_checksum_address(dev_signer(int(value)).address)
    if not Web3.is_address(value):
        raise click.BadParameter(f"neither an address nor a dev account number: {value!r}", param_hint="ACCOUNT")
    return Web3.to_checksum_address(value)


@click.group()
def access() -> None:
    """Request, grant or revoke access to a gated job."""


@access.command("list")
@job_id_argument()
@command_options
def list_access(session: Session, job: int) -> None:
    """Show who asked for, and who has, access to job JOB, and its delegates (inspect "jobs/JOB/access").

    \b
    Example:
      mlmarket access list 3 --json
    """
    from mlmarket.client.inspect import query_path

    view = session.market(read_only=True).query(query_path("jobs", job, "access"))
    view.pop("ok", None)

    def text() -> str:
        granted, delegates = set(view["granted"]), view["delegates"]
        lines = [f"job {job}: {'gated' if view['gated'] else 'not gated (anyone may submit)'}, "
                 f"sponsor {view['sponsor']}"]
        waiting = [r for r in view["requests"] if r["account"] not in granted]
        lines += [f"  granted    {who}" for who in view["granted"]]
        lines += [f"  requested  {r['account']}" + (f"  key {r['public_key']}" if r["public_key"] != "0x" else "")
                  for r in waiting]
        lines += [f"  delegate   {who}" for who in delegates]
        return "\n".join(lines)

    session.emit(view, text)


@access.command("request")
@job_id_argument()
@click.option("--public-key", default="", metavar="HEX",
              help="A public key to publish for encrypted off-chain exchange (0x-hex, optional).")
@command_options
def request(session: Session, job: int, public_key: str) -> None:
    """Ask the sponsor of gated job JOB for access (optionally publishing a public key).

    \b
    Example:
      mlmarket access request 3 --public-key 0x04ab... --account 1
    """
    from mlmarket.client import actions

    try:
        key = bytes.fromhex(public_key.removeprefix("0x"))
    except ValueError as exc:
        raise click.BadParameter("must be hex", param_hint="--public-key") from exc
    run_input(session, actions.request_access(job, key), lambda sent: {"job": job})


@click.group()
def delegate() -> None:
    """Appoint or remove delegates who review submissions and manage access (sponsor)."""


def _switch(group: click.Group, name: str, action: str, key: str, on: bool, text: str, example: str) -> None:
    """Adds ``mlmarket GROUP NAME JOB ACCOUNT`` to ``group``: it sends ``actions.<action>(job, account,
    on)`` and reports ``{job, account, <key>: on}``. ``text`` is the help's first line."""

    @group.command(name, help=f"{text}\n\nACCOUNT is an address or N for dev account N (as --account N)."
                               f"\n\n\b\nExample:\n  mlmarket {group.name} {name} 1 {example}\n"
                               f"  mlmarket {group.name} {name} 1 2")
    @job_id_argument()
    @click.argument("who", metavar="ACCOUNT")
    @command_options
    def command(session: Session, job: int, who: str) -> None:
        from mlmarket.client import actions

        address = _account(who)
        run_input(session, getattr(actions, action)(job, address, on),
                  lambda sent: {"job": job, "account": address.lower(), key: on})


_CONTRIBUTOR, _DELEGATE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
_switch(access, "grant", "set_access", "granted", True,
        "Grant ACCOUNT access to gated job JOB (sponsor or delegate).", _CONTRIBUTOR)
_switch(access, "revoke", "set_access", "granted", False,
        "Revoke ACCOUNT's access to gated job JOB (sponsor or delegate).", _CONTRIBUTOR)
_switch(delegate, "add", "set_delegate", "enabled", True, "Make ACCOUNT a delegate of job JOB.", _DELEGATE)
_switch(delegate, "remove", "set_delegate", "enabled", False,
        "Remove ACCOUNT from the delegates of job JOB.", _DELEGATE)


COMMANDS = [access, delegate]
