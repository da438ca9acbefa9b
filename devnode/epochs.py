"""Closing epochs: claims of the outputs Merkle root, mining to close epochs, voucher executions.

``EpochCloser(w3, deployment, owner, store)`` is driven by the node's loop thread:
- ``reconcile()`` at start: learns the claims the Authority already accepted (``chain.accepted_claims``
  reads the acceptance event of the deployment's contracts release; a claim the node sent
  but could not record before a crash is recorded when its epoch comes due, after checking its root).
- ``claim_due(scanned_block)``: for every epoch holding processed inputs, in order, whose last block
  ``k*L+L-1`` is below ``scanned_block`` (all its inputs known and processed), submits
  ``submitClaim(app, last_block, root)`` with the root over every output since genesis up to the end of
  that epoch, as the Authority owner, and records it. When the backend runs in the real machine, the
  root the machine sent with the epoch's last accepted input must equal that root: on a difference the
  node refuses to claim this epoch (and the later ones), logs both roots, and lists it in ``summary``.
- ``auto_mine(scanned_block, delay)`` / ``mine_to_close()``: mine the blocks that close the newest epoch
  holding unclaimed inputs, plus one (gas estimation runs on the latest block, and the Authority wants
  ``last_block < block.number``); the former only ``delay`` seconds after the last input was seen.
- ``scan_executions()``: ``OutputExecuted`` events -> ``executions[output index] = tx hash``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3

from devnode import chain, merkle
from devnode.deploy import Deployment
from devnode.server import ACCEPTED
from devnode.store import ClaimRecord, Store

log = logging.getLogger(__name__)

MAX_BLOCK_RANGE = 10_000


class ClaimMismatch(RuntimeError):
    """The Authority accepted a root for an epoch that the recorded outputs do not give."""


class EpochCloser:
    """Claims, mining and executions for one application (see the module docstring)."""

    def __init__(self, w3: Web3, deployment: Deployment, owner: LocalAccount, store: Store) -> None:
        self.w3, self.deployment, self.owner, self.store = w3, deployment, owner, store
        self.executions: dict[int, str] = {}
        self._accepted: dict[int, chain.Claim] = {}
        self._confirmed: set[int] = set()
        self._leaves: list[bytes] = []
        self._last_input = time.monotonic()
        self._executions_from = deployment.block_number
        self.refused: dict[int, str] = {}  # epoch -> why its claim was refused

    @property
    def length(self) -> int:
        """The epoch length in blocks."""
        return self.deployment.epoch_length

    def reconcile(self) -> None:
        """Reads the claims the Authority accepted; recorded claims it lacks will be submitted again."""
        self._accepted = {c.last_block // self.length: c for c in chain.accepted_claims(self.w3, self.deployment)}
        for claim in self.store.claims:
            accepted = self._accepted.get(claim.epoch_index)
            if accepted is None:
                log.warning("epoch %d: recorded claim missing on chain (older chain state): will resubmit",
                            claim.epoch_index)
            elif accepted.root != claim.root:
                raise ClaimMismatch(f"epoch {claim.epoch_index}: the chain's claim differs from the record")
            else:
                self._confirmed.add(claim.epoch_index)

    def saw_input(self) -> None:
        """Notes that a new input arrived (``auto_mine`` waits ``delay`` after the last one)."""
        self._last_input = time.monotonic()

    def unclaimed_epochs(self) -> list[int]:
        """Epochs holding processed inputs with no claim yet, oldest first."""
        return sorted({r.epoch_index for r in self.store.inputs} - self._confirmed)

    def _output_count(self, epoch: int) -> int:
        later = next((r for r in self.store.inputs if r.epoch_index > epoch), None)
        return later.first_output_index if later is not None else len(self.store.outputs)

    def _root(self, count: int) -> bytes:
        self._leaves.extend(merkle.leaf_hash(o) for _, o in self.store.outputs[len(self._leaves):count])
        return merkle.root(self._leaves[:count])

    def machine_root(self, epoch: int) -> bytes | None:
        """The outputs root the machine sent with the last accepted input up to ``epoch`` (it covers every
        output up to the end of the epoch); ``None`` if no such input carries one (host mode)."""
        accepted = [r for r in self.store.inputs if r.epoch_index <= epoch and r.status == ACCEPTED]
        return accepted[-1].outputs_root if accepted else None

    def claim_due(self, scanned_block: int) -> list[int]:
        """Submits the claims of every closed epoch (see the module docstring); the epochs claimed."""
        claimed = []
        for epoch in self.unclaimed_epochs():
            last_block = chain.epoch_last_block(epoch, self.length)
            if last_block >= scanned_block:
                break  # the claim's block must come strictly after it, and so must estimation's "latest"
            count = self._output_count(epoch)
            root = self._root(count)
            machine_root = self.machine_root(epoch)
            if machine_root is not None and machine_root != root:
                if epoch not in self.refused:
                    self.refused[epoch] = (f"the machine's outputs root 0x{machine_root.hex()} differs from the "
                                           f"root 0x{root.hex()} of the {count} recorded outputs")
                    log.error("epoch %d: not claimed: %s", epoch, self.refused[epoch])
                break
            accepted = self._accepted.get(epoch)
            if accepted is not None:
                if accepted.root != root:
                    raise ClaimMismatch(f"epoch {epoch}: the Authority accepted root 0x{accepted.root.hex()} "
                                        f"but the recorded outputs give 0x{root.hex()}; use --fresh")
                tx_hash = accepted.transaction_hash
            else:
                receipt = chain.submit_claim(self.w3, self.deployment, self.owner, last_block, root)
                tx_hash = "0x" + bytes(receipt["transactionHash"]).hex()
            self.store.append_claim(ClaimRecord(epoch, last_block, count, root, tx_hash))
            self._confirmed.add(epoch)
            claimed.append(epoch)
            log.info("epoch %d claimed: %d outputs, root 0x%s", epoch, count, root.hex())
        return claimed

    def auto_mine(self, scanned_block: int, delay: float) -> bool:
        """Mines to close the newest unclaimed epoch once ``delay`` s passed since the last input."""
        if time.monotonic() - self._last_input < delay:
            return False
        return self.mine_to_close(scanned_block)

    def mine_to_close(self, scanned_block: int | None = None) -> bool:
        """Mines until the newest epoch holding unclaimed inputs is over; whether it mined."""
        epochs = self.unclaimed_epochs()
        if not epochs:
            return False
        target = chain.epoch_last_block(epochs[-1], self.length) + 1
        if scanned_block is not None and target <= scanned_block:
            return False
        current = self.w3.eth.block_number
        if current >= target:
            return False
        chain.mine(self.w3, target - current)
        return True

    def scan_executions(self) -> None:
        """Reads new ``OutputExecuted`` events."""
        app = self.deployment.release.contract_at(self.w3, "Application", self.deployment.application)
        event = app.events.OutputExecuted()
        latest = self.w3.eth.block_number
        while self._executions_from <= latest:
            end = min(latest, self._executions_from + MAX_BLOCK_RANGE - 1)
            for entry in event.get_logs(from_block=self._executions_from, to_block=end):
                self.executions[int(entry["args"]["outputIndex"])] = "0x" + bytes(entry["transactionHash"]).hex()
            self._executions_from = end + 1

    def summary(self, scanned_block: int) -> dict[str, Any]:
        """What ``devnode_closeEpoch`` answers."""
        claims = self.store.claims
        return {
            "claimed_epochs": sorted(self._confirmed), "unclaimed_epochs": self.unclaimed_epochs(),
            "last_claim": None if not claims else {
                "epoch_index": claims[-1].epoch_index, "last_block": claims[-1].last_block,
                "output_count": claims[-1].output_count, "root": "0x" + claims[-1].root.hex(),
                "transaction_hash": claims[-1].tx_hash},
            "processed_input_count": len(self.store.inputs), "output_count": len(self.store.outputs),
            "block": scanned_block, "refused_claims": {str(e): why for e, why in sorted(self.refused.items())},
        }
