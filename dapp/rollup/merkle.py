"""The outputs Merkle tree as the machine keeps it, one output at a time (CARTESI-FACTS §6).

Leaves are ``keccak256(output bytes)`` of every output (notices and vouchers share one index) since
the machine booted; absent leaves are ``bytes32(0)``; a parent is ``keccak256(left ‖ right)``; the
height is 63. Only the frontier is kept: for each level, the root of the complete left subtree that
still waits for its right sibling, so a push costs at most 63 hashes and memory stays constant.

A value type: ``push`` returns a new tree, so keeping the tree of the last accepted input is keeping
a reference. Checked against machine-guest-tools ``sys-utils/libcmt/src/merkle.c`` (the same height,
leaves and root for a tree whose missing leaves are zero) and against ``devnode.merkle`` in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from eth_hash.auto import keccak

HEIGHT = 63


@cache
def zero_hashes() -> tuple[bytes, ...]:
    """``zero_hashes()[h]``: the root of an empty subtree of height ``h`` (0..63)."""
    hashes = [bytes(32)]
    for _ in range(HEIGHT):
        hashes.append(keccak(hashes[-1] + hashes[-1]))
    return tuple(hashes)


@dataclass(frozen=True, slots=True)
class OutputsMerkle:
    """``count`` leaves so far; ``frontier[h]`` is meaningful where bit ``h`` of ``count`` is set."""

    count: int = 0
    frontier: tuple[bytes, ...] = field(default=(bytes(32),) * HEIGHT)

    def push(self, output: bytes) -> OutputsMerkle:
        """The tree with ``keccak256(output)`` appended. Raises ``OverflowError`` when full."""
        if self.count >= 1 << HEIGHT:
            raise OverflowError(f"the outputs tree holds at most 2**{HEIGHT} outputs")
        node = keccak(output)
        frontier = list(self.frontier)
        for level in range(HEIGHT):
            if not self.count >> level & 1:
                frontier[level] = node
                break
            node = keccak(frontier[level] + node)
        return OutputsMerkle(self.count + 1, tuple(frontier))

    def root(self) -> bytes:
        """The 32-byte root over all pushed outputs, missing leaves zero."""
        zeros = zero_hashes()
        node = zeros[0]
        for level in range(HEIGHT):
            if self.count >> level & 1:
                node = keccak(self.frontier[level] + node)
            else:
                node = keccak(node + zeros[level])
        return node
