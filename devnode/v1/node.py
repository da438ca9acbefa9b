"""The v1 pieces the node plugs in with ``NodeConfig(rollups=1)`` (``python -m devnode up --rollups v1``).

- ``parts(w3, store, epoch_length, owner) -> Parts``: the deployment (deployed idempotently and checked
  against ``deployment.json``, as ``devnode.onchain.ensure_deployment`` does for v2), the input watcher,
  the epoch closer and the backend's environment.
- ``reader_routes(view, store) -> Routes``: the v1 reader (``devnode.graphql_v1``: GraphQL at ``/graphql``,
  v1 inspect) with proofs from ``devnode.v1.proofs.output_proof`` over the store's inputs and claims.
- ``backend_env(deployment) -> dict``: ``MLMARKET_ROLLUPS_VERSION=1`` and the v1 EtherPortal, ERC20Portal
  and DAppAddressRelay (``dapp/config.py``). The dApp's own address is not given: as on a real v1 node the
  backend learns it from ``DAppAddressRelay.relayDAppAddress(dapp)`` (``cartesi send dapp-address``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3

from devnode.deploy import Deployment
from devnode.graphql_v1 import Routes, routes
from devnode.onchain import deploy_as_recorded
from devnode.rpc import NodeView
from devnode.store import DEPLOYMENT, Store
from devnode.v1.deploy import deploy_v1
from devnode.v1.epochs import EpochCloser
from devnode.v1.inputs import InputWatcher
from devnode.v1.proofs import output_proof


@dataclass(frozen=True)
class Parts:
    """What the node runs in v1 mode."""

    deployment: Deployment
    watcher: InputWatcher
    closer: EpochCloser
    backend_env: dict[str, str]


def backend_env(deployment: Deployment) -> dict[str, str]:
    """The backend's configuration for a v1 node (see the module docstring)."""
    return {"MLMARKET_ROLLUPS_VERSION": "1", "MLMARKET_ETHER_PORTAL": deployment.ether_portal,
            "MLMARKET_ERC20_PORTAL": deployment.erc20_portal,
            "MLMARKET_APP_ADDRESS_RELAY": deployment.addresses["DAppAddressRelay"]}


def ensure_deployment(w3: Web3, store: Store, epoch_length: int, owner: LocalAccount) -> Deployment:
    """The v1 deployment on ``w3``: deployed if needed, checked against and saved to ``deployment.json``."""
    return deploy_as_recorded(store, store.load_json(DEPLOYMENT), epoch_length,
                              lambda **where: deploy_v1(w3, owner, **where))


def parts(w3: Web3, store: Store, epoch_length: int, owner: LocalAccount) -> Parts:
    """The v1 deployment, watcher, closer and backend environment."""
    deployment = ensure_deployment(w3, store, epoch_length, owner)
    return Parts(deployment, InputWatcher(w3, deployment), EpochCloser(w3, deployment, owner, store),
                 backend_env(deployment))


def reader_routes(view: NodeView, store: Store) -> Routes:
    """The v1 GraphQL reader and inspect of ``view``, proofs over a consistent snapshot of ``store``."""

    def proof(kind: str, input_index: int, output_index: int) -> dict[str, Any] | None:
        with store.lock:
            inputs, claims = list(store.inputs), list(store.claims)
        return output_proof(kind, input_index, output_index, inputs=inputs, claims=claims)

    return routes(view, proof)
