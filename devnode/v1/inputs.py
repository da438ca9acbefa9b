"""Inputs of a Rollups v1 dApp: ``InputBox`` 1.4 events in, v1 advance metadata out.

The v1 ``InputBox`` emits ``InputAdded(address indexed dapp, uint256 indexed inputIndex, address sender,
bytes input)``: the payload as sent, no envelope. The backend gets the v1 metadata of CARTESI-FACTS §1,
``{msg_sender, epoch_index, input_index, block_number, timestamp}``. This node closes an epoch every
``epoch_length`` blocks (aligned on block 0) and, like the v1 node, claims only epochs holding inputs:
``epoch_index`` counts the earlier epochs that held inputs, so it equals the index of the epoch's claim in
the History (what a proof's ``context`` names).

Public API:

- ``V1Input`` (frozen): ``index, msg_sender, block_number, block_timestamp, epoch_index, payload, raw``
  (the event's data: ``abi.encode(sender, input)``), ``transaction_hash``; ``to_rollup_metadata()``.
- ``InputWatcher(w3, deployment, *, max_block_range=1000)``: ``.poll() -> list[V1Input]`` (new inputs in
  index order, from ``deployment.input_box_block``; ``InputGapError`` on a gap), ``.next_block``.
- ``add_input(w3, deployment, account, payload) -> int`` and ``deposit_erc20(w3, deployment, account,
  amount, exec_layer_data=b"") -> int`` (approves first if needed): the new input's index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import eth_abi
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.types import TxReceipt

from devnode.chain import InputGapError, epoch_of
from devnode.contracts import contract_at as v2_contract_at
from devnode.deploy import Deployment
from devnode.v1.contracts import contract_at
from mlmarket.client.tx import send


@dataclass(frozen=True)
class V1Input:
    """One input of the dApp, as the v1 InputBox recorded it."""

    index: int
    msg_sender: str
    block_number: int
    block_timestamp: int
    epoch_index: int
    payload: bytes
    raw: bytes
    transaction_hash: str = ""

    def to_rollup_metadata(self) -> dict[str, Any]:
        """The v1 advance metadata the rollup HTTP server hands the backend."""
        return {"msg_sender": self.msg_sender.lower(), "epoch_index": self.epoch_index,
                "input_index": self.index, "block_number": self.block_number,
                "timestamp": self.block_timestamp}


class InputWatcher:
    """Reads the dApp's inputs from v1 ``InputAdded`` events (all of them from the InputBox's block on)."""

    def __init__(self, w3: Web3, deployment: Deployment, *, max_block_range: int = 1000) -> None:
        self._w3 = w3
        self._dapp = Web3.to_checksum_address(deployment.application)
        self._event = contract_at(w3, "InputBox", deployment.input_box).events.InputAdded()
        self._epoch_length = deployment.epoch_length
        self.next_block = deployment.input_box_block
        self.next_index = 0
        self.max_block_range = max_block_range
        self._epochs_with_inputs = 0  # distinct block-aligned epochs holding the inputs seen so far
        self._last_epoch: int | None = None

    def poll(self) -> list[V1Input]:
        """New inputs (index ≥ ``next_index``) up to the latest block, in index order."""
        latest = self._w3.eth.block_number
        found: list[V1Input] = []
        timestamps: dict[int, int] = {}
        for first in range(self.next_block, latest + 1, self.max_block_range):
            last = min(latest, first + self.max_block_range - 1)
            logs = self._event.get_logs(argument_filters={"dapp": self._dapp}, from_block=first,
                                        to_block=last)
            for log in sorted(logs, key=lambda entry: (entry["blockNumber"], entry["logIndex"])):
                index = int(log["args"]["inputIndex"])
                if index < self.next_index:
                    continue
                if index != self.next_index:
                    raise InputGapError(f"expected input {self.next_index}, chain shows {index}")
                block = int(log["blockNumber"])
                if block not in timestamps:
                    timestamps[block] = int(self._w3.eth.get_block(block)["timestamp"])
                sender, payload = Web3.to_checksum_address(log["args"]["sender"]), bytes(log["args"]["input"])
                raw = eth_abi.encode(["address", "bytes"], [sender, payload])
                found.append(V1Input(index, sender, block, timestamps[block], self._epoch_index(block),
                                     payload, raw, "0x" + bytes(log["transactionHash"]).hex()))
                self.next_index += 1
        self.next_block = max(self.next_block, latest + 1)
        return found

    def _epoch_index(self, block: int) -> int:
        epoch = epoch_of(block, self._epoch_length)
        if epoch != self._last_epoch:
            self._epochs_with_inputs += self._last_epoch is not None
            self._last_epoch = epoch
        return self._epochs_with_inputs


def _input_index(w3: Web3, deployment: Deployment, receipt: TxReceipt) -> int:
    event = contract_at(w3, "InputBox", deployment.input_box).events.InputAdded()
    for log in receipt["logs"]:
        if log["address"] == deployment.input_box:
            return int(event.process_log(log)["args"]["inputIndex"])
    raise InputGapError("the transaction added no input")


def add_input(w3: Web3, deployment: Deployment, account: LocalAccount, payload: bytes) -> int:
    """``InputBox.addInput(dapp, payload)`` from ``account``; the input's index."""
    box = contract_at(w3, "InputBox", deployment.input_box)
    receipt = send(w3, account, box.functions.addInput(deployment.application, payload))
    return _input_index(w3, deployment, receipt)


def deposit_erc20(w3: Web3, deployment: Deployment, account: LocalAccount, amount: int,
                  exec_layer_data: bytes = b"") -> int:
    """Approves the v1 ERC20Portal if needed, then ``depositERC20Tokens(token, dapp, amount, data)``."""
    token = v2_contract_at(w3, "TestToken", deployment.token)
    if token.functions.allowance(account.address, deployment.erc20_portal).call() < amount:
        send(w3, account, token.functions.approve(deployment.erc20_portal, amount))
    portal = contract_at(w3, "ERC20Portal", deployment.erc20_portal)
    call = portal.functions.depositERC20Tokens(deployment.token, deployment.application, amount,
                                               exec_layer_data)
    return _input_index(w3, deployment, send(w3, account, call))
