"""Uploads: what is stored is not sent again, and what is sent rebuilds the file."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest
from mlmarket.client.chain import InputRef, InputRequest, TxResult
from mlmarket.client.errors import InputFailed
from mlmarket.client.upload import upload

from dapp.codec.abi import inputs
from dapp.codec.chunks import read_chunk

DATA = random.Random(7).randbytes(150_000) + b"".join(b"%d,%d,%d\n" % (i, i * 7, i % 3) for i in range(40_000))


@dataclass
class FakeChain:
    sent: list[bytes] = field(default_factory=list)

    def send_input(self, request: InputRequest) -> InputRef:
        assert request.token is None  # chunks go through the InputBox, never a portal
        self.sent.append(request.payload)
        return InputRef(len(self.sent) - 1, TxResult("0x" + "00" * 32, 1, 21_000 + len(request.payload)))


@dataclass
class FakeMarket:
    stored: bool = False
    received: int = 0
    fail_at: int | None = None
    chain: FakeChain = field(default_factory=FakeChain)
    waited: list[int] = field(default_factory=list)

    def content_info(self, cid: str) -> dict | None:
        return {"cid": cid, "size": len(DATA)} if self.stored else None

    def upload_received(self, cid: str) -> int:
        return self.received

    def wait(self, ref: InputRef) -> None:
        self.waited.append(ref.index)
        if ref.index == self.fail_at:
            raise InputFailed("chunk at offset 0 differs (chunk_mismatch)", outcome=None)


def rebuilt(payloads: list[bytes], start: int) -> bytes:
    """The file bytes the payloads carry, checking they are contiguous from ``start``."""
    position, parts = start, []
    for payload in payloads:
        _cid, size, offset, part = read_chunk(payload)
        assert inputs().decode(payload)[0].name == "uploadChunkCoded"
        assert size == len(DATA) and offset == position
        parts.append(part)
        position += len(part)
    return b"".join(parts)


def test_whole_upload_rebuilds_the_file_and_reports_progress() -> None:
    market = FakeMarket()
    progress: list[tuple[int, int]] = []
    result = upload(market, DATA, progress=lambda done, size: progress.append((done, size)), window=3)
    assert rebuilt(market.chain.sent, 0) == DATA
    assert len(market.chain.sent) > 3 and market.waited == list(range(len(market.chain.sent)))
    assert progress[0] == (0, len(DATA)) and progress[-1] == (len(DATA), len(DATA))
    assert [d for d, _ in progress] == sorted(d for d, _ in progress)
    assert result.cid.startswith("bafy") and not result.already_stored
    assert result.inputs == tuple(range(len(market.chain.sent)))


def test_stored_file_sends_nothing() -> None:
    market = FakeMarket(stored=True)
    result = upload(market, DATA)
    assert market.chain.sent == [] and result.already_stored and result.to_json()["chunks_sent"] == 0


def test_partial_upload_resumes_where_the_machine_stopped() -> None:
    market = FakeMarket(received=100_000)
    result = upload(market, DATA)
    assert rebuilt(market.chain.sent, 100_000) == DATA[100_000:]
    assert result.resumed_from == 100_000


def test_first_failing_chunk_stops_the_upload() -> None:
    market = FakeMarket(fail_at=1)
    with pytest.raises(InputFailed, match="chunk_mismatch"):
        upload(market, DATA, window=1)
    assert len(market.chain.sent) == 2


def test_small_file_has_a_raw_cid() -> None:
    market = FakeMarket()
    result = upload(market, b"a,b\n1,2\n")
    assert result.cid.startswith("bafkrei") and len(market.chain.sent) == 1


def test_pending_upload_gives_the_inputs_a_wallet_would_send() -> None:
    from mlmarket.client.upload import pending_upload

    pending = pending_upload(FakeMarket(received=100_000), DATA)
    assert not pending.already_stored and pending.received == 100_000
    assert rebuilt([r.payload for r in pending.requests], 100_000) == DATA[100_000:]
    assert all(r.token is None for r in pending.requests)
    assert pending_upload(FakeMarket(stored=True), DATA).requests == ()
