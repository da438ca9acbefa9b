"""A stand-in for the local node in v1 mode: recorded inputs with v1 metadata, a fake proof callable,
and a reader server mounting ``devnode.graphql_v1`` (for the v1 GraphQL server and client tests)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from devnode import graphql_v1
from devnode.outputs import encode_notice, encode_voucher
from devnode.reader import ReaderServer
from devnode.records import NONE
from devnode.server import ACCEPTED, REJECTED, Finished
from devnode.store import InputRecord, Store

SENDER = "0x" + "cd" * 20
TOKEN = "0x" + "12" * 20
EPOCH_LENGTH = 10


def v1_record(index: int, block: int, status: str, outputs: tuple[bytes, ...] = (),
              reports: tuple[bytes, ...] = (), payload: bytes | None = None) -> InputRecord:
    """An input recorded with the metadata a v1 backend receives."""
    payload = b"in%d" % index if payload is None else payload
    epoch = block // EPOCH_LENGTH
    metadata = {"msg_sender": SENDER, "epoch_index": epoch, "input_index": index, "block_number": block,
                "timestamp": 1_700_000_000 + block}
    return InputRecord(index=index, epoch_index=epoch, block_number=block, raw_data=b"raw%d" % index,
                       metadata=metadata, payload=payload, tx_hash=None, status=status, outputs=outputs,
                       reports=reports, first_output_index=0, first_report_index=0)


class FakeProofs:
    """``output_proof`` stand-in: a proof for every output of a claimed input (``claimed_inputs``),
    recording the calls it gets."""

    def __init__(self, claimed_inputs: set[int]) -> None:
        self.claimed_inputs = claimed_inputs
        self.calls: list[tuple[str, int, int]] = []

    def __call__(self, kind: str, input_index: int, index: int) -> dict[str, Any] | None:
        self.calls.append((kind, input_index, index))
        if input_index not in self.claimed_inputs:
            return None
        word = "0x" + f"{input_index:02x}{index:02x}".ljust(64, "0")
        return {"validity": {"inputIndexWithinEpoch": input_index % 3, "outputIndexWithinInput": index,
                             "outputHashesRootHash": word, "vouchersEpochRootHash": word,
                             "noticesEpochRootHash": word, "machineStateHash": word,
                             "outputHashInOutputHashesSiblings": [word] * 2,
                             "outputHashesInEpochSiblings": [word] * 3},
                "context": "0x" + input_index.to_bytes(32, "big").hex()}


class V1View:
    """Four processed inputs (0: a notice, a voucher, a second notice, a report; 1: rejected with a
    report; 2: two vouchers; 3: nothing) and one seen but not processed; input 0 claimed."""

    chain_id = 31337

    def __init__(self, store: Store) -> None:
        self.store = store
        self.app = None
        first = (encode_notice(b"n0"), encode_voucher(bytes.fromhex("12" * 20), 0, b"pay0"),
                 encode_notice(b"n1"))
        store.append_input(v1_record(0, 12, ACCEPTED, first, (b'{"ok": true}',)))
        refused = b'{"ok": false, "error": {"code": "bad", "message": "no"}}'
        store.append_input(v1_record(1, 15, REJECTED, (), (refused,)))
        store.append_input(v1_record(2, 23, ACCEPTED, (encode_voucher(bytes.fromhex("34" * 20), 0, b"pay1"),
                                                       encode_voucher(bytes.fromhex("12" * 20), 0, b""))))
        store.append_input(v1_record(3, 24, ACCEPTED))
        self.inspect_answer: Finished | Exception = Finished(ACCEPTED, (), (b'{"answer": 1}',))
        self.inspected: list[bytes] = []

    def unprocessed(self) -> list[InputRecord]:
        return [v1_record(4, 31, NONE)]

    def inspect(self, payload: bytes) -> tuple[Finished, int]:
        self.inspected.append(payload)
        if isinstance(self.inspect_answer, Exception):
            raise self.inspect_answer
        return self.inspect_answer, len(self.store.inputs)


@contextmanager
def serving(state_dir: Any,
            claimed_inputs: set[int] | None = None) -> Iterator[tuple[ReaderServer, V1View, FakeProofs]]:
    """A reader server in v1 mode over a fresh ``V1View`` in ``state_dir``."""
    view = V1View(Store(state_dir))
    proofs = FakeProofs({0} if claimed_inputs is None else claimed_inputs)
    routes = graphql_v1.routes(view, proofs)  # type: ignore[arg-type]
    server = ReaderServer(view, port=0, routes=routes).start()  # type: ignore[arg-type]
    try:
        yield server, view, proofs
    finally:
        server.stop()
