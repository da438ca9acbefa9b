"""Deploys Cartesi Rollups v1.4 at its canonical addresses, the test token and one CartesiDApp.

The canonical v1 addresses (InputBox 0x59b22D57…, EtherPortal 0xFfdbe43d…, ERC20Portal 0x9C21AEb2…, …)
are CREATE2 addresses of the Safe singleton factory ``0x914d7Fec6aaC8cd542e72Bca78B30650d45643d7`` with a
zero salt (hardhat-deploy's ``deterministicDeployment``), not of the ``0x4e59b448…`` deployer anvil
pre-installs. Both factories run the same code (salt ‖ init code in, CREATE2, address out), so on a dev
chain without the Safe factory the node installs it with ``anvil_setCode`` from ``0x4e59b448…``'s code
(``devnode.create2``, shared with the v2.0.0-rc.14 deployment).

Public API:

- ``deploy_cartesi_v1(w3, deployer) -> (dict[str, str], int | None)``: every contract of
  ``contracts.CANONICAL`` at its recorded address, checked against ``dapp.codec.releases.V1_4`` (skips those
  already there; ``DeploymentError`` if one lands elsewhere), and the InputBox's block if it deployed it.
- ``deploy_v1(w3, deployer, *, epoch_length, owner=None, salt=ZERO_SALT) -> Deployment``: the above, the
  test token (as the v2 path deploys it, same address), then
  ``SelfHostedApplicationFactory.deployContracts(owner, owner, DEV_TEMPLATE_HASH, salt)``: a CartesiDApp
  whose consensus is an Authority owned by ``owner`` (default the deployer), with its History. Idempotent.
  ``Deployment.addresses`` holds the canonical contracts plus ``Token``, ``Application`` (the CartesiDApp),
  ``Authority`` and ``History``; ``block_number`` is the dApp's deployment block when this call deployed
  it (else ``known_block``), ``input_box_block`` the InputBox's likewise (else 0).
"""

from __future__ import annotations

from eth_account.signers.local import LocalAccount
from web3 import Web3

from dapp.codec.releases import V1_4
from devnode.anvil import dev_accounts
from devnode.create2 import (SAFE_SINGLETON_FACTORY, ZERO_SALT, DeploymentError, create2_address,
                             ensure_safe_factory)
from devnode.deploy import DEV_TEMPLATE_HASH, TOKEN_AMOUNT_EACH, Deployment, deploy_token
from devnode.v1.contracts import CANONICAL, contract_at, record
from mlmarket.client.tx import send

def deploy_cartesi_v1(w3: Web3, deployer: LocalAccount) -> tuple[dict[str, str], int | None]:
    """The canonical v1 contracts (name -> address) and the block the InputBox was deployed in by this
    call (``None`` if it was already there)."""
    ensure_safe_factory(w3)
    addresses: dict[str, str] = {}
    input_box_block = None
    for name in CANONICAL:
        entry = record(name)
        address = create2_address(SAFE_SINGLETON_FACTORY, entry.init_code)
        if address != entry.address:
            raise DeploymentError(f"{name} would land at {address}, its record says {entry.address}")
        if not w3.eth.get_code(address):
            receipt = send(w3, deployer, {"to": SAFE_SINGLETON_FACTORY, "data": ZERO_SALT + entry.init_code})
            if not w3.eth.get_code(address):
                raise DeploymentError(f"CREATE2 deployment of {name} to {address} left no code")
            if name == "InputBox":
                input_box_block = int(receipt["blockNumber"])
        addresses[name] = address
    for name, expected in V1_4.addresses.items():
        if addresses[name] != expected:
            raise DeploymentError(f"{name} landed at {addresses[name]}, the v1.4 release says {expected}")
    return addresses, input_box_block


def deploy_v1(w3: Web3, deployer: LocalAccount, *, epoch_length: int, owner: str | None = None,
              salt: bytes = ZERO_SALT, known_block: int = 0, known_input_box_block: int = 0) -> Deployment:
    """Deploys everything the v1 local node needs and returns where it is (see the module docstring)."""
    if epoch_length < 1:
        raise ValueError("epoch_length must be at least 1 block")
    addresses, input_box_block = deploy_cartesi_v1(w3, deployer)
    addresses["Token"] = deploy_token(w3, deployer, [a.address for a in dev_accounts(10)], TOKEN_AMOUNT_EACH)
    owner = Web3.to_checksum_address(owner or deployer.address)
    factory = contract_at(w3, "SelfHostedApplicationFactory", addresses["SelfHostedApplicationFactory"])
    args = (owner, owner, DEV_TEMPLATE_HASH, salt)
    dapp, authority, history = factory.functions.calculateAddresses(*args).call()
    block = known_block
    if not w3.eth.get_code(dapp):
        block = int(send(w3, deployer, factory.functions.deployContracts(*args))["blockNumber"])
    addresses.update(Application=Web3.to_checksum_address(dapp),
                     Authority=Web3.to_checksum_address(authority), History=Web3.to_checksum_address(history))
    rpc_url = str(getattr(w3.provider, "endpoint_uri", "") or "")
    return Deployment(chain_id=w3.eth.chain_id, rpc_url=rpc_url, addresses=addresses,
                      deployer=deployer.address, authority_owner=owner, epoch_length=epoch_length,
                      template_hash="0x" + DEV_TEMPLATE_HASH.hex(), block_number=block,
                      input_box_block=known_input_box_block if input_box_block is None else input_box_block)
