"""Who acts and through which ``Market``: the account chosen in the session, the markets per account.

Two ways to sign (docs/CONSOLE.md):

- ``dev``: a dev account of the local node, signed here on the server (only on a local chain; the
  key never leaves ``mlmarket.client.accounts``);
- ``wallet``: a browser wallet's address; the server only prepares unsigned transactions
  (``Chain.prepare_input``) and the page's wallet (EIP-1193) signs and sends them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from flask import session
from web3 import Web3

from mlmarket.client.accounts import dev_signer
from mlmarket.client.config import NodeConfig
from mlmarket.client.errors import ConfigError
from mlmarket.client.market import Market
from mlmarket.console.settings import DEV_ACCOUNT_COUNT, LOCAL_CHAIN_ID, LOOPBACK_HOSTS, Settings

DEV, WALLET = "dev", "wallet"


class WalletMarket(Market):
    """A ``Market`` acting for a browser wallet's ``address``: reads and prepares, never signs."""

    def __init__(self, config: NodeConfig, address: str, **kwargs: Any) -> None:
        super().__init__(config, None, **kwargs)
        self.wallet_address = Web3.to_checksum_address(address)

    @property
    def account(self) -> str:
        """The wallet's address (what ``pending_upload`` and balances are asked for)."""
        return self.wallet_address


@dataclass(frozen=True)
class Identity:
    """The acting account: ``mode`` is ``dev`` (``index``) or ``wallet`` (``address``)."""

    mode: str
    index: int | None = None
    address: str | None = None

    @property
    def signs_here(self) -> bool:
        """Whether the server signs (dev accounts) rather than the browser's wallet."""
        return self.mode == DEV


class MarketPool:
    """Builds ``Market`` objects once per account and caches them (thread-safe)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._config: NodeConfig | None = None
        self._markets: dict[tuple[str, Any], Any] = {}
        self._dev_allowed: bool | None = None

    def _build(self, kind: str, value: Any) -> Any:
        if self.settings.market_factory is not None:
            return self.settings.market_factory(kind, value)
        config = self.config()
        timeout = self.settings.wait_timeout
        if kind == DEV:
            return Market(config, dev_signer(int(value)), wait_timeout=timeout)
        if kind == WALLET:
            return WalletMarket(config, value, wait_timeout=timeout)
        return Market(config, None, wait_timeout=timeout)

    def config(self) -> NodeConfig:
        """The node configuration (discovered on first use; ``ConfigError`` if it cannot be)."""
        if self._config is None:
            self._config = Market.connect(read_only=True, environ=self.settings.environ).config
        return self._config

    def market(self, kind: str = "read", value: Any = None) -> Any:
        """The market of ``kind`` (``read``, ``dev`` + index, ``wallet`` + address)."""
        key = (kind, value)
        with self._lock:
            if key not in self._markets:
                self._markets[key] = self._build(kind, value)
            return self._markets[key]

    def dev_accounts_allowed(self) -> bool:
        """Whether dev accounts may sign here: ``auto`` allows them only on a local chain (chain id
        31337 reached through a loopback URL)."""
        if self.settings.dev_accounts == "off":
            return False
        if self._dev_allowed is None:
            reader = self.market()
            host = urlparse(reader.config.rpc_url).hostname or ""
            self._dev_allowed = host in LOOPBACK_HOSTS and reader.chain.chain_id() == LOCAL_CHAIN_ID
        return self._dev_allowed

    def dev_addresses(self) -> list[tuple[int, str]]:
        """(index, address) of the dev accounts offered (none unless allowed)."""
        if not self.dev_accounts_allowed():
            return []
        return [(i, dev_signer(i).address) for i in range(DEV_ACCOUNT_COUNT)]


def current_identity(pool: MarketPool) -> Identity | None:
    """The account chosen in the session; by default dev account 0 where dev accounts are allowed."""
    chosen = session.get("account")
    if isinstance(chosen, dict) and chosen.get("mode") == WALLET and isinstance(chosen.get("address"), str):
        return Identity(WALLET, address=chosen["address"])
    dev_ok = pool.dev_accounts_allowed()
    if isinstance(chosen, dict) and chosen.get("mode") == DEV and dev_ok:
        index = chosen.get("index")
        if isinstance(index, int) and 0 <= index < DEV_ACCOUNT_COUNT:
            return Identity(DEV, index=index)
    return Identity(DEV, index=0) if dev_ok else None


def acting_market(pool: MarketPool, identity: Identity | None) -> Any:
    """The market that acts for ``identity``. Raises ``ConfigError`` when no account is chosen."""
    if identity is None:
        raise ConfigError("choose an account first: connect a browser wallet (top right)")
    if identity.mode == DEV:
        return pool.market(DEV, identity.index)
    return pool.market(WALLET, identity.address)


def identity_address(pool: MarketPool, identity: Identity | None) -> str | None:
    """The checksummed address of ``identity`` (None when no account is chosen)."""
    if identity is None:
        return None
    if identity.mode == DEV:
        return dev_signer(int(identity.index or 0)).address
    return Web3.to_checksum_address(identity.address or "")
