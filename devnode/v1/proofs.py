"""Cartesi Rollups v1 claims and output proofs, computed from the node's records (pure: no chain, no I/O).

What the contracts check (``@cartesi/rollups`` 1.4.x ``LibOutputValidation``, ``CanonicalMachine``,
``MerkleV2``) and what the v1 node's host runner computes (rollups-node v1.x ``host-runner``):

- An output's v1 encoding: a notice is ``abi.encode(bytes payload)``, a voucher
  ``abi.encode(address destination, bytes payload)`` (no value). The node records outputs in their v2
  form (``Notice(bytes)`` / ``Voucher(address,uint256,bytes)`` calls, value 0); ``v1_output`` converts.
- Per input and per kind, an *output hashes* tree: a 2^21-byte drive holding ``keccak256(encoding)`` of
  the input's vouchers (or notices) at consecutive 32-byte slots, hashed as machine memory: 8-byte words
  are leaves (``keccak256(word)``), empty space is pristine (zeros). A proof gives the 16 siblings of the
  32-byte slot, bottom-up.
- Per epoch and per kind, an *epoch* tree: a 2^37-byte drive whose 32-byte slot ``i`` holds the output
  hashes root of the epoch's ``i``-th input (``bytes32(0)`` for an input that was not accepted), with
  32-byte words (``keccak256`` of a zero slot for empty ones). A proof gives the 32 siblings of slot ``i``.
- The epoch hash: ``keccak256(vouchersEpochRoot ‖ noticesEpochRoot ‖ machineStateHash)``; the host
  runner's machine state hash is ``bytes32(0)``, and so is this node's (the backend runs on the host).
- A claim: ``History.submitClaim(abi.encode(dapp, (epochHash, firstIndex, lastIndex)))`` through the
  Authority, with the epoch's first and last input indices (claims must cover inputs contiguously from 0).
- A proof's ``context`` is ``abi.encode(uint256 claimIndex)``: ``History.getClaim`` reads the claim with
  that index (the n-th claim of the dApp; the v1 node's epoch index, since only epochs with inputs are
  claimed).

Public API:

- ``VOUCHER``, ``NOTICE``; ``MACHINE_STATE_HASH`` (``bytes32(0)``).
- ``v1_output(output) -> (kind, encoding)``: a recorded output's kind and v1 encoding (``ProofError`` if it
  is neither a notice nor a value-less voucher).
- ``output_hashes(encodings) -> OutputHashes`` with ``.root`` and ``.siblings(j)`` (16 hashes).
- ``EpochClaim`` (frozen): ``first_index, last_index, vouchers_root, notices_root, machine_state_hash``;
  ``.epoch_hash``; ``.claim_data(dapp)`` (the bytes ``History.submitClaim`` takes).
- ``epoch_claim(epoch_inputs) -> EpochClaim``: the claim of one epoch's input records (in index order).
- ``voucher_position(input_index, output_index) -> int``: the bit ``CartesiDApp`` sets when the voucher
  is executed (``VoucherExecuted(position)``); ``position_indices(position) -> (input, output)``.
- ``output_proof(kind, input_index, output_index, *, inputs, claims)``: the GraphQL v1 ``Proof`` (see its
  docstring), or ``None`` while the output's epoch is not claimed.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import eth_abi
from eth_abi.exceptions import DecodingError
from eth_hash.auto import keccak

from devnode import outputs as out
from devnode.store import ClaimRecord, InputRecord

VOUCHER, NOTICE = "voucher", "notice"
MACHINE_STATE_HASH = bytes(32)
WORD_LOG2, HASH_LOG2 = 3, 5  # machine words are 8 bytes; a keccak hash fills a 32-byte slot
OUTPUT_HASHES_LOG2 = 21  # CanonicalMachine.VOUCHER_METADATA_LOG2_SIZE = NOTICE_METADATA_LOG2_SIZE
EPOCH_LOG2 = 37  # CanonicalMachine.EPOCH_VOUCHER_LOG2_SIZE = EPOCH_NOTICE_LOG2_SIZE
ACCEPTED = "ACCEPTED"  # devnode.server.ACCEPTED (not imported: this module stays free of the HTTP server)


class ProofError(LookupError):
    """No such output, or an output v1 cannot carry (a voucher with value, a delegate-call voucher)."""


# ---- sparse Merkle trees over a drive (only the non-empty prefix of each level is kept) ----

@cache
def _pristine(word_log2: int, root_log2: int) -> tuple[bytes, ...]:
    """``[k]``: the hash of a zero-filled region of ``2^(word_log2+k)`` bytes."""
    hashes = [keccak(bytes(1 << word_log2))]
    for _ in range(root_log2 - word_log2):
        hashes.append(keccak(hashes[-1] + hashes[-1]))
    return tuple(hashes)


@dataclass(frozen=True)
class _Drive:
    """A drive of ``2^root_log2`` bytes whose leading leaves (regions of ``2^leaf_log2`` bytes) are given."""

    levels: tuple[tuple[bytes, ...], ...]  # levels[k]: the non-empty nodes of 2^(leaf_log2+k) bytes
    pristine: tuple[bytes, ...]  # pristine[k]: an empty node of that level

    @classmethod
    def build(cls, leaves: Sequence[bytes], *, leaf_log2: int, word_log2: int, root_log2: int) -> _Drive:
        pristine = _pristine(word_log2, root_log2)[leaf_log2 - word_log2:]
        if len(leaves) > 1 << (root_log2 - leaf_log2):
            raise ProofError("more leaves than the drive holds")
        levels = [tuple(leaves)]
        for level in range(root_log2 - leaf_log2):
            below = levels[-1] + ((pristine[level],) if len(levels[-1]) % 2 else ())
            levels.append(tuple(keccak(below[i] + below[i + 1]) for i in range(0, len(below), 2)))
        return cls(tuple(levels), pristine)

    def node(self, level: int, index: int) -> bytes:
        nodes = self.levels[level]
        return nodes[index] if index < len(nodes) else self.pristine[level]

    @property
    def root(self) -> bytes:
        return self.node(len(self.levels) - 1, 0)

    def siblings(self, index: int, level: int = 0) -> list[bytes]:
        """The siblings of node ``index`` of ``level`` up to the root, bottom-up (``MerkleV2`` order)."""
        return [self.node(k, (index >> (k - level)) ^ 1) for k in range(level, len(self.levels) - 1)]


@dataclass(frozen=True)
class OutputHashes:
    """The output hashes drive of one input and kind."""

    drive: _Drive

    @property
    def root(self) -> bytes:
        """``outputHashesRootHash``."""
        return self.drive.root

    def siblings(self, output_index: int) -> list[bytes]:
        """``outputHashInOutputHashesSiblings`` of the ``output_index``-th output (16 hashes)."""
        return self.drive.siblings(output_index, HASH_LOG2 - WORD_LOG2)


def output_hashes(encodings: Sequence[bytes]) -> OutputHashes:
    """The output hashes drive of an input's vouchers (or notices), given their v1 encodings."""
    words = []
    for encoding in encodings:
        digest = keccak(encoding)
        words.extend(keccak(digest[i:i + 8]) for i in range(0, 32, 8))
    return OutputHashes(_Drive.build(words, leaf_log2=WORD_LOG2, word_log2=WORD_LOG2,
                                     root_log2=OUTPUT_HASHES_LOG2))


def _epoch_drive(roots: Sequence[bytes]) -> _Drive:
    return _Drive.build(roots, leaf_log2=HASH_LOG2, word_log2=HASH_LOG2, root_log2=EPOCH_LOG2)


# ---- outputs, claims, proofs ----

def v1_output(output: bytes) -> tuple[str, bytes]:
    """``(kind, v1 encoding)`` of a recorded output (its v2 form, as the node stores it)."""
    try:
        if output[:4] == out.NOTICE:
            (payload,) = eth_abi.decode(["bytes"], output[4:])
            return NOTICE, eth_abi.encode(["bytes"], [payload])
        if output[:4] == out.VOUCHER:
            destination, value, payload = eth_abi.decode(["address", "uint256", "bytes"], output[4:])
            if value == 0:
                return VOUCHER, eth_abi.encode(["address", "bytes"], [destination, payload])
    except (DecodingError, ValueError):
        pass
    raise ProofError(f"output 0x{output[:4].hex()}… has no Rollups v1 form")


def _encodings(record: InputRecord, kind: str) -> list[bytes]:
    if record.status != ACCEPTED:
        return []
    pairs = (v1_output(o) for o in record.outputs)
    return [encoding for k, encoding in pairs if k == kind]


@dataclass(frozen=True)
class EpochClaim:
    """What the node claims for one epoch."""

    first_index: int
    last_index: int
    vouchers_root: bytes
    notices_root: bytes
    machine_state_hash: bytes = MACHINE_STATE_HASH

    @property
    def epoch_hash(self) -> bytes:
        """``keccak256(vouchersEpochRoot ‖ noticesEpochRoot ‖ machineStateHash)``."""
        return keccak(self.vouchers_root + self.notices_root + self.machine_state_hash)

    def claim_data(self, dapp: str) -> bytes:
        """``abi.encode(dapp, History.Claim(epochHash, firstIndex, lastIndex))``."""
        return eth_abi.encode(["address", "(bytes32,uint128,uint128)"],
                              [dapp, (self.epoch_hash, self.first_index, self.last_index)])


@dataclass(frozen=True)
class _Epoch:
    """Everything the proofs of one epoch need, computed once: per kind, the output hashes drive of each
    input (``None`` unless accepted) and the epoch drive; and the claim."""

    claim: EpochClaim
    hashes: dict[str, tuple[OutputHashes | None, ...]]
    drives: dict[str, _Drive]


def _epoch(epoch_inputs: Sequence[InputRecord]) -> _Epoch:
    if not epoch_inputs:
        raise ProofError("an epoch without inputs has no claim")
    hashes: dict[str, tuple[OutputHashes | None, ...]] = {}
    drives: dict[str, _Drive] = {}
    for kind in (VOUCHER, NOTICE):
        hashes[kind] = tuple(output_hashes(_encodings(r, kind)) if r.status == ACCEPTED else None
                             for r in epoch_inputs)
        # an input that was not accepted fills its slot with bytes32(0), as the v1 host runner does
        drives[kind] = _epoch_drive([h.root if h is not None else bytes(32) for h in hashes[kind]])
    first, last = epoch_inputs[0].index, epoch_inputs[-1].index
    claim = EpochClaim(first, last, drives[VOUCHER].root, drives[NOTICE].root)
    return _Epoch(claim, hashes, drives)


def epoch_claim(epoch_inputs: Sequence[InputRecord]) -> EpochClaim:
    """The claim of an epoch holding ``epoch_inputs`` (at least one, consecutive, in index order)."""
    return _epoch(epoch_inputs).claim


_CACHE_SIZE = 32
_cache: OrderedDict[tuple[bytes, int, int], _Epoch] = OrderedDict()
_cache_lock = threading.Lock()


def _claimed_epoch(epoch_inputs: Sequence[InputRecord], claim: ClaimRecord, claim_index: int) -> _Epoch:
    """The epoch's computation, checked against its claim record; kept for the next proofs (the epoch hash
    commits to every output of the epoch, so (hash, first, last) names its content)."""
    key = (claim.root, epoch_inputs[0].index, epoch_inputs[-1].index)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    epoch = _epoch(epoch_inputs)
    if epoch.claim.epoch_hash != claim.root:
        raise ProofError(f"claim {claim_index}: epoch hash 0x{claim.root.hex()} on record, the inputs give "
                         f"0x{epoch.claim.epoch_hash.hex()}")
    with _cache_lock:
        _cache[key] = epoch
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return epoch


def voucher_position(input_index: int, output_index: int) -> int:
    """``LibOutputValidation.getBitMaskPosition(outputIndexWithinInput, inputIndex)``."""
    return (output_index << 128) | input_index


def position_indices(position: int) -> tuple[int, int]:
    """``(input_index, output_index_within_input)`` of a ``VoucherExecuted`` position."""
    return position & ((1 << 128) - 1), position >> 128


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def output_proof(kind: str, input_index: int, output_index: int, *, inputs: Sequence[InputRecord],
                 claims: Sequence[ClaimRecord]) -> dict[str, Any] | None:
    """The GraphQL v1 ``Proof`` of an output, or ``None`` while its epoch has no claim.

    - ``kind``: ``"voucher"`` or ``"notice"``.
    - ``input_index``: the input's index since genesis (``InputAdded`` index).
    - ``output_index``: the output's index among the input's outputs of that kind (GraphQL v1
      ``voucher(voucherIndex, inputIndex)`` / ``notice(noticeIndex, inputIndex)``).
    - ``inputs``: the processed input records in index order (``node.store.inputs``: record ``i`` is input
      ``i``; outputs in their recorded v2 form). Only the records of the output's epoch are read.
    - ``claims``: the claim records in submission order (``node.store.claims``; in v1 mode one per epoch
      holding inputs, ``epoch_index`` the block-aligned epoch of ``InputRecord.epoch_index``, ``root``
      the epoch hash). The claim's position in this list is its History claim index.

    Returns ``{"validity": {"inputIndexWithinEpoch": int, "outputIndexWithinInput": int,
    "outputHashesRootHash", "vouchersEpochRootHash", "noticesEpochRootHash", "machineStateHash": "0x<64
    hex>", "outputHashInOutputHashesSiblings": [16 × "0x…"], "outputHashesInEpochSiblings": [32 × "0x…"]},
    "context": "0x…"}`` (``abi.encode(uint256 claimIndex)``), which ``CartesiDApp.executeVoucher`` and
    ``validateNotice`` accept as ``Proof``. Raises ``ProofError`` for an unknown input or output, or if the
    recorded claim's epoch hash is not what the records give (records and chain out of step). An epoch's
    drives are computed once and kept (the last ``_CACHE_SIZE`` claimed epochs), so listing every output
    of an epoch costs one epoch computation. Thread-safe.
    """
    if kind not in (VOUCHER, NOTICE):
        raise ProofError(f"kind must be {VOUCHER!r} or {NOTICE!r}, got {kind!r}")
    if not 0 <= input_index < len(inputs) or inputs[input_index].index != input_index:
        raise ProofError(f"no processed input {input_index}")
    record = inputs[input_index]
    encodings = _encodings(record, kind)
    if not 0 <= output_index < len(encodings):
        raise ProofError(f"input {input_index} has no {kind} {output_index}")
    claim_index = next((i for i, c in enumerate(claims) if c.epoch_index == record.epoch_index), None)
    if claim_index is None:
        return None
    epoch_inputs = [r for r in inputs if r.epoch_index == record.epoch_index]
    within = input_index - epoch_inputs[0].index
    epoch = _claimed_epoch(epoch_inputs, claims[claim_index], claim_index)
    hashes = epoch.hashes[kind][within]
    assert hashes is not None  # the input was accepted: it has outputs
    claim = epoch.claim
    return {
        "validity": {
            "inputIndexWithinEpoch": within,
            "outputIndexWithinInput": output_index,
            "outputHashesRootHash": _hex(hashes.root),
            "vouchersEpochRootHash": _hex(claim.vouchers_root),
            "noticesEpochRootHash": _hex(claim.notices_root),
            "machineStateHash": _hex(claim.machine_state_hash),
            "outputHashInOutputHashesSiblings": [_hex(h) for h in hashes.siblings(output_index)],
            "outputHashesInEpochSiblings": [_hex(h) for h in epoch.drives[kind].siblings(within)],
        },
        "context": _hex(eth_abi.encode(["uint256"], [claim_index])),
    }
