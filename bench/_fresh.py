"""Measuring in a fresh process that runs like ``python -m dapp``: one BLAS/OpenMP thread.

``python -m dapp`` sets ``OPENBLAS_NUM_THREADS=1`` (and the other pools' variables) before numpy
loads, so the pools never start a second thread. A benchmark process that loaded numpy without them
has a pool of one thread per core, which each forked worker starts again when the engine limits it
to one thread and whose threads then spin on the cores the fit needs: tens of milliseconds per
input that the backend does not pay. Inside ``python -m bench`` numpy is loaded long before a given
benchmark runs, so such a benchmark measures in a child process instead:

    found = _fresh.run("bench.name", measure)   # measure() in a fresh one-thread child, its JSON back

The child's output goes to this process's stdout; ``measure()`` returns JSON-able figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
_RESULT = "BENCH_FRESH_RESULT"  # where the child writes measure()'s result (set for the child only)


def one_thread_env() -> dict[str, str]:
    """This process's environment with the one-thread setting of ``python -m dapp`` (this process's own
    environment is left as it was: other benchmarks' children inherit it)."""
    sys.path.insert(0, str(REPO))
    saved = dict(os.environ)
    try:
        from dapp.__main__ import ONE_THREAD  # noqa: PLC0415 (importing it sets the variables)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return {**saved, **ONE_THREAD}


def one_thread_here() -> None:
    """Sets the one-thread variables in this process; a ValueError if numpy is loaded already."""
    if "numpy" in sys.modules:
        raise ValueError("numpy is loaded: the one-thread setting would come too late")
    os.environ.update(one_thread_env())


def run(module: str, measure: Callable[[], Any]) -> Any:
    """``measure()``'s result, computed in a fresh ``python -m module`` child with one thread (or here
    when this process is that child)."""
    if os.environ.get(_RESULT):
        result = measure()
        Path(os.environ[_RESULT]).write_text(json.dumps(result))
        return result
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "result.json"
        sys.stdout.flush()
        subprocess.run([sys.executable, "-m", module], env={**one_thread_env(), _RESULT: str(path)}, cwd=REPO,
                       check=True, timeout=3600)
        return json.loads(path.read_text())
