"""The real Cartesi machine (cartesi-machine 0.19), driven as the Cartesi node drives its machines.

A ``cartesi-jsonrpc-machine`` server holds the machine; this module talks JSON-RPC to it (method names
and parameters from machine-emulator v0.19.0's ``src/jsonrpc-remote-machine.cpp``; the cmio request is
read as the C API's ``cm_receive_cmio_request`` does: the ``htif_tohost`` register, then the transmit
buffer at ``TX_BUFFER``). No code was copied.

- ``machine_dir()``: where the prebuilt machine is (``CARTESI_MACHINE_DIR``, else
  ``../shared/cartesi-machine`` beside the repository); ``MachineUnavailable`` says what is missing.
- ``RpcServer``: one server process (``spawn``) or a fork of one (``fork``); ``call``, ``shutdown``.
- ``CmioMachine``: a stored machine loaded at its yield (``load``); ``advance(request)`` runs one
  ``EvmAdvance`` to the machine's next manual yield with a snapshot taken before it (a fork of the
  server) and rolls back to it unless the input is accepted; ``inspect(query)`` runs on a fork that is
  then thrown away. Each returns an ``Outcome``: status, outputs, reports, the outputs Merkle root
  the machine sent with its accept, and the cycles it took.
- ``encode_advance(metadata, payload)``: the ``EvmAdvance`` bytes the node writes to the receive
  buffer, from the rollup HTTP API's metadata (``dapp/rollup/cmio.py`` decodes them).
"""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import socket
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import eth_abi
from eth_utils import function_signature_to_4byte_selector

from mlmarket.client.sessions import session_for

TX_BUFFER = 0x60800000
REQUEST_ADVANCE, REQUEST_INSPECT = 0, 1
CMD_AUTOMATIC, CMD_MANUAL = 0, 1
AUTOMATIC_PROGRESS, AUTOMATIC_OUTPUT, AUTOMATIC_REPORT = 1, 2, 4
MANUAL_STATUS = {1: "accepted", 2: "rejected", 4: "exception"}
EVM_ADVANCE = function_signature_to_4byte_selector(
    "EvmAdvance(uint256,address,address,uint256,uint256,uint256,uint256,bytes)")
EVM_ADVANCE_TYPES = ["uint256", "address", "address", "uint256", "uint256", "uint256", "uint256", "bytes"]
# What the machine may spend on one request before the node gives up on it (the Cartesi node's
# default advance budget is far larger; inputs here are bounded by the backend's own limits).
DEFAULT_MAX_CYCLES = 1 << 40
RUNTIME_CONFIG = {"skip_root_hash_check": True}
SHUTDOWN_TIMEOUT = 10.0  # seconds: a server busy in machine.run does not answer; it is killed instead
REPOSITORY = Path(__file__).resolve().parent.parent


class MachineUnavailable(RuntimeError):
    """The prebuilt Cartesi machine is not on this host."""


class MachineError(RuntimeError):
    """The machine server failed, or the machine did something a rollup machine must not."""


def machine_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The directory of the prebuilt cartesi-machine (``bin/``, ``lib/``, ``images/``)."""
    chosen = Path(explicit or os.environ.get("CARTESI_MACHINE_DIR") or REPOSITORY.parent / "shared" / "cartesi-machine")
    if not (chosen / "bin" / "cartesi-jsonrpc-machine").is_file():
        raise MachineUnavailable(
            f"no Cartesi machine at {chosen} (expected bin/cartesi-jsonrpc-machine): this needs the prebuilt "
            "cartesi-machine 0.19.0 (../shared/cartesi-machine beside the repository, or CARTESI_MACHINE_DIR)")
    return chosen


def machine_env(directory: Path) -> dict[str, str]:
    """The environment the machine's programs run with (its libraries, its kernel images)."""
    return {**os.environ, "LD_LIBRARY_PATH": str(directory / "lib"),
            "CARTESI_IMAGES_PATH": str(directory / "images")}


class RpcServer:
    """One ``cartesi-jsonrpc-machine`` server at ``address`` (``host:port``)."""

    def __init__(self, address: str, process: subprocess.Popen[bytes] | None = None, pid: int | None = None) -> None:
        self.address = address
        self.process = process
        self.pid = process.pid if process is not None else pid
        self.url = f"http://{address}/"
        self.session = session_for(self.url)
        self.ids = 0

    @classmethod
    def spawn(cls, directory: Path, log_path: Path) -> RpcServer:
        """Starts a server on a free port of 127.0.0.1 (its socket bound here and handed over), in this
        process's group: whatever ends the group (the devnode stopping its backend, or ending one a killed
        node left) ends the machine servers too."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.bind(("127.0.0.1", 0))
            listener.listen(16)
            port = listener.getsockname()[1]
            log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(log_path, "ab") as log:
                process = subprocess.Popen(
                    [str(directory / "bin" / "cartesi-jsonrpc-machine"), f"--server-fd={listener.fileno()}"],
                    pass_fds=[listener.fileno()], env=machine_env(directory), stdin=subprocess.DEVNULL,
                    stdout=log, stderr=subprocess.STDOUT)
        finally:
            listener.close()
        return cls(f"127.0.0.1:{port}", process)

    def call(self, method: str, params: Mapping[str, Any] | None = None, *, timeout: float | None = None) -> Any:
        """Calls ``method``; returns its result or raises ``MachineError`` with the server's message.
        No timeout by default: ``machine.run`` lasts as long as the machine computes."""
        self.ids += 1
        body = {"jsonrpc": "2.0", "id": self.ids, "method": method, "params": dict(params or {})}
        try:
            response = self.session.post(self.url, json=body, timeout=timeout)
            answer = response.json()
        except Exception as exc:  # noqa: BLE001 - connection refused, reset, not JSON: all one failure here
            raise MachineError(f"machine server {self.address}: {method} failed: {exc}") from exc
        if "error" in answer:
            raise MachineError(f"machine server {self.address}: {method}: {answer['error'].get('message')}")
        return answer.get("result")

    def fork(self) -> RpcServer:
        """A copy of this server and its machine, at a new address (the Cartesi node's snapshot)."""
        result = self.call("fork")
        return RpcServer(result["address"], pid=result.get("pid"))

    def shutdown(self) -> None:
        """Ends the server (and waits for the process this object started, if any)."""
        try:
            self.call("shutdown", timeout=SHUTDOWN_TIMEOUT)
        except MachineError:
            self.kill()
        self.session.close()
        if self.process is not None:
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """Ends the server's process at once (SIGKILL), e.g. while it is busy in ``machine.run``."""
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


@dataclass(frozen=True)
class Outcome:
    """How the machine finished one request.

    ``status``: ``accepted``, ``rejected``, ``exception`` (the machine's manual yields), ``halted`` or
    ``cycle_limit`` (the node's verdicts; the machine is rolled back for all but ``accepted``).
    ``root``: the outputs Merkle root sent with an accept. ``cycles``: machine cycles the request took.
    """

    status: str
    outputs: list[bytes] = field(default_factory=list)
    reports: list[bytes] = field(default_factory=list)
    root: bytes | None = None
    cycles: int = 0
    exception: bytes = b""

    @property
    def accepted(self) -> bool:
        """Whether the machine accepted the request."""
        return self.status == "accepted"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class CmioMachine:
    """A rollup machine on a JSON-RPC server, waiting at a manual yield for its next request."""

    def __init__(self, server: RpcServer, max_cycles: int = DEFAULT_MAX_CYCLES) -> None:
        self.server = server
        self.max_cycles = max_cycles
        self.live: dict[str, RpcServer] = {server.address: server}  # every server not yet shut down

    @classmethod
    def load(cls, snapshot: Path, *, directory: Path | None = None, log_path: Path,
             max_cycles: int = DEFAULT_MAX_CYCLES) -> CmioMachine:
        """Spawns a server and loads the stored machine ``snapshot`` (taken at the backend's first yield)."""
        server = RpcServer.spawn(directory or machine_dir(), log_path)
        try:
            server.call("machine.load", {"directory": str(snapshot), "runtime_config": RUNTIME_CONFIG})
            machine = cls(server, max_cycles)
            cmd, reason, _ = machine._request()
            if not machine._reg("iflags_Y") or cmd != CMD_MANUAL or MANUAL_STATUS.get(reason) != "accepted":
                raise MachineError(f"the machine in {snapshot} is not waiting for a request (it must be stored "
                                   "at the backend's first accepting manual yield)")
        except BaseException:
            server.shutdown()
            raise
        return machine

    def _reg(self, name: str) -> int:
        return int(self.server.call("machine.read_reg", {"reg": name}))

    def mcycle(self) -> int:
        """The machine's cycle counter."""
        return self._reg("mcycle")

    def _request(self) -> tuple[int, int, bytes]:
        """The pending yield: ``(cmd, reason, data)``, as ``cm_receive_cmio_request``."""
        tohost = self._reg("htif_tohost")
        cmd, reason, length = tohost >> 48 & 0xFF, tohost >> 32 & 0xFFFF, tohost & 0xFFFFFFFF
        if cmd == CMD_AUTOMATIC and reason == AUTOMATIC_PROGRESS:
            return cmd, reason, length.to_bytes(4, "little")
        data = self.server.call("machine.read_memory", {"address": TX_BUFFER, "length": length}) if length else ""
        return cmd, reason, base64.b64decode(data)

    def _serve(self, reason: int, request: bytes) -> Outcome:
        """Hands ``request`` to the waiting machine and runs it to its next manual yield (or the limit)."""
        self.server.call("machine.send_cmio_response", {"reason": reason, "data": _b64(request)})
        start = self.mcycle()
        end = start + self.max_cycles
        outputs: list[bytes] = []
        reports: list[bytes] = []
        while True:
            stop = self.server.call("machine.run", {"mcycle_end": end})
            if stop == "yielded_automatically":
                _, kind, data = self._request()
                if kind == AUTOMATIC_OUTPUT:
                    outputs.append(data)
                elif kind == AUTOMATIC_REPORT:
                    reports.append(data)
                continue
            cycles = self.mcycle() - start
            if stop == "yielded_manually":
                _, kind, data = self._request()
                status = MANUAL_STATUS.get(kind)
                if status is None:
                    raise MachineError(f"the machine yielded with unknown manual reason {kind}")
                return Outcome(status, outputs, reports, data if status == "accepted" else None, cycles,
                               data if status == "exception" else b"")
            if stop == "halted":
                return Outcome("halted", outputs, reports, cycles=cycles)
            if stop == "reached_target_mcycle":
                return Outcome("cycle_limit", outputs, reports, cycles=cycles)
            raise MachineError(f"machine.run stopped with {stop!r}")

    def _fork(self) -> RpcServer:
        fork = self.server.fork()
        self.live[fork.address] = fork
        return fork

    def _end(self, server: RpcServer) -> None:
        self.live.pop(server.address, None)
        server.shutdown()

    def advance(self, request: bytes) -> Outcome:
        """Runs one advance (``EvmAdvance`` bytes); the machine is rolled back unless it accepts."""
        backup = self._fork()
        try:
            outcome = self._serve(REQUEST_ADVANCE, request)
        except BaseException:
            self._swap(backup)
            raise
        if outcome.accepted:
            self._end(backup)
        else:
            self._swap(backup)
        return outcome

    def inspect(self, query: bytes) -> Outcome:
        """Runs an inspect query on a fork of the machine, which is then discarded."""
        fork = self._fork()
        try:
            return CmioMachine(fork, self.max_cycles)._serve(REQUEST_INSPECT, query)
        finally:
            self._end(fork)

    def _swap(self, backup: RpcServer) -> None:
        """Rollback: the current server ends, the snapshot taken before the request takes its place."""
        self._end(self.server)
        self.server = backup

    def store(self, directory: Path) -> None:
        """Stores the machine (as it is now) in ``directory``, which must not exist."""
        self.server.call("machine.store", {"directory": str(directory)})

    def root_hash(self) -> bytes:
        """The machine's state root hash."""
        return base64.b64decode(self.server.call("machine.get_root_hash"))

    def shutdown(self) -> None:
        """Ends the machine's server and every fork of it still running."""
        for server in list(self.live.values()):
            self._end(server)

    def kill(self) -> None:
        """Ends every server of the machine at once (SIGKILL): for a signal handler, while a request runs."""
        for server in self.live.values():
            server.kill()


def encode_advance(metadata: Mapping[str, Any], payload: bytes) -> bytes:
    """The ``EvmAdvance`` request the node writes for an input (``metadata`` as the rollup HTTP API's)."""
    values = [int(metadata["chain_id"]), metadata["app_contract"], metadata["msg_sender"],
              int(metadata["block_number"]), int(metadata["block_timestamp"]),
              int(str(metadata["prev_randao"]), 16) if isinstance(metadata["prev_randao"], str)
              else int(metadata["prev_randao"]), int(metadata["input_index"]), payload]
    return EVM_ADVANCE + eth_abi.encode(EVM_ADVANCE_TYPES, values)
