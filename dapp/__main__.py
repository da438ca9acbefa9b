"""``python -m dapp``: configuration from the environment, then the rollup loop forever."""

from __future__ import annotations

import logging
import os
import sys

# One thread for the whole backend, set before anything imports numpy: OpenBLAS (Debian's, or the
# scipy-openblas that numpy's and scipy's wheels bundle), MKL, BLIS and OpenMP (libgomp, scikit-learn's
# prange loops) read these variables when they load and start their thread pools then, which the
# engine's later ``train.single_thread`` limit cannot undo (threadpoolctl 3.1.0 does not even see
# scipy-openblas). Forced, not defaulted: the machine has one core, and a host must compute as it
# does (a threaded BLAS may sum in another order) and within the worker's CPU-time limit (which idle
# pool threads spinning on a busy host consume), so an operator's ``OMP_NUM_THREADS=4`` is replaced,
# with a warning. The Dockerfile and the devnode set the same (tests/unit/test_one_thread.py).
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "BLIS_NUM_THREADS": "1"}
_REPLACED = [f"{name}={os.environ[name]}" for name in ONE_THREAD if os.environ.get(name, "1") != "1"]
os.environ.update(ONE_THREAD)


def main() -> None:
    """Builds the app from the environment and serves the rollup: ``/dev/cmio`` directly when it exists
    and ``ROLLUP_HTTP_SERVER_URL`` is unset, else the rollup HTTP server."""
    from dapp.app import App
    from dapp.config import Config
    from dapp.ml.catalogue import preload
    from dapp.ml.engine import Engine
    from dapp.rollup.cmio import DEVICE_PATH, CmioRollup, use_cmio
    from dapp.rollup.http import HttpRollup
    from dapp.rollup.loop import run

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="dapp: %(levelname)s %(message)s")
    if _REPLACED:
        logging.getLogger(__name__).warning("one thread: replaced %s with 1", ", ".join(_REPLACED))
    config = Config.from_env()
    preload()  # every estimator's module, before the first request (docs/IMAGE.md, "Imports at boot")
    cmio = use_cmio(os.environ, os.path.exists(DEVICE_PATH))
    logging.getLogger(__name__).info("serving %s", DEVICE_PATH if cmio else config.rollup_url)
    rollup = CmioRollup.open() if cmio else HttpRollup(config.rollup_url)
    run(App(config, engine=Engine(config.ml_limits)), rollup)


if __name__ == "__main__":
    main()
