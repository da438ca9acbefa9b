"""Where the chain, the Cartesi node and the application are: node discovery.

Resolution, first match wins for each value:

1. explicit arguments (the CLI's ``--rpc``, ``--node``, ``--app``; the console's settings);
2. the environment: ``MLMARKET_RPC_URL`` (base-layer JSON-RPC), ``MLMARKET_NODE_URL`` (the Cartesi
   node's base URL: reader at ``<node>/rpc``, inspect at ``<node>/inspect/<app>``), ``MLMARKET_APP``;
3. the local node's ``node.json`` in ``$MLMARKET_DEVNODE_DIR`` (default ``~/.mlmarket/devnode``),
   used only when neither an RPC nor a node URL was given by (1) or (2), so that a remote chain is
   never mixed with local addresses;
4. defaults: ``http://127.0.0.1:8545``, ``http://127.0.0.1:6751`` and the deterministic Cartesi
   Rollups v2.2.0 addresses (CARTESI-FACTS §4). The application can also be discovered from the
   node when it serves exactly one (``ReaderClient.list_applications``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dapp.codec.releases import V2_2_0
from mlmarket.client.errors import ConfigError

DEFAULT_RPC_URL = "http://127.0.0.1:8545"
DEFAULT_NODE_URL = "http://127.0.0.1:6751"
ADDRESS_KEYS = ("InputBox", "ERC20Portal", "EtherPortal", "Application", "Authority", "Token")
DEFAULT_ADDRESSES = {k: V2_2_0.addresses[k] for k in ADDRESS_KEYS if k in V2_2_0.addresses}
"""The Cartesi Rollups v2.2.0 contracts the client calls, at their addresses (``dapp.codec.releases``)."""


def devnode_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The local node's state directory: ``$MLMARKET_DEVNODE_DIR`` or ``~/.mlmarket/devnode``."""
    env = os.environ if environ is None else environ
    configured = env.get("MLMARKET_DEVNODE_DIR")
    return Path(configured).expanduser() if configured else Path.home() / ".mlmarket" / "devnode"


def _check_address(value: Any, what: str) -> str:
    if not isinstance(value, str) or len(value) != 42 or not value.startswith("0x"):
        raise ConfigError(f"{what} is not a 0x-prefixed 20-byte address: {value!r}")
    try:
        bytes.fromhex(value[2:])
    except ValueError as exc:
        raise ConfigError(f"{what} is not a 0x-prefixed 20-byte address: {value!r}") from exc
    return value


@dataclass(frozen=True)
class NodeConfig:
    """Everything a client needs to reach the chain, the node and the application."""

    rpc_url: str
    reader_url: str
    inspect_url: str
    chain_id: int | None = None
    addresses: Mapping[str, str] = field(default_factory=dict)
    source: str = "defaults"

    @property
    def app(self) -> str | None:
        """The application's address, if known."""
        return self.addresses.get("Application")

    def address(self, name: str) -> str:
        """The address of contract ``name`` (a key of ``ADDRESS_KEYS``). Raises ``ConfigError``."""
        value = self.addresses.get(name)
        if not value:
            hint = " (pass --app or set MLMARKET_APP)" if name == "Application" else ""
            raise ConfigError(f"the {name} address is not known{hint}; configuration from {self.source}")
        return value

    def with_app(self, app: str) -> NodeConfig:
        """The same configuration for application ``app``."""
        return replace(self, addresses={**self.addresses, "Application": _check_address(app, "application")})

    def inspect_endpoint(self) -> str:
        """``POST`` target of inspect queries: ``<inspect_url>/<application>``."""
        return f"{self.inspect_url.rstrip('/')}/{self.address('Application')}"

    def to_json(self) -> dict[str, Any]:
        """The shape ``mlmarket node info --json`` prints (the same keys as ``node.json``)."""
        return {
            "rpc_url": self.rpc_url,
            "chain_id": self.chain_id,
            "reader_url": self.reader_url,
            "inspect_url": self.inspect_url,
            "addresses": {k: self.addresses[k] for k in ADDRESS_KEYS if self.addresses.get(k)},
            "source": self.source,
        }


def load_node_json(path: Path) -> NodeConfig:
    """Reads a local node's ``node.json``. Raises ``ConfigError`` if it is malformed."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} does not hold a JSON object")
    missing = [k for k in ("rpc_url", "reader_url", "inspect_url", "addresses") if k not in data]
    if missing:
        raise ConfigError(f"{path} lacks {', '.join(missing)}")
    raw = data["addresses"]
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: addresses is not an object")
    addresses = {k: _check_address(v, f"{path}: addresses.{k}") for k, v in raw.items() if k in ADDRESS_KEYS}
    chain_id = data.get("chain_id")
    return NodeConfig(
        rpc_url=str(data["rpc_url"]),
        reader_url=str(data["reader_url"]),
        inspect_url=str(data["inspect_url"]),
        chain_id=int(chain_id) if chain_id is not None else None,
        addresses={**DEFAULT_ADDRESSES, **addresses},
        source=str(path),
    )


def discover(
    *,
    rpc_url: str | None = None,
    node_url: str | None = None,
    app: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> NodeConfig:
    """Resolves the configuration from arguments, the environment and ``node.json`` (module doc)."""
    env = os.environ if environ is None else environ
    rpc_url = rpc_url or env.get("MLMARKET_RPC_URL") or None
    node_url = node_url or env.get("MLMARKET_NODE_URL") or None
    app = app or env.get("MLMARKET_APP") or None
    node_json = devnode_dir(env) / "node.json"
    if rpc_url is None and node_url is None and node_json.is_file():
        config = load_node_json(node_json)
    else:
        base = (node_url or DEFAULT_NODE_URL).rstrip("/")
        explicit = [name for name, v in (("rpc", rpc_url), ("node", node_url)) if v]
        config = NodeConfig(
            rpc_url=rpc_url or DEFAULT_RPC_URL,
            reader_url=f"{base}/rpc",
            inspect_url=f"{base}/inspect",
            addresses=dict(DEFAULT_ADDRESSES),
            source=f"--{'/--'.join(explicit)} or environment" if explicit else "defaults (no node.json found)",
        )
    return config.with_app(app) if app else config
