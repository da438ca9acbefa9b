"""What every request shares: the settings, the markets, the staging area and the token book."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app, g

from mlmarket.client.errors import ClientError
from mlmarket.client.units import TokenInfo, Units
from mlmarket.console.gateway import Identity, MarketPool, acting_market, current_identity, identity_address
from mlmarket.console.idempotency import Receipts, once
from mlmarket.console.money import Money, money
from mlmarket.console.settings import Settings
from mlmarket.console.staging import Staging


class TokenBook:
    """Token facts (symbol and decimals, read once per token from the chain and shared by every
    request) and each request's ``Units`` (``mlmarket.client.units``: amounts, times, scores and
    messages in human units, counted from the chain's latest block at that request)."""

    def __init__(self, pool: MarketPool) -> None:
        self.pool = pool
        self._infos: dict[str, TokenInfo] = {}

    def test_token(self) -> str | None:
        """The local node's test token, if the configuration names one."""
        try:
            return self.pool.market().config.addresses.get("Token")
        except ClientError:
            return None

    def units(self) -> Units:
        """This request's ``Units`` (one clock per request, the token facts of the whole app)."""
        if "units" not in g:
            g.units = Units(self.pool.market(), tokens=self._infos)
        return g.units

    def decimals(self, token: str) -> int:
        """``decimals()`` of ``token``."""
        return self.units().token(str(token)).decimals

    def label(self, token: Any) -> str:
        """The token's symbol (``ETH``, ``MLT``…; its short address when it has none)."""
        return self.units().token(str(token)).symbol

    def money(self, token: str, amount: int) -> Money:
        """``amount`` base units of ``token`` with its symbol and the withdraw form's fields."""
        return money(str(token), int(amount), decimals=self.decimals(str(token)), label=self.label(token),
                     test_token=self.test_token())

    def fmt(self, base_units: Any, token: Any) -> str:
        """An amount in base units shown in token units with the token's symbol (as given when it
        is not a number)."""
        try:
            return self.units().amount(int(base_units), str(token))
        except (TypeError, ValueError):
            return str(base_units)


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


def human(message: Any, token: str | None = None) -> str:
    """A machine message in human units (``Units.humanize``; ``token``: the one its bare amounts are
    in); as it was when the chain does not answer."""
    text = "" if message is None else str(message)
    try:
        return runtime().tokens.units().humanize(text, token)
    except (ClientError, OSError):
        return text


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
