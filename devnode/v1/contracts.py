"""The Cartesi Rollups v1 contracts as npm ``@cartesi/rollups@1.4.3`` ships them (``cartesi-rollups-1``).

The package carries hardhat-deploy records (``deployments/<network>/<Name>.json``: abi, linked creation
bytecode, constructor args, address) and exported artifacts (``export/artifacts/contracts/**.json``: abi
and bytecode of every contract, including those a factory creates: CartesiDApp, Authority, History).
The libraries CartesiDAppFactory links (Bitmask, MerkleV2, and CartesiMathV2 under MerkleV2) come from
its dependency ``@cartesi/util@6.3.0`` (``deployments/<network>/``). Every network's records hold the same
bytecode; the node reads Sepolia's.

Public API:

- ``Record(name, abi, bytecode, args, address)``: a deployment record; ``.init_code`` (bytecode +
  encoded constructor args).
- ``record(name) -> Record``: one of ``CANONICAL`` (in deployment order).
- ``abi_of(name) -> list[dict]``: the ABI of any v1 contract (records first, then exported artifacts).
- ``contract_at(w3, name, address)``: a web3 contract object.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import eth_abi
from web3 import Web3
from web3.contract import Contract

from devnode.anvil import repo_root
from devnode.contracts import ArtifactMissing

NETWORK = "sepolia"
LIBRARIES = ("CartesiMathV2", "Bitmask", "MerkleV2")  # from @cartesi/util
CANONICAL = LIBRARIES + (
    "InputBox", "EtherPortal", "ERC20Portal", "ERC721Portal", "ERC1155SinglePortal", "ERC1155BatchPortal",
    "DAppAddressRelay", "AuthorityFactory", "HistoryFactory", "AuthorityHistoryPairFactory",
    "CartesiDAppFactory", "SelfHostedApplicationFactory")
_EXPORTED = {"CartesiDApp": "dapp/CartesiDApp.sol", "Authority": "consensus/authority/Authority.sol",
             "History": "history/History.sol"}


def package_dir() -> Path:
    """Where npm installed ``@cartesi/rollups@1.4.3``."""
    return repo_root() / "node_modules" / "cartesi-rollups-1"


def _util_dir() -> Path:
    """``@cartesi/util``: nested under the rollups package, or hoisted to the top of node_modules."""
    nested = package_dir() / "node_modules" / "@cartesi" / "util"
    return nested if nested.is_dir() else repo_root() / "node_modules" / "@cartesi" / "util"


@dataclass(frozen=True)
class Record:
    """A hardhat-deploy record: where the contract lives on every network, and how it got there."""

    name: str
    abi: tuple[dict[str, Any], ...]
    bytecode: bytes
    args: tuple[Any, ...]
    address: str

    @property
    def init_code(self) -> bytes:
        """Creation bytecode followed by the ABI-encoded constructor arguments."""
        constructor = next((e for e in self.abi if e["type"] == "constructor"), None)
        types = [i["type"] for i in constructor["inputs"]] if constructor else []
        return self.bytecode + (eth_abi.encode(types, list(self.args)) if types else b"")


@cache
def record(name: str) -> Record:
    """The deployment record of contract ``name`` (one of ``CANONICAL``)."""
    base = _util_dir() if name in LIBRARIES else package_dir()
    path = base / "deployments" / NETWORK / f"{name}.json"
    if not path.is_file():
        raise ArtifactMissing(f"no v1 deployment record {path}: run `npm install`")
    data = json.loads(path.read_text())
    return Record(name, tuple(data["abi"]), bytes.fromhex(data["bytecode"].removeprefix("0x")),
                  tuple(data.get("args") or ()), Web3.to_checksum_address(data["address"]))


@cache
def abi_of(name: str) -> list[dict[str, Any]]:
    """The ABI of v1 contract ``name``."""
    if name in _EXPORTED:
        source = _EXPORTED[name]
        path = package_dir() / "export" / "artifacts" / "contracts" / source / f"{Path(source).stem}.json"
        if not path.is_file():
            raise ArtifactMissing(f"no v1 artifact {path}: run `npm install`")
        return list(json.loads(path.read_text())["abi"])
    return list(record(name).abi)


def contract_at(w3: Web3, name: str, address: str) -> Contract:
    """A web3 contract object for v1 contract ``name`` at ``address``."""
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=abi_of(name))
