"""``make run`` (``scripts/demo.py``) as a user meets it: the node, the backend and the console come up,
the demo job is posted with a scored, paid submission, the printed URL serves it, and Ctrl-C (SIGINT)
stops everything it started, anvil included. A second run reuses the state and the job."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devnode import lifecycle

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
URL = re.compile(r"console: (http://127\.0\.0\.1:\d+/jobs/(\d+))")
STARTUP_SECONDS = 120


class Demo:
    """One ``scripts/demo.py`` process on a private state directory and a free port."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.lines: list[str] = []
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "scripts/demo.py", "--port", "0", "--state-dir", str(state_dir)], cwd=REPO, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def url(self) -> tuple[str, int]:
        """(console URL of the demo job, job id), read from what the demo prints."""
        deadline = time.monotonic() + STARTUP_SECONDS
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            self.lines.append(line)
            found = URL.search(line)
            if found:
                return found.group(1), int(found.group(2))
        raise AssertionError("the demo printed no console URL:\n" + "".join(self.lines))

    def interrupt(self) -> int:
        """Ctrl-C; returns the exit status."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=60)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
        lifecycle.end_orphans(self.state_dir)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Callable[[], Demo]]:
    """Starts demos on one state directory; every one is ended (and its orphans) afterwards."""
    started: list[Demo] = []

    def start() -> Demo:
        started.append(Demo(tmp_path / "state"))
        return started[-1]

    yield start
    for one in started:
        one.kill()


def processes_using(state_dir: Path) -> list[str]:
    """Command lines of live processes that name ``state_dir`` (anvil's state file, the backend)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if entry.name.isdigit() and str(state_dir) in line:
            found.append(line)
    return found


def page(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as answer:  # noqa: S310 -- 127.0.0.1, our own console
        assert answer.status == 200
        return answer.read().decode()


def test_make_run_serves_the_demo_job_and_ctrl_c_stops_everything(demo: Callable[[], Demo]) -> None:
    first = demo()
    url, job = first.url()
    html = page(url)
    assert "demo: breast cancer diagnosis" in html
    scores = [float(v) for v in re.findall(r"<td data-score>([0-9.]+)</td>", html)]
    assert scores and scores[0] >= 0.9, "the demo's submission is scored above the job's bar"
    assert processes_using(first.state_dir), "anvil runs on the demo's state directory"
    assert first.interrupt() == 0
    assert not lifecycle.node_running(first.state_dir) and processes_using(first.state_dir) == []

    second = demo()  # reuses the state: the same job, not a new one
    again, same_job = second.url()
    assert same_job == job
    assert "demo: breast cancer diagnosis" in page(again)
    assert second.interrupt() == 0
    assert not lifecycle.node_running(second.state_dir) and processes_using(second.state_dir) == []
