"""Advance-request metadata of Rollups v1 and v2, normalised into ``InputMeta``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dapp.codec.hexbytes import from_hex
from dapp.domain.values import Address
from dapp.errors import InvalidInput

V1 = 1
V2 = 2


@dataclass(frozen=True, slots=True)
class InputMeta:
    """What the node tells about an input. ``app_contract``/``chain_id`` exist only on v2."""

    version: int
    msg_sender: Address
    block_number: int
    timestamp: int
    input_index: int
    chain_id: int | None = None
    app_contract: Address | None = None


def detect_version(metadata: dict[str, Any]) -> int:
    """v2 metadata has ``app_contract``; v1 has ``epoch_index``/``timestamp``."""
    if "app_contract" in metadata or "block_timestamp" in metadata:
        return V2
    if "epoch_index" in metadata or "timestamp" in metadata:
        return V1
    raise InvalidInput("metadata is neither Rollups v1 nor v2", code="bad_metadata")


def _int(metadata: dict[str, Any], key: str) -> int:
    value = metadata.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"metadata.{key} is not a non-negative integer: {value!r}", code="bad_metadata")
    return value


def _address(metadata: dict[str, Any], key: str) -> Address:
    raw = from_hex(metadata.get(key), f"metadata.{key}")
    if len(raw) != 20:
        raise InvalidInput(f"metadata.{key} is not a 20-byte address", code="bad_metadata")
    return Address(raw)


def parse_metadata(metadata: Any, version: int | None = None) -> InputMeta:
    """Normalises v1/v2 metadata (``version`` None = detect). Raises ``InvalidInput``."""
    if not isinstance(metadata, dict):
        raise InvalidInput("metadata is not an object", code="bad_metadata")
    version = version or detect_version(metadata)
    if version == V2:
        return InputMeta(
            version=V2,
            msg_sender=_address(metadata, "msg_sender"),
            block_number=_int(metadata, "block_number"),
            timestamp=_int(metadata, "block_timestamp"),
            input_index=_int(metadata, "input_index"),
            chain_id=_int(metadata, "chain_id"),
            app_contract=_address(metadata, "app_contract"),
        )
    return InputMeta(
        version=V1,
        msg_sender=_address(metadata, "msg_sender"),
        block_number=_int(metadata, "block_number"),
        timestamp=_int(metadata, "timestamp"),
        input_index=_int(metadata, "input_index"),
    )
