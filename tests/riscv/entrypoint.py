"""The image's command (``python3 -m dapp``) against a real rollup HTTP API, for ``make riscv-check``.

    python -m tests.riscv.entrypoint --out answers.hex -- <backend command with {url}>

Starts the local node's rollup HTTP server (``devnode.server.RollupServer``, 127.0.0.1, any port),
starts the backend command with ``{url}`` replaced by the server's URL, and sends it a few requests
that need no ML: an ERC-20 deposit through the portal, a withdrawal (voucher), an undecodable input
(rejected with a report) and an inspect query. Writes each answer as hex lines, prints how long the
backend took to ask for its first request (its start-up) and to answer them, and always stops the
backend and the server.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from dapp.codec import abi
from devnode.server import Advance, Inspect, RollupServer
from tests.support.rollup import ALICE, PORTALS, TOKEN, erc20_deposit, v2_metadata

START_TIMEOUT = 600.0  # seconds for the first /finish: imports under emulation take a while
REQUEST_TIMEOUT = 300.0


def requests_to_send() -> list[Advance | Inspect]:
    """Deposit, withdraw, garbage, inspect: each answer is fixed by the protocol, no ML involved."""
    withdraw = abi.inputs().encode("withdraw", TOKEN.raw, 200)
    advances = [(PORTALS.erc20, erc20_deposit(TOKEN, ALICE, 500)), (ALICE, withdraw), (ALICE, b"\x00\x01\x02")]
    requests: list[Advance | Inspect] = [Advance(v2_metadata(sender, i), payload, 0)
                                         for i, (sender, payload) in enumerate(advances)]
    requests.append(Inspect(f"balances/{ALICE.hex}".encode()))
    return requests


def main(argv: list[str] | None = None) -> int:
    """Runs the requests through the backend command; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("command", nargs="+", help="the backend command; {url} is the rollup server's URL")
    args = parser.parse_args(argv)
    lines: list[str] = []
    with RollupServer(long_poll=0.2) as server:
        command = [part.replace("{url}", server.url) for part in args.command]
        started = time.perf_counter()
        backend = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            if not server.connected.wait(START_TIMEOUT) or backend.poll() is not None:
                print("entrypoint: the backend never asked for a request", file=sys.stderr)
                return 1
            startup = time.perf_counter() - started
            served = time.perf_counter()
            for i, request in enumerate(requests_to_send()):
                done = server.run(request, alive=lambda: backend.poll() is None, timeout=REQUEST_TIMEOUT)
                lines.append(f"{i} {type(request).__name__.lower()} {done.status}")
                lines += [f"{i} output 0x{o.hex()}" for o in done.outputs]
                lines += [f"{i} report 0x{r.hex()}" for r in done.reports]
            answered = time.perf_counter() - served
        finally:
            backend.terminate()
            try:
                backend.wait(10)
            except subprocess.TimeoutExpired:
                backend.kill()
                backend.wait()
    with open(args.out, "w", encoding="ascii") as f:
        f.write("\n".join(lines) + "\n")
    statuses = [line.split(" ")[2] for line in lines if line.split(" ")[1] in ("advance", "inspect")]
    print(f"entrypoint: first /finish after {startup:.1f}s, 4 requests answered in {answered:.1f}s: "
          f"{' '.join(statuses)}", file=sys.stderr)
    return 0 if statuses == ["ACCEPTED", "ACCEPTED", "REJECTED", "ACCEPTED"] else 1


if __name__ == "__main__":
    sys.exit(main())
