"""The switch for the tests that need the real Cartesi machine, and the fixtures the CLI and console
tests share: ``w3`` on the module's ``node`` and the example ``files``."""

from __future__ import annotations

from pathlib import Path

import pytest
from web3 import Web3

from devnode.node import Node
from tests.e2e.devnode_harness import example_files, w3_of


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skips ``machine``-marked tests unless ``-m`` selects that marker (``make machine-check`` does)."""
    if "machine" in (config.getoption("markexpr", "") or ""):
        return
    skip = pytest.mark.skip(reason="needs the real Cartesi machine: run `make machine-check` "
                                   "(or `pytest -m machine tests/e2e/test_machine_node.py` after `make machine-image`)")
    for item in items:
        if item.get_closest_marker("machine") is not None:
            item.add_marker(skip)


@pytest.fixture(scope="module")
def w3(node: Node) -> Web3:
    """web3 on the anvil of the module's ``node``: on-chain effects are read with it, not the client."""
    return w3_of(node)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The example files (``example_files``): breast-cancer ``train``/``valid`` CSVs and a ``model`` spec."""
    return example_files(tmp_path_factory.mktemp("files"))
