"""The /dev/cmio rollup against a fake device: requests, output bytes, the outputs root, the loop.

Everything expected here is built independently of dapp.rollup.cmio: constants from the kernel's
``_IOC`` layout and CARTESI-FACTS (§2 selectors, §6 tree), encodings with eth-abi, roots with a plain
level-by-level tree written below and with the devnode's own tree.
"""

from __future__ import annotations

from collections import deque

import eth_abi
import pytest
from eth_hash.auto import keccak

from dapp.app import App, Result
from dapp.codec import abi
from dapp.codec.outputs import Notice
from dapp.domain.values import Address
from dapp.rollup import cmio
from dapp.rollup.cmio import CmioRollup, OutputTooLarge
from dapp.rollup.fake import FakeRollup
from dapp.rollup.loop import run
from dapp.rollup.merkle import OutputsMerkle
from devnode import merkle as devnode_merkle
from tests.support.rollup import ALICE, PORTALS, TOKEN, erc20_deposit, v2_metadata

TX_LENGTH = 2 << 20  # the machine's 2 MiB transmit buffer (CARTESI-FACTS §12)
MANUAL, AUTOMATIC = 1, 0
ACCEPTED, REJECTED = 1, 2
OUTPUT, REPORT = 2, 4
ADVANCE, INSPECT = 0, 1
NOTICE_SELECTOR = bytes.fromhex("c258d6e5")  # CARTESI-FACTS §2
VOUCHER_SELECTOR = bytes.fromhex("237a816f")
EVM_ADVANCE_SELECTOR = bytes.fromhex("415bf363")
PUBLISHED_EMPTY_ROOT = bytes.fromhex("0a162946e56158bac0673e6dd3bdfdc1e4a0e7744a120fdb640050c8d7abe1c6")
WITHDRAW = abi.inputs()["withdraw"]


class Exhausted(Exception):
    """The fake host has no request left to answer a finish with."""


class FakeDevice:
    """A host that answers each accept/reject with the next queued request and records every yield
    as ``(cmd, reason, the first data bytes of tx)``."""

    def __init__(self, requests=(), tx_length: int = TX_LENGTH) -> None:
        self.requests = deque(requests)
        self.tx_length = tx_length
        self.tx = bytearray(tx_length)
        self.rx = b""
        self.yields: list[tuple[int, int, bytes]] = []

    def write_tx(self, data: bytes) -> None:
        assert len(data) <= self.tx_length
        self.tx[: len(data)] = data

    def read_rx(self, length: int) -> bytes:
        assert length <= len(self.rx)
        return self.rx[:length]

    def yield_(self, cmd: int, reason: int, data: int) -> tuple[int, int]:
        self.yields.append((cmd, reason, bytes(self.tx[:data])))
        if cmd == MANUAL and reason in (ACCEPTED, REJECTED):
            if not self.requests:
                raise Exhausted
            kind, self.rx = self.requests.popleft()
            return kind, len(self.rx)
        return 0, 0


def evm_advance(metadata: dict, payload: bytes) -> bytes:
    """The input as the node hands it to the machine: ``EvmAdvance(...)`` calldata."""
    values = [metadata["chain_id"], metadata["app_contract"], metadata["msg_sender"],
              metadata["block_number"], metadata["block_timestamp"], int(metadata["prev_randao"], 16),
              metadata["input_index"], payload]
    types = ["uint256", "address", "address", "uint256", "uint256", "uint256", "uint256", "bytes"]
    return EVM_ADVANCE_SELECTOR + eth_abi.encode(types, values)


def plain_root(leaves: list[bytes], height: int = 63) -> bytes:
    """Level by level: pair up, padding an odd level with that level's empty-subtree hash."""
    level, empty = list(leaves) or [bytes(32)], bytes(32)
    for _ in range(height):
        if len(level) % 2:
            level.append(empty)
        level = [keccak(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
        empty = keccak(empty + empty)
    return level[0]


def outputs(n: int) -> list[bytes]:
    return [NOTICE_SELECTOR + eth_abi.encode(["bytes"], [f"output {i}".encode() * (i + 1)]) for i in range(n)]


def run_cmio(app: App, device: FakeDevice) -> None:
    with pytest.raises(Exhausted):
        run(app, CmioRollup(device))


def per_request(device: FakeDevice) -> list[dict]:
    """The yields grouped by request: what was emitted, then how it was finished (and the root)."""
    manual = [i for i, (cmd, reason, _) in enumerate(device.yields) if cmd == MANUAL]
    served = []
    for start, end in zip(manual, manual[1:]):
        cmd, reason, data = device.yields[end]
        emitted = device.yields[start + 1:end]
        served.append({
            "accepted": reason == ACCEPTED, "root": data if reason == ACCEPTED else None,
            "outputs": [d for c, r, d in emitted if (c, r) == (AUTOMATIC, OUTPUT)],
            "reports": [d for c, r, d in emitted if (c, r) == (AUTOMATIC, REPORT)],
        })
    return served


def decoded(output: bytes) -> tuple[str, tuple]:
    if output[:4] == NOTICE_SELECTOR:
        return "notice", eth_abi.decode(["bytes"], output[4:])
    assert output[:4] == VOUCHER_SELECTOR
    destination, value, payload = eth_abi.decode(["address", "uint256", "bytes"], output[4:])
    return "voucher", (Address.from_hex(destination), value, payload)


def test_ioctl_numbers_follow_the_linux_ioc_layout():
    # _IOR(0xd3, 0, struct cmio_setup{4 x u64}) and _IOWR(0xd3, 1, __u64),
    # with Linux's dir << 30 | size << 16 | type << 8 | nr
    assert cmio.IOCTL_CMIO_SETUP == 0x8020D300
    assert cmio.IOCTL_CMIO_YIELD == 0xC008D301


def test_yield_words_pack_device_command_reason_and_data():
    assert cmio.pack_yield(MANUAL, ACCEPTED, 32) == 0x02_01_0001_00000020
    assert cmio.pack_yield(AUTOMATIC, REPORT, 7) == 0x02_00_0004_00000007
    assert cmio.unpack_answer(0x02_01_0001_0000BEEF) == (INSPECT, 0xBEEF)
    with pytest.raises(ValueError):
        cmio.pack_yield(AUTOMATIC, OUTPUT, 1 << 32)


def test_an_advance_is_decoded_to_the_json_the_http_server_returns():
    metadata = dict(v2_metadata(ALICE, 41, timestamp=1_795_294_118, block=8), prev_randao="0x" + "0f" * 32)
    payload = erc20_deposit(TOKEN, ALICE, 5)
    request = cmio.decode_request(ADVANCE, evm_advance(metadata, payload))
    expected = {"metadata": metadata, "payload": "0x" + payload.hex()}
    assert request == {"request_type": "advance_state", "data": expected}


def test_a_small_randao_keeps_its_64_hex_digits():
    metadata = dict(v2_metadata(ALICE, 0), prev_randao="0x" + "00" * 31 + "01")
    request = cmio.decode_request(ADVANCE, evm_advance(metadata, b""))
    assert request["data"]["metadata"]["prev_randao"] == metadata["prev_randao"]
    assert request["data"]["payload"] == "0x"


def test_an_inspect_is_its_raw_query():
    assert cmio.decode_request(INSPECT, b"totals") == {"request_type": "inspect_state",
                                                       "data": {"payload": "0x" + b"totals".hex()}}


@pytest.mark.parametrize("reason, raw, message", [
    (ADVANCE, bytes.fromhex("deadbeef") + bytes(64), "not an EvmAdvance call"),
    (ADVANCE, EVM_ADVANCE_SELECTOR + bytes(10), "not a valid EvmAdvance"),
    (7, b"", "unknown request reason 7"),
])
def test_what_is_not_a_request_is_refused_clearly(reason, raw, message):
    with pytest.raises(cmio.CmioError, match=message):
        cmio.decode_request(reason, raw)


@pytest.mark.parametrize("payload", [b"", b"\x01", bytes(range(256)) * 3])
def test_a_notice_is_notice_bytes_abi_encoded(payload):
    assert cmio.encode_notice(payload) == NOTICE_SELECTOR + eth_abi.encode(["bytes"], [payload])


@pytest.mark.parametrize("value, payload",
                         [(0, b""), (10**18, b"\xa9\x05\x9c\xbb" + bytes(64)), (2**256 - 1, b"x")])
def test_a_voucher_is_voucher_address_value_bytes_abi_encoded(value, payload):
    expected = VOUCHER_SELECTOR + eth_abi.encode(["address", "uint256", "bytes"], [TOKEN.hex, value, payload])
    assert cmio.encode_voucher(TOKEN, value, payload) == expected


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5])
def test_outputs_root_equals_a_plain_tree_and_the_devnodes(n):
    tree = OutputsMerkle()
    for output in outputs(n):
        tree = tree.push(output)
    leaves = [keccak(o) for o in outputs(n)]
    assert tree.count == n
    assert tree.root() == plain_root(leaves) == devnode_merkle.root(leaves)


def test_the_empty_root_is_the_published_one():
    assert OutputsMerkle().root() == PUBLISHED_EMPTY_ROOT


def test_each_accept_carries_the_root_of_every_output_so_far_and_a_reject_drops_its_own():
    advance = (ADVANCE, evm_advance(v2_metadata(ALICE, 0), b""))
    device = FakeDevice([advance] * 3)
    rollup = CmioRollup(device)
    rollup.finish(True)
    assert device.yields[-1] == (MANUAL, ACCEPTED, PUBLISHED_EMPTY_ROOT)
    first, second, dropped = outputs(3)
    assert rollup.notice(eth_abi.decode(["bytes"], first[4:])[0]) == 0
    rollup.finish(True)
    assert device.yields[-1][2] == plain_root([keccak(first)])
    assert rollup.notice(eth_abi.decode(["bytes"], dropped[4:])[0]) == 1
    rollup.finish(False)
    assert device.yields[-1] == (MANUAL, REJECTED, b"")
    assert rollup.notice(eth_abi.decode(["bytes"], second[4:])[0]) == 1  # the rejected one's index again
    with pytest.raises(Exhausted):
        rollup.finish(True)
    assert device.yields[-1][2] == plain_root([keccak(first), keccak(second)])


def test_outputs_during_an_inspect_do_not_enter_the_tree():
    device = FakeDevice([(INSPECT, b"q"), (ADVANCE, evm_advance(v2_metadata(ALICE, 0), b""))])
    rollup = CmioRollup(device)
    rollup.finish(True)
    rollup.notice(b"from an inspect")
    rollup.finish(True)
    with pytest.raises(Exhausted):
        rollup.finish(True)
    assert device.yields[-1][2] == PUBLISHED_EMPTY_ROOT


def test_output_yields_carry_the_encoded_bytes_and_reports_their_raw_payload():
    device = FakeDevice()
    rollup = CmioRollup(device)
    rollup.voucher(TOKEN, 3, b"pay")
    rollup.report(b'{"ok":true}')
    assert device.yields == [
        (AUTOMATIC, OUTPUT,
         VOUCHER_SELECTOR + eth_abi.encode(["address", "uint256", "bytes"], [TOKEN.hex, 3, b"pay"])),
        (AUTOMATIC, REPORT, b'{"ok":true}'),
    ]


def test_an_output_over_the_transmit_buffer_is_refused_before_anything_is_yielded():
    device = FakeDevice()
    rollup = CmioRollup(device)
    rollup.report(bytes(TX_LENGTH))  # exactly the buffer: fits
    with pytest.raises(OutputTooLarge, match=r"a report of 2,097,153 bytes .* 2,097,152-byte"):
        rollup.report(bytes(TX_LENGTH + 1))
    with pytest.raises(OutputTooLarge, match="a notice of"):
        rollup.notice(bytes(TX_LENGTH - 64))  # the payload fits, its encoding does not
    assert len(device.yields) == 1 and rollup.tree.count == 0


def test_through_the_loop_a_too_large_output_rejects_the_input_with_a_report_saying_why():
    class Huge:
        def advance(self, metadata, payload):
            return Result([Notice(bytes(TX_LENGTH))], accept=True)

    device = FakeDevice([(ADVANCE, evm_advance(v2_metadata(ALICE, 0), b""))])
    run_cmio(Huge(), device)
    (served,) = per_request(device)
    assert not served["accepted"] and served["outputs"] == []
    assert b"does not fit the 2,097,152-byte cmio transmit buffer" in served["reports"][0]


def market_session() -> list[tuple[str, dict | None, bytes]]:
    return [
        ("advance", v2_metadata(PORTALS.erc20, 0), erc20_deposit(TOKEN, ALICE, 500)),
        ("advance", v2_metadata(ALICE, 1), WITHDRAW.encode(TOKEN.raw, 200)),
        ("advance", v2_metadata(ALICE, 2), WITHDRAW.encode(TOKEN.raw, 10**6)),  # more than held: rejected
        ("inspect", None, f"balances/{ALICE.hex}".encode()),
    ]


def test_the_loop_gives_the_same_outputs_through_cmio_as_through_the_fake_rollup():
    fake = FakeRollup()
    device = FakeDevice()
    for kind, metadata, payload in market_session():
        if kind == "advance":
            fake.add_advance(metadata, payload)
            device.requests.append((ADVANCE, evm_advance(metadata, payload)))
        else:
            fake.add_inspect(payload)
            device.requests.append((INSPECT, payload))
    run(App(), fake, should_stop=lambda: fake.idle)
    run_cmio(App(), device)

    served = per_request(device)
    assert [s["accepted"] for s in served] == [f.accepted for f in fake.done] == [True, True, False, True]
    for through_cmio, through_fake in zip(served, fake.done):
        # the node drops a rejected input's outputs; the fake rollup clears them
        kept = through_cmio["outputs"] if through_cmio["accepted"] else []
        kinds = [decoded(o) for o in kept]
        assert [args for kind, args in kinds if kind == "notice"] == [(n,) for n in through_fake.notices]
        assert [args for kind, args in kinds if kind == "voucher"] == through_fake.vouchers
        assert through_cmio["reports"] == through_fake.reports
    assert served[0]["outputs"] and served[1]["outputs"] and served[3]["reports"]


def test_the_root_of_each_accepted_advance_is_the_devnodes_root_of_all_outputs_so_far():
    device = FakeDevice([(ADVANCE, evm_advance(m, p)) for k, m, p in market_session() if k == "advance"])
    run_cmio(App(), device)
    leaves: list[bytes] = []
    for served in per_request(device):
        if served["accepted"]:
            leaves += [keccak(o) for o in served["outputs"]]
            assert served["root"] == devnode_merkle.root(leaves)
    assert len(leaves) >= 2  # at least the deposit notice and the withdrawal voucher


@pytest.mark.parametrize("environ, exists, expected", [
    ({}, True, True),
    ({"ROLLUP_HTTP_SERVER_URL": ""}, True, True),
    ({"ROLLUP_HTTP_SERVER_URL": "http://127.0.0.1:5004"}, True, False),
    ({}, False, False),
])
def test_cmio_is_chosen_only_with_the_device_and_no_http_server_configured(environ, exists, expected):
    assert cmio.use_cmio(environ, exists) is expected



@pytest.mark.parametrize("http_url, chosen", [(None, "cmio"), ("http://127.0.0.1:5004", "http")])
def test_python_m_dapp_serves_the_device_when_there_and_no_http_server_is_configured(
        monkeypatch, tmp_path, http_url, chosen):
    import dapp.__main__ as entry
    import dapp.rollup.loop as loop
    from dapp.rollup.http import HttpRollup

    device = tmp_path / "cmio"
    device.touch()
    monkeypatch.setattr(cmio, "DEVICE_PATH", str(device))
    monkeypatch.setattr(CmioRollup, "open", classmethod(lambda cls: CmioRollup(FakeDevice())))
    if http_url is None:
        monkeypatch.delenv("ROLLUP_HTTP_SERVER_URL", raising=False)
    else:
        monkeypatch.setenv("ROLLUP_HTTP_SERVER_URL", http_url)
    seen = {}
    monkeypatch.setattr(loop, "run", lambda app, rollup: seen.setdefault("rollup", rollup))
    entry.main()
    assert isinstance(seen["rollup"], CmioRollup if chosen == "cmio" else HttpRollup)


def test_the_real_devices_buffers_are_read_and_written_in_place_within_their_bounds():
    import ctypes

    tx, rx = ctypes.create_string_buffer(16), ctypes.create_string_buffer(b"advance!", 8)
    device = cmio.CmioDevice(-1, (ctypes.addressof(tx), 16), (ctypes.addressof(rx), 8))
    device.write_tx(b"root")
    assert tx.raw[:5] == b"root\x00" and device.read_rx(7) == b"advance"
    with pytest.raises(OutputTooLarge):
        device.write_tx(bytes(17))
    with pytest.raises(cmio.CmioError, match="9 bytes in a 8-byte rx buffer"):
        device.read_rx(9)
