"""What the node finds on chain when it starts: its deployment and the inputs it already processed.

- ``ensure_deployment(w3, store, epoch_length, deployer, release=V2_2_0) -> Deployment``: deploys
  ``release`` (``devnode.releases``; idempotently) with the recorded epoch length if there is one, checks
  the release and the addresses against ``deployment.json`` (``ChainMismatch``: use --fresh) and records it.
- ``deploy_as_recorded(store, recorded, epoch_length, deploy_with) -> Deployment``: the part of that
  shared with the v1 node (``devnode.v1.node``): deploy with the recorded epoch length and blocks, check
  the addresses, record.
- ``unprocessed_inputs(store, on_chain) -> list[ChainInput]``: checks every recorded input against the
  chain's (same bytes, none missing) and returns the chain's inputs that come after them.
- ``application_of(deployment, name) -> Application``: the reader API's view of the application.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import eth_abi
from eth_account.signers.local import LocalAccount
from web3 import Web3

from devnode.chain import ChainInput
from devnode.deploy import DATA_AVAILABILITY_INPUT_BOX, Deployment, deploy
from devnode.releases import DEFAULT, V2_2_0, ContractsRelease
from devnode.records import Application
from devnode.store import DEPLOYMENT, Store, now

log = logging.getLogger(__name__)


class ChainMismatch(RuntimeError):
    """The chain does not hold what the node's records say it processed."""


def ensure_deployment(w3: Web3, store: Store, epoch_length: int, deployer: LocalAccount,
                      release: ContractsRelease = V2_2_0) -> Deployment:
    """The application's deployment on ``w3`` (see the module docstring)."""
    recorded = store.load_json(DEPLOYMENT)
    if recorded and (recorded.get("contracts") or DEFAULT) != release.name:
        raise ChainMismatch(f"{store.path(DEPLOYMENT)} records the contracts release "
                            f"{recorded.get('contracts') or DEFAULT}, not {release.name}: use --fresh")
    return deploy_as_recorded(store, recorded, epoch_length,
                              lambda **where: deploy(w3, deployer, release=release, **where))


def deploy_as_recorded(store: Store, recorded: dict[str, Any] | None, epoch_length: int,
                       deploy_with: Callable[..., Deployment]) -> Deployment:
    """``deploy_with(epoch_length=, known_block=, known_input_box_block=)`` with the epoch length and blocks
    of ``recorded`` (the store's ``deployment.json``, None if there is none) if there are some; checks the
    addresses against it (``ChainMismatch``: use --fresh) and records the deployment."""
    if recorded and recorded["epoch_length"] != epoch_length:
        log.warning("keeping the recorded epoch length %d (asked %d): use --fresh to change it",
                    recorded["epoch_length"], epoch_length)
        epoch_length = recorded["epoch_length"]
    deployment = deploy_with(epoch_length=epoch_length,
                             known_block=recorded["block_number"] if recorded else 0,
                             known_input_box_block=recorded["input_box_block"] if recorded else 0)
    if recorded and recorded["addresses"] != deployment.addresses:
        raise ChainMismatch(f"the chain's contracts differ from {store.path(DEPLOYMENT)}: use --fresh")
    store.save_json(DEPLOYMENT, deployment.to_dict())
    return deployment


def unprocessed_inputs(store: Store, on_chain: list[ChainInput]) -> list[ChainInput]:
    """The chain's inputs not processed yet, after checking the recorded ones against the chain."""
    recorded = store.inputs
    if len(on_chain) < len(recorded):
        raise ChainMismatch(f"the chain holds {len(on_chain)} inputs but {len(recorded)} were processed: its "
                            f"state is older than the node's records; start again with --fresh")
    for record, seen in zip(recorded, on_chain, strict=False):
        if record.raw_data != seen.raw:
            raise ChainMismatch(f"input {record.index} on chain differs from the recorded one: use --fresh")
    return on_chain[len(recorded):]


def application_of(deployment: Deployment, name: str) -> Application:
    """The reader API's record of the deployed application."""
    data_availability = DATA_AVAILABILITY_INPUT_BOX + eth_abi.encode(["address"], [deployment.input_box])
    return Application(name, deployment.application, deployment.authority, deployment.input_box,
                       deployment.epoch_length, deployment.template_hash, data_availability,
                       deployment.input_box_block, now())
