"""Compares the x86-64 and riscv64 runs of ``tests.riscv.session`` for ``make riscv-check``.

    python -m tests.riscv.compare A.hex B.hex [A-floats.json B-floats.json]

Exit 0 when the output files are byte-identical. Otherwise prints each differing line with the
notice decoded (which field differs) and exits 1. With the float files it also prints, for every
training, whether the unquantised metric and the trained arrays are bit-identical, and if not by how
many units in the last place (ULP) they differ, next to the published integer score.
"""

from __future__ import annotations

import json
import struct
import sys
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


def compare_outputs(path_a: str, path_b: str) -> bool:
    """Prints the comparison of two session files; True when byte-identical."""
    a, b = open(path_a, "rb").read(), open(path_b, "rb").read()
    lines_a, lines_b = a.decode().splitlines(), b.decode().splitlines()
    counts = {kind: sum(1 for line in lines_a if line.split(" ")[1:2] == [kind])
              for kind in ("notice", "voucher", "report")}
    if a == b:
        print(f"    outputs: byte-identical ({len(a)} bytes, {len(lines_a)} lines: {counts['notice']} notices, "
              f"{counts['voucher']} vouchers, {counts['report']} reports)")
        return True
    print(f"    outputs DIFFER ({len(lines_a)} vs {len(lines_b)} lines)")
    shown = 0
    for i, (x, y) in enumerate(zip(lines_a, lines_b)):
        if x != y and shown < 20:
            print(f"    line {i + 1}:\n      x86-64 : {describe(x)}\n      riscv64: {describe(y)}")
            shown += 1
    return False


def compare_floats(path_a: str, path_b: str) -> None:
    """Prints, per training, whether metric and arrays are bit-identical (else the ULP distances)."""
    fa: dict[str, Any] = json.load(open(path_a))
    fb: dict[str, Any] = json.load(open(path_b))
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
    same = compare_outputs(argv[0], argv[1])
    if len(argv) == 4:
        compare_floats(argv[2], argv[3])
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
