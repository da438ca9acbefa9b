"""Accounts: anvil's dev accounts, private keys, and keys never shown."""

from __future__ import annotations

import pytest
from mlmarket.client.accounts import choose_signer, dev_signer, key_signer
from mlmarket.client.errors import ConfigError

# anvil prints these for its default mnemonic ("test test ... junk"); public test data.
ANVIL_0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
ANVIL_1 = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
ANVIL_1_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"


def test_dev_accounts_are_anvils() -> None:
    assert dev_signer(0).address == ANVIL_0
    assert dev_signer(1).address == ANVIL_1


def test_private_key_with_or_without_prefix() -> None:
    assert key_signer(ANVIL_1_KEY).address == ANVIL_1
    assert key_signer(ANVIL_1_KEY[2:]).address == ANVIL_1


def test_key_never_appears_in_reprs_or_errors() -> None:
    signer = key_signer(ANVIL_1_KEY)
    for text in (repr(signer), str(signer)):
        assert ANVIL_1_KEY[2:] not in text.lower()
    bad = ANVIL_1_KEY[:-1] + "z"
    with pytest.raises(ConfigError) as info:
        key_signer(bad)
    assert bad[2:] not in info.value.message


def test_signer_choice_order() -> None:
    env = {"MLMARKET_PRIVATE_KEY": ANVIL_1_KEY}
    assert choose_signer(environ={}).address == ANVIL_0
    assert choose_signer(environ=env).address == ANVIL_1
    assert choose_signer(account=0, environ=env).address == ANVIL_0
    assert choose_signer(key=ANVIL_1_KEY, environ={}).label == "private key"


def test_key_and_account_together_is_an_error() -> None:
    with pytest.raises(ConfigError, match="not both"):
        choose_signer(account=1, key=ANVIL_1_KEY, environ={})


def test_short_key_is_refused() -> None:
    with pytest.raises(ConfigError, match="32 bytes"):
        key_signer("0x1234")
