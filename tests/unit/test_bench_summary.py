"""``python -m bench`` ends with one summary table of the figures the benchmarks that ran recorded.

The runner is driven with fake benchmark modules (no real benchmark runs): one that records two
figures, one that records one and then raises, one that records nothing.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator

import pytest

import bench.__main__ as runner
from bench import _summary as summary


def _module(name: str, body) -> types.ModuleType:
    module = types.ModuleType(f"bench.{name}")
    module.main = body
    return module


def _fast() -> None:
    print("fast benchmark's own table")
    summary.record("widgets per second", "1,234", ">= 1,000")
    summary.record("widget size", "7 bytes")


def _broken() -> None:
    summary.record("gadgets measured before the failure", "3")
    raise RuntimeError("the gadget broke")


def _silent() -> None:
    print("a benchmark without headline figures")


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Three fake benchmarks, the only ones the runner knows about."""
    bodies = {"fake_fast": _fast, "fake_broken": _broken, "fake_silent": _silent}
    for name, body in bodies.items():
        monkeypatch.setitem(sys.modules, f"bench.{name}", _module(name, body))
    monkeypatch.setattr(runner, "available", lambda: sorted(bodies))
    yield sorted(bodies)
    summary.reset()


def _summary_lines(output: str) -> list[str]:
    """The lines after the ``== summary ==`` header, which must come after every benchmark's own output."""
    head, marker, tail = output.partition("== summary ==\n")
    assert marker, output
    assert "-- bench." in head and "-- bench." not in tail
    return tail.rstrip("\n").split("\n")


def test_the_summary_lists_every_recorded_figure_after_all_benchmarks(fakes, capsys):
    status = runner.main(["fake_fast", "fake_silent"])
    output = capsys.readouterr().out
    assert status == 0
    assert output.index("fast benchmark's own table") < output.index("== summary ==")
    header, *rows = _summary_lines(output)
    assert header.split() == ["benchmark", "figure", "value", "target"]
    assert len(rows) == 2
    assert rows[0].startswith("fake_fast") and "widgets per second" in rows[0]
    assert "1,234" in rows[0] and rows[0].endswith(">= 1,000")
    assert rows[1].startswith(" ") and "widget size" in rows[1] and rows[1].endswith("7 bytes")


def test_a_benchmark_that_raised_gets_a_failed_row_and_the_others_still_run(fakes, capsys):
    status = runner.main([])
    output = capsys.readouterr().out
    assert status == 1
    rows = _summary_lines(output)[1:]
    broken = [r for r in rows if "gadgets" in r or "FAILED" in r]
    assert len(broken) == 2 and rows[0].startswith("fake_broken") and "FAILED" in broken[1]
    assert any("widgets per second" in r for r in rows)


def test_columns_are_aligned(fakes, capsys):
    runner.main(["fake_broken", "fake_fast"])
    lines = _summary_lines(capsys.readouterr().out)
    header = lines[0]
    for column in ("figure", "value"):
        start = header.index(column)
        for line in lines[1:]:
            assert line[start - 2:start] == "  " and line[start] != " ", (column, line)


def test_each_run_starts_a_fresh_summary(fakes, capsys):
    runner.main(["fake_fast"])
    runner.main(["fake_fast"])
    rows = _summary_lines(capsys.readouterr().out.rsplit("== bench.", 1)[1])[1:]
    assert sum("widgets per second" in r for r in rows) == 1


def test_recording_outside_the_runner_does_not_fail():
    summary.reset()
    summary.record("a figure", "1")
    assert [(r.benchmark, r.figure, r.value, r.target) for r in summary.rows()] == [("", "a figure", "1", "")]
    summary.reset()
    assert summary.rows() == []
