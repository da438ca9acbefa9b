"""The outputs Merkle tree of Cartesi Rollups v2 (CARTESI-FACTS §6).

Leaves are ``keccak256(output)`` of every output of the application since genesis, indexed globally
(notices and vouchers share one index); absent leaves are ``bytes32(0)``; a parent is
``keccak256(left ‖ right)``; the height is 63, so a proof holds exactly 63 siblings, bottom-up.

Hand-rolled (no maintained Python library implements this sparse tree): only the non-empty prefix of
each level is materialised; everything to its right is the precomputed zero hash of that level, so a
tree of n leaves costs O(n) hashes to build and O(63) to answer a proof.

Public API:

- ``HEIGHT`` = 63, ``ZERO_HASHES[level]`` (root of an empty subtree of that height), ``EMPTY_ROOT``.
- ``leaf_hash(output: bytes) -> bytes``: keccak256 of one output's bytes.
- ``OutputsTree(leaves)``: built once from leaf hashes; ``.root``, ``.siblings(index)``, ``len()``.
- ``root(leaves) -> bytes`` and ``siblings(leaves, index) -> list[bytes]``: one-shot helpers over leaf
  hashes (use ``OutputsTree`` to answer many proofs over the same leaves).
- ``root_from_proof(leaf, index, siblings) -> bytes``: what ``Application.validateOutputHash`` recomputes.
"""

from __future__ import annotations

from collections.abc import Sequence

from eth_hash.auto import keccak

HEIGHT = 63


def _zero_hashes(height: int) -> tuple[bytes, ...]:
    hashes = [bytes(32)]
    for _ in range(height):
        hashes.append(keccak(hashes[-1] + hashes[-1]))
    return tuple(hashes)


ZERO_HASHES: tuple[bytes, ...] = _zero_hashes(HEIGHT)
EMPTY_ROOT: bytes = ZERO_HASHES[HEIGHT]
assert EMPTY_ROOT.hex() == "0a162946e56158bac0673e6dd3bdfdc1e4a0e7744a120fdb640050c8d7abe1c6"


def leaf_hash(output: bytes) -> bytes:
    """The leaf of one output: ``keccak256(output bytes)``."""
    return keccak(output)


class OutputsTree:
    """The height-63 tree over ``leaves`` (32-byte hashes), with only non-empty nodes stored."""

    def __init__(self, leaves: Sequence[bytes], height: int = HEIGHT) -> None:
        if len(leaves) > 1 << height:
            raise ValueError(f"{len(leaves)} leaves do not fit a tree of height {height}")
        for leaf in leaves:
            if len(leaf) != 32:
                raise ValueError("leaves are 32-byte hashes (use leaf_hash on output bytes)")
        self.height = height
        self._zeros = ZERO_HASHES if height <= HEIGHT else _zero_hashes(height)
        level = [bytes(leaf) for leaf in leaves]
        self._levels: list[list[bytes]] = [level]
        for depth in range(height):
            if len(level) % 2:
                level = level + [self._zeros[depth]]
            level = [keccak(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
            self._levels.append(level)

    def __len__(self) -> int:
        return len(self._levels[0])

    @property
    def root(self) -> bytes:
        """The root hash (``EMPTY_ROOT`` with no leaves)."""
        top = self._levels[self.height]
        return top[0] if top else self._zeros[self.height]

    def siblings(self, index: int) -> list[bytes]:
        """The ``height`` sibling hashes of leaf ``index``, bottom-up (any index below 2**height)."""
        if not 0 <= index < 1 << self.height:
            raise IndexError(f"leaf index {index} outside a tree of height {self.height}")
        proof = []
        for depth in range(self.height):
            sibling = (index >> depth) ^ 1
            level = self._levels[depth]
            proof.append(level[sibling] if sibling < len(level) else self._zeros[depth])
        return proof


def root(leaves: Sequence[bytes]) -> bytes:
    """The root of the outputs tree over ``leaves`` (32-byte leaf hashes)."""
    return OutputsTree(leaves).root


def siblings(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """The 63 siblings of leaf ``index`` in the outputs tree over ``leaves``, bottom-up."""
    return OutputsTree(leaves).siblings(index)


def root_from_proof(leaf: bytes, index: int, proof: Sequence[bytes]) -> bytes:
    """The root implied by ``leaf`` at ``index`` with ``proof`` (siblings bottom-up)."""
    node = leaf
    for depth, sibling in enumerate(proof):
        node = keccak(sibling + node) if (index >> depth) & 1 else keccak(node + sibling)
    return node
