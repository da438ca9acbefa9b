"""Deploys a Cartesi Rollups v2 release, the test token and one Application + Authority on a dev chain.

The release (``devnode.releases``: 2.2.0 by default, or 2.0.0-rc.14) says which factory, artifacts and
factory call to use; every contract must land at its address in the release's ``dapp.codec.releases`` table.

Public API:

- ``CREATE2_DEPLOYER``, ``ZERO_SALT`` (from ``devnode.create2``), ``DEV_TEMPLATE_HASH`` =
  keccak256("mlmarket devnode"), ``TOKEN_AMOUNT_EACH``, ``DeploymentError``.
- ``deploy_cartesi(w3, deployer, release=V2_2_0) -> (dict[str, str], int | None)``: the release's contracts
  at their deterministic addresses (skips those already deployed; ``DeploymentError`` if one lands off its
  table) and the InputBox's deployment block if this call deployed it.
- ``deploy(w3, deployer, *, epoch_length, owner=None, salt=ZERO_SALT, token_holders=None,
  token_amount=TOKEN_AMOUNT_EACH, release=V2_2_0, known_block=0, known_input_box_block=0) -> Deployment``:
  the above, then ``TestToken`` (through ``CREATE2_DEPLOYER``, so its address is the same for every
  release; holders default to the 10 dev accounts), then ``SelfHostedApplicationFactory.deployContracts``
  (owner = Authority owner = app owner, default the deployer). Idempotent: running it twice on the same
  chain returns the same Deployment. Deployment blocks come from the contracts' views when the release
  has them, else from this call's receipts, else ``known_block`` / ``known_input_box_block`` (the record).
- ``Deployment`` (frozen): ``chain_id``, ``rpc_url``, ``addresses`` (the release's contracts, ``Token``,
  ``Application``, ``Authority``), ``deployer``, ``authority_owner``, ``epoch_length``, ``template_hash``
  (0x hex), ``block_number`` (the Application's deployment block), ``input_box_block`` (the InputBox's
  deployment block: where input scans start), ``contracts`` (the release's name; None: the default, and
  v1 deployments); properties ``application``, ``authority``, ``input_box``, ``token``, ``erc20_portal``,
  ``ether_portal``, ``release``; ``to_json()``, ``from_json(text)``, ``to_dict()``, ``from_dict(d)``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import eth_abi
from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak
from web3 import Web3

from devnode.anvil import dev_accounts
from devnode.contracts import artifact
from devnode.create2 import (CREATE2_DEPLOYER, SAFE_SINGLETON_FACTORY, ZERO_SALT, DeploymentError, create2,
                             ensure_safe_factory)
from devnode import releases
from devnode.releases import V2_2_0, ContractsRelease
from mlmarket.client.tx import send

DEV_TEMPLATE_HASH = keccak(b"mlmarket devnode")
TOKEN_AMOUNT_EACH = 1_000_000 * 10**18
# Data availability of the application: DataAvailability.InputBox(address) (CARTESI-FACTS §7).
DATA_AVAILABILITY_INPUT_BOX = bytes.fromhex("b12c9ede")


@dataclass(frozen=True)
class Deployment:
    """Everything a node, CLI or wallet needs to talk to the deployed application."""

    chain_id: int
    rpc_url: str
    addresses: dict[str, str] = field(hash=False)
    deployer: str
    authority_owner: str
    epoch_length: int
    template_hash: str
    block_number: int
    input_box_block: int
    contracts: str | None = None

    @property
    def application(self) -> str:
        """The Application contract (where inputs go and vouchers execute)."""
        return self.addresses["Application"]

    @property
    def authority(self) -> str:
        """The Authority that accepts the claims."""
        return self.addresses["Authority"]

    @property
    def input_box(self) -> str:
        """The InputBox."""
        return self.addresses["InputBox"]

    @property
    def token(self) -> str:
        """The test ERC-20 token."""
        return self.addresses["Token"]

    @property
    def erc20_portal(self) -> str:
        """The ERC20Portal."""
        return self.addresses["ERC20Portal"]

    @property
    def ether_portal(self) -> str:
        """The EtherPortal."""
        return self.addresses["EtherPortal"]

    @property
    def release(self) -> ContractsRelease:
        """The Rollups v2 contracts release deployed (``devnode.releases``)."""
        return releases.release(self.contracts)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Deployment:
        """The inverse of ``to_dict``."""
        return cls(**{**data, "addresses": dict(data["addresses"])})

    def to_json(self) -> str:
        """Stable, human-readable JSON."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Deployment:
        """The inverse of ``to_json``."""
        return cls.from_dict(json.loads(text))


def deploy_cartesi(w3: Web3, deployer: LocalAccount,
                   release: ContractsRelease = V2_2_0) -> tuple[dict[str, str], int | None]:
    """Deploys (or finds) the release's contracts at their deterministic addresses (module docstring)."""
    if release.factory == SAFE_SINGLETON_FACTORY:
        ensure_safe_factory(w3)
    addresses: dict[str, str] = {}
    input_box_block = None
    for name in release.cartesi:
        addresses[name], receipt = create2(w3, deployer, release.factory, release.init_code(name, addresses))
        if name == "InputBox" and receipt is not None:
            input_box_block = int(receipt["blockNumber"])
    for name, expected in release.table.addresses.items():
        if addresses[name] != expected:
            raise DeploymentError(f"{name} landed at {addresses[name]}, the {release.name} release says {expected}: "
                                  "wrong artifacts?")
    return addresses, input_box_block


def deploy_token(w3: Web3, deployer: LocalAccount, holders: list[str], amount_each: int) -> str:
    """Deploys (or finds) ``TestToken(holders, amount_each)`` through CREATE2."""
    init_code = artifact("TestToken").bytecode + eth_abi.encode(["address[]", "uint256"], [holders, amount_each])
    return create2(w3, deployer, CREATE2_DEPLOYER, init_code)[0]


def deploy(w3: Web3, deployer: LocalAccount, *, epoch_length: int, owner: str | None = None,
           salt: bytes = ZERO_SALT, token_holders: list[str] | None = None,
           token_amount: int = TOKEN_AMOUNT_EACH, release: ContractsRelease = V2_2_0,
           known_block: int = 0, known_input_box_block: int = 0) -> Deployment:
    """Deploys everything the local node needs and returns where it is (idempotent)."""
    if epoch_length < 1:
        raise ValueError("epoch_length must be at least 1 block")
    addresses, input_box_block = deploy_cartesi(w3, deployer, release)
    holders = token_holders if token_holders is not None else [a.address for a in dev_accounts(10)]
    addresses["Token"] = deploy_token(w3, deployer, holders, token_amount)
    owner = Web3.to_checksum_address(owner or deployer.address)
    factory = release.contract_at(w3, "SelfHostedApplicationFactory", addresses["SelfHostedApplicationFactory"])
    data_availability = DATA_AVAILABILITY_INPUT_BOX + eth_abi.encode(["address"], [addresses["InputBox"]])
    args = (owner, epoch_length, owner, DEV_TEMPLATE_HASH,
            *((data_availability,) if release.data_availability else ()), salt)
    application, authority = factory.functions.calculateAddresses(*args).call()
    block = known_block
    if not w3.eth.get_code(application):
        block = int(send(w3, deployer, factory.functions.deployContracts(*args))["blockNumber"])
    addresses["Application"] = Web3.to_checksum_address(application)
    addresses["Authority"] = Web3.to_checksum_address(authority)
    input_box_block = known_input_box_block if input_box_block is None else input_box_block
    if release.deployment_block_views:
        app = release.contract_at(w3, "Application", application)
        block = app.functions.getDeploymentBlockNumber().call()
        box = release.contract_at(w3, "InputBox", addresses["InputBox"])
        input_box_block = box.functions.getDeploymentBlockNumber().call()
    return Deployment(
        chain_id=w3.eth.chain_id,
        rpc_url=_rpc_url(w3),
        addresses=addresses,
        deployer=deployer.address,
        authority_owner=owner,
        epoch_length=epoch_length,
        template_hash="0x" + DEV_TEMPLATE_HASH.hex(),
        block_number=block,
        input_box_block=input_box_block,
        contracts=release.name,
    )


def _rpc_url(w3: Web3) -> str:
    return str(getattr(w3.provider, "endpoint_uri", "") or "")
