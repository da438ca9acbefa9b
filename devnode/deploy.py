"""Deploys Cartesi Rollups v2.2.0, the test token and one Application + Authority on a dev chain.

Public API:

- ``CREATE2_DEPLOYER``, ``ZERO_SALT``, ``DEV_TEMPLATE_HASH`` = keccak256("mlmarket devnode"),
  ``TOKEN_AMOUNT_EACH``. The expected addresses are ``dapp.codec.releases.V2_2_0.addresses``.
- ``create2_address(init_code, salt=ZERO_SALT) -> str``: where the CREATE2 deployer puts ``init_code``.
- ``deploy_cartesi(w3, deployer) -> dict[str, str]``: the Cartesi contracts at their deterministic
  addresses (skips those already deployed; asserts each address equals the ``V2_2_0`` table).
- ``deploy(w3, deployer, *, epoch_length, owner=None, salt=ZERO_SALT, token_holders=None,
  token_amount=TOKEN_AMOUNT_EACH) -> Deployment``: the above, then ``TestToken`` (also through CREATE2,
  so its address is deterministic; holders default to the 10 dev accounts), then
  ``SelfHostedApplicationFactory.deployContracts`` (owner = Authority owner = app owner, default the
  deployer). Idempotent: running it twice on the same chain returns the same Deployment.
- ``Deployment`` (frozen): ``chain_id``, ``rpc_url``, ``addresses`` (InputBox, EtherPortal, ERC20Portal,
  ERC721Portal, ERC1155SinglePortal, ERC1155BatchPortal, AuthorityFactory, ApplicationFactory,
  SelfHostedApplicationFactory, Token, Application, Authority), ``deployer``, ``authority_owner``,
  ``epoch_length``, ``template_hash`` (0x hex), ``block_number`` (the Application's deployment block),
  ``input_box_block`` (the InputBox's deployment block: where input scans start); properties
  ``application``, ``authority``, ``input_box``, ``token``, ``erc20_portal``, ``ether_portal``;
  ``to_json()``, ``from_json(text)``, ``to_dict()``, ``from_dict(d)``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import eth_abi
from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak
from web3 import Web3

from dapp.codec.releases import V2_2_0
from devnode.anvil import dev_accounts
from devnode.contracts import artifact, contract_at
from mlmarket.client.tx import send

CREATE2_DEPLOYER = "0x4e59b44847b379578588920cA78FbF26c0B4956C"
ZERO_SALT = bytes(32)
DEV_TEMPLATE_HASH = keccak(b"mlmarket devnode")
TOKEN_AMOUNT_EACH = 1_000_000 * 10**18
# Data availability of the application: DataAvailability.InputBox(address) (CARTESI-FACTS §7).
DATA_AVAILABILITY_INPUT_BOX = bytes.fromhex("b12c9ede")

_PORTALS = ("EtherPortal", "ERC20Portal", "ERC721Portal", "ERC1155SinglePortal", "ERC1155BatchPortal")


class DeploymentError(RuntimeError):
    """A contract did not land where it must (wrong artifacts or chain)."""


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


def create2_address(init_code: bytes, salt: bytes = ZERO_SALT) -> str:
    """The address the CREATE2 deployer gives ``init_code`` with ``salt`` (EIP-1014)."""
    digest = keccak(b"\xff" + bytes.fromhex(CREATE2_DEPLOYER[2:]) + salt + keccak(init_code))
    return Web3.to_checksum_address(digest[12:])


def _init_code(name: str, types: list[str], args: list[Any]) -> bytes:
    return artifact(name).bytecode + (eth_abi.encode(types, args) if types else b"")


def _create2(w3: Web3, deployer: LocalAccount, init_code: bytes, salt: bytes = ZERO_SALT) -> str:
    """Deploys ``init_code`` through the CREATE2 deployer unless code is already there."""
    address = create2_address(init_code, salt)
    if not w3.eth.get_code(address):
        if not w3.eth.get_code(CREATE2_DEPLOYER):
            raise DeploymentError(f"no CREATE2 deployer at {CREATE2_DEPLOYER} on this chain")
        send(w3, deployer, {"to": CREATE2_DEPLOYER, "data": salt + init_code})
        if not w3.eth.get_code(address):
            raise DeploymentError(f"CREATE2 deployment to {address} left no code")
    return address


def deploy_cartesi(w3: Web3, deployer: LocalAccount) -> dict[str, str]:
    """Deploys (or finds) the Cartesi v2.2.0 contracts at their deterministic addresses."""
    addresses = {"InputBox": _create2(w3, deployer, _init_code("InputBox", [], []))}
    for portal in _PORTALS:
        addresses[portal] = _create2(w3, deployer, _init_code(portal, ["address"], [addresses["InputBox"]]))
    addresses["AuthorityFactory"] = _create2(w3, deployer, _init_code("AuthorityFactory", [], []))
    addresses["ApplicationFactory"] = _create2(w3, deployer, _init_code("ApplicationFactory", [], []))
    addresses["SelfHostedApplicationFactory"] = _create2(w3, deployer, _init_code(
        "SelfHostedApplicationFactory", ["address", "address"],
        [addresses["AuthorityFactory"], addresses["ApplicationFactory"]]))
    for name, expected in V2_2_0.addresses.items():
        if addresses[name] != expected:
            raise DeploymentError(f"{name} landed at {addresses[name]}, expected {expected}: wrong artifacts?")
    return addresses


def deploy_token(w3: Web3, deployer: LocalAccount, holders: list[str], amount_each: int) -> str:
    """Deploys (or finds) ``TestToken(holders, amount_each)`` through CREATE2."""
    return _create2(w3, deployer, _init_code("TestToken", ["address[]", "uint256"], [holders, amount_each]))


def deploy(w3: Web3, deployer: LocalAccount, *, epoch_length: int, owner: str | None = None,
           salt: bytes = ZERO_SALT, token_holders: list[str] | None = None,
           token_amount: int = TOKEN_AMOUNT_EACH) -> Deployment:
    """Deploys everything the local node needs and returns where it is (idempotent)."""
    if epoch_length < 1:
        raise ValueError("epoch_length must be at least 1 block")
    addresses = deploy_cartesi(w3, deployer)
    holders = token_holders if token_holders is not None else [a.address for a in dev_accounts(10)]
    addresses["Token"] = deploy_token(w3, deployer, holders, token_amount)
    owner = Web3.to_checksum_address(owner or deployer.address)
    factory = contract_at(w3, "SelfHostedApplicationFactory", addresses["SelfHostedApplicationFactory"])
    data_availability = DATA_AVAILABILITY_INPUT_BOX + eth_abi.encode(["address"], [addresses["InputBox"]])
    args = (owner, epoch_length, owner, DEV_TEMPLATE_HASH, data_availability, salt)
    application, authority = factory.functions.calculateAddresses(*args).call()
    if not w3.eth.get_code(application):
        send(w3, deployer, factory.functions.deployContracts(*args))
    addresses["Application"] = Web3.to_checksum_address(application)
    addresses["Authority"] = Web3.to_checksum_address(authority)
    app = contract_at(w3, "Application", application)
    input_box = contract_at(w3, "InputBox", addresses["InputBox"])
    return Deployment(
        chain_id=w3.eth.chain_id,
        rpc_url=_rpc_url(w3),
        addresses=addresses,
        deployer=deployer.address,
        authority_owner=owner,
        epoch_length=epoch_length,
        template_hash="0x" + DEV_TEMPLATE_HASH.hex(),
        block_number=app.functions.getDeploymentBlockNumber().call(),
        input_box_block=input_box.functions.getDeploymentBlockNumber().call(),
    )


def _rpc_url(w3: Web3) -> str:
    return str(getattr(w3.provider, "endpoint_uri", "") or "")
