"""Prints what the content store really holds against what it counts (issue 11, findings 3 and 4).

Per-record memory (tracemalloc) of a stored file, a partial upload and a chunk row, beside the
overheads ``dapp.domain`` counts for them; and the many-account partial-upload attack through
``App.advance`` with the default limits, as the memory it leaves against ``max_total_pending``.

    .venv/bin/python -m bench.storage_limits
"""

from __future__ import annotations

import itertools
from functools import partial

from dapp.codec.cid import cid_of
from dapp.domain import content
from dapp.domain.commands import Context, UploadChunk
from dapp.domain.content_budget import FILE_OVERHEAD
from dapp.domain.env import Env
from dapp.domain.limits import MIB, Limits
from dapp.domain.partial_uploads import CHUNK_OVERHEAD, UPLOAD_OVERHEAD
from dapp.domain.store import State
from dapp.domain.values import Address
from tests.unit.test_storage_limits import Market, attacker, chunk, fake_cid, held, traced

N = 5000
ENV = Env(limits=Limits(max_total_content=1 << 30, max_total_pending=1 << 30))


def per_record(make) -> float:
    """Bytes left allocated per chunk ``make(i)`` sent by its own account, over ``N`` inputs."""
    state = State()

    def run() -> None:
        for i in range(N):
            with state.transaction() as tx:
                content.upload_chunk(tx, make(i), Context(Address(i.to_bytes(20, "big")), 1_700_000_000 + i, i, i),
                                     ENV)
    return traced(run) / N


def attack(m: Market, accounts: int, piece: int, deflated: bool, sent: list[int]) -> None:
    """Each account starts 8 uploads of 2 MiB and feeds each to one byte short, ``piece`` bytes per
    chunk, until refused; ``sent[0]`` counts the inputs."""
    size = 2 * MIB
    for a, j in itertools.product(range(accounts), range(8)):
        cid, offset = fake_cid(b"%d/%d" % (a, j)), 0
        while offset < size - 1:
            n = min(piece, size - 1 - offset)
            sent[0] += 1
            if not chunk(m, attacker(a), cid, size, offset, bytes(n), deflated).accepted:
                break
            offset += n


def main() -> None:
    row = bytes(N + 1)
    figures = [
        ("stored 4-byte file", lambda i: UploadChunk(cid_of(i.to_bytes(4, "big")), 4, 0, False, i.to_bytes(4, "big")),
         FILE_OVERHEAD),
        ("partial upload holding one 1-byte row", lambda i: UploadChunk(cid_of(i.to_bytes(6, "big")), 6, 0, False, b"\0"),
         UPLOAD_OVERHEAD + CHUNK_OVERHEAD),
    ]
    for name, make, counted in figures:
        print(f"{name}: {per_record(make):,.0f} B held, {counted:,} B counted (+ its data)")
    state, sender = State(), Address(b"\x01" * 20)

    def rows() -> None:
        for i in range(N):
            with state.transaction() as tx:
                content.upload_chunk(tx, UploadChunk(cid_of(row), N + 1, i, False, b"\0"),
                                     Context(sender, 1_700_000_000 + i, i, i), ENV)
    print(f"1-byte chunk row: {traced(rows) / N:,.0f} B held, {CHUNK_OVERHEAD:,} B counted")
    for accounts, piece, deflated in [(64, MIB, True), (64, 200_000, True), (24, 60_000, False)]:
        m, sent = Market(), [0]
        grown = traced(partial(attack, m, accounts, piece, deflated, sent))
        declared = held(m, [attacker(a) for a in range(accounts)])
        print(f"{accounts} accounts x 8 uploads of 2 MiB, {piece:,}-byte {'deflated' if deflated else 'raw'} chunks: "
              f"{sent[0]} inputs, {declared:,} B declared, {grown:,} B of memory left "
              f"(max_total_pending = {m.app.env.limits.max_total_pending:,})")


if __name__ == "__main__":
    main()
