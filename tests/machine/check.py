"""``make machine-check``: the scripted session of ``tests.riscv.session`` run in the real Cartesi machine.

    python -m tests.machine.check --snapshot DIR --qemu session-riscv64.hex --out DIR

1. Runs the session natively (x86-64, the host venv), recording every request as the node hands it
   over (metadata and payload, or the inspect query), what the backend answered, and how long each
   request took.
2. Loads the stored machine ``--snapshot`` (the backend at its first yield, ``make machine-image``) in
   ``cartesi-jsonrpc-machine`` and feeds it the same requests as a validator does
   (``devnode.machine``): each advance run to its yield from a snapshot, a rejected one rolled back,
   each inspect on a fork. Records outputs, reports, the outputs Merkle root of every accept and the
   machine cycles and wall time of every request.
3. Compares, per request: the machine's lines with the same session under qemu-user riscv64
   (``--qemu``, from ``make riscv-check``'s step 5): they must be identical (the same riscv64 code);
   with x86-64: identical, different only in the bytes of models the backend trained (float bits,
   ``tests.riscv.compare``), or different beyond (a score: docs/DETERMINISM.md), which is printed, not
   a failure: the machine's answer is the authoritative one; the machine's root with the root of the
   tree over the outputs so far, computed by ``devnode.merkle`` from the qemu and the x86-64 outputs.
4. Prints one row per request and a table per input kind: requests, machine cycles (mean, total),
   machine seconds, native seconds, machine/native ratio; writes them to ``--out/figures.json``.

Exit 0 when every request and every root is identical to qemu-user's; 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import eth_abi

from dapp.codec import abi
from dapp.codec.metadata import V2
from dapp.codec.portals import DEFAULT_PORTALS
from dapp.ml.catalogue import preload
from dapp.domain.values import Address
from dapp.rollup.cmio import NOTICE, VOUCHER
from devnode import merkle
from devnode.machine import CmioMachine, encode_advance
from tests.riscv import compare
from tests.riscv.session import Request, run_session

PORTALS = DEFAULT_PORTALS[V2]


@dataclass
class Ran:
    """One request as the machine ran it."""

    request: Request
    lines: list[str]
    outputs: list[bytes]
    root: bytes | None
    cycles: int
    seconds: float


def input_kind(request: Request) -> str:
    """What a request is, for the table: an inspect, a deposit, or the input's function name."""
    if request.kind == "inspect":
        return "inspect " + request.payload.decode().split("/")[0].split("?")[0]
    assert request.metadata is not None
    sender = Address.from_hex(request.metadata["msg_sender"])
    if sender == PORTALS.erc20:
        return "deposit (ERC-20)"
    if sender == PORTALS.ether:
        return "deposit (Ether)"
    try:
        function, _ = abi.inputs().decode(request.payload)
    except ValueError:
        return "undecodable"
    return function.name


def machine_lines(request: Request, status: str, outputs: list[bytes], reports: list[bytes]) -> list[str]:
    """The session's line format (``tests.riscv.session``) for what the machine emitted."""
    step = f"{request.step:04d}"
    if request.kind == "inspect":
        lines = [f"{step} {request.label} inspect {request.payload.decode()}"]
        lines += [f"{step} report {json.dumps(json.loads(r), sort_keys=True, separators=(',', ':'))}"
                  for r in reports]
        return lines
    lines = [f"{step} {request.label} advance {'accept' if status == 'accepted' else 'reject'}"]
    for output in outputs:
        if output[:4] == NOTICE:
            (payload,) = eth_abi.decode(["bytes"], output[4:])
            lines.append(f"{step} notice 0x{payload.hex()}")
        elif output[:4] == VOUCHER:
            destination, value, payload = eth_abi.decode(["address", "uint256", "bytes"], output[4:])
            lines.append(f"{step} voucher {destination.lower()} {value} 0x{payload.hex()}")
        else:
            lines.append(f"{step} unknown-output 0x{output.hex()}")
    lines += [f"{step} report 0x{r.hex()}" for r in reports]
    return lines


def encoded_outputs(lines: list[str]) -> list[bytes]:
    """The on-chain bytes of the notices and vouchers in session lines (the Merkle tree's leaves)."""
    out = []
    for line in lines:
        _, kind, rest = (line.split(" ", 2) + ["", ""])[:3]
        if kind == "notice":
            out.append(NOTICE + eth_abi.encode(["bytes"], [bytes.fromhex(rest[2:])]))
        elif kind == "voucher":
            destination, value, payload = rest.split(" ")
            out.append(VOUCHER + eth_abi.encode(["address", "uint256", "bytes"],
                                                [destination, int(value), bytes.fromhex(payload[2:])]))
    return out


def by_step(lines: list[str]) -> dict[int, list[str]]:
    """Session lines grouped by their step number."""
    grouped: dict[int, list[str]] = defaultdict(list)
    for line in lines:
        grouped[int(line.split(" ", 1)[0])].append(line)
    return grouped


def run_machine(machine: CmioMachine, requests: list[Request], progress: Any) -> list[Ran]:
    """Feeds every request to the machine in order."""
    ran = []
    for request in requests:
        started = time.perf_counter()
        if request.kind == "advance":
            assert request.metadata is not None
            outcome = machine.advance(encode_advance(request.metadata, request.payload))
        else:
            outcome = machine.inspect(request.payload)
        seconds = time.perf_counter() - started
        if outcome.status not in ("accepted", "rejected"):
            raise SystemExit(f"request {request.step} ({request.label}): the machine ended it with "
                             f"{outcome.status} {outcome.exception[:200]!r}")
        lines = machine_lines(request, outcome.status, outcome.outputs, outcome.reports)
        ran.append(Ran(request, lines, outcome.outputs if outcome.accepted else [], outcome.root,
                       outcome.cycles, seconds))
        progress(f"  {request.step:3d} {request.label:9s} {input_kind(request):22s} {outcome.status:8s} "
                 f"{outcome.cycles / 1e6:10.1f} M cycles {seconds:7.2f}s")
    return ran


def compare_all(ran: list[Ran], x86: list[str], qemu: list[str]) -> tuple[list[dict[str, Any]], bool]:
    """Per request: the verdicts against qemu-user and x86-64 and the root check."""
    x86_steps, qemu_steps = by_step(x86), by_step(qemu)
    pairs = compare.stored_model_pairs(x86, [line for r in ran for line in r.lines])
    leaves_x86: list[bytes] = []
    leaves_qemu: list[bytes] = []
    rows, ok = [], True
    for r in ran:
        step = r.request.step
        leaves_x86 += [merkle.leaf_hash(o) for o in encoded_outputs(x86_steps[step])]
        leaves_qemu += [merkle.leaf_hash(o) for o in encoded_outputs(qemu_steps[step])]
        vs_qemu = "identical" if r.lines == qemu_steps[step] else "DIFFERENT"
        if r.lines == x86_steps[step]:
            vs_x86 = "identical"
        elif [compare.rename(line, pairs) for line in r.lines] == x86_steps[step]:
            vs_x86 = "model bytes"
        else:
            vs_x86 = "differs"
        if r.root is None:
            root = "-"
        else:
            root_qemu = "=" if r.root == merkle.root(leaves_qemu) else "≠"
            root_x86 = "=" if r.root == merkle.root(leaves_x86) else "≠"
            root = f"qemu{root_qemu} x86{root_x86}"
            ok &= root_qemu == "="
        ok &= vs_qemu == "identical"
        rows.append({"step": step, "label": r.request.label, "kind": input_kind(r.request),
                     "outputs": len(r.outputs), "cycles": r.cycles, "machine_s": r.seconds,
                     "native_s": r.request.seconds, "vs_qemu": vs_qemu, "vs_x86": vs_x86, "root": root})
    return rows, ok


def show_x86_differences(ran: list[Ran], x86: list[str]) -> None:
    """Prints, decoded, the machine's lines that differ from x86-64's beyond trained-model bytes."""
    pairs = compare.stored_model_pairs(x86, [line for r in ran for line in r.lines])
    x86_steps = by_step(x86)
    for r in ran:
        mine = [compare.rename(line, pairs) for line in r.lines]
        theirs = x86_steps[r.request.step]
        if mine == theirs or r.lines == theirs:
            continue
        print(f"  request {r.request.step} ({r.request.label}, {input_kind(r.request)}):")
        for a, b in zip(theirs, mine):
            if a != b:
                print(f"    x86-64 : {compare.describe(a)}\n    machine: {compare.describe(b)}")
        if len(theirs) != len(mine):
            print(f"    {len(theirs)} lines on x86-64, {len(mine)} in the machine")


def kind_table(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows per input kind: count, mean and total cycles, machine and native seconds, their ratio."""
    kinds: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        kinds[row["kind"]].append(row)
    table = []
    for kind, group in sorted(kinds.items()):
        machine_s = sum(r["machine_s"] for r in group)
        native_s = sum(r["native_s"] for r in group)
        table.append({"kind": kind, "requests": len(group),
                      "mean_mcycles": statistics.fmean(r["cycles"] for r in group) / 1e6,
                      "total_mcycles": sum(r["cycles"] for r in group) / 1e6,
                      "machine_s": machine_s, "native_s": native_s,
                      "ratio": machine_s / native_s if native_s else float("nan")})
    return table


def print_tables(rows: list[dict[str, Any]], table: list[dict[str, Any]]) -> None:
    """The per-request and per-kind tables."""
    print(f"{'step':>4} {'label':9} {'input':22} {'out':>3} {'M cycles':>10} {'machine s':>9} "
          f"{'native s':>9} {'ratio':>7}  {'vs qemu':9} {'vs x86':11} root")
    for r in rows:
        ratio = r["machine_s"] / r["native_s"] if r["native_s"] else float("nan")
        print(f"{r['step']:4d} {r['label']:9} {r['kind']:22} {r['outputs']:3d} {r['cycles'] / 1e6:10.1f} "
              f"{r['machine_s']:9.3f} {r['native_s']:9.4f} {ratio:7.0f}  {r['vs_qemu']:9} {r['vs_x86']:11} "
              f"{r['root']}")
    print()
    print(f"{'input kind':24} {'n':>3} {'mean M cycles':>13} {'total M cycles':>14} {'machine s':>9} "
          f"{'native s':>9} {'machine/native':>14}")
    for t in table:
        print(f"{t['kind']:24} {t['requests']:3d} {t['mean_mcycles']:13.1f} {t['total_mcycles']:14.1f} "
              f"{t['machine_s']:9.2f} {t['native_s']:9.3f} {t['ratio']:14.0f}")


def main(argv: list[str] | None = None) -> int:
    """Runs the check (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--snapshot", type=Path, required=True, help="the stored machine (make machine-image)")
    parser.add_argument("--qemu", type=Path, required=True, help="the session's lines under qemu-user riscv64")
    parser.add_argument("--out", type=Path, required=True, help="directory for the machine's lines and figures")
    parser.add_argument("--machine-dir", type=Path, default=None, help="the prebuilt cartesi-machine")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    progress("machine-check: the session on x86-64 (native)")
    preload()  # as python -m dapp does before serving (in the machine, the snapshot holds the imports)
    session, _ = run_session()
    progress(f"machine-check: {len(session.requests)} requests into the machine ({args.snapshot})")
    started = time.perf_counter()
    machine = CmioMachine.load(args.snapshot, directory=args.machine_dir, log_path=args.out / "machine.log")
    loaded = time.perf_counter() - started
    try:
        ran = run_machine(machine, session.requests, progress)
    finally:
        machine.shutdown()
    machine_lines_all = [line for r in ran for line in r.lines]
    (args.out / "session-machine.hex").write_text("\n".join(machine_lines_all) + "\n")
    qemu = args.qemu.read_text().splitlines()
    rows, ok = compare_all(ran, session.lines, qemu)
    table = kind_table(rows)
    print_tables(rows, table)
    total_cycles = sum(r["cycles"] for r in rows)
    total_s = sum(r["machine_s"] for r in rows)
    native_s = sum(r["native_s"] for r in rows)
    print(f"\nload of the snapshot: {loaded:.1f}s; {len(rows)} requests: {total_cycles / 1e9:.2f} G cycles, "
          f"{total_s:.1f}s in the machine ({total_cycles / total_s / 1e6:.0f} M cycles/s), {native_s:.2f}s "
          f"natively")
    (args.out / "figures.json").write_text(json.dumps(
        {"rows": rows, "kinds": table, "load_s": loaded, "total_cycles": total_cycles, "machine_s": total_s,
         "native_s": native_s}, indent=1))
    identical = sum(r["vs_qemu"] == "identical" for r in rows)
    print(f"vs qemu-user riscv64: {identical}/{len(rows)} requests identical; vs x86-64: "
          f"{sum(r['vs_x86'] == 'identical' for r in rows)} identical, "
          f"{sum(r['vs_x86'] == 'model bytes' for r in rows)} differ only in trained-model bytes, "
          f"{sum(r['vs_x86'] == 'differs' for r in rows)} differ beyond (docs/DETERMINISM.md)")
    show_x86_differences(ran, session.lines)
    print("machine-check: " + ("OK" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
