"""The local node: anvil, the Cartesi v2 contracts, the backend and the reader API, in one process.

``Node(NodeConfig(...)).start()`` locks the state directory, starts anvil (or attaches to
``rpc_url``), deploys (idempotently), checks the recorded inputs against the chain, rebuilds the backend
by replaying every recorded input (its outputs must be byte-identical, else ``ReplayDivergence``),
serves the reader API and writes ``node.json``; then a loop thread feeds new inputs to the backend one
at a time in index order, answers inspects between advances, restarts a dead backend (replaying, then
re-sending the input in flight), and closes epochs: once an epoch's last block ``k*L+L-1`` is past and
its inputs are processed it submits the claim of the outputs Merkle root over every output since
genesis. With ``auto_mine`` it mines the blocks that close the newest epoch holding inputs
``auto_mine_delay`` seconds after the last input; ``close_epoch()`` (RPC ``devnode_closeEpoch``) does
it at once. ``stop()`` ends everything it started. ``failure`` holds what stopped the loop, if anything.

``node.json`` (``info()``): ``rpc_url, chain_id, reader_url, inspect_url`` (``<node>/inspect``; POST to
``<inspect_url>/<application>``), ``node_url, application_name, addresses`` (InputBox, EtherPortal,
ERC20Portal, …, Token, Application, Authority), ``epoch_length, authority_owner, deployment_block,
input_box_block, template_hash, pid, anvil_pid, backend_pid, backend`` (the command), ``rollup_url,
state_dir, logs, started_at, ready, machine`` (``host`` or ``cartesi``: what runs the backend),
``machine_snapshot, machine_note`` (whose answer is authoritative), ``contracts`` (the Rollups v2
contracts release deployed, ``NodeConfig.contracts``: ``2.2.0`` or ``2.0.0-rc.14``, whose addresses
``@cartesi/cli@2.0.0-alpha.2`` hard-wires; see ``devnode.releases``; ``1.4.3`` in v1 mode), ``rollups`` (2, or 1 with
``NodeConfig(rollups=1)``: the Rollups v1.4 contracts, inputs, claims and backend settings of ``devnode.v1``;
``addresses`` then name the v1 contracts, ``Application`` being the CartesiDApp, plus ``History``;
``graphql_url``: the v1 GraphQL reader, ``devnode.graphql_v1``, served beside ``/rpc``).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from web3 import Web3

from devnode import chain, lifecycle, onchain, releases
from devnode.anvil import Anvil, dev_accounts, repo_root, start_anvil
from devnode.deploy import Deployment
from devnode.epochs import ClaimMismatch, EpochCloser
from devnode.lifecycle import DEFAULT_BACKEND
from devnode.reader import ReaderServer
from devnode.records import NONE, Application
from devnode.rpc import NotReady
from devnode.server import EXCEPTION, Advance, Finished, Inspect
from devnode.store import ANVIL_LOG, ANVIL_STATE, BACKEND_LOG, INFO, NODE_LOG, InputRecord, Store, now
from devnode.supervisor import BackendFailed, Stopping, Supervisor
from mlmarket.client.tx import web3_for

log = logging.getLogger(__name__)

NODE_ACCOUNT = 9  # deployer and Authority owner: a dev account users are unlikely to send from
_EXPLAINED = (BackendFailed, onchain.ChainMismatch, ClaimMismatch)  # their messages say it all


# The backend runs one BLAS/OpenMP thread, as in the one-core machine (dapp/__main__.py forces the same
# before numpy loads; this also covers a backend command other than ``python -m dapp``).
BACKEND_THREADS = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                   "BLIS_NUM_THREADS": "1"}


@dataclass(frozen=True)
class NodeConfig:
    """How to run the node; every port may be 0 (a free one)."""

    state_dir: Path
    host: str = "127.0.0.1"
    port: int = 6751
    anvil_port: int = 8545
    rpc_url: str | None = None
    epoch_length: int = 10
    backend: tuple[str, ...] = DEFAULT_BACKEND
    backend_env: Mapping[str, str] = field(default_factory=dict)
    rollup_port: int = 0
    auto_mine: bool = True
    auto_mine_delay: float = 0.3
    poll_interval: float = 0.05
    fresh: bool = False
    advance_timeout: float | None = None
    inspect_timeout: float = 60.0
    max_backend_restarts: int = 3
    backend_start_timeout: float = 120.0
    app_name: str = "mlmarket"
    machine: str = "host"  # what runs the backend: "host" (a process) or "cartesi" (devnode.machine_bridge)
    machine_snapshot: Path | None = None
    rollups: int = 2  # the Cartesi Rollups release the node runs: 2, or 1 (devnode.v1: CLI 1.x / sunodo users)
    contracts: str = releases.DEFAULT  # the Rollups v2 contracts release (devnode.releases), e.g. "2.0.0-rc.14"


class Node:
    """The running node (see the module docstring)."""

    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self.store: Store | None = None  # type: ignore[assignment]
        self.app: Application | None = None  # type: ignore[assignment]
        self.chain_id = 0
        self.failure: BaseException | None = None
        self.deployment: Deployment | None = None
        self._anvil: Anvil | None = None
        self._w3: Web3 | None = None
        self._backend: Supervisor | None = None
        self._reader: ReaderServer | None = None
        self._closer: EpochCloser | None = None
        self._pending: list[chain.ChainInput] = []
        self._seen_block = -1
        self._watcher: chain.InputWatcher | None = None
        self._lock_handle: Any = None
        self._inspects: queue.Queue[tuple[bytes, Future[tuple[Finished, int]]]] = queue.Queue()
        self._closes: queue.Queue[Future[dict[str, Any]]] = queue.Queue()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._info: dict[str, Any] = {}

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Node:
        """Starts everything and returns once the node is ready (see the module docstring)."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        cfg = self.config
        self._lock_handle = lifecycle.lock_state_dir(cfg.state_dir)
        lifecycle.end_orphans(cfg.state_dir)
        if cfg.fresh:
            Store.wipe(cfg.state_dir)
        self.store = Store(cfg.state_dir)
        routes = None
        if cfg.rollups == 1:  # the v1 reader (GraphQL, v1 inspect) beside /rpc
            from devnode.v1.node import reader_routes

            routes = reader_routes(self, self.store)
        self._reader = ReaderServer(self, cfg.host, lifecycle.checked_port(cfg.host, cfg.port, "reader API"),
                                    routes=routes)
        if cfg.rpc_url is None:
            port = lifecycle.checked_port(cfg.host, cfg.anvil_port, "anvil")
            self._anvil = start_anvil(cfg.host, port, state_path=self.store.path(ANVIL_STATE),
                                      log_path=self.store.path(ANVIL_LOG), state_interval=1)
            self._w3 = self._anvil.web3()
        else:
            self._w3 = web3_for(cfg.rpc_url, 30)
        self.chain_id = self._w3.eth.chain_id
        owner = dev_accounts(NODE_ACCOUNT + 1)[NODE_ACCOUNT]
        release = releases.release(cfg.contracts)
        if cfg.rollups == 1 and release.name != releases.DEFAULT:
            raise ValueError("--contracts chooses a Rollups v2 release: not with --rollups v1")
        if cfg.rollups == 1:  # Rollups v1: its contracts, inputs, claims and backend settings (devnode.v1)
            if cfg.machine != "host":
                raise ValueError("--rollups v1 runs the backend as a host process only (no --machine cartesi)")
            from devnode.v1.node import parts

            v1 = parts(self._w3, self.store, cfg.epoch_length, owner)
            self.deployment, self._closer = v1.deployment, v1.closer
            self._watcher = v1.watcher  # type: ignore[assignment]  # same poll/next_block protocol
            version_env = v1.backend_env
        else:
            self.deployment = onchain.ensure_deployment(self._w3, self.store, cfg.epoch_length, owner, release)
            self._watcher = chain.InputWatcher(self._w3, self.deployment)
            self._closer = EpochCloser(self._w3, self.deployment, owner, self.store)
            version_env = {"MLMARKET_ROLLUPS_VERSION": "2", "MLMARKET_ETHER_PORTAL": self.deployment.ether_portal,
                           "MLMARKET_ERC20_PORTAL": self.deployment.erc20_portal}
        self.app = onchain.application_of(self.deployment, cfg.app_name)
        self._pending = onchain.unprocessed_inputs(self.store, self._watcher.poll())
        self._closer.reconcile()
        env = {**version_env, **cfg.backend_env, **BACKEND_THREADS}
        self._backend = Supervisor(
            cfg.backend, env, self.store, self.store.path(BACKEND_LOG), host=cfg.host,
            port=lifecycle.checked_port(cfg.host, cfg.rollup_port, "rollup API"), cwd=repo_root(),
            max_restarts=cfg.max_backend_restarts, start_timeout=cfg.backend_start_timeout,
            advance_timeout=cfg.advance_timeout, inspect_timeout=cfg.inspect_timeout,
            on_restart=self._backend_restarted)
        self._backend.start()
        self._reader.start()
        self._write_info(ready=True)
        self._thread = threading.Thread(target=self._loop, name="devnode-loop", daemon=True)
        self._thread.start()
        log.info("node ready: reader %s, chain %s, application %s", self._reader.url, self.rpc_url,
                 self.deployment.application)

    def stop(self) -> None:
        """Stops the loop, the backend, the reader API and anvil (which saves its state)."""
        self._stopping.set()
        self._wake.set()
        if self._backend is not None:
            self._backend.stop()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)
        _refuse_waiting(self._inspects, self._closes, "the node is stopping")
        if self._reader is not None:
            self._reader.stop()
            self._reader = None
        if self._anvil is not None:
            self._anvil.stop()
            self._anvil = None
        if self._info and self.store is not None:
            self._info["ready"] = False
            self.store.save_json(INFO, self._info)
        lifecycle.unlock_state_dir(self._lock_handle)
        self._lock_handle = None

    def wait(self, timeout: float | None = None) -> bool:
        """Waits until the loop ends (a failure or ``stop``); ``False`` on timeout."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def rpc_url(self) -> str:
        """The base layer's JSON-RPC URL."""
        return self._anvil.url if self._anvil is not None else str(self.config.rpc_url)

    def _backend_restarted(self) -> None:
        if self._info:
            self._write_info(ready=True)  # a new backend_pid and rollup_url

    def _write_info(self, *, ready: bool) -> None:
        assert self.store is not None and self.deployment is not None and self._reader is not None
        base = self._reader.url
        self._info = {
            "rpc_url": self.rpc_url, "chain_id": self.chain_id, "reader_url": f"{base}/rpc",
            "inspect_url": f"{base}/inspect", "node_url": base, "application_name": self.config.app_name,
            "addresses": dict(self.deployment.addresses), "epoch_length": self.deployment.epoch_length,
            "authority_owner": self.deployment.authority_owner, "node_account": NODE_ACCOUNT,
            "deployment_block": self.deployment.block_number, "input_box_block": self.deployment.input_box_block,
            "template_hash": self.deployment.template_hash, "pid": os.getpid(),
            "anvil_pid": None if self._anvil is None else self._anvil.process.pid,
            "anvil_state": str(self.store.path(ANVIL_STATE)),
            "backend_pid": None if self._backend is None else self._backend.pid,
            "backend": list(self.config.backend), "rollup_url": None if self._backend is None else self._backend.url,
            "state_dir": str(self.store.dir), "auto_mine": self.config.auto_mine,
            "logs": {name: str(self.store.path(f)) for name, f in
                     (("node", NODE_LOG), ("anvil", ANVIL_LOG), ("backend", BACKEND_LOG))},
            "started_at": self._info.get("started_at", now()), "ready": ready, "rollups": self.config.rollups,
            "contracts": self.deployment.contracts or "1.4.3",  # v1 deployments name none: npm @cartesi/rollups 1.4.3
            **({"graphql_url": f"{base}/graphql"} if self.config.rollups == 1 else {}),
            **machine_info(self.config.machine, self.config.machine_snapshot),
        }
        self.store.save_json(INFO, self._info)

    # -- the loop -----------------------------------------------------------------------------

    def _loop(self) -> None:
        try:
            while not self._stopping.is_set():
                self._cycle()
                for pending in _drain(self._closes):
                    if pending.set_running_or_notify_cancel():
                        pending.set_result(self._close_now())
                self._wake.wait(self.config.poll_interval)
                self._wake.clear()
        except Stopping:
            pass
        except BaseException as exc:  # noqa: BLE001 -- recorded, logged loudly, and the node stops
            self.failure = exc
            log.error("node stopped: %s", exc, exc_info=not isinstance(exc, _EXPLAINED))
        finally:
            _refuse_waiting(self._inspects, self._closes, f"the node stopped: {self.failure}")

    def _cycle(self) -> None:
        """Serves inspects, processes new inputs (inspects between them), claims, mines, checks the backend."""
        assert self._watcher is not None and self._closer is not None
        self._serve_inspects()
        latest = self._w3.eth.block_number if self._w3 is not None else 0
        if latest != self._seen_block:  # no new block, no new input: spare the log queries
            self._seen_block = latest
            fresh = self._watcher.poll()
            self._pending.extend(fresh)
            if fresh:
                self._closer.saw_input()
            self._closer.scan_executions()
        while self._pending:
            self._process(self._pending[0])
            self._pending.pop(0)
            self._serve_inspects()
        scanned = self._watcher.next_block - 1
        self._closer.claim_due(scanned)
        if self.config.auto_mine and self._closer.auto_mine(scanned, self.config.auto_mine_delay):
            self._wake.set()
        if self._backend is not None:
            self._backend.check()

    def _process(self, item: chain.ChainInput) -> None:
        assert self.store is not None and self.deployment is not None
        request = Advance(item.to_rollup_metadata(), item.payload, len(self.store.outputs))
        assert self._backend is not None
        result = self._backend.run(request)
        self.store.append_input(InputRecord(
            index=item.index, epoch_index=chain.epoch_of(item.block_number, self.deployment.epoch_length),
            block_number=item.block_number, raw_data=item.raw, metadata=request.metadata, payload=item.payload,
            tx_hash=item.transaction_hash or None, status=result.status, outputs=result.outputs,
            reports=result.reports, first_output_index=request.first_output_index,
            first_report_index=len(self.store.reports), outputs_root=result.outputs_root))
        log.info("input %d: %s, %d outputs, %d reports", item.index, result.status, len(result.outputs),
                 len(result.reports))
        if result.status == EXCEPTION:
            self._backend.start()  # the backend threw: its state is suspect, rebuild it

    def _serve_inspects(self) -> None:
        assert self.store is not None
        for payload, pending in _drain(self._inspects):
            if pending.set_running_or_notify_cancel():
                assert self._backend is not None
                result = self._backend.run(Inspect(payload))
                pending.set_result((result, len(self.store.inputs)))

    def _close_now(self) -> dict[str, Any]:
        assert self._closer is not None and self._watcher is not None
        self._cycle()
        self._closer.mine_to_close()
        self._cycle()
        return self._closer.summary(self._watcher.next_block - 1)

    # -- NodeView (called from reader threads) ------------------------------------------------

    def unprocessed(self) -> list[InputRecord]:
        """Inputs seen on chain but not processed yet (status NONE)."""
        assert self.deployment is not None
        return [InputRecord(index=i.index, epoch_index=chain.epoch_of(i.block_number, self.deployment.epoch_length),
                            block_number=i.block_number, raw_data=i.raw, metadata=i.to_rollup_metadata(),
                            payload=i.payload, tx_hash=i.transaction_hash or None, status=NONE, outputs=(),
                            reports=(), first_output_index=0, first_report_index=0) for i in list(self._pending)]

    def scanned_block(self) -> int:
        """The newest block whose inputs the node has read."""
        return 0 if self._watcher is None else self._watcher.next_block - 1

    def executions(self) -> Mapping[int, str]:
        """Output index -> the transaction that executed it."""
        return {} if self._closer is None else self._closer.executions

    def inspect(self, payload: bytes) -> tuple[Finished, int]:
        """Queues an inspect for the backend and waits for its reports (``NotReady`` on timeout)."""
        return self._ask(self._inspects, payload)

    def close_epoch(self) -> dict[str, Any]:
        """Mines to the end of the newest epoch holding inputs, processes them and submits the due claims."""
        return self._ask(self._closes, None)

    def _ask(self, target: queue.Queue[Any], payload: bytes | None) -> Any:
        if self.failure is not None or self._stopping.is_set():
            raise NotReady(f"the node is not running ({self.failure or 'stopping'})")
        pending: Future[Any] = Future()
        target.put(pending if payload is None else (payload, pending))
        self._wake.set()
        try:
            return pending.result(timeout=self.config.inspect_timeout * (1 if payload is not None else 4))
        except TimeoutError:
            pending.cancel()
            raise NotReady("the node is busy processing inputs; try again") from None

    def info(self) -> dict[str, Any]:
        """What ``node.json`` holds."""
        return dict(self._info)


HOST_NOTE = ("the backend runs as a host process: the Cartesi machine's answer is authoritative (floating-point "
             "scores and trained models may differ across CPUs, see docs/DETERMINISM.md); `--machine cartesi` gives it")
CARTESI_NOTE = "the backend runs inside the Cartesi machine (cartesi-machine 0.19): its answers are authoritative"


def machine_info(machine: str, snapshot: Path | None) -> dict[str, Any]:
    """The ``machine`` fields of ``node.json``: what runs the backend, and whose answer counts."""
    return {"machine": machine, "machine_snapshot": None if snapshot is None else str(snapshot),
            "machine_note": CARTESI_NOTE if machine == "cartesi" else HOST_NOTE}


def _drain(source: queue.Queue[Any]) -> list[Any]:
    items = []
    while True:
        try:
            items.append(source.get_nowait())
        except queue.Empty:
            return items


def _refuse_waiting(inspects: queue.Queue[Any], closes: queue.Queue[Any], why: str) -> None:
    for item in _drain(inspects) + _drain(closes):
        pending = item[1] if isinstance(item, tuple) else item
        if pending.set_running_or_notify_cancel():
            pending.set_exception(NotReady(why))
