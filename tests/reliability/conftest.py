"""Figures of the reliability suite, and the switch for its long tests.

- ``figures`` (fixture): ``figures(name, value)`` records one figure (inputs tried, seconds...); all
  of them are printed at the end of the run under "reliability figures", whatever ``-q`` says.
- Tests marked ``reliability`` (the 2,000-input burst, the long kill series) run only when the
  marker expression names them: ``pytest -m reliability tests/reliability`` (``make reliability``).
  Otherwise they are skipped, so that ``make test`` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

_FIGURES: list[tuple[str, str, str]] = []


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Callable[[str, object], None]:
    """``figures(name, value)``: records a figure of the running test for the end-of-run summary."""

    def record(name: str, value: object) -> None:
        _FIGURES.append((request.node.name, name, f"{value:,}" if isinstance(value, int) else str(value)))

    return record


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skips ``reliability``-marked tests unless ``-m`` selects that marker."""
    if "reliability" in (config.getoption("markexpr", "") or ""):
        return
    skip = pytest.mark.skip(reason="long reliability test: run `pytest -m reliability tests/reliability`")
    for item in items:
        if item.get_closest_marker("reliability") is not None:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """Prints every recorded figure, grouped by test."""
    if not _FIGURES:
        return
    terminalreporter.section("reliability figures")
    width = max(len(name) for _, name, _ in _FIGURES)
    current = None
    for test, name, value in _FIGURES:
        if test != current:
            terminalreporter.write_line(test)
            current = test
        terminalreporter.write_line(f"  {name:<{width}}  {value}")
