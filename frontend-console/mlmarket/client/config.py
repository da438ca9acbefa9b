"""Where the chain, the Cartesi node and the application are: node discovery.

Resolution, first match wins for each value:

1. explicit arguments (the CLI's ``--rpc``, ``--node``, ``--app``; the console's settings);
2. the environment: ``MLMARKET_RPC_URL`` (base-layer JSON-RPC), ``MLMARKET_NODE_URL`` (the Cartesi
   node's base URL: reader at ``<node>/rpc``, inspect at ``<node>/inspect/<app>``), ``MLMARKET_APP``,
   ``MLMARKET_ROLLUPS`` (``1`` for a Rollups v1 node: GraphQL reader at ``<node>/graphql``, inspect
   ``POST <node>/inspect``, the v1.4 contracts; else ``2``);
3. the local node's ``node.json`` in ``$MLMARKET_DEVNODE_DIR`` (default ``~/.mlmarket/devnode``),
   used only when neither an RPC nor a node URL was given by (1) or (2), so that a remote chain is
   never mixed with local addresses; its ``rollups`` (absent: 2) says which protocol the node runs;
4. defaults: ``http://127.0.0.1:8545``, ``http://127.0.0.1:6751`` and the deterministic Cartesi
   Rollups v2.2.0 (or, for ``rollups`` 1, v1.4) addresses (CARTESI-FACTS §4). The application can
   also be discovered from the node when it serves exactly one (``ReaderClient.list_applications``;
   a v1 node does not tell).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from eth_utils import is_hex_address

from dapp.codec.releases import V1_4, V2_2_0
from mlmarket.client.errors import ConfigError

DEFAULT_RPC_URL = "http://127.0.0.1:8545"
DEFAULT_NODE_URL = "http://127.0.0.1:6751"
ADDRESS_KEYS = ("InputBox", "ERC20Portal", "EtherPortal", "Application", "Authority", "Token")
DEFAULT_ADDRESSES = {k: V2_2_0.addresses[k] for k in ADDRESS_KEYS if k in V2_2_0.addresses}
"""The Cartesi Rollups v2.2.0 contracts the client calls, at their addresses (``dapp.codec.releases``)."""
DEFAULT_ADDRESSES_V1 = {k: V1_4.addresses[k] for k in ADDRESS_KEYS if k in V1_4.addresses}
"""The same for a Rollups v1 node (v1.4)."""
ROLLUPS_VERSIONS = (1, 2)


def rollups_version(value: Any, what: str) -> int:
    """``value`` (``1``/``2``, number or text) as a Rollups major version. Raises ``ConfigError``."""
    try:
        version = int(value)
    except (TypeError, ValueError):
        version = 0
    if version not in ROLLUPS_VERSIONS:
        raise ConfigError(f"{what} must be 1 or 2 (the Cartesi Rollups version), not {value!r}")
    return version


def default_addresses(rollups: int) -> dict[str, str]:
    """The release addresses a client of a Rollups ``rollups`` node starts from."""
    return dict(DEFAULT_ADDRESSES_V1 if rollups == 1 else DEFAULT_ADDRESSES)


def devnode_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The local node's state directory: ``$MLMARKET_DEVNODE_DIR`` or ``~/.mlmarket/devnode``."""
    env = os.environ if environ is None else environ
    configured = env.get("MLMARKET_DEVNODE_DIR")
    return Path(configured).expanduser() if configured else Path.home() / ".mlmarket" / "devnode"


def _check_address(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.startswith("0x") or not is_hex_address(value):
        raise ConfigError(f"{what} is not a 0x-prefixed 20-byte address: {value!r}")
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
    rollups: int = 2
    """The node's Rollups major version: 2 (JSON-RPC reader) or 1 (GraphQL reader, ``reader_v1``)."""
    contracts: str | None = None
    """The node's contracts release (``node.json`` ``contracts``, e.g. ``2.0.0-rc.14``); None: unknown/2.2.0."""

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
        """``POST`` target of inspect queries: ``<inspect_url>/<application>`` (v1: ``<inspect_url>``)."""
        if self.rollups == 1:
            return self.inspect_url.rstrip("/")
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
            "rollups": self.rollups,
            "contracts": self.contracts,
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
    rollups = rollups_version(data.get("rollups", 2), f"{path}: rollups")
    contracts = data.get("contracts")
    return NodeConfig(
        rpc_url=str(data["rpc_url"]),
        reader_url=str(data["reader_url"]),
        inspect_url=str(data["inspect_url"]),
        chain_id=int(chain_id) if chain_id is not None else None,
        addresses={**default_addresses(rollups), **addresses},
        source=str(path),
        rollups=rollups,
        contracts=str(contracts) if contracts else None,
    )


def discover(
    *,
    rpc_url: str | None = None,
    node_url: str | None = None,
    app: str | None = None,
    rollups: int | str | None = None,
    environ: Mapping[str, str] | None = None,
) -> NodeConfig:
    """Resolves the configuration from arguments, the environment and ``node.json`` (module doc)."""
    env = os.environ if environ is None else environ
    rpc_url = rpc_url or env.get("MLMARKET_RPC_URL") or None
    node_url = node_url or env.get("MLMARKET_NODE_URL") or None
    app = app or env.get("MLMARKET_APP") or None
    rollups = rollups or env.get("MLMARKET_ROLLUPS") or None
    version = None if rollups is None else rollups_version(rollups, "--rollups / MLMARKET_ROLLUPS")
    node_json = devnode_dir(env) / "node.json"
    if rpc_url is None and node_url is None and node_json.is_file():
        config = load_node_json(node_json)
        if version is not None:  # the node's own addresses stay: it wrote them
            config = replace(config, rollups=version)
    else:
        base = (node_url or DEFAULT_NODE_URL).rstrip("/")
        explicit = [name for name, v in (("rpc", rpc_url), ("node", node_url)) if v]
        version = version or 2
        config = NodeConfig(
            rpc_url=rpc_url or DEFAULT_RPC_URL,
            reader_url=f"{base}/graphql" if version == 1 else f"{base}/rpc",
            inspect_url=f"{base}/inspect",
            addresses=default_addresses(version),
            source=f"--{'/--'.join(explicit)} or environment" if explicit else "defaults (no node.json found)",
            rollups=version,
        )
    return config.with_app(app) if app else config
