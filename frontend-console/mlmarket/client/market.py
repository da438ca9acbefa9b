"""``Market``: one application seen by one account, the facade the CLI and the console share.

It ties the base layer (``Chain``), the node's reader API (``ReaderClient``) and inspect
(``InspectClient``): ``send`` delivers an ``InputRequest`` and waits for what the node made of it,
``outputs`` lists notices and vouchers with their state, ``execute`` executes a voucher once its
epoch is claimed, ``query`` asks inspect. On a Rollups v1 node (``config.rollups``) the base layer is
``chain_v1.ChainV1`` and the reader ``reader_v1.ReaderV1Client``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from web3 import Web3

from mlmarket.client.accounts import Signer, choose_signer
from mlmarket.client.chain import InputRef, InputRequest, TxResult
from mlmarket.client.chain_v1 import chain_for
from mlmarket.client.config import NodeConfig, discover
from mlmarket.client.errors import ClientError, ConfigError, InputFailed, InspectFailed, NodeError
from mlmarket.client.inspect import InspectClient, query_path
from mlmarket.client.outputs import (
    EXECUTED,
    WAITING_FOR_CLAIM,
    DecodedNotice,
    DecodedVoucher,
    InputOutcome,
    decode_output,
    voucher_state,
)
from mlmarket.client.reader import METHOD_NOT_FOUND, RpcError
from mlmarket.client.reader_v1 import reader_for

FORCE_CLAIM_METHOD = "devnode_closeEpoch"
"""The local node's JSON-RPC extension: mine to the end of the newest epoch holding inputs, process
them and submit the due claims at once."""


@dataclass(frozen=True)
class Sent:
    """An input that was sent and processed: how it went on chain and what the node made of it."""

    ref: InputRef
    outcome: InputOutcome

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form: the outcome plus the transaction(s)."""
        txs = [t for t in (self.ref.approval, self.ref.tx) if t is not None]
        return {**self.outcome.to_json(),
                "transactions": [{"hash": t.tx_hash, "block": t.block_number, "gas_used": t.gas_used}
                                 for t in txs]}


class Market:
    """The application at ``config`` as seen by ``signer`` (None: read-only)."""

    def __init__(self, config: NodeConfig, signer: Signer | None = None, *, w3: Web3 | None = None,
                 wait_timeout: float = 300.0) -> None:
        self.config = config
        self.signer = signer
        self.reader = reader_for(config)  # each with its own
        self.chain = chain_for(config, signer, self.reader, w3=w3)
        self.wait_timeout = wait_timeout
        self.inspector = InspectClient(config.inspect_endpoint())  # session (sessions.session_for)

    @classmethod
    def connect(cls, *, rpc_url: str | None = None, node_url: str | None = None, app: str | None = None,
                account: int | None = None, key: str | None = None, read_only: bool = False,
                rollups: int | str | None = None, environ: Mapping[str, str] | None = None,
                **kwargs: Any) -> Market:
        """Discovers the configuration (``config.discover``; ``rollups`` 1 for a Rollups v1 node), asks
        the node for the application if none is configured and it serves exactly one, and picks the
        signer (``choose_signer``)."""
        config = discover(rpc_url=rpc_url, node_url=node_url, app=app, rollups=rollups, environ=environ)
        if config.app is None:
            config = config.with_app(find_application(config))
        signer = None if read_only else choose_signer(account=account, key=key, environ=environ)
        return cls(config, signer, **kwargs)

    @property
    def account(self) -> str:
        """The signer's address. Raises ``ConfigError`` when read-only."""
        if self.signer is None:
            raise ConfigError("no account chosen")
        return self.signer.address

    # -- inputs ------------------------------------------------------------------------------
    def send(self, request: InputRequest, *, check: bool = True,
             on_wait: Callable[[str], None] | None = None) -> Sent:
        """Sends ``request``, waits until the node processed it and returns what came out. With
        ``check``, raises ``InputFailed`` if it was rejected or reported an error."""
        ref = self.chain.send_input(request)
        return self.wait(ref, check=check, on_wait=on_wait)

    def wait(self, ref: InputRef, *, check: bool = True, on_wait: Callable[[str], None] | None = None) -> Sent:
        """Waits for input ``ref`` (see ``send``)."""
        outcome = self.reader.wait_for_input(ref.index, timeout=self.wait_timeout, on_wait=on_wait)
        sent = Sent(ref, outcome)
        if check and outcome.error:
            raise InputFailed(outcome.error, outcome=sent)
        return sent

    # -- queries -----------------------------------------------------------------------------
    def query(self, query: str) -> Any:
        """The dApp's JSON answer to an inspect ``query`` (``InspectFailed`` on an error report)."""
        return self.inspector.query(query)

    def now(self) -> int:
        """The latest block's timestamp (what relative deadlines count from)."""
        return self.chain.latest_timestamp()

    def token(self, token: str | None, eth: bool) -> str:
        """The token an action uses: Ether (``eth``), ``token``, or the local node's test token."""
        if eth and token:
            raise ClientError("give either --token or --eth, not both")
        if eth:
            return "0x" + "00" * 20
        if token:
            if not Web3.is_address(token):
                raise ClientError(f"not a token address: {token!r}")
            return Web3.to_checksum_address(token)
        return self.config.address("Token")

    # -- outputs -----------------------------------------------------------------------------
    def outputs(self, *, input_index: int | None = None, states: bool = True) -> list[DecodedNotice | DecodedVoucher]:
        """Notices and vouchers (of one input, or all), vouchers with their state if ``states``."""
        decoded = [decode_output(r) for r in self.reader.list_outputs(input_index)]
        result = [d for d in decoded if d is not None]
        if states:
            result = [self.with_state(d) if isinstance(d, DecodedVoucher) else d for d in result]
        return sorted(result, key=lambda d: d.index)

    def with_state(self, voucher: DecodedVoucher) -> DecodedVoucher:
        """The voucher with its ``state`` (executed / executable / waiting for claim) from the chain."""
        executed = self.chain.was_output_executed(voucher.index)
        has_proof = voucher.siblings is not None
        accepted = has_proof and not executed and self.chain.output_is_valid(voucher.raw, voucher.index,
                                                                            voucher.siblings or ())
        state = voucher_state(executed=executed, has_proof=has_proof, proof_accepted=accepted)
        return replace(voucher, state=state)

    def voucher(self, index: int) -> DecodedVoucher:
        """Output ``index`` as a voucher with its state. Raises ``ClientError`` if it is not one."""
        record = self.reader.get_output(index)
        if record is None:
            raise ClientError(f"the node has no output {index}")
        decoded = decode_output(record)
        if not isinstance(decoded, DecodedVoucher):
            raise ClientError(f"output {index} is not a voucher (only vouchers execute)")
        return self.with_state(decoded)

    def force_claim(self) -> bool:
        """Asks the local node to close and claim the current epoch now; False if the node does not
        offer it (a real node claims on its own schedule)."""
        try:
            self.reader.call(FORCE_CLAIM_METHOD, application=self.config.address("Application"))
        except RpcError as exc:
            if exc.code == METHOD_NOT_FOUND:
                return False
            raise
        return True

    def wait_executable(self, index: int, *, timeout: float | None = None, force: bool = True,
                        poll: float = 0.25) -> DecodedVoucher:
        """Waits until voucher ``index`` can be executed (or was), forcing the claim on a local node
        if ``force``. Raises ``NodeError`` after ``timeout`` (default: the wait timeout)."""
        deadline = time.monotonic() + (self.wait_timeout if timeout is None else timeout)
        forced = False
        while True:
            voucher = self.voucher(index)
            if voucher.state != WAITING_FOR_CLAIM:
                return voucher
            if force and not forced:
                self.force_claim()
                forced = True
            if time.monotonic() >= deadline:
                raise NodeError(f"voucher {index} is still waiting for its epoch's claim")
            time.sleep(poll)

    def execute(self, index: int, *, wait: bool = True, force: bool = True) -> tuple[DecodedVoucher, TxResult]:
        """Executes voucher ``index`` from the signer, first waiting for its claim if ``wait``.
        An executed voucher is sent anyway so that the chain's own answer (``OutputNotReexecutable``)
        is what the user sees."""
        voucher = self.wait_executable(index, force=force) if wait else self.voucher(index)
        if voucher.siblings is None:
            raise ClientError(f"voucher {index} has no proof yet (its epoch is not claimed)")
        tx = self.chain.execute_output(voucher.raw, voucher.index, voucher.siblings)
        return replace(voucher, state=EXECUTED), tx

    def pending_vouchers(self, beneficiary: str | None = None) -> list[DecodedVoucher]:
        """Vouchers not executed yet, oldest first; with ``beneficiary``, only those paying that address."""
        return [o for o in self.outputs() if isinstance(o, DecodedVoucher) and o.state != EXECUTED
                and (beneficiary is None or o.beneficiary == beneficiary.lower())]

    # -- content -----------------------------------------------------------------------------
    def content_info(self, cid: str) -> dict[str, Any] | None:
        """Inspect ``contents/<cid>``, or None if the file is not stored."""
        try:
            return self.query(query_path("contents", cid))
        except InspectFailed as exc:
            if exc.code == "not_found":
                return None
            raise

    def upload_received(self, cid: str) -> int:
        """How many bytes of ``cid`` the signer's partial upload holds (inspect ``uploads/<account>``)."""
        answer = self.query(query_path("uploads", self.account.lower()))
        for upload in answer.get("uploads", []) if isinstance(answer, dict) else []:
            if upload.get("cid") == cid:
                return int(upload.get("received", 0))
        return 0


def find_application(config: NodeConfig) -> str:
    """The application of a node that serves exactly one. Raises ``ConfigError`` otherwise."""
    reader = reader_for(config, "")
    try:
        apps = reader.list_applications()
    except NodeError as exc:
        raise ConfigError(f"no application configured (--app / MLMARKET_APP) and the node cannot list "
                          f"them: {exc.message}") from exc
    addresses = [a.get("iapplication_address") or a.get("address") for a in apps]
    addresses = [a for a in addresses if a]
    if len(addresses) != 1:
        raise ConfigError(f"no application configured (--app / MLMARKET_APP) and the node serves "
                          f"{len(addresses)}: {', '.join(addresses) or 'none'}")
    return Web3.to_checksum_address(addresses[0])
