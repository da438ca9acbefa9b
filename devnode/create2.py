"""CREATE2 factories of a dev chain: where a contract lands, and deploying it there.

Two factories run the same code (salt ‖ init code in, CREATE2, the new address out):
``CREATE2_DEPLOYER`` (``0x4e59b448…``, pre-installed on anvil; Cartesi Rollups v2.2.0 uses it) and the
Safe singleton factory ``SAFE_SINGLETON_FACTORY`` (``0x914d7Fec…``; hardhat-deploy's deterministic
deployments of Rollups v1.4 and v2.0.0-rc.14 use it). anvil lacks the latter: ``ensure_safe_factory``
installs it with ``anvil_setCode`` from the former's code.

Public API:

- ``CREATE2_DEPLOYER``, ``SAFE_SINGLETON_FACTORY``, ``ZERO_SALT``; ``DeploymentError``.
- ``create2_address(factory, init_code, salt=ZERO_SALT) -> str``: where ``factory`` puts ``init_code`` (EIP-1014).
- ``ensure_safe_factory(w3)``: the Safe singleton factory is on the chain afterwards (``DeploymentError`` if not).
- ``create2(w3, account, factory, init_code, salt=ZERO_SALT) -> (address, receipt or None)``: deploys
  ``init_code`` through ``factory`` unless code is already at its address (then the receipt is None).
"""

from __future__ import annotations

from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak
from web3 import Web3
from web3.types import TxReceipt

from mlmarket.client.tx import send

CREATE2_DEPLOYER = "0x4e59b44847b379578588920cA78FbF26c0B4956C"
SAFE_SINGLETON_FACTORY = "0x914d7Fec6aaC8cd542e72Bca78B30650d45643d7"
ZERO_SALT = bytes(32)


class DeploymentError(RuntimeError):
    """A contract did not land where it must (wrong artifacts or chain)."""


def create2_address(factory: str, init_code: bytes, salt: bytes = ZERO_SALT) -> str:
    """The address ``factory`` gives ``init_code`` with ``salt`` (EIP-1014)."""
    digest = keccak(b"\xff" + bytes.fromhex(factory[2:]) + salt + keccak(init_code))
    return Web3.to_checksum_address(digest[12:])


def ensure_safe_factory(w3: Web3) -> None:
    """Installs the Safe singleton factory (``anvil_setCode`` with ``CREATE2_DEPLOYER``'s code) if absent."""
    if w3.eth.get_code(SAFE_SINGLETON_FACTORY):
        return
    code = w3.eth.get_code(CREATE2_DEPLOYER)
    if not code:
        raise DeploymentError(f"neither the Safe singleton factory nor {CREATE2_DEPLOYER} is on this chain")
    answer = w3.provider.make_request("anvil_setCode",  # type: ignore[arg-type]
                                      [SAFE_SINGLETON_FACTORY, "0x" + bytes(code).hex()])
    if "error" in answer or not w3.eth.get_code(SAFE_SINGLETON_FACTORY):
        raise DeploymentError(f"no Safe singleton factory at {SAFE_SINGLETON_FACTORY} and this chain refused "
                              f"anvil_setCode: {answer.get('error')}")


def create2(w3: Web3, account: LocalAccount, factory: str, init_code: bytes,
            salt: bytes = ZERO_SALT) -> tuple[str, TxReceipt | None]:
    """Deploys ``init_code`` through ``factory`` unless code is already at its address."""
    address = create2_address(factory, init_code, salt)
    if w3.eth.get_code(address):
        return address, None
    if not w3.eth.get_code(factory):
        raise DeploymentError(f"no CREATE2 factory at {factory} on this chain")
    receipt = send(w3, account, {"to": factory, "data": salt + init_code})
    if not w3.eth.get_code(address):
        raise DeploymentError(f"CREATE2 deployment to {address} left no code")
    return address, receipt
