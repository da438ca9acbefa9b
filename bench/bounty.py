"""The base-layer gas of a whole bounty, as users pay it, beside ModelMarket's.

A ``best`` job with three trainers, run end to end on a fresh local node (anvil, the Cartesi v2.2.0
contracts, the real backend) through the client library the CLI and the console use: the sponsor
uploads a validation CSV and creates the job (approve + deposit carrying ``createJob``); each trainer
commits, uploads its training CSV and reveals (its ~60-byte model spec travels inside the reveal);
after the deadline ``settleJob`` pays the best. The staked variants add a stake per submission: each
trainer's commit is an ERC-20 deposit carrying the commit (with its approve).

Where the reward and the returned stakes go (docs/PROTOCOL.md §4.3), both ways: by default they are
credited to each trainer's dApp balance, and each trainer with a balance sends one ``withdraw`` of all
of it at the end and executes that one voucher; with the job's ``payoutVouchers`` each reward and
returned stake is a voucher at once, and each trainer executes every voucher paying it (one per stake,
and the winner's reward). The last rows run three staked bounties in a row with the same sponsor and
trainers: a trainer deposits (and approves) only the part of a stake its dApp balance lacks, as
``mlmarket submit`` does, so a stake credited back pays the next commit.

Every transaction the sponsor and the trainers sent is read back from the chain (receipts between the
first and last block) and counted by kind: content uploads, other inputs and deposits, ERC-20
approvals, voucher executions. ModelMarket's 3-trainer bounty cost 6,718,390 gas (measured for issue 17
on 2026-12-03, its contracts on a local chain); its datasets live on IPFS, not on chain.

Run: ``.venv/bin/python -m bench.bounty``.
"""

from __future__ import annotations

import json
import random
import tempfile
from collections import Counter
from pathlib import Path

import eth_abi
from mlmarket.client import actions
from mlmarket.client import submission_flow as flow
from mlmarket.client.market import Market
from mlmarket.client.submission_state import StateStore
from mlmarket.client.upload import upload
from web3 import Web3

from bench._summary import record
from bench._table import print_table
from dapp.codec import abi
from dapp.codec.cid import cid_from_text
from dapp.domain.commands import JobSpec
from devnode.chain import increase_time, mine
from devnode.node import Node, NodeConfig

MODELMARKET_GAS = 6_718_390
SPONSOR, TRAINERS = 1, (2, 3, 4)
UNIT = 10**18
DEADLINE = 600
CONTENT = ("uploadChunk", "uploadChunkCoded")
KINDS = ("content uploads", "other inputs and deposits", "withdrawals", "ERC-20 approvals", "voucher executions")


def _csv(rows: int, seed: int) -> bytes:
    """A numeric classification CSV (four features, label from a noisy linear rule)."""
    rng = random.Random(seed)
    lines = ["a,b,c,d,label"]
    for _ in range(rows):
        x = [rng.uniform(-1, 1) for _ in range(4)]
        lines.append(",".join(f"{v:.4f}" for v in x) + f",{int(x[0] + 0.5 * x[1] - x[2] + rng.gauss(0, 0.3) > 0)}")
    return ("\n".join(lines) + "\n").encode()


def _spec(market: Market, validation: str, stake: int, vouchers: bool) -> JobSpec:
    return JobSpec(title="bounty", policy="best", task="classification", label="label", metric="accuracy",
                   validation_cid=cid_from_text(validation), base_model_cid=b"", min_score=0, min_gain=0,
                   reward_per_accept=0, deadline=market.now() + DEADLINE, accept_by_default=False,
                   test_commitment=bytes(32), reveal_window=0, rounds=0, round_quota=0, round_duration=0,
                   tolerance=0, stake=stake, max_submissions=0, gated=False, payout_vouchers=vouchers)


def _kind(tx: dict, addresses: dict[str, str]) -> str:
    """Which of ``KINDS`` a user transaction is."""
    to = Web3.to_checksum_address(tx["to"])
    data = bytes(tx["input"])
    if to == addresses["Token"]:
        return "ERC-20 approvals"
    if to == addresses["Application"]:
        return "voucher executions"
    if to == addresses["InputBox"]:  # addInput(address appContract, bytes payload)
        _, payload = eth_abi.decode(["address", "bytes"], data[4:])
        name = abi.inputs().decode(payload)[0].name
        return "content uploads" if name in CONTENT else "withdrawals" if name == "withdraw" else \
            "other inputs and deposits"
    return "other inputs and deposits"


def _gas_by_kind(w3: Web3, first: int, last: int, senders: set[str], addresses: dict[str, str]) -> Counter:
    """Gas used by ``senders``' transactions in blocks ``first..last``, by kind."""
    totals: Counter = Counter()
    for number in range(first, last + 1):
        for tx in w3.eth.get_block(number, full_transactions=True)["transactions"]:
            if tx["from"] in senders:
                totals[_kind(tx, addresses)] += w3.eth.get_transaction_receipt(tx["hash"])["gasUsed"]
    return totals


def bounty(state_dir: Path, stake: int, vouchers: bool, jobs: int = 1) -> Counter:
    """Runs ``jobs`` bounties in a row on a fresh node (``vouchers``: each pays by voucher at once, else
    to the trainers' dApp balances, each taken out with one withdraw at the end); their gas by kind."""
    node = Node(NodeConfig(state_dir=state_dir, port=0, anvil_port=0)).start()
    try:
        env = {"MLMARKET_DEVNODE_DIR": str(state_dir)}
        sponsor = Market.connect(account=SPONSOR, environ=env)
        trainers = [Market.connect(account=n, environ=env) for n in TRAINERS]
        addresses = {k: Web3.to_checksum_address(v) for k, v in sponsor.config.addresses.items()}
        token = addresses["Token"]
        w3 = sponsor.chain.w3
        first = w3.eth.block_number + 1
        for round_ in range(jobs):
            validation = upload(sponsor, _csv(1500, 1 + round_)).cid
            spec = _spec(sponsor, validation, stake, vouchers)
            job = sponsor.send(actions.create_job(spec, token, 30 * UNIT)).outcome.first("JobCreated")["jobId"]
            for n, (trainer, max_iter) in enumerate(zip(trainers, (50, 100, 200))):
                model = json.dumps({"estimator": "LogisticRegression", "params": {"max_iter": max_iter}}).encode()
                store = StateStore(state_dir / f"submissions-{n}")
                deposit, _ = flow.stake_shortfall(trainer, job)  # what the dApp balance lacks of the stake
                flow.submit_bytes(trainer, store, job, model=model, data=_csv(900, 10 + n + 100 * round_),
                                  stake=deposit, token=token if deposit else None)
            increase_time(w3, DEADLINE + 1)
            mine(w3)
            sponsor.send(actions.settle(job))
        for trainer in trainers:  # the reward, and with stakes each trainer's returned stake
            free = int(trainer.query(f"balances/{trainer.account.lower()}")["balances"].get(token.lower(), 0))
            if free:  # credited to the dApp balance: all of it in one withdraw
                trainer.send(actions.withdraw(token, free))
            for voucher in trainer.pending_vouchers(trainer.account):
                trainer.execute(voucher.index)
        senders = {Web3.to_checksum_address(m.account) for m in (sponsor, *trainers)}
        assert node.failure is None
        return _gas_by_kind(w3, first, w3.eth.block_number, senders, addresses)
    finally:
        node.stop()


def main() -> None:
    """Prints the bounty's gas by kind, without and with stakes, beside ModelMarket's."""
    table = [("3 trainers", *KINDS, "total", "without content", "per bounty (without content)", "/ ModelMarket")]
    runs = (("1 bounty, no stake, to the balance + 1 withdraw", 0, False, 1),
            ("1 bounty, no stake, vouchers at once", 0, True, 1),
            ("1 bounty, stake 1 token each, to the balance + 1 withdraw each", UNIT, False, 1),
            ("1 bounty, stake 1 token each, vouchers at once", UNIT, True, 1),
            ("3 bounties, stake 1 token each, to the balance + 1 withdraw each", UNIT, False, 3),
            ("3 bounties, stake 1 token each, vouchers at once", UNIT, True, 3))
    for label, stake, vouchers, jobs in runs:
        with tempfile.TemporaryDirectory(prefix="bounty-bench-") as tmp:
            gas = bounty(Path(tmp) / "node", stake, vouchers, jobs)
        total = sum(gas.values())
        bare = total - gas["content uploads"]
        table.append((label, *(f"{gas[k]:,}" for k in KINDS), f"{total:,}", f"{bare:,}",
                      f"{total // jobs:,} ({bare // jobs:,})", f"{total / jobs / MODELMARKET_GAS:.2f}"))
        record(f"gas: {label}, 3 trainers (without content)", f"{total:,} ({bare:,})")
    table.append(("ModelMarket (issue 17, 2026-12-03), 1 bounty", *[""] * len(KINDS), f"{MODELMARKET_GAS:,}", "",
                  "", "1.00"))
    print_table(table)


if __name__ == "__main__":
    main()
