"""Figures of the Rollups v1 proofs (``devnode.v1.proofs``): claiming an epoch and answering its proofs.

Run: ``.venv/bin/python -m bench.v1_proofs``. One epoch of ``n`` accepted inputs, each with a notice and a
voucher; the figures are the epoch's claim (both epoch drives), the first voucher proof (the epoch
computed and kept) and then every voucher proof of the epoch (what a GraphQL listing with proofs asks).
"""

from __future__ import annotations

import time

from bench._summary import record
from bench._table import print_table
from devnode import outputs
from devnode.store import ClaimRecord, InputRecord
from devnode.v1 import proofs

SIZES = (10, 100, 1000)


def _epoch(n: int) -> list[InputRecord]:
    emitted = (outputs.encode_notice(b"n" * 100), outputs.encode_voucher(bytes(20), 0, b"v" * 68))
    return [InputRecord(index=i, epoch_index=0, block_number=2, raw_data=b"", metadata={}, payload=b"",
                        tx_hash=None, status="ACCEPTED", outputs=emitted, reports=(), first_output_index=2 * i,
                        first_report_index=0) for i in range(n)]


def main() -> None:
    """Prints the table and records the 1000-input figures."""
    rows = [("inputs in the epoch", "claim (ms)", "first proof (ms)", "all voucher proofs (ms)")]
    for n in SIZES:
        inputs = _epoch(n)
        began = time.perf_counter()
        claims = [ClaimRecord(0, 9, 2 * n, proofs.epoch_claim(inputs).epoch_hash, "0x")]
        claim_ms = (time.perf_counter() - began) * 1000
        began = time.perf_counter()
        proofs.output_proof(proofs.VOUCHER, n - 1, 0, inputs=inputs, claims=claims)
        first_ms = (time.perf_counter() - began) * 1000
        began = time.perf_counter()
        for index in range(n):
            proofs.output_proof(proofs.VOUCHER, index, 0, inputs=inputs, claims=claims)
        all_ms = (time.perf_counter() - began) * 1000
        rows.append((str(n), f"{claim_ms:.0f}", f"{first_ms:.0f}", f"{all_ms:.0f}"))
    print_table(rows)
    record("v1 claim of a 1000-input epoch", f"{rows[-1][1]} ms")
    record("v1 proofs of its 1000 vouchers", f"{int(rows[-1][2]) + int(rows[-1][3])} ms")


if __name__ == "__main__":
    main()
