"""Figures of the local node's chain side: anvil start-up, deployment time, gas of user transactions.

Run: ``.venv/bin/python -m bench.devnode_chain``.
"""

from __future__ import annotations

import statistics
import time

import eth_abi
from eth_hash.auto import keccak

from bench._summary import record
from bench._table import print_table
from devnode import chain, merkle
from devnode.anvil import dev_accounts, start_anvil
from devnode.contracts import contract_at
from devnode.deploy import deploy
from mlmarket.client.tx import send

STARTS = 5
MAX_PAYLOAD = 65_216  # CARTESI-FACTS §3


def _anvil_ready_seconds() -> list[float]:
    times = []
    for _ in range(STARTS):
        began = time.perf_counter()
        anvil = start_anvil()
        times.append(time.perf_counter() - began)
        anvil.stop()
    return times


def main() -> None:
    """Prints a table of timings and gas figures measured on a fresh local anvil."""
    rows: list[tuple[str, str]] = []
    ready = _anvil_ready_seconds()
    rows.append((f"anvil start to ready (median of {STARTS})", f"{statistics.median(ready):.3f} s"))
    accounts = dev_accounts(10)
    with start_anvil() as anvil:
        w3 = anvil.web3()
        began = time.perf_counter()
        d = deploy(w3, accounts[0], epoch_length=10)
        rows.append(("full deploy (Cartesi + token + application)", f"{time.perf_counter() - began:.3f} s"))
        record("full deploy on a fresh anvil (Cartesi + token + application)", rows[-1][1])
        began = time.perf_counter()
        deploy(w3, accounts[0], epoch_length=10)
        rows.append(("deploy again (idempotent, nothing sent)", f"{time.perf_counter() - began:.3f} s"))

        user = accounts[1]
        rows.append(("gas: addInput, 32-byte payload", f"{chain.add_input(w3, d, user, bytes(32)).gas_used:,}"))
        rows.append(("gas: addInput, 65,216-byte payload (max)",
                     f"{chain.add_input(w3, d, user, bytes(range(256)) * (MAX_PAYLOAD // 256)).gas_used:,}"))
        erc20 = chain.deposit_erc20(w3, d, user, 1000 * 10**18)
        rows.append(("gas: ERC-20 approve", f"{erc20.receipts[0]['gasUsed']:,}"))
        rows.append(("gas: depositERC20Tokens", f"{erc20.receipts[1]['gasUsed']:,}"))
        rows.append(("gas: depositEther", f"{chain.deposit_ether(w3, d, user, 10**18).gas_used:,}"))

        transfer = keccak(b"transfer(address,uint256)")[:4] + eth_abi.encode(
            ["address", "uint256"], [accounts[2].address, 10**18])
        voucher = bytes.fromhex("237a816f") + eth_abi.encode(
            ["address", "uint256", "bytes"], [d.token, 0, transfer])
        outputs = [voucher] + [bytes.fromhex("c258d6e5") + eth_abi.encode(["bytes"], [i.to_bytes(2, "big")])
                               for i in range(999)]
        began = time.perf_counter()
        tree = merkle.OutputsTree([merkle.leaf_hash(o) for o in outputs])
        rows.append(("outputs tree of 1,000 outputs: build", f"{(time.perf_counter() - began) * 1000:.1f} ms"))
        epoch = chain.epoch_of(w3.eth.block_number, d.epoch_length)
        chain.mine_to(w3, chain.epoch_last_block(epoch, d.epoch_length) + 1)
        claim = chain.submit_claim(w3, d, accounts[0], chain.epoch_last_block(epoch, d.epoch_length), tree.root)
        rows.append(("gas: submitClaim", f"{claim['gasUsed']:,}"))
        record("gas of the node's submitClaim, per epoch", rows[-1][1])
        token = contract_at(w3, "TestToken", d.token)
        send(w3, accounts[0], token.functions.transfer(d.application, 10 * 10**18))
        receipt = chain.execute_output(w3, d, accounts[3], voucher, 0, tree.siblings(0))
        rows.append(("gas: executeOutput (ERC-20 transfer voucher)", f"{receipt['gasUsed']:,}"))

    print_table([("figure", "value"), *rows])


if __name__ == "__main__":
    main()
