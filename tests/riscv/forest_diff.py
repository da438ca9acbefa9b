"""Where a random forest fitted on x86-64 and one fitted on riscv64 first differ, and why.

    sudo .venv/bin/python tests/riscv/forest_diff.py [--root .cache/riscv64-rootfs/rootfs] [--seed 0]

Runnable by hand (not part of ``make test``): it needs root for ``chroot`` and the riscv64 Debian root
that ``make riscv-check`` builds, whose python3 runs under qemu-user through binfmt. It writes a
7,000-row, 20-column CSV (5,500 training rows, 1,500 test rows) to ``ROOT/tmp/forest_diff/``, fits
``RandomForestClassifier(n_estimators=50, random_state=SEED, n_jobs=1)`` with this host's
scikit-learn and with the root's, and prints both test accuracies, how many trees are bit-identical
and, for each tree that is not, its first differing node: the two sides' splits there (in detail for
the first such tree: feature, threshold and impurity as float hex, the class weights on each side)
and, recomputed here in exact arithmetic from the samples that reach the node, the two candidate
splits' ``proxy_impurity_improvement``: exact, rounded as the x86-64 wheel computes it (two roundings)
and as Debian's riscv64 build does (GCC contracted it into one fused multiply-add).
docs/DETERMINISM.md explains the result.

The same file runs inside the root as ``forest_diff.py fit CSV OUT.json SEED`` (numpy, scikit-learn).
"""

from __future__ import annotations

import json
import sys

TRAIN_ROWS, ROWS, COLUMNS, TREES = 5500, 7000, 20, 50
FIELDS = ("left", "right", "feature", "threshold", "impurity", "n_node_samples", "weighted_n_node_samples")


def fit(csv_path: str, out_path: str, seed: int) -> None:
    """Fits the forest on this machine and writes its trees (floats as hex) and its test accuracy."""
    import hashlib
    import platform

    import numpy as np
    import sklearn
    from sklearn.ensemble import RandomForestClassifier

    data = np.loadtxt(csv_path, delimiter=",", skiprows=1)
    X, y = data[:, :-1], data[:, -1].astype(int)
    forest = RandomForestClassifier(n_estimators=TREES, random_state=seed, n_jobs=1)
    forest.fit(X[:TRAIN_ROWS], y[:TRAIN_ROWS])
    correct = int((forest.predict(X[TRAIN_ROWS:]) == y[TRAIN_ROWS:]).sum())
    trees = []
    for estimator in forest.estimators_:
        t = estimator.tree_
        columns = (t.children_left, t.children_right, t.feature, t.threshold, t.impurity, t.n_node_samples,
                   t.weighted_n_node_samples)
        trees.append({name: [float(v).hex() if column.dtype.kind == "f" else int(v) for v in column]
                      for name, column in zip(FIELDS, columns)} | {"random_state": estimator.random_state})
    result = {"machine": platform.machine(), "python": platform.python_version(), "numpy": np.__version__,
              "sklearn": sklearn.__version__, "data_sha256": hashlib.sha256(data.tobytes()).hexdigest(),
              "correct": correct, "tested": len(y) - TRAIN_ROWS, "trees": trees}
    with open(out_path, "w") as out:
        json.dump(result, out)


def main(argv: list[str]) -> int:
    import argparse
    import os
    import shutil
    import subprocess
    from pathlib import Path

    if argv[:1] == ["fit"]:
        fit(argv[1], argv[2], int(argv[3]))
        return 0
    repo = Path(__file__).resolve().parents[2]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=repo / ".cache/riscv64-rootfs/rootfs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if os.geteuid() != 0 or not (args.root / "usr/bin/python3").exists():
        print(f"needs root and a riscv64 root with python3 at {args.root} (make riscv-check builds it)")
        return 2
    work = args.root / "tmp/forest_diff"
    work.mkdir(parents=True, exist_ok=True)
    shutil.copy(__file__, work / "forest_diff.py")
    write_csv(work / "data.csv")
    here = ["fit", str(work / "data.csv"), str(work / "x86_64.json"), str(args.seed)]
    subprocess.run([sys.executable, __file__, *here], check=True)
    proc = args.root / "proc"
    mounted = not os.path.ismount(proc)
    if mounted:
        subprocess.run(["mount", "-t", "proc", "proc", str(proc)], check=True)
    try:
        subprocess.run(["chroot", str(args.root), "/usr/bin/env", "-i", "PATH=/usr/bin:/bin", "python3",
                        "/tmp/forest_diff/forest_diff.py", "fit", "/tmp/forest_diff/data.csv",
                        "/tmp/forest_diff/riscv64.json", str(args.seed)], check=True)
    finally:
        if mounted:
            subprocess.run(["umount", str(proc)], check=True)
    a, b = (json.loads((work / f"{name}.json").read_text()) for name in ("x86_64", "riscv64"))
    report(a, b, work / "data.csv")
    return 0


def write_csv(path) -> None:
    """A noisy binary problem (label column last), values with 4 decimals as in a user's CSV."""
    import numpy as np

    rng = np.random.RandomState(20240613)
    X = rng.normal(size=(ROWS, COLUMNS)).round(4)
    logit = X[:, :6] @ np.array([1.0, -0.8, 0.6, 0.5, -0.4, 0.3]) + 0.7 * X[:, 6] * X[:, 7]
    y = (logit + rng.logistic(size=ROWS) > 0).astype(int)
    header = ",".join([f"f{i}" for i in range(COLUMNS)] + ["label"])
    rows = [",".join([f"{v:.4f}" for v in row] + [str(label)]) for row, label in zip(X, y)]
    path.write_text(header + "\n" + "\n".join(rows) + "\n")


def report(a: dict, b: dict, csv_path) -> None:
    """Prints both runs' accuracy and, for every tree that differs, its first differing node and the
    two candidate splits' proxy improvements (in detail for the first such tree)."""
    for run in (a, b):
        print(f"{run['machine']}: python {run['python']}, numpy {run['numpy']}, "
              f"scikit-learn {run['sklearn']}: "
              f"accuracy {run['correct']}/{run['tested']} = {run['correct'] / run['tested']:.6f}")
    if a["data_sha256"] != b["data_sha256"]:
        print("the two sides parsed the CSV into different arrays: compare the parsers first")
        return
    differing = [i for i, (ta, tb) in enumerate(zip(a["trees"], b["trees"])) if ta != tb]
    print(f"bit-identical trees: {len(a['trees']) - len(differing)}/{len(a['trees'])}")
    X, y = read_training(csv_path)
    for tree in differing:
        ta, tb = a["trees"][tree], b["trees"][tree]
        # "right" is left out: a node's right child is numbered after its whole left subtree
        node = next(i for i in range(min(len(ta["left"]), len(tb["left"])))
                    if any(ta[f][i] != tb[f][i] for f in FIELDS if f != "right"))
        detail = tree == differing[0]
        if detail:
            print(f"first difference: tree {tree}, node {node} (nodes are numbered depth-first in build "
                  f"order, so every node before it, its parent included, is identical)")
            for run, t in ((a, ta), (b, tb)):
                print(f"  {run['machine']:>7}: {split_text(t, node)}, node impurity {t['impurity'][node]}, "
                      f"{t['n_node_samples'][node]} samples, weight "
                      f"{float.fromhex(t['weighted_n_node_samples'][node]):g}")
        print(explain(X, y, ta, tb, node, detail) if detail else
              f"tree {tree:>2}, node {node:>4}: {explain(X, y, ta, tb, node, detail)}")


def read_training(csv_path) -> tuple:
    """The training rows as the tree code sees them (float32 features) and their labels."""
    import numpy as np

    data = np.loadtxt(csv_path, delimiter=",", skiprows=1)
    return data[:TRAIN_ROWS, :-1].astype(np.float32), data[:TRAIN_ROWS, -1].astype(int)


def split_text(t: dict, node: int) -> str:
    if t["left"][node] < 0:
        return "a leaf"
    threshold = t["threshold"][node]
    return f"feature {t['feature'][node]:>2} <= {threshold} ({float.fromhex(threshold):.6g})"


def explain(X, y, ta: dict, tb: dict, node: int, detail: bool) -> str:
    """Recomputes both sides' split of ``node`` from the samples that reach it (the same on both sides)
    and compares their proxy improvements: exact, with two roundings (x86-64) and fused (riscv64)."""
    import numpy as np
    from sklearn.ensemble._forest import _generate_sample_indices

    if ta["left"][node] < 0 or tb["left"][node] < 0:
        return f"x86_64 {split_text(ta, node)}, riscv64 {split_text(tb, node)}"
    # the tree's bootstrap sample as RandomForestClassifier.fit draws it: each row's count is its weight
    drawn = _generate_sample_indices(ta["random_state"], TRAIN_ROWS, TRAIN_ROWS)
    weight = np.bincount(drawn, minlength=TRAIN_ROWS)
    reach = weight > 0
    for parent, child in path_to(ta, node):
        below = X[:, ta["feature"][parent]] <= float.fromhex(ta["threshold"][parent])
        reach &= below if ta["left"][parent] == child else ~below
    found = {}
    for name, t in (("x86_64", ta), ("riscv64", tb)):
        left = reach & (X[:, t["feature"][node]] <= float.fromhex(t["threshold"][node]))
        found[name] = proxies(weight, y, left, reach & ~left)
    lines = []
    if detail:
        lines.append(f"  recomputed here: {int(reach.sum())} samples reach the node, "
                     f"weight {int(weight[reach].sum())}")
        lines.append("  proxy_impurity_improvement = -w_right*gini_right - w_left*gini_left of each side's "
                     "split")
        lines.append("  (class weights left | right; exact value; rounded as on x86_64, then as on riscv64):")
        for name, (counts, exact, two, fused) in found.items():
            lines.append(f"    {name:>7}'s split: {counts}  {float(exact)!r}  {two.hex()}  {fused.hex()}")
    (_, ex, tx, fx), (_, er, tr, fr) = found["x86_64"], found["riscv64"]
    lines.append(f"{'  ' if detail else ''}exact: {order(ex, er)}; two roundings: {order(tx, tr)}; "
                 f"fused: {order(fx, fr)}")
    return "\n".join(lines)


def order(x86, rv) -> str:
    return "equal" if x86 == rv else "x86_64's split larger" if x86 > rv else "riscv64's split larger"


def path_to(t: dict, node: int) -> list[tuple[int, int]]:
    """(parent, child) pairs from the root down to ``node``."""
    parent = {c: p for p in range(len(t["left"])) for c in (t["left"][p], t["right"][p]) if c >= 0}
    steps = []
    while node in parent:
        steps.append((parent[node], node))
        node = parent[node]
    return steps[::-1]


def proxies(weight, y, left, right) -> tuple:
    """A split's class weights, and its proxy improvement: exact (a Fraction, from exact Gini
    impurities), then from the children's Gini impurities as scikit-learn rounds them, with the two
    products rounded separately (the x86-64 wheel: no FMA) and with ``-w_r*g_r - round(w_l*g_l)``
    rounded once (Debian's riscv64 build: one ``fnmadd.d``)."""
    from fractions import Fraction

    def side(mask):
        counts = [int(weight[mask & (y == c)].sum()) for c in (0, 1)]
        w = sum(counts)
        exact = 1 - Fraction(sum(c * c for c in counts), w * w)
        # as _criterion rounds it (the sum of squares is exact for integer weights, fused or not)
        rounded = 1.0 - float(sum(c * c for c in counts)) / float(w * w)
        return counts, w, exact, rounded

    (cl, wl, el, gl), (cr, wr, er, gr) = side(left), side(right)
    exact = -wr * er - wl * el
    two = -wr * gr - wl * gl
    fused = float(-wr * Fraction(gr) - Fraction(wl * gl))  # float(Fraction) rounds once
    return f"{cl} | {cr}", exact, two, fused


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
