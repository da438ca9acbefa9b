"""The node's state directory: durable append-only records that survive a crash mid-write."""

from __future__ import annotations

import json

import pytest

from devnode.lifecycle import lock_state_dir, node_running, unlock_state_dir
from devnode.store import CLAIMS, INPUTS, ClaimRecord, InputRecord, Store, StoreError


def record(index: int, outputs: tuple[bytes, ...] = (), first_output: int = 0) -> InputRecord:
    return InputRecord(index=index, epoch_index=index // 2, block_number=10 + index, raw_data=b"\x41" * 8,
                       metadata={"input_index": index}, payload=b"p%d" % index, tx_hash=None, status="ACCEPTED",
                       outputs=outputs, reports=(b"r",), first_output_index=first_output, first_report_index=index)


def test_records_survive_a_reload_with_global_output_and_report_numbering(tmp_path):
    store = Store(tmp_path)
    store.append_input(record(0, (b"a", b"b")))
    store.append_input(record(1, (b"c",), 2))
    store.append_claim(ClaimRecord(0, 1, 3, b"\x01" * 32, "0xabc"))
    again = Store(tmp_path)
    assert again.inputs == store.inputs and again.claims == store.claims
    assert again.outputs == [(0, b"a"), (0, b"b"), (1, b"c")]
    assert again.reports == [(0, b"r"), (1, b"r")]


def test_a_line_cut_short_by_a_crash_is_dropped(tmp_path):
    store = Store(tmp_path)
    store.append_input(record(0))
    with open(tmp_path / INPUTS, "a") as handle:
        handle.write(json.dumps(record(1).to_json())[:40])  # kill -9 in the middle of a write
    again = Store(tmp_path)
    assert [r.index for r in again.inputs] == [0]
    again.append_input(record(1))  # the file is whole again
    assert [r.index for r in Store(tmp_path).inputs] == [0, 1]


def test_a_corrupt_complete_line_is_refused_loudly(tmp_path):
    Store(tmp_path).append_claim(ClaimRecord(0, 1, 0, b"\x00" * 32, "0x1"))
    with open(tmp_path / CLAIMS, "a") as handle:
        handle.write("{not json}\n")
    with pytest.raises(StoreError, match="corrupt"):
        Store(tmp_path)


def test_inputs_must_be_recorded_in_index_order(tmp_path):
    store = Store(tmp_path)
    with pytest.raises(StoreError):
        store.append_input(record(1))


def test_fresh_wipe_keeps_logs_and_the_lock_excludes_a_second_node(tmp_path):
    Store(tmp_path).append_input(record(0))
    (tmp_path / "node.log").write_text("kept")
    Store.wipe(tmp_path)
    assert Store(tmp_path).inputs == [] and (tmp_path / "node.log").read_text() == "kept"
    handle = lock_state_dir(tmp_path)
    try:
        assert node_running(tmp_path)
        with pytest.raises(StoreError, match="already running"):
            lock_state_dir(tmp_path)
    finally:
        unlock_state_dir(handle)
    assert not node_running(tmp_path)
