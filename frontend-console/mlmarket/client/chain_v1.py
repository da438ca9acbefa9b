"""The base layer of a Cartesi Rollups v1 application: ``ChainV1``, a ``Chain`` whose vouchers execute
through ``CartesiDApp.executeVoucher(address destination, bytes payload, Proof proof)``.

Inputs and deposits are sent as on v2 (``addInput(address,bytes)`` and the portals' deposit functions
have the same selectors); only the addresses (``config``) and the InputBox event differ: v1's
``InputAdded(address indexed dapp, uint256 indexed inputIndex, address sender, bytes input)``.

The voucher methods keep ``Chain``'s signatures (``output`` bytes, global output ``index``, ``siblings``)
so that ``Market`` and the console call them unchanged: the output's destination and payload come from
its bytes, its place in the v1 numbering and its proof from the node (``ReaderV1Client.locate`` and
``voucher_proof``); ``siblings`` is not used. ``wasVoucherExecuted(inputIndex, outputIndexWithinInput)``
says whether it ran; v1 has no view that checks a voucher's proof, so ``output_is_valid`` simulates the
execution (``eth_call``). ABI entries are written out by hand (checked against npm
``@cartesi/rollups@1.4.3`` by a unit test), with ``abis``'s builders.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import eth_abi
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError, Web3Exception
from web3.logs import DISCARD

from mlmarket.client.abis import error, event, function, param
from mlmarket.client.accounts import Signer
from mlmarket.client.chain import Chain, TxResult
from mlmarket.client.config import NodeConfig
from mlmarket.client.errors import ClientError, TransactionFailed
from mlmarket.client.outputs import VOUCHER_SELECTOR
from mlmarket.client.reader_v1 import ReaderV1Client


_VALIDITY = param("tuple", "validity", components=[
    param("uint64", "inputIndexWithinEpoch"), param("uint64", "outputIndexWithinInput"),
    param("bytes32", "outputHashesRootHash"), param("bytes32", "vouchersEpochRootHash"),
    param("bytes32", "noticesEpochRootHash"), param("bytes32", "machineStateHash"),
    param("bytes32[]", "outputHashInOutputHashesSiblings"),
    param("bytes32[]", "outputHashesInEpochSiblings")])
_PROOF = param("tuple", "_proof", components=[_VALIDITY, param("bytes", "context")])

CARTESI_DAPP = [
    function("executeVoucher", [param("address", "_destination"), param("bytes", "_payload"), _PROOF],
             [param("bool")]),
    function("wasVoucherExecuted",
             [param("uint256", "_inputIndex"), param("uint256", "_outputIndexWithinInput")], [param("bool")],
             "view"),
    event("VoucherExecuted", [param("uint256", "voucherId", False)]),
    *(error(name) for name in (
        "EtherTransferFailed", "IncorrectEpochHash", "IncorrectOutputHashesRootHash",
        "IncorrectOutputsEpochRootHash", "InputIndexOutOfClaimBounds", "OnlyDApp",
        "VoucherReexecutionNotAllowed")),
]
"""The v1 ``CartesiDApp`` functions and event the client uses."""
INPUT_BOX_V1 = [
    function("addInput", [param("address", "_dapp"), param("bytes", "_input")], [param("bytes32")]),
    event("InputAdded", [param("address", "dapp", True), param("uint256", "inputIndex", True),
                         param("address", "sender", False), param("bytes", "input", False)]),
    error("InputSizeExceedsLimit"),
]
"""The v1 ``InputBox`` entries the client uses."""
V1_ABIS = {"Application": CARTESI_DAPP, "InputBox": INPUT_BOX_V1}


def proof_argument(proof: Mapping[str, Any]) -> tuple[Any, ...]:
    """The ``Proof`` struct argument of ``executeVoucher`` from the GraphQL v1 ``Proof``."""
    validity = proof["validity"]

    def word(text: str) -> bytes:
        return bytes.fromhex(text[2:])
    return ((int(validity["inputIndexWithinEpoch"]), int(validity["outputIndexWithinInput"]),
             word(validity["outputHashesRootHash"]), word(validity["vouchersEpochRootHash"]),
             word(validity["noticesEpochRootHash"]), word(validity["machineStateHash"]),
             [word(s) for s in validity["outputHashInOutputHashesSiblings"]],
             [word(s) for s in validity["outputHashesInEpochSiblings"]]),
            word(proof["context"]))


def voucher_fields(output: bytes) -> tuple[str, bytes]:
    """``(destination, payload)`` of a voucher in its v2 encoding (how the v1 reader gives it)."""
    if output[:4] != VOUCHER_SELECTOR:
        raise ClientError("only vouchers execute")
    destination, _, payload = eth_abi.decode(["address", "uint256", "bytes"], output[4:])
    return Web3.to_checksum_address(destination), payload


class ChainV1(Chain):
    """``Chain`` for a v1 application; ``reader`` numbers its outputs and gives their proofs."""

    def __init__(self, config: NodeConfig, signer: Signer | None = None, *, reader: ReaderV1Client,
                 w3: Web3 | None = None, receipt_timeout: float = 120.0) -> None:
        super().__init__(config, signer, w3=w3, receipt_timeout=receipt_timeout)
        self.reader = reader

    def contract(self, kind: str, address: str) -> Contract:
        """A web3 contract of the v1 ABI of ``kind`` (``Application``, ``InputBox``), else ``Chain``'s."""
        abi = V1_ABIS.get(kind)
        if abi is None:
            return super().contract(kind, address)
        return self.w3.eth.contract(address=Web3.to_checksum_address(address), abi=abi)

    def _input_index(self, receipt: Any, tx_hash: str) -> int:
        app = Web3.to_checksum_address(self.config.address("Application"))
        box = self.contract("InputBox", self.config.address("InputBox"))
        for added in box.events.InputAdded().process_receipt(receipt, errors=DISCARD):
            if added["address"] == box.address and added["args"]["dapp"] == app:
                return int(added["args"]["inputIndex"])
        raise TransactionFailed(f"transaction {tx_hash} added no input to {app}", tx_hash=tx_hash)

    def _voucher(self, index: int) -> tuple[int, int]:
        kind, input_index, position = self.reader.locate(index)
        if kind != "voucher":
            raise ClientError(f"output {index} is not a voucher (only vouchers execute)")
        return input_index, position

    def execute_output_call(self, output: bytes, index: int, siblings: Sequence[bytes] = ()) -> Any:
        """The bound call ``CartesiDApp.executeVoucher(destination, payload, proof)`` of voucher ``index``
        with its proof from the node. Raises ``ClientError`` before the epoch is claimed."""
        input_index, position = self._voucher(index)
        proof = self.reader.voucher_proof(input_index, position)
        if proof is None:
            raise ClientError(f"voucher {index} has no proof yet (its epoch is not claimed)")
        destination, payload = voucher_fields(output)
        app = self.contract("Application", self.config.address("Application"))
        return app.functions.executeVoucher(destination, payload, proof_argument(proof))

    def execute_output(self, output: bytes, index: int, siblings: Sequence[bytes] = ()) -> TxResult:
        """Executes voucher ``index`` from the signer (``executeVoucher``)."""
        tx, _ = self.transact(self.execute_output_call(output, index), what=f"executeVoucher({index})")
        return tx

    def was_output_executed(self, index: int) -> bool:
        """``CartesiDApp.wasVoucherExecuted(inputIndex, outputIndexWithinInput)`` of voucher ``index``."""
        input_index, position = self._voucher(index)
        app = self.contract("Application", self.config.address("Application"))
        return bool(app.functions.wasVoucherExecuted(input_index, position).call())

    def output_is_valid(self, output: bytes, index: int, siblings: Sequence[bytes] = ()) -> bool:
        """Whether executing voucher ``index`` now would succeed (its proof is accepted and its call
        runs), by simulating ``executeVoucher``."""
        try:
            call = self.execute_output_call(output, index)
            sender = self.signer.address if self.signer is not None else self.config.address("Application")
            call.call({"from": sender})
        except (ClientError, ContractLogicError, Web3Exception, ValueError):
            return False
        return True


def chain_for(config: NodeConfig, signer: Signer | None, reader: Any, *, w3: Web3 | None = None) -> Chain:
    """The ``Chain`` of ``config``: ``ChainV1`` (outputs numbered by ``reader``) on a Rollups v1 node."""
    if config.rollups == 1:
        return ChainV1(config, signer, reader=reader, w3=w3)
    return Chain(config, signer, w3=w3)
