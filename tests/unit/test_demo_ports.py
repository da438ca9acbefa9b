"""``make run PORT=… NODE_PORT=… ANVIL_PORT=…``: the Makefile passes each port to scripts/demo.py,
and a port already in use stops the demo before anything starts, naming the variable and the
option that change it (not a server's traceback)."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts import demo

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def taken() -> Iterator[int]:
    """A port some other program listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


@pytest.mark.parametrize("option, variable", [("--port", "PORT"), ("--node-port", "NODE_PORT"),
                                              ("--anvil-port", "ANVIL_PORT")])
def test_a_busy_port_names_the_make_variable_and_the_option(taken: int, option: str, variable: str, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    ports = {"--port": "0", "--node-port": "0", "--anvil-port": "0", option: str(taken)}
    args = [part for pair in ports.items() for part in pair]
    assert demo.main([*args, "--state-dir", str(tmp_path / "node")]) == 2
    err = capsys.readouterr().err
    assert f"port {taken} " in err and f"make run {variable}={taken + 1}" in err and f"{option} {taken + 1}" in err
    assert "Traceback" not in err and not (tmp_path / "node" / "node.json").exists()  # nothing started


def test_make_run_passes_its_three_port_variables_to_the_demo() -> None:
    shown = subprocess.run(["make", "-n", "run", "PORT=5101", "NODE_PORT=5102", "ANVIL_PORT=5103"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.splitlines()
    assert any(line.endswith("scripts/demo.py --port 5101 --node-port 5102 --anvil-port 5103") for line in shown)
