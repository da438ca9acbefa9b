"""Gas of every user transaction, from receipts on a real local node (anvil, the Cartesi v2.2.0
contracts, the real backend ``python -m dapp``), sent through the client library the CLI and the
console use (``mlmarket.client``), so the figures are what users pay.

Rows: plain deposits; deposit + ``createJob`` (ERC-20 approval + ``depositERC20Tokens`` carrying the
call); one ``uploadChunk`` per size class (random bytes, which do not deflate, and a numeric CSV,
which does); ``submit`` (with and without a stake deposit); ``reviewSubmission``; ``cancelJob``;
``withdraw``; ``executeOutput`` of an ERC-20 and of an Ether voucher. Every input must be accepted.
Gas depends on storage already written: the application's first deposit of a token (and the first
executed output of each group of 256, whose bit in ``wasOutputExecuted`` is a fresh storage word)
pays for a fresh storage slot, so those are measured apart and the other rows come after them.
Calldata is the transaction's ``data`` (what the gas of an input mostly pays for: 16 gas per
non-zero byte, 4 per zero byte, before the InputBox's own storage of the input).

Run: ``.venv/bin/python -m bench.gas``.
"""

from __future__ import annotations

import json
import random
import tempfile
from dataclasses import replace
from pathlib import Path

from mlmarket.client import actions
from mlmarket.client.chain import ETHER, InputRequest
from mlmarket.client.market import Market, Sent
from mlmarket.client.upload import upload

from bench._summary import record
from bench._table import print_table
from bench.upload_size import numeric_csv
from dapp.codec.chunks import max_data_bytes, plan_upload
from dapp.codec.cid import cid_from_text, cid_of
from dapp.domain.commands import JobSpec
from devnode.node import Node, NodeConfig

SPONSOR, CONTRIBUTOR = 1, 2
TOKEN_UNIT = 10**18
CHUNK_SIZES = (1024, 8 * 1024, 32 * 1024)
DEPOSIT = "depositEther (plain)"
SUBMIT = "submit (model + data CIDs; trains in the machine)"


def _spec(market: Market, validation: str, policy: str, **extra: int) -> JobSpec:
    return JobSpec(title="gas", policy=policy, task="classification", label="label", metric="accuracy",
                   validation_cid=cid_from_text(validation), base_model_cid=b"", min_score=0, min_gain=0,
                   reward_per_accept=TOKEN_UNIT, deadline=market.now() + 3600, accept_by_default=False,
                   test_commitment=bytes(32), reveal_window=0, rounds=0, round_quota=0, round_duration=0,
                   tolerance=0, stake=0, max_submissions=0, gated=False, **extra)


def _data(rows: int, seed: int) -> bytes:
    rng = random.Random(seed)
    lines = ["a,b,label"]
    for _ in range(rows):
        a, b = rng.uniform(-1, 1), rng.uniform(-1, 1)
        lines.append(f"{a:.4f},{b:.4f},{int(a + b > 0)}")
    return ("\n".join(lines) + "\n").encode()


class Rows:
    """The table: (transaction, gas, calldata bytes); and the gas of each transaction by name."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str]] = []
        self.gas: dict[str, int] = {}

    def add(self, name: str, gas: int, calldata: int | None = None) -> None:
        self.rows.append((name, f"{gas:,}", "" if calldata is None else f"{calldata:,}"))
        self.gas[name] = gas

    def sent(self, name: str, sent: Sent, payload: bytes) -> None:
        """Rows for an input: its approval (if one was needed) and the input transaction."""
        if sent.ref.approval is not None:
            self.add(f"{name}: ERC-20 approve", sent.ref.approval.gas_used)
        self.add(name, sent.ref.tx.gas_used, len(payload))


def _chunk_rows(market: Market, rows: Rows) -> None:
    rng = random.Random(1)
    for size in CHUNK_SIZES:
        data = rng.randbytes(size)
        (chunk,) = plan_upload(data).chunks
        rows.sent(f"uploadChunk, {size // 1024} KiB random bytes (raw)", market.send(InputRequest(chunk.payload)),
                  chunk.payload)
    big = rng.randbytes(1 << 20)
    full = max_data_bytes(cid_of(big), len(big))
    chunk = plan_upload(big).chunks[0]
    assert chunk.length == full and not chunk.deflated
    rows.sent(f"uploadChunk, max payload ({full:,} random bytes, raw)", market.send(InputRequest(chunk.payload)),
              chunk.payload)
    csv = numeric_csv(1 << 20)
    chunk = plan_upload(csv).chunks[0]
    rows.sent(f"uploadChunk, max payload ({chunk.length:,} CSV bytes, deflated)",
              market.send(InputRequest(chunk.payload)), chunk.payload)


def measure(state_dir: Path) -> Rows:
    """Runs every transaction on a fresh node and returns the table."""
    rows = Rows()
    node = Node(NodeConfig(state_dir=state_dir, port=0, anvil_port=0)).start()
    try:
        env = {"MLMARKET_DEVNODE_DIR": str(state_dir)}
        sponsor = Market.connect(account=SPONSOR, environ=env)
        contributor = Market.connect(account=CONTRIBUTOR, environ=env)
        token = sponsor.config.address("Token")

        def run(market: Market, name: str, request: InputRequest) -> Sent:
            sent = market.send(request)
            rows.sent(name, sent, request.payload)
            return sent

        run(sponsor, "depositEther, the application's first", actions.deposit(ETHER, TOKEN_UNIT))
        run(sponsor, "depositERC20Tokens, the application's first of the token", actions.deposit(token, TOKEN_UNIT))
        run(sponsor, DEPOSIT, actions.deposit(ETHER, TOKEN_UNIT))
        run(sponsor, "depositERC20Tokens (plain)", actions.deposit(token, 10 * TOKEN_UNIT))
        validation = upload(sponsor, _data(100, 2)).cid
        spec = _spec(sponsor, validation, "threshold")
        threshold = run(sponsor, "deposit + createJob (threshold)", actions.create_job(spec, token, 5 * TOKEN_UNIT))
        threshold_job = threshold.outcome.first("JobCreated")["jobId"]
        run(sponsor, "createJob from the dApp balance", actions.create_job(
            replace(spec, title="from balance"), token, TOKEN_UNIT, from_balance=True))
        manual = run(sponsor, "deposit + createJob (manual, stake 1)", actions.create_job(
            replace(_spec(sponsor, validation, "manual"), stake=TOKEN_UNIT), token, 5 * TOKEN_UNIT))
        manual_job = manual.outcome.first("JobCreated")["jobId"]
        _chunk_rows(contributor, rows)

        model = upload(contributor, json.dumps({"estimator": "LogisticRegression"}).encode()).cid
        train = upload(contributor, _data(300, 3)).cid
        run(contributor, SUBMIT, actions.submit(threshold_job, cid_from_text(model), cid_from_text(train)))
        staked = run(contributor, "deposit stake + submit (manual job)",
                     actions.submit(manual_job, cid_from_text(model), cid_from_text(train), stake=TOKEN_UNIT, token=token))
        submission = staked.outcome.first("SubmissionReceived")["submissionId"]
        run(sponsor, "reviewSubmission", actions.review(manual_job, submission, True))
        run(sponsor, "cancelJob", actions.cancel(threshold_job))
        first = run(sponsor, "withdraw (Ether), to be executed first", actions.withdraw(ETHER, TOKEN_UNIT // 4))
        erc20 = run(sponsor, "withdraw (ERC-20)", actions.withdraw(token, TOKEN_UNIT // 2))
        ether = run(sponsor, "withdraw (Ether)", actions.withdraw(ETHER, TOKEN_UNIT // 4))
        for name, sent, market in (("Ether voucher, first executed of the app", first, sponsor),
                                   ("ERC-20 transfer voucher", erc20, contributor), ("Ether voucher", ether, contributor)):
            (voucher,) = sent.outcome.vouchers
            _, tx = market.execute(voucher.index)
            rows.add(f"executeOutput ({name})", tx.gas_used)
        assert node.failure is None
    finally:
        node.stop()
    return rows


def main() -> None:
    """Prints the table of gas per user transaction."""
    with tempfile.TemporaryDirectory(prefix="gas-bench-") as tmp:
        rows = measure(Path(tmp) / "node")
    print("gas per user transaction (receipts; local anvil, Cartesi v2.2.0 contracts, real backend)")
    print_table([("transaction", "gas used", "calldata payload bytes")] + rows.rows)
    gas = rows.gas
    record(f"gas per user transaction, least – most ({len(gas)} transactions)",
           f"{min(gas.values()):,} – {max(gas.values()):,}")
    for name in (DEPOSIT, SUBMIT):
        record(f"gas: {name}", f"{gas[name]:,}")


if __name__ == "__main__":
    main()
