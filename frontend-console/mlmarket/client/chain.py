"""The base layer, through web3.py: build -> sign -> send -> receipt -> decode event.

``Chain`` sends inputs (``InputBox.addInput``), portal deposits (Ether, ERC-20 with an approval when
the allowance is short) and output executions (``Application.executeOutput``), and answers the few
views the client needs. Transactions go through ``tx.send`` (reverts become ``TransactionFailed``
naming the custom error; receipts are awaited with ``tx.wait_for_receipt``, which frees transactions
an automining anvil left in its pool).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError, TimeExhausted, Web3Exception
from web3.logs import DISCARD

from mlmarket.client import abis
from mlmarket.client.accounts import Signer
from mlmarket.client.config import NodeConfig
from mlmarket.client.errors import ConfigError, TransactionFailed
from mlmarket.client.tx import failure, send, wait_for_receipt, web3_for

ETHER = "0x" + "00" * 20
"""The protocol's token id for Ether (``address(0)``)."""


@dataclass(frozen=True)
class TxResult:
    """A mined transaction: hash, block and gas used (from its receipt)."""

    tx_hash: str
    block_number: int
    gas_used: int


@dataclass(frozen=True)
class InputRequest:
    """What to send for one input: ``payload`` through ``InputBox.addInput`` (``token`` None), or as
    the ``execLayerData`` of a deposit of ``amount`` of ``token`` (``ETHER``: the Ether portal)."""

    payload: bytes
    token: str | None = None
    amount: int = 0


@dataclass(frozen=True)
class InputRef:
    """An input added to the application: its global index and the transactions that added it."""

    index: int
    tx: TxResult
    approval: TxResult | None = None


class Chain:
    """The client's view of the base layer for one application and (optionally) one signer."""

    def __init__(self, config: NodeConfig, signer: Signer | None = None, *, w3: Web3 | None = None,
                 receipt_timeout: float = 120.0) -> None:
        self.config = config
        self.signer = signer
        self.w3 = w3 or web3_for(config.rpc_url, 60)
        self.receipt_timeout = receipt_timeout

    def contract(self, kind: str, address: str) -> Contract:
        """A web3 contract of ABI ``kind`` (a key of ``abis.ALL``) at ``address``, with the errors the node's
        contracts release names differently (``abis.release_errors``) so that reverts are named."""
        abi = abis.ALL[kind] + abis.release_errors(self.config.contracts)
        return self.w3.eth.contract(address=Web3.to_checksum_address(address), abi=abi)

    def _named(self, name: str) -> Contract:
        return self.contract(name, self.config.address(name))

    def _require_signer(self) -> Signer:
        if self.signer is None:
            raise ConfigError("this action sends a transaction: choose an account (--account N or --key)")
        return self.signer

    # -- transactions -------------------------------------------------------------------------
    def transact(self, call: Any, *, what: str, value: int = 0) -> tuple[TxResult, Any]:
        """Builds, signs and sends ``call`` (a bound contract function), waits for its receipt and
        returns it. Raises ``TransactionFailed`` if it would revert, was not mined or reverted."""
        signer = self._require_signer()
        try:
            receipt = send(self.w3, signer.account, call, value=value, what=what, timeout=self.receipt_timeout)
        except TimeExhausted as exc:
            raise TransactionFailed(f"{what}: no receipt within {self.receipt_timeout:.0f}s") from exc
        except (Web3Exception, ValueError) as exc:
            raise failure(what, exc) from exc
        except OSError as exc:
            raise ConfigError(f"cannot reach the chain at {self.config.rpc_url}: {exc}") from exc
        result = TxResult("0x" + bytes(receipt["transactionHash"]).hex(), receipt["blockNumber"],
                          receipt["gasUsed"])
        return result, receipt

    def _input_ref(self, receipt: Any, tx: TxResult, approval: TxResult | None = None) -> InputRef:
        return InputRef(self._input_index(receipt, tx.tx_hash), tx, approval)

    def _input_index(self, receipt: Any, tx_hash: str) -> int:
        app = Web3.to_checksum_address(self.config.address("Application"))
        box = self._named("InputBox")
        for event in box.events.InputAdded().process_receipt(receipt, errors=DISCARD):
            if event["address"] == box.address and event["args"]["appContract"] == app:
                return int(event["args"]["index"])
        raise TransactionFailed(f"transaction {tx_hash} added no input to {app}", tx_hash=tx_hash)

    def input_index(self, tx_hash: str) -> int:
        """The index of the input a mined transaction added (e.g. one a browser wallet sent), waiting
        for its receipt. Raises ``TransactionFailed`` if it reverted or added no input."""
        try:
            receipt = wait_for_receipt(self.w3, tx_hash, timeout=self.receipt_timeout)
        except TimeExhausted as exc:
            raise TransactionFailed(f"no receipt for {tx_hash} within {self.receipt_timeout:.0f}s") from exc
        if receipt["status"] != 1:
            raise TransactionFailed(f"transaction {tx_hash} reverted", tx_hash=tx_hash)
        return self._input_index(receipt, tx_hash)

    def add_input(self, payload: bytes) -> InputRef:
        """``InputBox.addInput(app, payload)``; returns the new input's index."""
        call = self._named("InputBox").functions.addInput(self._app(), payload)
        tx, receipt = self.transact(call, what="addInput")
        return self._input_ref(receipt, tx)

    def deposit_ether(self, amount: int, exec_layer_data: bytes = b"") -> InputRef:
        """``EtherPortal.depositEther(app, execLayerData)`` sending ``amount`` wei."""
        call = self._named("EtherPortal").functions.depositEther(self._app(), exec_layer_data)
        tx, receipt = self.transact(call, what="depositEther", value=amount)
        return self._input_ref(receipt, tx)

    def deposit_erc20(self, token: str, amount: int, exec_layer_data: bytes = b"") -> InputRef:
        """``ERC20Portal.depositERC20Tokens(token, app, amount, execLayerData)``, approving the portal
        first if its allowance is below ``amount``."""
        portal = self._named("ERC20Portal")
        approval = self.ensure_allowance(token, portal.address, amount)
        call = portal.functions.depositERC20Tokens(Web3.to_checksum_address(token), self._app(), amount,
                                                   exec_layer_data)
        tx, receipt = self.transact(call, what="depositERC20Tokens")
        return self._input_ref(receipt, tx, approval)

    def ensure_allowance(self, token: str, spender: str, amount: int) -> TxResult | None:
        """Approves ``spender`` for exactly ``amount`` if the current allowance is smaller."""
        owner = self._require_signer().address
        erc20 = self.contract("ERC20", token)
        current = erc20.functions.allowance(owner, Web3.to_checksum_address(spender)).call()
        if current >= amount:
            return None
        tx, _ = self.transact(erc20.functions.approve(Web3.to_checksum_address(spender), amount), what="approve")
        return tx

    def send_input(self, request: InputRequest) -> InputRef:
        """Sends ``request`` from the signer (see ``InputRequest``)."""
        if request.token is None:
            return self.add_input(request.payload)
        if int(request.token, 16) == 0:
            return self.deposit_ether(request.amount, request.payload)
        return self.deposit_erc20(request.token, request.amount, request.payload)

    def prepare_input(self, request: InputRequest, sender: str) -> list[dict[str, Any]]:
        """Unsigned transactions (``from``, ``to``, ``data``, ``value``, ``gas``...) a browser wallet
        signs and sends in order to deliver ``request`` from ``sender``: an ERC-20 approval when the
        allowance is short, then the input itself. Gas of a deposit that needs the approval first is
        not estimated (the wallet estimates it)."""
        sender = Web3.to_checksum_address(sender)
        txs: list[dict[str, Any]] = []
        if request.token is None:
            call, value = self._named("InputBox").functions.addInput(self._app(), request.payload), 0
        elif int(request.token, 16) == 0:
            call = self._named("EtherPortal").functions.depositEther(self._app(), request.payload)
            value = request.amount
        else:
            portal = self._named("ERC20Portal")
            erc20 = self.contract("ERC20", request.token)
            if erc20.functions.allowance(sender, portal.address).call() < request.amount:
                txs.append(self.prepare(erc20.functions.approve(portal.address, request.amount), sender))
            call = portal.functions.depositERC20Tokens(Web3.to_checksum_address(request.token), self._app(),
                                                       request.amount, request.payload)
            value = 0
        txs.append(self.prepare(call, sender, value, estimate=not txs))
        return txs

    def prepare(self, call: Any, sender: str, value: int = 0, *, estimate: bool = True) -> dict[str, Any]:
        """An unsigned transaction of the bound contract function ``call`` from ``sender`` (for a
        browser wallet to sign and send). Raises ``TransactionFailed`` if it would revert."""
        params: dict[str, Any] = {"from": sender, "value": value}
        if not estimate:
            params["gas"] = 0
        try:
            tx = dict(call.build_transaction(params))
        except (ContractLogicError, Web3Exception, ValueError) as exc:
            raise failure(call.fn_name, exc) from exc
        if not estimate:
            tx.pop("gas", None)
        return tx

    def execute_output_call(self, output: bytes, index: int, siblings: Sequence[bytes]) -> Any:
        """The bound call ``Application.executeOutput(output, (index, siblings))`` (see ``prepare``)."""
        return self._named("Application").functions.executeOutput(output, (index, list(siblings)))

    def execute_output(self, output: bytes, index: int, siblings: Sequence[bytes]) -> TxResult:
        """Executes output ``index`` from the signer (``executeOutput``)."""
        tx, _ = self.transact(self.execute_output_call(output, index, siblings), what=f"executeOutput({index})")
        return tx

    # -- views -------------------------------------------------------------------------------
    def _app(self) -> str:
        return Web3.to_checksum_address(self.config.address("Application"))

    def was_output_executed(self, index: int) -> bool:
        """``Application.wasOutputExecuted(index)``."""
        return bool(self._named("Application").functions.wasOutputExecuted(index).call())

    def output_is_valid(self, output: bytes, index: int, siblings: Sequence[bytes]) -> bool:
        """Whether ``Application.validateOutput`` accepts the proof (its epoch root was claimed)."""
        try:
            self._named("Application").functions.validateOutput(output, (index, list(siblings))).call()
        except ContractLogicError:
            return False
        return True

    def latest_timestamp(self) -> int:
        """Timestamp of the latest block (what ``"+SECONDS"`` deadlines count from)."""
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def chain_id(self) -> int:
        """The chain's id (``eth_chainId``)."""
        return int(self.w3.eth.chain_id)

    def balance_of(self, token: str, account: str) -> int:
        """Wallet balance of ``account`` in ``token`` (Ether for ``address(0)``), in base units."""
        account = Web3.to_checksum_address(account)
        if int(token, 16) == 0:
            return int(self.w3.eth.get_balance(account))
        return int(self.contract("ERC20", token).functions.balanceOf(account).call())

    def decimals_of(self, token: str) -> int:
        """``decimals()`` of an ERC-20 token (18 for Ether, or when the token does not say)."""
        if int(token, 16) == 0:
            return 18
        try:
            return int(self.contract("ERC20", token).functions.decimals().call())
        except (ContractLogicError, Web3Exception, ValueError):
            return 18
