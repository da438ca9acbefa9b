"""devnode.v1.proofs against an independent computation: the checks of ``@cartesi/rollups`` 1.4.x
``LibOutputValidation`` and ``MerkleV2`` transcribed from the Solidity (replacement hashed upwards with
the siblings; the 32-byte leaf hashed as four 8-byte machine words), and drive roots computed top-down
from zero-filled bytes (not with the module's bottom-up levels)."""

from __future__ import annotations

from functools import cache

import eth_abi
import pytest
from eth_hash.auto import keccak

from devnode import outputs as out
from devnode.store import ClaimRecord, InputRecord
from devnode.v1 import proofs

DAPP = "0x" + "ab" * 20
ALICE = bytes.fromhex("11" * 20)


# ---- the contract's side, transcribed ----

def root_after_replacement(position: int, log2_replacement: int, log2_drive: int, replacement: bytes,
                           siblings: list[bytes]) -> bytes:
    """MerkleV2.getRootAfterReplacementInDrive."""
    assert len(siblings) == log2_drive - log2_replacement
    assert position % (1 << log2_replacement) == 0
    size = 1 << log2_replacement
    for i, sibling in enumerate(siblings):
        left = position & (size << i) == 0
        replacement = keccak(replacement + sibling) if left else keccak(sibling + replacement)
    return replacement


def root_of_32_bytes(data: bytes) -> bytes:
    """MerkleV2.getMerkleRootFromBytes(data, 5) for 32 bytes: four 8-byte words."""
    words = [keccak(data[i:i + 8]) for i in range(0, 32, 8)]
    return keccak(keccak(words[0] + words[1]) + keccak(words[2] + words[3]))


def validate(proof: dict, encoding: bytes, epoch_hash: bytes, kind: str) -> None:
    """LibOutputValidation.validateEncodedOutput (raises AssertionError where the contract reverts)."""
    v = {k: (bytes.fromhex(x[2:]) if isinstance(x, str) else x) for k, x in proof["validity"].items()}
    siblings_out = [bytes.fromhex(s[2:]) for s in proof["validity"]["outputHashInOutputHashesSiblings"]]
    siblings_epoch = [bytes.fromhex(s[2:]) for s in proof["validity"]["outputHashesInEpochSiblings"]]
    epoch = v["vouchersEpochRootHash"] + v["noticesEpochRootHash"] + v["machineStateHash"]
    assert keccak(epoch) == epoch_hash
    epoch_root = v["vouchersEpochRootHash"] if kind == "voucher" else v["noticesEpochRootHash"]
    assert root_after_replacement(v["inputIndexWithinEpoch"] << 5, 5, 37, v["outputHashesRootHash"],
                                  siblings_epoch) == epoch_root
    leaf = root_of_32_bytes(keccak(encoding))
    assert root_after_replacement(v["outputIndexWithinInput"] << 5, 5, 21, leaf,
                                  siblings_out) == v["outputHashesRootHash"]


# ---- drive roots, top-down ----

@cache
def zero_root(log2_size: int, log2_word: int) -> bytes:
    if log2_size == log2_word:
        return keccak(bytes(1 << log2_word))
    half = zero_root(log2_size - 1, log2_word)
    return keccak(half + half)


def drive_root(slots: dict[int, bytes], log2_size: int, log2_slot: int, log2_word: int,
               base: int = 0) -> bytes:
    """Root of a drive whose 2^log2_slot-byte slots ``slots[i]`` hold the given node hashes."""
    if not any(base <= i < base + (1 << (log2_size - log2_slot)) for i in slots):
        return zero_root(log2_size, log2_word)
    if log2_size == log2_slot:
        return slots[base]
    half = 1 << (log2_size - 1 - log2_slot)
    return keccak(drive_root(slots, log2_size - 1, log2_slot, log2_word, base)
                  + drive_root(slots, log2_size - 1, log2_slot, log2_word, base + half))


def output_hashes_root(encodings: list[bytes]) -> bytes:
    return drive_root({i: root_of_32_bytes(keccak(e)) for i, e in enumerate(encodings)}, 21, 5, 3)


# ---- fixtures ----

def record(index: int, epoch: int, outputs: list[bytes], status: str = "ACCEPTED") -> InputRecord:
    return InputRecord(index=index, epoch_index=epoch, block_number=10 * epoch + 2, raw_data=b"", metadata={},
                       payload=b"", tx_hash=None, status=status, outputs=tuple(outputs), reports=(),
                       first_output_index=0, first_report_index=0)


def voucher(n: int) -> bytes:
    return out.encode_voucher(ALICE, 0, bytes([n]) * (40 + n))


def notice(n: int) -> bytes:
    return out.encode_notice(bytes([n]) * n)


INPUTS = [
    record(0, 0, [notice(1)]),
    record(1, 2, [voucher(1), notice(2), voucher(2), notice(3)]),
    record(2, 2, [], status="REJECTED"),
    record(3, 2, [notice(4)] + [voucher(n) for n in range(3, 8)]),
    record(4, 5, [voucher(9)]),
]


def claims_for(inputs: list[InputRecord], epochs: list[int]) -> list[ClaimRecord]:
    def epoch_hash(epoch: int) -> bytes:
        return proofs.epoch_claim([r for r in inputs if r.epoch_index == epoch]).epoch_hash

    return [ClaimRecord(e, 10 * e + 9, 0, epoch_hash(e), "0x") for e in epochs]


def v1_encoding(output: bytes) -> tuple[str, bytes]:
    if output[:4] == out.NOTICE:
        return "notice", eth_abi.encode(["bytes"], list(eth_abi.decode(["bytes"], output[4:])))
    destination, _value, payload = eth_abi.decode(["address", "uint256", "bytes"], output[4:])
    return "voucher", eth_abi.encode(["address", "bytes"], [destination, payload])


def test_every_output_proof_passes_the_contract_checks() -> None:
    claims = claims_for(INPUTS, [0, 2, 5])
    checked = 0
    for r in INPUTS:
        for kind in ("voucher", "notice"):
            mine = [enc for k, enc in map(v1_encoding, r.outputs) if k == kind]
            for j, encoding in enumerate(mine):
                proof = proofs.output_proof(kind, r.index, j, inputs=INPUTS, claims=claims)
                assert proof is not None
                claim_index = [c.epoch_index for c in claims].index(r.epoch_index)
                assert proof["context"] == "0x" + eth_abi.encode(["uint256"], [claim_index]).hex()
                validate(proof, encoding, claims[claim_index].root, kind)
                assert len(proof["validity"]["outputHashInOutputHashesSiblings"]) == 16
                assert len(proof["validity"]["outputHashesInEpochSiblings"]) == 32
                checked += 1
    assert checked == 12


def test_epoch_roots_match_a_top_down_computation() -> None:
    epoch = [r for r in INPUTS if r.epoch_index == 2]
    claim = proofs.epoch_claim(epoch)
    assert (claim.first_index, claim.last_index) == (1, 3)
    for kind, root in (("voucher", claim.vouchers_root), ("notice", claim.notices_root)):
        slots = {}
        for i, r in enumerate(epoch):
            mine = [enc for k, enc in map(v1_encoding, r.outputs) if k == kind]
            slots[i] = output_hashes_root(mine) if r.status == "ACCEPTED" else bytes(32)
        assert root == drive_root(slots, 37, 5, 5)
    assert claim.epoch_hash == keccak(claim.vouchers_root + claim.notices_root + bytes(32))


def test_a_tampered_proof_fails_the_checks() -> None:
    claims = claims_for(INPUTS, [0, 2, 5])
    proof = proofs.output_proof("voucher", 3, 2, inputs=INPUTS, claims=claims)
    encoding = v1_encoding(voucher(5))[1]  # input 3 vouchers: 3, 4, 5, 6, 7
    validate(proof, encoding, claims[1].root, "voucher")
    with pytest.raises(AssertionError):
        validate(proof, v1_encoding(voucher(6))[1], claims[1].root, "voucher")  # another voucher's bytes
    moved = {**proof, "validity": {**proof["validity"], "outputIndexWithinInput": 1}}
    with pytest.raises(AssertionError):
        validate(moved, encoding, claims[1].root, "voucher")


def test_claim_data_is_what_history_decodes() -> None:
    claim = proofs.epoch_claim(INPUTS[1:4])
    dapp, (epoch_hash, first, last) = eth_abi.decode(["address", "(bytes32,uint128,uint128)"],
                                                     claim.claim_data(DAPP))
    assert (dapp, epoch_hash, first, last) == (DAPP, claim.epoch_hash, 1, 3)


def test_no_proof_before_the_claim_and_errors_for_unknown_outputs() -> None:
    claims = claims_for(INPUTS, [0, 2])
    assert proofs.output_proof("voucher", 4, 0, inputs=INPUTS, claims=claims) is None
    with pytest.raises(proofs.ProofError):
        proofs.output_proof("voucher", 0, 0, inputs=INPUTS, claims=claims)  # input 0 has no voucher
    with pytest.raises(proofs.ProofError):
        proofs.output_proof("notice", 7, 0, inputs=INPUTS, claims=claims)
    with pytest.raises(proofs.ProofError):
        proofs.output_proof("report", 0, 0, inputs=INPUTS, claims=claims)
    stale = [ClaimRecord(0, 9, 0, bytes(32), "0x")]
    with pytest.raises(proofs.ProofError):
        proofs.output_proof("notice", 0, 0, inputs=INPUTS, claims=stale)


def test_voucher_positions_round_trip() -> None:
    position = proofs.voucher_position(5, 3)
    assert position == (3 << 128) | 5
    assert proofs.position_indices(position) == (5, 3)


def test_outputs_v1_cannot_carry_are_refused() -> None:
    with pytest.raises(proofs.ProofError):
        proofs.v1_output(out.encode_voucher(ALICE, 1, b""))
    with pytest.raises(proofs.ProofError):
        proofs.v1_output(out.encode_delegate_call_voucher(ALICE, b""))
