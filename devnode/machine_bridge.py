"""The backend command of ``--machine cartesi``: the devnode's rollup HTTP API on one side, the real
Cartesi machine on the other.

``python -m devnode.machine_bridge --snapshot DIR [--machine-dir DIR] [--max-cycles N] [--log FILE]``
loads the stored machine (``CmioMachine.load``: a ``cartesi-jsonrpc-machine`` server whose log goes
to ``FILE``), then does what a backend does against ``ROLLUP_HTTP_SERVER_URL``: ``POST /finish``, and
for each request it gets

- an advance: its metadata and payload become ``EvmAdvance`` bytes (``encode_advance``) that the
  machine runs to its next manual yield (rolled back unless it accepts); each output the machine
  emitted (``Notice``/``Voucher``/``DelegateCallVoucher`` bytes) is decoded and posted to ``/notice``,
  ``/voucher`` or ``/delegate-call-voucher`` (the server re-encodes it, so an output whose bytes would
  not come back identical is refused as an exception), each report to ``/report``; an accept becomes
  ``/finish {"status": "accept", "outputs_root": "0x…"}`` with the machine's outputs Merkle root, a
  reject ``{"status": "reject"}``;
- an inspect: the query runs on a fork of the machine that is then thrown away; reports are posted;
- a machine exception, a halt or the cycle limit (``--max-cycles`` per request): ``POST /exception``
  with a message saying which (the machine is back where it was before the request).

One line per request goes to stderr (status, outputs, reports, cycles, seconds). SIGTERM ends the
machine servers too.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import eth_abi
from eth_abi.exceptions import DecodingError

from devnode import outputs as out
from devnode.machine import DEFAULT_MAX_CYCLES, CmioMachine, Outcome, encode_advance
from mlmarket.client.sessions import session_for

POLL_TIMEOUT = 60.0  # seconds for one HTTP call to the node's rollup server (it long-polls 0.5 s)


class BridgeError(RuntimeError):
    """The machine produced something the rollup HTTP API cannot carry, or the server refused it."""


def output_request(output: bytes) -> tuple[str, dict[str, str]]:
    """The rollup HTTP API call (endpoint, JSON body) that makes the server record exactly ``output``."""
    selector = output[:4]
    try:
        if selector == out.NOTICE:
            (payload,) = eth_abi.decode(["bytes"], output[4:])
            path, body, again = "/notice", {"payload": _hex(payload)}, out.encode_notice(payload)
        elif selector == out.VOUCHER:
            destination, value, payload = eth_abi.decode(["address", "uint256", "bytes"], output[4:])
            target = bytes.fromhex(destination[2:])
            path, again = "/voucher", out.encode_voucher(target, value, payload)
            body = {"destination": destination.lower(), "value": f"0x{value:064x}", "payload": _hex(payload)}
        elif selector == out.DELEGATE_CALL_VOUCHER:
            destination, payload = eth_abi.decode(["address", "bytes"], output[4:])
            target = bytes.fromhex(destination[2:])
            path, again = "/delegate-call-voucher", out.encode_delegate_call_voucher(target, payload)
            body = {"destination": destination.lower(), "payload": _hex(payload)}
        else:
            raise BridgeError(f"the machine emitted an output of unknown kind (selector 0x{selector.hex()})")
    except (DecodingError, ValueError) as exc:
        raise BridgeError(f"the machine emitted an undecodable output 0x{selector.hex()}…: {exc}") from exc
    if again != output:
        raise BridgeError(f"the machine emitted a non-canonical {path[1:]} ({len(output)} bytes) that the "
                          "rollup server would record differently")
    return path, body


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


class RollupClient:
    """The backend side of the devnode's rollup HTTP API (``ROLLUP_HTTP_SERVER_URL``)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.session = session_for(self.url)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        """POSTs ``body``; the JSON answer (``None`` if empty). ``BridgeError`` on a 4xx/5xx."""
        response = self.session.post(self.url + path, json=body, timeout=POLL_TIMEOUT)
        if response.status_code >= 400:
            raise BridgeError(f"POST {path}: {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    def finish(self, status: str, root: bytes | None) -> dict[str, Any] | None:
        """Finishes the current request; the next one, ``None`` if none came within the long poll."""
        body = {"status": status} if root is None else {"status": status, "outputs_root": _hex(root)}
        response = self.session.post(self.url + "/finish", json=body, timeout=POLL_TIMEOUT)
        if response.status_code == 202:
            return None
        if response.status_code != 200:
            raise BridgeError(f"POST /finish: {response.status_code} {response.text[:300]}")
        return response.json()


def relay(outcome: Outcome, rollup: RollupClient, *, advance: bool) -> tuple[str, bytes | None]:
    """Posts what the machine emitted for one request; the ``/finish`` status and root to send next
    (``exception`` when the request was ended with ``/exception``)."""
    if outcome.accepted and advance:
        requests = [output_request(output) for output in outcome.outputs]  # all checked before any is sent
        for path, body in requests:
            rollup.post(path, body)
    for report in outcome.reports:
        rollup.post("/report", {"payload": _hex(report)})
    if outcome.status in ("accepted", "rejected"):
        return ("accept", outcome.root if advance else None) if outcome.accepted else ("reject", None)
    rollup.post("/exception", {"payload": _hex(exception_message(outcome))})
    return "exception", None


def exception_message(outcome: Outcome) -> bytes:
    """What ``/exception`` says for a request the machine did not accept or reject."""
    if outcome.status == "exception":
        return b"the Cartesi machine threw an exception: " + outcome.exception
    if outcome.status == "halted":
        return f"the Cartesi machine halted after {outcome.cycles} cycles".encode()
    return f"the Cartesi machine reached its cycle limit ({outcome.cycles} cycles) without finishing".encode()


def serve(machine: CmioMachine, rollup: RollupClient, say: Callable[[str], None] = lambda _: None,
          stopped: Callable[[], bool] = lambda: False) -> None:
    """The backend loop: finish, run the request in the machine, relay, finish again (until ``stopped()``)."""
    status, root = "accept", None
    while not stopped():
        request = rollup.finish("accept" if status == "exception" else status, root)
        if request is None:
            status, root = "accept", None  # nothing was pending: the status no longer matters
            continue
        started = time.monotonic()
        data = request["data"]
        payload = bytes.fromhex(data["payload"][2:])
        advance = request["request_type"] == "advance_state"
        if advance:
            outcome = machine.advance(encode_advance(data["metadata"], payload))
        else:
            outcome = machine.inspect(payload)
        try:
            status, root = relay(outcome, rollup, advance=advance)
        except BridgeError as exc:
            rollup.post("/exception", {"payload": _hex(str(exc).encode())})
            status, root = "exception", None
        what = f"input {data['metadata']['input_index']}" if advance else "inspect"
        say(f"{what}: {outcome.status}, {len(outcome.outputs)} outputs, {len(outcome.reports)} reports, "
            f"{outcome.cycles} cycles, {time.monotonic() - started:.2f} s")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devnode.machine_bridge",
                                     description="Runs the backend inside the real Cartesi machine for the devnode.")
    parser.add_argument("--snapshot", type=Path, required=True, help="the stored machine (make machine-image)")
    parser.add_argument("--machine-dir", type=Path, default=None, help="the prebuilt cartesi-machine")
    parser.add_argument("--max-cycles", type=int, default=DEFAULT_MAX_CYCLES, help="cycle limit per request")
    parser.add_argument("--log", type=Path, default=Path("/dev/stderr"), help="the machine server's log")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point (see the module docstring)."""
    args = _parser().parse_args(argv)
    url = os.environ.get("ROLLUP_HTTP_SERVER_URL")
    if not url:
        print("machine_bridge: ROLLUP_HTTP_SERVER_URL is not set", file=sys.stderr)
        return 2

    def say(text: str) -> None:
        print(f"machine_bridge: {text}", file=sys.stderr, flush=True)

    started = time.monotonic()
    machine = CmioMachine.load(args.snapshot, directory=args.machine_dir, log_path=args.log,
                               max_cycles=args.max_cycles)

    def end(*_: object) -> None:
        machine.kill()  # a server may be busy running the machine: end every one at once (forks included)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, end)
    say(f"loaded {args.snapshot} in {time.monotonic() - started:.1f} s (mcycle {machine.mcycle()})")
    try:
        serve(machine, RollupClient(url), say)
    finally:
        machine.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
