"""Figures of the local node's v1 GraphQL reader (``devnode.graphql_v1``) over many recorded inputs.

Run: ``.venv/bin/python -m bench.graphql_v1``. ``n`` accepted inputs, each with two notices and a voucher;
proofs are not asked. The figures: one input by index, the first page of every voucher (the first request
decodes every input's outputs, later ones reuse them) and the per-input counts the client's
``ReaderV1Client`` asks for once to number outputs (1000 inputs a page).
"""

from __future__ import annotations

import time

from bench._summary import record
from bench._table import print_table
from devnode import outputs
from devnode.graphql_v1 import GraphQLReader
from devnode.store import InputRecord

SIZES = (100, 1000, 5000)
VOUCHERS = "{ vouchers(first: 10) { totalCount edges { node { index payload } } } }"
COUNTS = ("{ inputs(first: 1000) { edges { node { index status notices { totalCount } "
          "vouchers { totalCount } reports { totalCount } } } } }")
QUERIES = (
    ("input(index)", "{ input(index: 0) { index payload notices { totalCount } } }"),
    ("vouchers(first: 10), 1st", VOUCHERS),
    ("vouchers(first: 10), again", VOUCHERS),
    ("counts page (1000 inputs)", COUNTS),
)


def _inputs(n: int) -> list[InputRecord]:
    kept = (outputs.encode_notice(b"n" * 300), outputs.encode_voucher(bytes(20), 0, b"v" * 68),
            outputs.encode_notice(b"m" * 100))
    return [InputRecord(index=i, epoch_index=i // 10, block_number=i, raw_data=b"",
                        metadata={"msg_sender": "0x" + "ab" * 20, "timestamp": i}, payload=b"p" * 200,
                        tx_hash=None, status="ACCEPTED", outputs=kept, reports=(b"{}",),
                        first_output_index=3 * i, first_report_index=i) for i in range(n)]


def main() -> None:
    """Prints the table (ms per request) and records the 5000-input figures."""
    rows = [("inputs", *(name for name, _ in QUERIES))]
    for n in SIZES:
        records = _inputs(n)
        reader = GraphQLReader(lambda records=records: records, lambda kind, i, j: None)
        row = [str(n)]
        for _, query in QUERIES:
            began = time.perf_counter()
            answer = reader.execute(query)
            row.append(f"{(time.perf_counter() - began) * 1000:.1f}")
            assert "errors" not in answer, answer
        rows.append(tuple(row))
    print_table(rows)
    record("v1 GraphQL vouchers page over 5000 inputs (cached)", f"{rows[-1][3]} ms")
    record("v1 GraphQL counts page of 1000 inputs", f"{rows[-1][4]} ms")


if __name__ == "__main__":
    main()
