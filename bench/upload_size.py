"""Figures of upload planning: inputs, calldata and gas needed per file with each chunk codec and with
the planner's mix, against the file's entropy reference; and how long planning takes.

Files (fixed seeds): a numeric CSV (8 float features, 4 decimals), a categorical / text-heavy CSV
(cities, categories, dates, short comments), a sparse integer CSV (counts, 90% zeros) and random
bytes, 1 MiB each; the 8 MiB numeric CSV and random bytes for planning time.

Gas is the calldata floor (EIP-7623) of each ``InputBox.addInput(app, payload)`` transaction:
21,000 + 40 per non-zero and 10 per zero byte of its calldata (the standard 16 / 4 per byte plus
the input's execution stays below it), which is what ``bench.gas`` measured uploads to pay
(2,615,310 gas for a full raw chunk of random bytes). The entropy reference of a file is its size
compressed whole by the best general-purpose codec at maximum level (zlib 9, bz2 9, xz 9|extreme);
"gas per ref KiB" divides the plan's gas by it; its row gives the ref sent at 40 gas a byte in
full inputs. "decode ms/MiB" is the native time to decode the plan's chunks (the machine's extra
work; the Cartesi machine is ~100x slower). Codec rows plan with that codec alone (on rows as they
are); "mix of rows" with every codec; "mix" also with column layouts (the default plan).

Run: ``.venv/bin/python -m bench.upload_size``.
"""

from __future__ import annotations

import bz2
import io
import lzma
import math
import statistics
import time
import zlib
from collections.abc import Callable

import eth_abi
import numpy as np

from bench._summary import record
from bench._table import print_table
from dapp.codec.chunk_codecs import columns_to_rows, decode, encode, rows_to_columns
from dapp.codec.chunks import COMPRESSED, UploadPlan, max_data_bytes, plan_upload, read_chunk

MIB = 1 << 20
RUNS = 3
APP = bytes.fromhex("ab" * 20)            # an application address (no zero bytes, like most)
ADD_INPUT = bytes.fromhex("1789cd63")     # InputBox.addInput(address,bytes)


def numeric_csv(size: int, seed: int = 42) -> bytes:
    """A realistic dataset: a header, 8 float features with 4 decimals and an integer label."""
    rng = np.random.default_rng(seed)
    rows = size // 40 + 1
    features = rng.normal(loc=10.0, scale=3.0, size=(rows, 8)).round(4)
    labels = (features[:, 0] + rng.normal(size=rows) > 10).astype(int)
    out = io.StringIO()
    out.write(",".join(f"f{i}" for i in range(8)) + ",label\n")
    np.savetxt(out, np.column_stack([features, labels]), delimiter=",", fmt=["%.4f"] * 8 + ["%d"])
    return out.getvalue().encode()[:size]


WORDS = ("late delivery good price broken box great support slow refund works fine again never quality "
         "cheap fast friendly damaged excellent missing parts would buy recommend poor packaging").split()
CITIES = ("Lisbon Porto Berlin Munich Paris Lyon Madrid Seville Rome Milan Vienna Prague Warsaw Krakow "
          "Dublin Cork Oslo Bergen Helsinki Tallinn").split()
CATEGORIES = ("books", "electronics", "garden", "toys", "kitchen", "sports", "clothing", "beauty")


def categorical_csv(size: int, seed: int = 43) -> bytes:
    """A text-heavy dataset: id, city, category, date, price, rating and a comment of 2-8 words."""
    rng = np.random.default_rng(seed)
    lines = ["id,city,category,date,price,rating,comment"]
    length, i = len(lines[0]) + 1, 0
    while length <= size:
        city = CITIES[min(int(rng.zipf(1.6)) - 1, len(CITIES) - 1)]
        words = " ".join(WORDS[k] for k in rng.integers(0, len(WORDS), int(rng.integers(2, 9))))
        line = (f"{100000 + i},{city},{CATEGORIES[int(rng.integers(0, len(CATEGORIES)))]},"
                f"2026-{int(rng.integers(1, 13)):02d}-{int(rng.integers(1, 29)):02d},"
                f"{rng.gamma(2.0, 15.0):.2f},{int(rng.integers(1, 6))},\"{words}\"")
        lines.append(line)
        length += len(line) + 1
        i += 1
    return ("\n".join(lines) + "\n").encode()[:size]


def sparse_csv(size: int, seed: int = 44) -> bytes:
    """A sparse integer dataset: 20 count features, ~90% zeros, and a class label 0-3."""
    rng = np.random.default_rng(seed)
    rows = size // 30 + 1
    counts = rng.poisson(3.0, size=(rows, 20)) * (rng.random((rows, 20)) < 0.1)
    labels = rng.integers(0, 4, size=rows)
    out = io.StringIO()
    out.write(",".join(f"c{i}" for i in range(20)) + ",label\n")
    np.savetxt(out, np.column_stack([counts, labels]), delimiter=",", fmt="%d")
    return out.getvalue().encode()[:size]


def input_gas(payload: bytes) -> int:
    """The calldata-floor gas of the ``addInput`` transaction carrying ``payload``."""
    calldata = ADD_INPUT + eth_abi.encode(["address", "bytes"], ["0x" + APP.hex(), payload])
    zeros = calldata.count(0)
    return 21_000 + 40 * (len(calldata) - zeros) + 10 * zeros


def plan_gas(plan: UploadPlan) -> int:
    """The gas of all of a plan's inputs."""
    return sum(input_gas(c.payload) for c in plan.chunks)


def entropy_reference(data: bytes) -> tuple[str, int]:
    """``(codec, bytes)``: the smallest whole-file compression at maximum level."""
    sizes = {"zlib 9": len(zlib.compress(data, 9)), "bz2 9": len(bz2.compress(data, 9)),
             "xz 9e": len(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME))}
    best = min(sizes, key=sizes.get)
    return best, sizes[best]


def _decode_ms_per_mib(plan: UploadPlan) -> float:
    """Native time to decode every chunk of the plan, best of 5, per MiB of the file."""
    return _best_ms(lambda: [read_chunk(chunk.payload) for chunk in plan.chunks]) * MIB / max(1, plan.size)


def codec_rows(name: str, data: bytes) -> list[tuple[str, ...]]:
    """Rows of one file: a plan per codec (stored plus one compressed codec) and the planner's mix."""
    ref_codec, ref = entropy_reference(data)
    rows = []
    choices = ([("stored", (), False)] + [(c.name.lower(), (c,), False) for c in COMPRESSED]
               + [("mix of rows", COMPRESSED, False), ("mix", COMPRESSED, True)])
    for label, codecs, columns in choices:
        plan = plan_upload(data, codecs=codecs, columns=columns)
        gas = plan_gas(plan)
        used = "+".join(sorted({c.codec.name.lower() + " cols" * c.columns for c in plan.chunks}))
        rows.append((f"{name}: {label}", f"{len(plan.chunks)}", used, f"{plan.payload_bytes:,}",
                     f"{gas * MIB / len(data) / 1e6:.2f}", f"{gas / (ref / 1024):,.0f}",
                     f"{_decode_ms_per_mib(plan):.1f}"))
        if label == "mix":
            record(f"upload of {name}", f"{len(plan.chunks)} inputs ({used}), {gas / 1e6:.1f} M gas")
    ideal = math.ceil(ref / max_data_bytes(plan.cid, len(data))) * 21_000 + 40 * ref
    rows.append((f"{name}: entropy ref ({ref_codec})", "", "", f"{ref:,}",
                 f"{ideal * MIB / len(data) / 1e6:.2f}", f"{ideal / (ref / 1024):,.0f}", ""))
    return rows


def _timing_row(name: str, data: bytes) -> tuple[str, ...]:
    """Planning time (median of ``RUNS``) and the plan's size for one file."""
    times, plan = [], None
    for _ in range(RUNS):
        began = time.perf_counter()
        plan = plan_upload(data)
        times.append(time.perf_counter() - began)
    raw_inputs = math.ceil(len(data) / max_data_bytes(plan.cid, len(data)))
    names = [k.codec.name.lower() + " cols" * k.columns for k in plan.chunks]
    codecs = ", ".join(f"{name} {names.count(name)}" for name in sorted(set(names)))
    return (name, f"{len(data):,}", f"{len(plan.chunks)}", f"{raw_inputs}", codecs,
            f"{plan.payload_bytes:,}", f"{statistics.median(times):.3f}")


def _best_ms(action: Callable[[], object], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        action()
        times.append((time.perf_counter() - began) * 1000)
    return min(times)


def column_layout_rows(data: bytes, chunk: int = 212_000) -> list[tuple[str, ...]]:
    """A chunk-sized slice of a CSV compressed as rows and as its column layout: ratio, and the
    machine's decode time (decompression, then the inverse of the layout), best of 5, native."""
    piece = data[:chunk]
    laid = rows_to_columns(piece)
    rows = [("slice of a 1 MiB numeric CSV", "ratio", "decompress ms", "inverse ms")]
    for codec in COMPRESSED:
        for label, body in (("rows", piece), ("columns", laid)):
            stream = encode(codec, body)
            decompress = _best_ms(lambda: decode(codec, stream, len(body)))
            inverse = f"{_best_ms(lambda: columns_to_rows(laid)):.1f}" if label == "columns" else ""
            rows.append((f"{len(piece):,} bytes, {codec.name.lower()}, {label}",
                         f"{len(piece) / len(stream):.3f}", f"{decompress:.1f}", inverse))
    return rows


def main() -> None:
    """Prints the codec table, the planning-time table and the column-layout measurement."""
    files = [
        ("numeric CSV", numeric_csv(MIB)),
        ("categorical CSV", categorical_csv(MIB)),
        ("sparse int CSV", sparse_csv(MIB)),
        ("random bytes", np.random.default_rng(7).bytes(MIB)),
    ]
    header = ("1 MiB file: codec", "inputs", "codecs used", "payload bytes", "M gas per MiB",
              "gas per ref KiB", "decode ms/MiB")
    print_table([header] + [row for name, data in files for row in codec_rows(name, data)])
    print()
    timing = [("1 MiB random bytes", np.random.default_rng(7).bytes(MIB)),
              ("1 MiB numeric CSV", numeric_csv(MIB)),
              ("8 MiB random bytes", np.random.default_rng(8).bytes(8 * MIB)),
              ("8 MiB numeric CSV", numeric_csv(8 * MIB))]
    header = ("file", "bytes", "inputs", "raw-only inputs", "chunks per codec", "payload bytes",
              f"plan s (median of {RUNS})")
    print_table([header] + [_timing_row(name, data) for name, data in timing])
    print()
    print_table(column_layout_rows(numeric_csv(MIB)))


if __name__ == "__main__":
    main()
