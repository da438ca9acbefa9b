"""``python -m mlmarket.console [--port 5000]``: serves the console on 127.0.0.1 (configuration: docs/CONSOLE.md)."""

from __future__ import annotations

import argparse

from werkzeug.serving import run_simple

from mlmarket.console.app import create_app


def main(argv: list[str] | None = None) -> None:
    """Runs the console until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m mlmarket.console", description=__doc__)
    parser.add_argument("--port", type=int, default=5000, help="port on 127.0.0.1 (default 5000)")
    args = parser.parse_args(argv)
    print(f"console: http://127.0.0.1:{args.port}/", flush=True)
    run_simple("127.0.0.1", args.port, create_app(), threaded=True)


if __name__ == "__main__":
    main()
