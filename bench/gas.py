"""Gas of every user transaction, from receipts on a real local node (anvil, the Cartesi v2.2.0
contracts, the real backend ``python -m dapp``), sent through the client library the CLI and the
console use (``mlmarket.client``), so the figures are what users pay.

Rows: plain deposits; deposit + ``createJob`` (ERC-20 approval + ``depositERC20Tokens`` carrying the
call); one ``uploadChunk`` per size class (random bytes, which do not deflate, and a numeric CSV,
which does); a submission, ``commitSubmission`` then ``revealSubmission`` (with and without a stake:
the staked commit is the ``execLayerData`` of the stake's deposit); ``reviewSubmission``;
``cancelJob``; ``withdraw``; ``executeOutput`` of an ERC-20 and of an Ether voucher. Every input must
be accepted but the one-step submissions: for comparison, the removed ``submit(jobId, modelCid,
dataCid)`` payload for the same CIDs is sent as raw bytes (and as a stake deposit's ``execLayerData``).
``InputBox.addInput`` and the portals cost the same whatever the machine later does with a payload,
so its gas is what a one-step submission cost; a second table sets the two side by side.
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

import eth_abi
from eth_hash.auto import keccak
from mlmarket.client import actions
from mlmarket.client.chain import ETHER, InputRequest
from mlmarket.client.market import Market, Sent
from mlmarket.client.upload import upload

from bench._summary import record
from bench._table import print_table
from bench.upload_size import numeric_csv
from dapp.codec.chunk_codecs import ChunkCodec
from dapp.codec.chunks import max_data_bytes, plan_upload
from dapp.codec.cid import cid_from_text, cid_of
from dapp.codec.commitment import submission_commitment
from dapp.domain.commands import JobSpec
from devnode.node import Node, NodeConfig

SPONSOR, CONTRIBUTOR = 1, 2
TOKEN_UNIT = 10**18
CHUNK_SIZES = (1024, 8 * 1024, 32 * 1024)
DEPOSIT = "depositEther (plain)"
COMMIT = "commitSubmission"
REVEAL = "revealSubmission (model + data CIDs; trains in the machine)"
ONE_STEP = "one-step submit, same CIDs (removed; old payload as raw bytes)"
STAKED_COMMIT = "deposit stake + commitSubmission (manual job)"
STAKED_REVEAL = "revealSubmission (manual job)"
STAKED_ONE_STEP = "deposit stake + one-step submit (removed; old payload)"
APPROVE = ": ERC-20 approve"
SPEC_UPLOAD = "uploadChunkCoded (a ~60-byte model spec)"
SPEC_REVEAL = "revealSubmission (the spec uploaded before)"
SPEC_INLINE = "revealSubmissionInline (the spec inside the reveal)"
ONE_STEP_SIGNATURE = "submit(uint256,bytes,bytes)"


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
            self.add(name + APPROVE, sent.ref.approval.gas_used)
        self.add(name, sent.ref.tx.gas_used, len(payload))


def one_step_payload(job: int, model_cid: bytes, data_cid: bytes) -> bytes:
    """The removed ``submit(uint256 jobId, bytes modelCid, bytes dataCid)`` call, encoded as it was."""
    return keccak(ONE_STEP_SIGNATURE.encode())[:4] + eth_abi.encode(["uint256", "bytes", "bytes"],
                                                                     [job, model_cid, data_cid])


def _send(market: Market, rows: Rows, name: str, request: InputRequest, *, check: bool = True) -> Sent:
    sent = market.send(request, check=check)
    rows.sent(name, sent, request.payload)
    return sent


def _submission_rows(market: Market, rows: Rows, jobs: tuple[int, int], token: str, cids: tuple[bytes, bytes]
                     ) -> tuple[int, list[str]]:
    """A committed submission (commit, then reveal) to the threshold job and a staked one to the
    manual job, then the one-step payloads for the same CIDs (``check`` off: the protocol dropped
    ``submit``; the base layer charges the same whatever the machine makes of it). Returns the staked
    submission's id and the node's verdicts on the one-step inputs."""
    threshold_job, manual_job = jobs
    rng = random.Random(4)
    for job, stake, commit_name, reveal_name in ((threshold_job, 0, COMMIT, REVEAL),
                                                 (manual_job, TOKEN_UNIT, STAKED_COMMIT, STAKED_REVEAL)):
        salt = rng.randbytes(32)
        commitment = submission_commitment(market.account, job, *cids, salt)
        _send(market, rows, commit_name, actions.commit_submission(job, commitment, stake=stake,
                                                                   token=token if stake else None))
        revealed = _send(market, rows, reveal_name, actions.reveal_submission(job, *cids, salt))
    staked = revealed.outcome.first("SubmissionReceived")["submissionId"]
    plain = _send(market, rows, ONE_STEP, actions.raw(one_step_payload(threshold_job, *cids)), check=False)
    staked_payload = one_step_payload(manual_job, *cids)
    deposit = _send(market, rows, STAKED_ONE_STEP, InputRequest(staked_payload, token, TOKEN_UNIT), check=False)
    return staked, [plain.outcome.status, deposit.outcome.status]


def comparison(gas: dict[str, int]) -> list[tuple[str, ...]]:
    """The table of a submission's base-layer gas, one-step against commit + reveal (approvals included)."""
    table = [("submission, same model + data CIDs", "one-step", "commit", "reveal", "commit + reveal",
              "extra")]
    for label, one, commit, reveal in (("no stake", ONE_STEP, COMMIT, REVEAL),
                                       ("stake (approve + deposit carrying the call)", STAKED_ONE_STEP,
                                        STAKED_COMMIT, STAKED_REVEAL)):
        single = gas[one] + gas.get(one + APPROVE, 0)
        first = gas[commit] + gas.get(commit + APPROVE, 0)
        both = first + gas[reveal]
        table.append((label, f"{single:,}", f"{first:,}", f"{gas[reveal]:,}", f"{both:,}",
                      f"{both - single:+,} ({both / single - 1:+.0%})"))
    return table


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
    assert chunk.length == full and chunk.codec is ChunkCodec.STORED
    rows.sent(f"uploadChunk, max payload ({full:,} random bytes, raw)", market.send(InputRequest(chunk.payload)),
              chunk.payload)
    csv = numeric_csv(1 << 20)
    chunk = plan_upload(csv).chunks[0]
    how = chunk.codec.name.lower() + " columns" * chunk.columns
    rows.sent(f"uploadChunk, max payload ({chunk.length:,} CSV bytes, {how})",
              market.send(InputRequest(chunk.payload)), chunk.payload)


def _inline_rows(market: Market, rows: Rows, job: int, train: bytes) -> None:
    """A one-file model spec submitted twice after its commit: uploaded in its own input then
    revealed, and carried by the reveal (``revealSubmissionInline``); two specs that differ by one
    parameter, so neither is stored before."""
    rng = random.Random(5)
    for max_iter, inline in ((150, False), (160, True)):
        spec = json.dumps({"estimator": "LogisticRegression", "params": {"max_iter": max_iter}}).encode()
        salt = rng.randbytes(32)
        _send(market, rows, COMMIT + (" (inline)" if inline else " (upload)"),
              actions.commit_submission(job, submission_commitment(market.account, job, cid_of(spec), train, salt)))
        if inline:
            _send(market, rows, SPEC_INLINE, actions.reveal_submission_inline(job, cid_of(spec), train, salt,
                                                                              model=spec))
            continue
        (chunk,) = plan_upload(spec).chunks
        _send(market, rows, SPEC_UPLOAD, actions.raw(chunk.payload))
        _send(market, rows, SPEC_REVEAL, actions.reveal_submission(job, cid_of(spec), train, salt))


def measure(state_dir: Path) -> tuple[Rows, list[str]]:
    """Runs every transaction on a fresh node; returns the table and the node's verdicts on the
    one-step submissions."""
    rows = Rows()
    node = Node(NodeConfig(state_dir=state_dir, port=0, anvil_port=0)).start()
    try:
        env = {"MLMARKET_DEVNODE_DIR": str(state_dir)}
        sponsor = Market.connect(account=SPONSOR, environ=env)
        contributor = Market.connect(account=CONTRIBUTOR, environ=env)
        token = sponsor.config.address("Token")

        def run(market: Market, name: str, request: InputRequest) -> Sent:
            return _send(market, rows, name, request)

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
        submission, verdicts = _submission_rows(contributor, rows, (threshold_job, manual_job), token,
                                                (cid_from_text(model), cid_from_text(train)))
        _inline_rows(contributor, rows, threshold_job, cid_from_text(train))
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
    return rows, verdicts


def main() -> None:
    """Prints the table of gas per user transaction and a submission's, one-step against commit + reveal."""
    with tempfile.TemporaryDirectory(prefix="gas-bench-") as tmp:
        rows, verdicts = measure(Path(tmp) / "node")
    print("gas per user transaction (receipts; local anvil, Cartesi v2.2.0 contracts, real backend)")
    print_table([("transaction", "gas used", "calldata payload bytes")] + rows.rows)
    gas = rows.gas
    print()
    print("a submission's base-layer gas: one-step submit (removed) against commit + reveal")
    print_table(comparison(gas))
    print(f"(the node's verdict on the one-step inputs: {', '.join(v.lower() for v in verdicts)}; "
          "the base layer charges the same either way)")
    uploaded, inline = gas[SPEC_UPLOAD] + gas[SPEC_REVEAL], gas[SPEC_INLINE]
    print(f"a one-file model spec after its commit: upload + reveal {uploaded:,} gas in 2 transactions, "
          f"inline reveal {inline:,} gas in 1 ({uploaded - inline:,} less)")
    record("gas: a model spec's upload + reveal -> inline reveal", f"{uploaded:,} -> {inline:,}")
    record(f"gas per user transaction, least – most ({len(gas)} transactions)",
           f"{min(gas.values()):,} – {max(gas.values()):,}")
    record(f"gas: {DEPOSIT}", f"{gas[DEPOSIT]:,}")
    for label, commit, reveal, one in (("submission", COMMIT, REVEAL, ONE_STEP),
                                       ("staked submission", STAKED_COMMIT, STAKED_REVEAL, STAKED_ONE_STEP)):
        extra = gas.get(commit + APPROVE, 0)
        record(f"gas: {label}, commit + reveal{' (with the approve)' if extra else ''}",
               f"{gas[commit] + extra + gas[reveal]:,} (one-step: {gas[one] + gas.get(one + APPROVE, 0):,})")

if __name__ == "__main__":
    main()
