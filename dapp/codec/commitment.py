"""Commitments the machine checks at a reveal: the hidden test set's
(``keccak256(abi.encode(bytes testCid, bytes32 salt))``) and a submission's
(``keccak256(abi.encode(address sender, uint256 jobId, bytes modelCid, bytes dataCid, bytes32 salt))``)."""

from __future__ import annotations

import eth_abi
from eth_hash.auto import keccak


def test_commitment(test_cid: bytes, salt: bytes) -> bytes:
    """What a sponsor commits at job creation and the machine checks at the reveal.

    Solidity: ``keccak256(abi.encode(testCid, salt))`` with ``bytes testCid`` (the binary CID) and
    ``bytes32 salt`` (random, kept secret until the reveal)."""
    return keccak(eth_abi.encode(["bytes", "bytes32"], [test_cid, salt]))


test_commitment.__test__ = False  # not a pytest test, despite its name


def submission_commitment(sender: str, job_id: int, model_cid: bytes, data_cid: bytes, salt: bytes) -> bytes:
    """What a contributor commits with ``commitSubmission`` and the machine checks at
    ``revealSubmission``. The sender is inside, so nobody can reveal another's commitment.

    Solidity: ``keccak256(abi.encode(sender, jobId, modelCid, dataCid, salt))`` with ``address
    sender``, ``uint256 jobId``, ``bytes modelCid``, ``bytes dataCid`` (binary CIDs, empty for
    none) and ``bytes32 salt`` (random, kept secret until the reveal)."""
    return keccak(eth_abi.encode(["address", "uint256", "bytes", "bytes", "bytes32"],
                                 [sender, job_id, model_cid, data_cid, salt]))
