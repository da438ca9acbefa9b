"""Signing and sending transactions from a local account, with reverts named by their custom error.

Public API:

- ``send(w3, account, call, *, value=0, gas=None) -> TxReceipt``: ``call`` is a web3 contract
  function call (``contract.functions.f(args)``) or a transaction dict (``to``, ``data``); builds,
  signs with ``account``, sends, waits for the receipt and raises ``TransactionFailed`` if the
  transaction would revert (caught at gas estimation) or did revert. Gas: the estimate plus 25 %.
  The nonce is read as "pending" per call: send from one account sequentially, not concurrently.
  On an automining anvil a receipt that is late by ``STALL_SECONDS`` gets a block mined by hand
  (anvil can leave ready transactions in its pool under concurrent sends, foundry-rs/foundry#10122;
  nothing would ever mine them).
- ``wait_for_receipt(w3, tx_hash, timeout=RECEIPT_TIMEOUT) -> TxReceipt``: waits for a receipt, mining a block by hand
  when it is late on an automining anvil (as ``send`` does).
- ``revert_data(exc) -> bytes``: the revert data a web3 exception carries.
- ``TransactionFailed``: ``.error`` is the decoded custom error, e.g.
  ``"OutputNotReexecutable(bytes)"`` (``None`` if unknown), ``.data`` the raw revert data,
  ``.receipt`` the receipt if the transaction was mined.
"""

from __future__ import annotations

import time
from typing import Any

import eth_abi
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractCustomError, ContractLogicError, TimeExhausted, TransactionNotFound
from web3.types import TxParams, TxReceipt

from devnode.contracts import error_selectors

GAS_MARGIN = 1.25
RECEIPT_TIMEOUT = 60.0
STALL_SECONDS = 1.0  # automine answers within milliseconds; a receipt this late is stranded


class TransactionFailed(RuntimeError):
    """A transaction reverted (at estimation or on chain)."""

    def __init__(self, message: str, *, error: str | None = None, data: bytes = b"",
                 receipt: TxReceipt | None = None) -> None:
        super().__init__(message)
        self.error = error
        self.data = data
        self.receipt = receipt


def describe_revert(data: bytes) -> tuple[str | None, str]:
    """(error signature or None, human text) for revert ``data`` from a Cartesi contract."""
    signature = error_selectors().get(data[:4])
    if signature is None:
        return None, f"revert 0x{data.hex()}" if data else "revert without data"
    types = signature[signature.index("(") + 1:-1]
    try:
        args = eth_abi.decode([t for t in types.split(",") if t], data[4:]) if types else ()
        shown = ", ".join("0x" + a.hex() if isinstance(a, bytes) else str(a) for a in args)
    except Exception:  # noqa: BLE001 -- malformed arguments: still name the error
        shown = "…"
    return signature, f"{signature[:signature.index('(')]}({shown})"


def revert_data(exc: Exception) -> bytes:
    """The revert data a web3 exception carries (``b""`` if none or malformed)."""
    data = getattr(exc, "data", None)
    if isinstance(data, str) and data.startswith("0x"):
        try:
            return bytes.fromhex(data[2:])
        except ValueError:
            return b""
    return data if isinstance(data, bytes) else b""


def send(w3: Web3, account: LocalAccount, call: ContractFunction | dict[str, Any], *,
         value: int = 0, gas: int | None = None) -> TxReceipt:
    """Builds, signs and sends ``call`` from ``account``; returns the receipt of a successful transaction."""
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
    except (ContractCustomError, ContractLogicError) as exc:
        data = revert_data(exc)
        error, text = describe_revert(data)
        raise TransactionFailed(f"transaction would revert: {text}", error=error, data=data) from exc
    signed = account.sign_transaction(tx)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = wait_for_receipt(w3, tx_hash)
    if receipt["status"] != 1:
        raise TransactionFailed(f"transaction 0x{bytes(tx_hash).hex()} reverted", receipt=receipt)
    return receipt


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
