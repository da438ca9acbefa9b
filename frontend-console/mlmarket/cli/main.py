"""``mlmarket``: the ML market's command line. ``main()`` is the console script's entry point."""

from __future__ import annotations

import click

from mlmarket.cli import access, content, funds, jobs, node, private

EPILOG = """\b
Connection: the local node's node.json ($MLMARKET_DEVNODE_DIR, default ~/.mlmarket/devnode),
or --rpc/--node/--app (MLMARKET_RPC_URL, MLMARKET_NODE_URL, MLMARKET_APP). Signing: --account N
(anvil dev account) or --key / MLMARKET_PRIVATE_KEY. Every command takes --json. See docs/CLI.md.
"""


@click.group(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ml-market", prog_name="mlmarket")
def cli() -> None:
    """Post ML jobs with escrowed rewards, submit models, and collect payments on a Cartesi rollup.

    \b
    Example session on the local node:
      mlmarket node up
      mlmarket put validation.csv                       # prints its CID
      mlmarket job create spec.json --reward 100        # sponsor: dev account 0
      mlmarket put model.json --account 1
      mlmarket submit 1 --model bafkrei... --account 1  # prints the score; the reward goes to your dApp balance
      mlmarket withdraw --all --account 1               # one voucher for all you were paid
      mlmarket execute --all --account 1                # collect the payment
    """


for module in (node, jobs, funds, content, access, private):
    for command in module.COMMANDS:
        cli.add_command(command)


def main() -> None:
    """Runs the CLI (console script ``mlmarket``)."""
    cli(prog_name="mlmarket")


if __name__ == "__main__":
    main()
