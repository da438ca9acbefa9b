"""The local node's view of the base layer: inputs in, claims out, vouchers executed.

Public API (stable; the node orchestrator and the CLI code against it):

Inputs
- ``ChainInput`` (frozen): ``index, chain_id, app_contract, msg_sender, block_number, block_timestamp,
  prev_randao (int), payload (bytes), raw (bytes: the whole EvmAdvance call), transaction_hash``;
  ``to_rollup_metadata()`` (the v2 metadata dict of CARTESI-FACTS §1) and ``to_advance_request()``
  (the whole ``/finish`` answer ``{"request_type":"advance_state","data":{...}}``).
- ``decode_evm_advance(raw, transaction_hash="") -> ChainInput`` (``InputDecodeError`` on bad bytes).
- ``InputWatcher(w3, deployment, *, start_block=None, next_index=0, max_block_range=1000)``:
  ``.poll(from_block=None) -> list[ChainInput]`` returns the new inputs of the application in index
  order, scanning ``InputAdded`` in bounded block ranges up to the latest block; ``.next_block`` and
  ``.next_index`` say where the next poll resumes (persist them to resume after a restart). Inputs are
  never skipped nor repeated; a gap in indices raises ``InputGapError``.
- ``add_input(w3, deployment, account, payload) -> SentInput``; ``deposit_erc20(w3, deployment,
  account, amount, *, token=None, exec_layer_data=b"") -> SentInput`` (approves first if needed);
  ``deposit_ether(w3, deployment, account, value, *, exec_layer_data=b"") -> SentInput``;
  ``SentInput(index, receipts)`` with ``.receipt`` (the input's) and ``.gas_used`` (all receipts).
- ``erc20_balance(w3, token, owner) -> int``.

Epochs and claims (the Authority's rules: epochs are aligned on block 0; a claim names the epoch's
last block ``k*L + L-1``, which must be in the past; one claim per epoch)
- ``epoch_of(block_number, epoch_length) -> int``; ``epoch_last_block(epoch, epoch_length) -> int``;
  ``last_closed_epoch(current_block, epoch_length) -> int | None`` (the newest epoch whose last block
  is strictly below ``current_block``, the latest block: claimable now; an epoch ending at the
  latest block needs one more block, e.g. ``mine(w3)``).
- ``submit_claim(w3, deployment, owner, last_block, root) -> TxReceipt`` (``TransactionFailed`` with
  ``.error`` NotEpochFinalBlock / NotPastBlock / NotFirstClaim / OwnableUnauthorizedAccount).
- ``is_root_valid(w3, deployment, root) -> bool``; ``accepted_claims(w3, deployment) -> list[Claim]``
  with ``Claim(last_block, root, transaction_hash)``. Both read the Authority of the deployment's release
  (``Deployment.release``: ``ClaimAccepted`` / ``isOutputsMerkleRootValid`` on 2.2.0, ``ClaimAcceptance`` /
  ``wasClaimAccepted`` on 2.0.0-rc.14); every contract here is called with its release's ABI.
- ``mine(w3, n=1)``, ``mine_to(w3, block_number)``, ``increase_time(w3, seconds)`` (applies to the
  next mined block).

Outputs
- ``output_validity_proof(index, siblings) -> tuple`` (the ``OutputValidityProof`` struct for web3).
- ``execute_output(w3, deployment, account, output, index, siblings) -> TxReceipt``;
  ``was_output_executed(w3, deployment, index) -> bool``; ``is_output_valid(w3, deployment, output,
  index, siblings) -> bool`` (``Application.validateOutput`` says the proof matches an accepted claim).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import eth_abi
from eth_account.signers.local import LocalAccount
from eth_utils import function_signature_to_4byte_selector
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError, ContractLogicError
from web3.types import TxReceipt

from devnode.contracts import contract_at
from devnode.deploy import Deployment
from devnode.merkle import HEIGHT
from mlmarket.client.tx import send

EVM_ADVANCE_SIGNATURE = "EvmAdvance(uint256,address,address,uint256,uint256,uint256,uint256,bytes)"
EVM_ADVANCE_SELECTOR = function_signature_to_4byte_selector(EVM_ADVANCE_SIGNATURE)
assert EVM_ADVANCE_SELECTOR.hex() == "415bf363"
_EVM_ADVANCE_TYPES = ["uint256", "address", "address", "uint256", "uint256", "uint256", "uint256", "bytes"]


def _at(w3: Web3, deployment: Deployment, name: str, address: str) -> Contract:
    """Contract ``name`` of the deployment's release at ``address``."""
    return deployment.release.contract_at(w3, name, address)


class InputDecodeError(ValueError):
    """An InputAdded event whose bytes are not an EvmAdvance call."""


class InputGapError(RuntimeError):
    """The chain shows an input index other than the next expected one."""


@dataclass(frozen=True)
class ChainInput:
    """One input of the application, decoded from its on-chain EvmAdvance envelope."""

    index: int
    chain_id: int
    app_contract: str
    msg_sender: str
    block_number: int
    block_timestamp: int
    prev_randao: int
    payload: bytes
    raw: bytes
    transaction_hash: str = ""

    def to_rollup_metadata(self) -> dict[str, Any]:
        """The v2 advance metadata the rollup HTTP server hands the backend (CARTESI-FACTS §1)."""
        return {
            "chain_id": self.chain_id,
            "app_contract": self.app_contract.lower(),
            "msg_sender": self.msg_sender.lower(),
            "block_number": self.block_number,
            "block_timestamp": self.block_timestamp,
            "prev_randao": f"0x{self.prev_randao:064x}",
            "input_index": self.index,
        }

    def to_advance_request(self) -> dict[str, Any]:
        """The whole ``/finish`` answer for this input."""
        return {"request_type": "advance_state",
                "data": {"metadata": self.to_rollup_metadata(), "payload": "0x" + self.payload.hex()}}


def decode_evm_advance(raw: bytes, transaction_hash: str = "") -> ChainInput:
    """Decodes ``raw`` = ``abi.encodeCall(EvmAdvance, (...))`` into a ``ChainInput``."""
    if raw[:4] != EVM_ADVANCE_SELECTOR:
        raise InputDecodeError(f"input does not start with the EvmAdvance selector: 0x{raw[:4].hex()}")
    try:
        chain_id, app, sender, block, timestamp, randao, index, payload = eth_abi.decode(
            _EVM_ADVANCE_TYPES, raw[4:])
    except Exception as exc:  # eth_abi raises several types for malformed data
        raise InputDecodeError(f"malformed EvmAdvance input: {exc}") from exc
    return ChainInput(index=index, chain_id=chain_id, app_contract=Web3.to_checksum_address(app),
                      msg_sender=Web3.to_checksum_address(sender), block_number=block,
                      block_timestamp=timestamp, prev_randao=randao, payload=bytes(payload), raw=bytes(raw),
                      transaction_hash=transaction_hash)


class InputWatcher:
    """Reads the application's inputs from ``InputBox`` events, resuming where it stopped."""

    def __init__(self, w3: Web3, deployment: Deployment, *, start_block: int | None = None,
                 next_index: int = 0, max_block_range: int = 1000) -> None:
        self._w3 = w3
        self._app = Web3.to_checksum_address(deployment.application)
        self._input_box = _at(w3, deployment, "InputBox", deployment.input_box)
        self.next_block = deployment.input_box_block if start_block is None else start_block
        self.next_index = next_index
        self.max_block_range = max_block_range

    def poll(self, from_block: int | None = None) -> list[ChainInput]:
        """New inputs (index ≥ ``next_index``) from ``from_block`` (default ``next_block``) to the latest block.

        All or nothing: if decoding fails or indices have a gap, nothing advances and the error propagates.
        """
        start = self.next_block if from_block is None else from_block
        latest = self._w3.eth.block_number
        found: list[ChainInput] = []
        expected = self.next_index
        event = self._input_box.events.InputAdded()
        for first in range(start, latest + 1, self.max_block_range):
            last = min(latest, first + self.max_block_range - 1)
            logs = event.get_logs(argument_filters={"appContract": self._app}, from_block=first, to_block=last)
            for log in sorted(logs, key=lambda entry: (entry["blockNumber"], entry["logIndex"])):
                tx_hash = "0x" + bytes(log["transactionHash"]).hex()
                chain_input = decode_evm_advance(bytes(log["args"]["input"]), tx_hash)
                if chain_input.index != log["args"]["index"] or chain_input.app_contract != self._app:
                    raise InputDecodeError(f"InputAdded #{log['args']['index']} carries a foreign envelope")
                if chain_input.index < expected:
                    continue  # already delivered (a re-scan from an earlier block)
                if chain_input.index != expected:
                    raise InputGapError(f"expected input {expected}, chain shows {chain_input.index}")
                found.append(chain_input)
                expected += 1
        self.next_index = expected
        self.next_block = max(self.next_block, latest + 1)
        return found


@dataclass(frozen=True)
class SentInput:
    """An input sent by this process: its index and the receipts of every transaction it took."""

    index: int
    receipts: tuple[TxReceipt, ...]

    @property
    def receipt(self) -> TxReceipt:
        """The receipt of the transaction that added the input."""
        return self.receipts[-1]

    @property
    def gas_used(self) -> int:
        """Gas of all transactions (e.g. approve + deposit)."""
        return sum(r["gasUsed"] for r in self.receipts)


def _input_index(w3: Web3, deployment: Deployment, receipt: TxReceipt) -> int:
    event = _at(w3, deployment, "InputBox", deployment.input_box).events.InputAdded()
    for log in receipt["logs"]:
        if log["address"] == deployment.input_box:
            return int(event.process_log(log)["args"]["index"])
    raise InputDecodeError("transaction emitted no InputAdded event")


def add_input(w3: Web3, deployment: Deployment, account: LocalAccount, payload: bytes) -> SentInput:
    """Sends ``InputBox.addInput(application, payload)`` from ``account``."""
    box = _at(w3, deployment, "InputBox", deployment.input_box)
    receipt = send(w3, account, box.functions.addInput(deployment.application, payload))
    return SentInput(_input_index(w3, deployment, receipt), (receipt,))


def erc20_balance(w3: Web3, token: str, owner: str) -> int:
    """``token.balanceOf(owner)``."""
    return int(contract_at(w3, "TestToken", token).functions.balanceOf(Web3.to_checksum_address(owner)).call())


def deposit_erc20(w3: Web3, deployment: Deployment, account: LocalAccount, amount: int, *,
                  token: str | None = None, exec_layer_data: bytes = b"") -> SentInput:
    """Approves the ERC20Portal if needed, then ``depositERC20Tokens(token, application, amount, data)``."""
    token_contract = contract_at(w3, "TestToken", token or deployment.token)
    receipts = []
    if token_contract.functions.allowance(account.address, deployment.erc20_portal).call() < amount:
        receipts.append(send(w3, account, token_contract.functions.approve(deployment.erc20_portal, amount)))
    portal = _at(w3, deployment, "ERC20Portal", deployment.erc20_portal)
    call = portal.functions.depositERC20Tokens(token_contract.address, deployment.application, amount,
                                               exec_layer_data)
    receipts.append(send(w3, account, call))
    return SentInput(_input_index(w3, deployment, receipts[-1]), tuple(receipts))


def deposit_ether(w3: Web3, deployment: Deployment, account: LocalAccount, value: int, *,
                  exec_layer_data: bytes = b"") -> SentInput:
    """``EtherPortal.depositEther(application, data)`` with ``value`` wei."""
    portal = _at(w3, deployment, "EtherPortal", deployment.ether_portal)
    receipt = send(w3, account, portal.functions.depositEther(deployment.application, exec_layer_data),
                   value=value)
    return SentInput(_input_index(w3, deployment, receipt), (receipt,))


# ---- epochs and claims ----

def epoch_of(block_number: int, epoch_length: int) -> int:
    """The epoch holding ``block_number`` (epochs are aligned on block 0, as the Authority checks)."""
    return block_number // epoch_length


def epoch_last_block(epoch: int, epoch_length: int) -> int:
    """The last block of ``epoch``: what a claim for it names as ``lastProcessedBlockNumber``."""
    return (epoch + 1) * epoch_length - 1


def last_closed_epoch(current_block: int, epoch_length: int) -> int | None:
    """The newest epoch whose last block is below ``current_block`` (the latest block): claimable now.

    The Authority wants ``lastProcessedBlockNumber < block.number``; anvil estimates gas at the latest
    block, so a claim for an epoch ending at the latest block is refused (NotPastBlock) until one
    more block is mined.
    """
    epoch = current_block // epoch_length - 1
    return epoch if epoch >= 0 else None


@dataclass(frozen=True)
class Claim:
    """A claim the Authority accepted."""

    last_block: int
    root: bytes
    transaction_hash: str


def submit_claim(w3: Web3, deployment: Deployment, owner: LocalAccount, last_block: int,
                 root: bytes) -> TxReceipt:
    """``Authority.submitClaim(application, last_block, root)`` signed by the Authority owner."""
    authority = _at(w3, deployment, "Authority", deployment.authority)
    return send(w3, owner, authority.functions.submitClaim(deployment.application, last_block, root))


def is_root_valid(w3: Web3, deployment: Deployment, root: bytes) -> bool:
    """Whether the Authority accepted a claim with this outputs Merkle root (the release's view)."""
    authority = _at(w3, deployment, "Authority", deployment.authority)
    view = getattr(authority.functions, deployment.release.root_valid_view)
    return bool(view(deployment.application, root).call())


def accepted_claims(w3: Web3, deployment: Deployment, *, max_block_range: int = 10_000) -> list[Claim]:
    """Every claim accepted for the application, oldest first (the release's acceptance events)."""
    release = deployment.release
    event = getattr(_at(w3, deployment, "Authority", deployment.authority).events, release.claim_event)()
    claims: list[Claim] = []
    latest = w3.eth.block_number
    for start in range(deployment.block_number, latest + 1, max_block_range):
        end = min(latest, start + max_block_range - 1)
        logs = event.get_logs(argument_filters={"appContract": deployment.application},
                              from_block=start, to_block=end)
        for log in sorted(logs, key=lambda entry: (entry["blockNumber"], entry["logIndex"])):
            claims.append(Claim(int(log["args"]["lastProcessedBlockNumber"]),
                                bytes(log["args"][release.claim_root]),
                                "0x" + bytes(log["transactionHash"]).hex()))
    return claims


def mine(w3: Web3, n: int = 1) -> None:
    """Mines ``n`` empty blocks at once (``anvil_mine``)."""
    if n > 0:
        w3.provider.make_request("anvil_mine", [hex(n)])  # type: ignore[arg-type]


def mine_to(w3: Web3, block_number: int) -> None:
    """Mines until the latest block is at least ``block_number``."""
    mine(w3, block_number - w3.eth.block_number)


def increase_time(w3: Web3, seconds: int) -> None:
    """Moves the clock forward by ``seconds`` for the next mined block (``evm_increaseTime``)."""
    w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]


# ---- outputs ----

def output_validity_proof(index: int, siblings: Sequence[bytes]) -> tuple[int, list[bytes]]:
    """``OutputValidityProof(uint64 outputIndex, bytes32[] outputHashesSiblings)`` as web3 takes it."""
    if len(siblings) != HEIGHT:
        raise ValueError(f"a proof has exactly {HEIGHT} siblings, got {len(siblings)}")
    return (index, [bytes(s) for s in siblings])


def execute_output(w3: Web3, deployment: Deployment, account: LocalAccount, output: bytes, index: int,
                   siblings: Sequence[bytes]) -> TxReceipt:
    """``Application.executeOutput(output, proof)`` from ``account`` (``TransactionFailed`` on revert)."""
    app = _at(w3, deployment, "Application", deployment.application)
    return send(w3, account, app.functions.executeOutput(output, output_validity_proof(index, siblings)))


def was_output_executed(w3: Web3, deployment: Deployment, index: int) -> bool:
    """``Application.wasOutputExecuted(index)``."""
    app = _at(w3, deployment, "Application", deployment.application)
    return bool(app.functions.wasOutputExecuted(index).call())


def is_output_valid(w3: Web3, deployment: Deployment, output: bytes, index: int,
                    siblings: Sequence[bytes]) -> bool:
    """Whether the proof ties ``output`` to a root the Authority accepted (``validateOutput``)."""
    app = _at(w3, deployment, "Application", deployment.application)
    try:
        app.functions.validateOutput(output, output_validity_proof(index, siblings)).call()
    except (ContractCustomError, ContractLogicError):
        return False
    return True
