"""Contract artifacts (ABI + creation bytecode) for the local node.

Public API:

- ``Artifact(name, abi, bytecode)``: frozen; ``bytecode`` is the creation code as bytes.
- ``artifact(name) -> Artifact``: ours from ``contracts/build/<Name>.json`` (``make setup`` compiles
  them), else Cartesi Rollups v2.2.0 from ``node_modules/@cartesi/rollups/out/<C>.sol/<C>.json``.
- ``rc14_artifact(name) -> Artifact``: contract ``name`` of Cartesi Rollups v2.0.0-rc.14 as it is deployed:
  ours first (the test token), then the npm deployment record
  ``node_modules/cartesi-rollups-2rc14/deployments/sepolia/<C>.json`` (never the package's
  ``export/artifacts`` or ``contracts/``: a newer build than the deployed one), then, for the contracts
  its factories create (Application, Authority), the ABI in ``devnode/abis/rollups-2.0.0-rc.14.json``
  (compiled from the factories' recorded sources by ``scripts/rollups-rc14-abis.js``; no bytecode).
- ``abi_of(name) -> list[dict]``: the ABI of either kind (v2.2.0).
- ``contract_at(w3, name, address)``: a web3 contract object bound to ``address`` (its full ABI names
  the contract's custom errors when ``mlmarket.client.tx.send`` reports a revert).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from web3 import Web3
from web3.contract import Contract

from devnode.anvil import repo_root


class ArtifactMissing(FileNotFoundError):
    """An artifact is not where ``make setup`` puts it."""


@dataclass(frozen=True)
class Artifact:
    """A compiled contract: its name, ABI and creation bytecode."""

    name: str
    abi: tuple[dict[str, Any], ...]
    bytecode: bytes


def cartesi_artifact_path(name: str) -> Path:
    """Where npm ``@cartesi/rollups`` keeps the forge artifact of contract ``name``."""
    return repo_root() / "node_modules" / "@cartesi" / "rollups" / "out" / f"{name}.sol" / f"{name}.json"


def project_artifact_path(name: str) -> Path:
    """Where ``scripts/compile-contracts.js`` writes our contract ``name``."""
    return repo_root() / "contracts" / "build" / f"{name}.json"


@cache
def artifact(name: str) -> Artifact:
    """Loads contract ``name``: ours (``contracts/build``) first, then Cartesi's (``node_modules``)."""
    for path in (project_artifact_path(name), cartesi_artifact_path(name)):
        if path.is_file():
            data = json.loads(path.read_text())
            code = data["bytecode"]
            code = code["object"] if isinstance(code, dict) else code
            return Artifact(name=name, abi=tuple(data["abi"]), bytecode=bytes.fromhex(code.removeprefix("0x")))
    raise ArtifactMissing(f"no artifact for {name} (looked in contracts/build and node_modules): run `make setup`")


def rc14_records_dir() -> Path:
    """Where npm ``@cartesi/rollups@2.0.0-rc.14`` (``cartesi-rollups-2rc14``) keeps its deployment records."""
    return repo_root() / "node_modules" / "cartesi-rollups-2rc14" / "deployments" / "sepolia"


RC14_ABIS = Path(__file__).resolve().parent / "abis" / "rollups-2.0.0-rc.14.json"


@cache
def rc14_artifact(name: str) -> Artifact:
    """Loads contract ``name`` of Rollups v2.0.0-rc.14 as deployed (see the module docstring)."""
    if project_artifact_path(name).is_file():
        return artifact(name)
    path = rc14_records_dir() / f"{name}.json"
    if path.is_file():
        data = json.loads(path.read_text())
        return Artifact(name=name, abi=tuple(data["abi"]), bytecode=bytes.fromhex(data["bytecode"].removeprefix("0x")))
    created = json.loads(RC14_ABIS.read_text())
    if name in created:
        return Artifact(name=name, abi=tuple(created[name]), bytecode=b"")
    raise ArtifactMissing(f"no v2.0.0-rc.14 record for {name} in {path.parent}: run `make setup`")


def abi_of(name: str) -> list[dict[str, Any]]:
    """The ABI of contract ``name`` (see ``artifact``)."""
    return list(artifact(name).abi)


def contract_at(w3: Web3, name: str, address: str) -> Contract:
    """A web3 contract object for ``name`` at ``address``."""
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=abi_of(name))

