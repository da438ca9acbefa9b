"""A burst of inputs through a local node, and the checks that nothing was lost.

``plan_burst(w3, deployment, count, seed)`` signs ``count`` transactions ahead of time, spread over
``ACCOUNTS`` dev accounts with explicit nonces: Ether and ERC-20 portal deposits, withdrawals of
what the account holds, one-chunk uploads of random bytes and a few overdrawing withdrawals (which
must be rejected). Each ``Planned`` input knows the payload the InputBox must record and the
outputs the backend must emit, computed here from the protocol's definitions (the event signatures
of ``contracts/src/IMLMarket.sol``, the portal layouts and CIDv1-raw of CARTESI-FACTS), not from the
backend's code. ``send_burst`` sends them as fast as it can, one thread per account, and makes sure
every one is mined (``flush_pool``: under load anvil can lose a transaction, which is sent again, and
its automine can strand some in the pool, which are mined by hand);
``check_burst`` reads the node's reader API (``ReaderClient``) and asserts every input is there, in
order, with the expected status and exactly the expected outputs. ERC-20 approvals are sent by
``plan_burst`` beforehand (they are not inputs). ``run_burst(node, count, seed)`` does all of it on an
in-process ``Node`` (the burst test and ``bench.load_burst``); the kill series sends in batches itself.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import eth_abi
from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak
from mlmarket.client.reader import ReaderClient
from web3 import Web3

from dapp.codec.chunks import plan_upload
from devnode.anvil import dev_accounts
from devnode.contracts import contract_at
from devnode.deploy import Deployment
from devnode.node import Node
from mlmarket.client.sessions import session_for
from mlmarket.client.tx import send, web3_for
from tests.e2e.devnode_harness import wait_for

ACCOUNTS = 4
ETHER = "0x" + "00" * 20
GAS = 500_000  # declared gas per transaction; each uses less than 150,000


def _selector(signature: str) -> bytes:
    return keccak(signature.encode())[:4]


NOTICE, VOUCHER = _selector("Notice(bytes)"), _selector("Voucher(address,uint256,bytes)")
DEPOSITED, WITHDRAWN = _selector("Deposited(address,address,uint256)"), _selector("Withdrawn(address,address,uint256)")
CONTENT_STORED = _selector("ContentStored(bytes,uint64,address)")
WITHDRAW, TRANSFER = _selector("withdraw(address,uint256)"), _selector("transfer(address,uint256)")


def notice(selector: bytes, types: list[str], args: list[Any]) -> bytes:
    """The on-chain bytes of a notice whose payload is ``selector ‖ abi.encode(args)``."""
    return NOTICE + eth_abi.encode(["bytes"], [selector + eth_abi.encode(types, args)])


def voucher(destination: str, value: int, payload: bytes) -> bytes:
    """The on-chain bytes of a voucher."""
    return VOUCHER + eth_abi.encode(["address", "uint256", "bytes"], [destination, value, payload])


def raw_cid(data: bytes) -> bytes:
    """CIDv1, raw codec, sha2-256 (files of one IPFS chunk)."""
    return bytes.fromhex("01551220") + hashlib.sha256(data).digest()


@dataclass(frozen=True)
class Planned:
    """One signed input transaction, what the InputBox must record and what the node must answer."""

    kind: str
    sender: str
    nonce: int
    raw_tx: bytes
    tx_hash: str
    msg_sender: str
    payload: bytes
    status: str
    outputs: tuple[bytes, ...]


@dataclass
class _Account:
    signer: LocalAccount
    nonce: int
    balances: dict[str, int] = field(default_factory=lambda: {"ether": 0, "token": 0})


class _Planner:
    def __init__(self, w3: Web3, deployment: Deployment, seed: int) -> None:
        self.rng, self.d = random.Random(seed), deployment
        self.box = contract_at(w3, "InputBox", deployment.input_box)
        self.ether = contract_at(w3, "EtherPortal", deployment.ether_portal)
        self.erc20 = contract_at(w3, "ERC20Portal", deployment.erc20_portal)
        self.chain_id, self.gas_price = w3.eth.chain_id, 2 * w3.eth.gas_price
        self.token = Web3.to_checksum_address(deployment.token)

    def sign(self, account: _Account, kind: str, to: Any, data: str, value: int, msg_sender: str, payload: bytes,
             status: str, outputs: list[bytes]) -> Planned:
        tx = {"to": to.address, "data": data, "value": value, "gas": GAS, "gasPrice": self.gas_price,
              "nonce": account.nonce, "chainId": self.chain_id}
        signed = account.signer.sign_transaction(tx)
        account.nonce += 1
        return Planned(kind, account.signer.address, tx["nonce"], bytes(signed.raw_transaction),
                       "0x" + bytes(signed.hash).hex(), msg_sender.lower(), payload, status, tuple(outputs))

    def add_input(self, account: _Account, kind: str, payload: bytes, status: str, outputs: list[bytes]) -> Planned:
        data = self.box.encode_abi("addInput", args=[self.d.application, payload])
        return self.sign(account, kind, self.box, data, 0, account.signer.address, payload, status, outputs)

    def next(self, account: _Account, kind: str) -> Planned:
        r, me = self.rng, account.signer.address
        if kind == "ether":
            amount = r.randrange(1, 10**15)
            account.balances["ether"] += amount
            return self.sign(account, kind, self.ether, self.ether.encode_abi("depositEther", args=[self.d.application, b""]),
                             amount, self.d.ether_portal, bytes.fromhex(me[2:]) + amount.to_bytes(32, "big"), "ACCEPTED",
                             [notice(DEPOSITED, ["address", "address", "uint256"], [ETHER, me, amount])])
        if kind == "erc20":
            amount = r.randrange(1, 10**18)
            account.balances["token"] += amount
            data = self.erc20.encode_abi("depositERC20Tokens", args=[self.token, self.d.application, amount, b""])
            payload = bytes.fromhex(self.token[2:] + me[2:]) + amount.to_bytes(32, "big")
            return self.sign(account, kind, self.erc20, data, 0, self.d.erc20_portal, payload, "ACCEPTED",
                             [notice(DEPOSITED, ["address", "address", "uint256"], [self.token, me, amount])])
        if kind == "upload":
            content = r.randbytes(r.randrange(64, 2048))
            (chunk,) = plan_upload(content).chunks
            stored = notice(CONTENT_STORED, ["bytes", "uint64", "address"], [raw_cid(content), len(content), me])
            return self.add_input(account, kind, chunk.payload, "ACCEPTED", [stored])
        which = r.choice(["ether", "token"])
        token = ETHER if which == "ether" else self.token
        held = account.balances[which]
        if kind == "overdraw":
            payload = WITHDRAW + eth_abi.encode(["address", "uint256"], [token, held + 1])
            return self.add_input(account, kind, payload, "REJECTED", [])
        amount = r.randrange(1, held + 1)
        account.balances[which] -= amount
        payload = WITHDRAW + eth_abi.encode(["address", "uint256"], [token, amount])
        paid = (voucher(me, amount, b"") if which == "ether"
                else voucher(self.token, 0, TRANSFER + eth_abi.encode(["address", "uint256"], [me, amount])))
        return self.add_input(account, kind, payload, "ACCEPTED",
                              [notice(WITHDRAWN, ["address", "address", "uint256"], [token, me, amount]), paid])


def plan_burst(w3: Web3, deployment: Deployment, count: int, seed: int = 0) -> list[Planned]:
    """``count`` signed inputs over ``ACCOUNTS`` accounts (dev accounts 1..), in the order they will be
    sent per account; approves the ERC20Portal for each account first (module docstring)."""
    planner = _Planner(w3, deployment, seed)
    accounts = []
    for signer in dev_accounts(ACCOUNTS + 1)[1:]:
        token = contract_at(w3, "TestToken", deployment.token)
        send(w3, signer, token.functions.approve(deployment.erc20_portal, 2**256 - 1))
        accounts.append(_Account(signer, w3.eth.get_transaction_count(signer.address, "pending")))
    planned = []
    for n in range(count):
        account = accounts[n % ACCOUNTS]
        turn = n // ACCOUNTS
        if turn < 2:
            kind = ("ether", "erc20")[turn]
        else:
            kind = planner.rng.choices(["ether", "erc20", "withdraw", "upload", "overdraw"], [25, 25, 25, 20, 5])[0]
        planned.append(planner.next(account, kind))
    return planned


MAX_RESENDS = 5  # per transaction; a transaction anvil refuses or loses this often is a failure
LOOK_SECONDS = 0.5  # between two looks at anvil's pool


def _rpc(rpc_url: str) -> Callable[..., dict[str, Any]]:
    """``call(method, *params)`` -> the whole JSON-RPC answer (``result`` or ``error``), over one session."""
    session = session_for(rpc_url)

    def call(method: str, *params: Any) -> dict[str, Any]:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        return session.post(rpc_url, json=body, timeout=60).json()

    return call


def _send_raw(call: Callable[..., dict[str, Any]], item: Planned) -> str | None:
    """Sends ``item``'s signed bytes; ``None`` when anvil took it, else what anvil answered."""
    answer = call("eth_sendRawTransaction", "0x" + item.raw_tx.hex())
    return None if answer.get("result") == item.tx_hash else str(answer.get("error", answer))


def send_all(rpc_url: str, planned: list[Planned]) -> dict[str, str]:
    """Sends every planned transaction, one thread per sender in nonce order; returns what anvil answered
    to those it did not take, by transaction hash (``flush_pool`` sends them again)."""
    by_sender: dict[str, list[Planned]] = {}
    for item in planned:
        by_sender.setdefault(item.sender, []).append(item)

    def send(items: list[Planned]) -> dict[str, str]:
        call = _rpc(rpc_url)
        answers = {item.tx_hash: _send_raw(call, item) for item in items}
        return {tx_hash: answer for tx_hash, answer in answers.items() if answer is not None}

    with ThreadPoolExecutor(max_workers=len(by_sender)) as pool:
        return {k: v for refused in pool.map(send, by_sender.values()) for k, v in refused.items()}


@dataclass(frozen=True)
class Flush:
    """What ``flush_pool`` had to do: blocks mined by hand, transactions sent again."""

    mined: int
    resent: int


@dataclass(frozen=True)
class _Look:
    """One look at anvil: each sender's count of mined transactions (its "latest" nonce) and the
    pool's transactions, ``(sender, nonce) -> (hash, "pending" | "queued")`` (senders in lower case)."""

    latest: dict[str, int]
    pool: dict[tuple[str, int], tuple[str, str]]

    def mined(self, item: Planned) -> bool:
        return item.nonce < self.latest[item.sender.lower()]

    def pooled(self, item: Planned) -> str | None:
        """``"pending"`` or ``"queued"`` when anvil's pool holds this very transaction, else ``None``."""
        tx_hash, where = self.pool.get((item.sender.lower(), item.nonce), ("", ""))
        return where if tx_hash.lower() == item.tx_hash.lower() else None

    def pending(self) -> int:
        """How many transactions the pool holds ready to be mined (anyone's)."""
        return sum(where == "pending" for _, where in self.pool.values())


def _look(call: Callable[..., dict[str, Any]], senders: set[str]) -> _Look:
    """Reads the pool first, then the nonces: a transaction that leaves the pool in between is counted mined."""
    content = call("txpool_content")["result"]
    pool = {(sender.lower(), int(nonce)): (tx["hash"], where)
            for where in ("pending", "queued") for sender, txs in content[where].items() for nonce, tx in txs.items()}
    latest = {s: int(call("eth_getTransactionCount", s, "latest")["result"], 16) for s in senders}
    return _Look(latest, pool)


def flush_pool(rpc_url: str, planned: list[Planned], refused: dict[str, str] | None = None, *,
               timeout: float = 60.0, resends: int = MAX_RESENDS) -> Flush:
    """Makes sure every planned transaction is mined, and anvil's pool holds nothing pending.

    Every ``LOOK_SECONDS`` it compares each sender's mined nonce with the nonces sent. A transaction
    neither mined nor in anvil's pool at two looks in a row (or ``refused`` when first sent), or held
    as queued at two looks although its nonce is the account's next one (an anvil restarted from its
    state did so; then all of that sender's unmined ones leave the pool and are sent in nonce order),
    is sent again, the same signed bytes: its nonce cannot be mined twice. Under load anvil has lost one
    transaction of a sender that sends many in a row, and every later nonce then sat queued forever.
    When the pool still holds pending transactions at a look, one block is mined by hand
    (``evm_mine``): anvil's automine can leave ready transactions pending when many arrive at once
    (foundry-rs/foundry issue 10122), and a node transaction stranded with them (an epoch claim) holds
    the node's loop. AssertionError naming what is still missing when a transaction was sent
    ``resends`` times again, or after ``timeout`` seconds."""
    call, senders = _rpc(rpc_url), {p.sender.lower() for p in planned}
    answers, sent = dict(refused or {}), Counter[str]()  # sent: times each was sent again
    absent, mined, deadline = set(answers), 0, time.monotonic() + timeout
    while True:
        look = _look(call, senders)
        unmined = [p for p in planned if not look.mined(p)]
        if not unmined and not look.pending():
            return Flush(mined, sum(sent.values()))
        lost = {p.tx_hash for p in unmined if look.pooled(p) is None}
        # queued although its nonce is the account's next one: seen in an anvil restarted from its state
        stuck = {p.tx_hash for p in unmined
                 if look.pooled(p) == "queued" and p.nonce == look.latest[p.sender.lower()]}
        stuck_senders = {p.sender for p in unmined if p.tx_hash in stuck & absent}
        for sender in stuck_senders:  # anvil drops no queued transaction alone: all of the sender's go
            call("anvil_removePoolTransactions", sender)
        for item in unmined:
            if item.tx_hash in lost & absent or item.sender in stuck_senders:
                assert sent[item.tx_hash] < resends, _missing(call, look, unmined, answers, sent, mined,
                                                              f"gave up after sending a transaction {resends} times again")
                sent[item.tx_hash] += 1
                answers[item.tx_hash] = _send_raw(call, item) or "took it (lost since)"
        absent = lost | stuck
        assert time.monotonic() < deadline, _missing(call, look, unmined, answers, sent, mined,
                                                     f"still not mined after {timeout} s")
        time.sleep(LOOK_SECONDS)
        if int(call("txpool_status")["result"]["pending"], 16):
            call("evm_mine")
            mined += 1


def _missing(call: Callable[..., dict[str, Any]], look: _Look, unmined: list[Planned], answers: dict[str, str],
             sent: Counter[str], mined: int, why: str) -> str:
    """The failure message of ``flush_pool``: for each sender, its nonces, and where each unmined
    transaction is (pending or queued in the pool, or lost: how often sent again, anvil's last answer)."""
    status = {k: int(v, 16) for k, v in call("txpool_status")["result"].items()}
    senders = []
    for sender in sorted({p.sender for p in unmined}):
        items = [p for p in unmined if p.sender == sender]
        pending = int(call("eth_getTransactionCount", sender, "pending")["result"], 16)
        parts = [f"{sender} (account at nonce {look.latest[sender.lower()]}, {pending} with its pending ones; "
                 f"last transaction sent nonce {items[-1].nonce})"]
        for where in ("pending", "queued"):
            nonces = [p.nonce for p in items if look.pooled(p) == where]
            if nonces:
                parts.append(f"{len(nonces)} {where} in the pool (nonces {nonces[0]}..{nonces[-1]})")
        parts += [f"nonce {p.nonce} neither mined nor in the pool "
                  f"({'known' if call('eth_getTransactionByHash', p.tx_hash).get('result') else 'unknown'} to anvil, "
                  f"sent again {sent[p.tx_hash]} times, anvil's last answer: {answers.get(p.tx_hash, 'took it (lost since)')})"
                  for p in items if look.pooled(p) is None]
        senders.append("; ".join(parts))
    return (f"burst transactions {why} (pool: pending {status['pending']}, queued {status['queued']}; "
            f"{mined} blocks mined by hand, {sum(sent.values())} transactions sent again): "
            + (" | ".join(senders) or "all planned ones mined, but the pool still holds pending transactions"))


def send_burst(rpc_url: str, planned: list[Planned]) -> tuple[float, int, int]:
    """Sends every planned transaction, one thread per sender in nonce order (automine: each is mined
    as it is sent), then ``flush_pool``; returns the seconds the sending took, the blocks mined by
    hand and the transactions sent again."""
    began = time.perf_counter()
    refused = send_all(rpc_url, planned)
    sending = time.perf_counter() - began
    flush = flush_pool(rpc_url, planned, refused)
    return sending, flush.mined, flush.resent


def check_burst(reader: ReaderClient, planned: list[Planned],
                first_index: int = 0) -> tuple[Counter[str], list[dict[str, Any]]]:
    """Asserts the node holds exactly the planned inputs from ``first_index`` on, each once, in an order
    that keeps every sender's nonce order, with the planned status and outputs (and nothing else).
    Returns the count of outputs by kind (notices, vouchers) and the node's records of those inputs."""
    inputs = [i for i in reader.list_inputs() if int(i["index"], 16) >= first_index]
    assert [int(i["index"], 16) for i in inputs] == list(range(first_index, first_index + len(planned))), "indices"
    by_hash = {p.tx_hash: p for p in planned}
    assert len(by_hash) == len(planned)
    seen = [by_hash[i["transaction_reference"]] for i in inputs]
    assert len({p.tx_hash for p in seen}) == len(planned), "an input is missing or repeated"
    blocks = [int(i["block_number"], 16) for i in inputs]
    assert blocks == sorted(blocks), "inputs are not in block order"
    for sender in {p.sender for p in planned}:
        nonces = [p.nonce for p in seen if p.sender == sender]
        assert nonces == sorted(nonces), f"inputs of {sender} are out of nonce order"
    outputs: dict[int, list[bytes]] = {}
    for output in reader.list_outputs():
        outputs.setdefault(int(output["input_index"], 16), []).append(bytes.fromhex(output["raw_data"][2:]))
    kinds: Counter[str] = Counter()
    for record, plan in zip(inputs, seen):
        index, decoded = int(record["index"], 16), record["decoded_data"]
        assert decoded["sender"].lower() == plan.msg_sender and decoded["payload"] == "0x" + plan.payload.hex(), index
        assert record["status"] == plan.status, (index, plan.kind, record["status"])
        assert outputs.get(index, []) == list(plan.outputs), (index, plan.kind)
        kinds.update("notice" if o[:4] == NOTICE else "voucher" for o in plan.outputs)
    return kinds, inputs


def wait_processed(reader: ReaderClient, count: int, timeout: float) -> None:
    """Waits until the node has processed ``count`` inputs (AssertionError after ``timeout`` s)."""
    wait_for(lambda: reader.processed_input_count() >= count, timeout, f"{count} processed inputs")


@dataclass(frozen=True)
class BurstRun:
    """What ``run_burst`` sent and measured. ``inputs`` are the node's records of the burst's inputs."""

    planned: list[Planned]
    sending: float  # seconds the sending took (automine)
    flushed: int  # blocks mined by hand to flush anvil's pool
    resent: int  # transactions sent again (anvil lost or refused them)
    elapsed: float  # seconds from the first send to the last input processed
    outputs: Counter[str]  # outputs checked, by kind (notice, voucher)
    inputs: list[dict[str, Any]]


def run_burst(node: Node, count: int, seed: int) -> BurstRun:
    """Plans, sends, waits for and checks a burst of ``count`` inputs to a fresh in-process node (nothing
    sent to it before), then asserts the node's loop did not fail."""
    assert node.deployment is not None
    reader = ReaderClient(node.info()["reader_url"], node.deployment.application, timeout=60)
    planned = plan_burst(web3_for(node.rpc_url, 60), node.deployment, count, seed=seed)
    began = time.perf_counter()
    sending, flushed, resent = send_burst(node.rpc_url, planned)
    wait_processed(reader, count, timeout=120 + count * 0.2)
    elapsed = time.perf_counter() - began
    outputs, inputs = check_burst(reader, planned)
    assert node.failure is None
    return BurstRun(planned, sending, flushed, resent, elapsed, outputs, inputs)
