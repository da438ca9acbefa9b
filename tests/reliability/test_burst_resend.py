"""``flush_pool`` (``burst.py``) against a real anvil: a transaction anvil lost is sent again and mined
once, the transactions queued behind it are not sent again, and a transaction that stays missing ends
in a message that names it. Transactions are plain Ether transfers of one dev account."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount

from devnode.anvil import Anvil, dev_accounts, start_anvil
from mlmarket.client.sessions import session_for
from tests.reliability.burst import Planned, flush_pool, send_all

pytestmark = pytest.mark.e2e


@pytest.fixture
def anvil() -> Iterator[Anvil]:
    started = start_anvil()
    try:
        yield started
    finally:
        started.stop()


def transfers(anvil: Anvil, signer: LocalAccount, nonces: range, **overrides: Any) -> list[Planned]:
    """Signed transfers of 1 wei from ``signer`` to itself with these nonces, as burst items."""
    price, items = 2 * int(call(anvil, "eth_gasPrice"), 16), []
    for nonce in nonces:
        tx = {"to": signer.address, "value": 1, "gas": 21_000, "gasPrice": price, "nonce": nonce,
              "chainId": 31337, **overrides}
        signed = signer.sign_transaction(tx)
        items.append(Planned("transfer", signer.address, nonce, bytes(signed.raw_transaction),
                             "0x" + bytes(signed.hash).hex(), signer.address.lower(), b"", "ACCEPTED", ()))
    return items


def call(anvil: Anvil, method: str, *params: Any) -> Any:
    """The result of one JSON-RPC call to anvil (AssertionError on an error answer)."""
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    answer = session_for(anvil.url).post(anvil.url, json=body, timeout=30).json()
    assert "error" not in answer, answer
    return answer["result"]


def mined_hashes(anvil: Anvil) -> Counter[str]:
    """How often each transaction hash appears in the chain's blocks."""
    top = int(call(anvil, "eth_blockNumber"), 16)
    return Counter(tx for n in range(top + 1) for tx in call(anvil, "eth_getBlockByNumber", hex(n), False)["transactions"])


def test_a_lost_transaction_is_sent_again_and_mined_once_with_those_queued_behind_it(anvil: Anvil):
    signer = dev_accounts(2)[1]
    planned = transfers(anvil, signer, range(4))
    call(anvil, "evm_setAutomine", False)
    assert send_all(anvil.url, planned) == {}
    call(anvil, "anvil_dropTransaction", planned[0].tx_hash)  # anvil drops the later nonces with it
    assert send_all(anvil.url, planned[1:]) == {}
    # The shape of the failure seen under load: nothing pending, the later nonces queued, the first lost.
    assert call(anvil, "txpool_status") == {"pending": "0x0", "queued": "0x3"}
    assert call(anvil, "eth_getTransactionByHash", planned[0].tx_hash) is None
    call(anvil, "evm_setAutomine", True)

    flush = flush_pool(anvil.url, planned, timeout=30)

    assert flush.resent == 1
    assert int(call(anvil, "eth_getTransactionCount", signer.address, "latest"), 16) == 4
    assert call(anvil, "txpool_status") == {"pending": "0x0", "queued": "0x0"}
    counts = mined_hashes(anvil)
    assert {p.tx_hash: counts[p.tx_hash] for p in planned} == {p.tx_hash: 1 for p in planned}


def test_a_transaction_anvil_refuses_every_time_fails_with_its_nonce_and_anvils_answer(anvil: Anvil):
    signer = dev_accounts(2)[1]
    planned = transfers(anvil, signer, range(2), gas=20_000)  # below the intrinsic 21,000: always refused
    refused = send_all(anvil.url, planned)
    assert set(refused) == {p.tx_hash for p in planned}

    with pytest.raises(AssertionError) as failure:
        flush_pool(anvil.url, planned, refused, timeout=30, resends=2)

    message = str(failure.value)
    assert "gave up after sending a transaction 2 times again" in message
    assert f"{signer.address} (account at nonce 0" in message
    assert "nonce 0 neither mined nor in the pool (unknown to anvil, sent again 2 times" in message
    assert f"anvil's last answer: {refused[planned[0].tx_hash]})" in message  # what anvil said, every time


def test_a_gap_that_never_fills_fails_after_the_timeout_naming_the_queued_nonces(anvil: Anvil):
    signer = dev_accounts(2)[1]
    planned = transfers(anvil, signer, range(1, 3))  # nonce 0 is never sent: both stay queued

    with pytest.raises(AssertionError) as failure:
        flush_pool(anvil.url, planned, send_all(anvil.url, planned), timeout=1.5)

    message = str(failure.value)
    assert "still not mined after 1.5 s (pool: pending 0, queued 2; 0 blocks mined by hand, 0 transactions sent again)" in message
    assert f"{signer.address} (account at nonce 0, 0 with its pending ones; last transaction sent nonce 2)" in message
    assert "2 queued in the pool (nonces 1..2)" in message


def test_a_transaction_queued_at_the_accounts_next_nonce_is_taken_afresh_and_mined_once(anvil: Anvil):
    signer = dev_accounts(2)[1]
    planned = transfers(anvil, signer, range(1, 3))
    assert send_all(anvil.url, planned) == {}  # nonce 0 never sent: both queued behind the gap
    call(anvil, "anvil_setNonce", signer.address, hex(1))  # the account moves on; anvil's pool does not look again
    assert int(call(anvil, "txpool_status")["queued"], 16) == 2

    flush = flush_pool(anvil.url, planned, timeout=30)

    assert flush.resent >= 1
    assert int(call(anvil, "eth_getTransactionCount", signer.address, "latest"), 16) == 3
    counts = mined_hashes(anvil)
    assert {p.tx_hash: counts[p.tx_hash] for p in planned} == {p.tx_hash: 1 for p in planned}
