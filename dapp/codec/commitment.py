"""The hidden-test-set commitment: ``keccak256(abi.encode(bytes testCid, bytes32 salt))``."""

from __future__ import annotations

import eth_abi
from eth_hash.auto import keccak


def test_commitment(test_cid: bytes, salt: bytes) -> bytes:
    """What a sponsor commits at job creation and the machine checks at the reveal.

    Solidity: ``keccak256(abi.encode(testCid, salt))`` with ``bytes testCid`` (the binary CID) and
    ``bytes32 salt`` (random, kept secret until the reveal)."""
    return keccak(eth_abi.encode(["bytes", "bytes32"], [test_cid, salt]))


test_commitment.__test__ = False  # not a pytest test, despite its name
