"""Accounts that sign transactions: anvil's dev accounts or a private key. Keys are never shown.

A ``Signer`` wraps an eth-account ``LocalAccount``; its ``repr`` shows the address only, and nothing
in this package prints or logs the key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache

from eth_account import Account
from eth_account.signers.local import LocalAccount

from mlmarket.client.errors import ConfigError

DEV_MNEMONIC = "test test test test test test test test test test test junk"
"""anvil's standard test mnemonic: the dev accounts of the local node (and of ``cartesi run``)."""


@dataclass(frozen=True)
class Signer:
    """An account able to sign; ``label`` says where it came from (``dev account 1``, ``private key``)."""

    account: LocalAccount = field(repr=False)
    label: str

    @property
    def address(self) -> str:
        """Checksummed address."""
        return self.account.address

    def __str__(self) -> str:
        return f"{self.address} ({self.label})"


@cache
def dev_account(index: int) -> LocalAccount:
    """Dev account ``index`` of ``DEV_MNEMONIC`` (BIP-44 path ``m/44'/60'/0'/0/<index>``)."""
    Account.enable_unaudited_hdwallet_features()
    return Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")


def dev_signer(index: int) -> Signer:
    """Dev account ``index`` of ``DEV_MNEMONIC``. Raises ``ConfigError`` on a negative index."""
    if index < 0:
        raise ConfigError(f"account index must be >= 0, got {index}")
    return Signer(dev_account(index), f"dev account {index}")


def key_signer(private_key: str) -> Signer:
    """The account of a hex private key (with or without ``0x``). The error never quotes the key."""
    text = private_key.strip()
    digits = text[2:] if text[:2] in ("0x", "0X") else text
    if len(digits) != 64:
        raise ConfigError("the private key must be 32 bytes of hex (64 digits)")
    try:
        return Signer(Account.from_key(bytes.fromhex(digits)), "private key")
    except ValueError as exc:
        raise ConfigError("the private key is not valid hex or not a valid secp256k1 key") from exc


def choose_signer(
    *, account: int | None = None, key: str | None = None, environ: Mapping[str, str] | None = None
) -> Signer:
    """``key`` if given, else dev account ``account`` if given, else ``MLMARKET_PRIVATE_KEY``, else dev
    account 0."""
    env = os.environ if environ is None else environ
    if key and account is not None:
        raise ConfigError("give either --key or --account, not both")
    if key:
        return key_signer(key)
    if account is not None:
        return dev_signer(account)
    if env.get("MLMARKET_PRIVATE_KEY"):
        return key_signer(env["MLMARKET_PRIVATE_KEY"])
    return dev_signer(0)
