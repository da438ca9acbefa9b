"""Portal addresses (configuration, never trusted from input) and portal payload layouts."""

from __future__ import annotations

from dataclasses import dataclass

from dapp.codec.metadata import V1, V2
from dapp.codec.releases import V1_4, V2_2_0
from dapp.domain.values import ETHER, Address
from dapp.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class Portals:
    """The contracts whose inputs credit deposits (and, on v1, relay the dApp's address)."""

    ether: Address
    erc20: Address
    app_address_relay: Address | None = None


DEFAULT_PORTALS = {
    V2: Portals(  # the release the local node deploys
        ether=Address.from_hex(V2_2_0.addresses["EtherPortal"]),
        erc20=Address.from_hex(V2_2_0.addresses["ERC20Portal"]),
    ),
    V1: Portals(
        ether=Address.from_hex(V1_4.addresses["EtherPortal"]),
        erc20=Address.from_hex(V1_4.addresses["ERC20Portal"]),
        app_address_relay=Address.from_hex(V1_4.addresses["DAppAddressRelay"]),
    ),
}


@dataclass(frozen=True, slots=True)
class PortalDeposit:
    """A decoded portal payload: who deposited how much of what, and the attached call."""

    token: Address
    sender: Address
    amount: int
    exec_layer_data: bytes


def _need(payload: bytes, size: int, what: str) -> None:
    if len(payload) < size:
        raise InvalidInput(
            f"{what} deposit payload is {len(payload)} bytes, at least {size} expected",
            code="bad_portal_payload",
        )


def parse_ether_deposit(payload: bytes) -> PortalDeposit:
    """v1 and v2 EtherPortal: sender(20) ‖ value(32) ‖ execLayerData."""
    _need(payload, 52, "Ether")
    return PortalDeposit(ETHER, Address(payload[:20]), int.from_bytes(payload[20:52], "big"), payload[52:])


def parse_erc20_deposit(payload: bytes, version: int) -> PortalDeposit:
    """v2: token(20) ‖ sender(20) ‖ value(32) ‖ data; v1 adds a leading success byte."""
    if version == V1:
        _need(payload, 73, "ERC-20")
        if payload[0] != 1:
            raise InvalidInput("v1 ERC-20 deposit reports a failed transfer", code="bad_portal_payload")
        payload = payload[1:]
    _need(payload, 72, "ERC-20")
    token = Address(payload[:20])
    if token == ETHER:
        raise InvalidInput("ERC-20 deposit of token address(0)", code="bad_portal_payload")
    return PortalDeposit(token, Address(payload[20:40]), int.from_bytes(payload[40:72], "big"), payload[72:])


def parse_app_address(payload: bytes) -> Address:
    """v1 DAppAddressRelay: the dApp's 20-byte address."""
    if len(payload) != 20:
        raise InvalidInput(f"relay payload is {len(payload)} bytes, 20 expected", code="bad_portal_payload")
    return Address(payload)
