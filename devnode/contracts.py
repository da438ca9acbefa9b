"""Contract artifacts (ABI + creation bytecode) for the local node.

Public API:

- ``Artifact(name, abi, bytecode)``: frozen; ``bytecode`` is the creation code as bytes.
- ``artifact(name) -> Artifact``: ours from ``contracts/build/<Name>.json`` (``make setup`` compiles
  them), else Cartesi Rollups v2.2.0 from ``node_modules/@cartesi/rollups/out/<C>.sol/<C>.json``.
- ``abi_of(name) -> list[dict]``: the ABI of either kind.
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


def abi_of(name: str) -> list[dict[str, Any]]:
    """The ABI of contract ``name`` (see ``artifact``)."""
    return list(artifact(name).abi)


def contract_at(w3: Web3, name: str, address: str) -> Contract:
    """A web3 contract object for ``name`` at ``address``."""
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=abi_of(name))

