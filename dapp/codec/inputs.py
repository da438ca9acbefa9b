"""Advance payloads -> typed inputs: portal deposits, the v1 address relay, or protocol calls."""

from __future__ import annotations

from typing import Any

from dapp.codec import abi
from dapp.codec.metadata import InputMeta
from dapp.codec.portals import Portals, parse_app_address, parse_erc20_deposit, parse_ether_deposit
from dapp.domain.commands import CALLS, Command, Deposit, Input, JobSpec, RelayAppAddress
from dapp.domain.values import Address
from dapp.errors import InvalidInput


def _convert(abi_type: str, value: Any) -> Any:
    if abi_type == "address":
        return Address.from_hex(value)
    if abi_type.startswith("("):
        return JobSpec(*value)
    return value


def decode_call(payload: bytes) -> Command:
    """Decodes ``selector ‖ abi.encode(args)`` into its command. Raises ``InvalidInput``."""
    try:
        function, args = abi.inputs().decode(payload)
    except InvalidInput as exc:
        if exc.code == "unknown_selector":
            raise InvalidInput(
                f"{exc.message}: not a protocol call (deposits are credited only from the configured portals)",
                code=exc.code,
            ) from exc
        raise
    values = [_convert(t, v) for t, v in zip(function.arg_types, args, strict=True)]
    return CALLS[function.name](*values)


def decode_input(meta: InputMeta, payload: bytes, portals: Portals) -> Input:
    """Decodes one advance input. Deposits are recognised only by ``msg_sender`` being a portal."""
    if meta.msg_sender == portals.ether:
        deposit = parse_ether_deposit(payload)
    elif meta.msg_sender == portals.erc20:
        deposit = parse_erc20_deposit(payload, meta.version)
    elif portals.app_address_relay is not None and meta.msg_sender == portals.app_address_relay:
        return RelayAppAddress(parse_app_address(payload))
    else:
        return decode_call(payload)
    if not deposit.exec_layer_data:
        return Deposit(deposit.token, deposit.sender, deposit.amount)
    try:
        then = decode_call(deposit.exec_layer_data)
    except InvalidInput as exc:
        return Deposit(deposit.token, deposit.sender, deposit.amount, then_error=exc.message)
    return Deposit(deposit.token, deposit.sender, deposit.amount, then=then)
