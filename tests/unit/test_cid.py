"""CIDs: equal to what the JS reference importer (configured as ``ipfs add --cid-version 1
--raw-leaves``) prints, and strict parsing/validation."""

import base64
import hashlib
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dapp.codec.cid import CHUNK_SIZE, MAX_LINKS, check_cid, cid_from_text, cid_of, cid_to_text
from dapp.errors import InvalidInput

ROOT = Path(__file__).resolve().parents[2]
ORACLE = ROOT / "tests" / "oracle" / "unixfs-cid.mjs"
MIB = 1 << 20


def _oracle_available() -> bool:
    modules = ROOT / "node_modules"
    return shutil.which("node") is not None and all(
        (modules / name / "package.json").exists() for name in ("ipfs-unixfs-importer", "blockstore-core")
    )


needs_oracle = pytest.mark.skipif(not _oracle_available(), reason="node or node_modules missing (make setup)")


def oracle_cids(tmp_path: Path, blobs: list[bytes], *options: str) -> list[str]:
    """CIDs printed by the JS importer for each blob (one node process for all of them)."""
    files = []
    for i, blob in enumerate(blobs):
        path = tmp_path / f"blob{i}"
        path.write_bytes(blob)
        files.append(str(path))
    out = subprocess.run(["node", str(ORACLE), *options, *files], check=True, capture_output=True,
                         text=True, timeout=120)
    return out.stdout.split()


def blob(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def raw_cid_text(data: bytes) -> str:
    """Independent construction of a raw CIDv1: 01 55 12 20 ‖ sha256, multibase ``b`` + base32."""
    binary = b"\x01\x55\x12\x20" + hashlib.sha256(data).digest()
    return "b" + base64.b32encode(binary).decode().lower().rstrip("=")


@pytest.mark.parametrize("size", [0, 1, 1000, CHUNK_SIZE - 1, CHUNK_SIZE])
def test_one_chunk_files_get_the_raw_cid_of_their_sha256(size):
    data = blob(size, seed=size)
    text = cid_to_text(cid_of(data))
    assert text == raw_cid_text(data)
    assert text.startswith("bafkrei")


@needs_oracle
def test_cids_match_the_reference_importer_around_chunk_boundaries(tmp_path):
    sizes = [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 2 * CHUNK_SIZE, 2 * CHUNK_SIZE + 1,
             3 * MIB, 5 * MIB + 12345, 8 * MIB]
    blobs = [blob(size, seed=size) for size in sizes]
    expected = oracle_cids(tmp_path, blobs)
    assert [cid_to_text(cid_of(b)) for b in blobs] == expected
    assert all(text.startswith("bafybei") for text in expected[4:])


@needs_oracle
def test_cid_matches_the_reference_importer_beyond_one_tree_level(tmp_path):
    data = blob(MAX_LINKS * CHUNK_SIZE + 1, seed=7)  # 175 leaves: two levels of dag-pb nodes
    assert [cid_to_text(cid_of(data))] == oracle_cids(tmp_path, [data])


@needs_oracle
@pytest.mark.parametrize(("chunk_size", "max_links"), [(4, 3), (7, 2), (64, 5)])
def test_deep_trees_match_the_reference_importer_with_small_chunks(tmp_path, chunk_size, max_links):
    sizes = list(range(0, 3 * chunk_size + 2)) + [chunk_size * max_links ** 3 + 1, 5000]
    blobs = [blob(size, seed=size) for size in sizes]
    expected = oracle_cids(tmp_path, blobs, "--chunk-size", str(chunk_size), "--max-children", str(max_links))
    assert [cid_to_text(cid_of(b, chunk_size=chunk_size, max_links=max_links)) for b in blobs] == expected


@needs_oracle
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=3000) | st.integers(0, 700_000).map(blob),
       chunk_size=st.sampled_from([None, 16, 100]))
def test_hypothesis_examples_match_the_reference_importer(tmp_path, data, chunk_size):
    if chunk_size is None:
        assert [cid_to_text(cid_of(data))] == oracle_cids(tmp_path, [data])
    else:
        options = ("--chunk-size", str(chunk_size), "--max-children", "3")
        assert [cid_to_text(cid_of(data, chunk_size=chunk_size, max_links=3))] == oracle_cids(
            tmp_path, [data], *options)


def test_text_and_binary_forms_round_trip():
    for data in (b"", b"abc", blob(CHUNK_SIZE + 1)):
        binary = cid_of(data)
        assert check_cid(binary) == binary
        assert cid_from_text(cid_to_text(binary)) == binary
        assert cid_from_text(" " + cid_to_text(binary) + "\n") == binary


def test_other_multibase_text_forms_parse_to_the_same_binary():
    binary = cid_of(b"hello")
    base32_upper = "B" + base64.b32encode(binary).decode().rstrip("=")
    base16 = "f" + binary.hex()
    assert cid_from_text(base32_upper) == cid_from_text(base16) == binary


DIGEST = hashlib.sha256(b"x").digest()


@pytest.mark.parametrize(("binary", "problem"), [
    (b"\x12\x20" + DIGEST, "CIDv0"),                                   # v0 (dag-pb, implicit)
    (b"\x01\x71\x12\x20" + DIGEST, "dag-cbor"),                        # codec dag-cbor
    (b"\x01\x55\x13\x40" + hashlib.sha512(b"x").digest(), "sha2-512"),  # another hash
    (b"\x01\x55\x1b\x20" + DIGEST, "keccak-256"),  # a hash whose implementation the machine lacks (pycryptodome)
    (b"\x01\x55\x1e\x20" + DIGEST, "blake3"),      # likewise (blake3): named from the multicodec table
    (b"\x01\x55\x12\x14" + DIGEST[:20], "20-byte digest"),  # sha2-256 cut short
    (b"\x01\x55\x12\x20" + DIGEST[:31], "not a CID"),                  # truncated digest
    (b"\x01\x55\x12\x20" + DIGEST + b"\x00", "CID"),                   # trailing byte
    (b"\x01\xd5\x00\x12\x20" + DIGEST, "CID"),                         # non-minimal codec varint
    (b"\x02\x55\x12\x20" + DIGEST, "CID"),                             # version 2
    (b"", "non-empty"),
])
def test_invalid_binary_cids_are_rejected_with_a_reason(binary, problem):
    with pytest.raises(InvalidInput) as info:
        check_cid(binary)
    assert info.value.code == "bad_cid"
    assert problem in info.value.message


@pytest.mark.parametrize("text", ["", "   ", "hello", "bafkrei", "zdj7W" + "1" * 44,
                                  "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"])
def test_invalid_text_cids_are_rejected(text):
    with pytest.raises(InvalidInput) as info:
        cid_from_text(text)
    assert info.value.code == "bad_cid"


def test_a_cidv0_text_is_rejected_naming_the_version_to_use():
    v0 = "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"
    with pytest.raises(InvalidInput, match="--cid-version 1"):
        cid_from_text(v0)
