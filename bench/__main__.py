"""``python -m bench [name ...]``: runs every ``bench/<name>.py`` ``main()`` in turn, or those named.

Each benchmark prints its own table under a header; a failing one is reported and the others still
run (the exit status is then 1). At the end, under ``== summary ==``, one table lists the headline
figures that the benchmarks which ran recorded (``bench._summary.record``), with a FAILED row for each
one that raised. ``sys.argv`` is reset to the module's own name while its ``main()`` runs, so
benchmarks that read options see none.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
import traceback
from pathlib import Path

from bench import _summary as summary

PACKAGE = "bench"


def available() -> list[str]:
    """The benchmark modules of this package, by name (private and ``__main__`` excluded)."""
    here = [str(Path(__file__).resolve().parent)]
    return sorted(m.name for m in pkgutil.iter_modules(here) if not m.name.startswith("_"))


def run(name: str) -> bool:
    """Imports ``bench.<name>`` and calls its ``main()``; returns whether it finished without error."""
    print(f"== bench.{name} ==", flush=True)
    began, argv = time.perf_counter(), sys.argv
    sys.argv = [f"{PACKAGE}.{name}"]
    summary.begin(name)
    try:
        importlib.import_module(f"{PACKAGE}.{name}").main()
        ok = True
    except Exception:  # noqa: BLE001 -- one broken benchmark must not hide the others' figures
        traceback.print_exc()
        summary.record("(raised: see its traceback above)", "FAILED")
        ok = False
    finally:
        sys.argv = argv
    outcome = "done" if ok else "FAILED"
    print(f"-- bench.{name}: {outcome} in {time.perf_counter() - began:.1f} s\n", flush=True)
    return ok


def main(argv: list[str] | None = None) -> int:
    """Runs the named benchmarks (all when none is named); returns the exit status."""
    names = [n.removesuffix(".py").removeprefix(f"{PACKAGE}/").removeprefix(f"{PACKAGE}.")
             for n in (sys.argv[1:] if argv is None else argv)]
    known = available()
    unknown = [n for n in names if n not in known]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(known)}", file=sys.stderr)
        return 2
    summary.reset()
    results = [run(name) for name in names or known]
    print("== summary ==")
    print(summary.table(), flush=True)
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
