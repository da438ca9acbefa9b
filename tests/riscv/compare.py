"""Compares the x86-64 and riscv64 runs of ``tests.riscv.session`` for ``make riscv-check``.

    python -m tests.riscv.compare A.hex B.hex [A-floats.json B-floats.json]

The requests of the session's cross-CPU case (label ``forest``: a random forest whose score differs
between x86-64 and riscv64, docs/DETERMINISM.md) are left out of the comparison and their scores
printed. Exit 0 when the other lines are byte-identical. Exit 3 when they differ only by the files the
backend itself stores after training (trained models, FedAvg averages): their float arrays depend on
the CPU's BLAS and libm kernels, so their bytes and CIDs differ, while every score (quantised to
integer millionths), acceptance, payment, voucher and report is the same once each such CID of one
run is paired with the CID the other run stored at the same place. Exit 1 for any other difference,
after printing each differing line with its notice decoded.

With the float files it also prints, for every training, whether the unquantised metric and the
trained arrays are bit-identical, and if not by how many units in the last place (ULP) they differ,
next to the published integer score.
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path
from typing import Any


def ulp_distance(a: float, b: float) -> int:
    """How many representable doubles lie between ``a`` and ``b`` (0 when bit-identical)."""
    def ordered(x: float) -> int:
        (bits,) = struct.unpack("<q", struct.pack("<d", x))
        return bits if bits >= 0 else -(bits & 0x7FFF_FFFF_FFFF_FFFF)
    return abs(ordered(a) - ordered(b))


def describe(line: str) -> str:
    """A differing output line in words: the notice name and its fields when it is a notice."""
    parts = line.split(" ", 2)
    if len(parts) == 3 and parts[1] == "notice":
        from dapp.codec import abi

        function, args = abi.notices().decode(bytes.fromhex(parts[2][2:]))
        shown = [a.hex() if isinstance(a, bytes) else a for a in args]
        return f"{parts[0]} {function.name}{tuple(shown)}"
    return line[:200]


# Notices that show a step trained or averaged a model: the backend stores its result there.
TRAINING_NOTICES = {"SubmissionScored", "ModelPublished", "RoundClosed"}


def _notices(lines: list[str]) -> list[tuple[str, str, tuple]]:
    """(step, notice name, args) of every notice line."""
    from dapp.codec import abi

    out = []
    for line in lines:
        step, kind, rest = (line.split(" ", 2) + ["", ""])[:3]
        if kind == "notice":
            function, args = abi.notices().decode(bytes.fromhex(rest[2:]))
            out.append((step, function.name, tuple(args)))
    return out


def stored_model_pairs(lines_a: list[str], lines_b: list[str]) -> dict[bytes, bytes]:
    """CID pairs (run B's -> run A's) of files the backend stored in a training step at the same
    place, with the same size and uploader but different bytes. User uploads never pair."""
    notices_a, notices_b = _notices(lines_a), _notices(lines_b)
    training_steps = {step for step, name, _ in notices_a if name in TRAINING_NOTICES} & \
                     {step for step, name, _ in notices_b if name in TRAINING_NOTICES}
    pairs: dict[bytes, bytes] = {}
    for (step_a, name_a, args_a), (step_b, name_b, args_b) in zip(notices_a, notices_b):
        if (name_a == name_b == "ContentStored" and step_a == step_b and step_a in training_steps
                and args_a[0] != args_b[0] and args_a[1:] == args_b[1:]):
            pairs[args_b[0]] = args_a[0]
    return pairs


def rename(text: str, pairs: dict[bytes, bytes]) -> str:
    """``text`` with each CID of ``pairs`` (binary as hex, and as CIDv1 text) replaced by its pair."""
    from dapp.codec.cid import cid_to_text

    for b, a in pairs.items():
        text = text.replace(b.hex(), a.hex()).replace(cid_to_text(b), cid_to_text(a))
    return text


# The session's label for the requests of a case whose results are expected to differ across CPUs
# (docs/DETERMINISM.md): compared apart, printed, never a failure.
CROSS_CPU_CASE = "forest"


def cross_cpu_steps(lines: list[str]) -> set[str]:
    """The steps of the session's cross-CPU case (their status lines carry its label)."""
    return {line.split(" ", 1)[0] for line in lines if line.split(" ")[1:2] == [CROSS_CPU_CASE]}


def show_cross_cpu_case(lines_a: list[str], lines_b: list[str], steps: set[str]) -> None:
    """Prints the published scores of the cross-CPU case on both sides."""
    def scores(lines: list[str]) -> list[tuple]:
        return [(step, args[1], args[-2]) for step, name, args in _notices(lines)
                if name == "SubmissionScored" and step in steps]
    for (step, sub, x), (_, _, y) in zip(scores(lines_a), scores(lines_b)):
        verdict = "equal" if x == y else "DIFFERENT, as docs/DETERMINISM.md explains"
        print(f"    cross-CPU case ({CROSS_CPU_CASE}), request {step}, submission {sub}: score {x} (x86-64) / "
              f"{y} (riscv64): {verdict}")


def compare_outputs(path_a: str, path_b: str) -> int:
    """Prints the comparison of two session files; returns the exit code of the module docstring."""
    lines_a, lines_b = Path(path_a).read_text().splitlines(), Path(path_b).read_text().splitlines()
    known = cross_cpu_steps(lines_a)
    show_cross_cpu_case(lines_a, lines_b, known)
    lines_a = [line for line in lines_a if line.split(" ", 1)[0] not in known]
    lines_b = [line for line in lines_b if line.split(" ", 1)[0] not in known]
    a, b = "\n".join(lines_a).encode(), "\n".join(lines_b).encode()
    counts = {kind: sum(1 for line in lines_a if line.split(" ")[1:2] == [kind])
              for kind in ("notice", "voucher", "report")}
    summary = (f"{len(lines_a)} lines: {counts['notice']} notices, {counts['voucher']} vouchers, "
               f"{counts['report']} reports")
    if a == b:
        print(f"    outputs: byte-identical ({len(a)} bytes, {summary})")
        return 0
    pairs = stored_model_pairs(lines_a, lines_b) if len(lines_a) == len(lines_b) else {}
    renamed = rename(b.decode(), pairs).encode()
    differing = sum(1 for x, y in zip(lines_a, lines_b) if x != y)
    if pairs and renamed == a:
        print(f"    outputs: {differing} of {len(lines_a)} lines differ, all through {len(pairs)} files the backend "
              f"stored after training (trained models, FedAvg averages) whose bytes differ; with those CIDs "
              f"paired the outputs are byte-identical ({summary})")
        for b_cid, a_cid in pairs.items():
            print(f"      {a_cid.hex()[8:24]}… (x86-64)  ~  {b_cid.hex()[8:24]}… (riscv64)")
        return 3
    print(f"    outputs DIFFER beyond stored-model CIDs ({len(lines_a)} vs {len(lines_b)} lines)")
    shown = 0
    for i, (x, y) in enumerate(zip(lines_a, renamed.decode().splitlines())):
        if x != y and shown < 20:
            print(f"    line {i + 1}:\n      x86-64 : {describe(x)}\n      riscv64: {describe(y)}")
            shown += 1
    return 1


def compare_floats(path_a: str, path_b: str) -> None:
    """Prints, per training, whether metric and arrays are bit-identical (else the ULP distances)."""
    fa: dict[str, Any] = json.loads(Path(path_a).read_text())
    fb: dict[str, Any] = json.loads(Path(path_b).read_text())
    print(f"    {'training (seed 0)':<28} {'score x86/riscv':<17} {'metric ULP':>10} {'arrays':>8} "
          f"{'values differing':>17} {'max ULP':>8} {'max |diff|':>11}")
    for name in sorted(set(fa) | set(fb)):
        if name not in fa or name not in fb:
            print(f"    {name:<28} only in {'x86-64' if name in fa else 'riscv64'}")
            continue
        x, y = fa[name], fb[name]
        metric_ulp = ulp_distance(float.fromhex(x["metric"]), float.fromhex(y["metric"]))
        total = differing = worst_ulp = 0
        worst_abs = 0.0
        for array in sorted(set(x["arrays"]) | set(y["arrays"])):
            va, vb = x["arrays"].get(array, []), y["arrays"].get(array, [])
            if len(va) != len(vb):
                differing += max(len(va), len(vb))
                continue
            for p, q in zip(va, vb):
                total += 1
                if p != q:
                    differing += 1
                    p_, q_ = float.fromhex(p), float.fromhex(q)
                    worst_ulp = max(worst_ulp, ulp_distance(p_, q_))
                    worst_abs = max(worst_abs, abs(p_ - q_))
        score = f"{x['score_millionths']}/{y['score_millionths']}"
        flag = "" if x["score_millionths"] == y["score_millionths"] else "  SCORE DIFFERS"
        print(f"    {name:<28} {score:<17} {metric_ulp:>10} {total:>8} {differing:>17} {worst_ulp:>8} "
              f"{worst_abs:>11.3g}{flag}")


def main(argv: list[str]) -> int:
    """Entry point; see the module docstring."""
    if len(argv) not in (2, 4):
        print(__doc__, file=sys.stderr)
        return 2
    code = compare_outputs(argv[0], argv[1])
    if len(argv) == 4:
        compare_floats(argv[2], argv[3])
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
