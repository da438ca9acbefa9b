"""The outputs Merkle tree against a naive full tree built here, and the published empty root."""

from __future__ import annotations

import os

import pytest
from eth_hash.auto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from devnode import merkle

# CARTESI-FACTS §6: the root of the empty height-63 tree, as published by Cartesi.
PUBLISHED_EMPTY_ROOT = bytes.fromhex("0a162946e56158bac0673e6dd3bdfdc1e4a0e7744a120fdb640050c8d7abe1c6")


def naive_levels(leaves: list[bytes], height: int) -> list[list[bytes]]:
    """Every level of the full tree, all 2**height leaves materialised."""
    level = leaves + [bytes(32)] * ((1 << height) - len(leaves))
    levels = [level]
    while len(level) > 1:
        level = [keccak(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
        levels.append(level)
    return levels


def naive_siblings(leaves: list[bytes], height: int, index: int) -> list[bytes]:
    levels = naive_levels(leaves, height)
    return [levels[depth][(index >> depth) ^ 1] for depth in range(height)]


def some_leaves(n: int, seed: int = 0) -> list[bytes]:
    return [keccak(f"output {seed} {i}".encode()) for i in range(n)]


def test_empty_tree_root_is_the_published_one() -> None:
    assert merkle.EMPTY_ROOT == PUBLISHED_EMPTY_ROOT
    assert merkle.root([]) == PUBLISHED_EMPTY_ROOT


def test_proof_of_an_empty_tree_has_63_siblings_of_zero_subtrees() -> None:
    proof = merkle.siblings([], 5)
    assert len(proof) == 63
    assert merkle.root_from_proof(bytes(32), 5, proof) == PUBLISHED_EMPTY_ROOT


@settings(max_examples=60, deadline=None)
@given(height=st.integers(min_value=1, max_value=6), data=st.data())
def test_small_trees_match_a_naive_full_tree(height: int, data: st.DataObject) -> None:
    count = data.draw(st.integers(min_value=0, max_value=1 << height))
    leaves = some_leaves(count, seed=height)
    index = data.draw(st.integers(min_value=0, max_value=(1 << height) - 1))
    tree = merkle.OutputsTree(leaves, height=height)
    assert tree.root == naive_levels(leaves, height)[-1][0]
    assert tree.siblings(index) == naive_siblings(leaves, height, index)


def test_height_63_root_is_a_small_tree_lifted_with_zero_subtrees() -> None:
    leaves = some_leaves(37)
    node = naive_levels(leaves, 6)[-1][0]
    zero = bytes(32)
    for _ in range(6):
        zero = keccak(zero + zero)
    for _ in range(6, 63):  # the small tree is always the left child; its right sibling is empty
        node = keccak(node + zero)
        zero = keccak(zero + zero)
    assert merkle.root(leaves) == node


def test_every_proof_of_a_large_tree_leads_to_its_root() -> None:
    leaves = some_leaves(3000, seed=7)
    tree = merkle.OutputsTree(leaves)
    for index in (0, 1, 1499, 2047, 2048, 2998, 2999, 3000, 4095):
        proof = tree.siblings(index)
        assert len(proof) == 63
        leaf = leaves[index] if index < len(leaves) else bytes(32)
        assert merkle.root_from_proof(leaf, index, proof) == tree.root


def test_a_proof_does_not_fit_another_leaf_or_index() -> None:
    leaves = some_leaves(10)
    tree = merkle.OutputsTree(leaves)
    assert merkle.root_from_proof(leaves[4], 3, tree.siblings(4)) != tree.root
    assert merkle.root_from_proof(leaves[3], 4, tree.siblings(4)) != tree.root


def test_leaf_hash_is_keccak_of_the_output_bytes() -> None:
    output = os.urandom(100)
    assert merkle.leaf_hash(output) == keccak(output)


def test_leaves_must_be_hashes() -> None:
    with pytest.raises(ValueError):
        merkle.OutputsTree([b"not a hash"])


def test_index_outside_the_tree_is_refused() -> None:
    with pytest.raises(IndexError):
        merkle.OutputsTree([], height=4).siblings(16)
