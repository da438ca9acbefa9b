"""The switch for the tests that need the real Cartesi machine."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skips ``machine``-marked tests unless ``-m`` selects that marker (``make machine-check`` does)."""
    if "machine" in (config.getoption("markexpr", "") or ""):
        return
    skip = pytest.mark.skip(reason="needs the real Cartesi machine: run `make machine-check` "
                                   "(or `pytest -m machine tests/e2e/test_machine_node.py` after `make machine-image`)")
    for item in items:
        if item.get_closest_marker("machine") is not None:
            item.add_marker(skip)
