"""The client's hand-written ABI entries match the real contracts' artifacts."""

from __future__ import annotations

import json
from pathlib import Path

import eth_abi
import pytest
from eth_hash.auto import keccak
from mlmarket.client import abis

ROOT = Path(__file__).resolve().parents[2]
CARTESI = ROOT / "node_modules" / "@cartesi" / "rollups" / "out"
ARTIFACTS = {
    "InputBox": CARTESI / "InputBox.sol" / "InputBox.json",
    "EtherPortal": CARTESI / "EtherPortal.sol" / "EtherPortal.json",
    "ERC20Portal": CARTESI / "ERC20Portal.sol" / "ERC20Portal.json",
    "Application": CARTESI / "Application.sol" / "Application.json",
    "Authority": CARTESI / "Authority.sol" / "Authority.json",
    "ERC20": ROOT / "contracts" / "build" / "TestToken.json",
}


def _shape(entry: dict) -> tuple:
    def params(items: list) -> tuple:
        return tuple((p["type"], p.get("name", ""), p.get("indexed"), params(p.get("components", [])))
                     for p in items)
    outputs = tuple(p["type"] for p in entry.get("outputs", []))
    return entry["type"], entry["name"], params(entry["inputs"]), outputs, entry.get("stateMutability")


@pytest.mark.parametrize("contract", sorted(abis.ALL))
def test_entries_match_the_artifacts(contract: str) -> None:
    path = ARTIFACTS[contract]
    if not path.is_file():
        pytest.skip(f"{path} is missing (run make setup)")
    real = {(e["type"], e["name"]): e for e in json.loads(path.read_text())["abi"] if "name" in e}
    for entry in abis.ALL[contract]:
        assert (entry["type"], entry["name"]) in real, f"{contract}.{entry['name']} does not exist"
        assert _shape(entry) == _shape(real[(entry["type"], entry["name"])])


def test_known_custom_error_is_named_with_its_arguments() -> None:
    output = b"\x01" * 40
    data = keccak(b"OutputNotReexecutable(bytes)")[:4] + eth_abi.encode(["bytes"], [output])
    name, text = abis.describe_revert(data)
    assert name == "OutputNotReexecutable" and "<40 bytes>" in text


def test_revert_string_is_shown() -> None:
    data = keccak(b"Error(string)")[:4] + eth_abi.encode(["string"], ["nope"])
    assert abis.describe_revert(data) == ("Error", "nope")


def test_unknown_error_shows_its_selector() -> None:
    name, text = abis.describe_revert(bytes.fromhex("deadbeef"))
    assert name is None and "0xdeadbeef" in text
