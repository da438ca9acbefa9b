"""Run a local anvil (the base layer of the embedded node) and know its dev accounts.

Public API (stable; the node orchestrator and the CLI code against it):

- ``CHAIN_ID`` = 31337; the dev accounts come from ``mlmarket.client.accounts.DEV_MNEMONIC``.
- ``dev_accounts(n=10) -> list[LocalAccount]``: accounts ``m/44'/60'/0'/0/i`` of the mnemonic,
  the ones anvil funds with 10,000 ETH each.
- ``anvil_binary() -> Path``: ``$MLMARKET_ANVIL`` or ``node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil``
  under the repository root; ``AnvilError`` ("run make setup") if it is missing.
- ``start_anvil(host="127.0.0.1", port=0, *, block_time=None, state_path=None, log_path=None,
  timeout=30.0) -> Anvil``: starts anvil and returns once it answers ``eth_chainId``. ``port=0`` lets
  anvil pick a free port (read back from its "Listening on" line). ``state_path`` is anvil's
  ``--state``: loaded on start if the file exists, dumped on exit (``stop()`` interrupts anvil and
  waits, so the dump happens) and also every ``state_interval`` seconds as a crash guard. After a
  restart blocks, receipts and logs (``eth_getLogs``) are back; calls at historical blocks are not.
- ``Anvil``: ``.url``, ``.port``, ``.process``, ``.state_path``, ``.log_path``, ``.web3()``,
  ``.stop(timeout=15.0)``; a context manager that stops on exit.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests
from eth_account.signers.local import LocalAccount
from web3 import Web3

from mlmarket.client.accounts import DEV_MNEMONIC, dev_account
from mlmarket.client.sessions import session_for
from mlmarket.client.tx import web3_for

CHAIN_ID = 31337
_LISTENING = re.compile(r"Listening on [^\s:]+:(\d+)")


class AnvilError(RuntimeError):
    """anvil is missing, did not start, or did not answer in time."""


def repo_root() -> Path:
    """The repository root (the directory holding ``devnode/``)."""
    return Path(__file__).resolve().parents[1]


def anvil_binary() -> Path:
    """The anvil executable: ``$MLMARKET_ANVIL`` or the one npm installed under the repository."""
    configured = os.environ.get("MLMARKET_ANVIL")
    path = Path(configured) if configured else (
        repo_root() / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
    )
    if not path.is_file() or not os.access(path, os.X_OK):
        raise AnvilError(f"anvil not found at {path}: run `make setup` (or set MLMARKET_ANVIL)")
    return path


def dev_accounts(n: int = 10) -> list[LocalAccount]:
    """The first ``n`` accounts of ``DEV_MNEMONIC`` (anvil pre-funds the first 10)."""
    return [dev_account(i) for i in range(n)]


@dataclass
class Anvil:
    """A running anvil process; ``stop()`` it (or use ``with``) when done."""

    url: str
    port: int
    process: subprocess.Popen[bytes]
    state_path: Path | None
    log_path: Path
    _owned_log_dir: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    def web3(self, timeout: float = 30.0) -> Web3:
        """A ``Web3`` connected to this anvil over HTTP."""
        return web3_for(self.url, timeout)

    def stop(self, timeout: float = 15.0) -> None:
        """Interrupts anvil (it dumps ``--state`` on SIGINT) and waits; kills it after ``timeout``."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        if self._owned_log_dir is not None:
            self._owned_log_dir.cleanup()
            self._owned_log_dir = None

    def __enter__(self) -> Anvil:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_anvil(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    block_time: float | None = None,
    state_path: str | os.PathLike[str] | None = None,
    log_path: str | os.PathLike[str] | None = None,
    state_interval: int = 5,
    timeout: float = 30.0,
) -> Anvil:
    """Starts anvil (chain id 31337, ``DEV_MNEMONIC``) and waits until it answers ``eth_chainId``.

    ``block_time`` (seconds) switches from automine to interval mining. ``state_path`` persists the
    chain across restarts (anvil ``--state``; also dumped every ``state_interval`` seconds).
    ``log_path`` receives anvil's output (a temporary file otherwise, removed by ``stop()``).
    """
    binary = anvil_binary()
    owned = None
    if log_path is None:
        owned = tempfile.TemporaryDirectory(prefix="anvil-")
        log = Path(owned.name) / "anvil.log"
    else:
        log = Path(log_path)
        log.parent.mkdir(parents=True, exist_ok=True)
    args = [str(binary), "--host", host, "--port", str(port), "--chain-id", str(CHAIN_ID),
            "--mnemonic", DEV_MNEMONIC, "--accounts", "10"]
    if block_time is not None:
        args += ["--block-time", str(block_time)]
    state = Path(state_path) if state_path is not None else None
    if state is not None:
        state.parent.mkdir(parents=True, exist_ok=True)
        args += ["--state", str(state), "--state-interval", str(state_interval)]
    with open(log, "ab") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)  # Ctrl-C reaches the node, which stops anvil
    anvil = Anvil(url="", port=0, process=process, state_path=state, log_path=log, _owned_log_dir=owned)
    try:
        anvil.port = _wait_listening(process, log, port, timeout)
        anvil.url = f"http://{host}:{anvil.port}"
        _wait_chain_id(anvil, timeout)
    except BaseException:
        anvil.stop()
        raise
    return anvil


def _wait_listening(process: subprocess.Popen[bytes], log: Path, port: int, timeout: float) -> int:
    """The port anvil reports in its "Listening on host:port" line."""
    deadline = time.monotonic() + timeout
    offset = log.stat().st_size if log.exists() else 0
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AnvilError(f"anvil exited with {process.returncode}: {_tail(log)}")
        text = log.read_bytes()[offset:].decode(errors="replace") if log.exists() else ""
        match = _LISTENING.search(text)
        if match:
            return int(match.group(1))
        time.sleep(0.02)
    raise AnvilError(f"anvil did not report its port within {timeout}s (asked for {port}): {_tail(log)}")


def _wait_chain_id(anvil: Anvil, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
    with session_for(anvil.url) as session:
        while time.monotonic() < deadline:
            if anvil.process.poll() is not None:
                raise AnvilError(f"anvil exited with {anvil.process.returncode}: {_tail(anvil.log_path)}")
            try:
                answer = session.post(anvil.url, json=body, timeout=2).json()
                if int(answer["result"], 16) == CHAIN_ID:
                    return
                raise AnvilError(f"anvil at {anvil.url} answered chain id {answer['result']}")
            except (requests.RequestException, ValueError, KeyError):
                time.sleep(0.02)
    raise AnvilError(f"anvil at {anvil.url} did not answer eth_chainId within {timeout}s")


def _tail(log: Path, size: int = 2000) -> str:
    return log.read_bytes()[-size:].decode(errors="replace") if log.exists() else ""
