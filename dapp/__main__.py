"""``python -m dapp``: configuration from the environment, then the rollup loop forever."""

from __future__ import annotations

import logging
import sys


def main() -> None:
    """Builds the app from the environment and serves the rollup: ``/dev/cmio`` directly when it exists
    and ``ROLLUP_HTTP_SERVER_URL`` is unset, else the rollup HTTP server."""
    import os

    from dapp.app import App
    from dapp.config import Config
    from dapp.ml.engine import Engine
    from dapp.rollup.cmio import DEVICE_PATH, CmioRollup, use_cmio
    from dapp.rollup.http import HttpRollup
    from dapp.rollup.loop import run

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="dapp: %(levelname)s %(message)s")
    config = Config.from_env()
    cmio = use_cmio(os.environ, os.path.exists(DEVICE_PATH))
    logging.getLogger(__name__).info("serving %s", DEVICE_PATH if cmio else config.rollup_url)
    rollup = CmioRollup.open() if cmio else HttpRollup(config.rollup_url)
    run(App(config, engine=Engine(config.ml_limits)), rollup)


if __name__ == "__main__":
    main()
