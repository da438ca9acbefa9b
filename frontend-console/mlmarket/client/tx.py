"""Base-layer transactions in one place: connect, build, sign, send, await, and name reverts.

The client (``chain.Chain``) and the local node (deployment, inputs, claims) both send through here.

Public API:

- ``web3_for(url, timeout) -> Web3``: JSON-RPC over HTTP to ``url`` through ``sessions.session_for``
  (loopback traffic never goes through a proxy), waiting up to ``timeout`` seconds for each answer.
- ``send(w3, account, call, *, value=0, gas=None, what="transaction", timeout=RECEIPT_TIMEOUT)
  -> TxReceipt``: ``call`` is a web3 contract function call (``contract.functions.f(args)``) or a
  transaction dict (``to``, ``data``); builds, signs with ``account`` (an eth-account
  ``LocalAccount``), sends, waits for the receipt and raises ``TransactionFailed`` if the transaction
  would revert (caught at gas estimation) or did revert (then the call is replayed on the block
  before to name the error). Gas: the estimate plus 25 %. The nonce is read as "pending" per call:
  send from one account sequentially, not concurrently. On an automining anvil a receipt that is
  late by ``STALL_SECONDS`` gets a block mined by hand (anvil can leave ready transactions in its
  pool under concurrent sends, foundry-rs/foundry#10122; nothing would ever mine them).
- ``wait_for_receipt(w3, tx_hash, timeout=RECEIPT_TIMEOUT) -> TxReceipt``: waits for a receipt, mining
  a block by hand when it is late on an automining anvil (as ``send`` does); ``TimeExhausted`` after
  ``timeout`` seconds.
- ``revert_data(exc) -> bytes``: the revert data a web3 exception carries.
- ``failure(what, exc, abi=()) -> TransactionFailed``: the error for a web3 exception raised by
  ``what``, naming the revert through ``abis.describe_revert`` (custom errors of ``abi`` included).
- ``TransactionFailed`` (``mlmarket.client.errors``): ``.error`` is the custom error's signature, e.g.
  ``"OutputNotReexecutable(bytes)"`` (None if unknown), ``.data`` the raw revert data, ``.receipt``
  and ``.tx_hash`` when the transaction was mined.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractLogicError, TimeExhausted, TransactionNotFound, Web3Exception
from web3.types import TxParams, TxReceipt

from mlmarket.client.abis import describe_revert
from mlmarket.client.errors import TransactionFailed
from mlmarket.client.sessions import session_for

GAS_MARGIN = 1.25
RECEIPT_TIMEOUT = 60.0
STALL_SECONDS = 1.0  # automine answers within milliseconds; a receipt this late is stranded


def web3_for(url: str, timeout: float) -> Web3:
    """A ``Web3`` speaking JSON-RPC over HTTP to ``url`` through ``session_for(url)``, waiting up to
    ``timeout`` seconds for each answer."""
    return Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": timeout}, session=session_for(url)))


def revert_data(exc: Exception) -> bytes:
    """The revert data a web3 exception carries (``b""`` if none or malformed)."""
    data = getattr(exc, "data", None)
    if isinstance(data, str) and data.startswith("0x"):
        try:
            return bytes.fromhex(data[2:])
        except ValueError:
            return b""
    return data if isinstance(data, bytes) else b""


def failure(what: str, exc: Exception, abi: Iterable[dict[str, Any]] = ()) -> TransactionFailed:
    """A ``TransactionFailed`` for ``what`` naming the custom error behind ``exc`` when there is one
    (declared in ``abis.ALL`` or in ``abi``)."""
    if isinstance(exc, ContractLogicError):
        data = revert_data(exc)
        revert = describe_revert(data, abi)
        text = exc.message if revert.signature is None and exc.message else revert.text
        return TransactionFailed(f"{what} reverted: {text}", error=revert.signature, data=data)
    return TransactionFailed(f"{what} failed: {exc}")


def send(w3: Web3, account: LocalAccount, call: ContractFunction | dict[str, Any], *, value: int = 0,
         gas: int | None = None, what: str = "transaction", timeout: float = RECEIPT_TIMEOUT) -> TxReceipt:
    """Builds, signs and sends ``call`` from ``account``; returns the receipt of a successful transaction."""
    abi = () if isinstance(call, dict) else call.contract_abi
    base: dict[str, Any] = {
        "from": account.address,
        "nonce": w3.eth.get_transaction_count(account.address, "pending"),
        "chainId": w3.eth.chain_id,
        "value": value,
    }
    try:
        if isinstance(call, dict):
            tx = {**base, **call}
            tx["gas"] = gas if gas is not None else int(w3.eth.estimate_gas(TxParams(**tx)) * GAS_MARGIN)
            price = w3.eth.gas_price
            tx["maxPriorityFeePerGas"] = min(price, w3.to_wei(1, "gwei"))
            tx["maxFeePerGas"] = 2 * price + tx["maxPriorityFeePerGas"]
        else:
            if gas is not None:
                base["gas"] = gas
            tx = dict(call.build_transaction(TxParams(**base)))  # type: ignore[typeddict-item]
            if gas is None:
                tx["gas"] = int(tx["gas"] * GAS_MARGIN)
    except ContractLogicError as exc:
        raise failure(what, exc, abi) from exc
    signed = account.sign_transaction(tx)
    receipt = wait_for_receipt(w3, w3.eth.send_raw_transaction(signed.raw_transaction), timeout)
    if receipt["status"] != 1:
        raise _reverted(w3, tx, receipt, what, abi)
    return receipt


def _reverted(w3: Web3, tx: dict[str, Any], receipt: TxReceipt, what: str,
              abi: Iterable[dict[str, Any]]) -> TransactionFailed:
    """The error for a mined transaction that reverted, named by replaying it on the block before
    (only an attempt: the state it met may differ)."""
    tx_hash = "0x" + bytes(receipt["transactionHash"]).hex()
    replay = TxParams(**{k: tx[k] for k in ("from", "to", "data", "value") if k in tx})  # type: ignore[typeddict-item]
    try:
        w3.eth.call(replay, block_identifier=receipt["blockNumber"] - 1)
    except ContractLogicError as exc:
        named = failure(what, exc, abi)
        return TransactionFailed(named.message, error=named.error, data=named.data, receipt=receipt,
                                 tx_hash=tx_hash)
    except (Web3Exception, ValueError, OSError):
        pass
    return TransactionFailed(f"{what} reverted (transaction {tx_hash})", receipt=receipt, tx_hash=tx_hash)


def wait_for_receipt(w3: Web3, tx_hash: bytes | str, timeout: float = RECEIPT_TIMEOUT) -> TxReceipt:
    """The receipt of ``tx_hash``; ``TimeExhausted`` after ``timeout`` seconds. On an automining anvil,
    every ``STALL_SECONDS`` without the receipt one block is mined by hand (``evm_mine``), which takes
    a stranded transaction out of the pool; chains that mine by interval, or are not anvil, are left
    alone."""
    start = time.monotonic()
    nudge = start + STALL_SECONDS
    while True:
        try:
            return w3.eth.get_transaction_receipt(tx_hash)
        except TransactionNotFound:
            pass
        now = time.monotonic()
        if now - start >= timeout:
            shown = tx_hash if isinstance(tx_hash, str) else "0x" + bytes(tx_hash).hex()
            raise TimeExhausted(f"transaction {shown} not mined after {timeout} s")
        if now >= nudge:
            nudge = now + STALL_SECONDS
            if _automine(w3):
                w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        time.sleep(0.05)


def _automine(w3: Web3) -> bool:
    """True on an anvil that mines each transaction as it arrives; False on any other chain, including
    providers that answer an unknown method with an HTTP error."""
    try:
        answer = w3.provider.make_request("anvil_getAutomine", [])  # type: ignore[arg-type]
    except (OSError, ValueError):
        return False
    return isinstance(answer, dict) and answer.get("result") is True
