"""Node discovery: flags, environment, node.json, defaults."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dapp.codec.releases import V2_2_0
from mlmarket.client.config import discover
from mlmarket.client.errors import ConfigError

APP = "0x" + "aa" * 20
TOKEN = "0x" + "bb" * 20


def write_node_json(directory: Path, **overrides: object) -> None:
    data = {"rpc_url": "http://127.0.0.1:9999", "chain_id": 31337, "reader_url": "http://127.0.0.1:7777/rpc",
            "inspect_url": "http://127.0.0.1:7777/inspect",
            "addresses": {"InputBox": "0x" + "11" * 20, "ERC20Portal": "0x" + "22" * 20,
                          "EtherPortal": "0x" + "33" * 20, "Application": APP, "Authority": "0x" + "44" * 20,
                          "Token": TOKEN}}
    data.update(overrides)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "node.json").write_text(json.dumps(data))


def test_node_json_is_used_when_nothing_else_is_given(tmp_path: Path) -> None:
    write_node_json(tmp_path)
    config = discover(environ={"MLMARKET_DEVNODE_DIR": str(tmp_path)})
    assert config.rpc_url == "http://127.0.0.1:9999" and config.chain_id == 31337
    assert config.app == APP and config.address("Token") == TOKEN
    assert config.inspect_endpoint() == f"http://127.0.0.1:7777/inspect/{APP}"
    assert set(config.to_json()) >= {"rpc_url", "chain_id", "reader_url", "inspect_url", "addresses"}


def test_explicit_urls_ignore_node_json(tmp_path: Path) -> None:
    write_node_json(tmp_path)
    config = discover(rpc_url="http://chain:8545", node_url="http://node:6751/", app=APP,
                      environ={"MLMARKET_DEVNODE_DIR": str(tmp_path)})
    assert config.rpc_url == "http://chain:8545"
    assert config.reader_url == "http://node:6751/rpc" and config.inspect_url == "http://node:6751/inspect"
    assert config.address("InputBox") == V2_2_0.addresses["InputBox"]
    assert config.addresses.get("Token") is None


def test_environment_counts_as_explicit(tmp_path: Path) -> None:
    write_node_json(tmp_path)
    env = {"MLMARKET_DEVNODE_DIR": str(tmp_path), "MLMARKET_NODE_URL": "http://remote:6751", "MLMARKET_APP": APP}
    config = discover(environ=env)
    assert config.reader_url == "http://remote:6751/rpc" and config.app == APP
    assert config.rpc_url == "http://127.0.0.1:8545"


def test_flag_app_overrides_node_json(tmp_path: Path) -> None:
    write_node_json(tmp_path)
    other = "0x" + "cc" * 20
    assert discover(app=other, environ={"MLMARKET_DEVNODE_DIR": str(tmp_path)}).app == other


def test_defaults_without_node_json(tmp_path: Path) -> None:
    config = discover(environ={"MLMARKET_DEVNODE_DIR": str(tmp_path / "absent")})
    assert config.reader_url == "http://127.0.0.1:6751/rpc" and config.app is None
    with pytest.raises(ConfigError, match="--app"):
        config.address("Application")


def test_malformed_node_json_is_reported(tmp_path: Path) -> None:
    write_node_json(tmp_path, addresses={"Application": "0x1234"})
    with pytest.raises(ConfigError, match="Application"):
        discover(environ={"MLMARKET_DEVNODE_DIR": str(tmp_path)})


def test_malformed_app_flag_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="application"):
        discover(app="not-an-address", environ={"MLMARKET_DEVNODE_DIR": str(tmp_path)})
