"""The Cartesi Rollups v2 contract releases the local node can deploy, and how each differs.

One ``ContractsRelease`` per release holds everything the node does differently for it, so that the
deployment, the input watcher, the claims and the executions stay one code path:

- ``V2_2_0`` (the default): npm ``@cartesi/rollups@2.2.0``, through the CREATE2 deployer ``0x4e59b448…``;
  ``SelfHostedApplicationFactory.deployContracts`` takes a ``dataAvailability``; Application and InputBox
  tell their deployment block; the Authority emits ``ClaimAccepted(app, block, outputsMerkleRoot)`` and
  answers ``isOutputsMerkleRootValid(app, root)``.
- ``RC_14``: npm ``@cartesi/rollups@2.0.0-rc.14``, the addresses ``@cartesi/cli@2.0.0-alpha.2`` hard-wires,
  through the Safe singleton factory; the factory takes no ``dataAvailability`` (5 arguments); no
  ``getDeploymentBlockNumber`` (blocks come from the deployment receipts); the Authority emits
  ``ClaimAcceptance(app, block, claim)`` and answers ``wasClaimAccepted(app, claim)``; an invalid proof
  reverts ``ClaimNotAccepted(bytes32)``. Inputs, portals, outputs and proofs are the same as 2.2.0's.

Public API:

- ``ContractsRelease`` (frozen): ``name`` (the npm version), ``table`` (the ``dapp.codec.releases`` entry
  its addresses must equal), ``factory`` (the CREATE2 factory), ``cartesi`` (its contracts in deployment
  order), ``data_availability``, ``deployment_block_views``, ``claim_event``, ``claim_root``,
  ``root_valid_view``; ``artifact(name)``, ``contract_at(w3, name, address)``, ``init_code(name, addresses)``.
- ``V2_2_0``, ``RC_14``, ``RELEASES`` (name -> release), ``DEFAULT`` (``"2.2.0"``);
  ``release(name=None) -> ContractsRelease`` (``None``: the default; ``ValueError`` naming the choices).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import eth_abi
from web3 import Web3
from web3.contract import Contract

from dapp.codec import releases as tables
from devnode.contracts import Artifact, artifact, rc14_artifact
from devnode.create2 import CREATE2_DEPLOYER, SAFE_SINGLETON_FACTORY

_PORTALS = ("EtherPortal", "ERC20Portal", "ERC721Portal", "ERC1155SinglePortal", "ERC1155BatchPortal")
# Constructor arguments: the addresses of contracts deployed before (the same in both releases).
_CONSTRUCTOR_ARGS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    **{portal: ("InputBox",) for portal in _PORTALS},
    "SelfHostedApplicationFactory": ("AuthorityFactory", "ApplicationFactory"),
})


@dataclass(frozen=True)
class ContractsRelease:
    """One deployable Rollups v2 release (see the module docstring)."""

    name: str
    table: tables.Release
    factory: str
    cartesi: tuple[str, ...]
    load: Callable[[str], Artifact]
    data_availability: bool
    deployment_block_views: bool
    claim_event: str
    claim_root: str
    root_valid_view: str

    def artifact(self, name: str) -> Artifact:
        """Contract ``name`` (ABI and creation code) as this release deploys it."""
        return self.load(name)

    def contract_at(self, w3: Web3, name: str, address: str) -> Contract:
        """A web3 contract of this release's ``name`` at ``address`` (its full ABI: custom errors named)."""
        return w3.eth.contract(address=Web3.to_checksum_address(address), abi=list(self.load(name).abi))

    def init_code(self, name: str, addresses: Mapping[str, str]) -> bytes:
        """Creation code of ``name`` followed by its constructor arguments (earlier contracts' addresses)."""
        found = self.load(name)
        constructor = next((e for e in found.abi if e["type"] == "constructor"), None)
        types = [i["type"] for i in constructor["inputs"]] if constructor else []
        args: list[Any] = [addresses[n] for n in _CONSTRUCTOR_ARGS.get(name, ())]
        if len(types) != len(args):
            raise ValueError(f"{self.name} {name}: constructor takes {types}, the release table gives {args}")
        return found.bytecode + (eth_abi.encode(types, args) if types else b"")


V2_2_0 = ContractsRelease(
    name="2.2.0", table=tables.V2_2_0, factory=CREATE2_DEPLOYER,
    cartesi=("InputBox", *_PORTALS, "AuthorityFactory", "ApplicationFactory", "SelfHostedApplicationFactory"),
    load=artifact, data_availability=True, deployment_block_views=True,
    claim_event="ClaimAccepted", claim_root="outputsMerkleRoot", root_valid_view="isOutputsMerkleRootValid")
RC_14 = ContractsRelease(
    name="2.0.0-rc.14", table=tables.RC_14, factory=SAFE_SINGLETON_FACTORY,
    cartesi=("InputBox", *_PORTALS, "AuthorityFactory", "ApplicationFactory", "QuorumFactory",
             "SafeERC20Transfer", "SelfHostedApplicationFactory"),
    load=rc14_artifact, data_availability=False, deployment_block_views=False,
    claim_event="ClaimAcceptance", claim_root="claim", root_valid_view="wasClaimAccepted")

RELEASES: Mapping[str, ContractsRelease] = MappingProxyType({r.name: r for r in (V2_2_0, RC_14)})
DEFAULT = V2_2_0.name


def release(name: str | None = None) -> ContractsRelease:
    """The release called ``name`` (``None``: ``DEFAULT``)."""
    try:
        return RELEASES[name or DEFAULT]
    except KeyError:
        raise ValueError(f"unknown contracts release {name!r}: choose one of {', '.join(RELEASES)}") from None
