"""Closing Rollups v1 epochs: History claims through the Authority, and voucher executions.

``EpochCloser`` is ``devnode.epochs.EpochCloser`` with the v1 rules (mining to close epochs is shared):
- an epoch (``epoch_length`` blocks, aligned on block 0) holding processed inputs is claimed once its last
  block is below the scanned block: ``Authority.submitClaim(abi.encode(dapp, (epochHash, firstIndex,
  lastIndex)))`` as the Authority owner (the Authority forwards it to its History); epochs without inputs
  are not claimed, so the n-th claim (History claim index n) is the n-th epoch holding inputs;
- ``ClaimRecord.root`` holds the epoch hash (``devnode.v1.proofs``);
- ``reconcile()`` reads the History's ``NewClaimToHistory`` events: a recorded claim the chain holds with
  another epoch hash is a ``ClaimMismatch``; a claim already on chain is recorded, not sent again;
- ``scan_executions()`` reads ``CartesiDApp.VoucherExecuted(position)`` events into ``executions``
  (global output index -> transaction hash), the position being ``(voucher index within input << 128) |
  input index``.
"""

from __future__ import annotations

import logging

from devnode import chain
from devnode.epochs import MAX_BLOCK_RANGE, ClaimMismatch
from devnode.epochs import EpochCloser as V2EpochCloser
from devnode.store import ClaimRecord
from devnode.v1 import proofs
from devnode.v1.contracts import contract_at
from mlmarket.client.tx import send

log = logging.getLogger(__name__)


class EpochCloser(V2EpochCloser):
    """Claims and executions of one v1 dApp (see the module docstring)."""

    _chain_claims: list[tuple[bytes, int, int, str]]  # (epoch hash, first, last, tx hash) in History order

    def reconcile(self) -> None:
        """Reads the History's claims for the dApp; checks the recorded ones against them."""
        self._chain_claims = self._history_claims()
        for position, claim in enumerate(self.store.claims):
            if position >= len(self._chain_claims):
                log.warning("epoch %d: recorded claim missing on chain (older chain state): will resubmit",
                            claim.epoch_index)
            elif self._chain_claims[position][0] != claim.root:
                raise ClaimMismatch(f"epoch {claim.epoch_index}: the History's claim {position} differs from "
                                    "the record; use --fresh")
            else:
                self._confirmed.add(claim.epoch_index)

    def _history_claims(self) -> list[tuple[bytes, int, int, str]]:
        history = contract_at(self.w3, "History", self.deployment.addresses["History"])
        event = history.events.NewClaimToHistory()
        found = []
        latest = self.w3.eth.block_number
        for start in range(self.deployment.block_number, latest + 1, MAX_BLOCK_RANGE):
            logs = event.get_logs(argument_filters={"dapp": self.deployment.application}, from_block=start,
                                  to_block=min(latest, start + MAX_BLOCK_RANGE - 1))
            for entry in sorted(logs, key=lambda e: (e["blockNumber"], e["logIndex"])):
                claim = entry["args"]["claim"]
                found.append((bytes(claim["epochHash"]), int(claim["firstIndex"]), int(claim["lastIndex"]),
                              "0x" + bytes(entry["transactionHash"]).hex()))
        return found

    def claim_due(self, scanned_block: int) -> list[int]:
        """Claims every closed epoch holding inputs, oldest first; the epochs claimed."""
        claimed = []
        for epoch in self.unclaimed_epochs():
            last_block = chain.epoch_last_block(epoch, self.length)
            if last_block >= scanned_block:
                break
            claim = proofs.epoch_claim([r for r in self.store.inputs if r.epoch_index == epoch])
            position = len(self.store.claims)
            if position < len(self._chain_claims):
                on_chain = self._chain_claims[position]
                if on_chain[:3] != (claim.epoch_hash, claim.first_index, claim.last_index):
                    raise ClaimMismatch(f"epoch {epoch}: the History's claim {position} is not what the "
                                        f"records give (epoch hash 0x{claim.epoch_hash.hex()}); use --fresh")
                tx_hash = on_chain[3]
            else:
                authority = contract_at(self.w3, "Authority", self.deployment.authority)
                receipt = send(self.w3, self.owner,
                               authority.functions.submitClaim(claim.claim_data(self.deployment.application)))
                tx_hash = "0x" + bytes(receipt["transactionHash"]).hex()
            count = self._output_count(epoch)
            self.store.append_claim(ClaimRecord(epoch, last_block, count, claim.epoch_hash, tx_hash))
            self._confirmed.add(epoch)
            claimed.append(epoch)
            log.info("epoch %d claimed (History claim %d): inputs %d..%d, epoch hash 0x%s", epoch, position,
                     claim.first_index, claim.last_index, claim.epoch_hash.hex())
        return claimed

    def scan_executions(self) -> None:
        """Reads new ``VoucherExecuted`` events into ``executions``."""
        event = contract_at(self.w3, "CartesiDApp", self.deployment.application).events.VoucherExecuted()
        latest = self.w3.eth.block_number
        while self._executions_from <= latest:
            end = min(latest, self._executions_from + MAX_BLOCK_RANGE - 1)
            for entry in event.get_logs(from_block=self._executions_from, to_block=end):
                output = self._output_of(int(entry["args"]["voucherId"]))
                if output is not None:
                    self.executions[output] = "0x" + bytes(entry["transactionHash"]).hex()
            self._executions_from = end + 1

    def _output_of(self, position: int) -> int | None:
        """The global output index of the voucher at a ``VoucherExecuted`` position."""
        input_index, voucher_index = proofs.position_indices(position)
        if input_index >= len(self.store.inputs):
            return None
        record = self.store.inputs[input_index]
        vouchers = [i for i, o in enumerate(record.outputs) if proofs.v1_output(o)[0] == proofs.VOUCHER]
        return record.first_output_index + vouchers[voucher_index] if voucher_index < len(vouchers) else None
