"""What every request shares: the settings, the markets, the staging area and the token book."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from flask import current_app

from mlmarket.client.errors import ClientError
from mlmarket.console.gateway import Identity, MarketPool, acting_market, current_identity, identity_address
from mlmarket.console.idempotency import Receipts, once
from mlmarket.console.money import Money, money
from mlmarket.console.present import ETHER, amount_text, token_label
from mlmarket.console.settings import Settings
from mlmarket.console.staging import Staging


class TokenBook:
    """Token decimals (asked once per token from the chain) and labels, for showing amounts."""

    def __init__(self, pool: MarketPool) -> None:
        self.pool = pool
        self._decimals: dict[str, int] = {ETHER: 18}
        self._lock = threading.Lock()

    def test_token(self) -> str | None:
        """The local node's test token, if the configuration names one."""
        try:
            return self.pool.market().config.addresses.get("Token")
        except ClientError:
            return None

    def decimals(self, token: str) -> int:
        """``decimals()`` of ``token`` (18 when the chain cannot tell)."""
        key = str(token).lower()
        with self._lock:
            if key in self._decimals:
                return self._decimals[key]
        value = self.pool.market().chain.decimals_of(token)
        with self._lock:
            self._decimals[key] = value
        return value

    def label(self, token: Any) -> str:
        """``ETH``, ``TEST`` or the short address."""
        return token_label(token, self.test_token())

    def money(self, token: str, amount: int) -> Money:
        """``amount`` base units of ``token`` with its label and the withdraw form's fields."""
        return money(str(token), int(amount), decimals=self.decimals(str(token)), label=self.label(token),
                     test_token=self.test_token())

    def fmt(self, base_units: Any, token: Any) -> str:
        """An amount in base units shown in token units with the token's label."""
        return amount_text(base_units, self.decimals(str(token)), self.label(token))


@dataclass(frozen=True)
class Runtime:
    """The console's shared objects (one per app)."""

    settings: Settings
    pool: MarketPool
    staging: Staging
    tokens: TokenBook
    receipts: Receipts


def runtime() -> Runtime:
    """The current app's ``Runtime``."""
    return current_app.extensions["mlmarket"]


def sent_once(view: Any) -> Any:
    """``idempotency.once`` with this app's receipts: a POST view that sends at most once per form."""
    return once(lambda: runtime().receipts, lambda: runtime().settings.wait_timeout)(view)


def identity() -> Identity | None:
    """The account acting in this request."""
    return current_identity(runtime().pool)


def acting_address() -> str | None:
    """The checksummed address of the account acting in this request (None when none is chosen)."""
    return identity_address(runtime().pool, identity())


def acting() -> tuple[Identity, Any]:
    """The acting identity and its market (``ConfigError`` when no account is chosen)."""
    who = identity()
    market = acting_market(runtime().pool, who)
    assert who is not None
    return who, market


def reader() -> Any:
    """The read-only market."""
    return runtime().pool.market()
