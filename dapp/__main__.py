"""``python -m dapp``: configuration from the environment, then the rollup loop forever."""

from __future__ import annotations

import logging
import sys


def main() -> None:
    """Builds the app from the environment and serves the rollup HTTP server."""
    from dapp.app import App
    from dapp.config import Config
    from dapp.ml.engine import Engine
    from dapp.rollup.http import HttpRollup
    from dapp.rollup.loop import run

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="dapp: %(levelname)s %(message)s")
    config = Config.from_env()
    logging.getLogger(__name__).info("serving %s", config.rollup_url)
    run(App(config, engine=Engine(config.ml_limits)), HttpRollup(config.rollup_url))


if __name__ == "__main__":
    main()
