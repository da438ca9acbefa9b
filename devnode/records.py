"""The reader API's records, shaped like the rollups-node v2 JSON-RPC answers (CARTESI-FACTS §8).

Numbers are hex strings (``"0x1a"``), bytes are ``0x`` hex, addresses checksummed in decoded data. Pure
functions over the node's records; the only devnode additions are marked as such in their docstrings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import eth_abi
from eth_hash.auto import keccak
from eth_utils import to_checksum_address

from devnode.outputs import decode_output
from devnode.store import ClaimRecord, InputRecord

_EVM_ADVANCE_TYPES = ["uint256", "address", "address", "uint256", "uint256", "uint256", "uint256", "bytes"]
NONE = "NONE"  # the status of an input seen on chain but not processed yet


@dataclass(frozen=True)
class Application:
    """What the node knows of the one application it runs."""

    name: str
    address: str
    authority: str
    input_box: str
    epoch_length: int
    template_hash: str
    data_availability: bytes
    input_box_block: int
    created_at: str

    def matches(self, name_or_address: str) -> bool:
        """Whether a request's ``application`` parameter names this application."""
        return name_or_address == self.name or name_or_address.lower() == self.address.lower()


def hexint(value: int) -> str:
    """``0x``-hex of a non-negative integer, as the node writes indices and counts."""
    return hex(value)


ZERO_ADDRESS, ZERO_HASH = "0x" + "00" * 20, "0x" + "00" * 32
_SECOND_NS = 1_000_000_000
# The Go node's default execution parameters (its database defaults): cycles, then deadlines in ns.
_EXECUTION_DEFAULTS = {
    "advance_inc_cycles": 1 << 22, "advance_max_cycles": (1 << 62) - 1,
    "inspect_inc_cycles": 1 << 22, "inspect_max_cycles": (1 << 62) - 1,
    "advance_inc_deadline": 10 * _SECOND_NS, "advance_max_deadline": 180 * _SECOND_NS,
    "inspect_inc_deadline": 10 * _SECOND_NS, "inspect_max_deadline": 180 * _SECOND_NS,
    "load_deadline": 300 * _SECOND_NS, "store_deadline": 180 * _SECOND_NS, "fast_deadline": 5 * _SECOND_NS,
}


def application(app: Application, processed_inputs: int, last_block: int, updated_at: str) -> dict[str, Any]:
    """The ``cartesi_getApplication`` record: an enabled Authority application with no claim staging,
    no withdrawal configuration (all zero) and no foreclosure (zero blocks and hashes), addresses in
    lowercase, the Go node's default ``execution_parameters``. Both the older ``state`` and the newer
    ``enabled``/``status`` pair are served, for clients of either node release."""
    execution = {"snapshot_policy": "NONE", **{k: hexint(v) for k, v in _EXECUTION_DEFAULTS.items()},
                 "max_concurrent_inspects": 10, "created_at": app.created_at, "updated_at": app.created_at}
    return {
        "name": app.name, "iapplication_address": app.address.lower(),
        "iconsensus_address": app.authority.lower(), "iinputbox_address": app.input_box.lower(),
        "template_hash": app.template_hash.lower(), "epoch_length": hexint(app.epoch_length),
        "claim_staging_period": hexint(0),
        "withdrawal_config": {"guardian": ZERO_ADDRESS, "log2_leaves_per_account": hexint(0),
                              "log2_max_num_of_accounts": hexint(0), "accounts_drive_start_index": hexint(0),
                              "withdrawal_output_builder": ZERO_ADDRESS},
        "data_availability": "0x" + app.data_availability.hex(), "consensus_type": "AUTHORITY",
        "state": "ENABLED", "enabled": True, "status": "OK", "reason": None,
        "iinputbox_block": hexint(app.input_box_block), "last_epoch_check_block": hexint(last_block),
        "last_input_check_block": hexint(last_block), "last_output_check_block": hexint(last_block),
        "last_tournament_check_block": hexint(0), "last_foreclose_check_block": hexint(last_block),
        "last_accounts_drive_proved_check_block": hexint(0), "last_withdrawal_check_block": hexint(0),
        "processed_inputs": hexint(processed_inputs), "foreclose_block": hexint(0),
        "foreclose_transaction": ZERO_HASH, "accounts_drive_proved_block": hexint(0),
        "accounts_drive_proved_transaction": ZERO_HASH, "accounts_drive_merkle_root": ZERO_HASH,
        "created_at": app.created_at, "updated_at": updated_at, "execution_parameters": execution,
    }


def decoded_input(raw_data: bytes) -> dict[str, Any] | None:
    """The ``decoded_data`` of an input: its ``EvmAdvance`` arguments, ``None`` if undecodable."""
    try:
        chain_id, app, sender, block, timestamp, randao, index, payload = eth_abi.decode(
            _EVM_ADVANCE_TYPES, raw_data[4:])
    except Exception:  # noqa: BLE001 -- eth_abi raises several types on malformed data
        return None
    return {"chain_id": hexint(chain_id), "application_contract": to_checksum_address(app),
            "sender": to_checksum_address(sender), "block_number": hexint(block),
            "block_timestamp": hexint(timestamp), "prev_randao": hexint(randao), "index": hexint(index),
            "payload": "0x" + bytes(payload).hex()}


def input_record(record: InputRecord) -> dict[str, Any]:
    """A ``cartesi_getInput`` record (``status`` NONE while unprocessed). ``transaction_reference`` is
    the ``addInput`` transaction hash here; ``outputs_hash`` is the outputs Merkle root the real machine
    sent with its accept (null when the backend runs as a host process)."""
    created = record.processed_at
    return {
        "epoch_index": hexint(record.epoch_index), "index": hexint(record.index),
        "block_number": hexint(record.block_number), "raw_data": "0x" + record.raw_data.hex(),
        "status": record.status, "machine_hash": None,
        "outputs_hash": None if record.outputs_root is None else "0x" + record.outputs_root.hex(),
        "transaction_reference": record.tx_hash, "created_at": created, "updated_at": created,
        "decoded_data": decoded_input(record.raw_data),
    }


def output_record(index: int, raw: bytes, record: InputRecord, siblings: Sequence[bytes] | None,
                  execution_tx: str | None) -> dict[str, Any]:
    """A ``cartesi_getOutput`` record. ``output_hashes_siblings`` is null until an accepted claim covers
    the output; the devnode-only field ``claimed`` says whether one does."""
    return {
        "epoch_index": hexint(record.epoch_index), "input_index": hexint(record.index), "index": hexint(index),
        "raw_data": "0x" + raw.hex(), "decoded_data": decode_output(raw), "hash": "0x" + keccak(raw).hex(),
        "output_hashes_siblings": None if siblings is None else ["0x" + s.hex() for s in siblings],
        "execution_transaction_hash": execution_tx, "created_at": record.processed_at,
        "updated_at": record.processed_at, "claimed": siblings is not None,
    }


def report_record(index: int, raw: bytes, record: InputRecord) -> dict[str, Any]:
    """A ``cartesi_getReport`` record."""
    return {"epoch_index": hexint(record.epoch_index), "input_index": hexint(record.index),
            "index": hexint(index), "raw_data": "0x" + raw.hex(), "created_at": record.processed_at,
            "updated_at": record.processed_at}


def epoch_records(inputs: Sequence[InputRecord], claims: Mapping[int, ClaimRecord], epoch_length: int,
                  scanned_block: int) -> list[dict[str, Any]]:
    """The ``cartesi_listEpochs`` records of every epoch holding an input, oldest first. Status:
    CLAIM_ACCEPTED (the Authority accepts at once), INPUTS_PROCESSED, CLOSED or OPEN. The claimed root
    is served as ``outputs_merkle_root`` (the spec's and clients' name) and as ``claim_hash`` (the name
    the Go node's code writes); the proofs, unknown here, are null."""
    by_epoch: dict[int, list[InputRecord]] = {}
    for record in inputs:
        by_epoch.setdefault(record.epoch_index, []).append(record)
    result = []
    for epoch, members in sorted(by_epoch.items()):
        last_block = (epoch + 1) * epoch_length - 1
        claim = claims.get(epoch)
        if claim is not None:
            status = "CLAIM_ACCEPTED"
        elif last_block > scanned_block:
            status = "OPEN"
        elif all(m.status != NONE for m in members):
            status = "INPUTS_PROCESSED"
        else:
            status = "CLOSED"
        created = members[0].processed_at
        root = None if claim is None else "0x" + claim.root.hex()
        result.append({
            "index": hexint(epoch), "first_block": hexint(epoch * epoch_length), "last_block": hexint(last_block),
            "input_index_lower_bound": hexint(members[0].index),
            "input_index_upper_bound": hexint(members[-1].index + 1), "machine_hash": None,
            "claim_hash": root, "outputs_merkle_root": root, "outputs_merkle_proof": None,
            "commitment": None, "commitment_proof": None,
            "claim_transaction_hash": None if claim is None else claim.tx_hash,
            "tournament_address": None, "status": status, "staged_at_block": None,
            "virtual_index": hexint(epoch),
            "created_at": created, "updated_at": claim.claimed_at if claim else created,
        })
    return result
