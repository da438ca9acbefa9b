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
    revert = abis.describe_revert(data)
    assert revert.signature == "OutputNotReexecutable(bytes)" and revert.name == "OutputNotReexecutable"
    assert revert.text.startswith("OutputNotReexecutable(output=") and "<40 bytes>" in revert.text


def test_errors_of_the_given_abi_are_named_too() -> None:
    entry = {"type": "error", "name": "NotPastBlock", "inputs": [{"type": "uint256", "name": "block"},
                                                                 {"type": "uint256", "name": ""}]}
    data = keccak(b"NotPastBlock(uint256,uint256)")[:4] + eth_abi.encode(["uint256", "uint256"], [7, 5])
    assert abis.describe_revert(data).signature is None
    revert = abis.describe_revert(data, [entry])
    assert revert.signature == "NotPastBlock(uint256,uint256)" and "block=7" in revert.text and "5" in revert.text


def test_revert_string_is_shown() -> None:
    data = keccak(b"Error(string)")[:4] + eth_abi.encode(["string"], ["nope"])
    revert = abis.describe_revert(data)
    assert revert.name == "Error" and revert.text == "nope"


def test_unknown_error_shows_its_data() -> None:
    revert = abis.describe_revert(bytes.fromhex("deadbeef") + bytes(32))
    assert revert.signature is None and revert.name is None and "0xdeadbeef" + "00" * 32 in revert.text


def test_selectors_are_those_of_the_artifacts() -> None:
    path = ARTIFACTS["InputBox"]
    if not path.is_file():
        pytest.skip(f"{path} is missing (run make setup)")
    identifiers = json.loads(path.read_text())["methodIdentifiers"]
    for entry in abis.INPUT_BOX:
        if entry["type"] == "function":
            assert abis.selector(entry).hex() == identifiers[abis.signature(entry)]


RC14_ABIS = ROOT / "devnode" / "abis" / "rollups-2.0.0-rc.14.json"


def test_rc_14_errors_are_the_deployed_application_s_and_named_only_for_that_release() -> None:
    deployed = {(e["name"], tuple(i["type"] for i in e["inputs"]))
                for e in json.loads(RC14_ABIS.read_text())["Application"] if e["type"] == "error"}
    extra = abis.release_errors("2.0.0-rc.14")
    assert extra and {(e["name"], tuple(i["type"] for i in e["inputs"])) for e in extra} <= deployed
    root = b"\x07" * 32
    data = keccak(b"ClaimNotAccepted(bytes32)")[:4] + root
    assert abis.describe_revert(data).signature is None and abis.release_errors("2.2.0") == []
    revert = abis.describe_revert(data, extra)
    assert revert.signature == "ClaimNotAccepted(bytes32)" and revert.text == f"ClaimNotAccepted(claim=0x{root.hex()})"
