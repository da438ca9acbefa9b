"""The console's settings: read once from the environment (or a mapping given to ``create_app``).

The node, chain and application come from the client library's discovery (``mlmarket.client.config``):
``MLMARKET_RPC_URL``, ``MLMARKET_NODE_URL``, ``MLMARKET_APP`` and the local node's ``node.json`` in
``MLMARKET_DEVNODE_DIR``, so that with nothing set the console runs against the local node. The
console's own variables:

| variable | default | meaning |
|---|---|---|
| ``MLMARKET_CONSOLE_SECRET_KEY`` | random at each start | signs the session cookie (account choice, CSRF token) |
| ``MLMARKET_CONSOLE_DEV_ACCOUNTS`` | ``auto`` | ``auto``: offer the dev accounts (signed server-side) only on a local chain (chain id 31337 on a loopback RPC URL); ``off``: never |
| ``MLMARKET_CONSOLE_UPLOAD_DIR`` | a temporary directory | where files waiting to be uploaded are kept (by CID) so that an upload resumes after a reload |
| ``MLMARKET_CONSOLE_WAIT_TIMEOUT`` | ``300`` | seconds to wait for the node to process an input |
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dapp.domain.limits import Limits

DEV_ACCOUNT_COUNT = 9
"""Dev accounts 0..8 are offered; 9 signs the local node's claims (docs/CLI.md)."""
LOCAL_CHAIN_ID = 31337
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


@dataclass(frozen=True)
class Settings:
    """Everything the console is configured with (module doc). ``market_factory`` replaces how a
    ``Market`` is built (tests pass a fake): ``factory(kind, value)`` with kind ``read``, ``dev``
    (value: the account index) or ``wallet`` (value: the address)."""

    environ: Mapping[str, str] = field(default_factory=dict)
    secret_key: str = ""
    dev_accounts: str = "auto"
    upload_dir: Path = Path(tempfile.gettempdir()) / "mlmarket-console-uploads"
    wait_timeout: float = 300.0
    max_file_size: int = Limits().max_file_size
    max_public_key_bytes: int = Limits().max_public_key_bytes
    max_staged_bytes: int = 256 * 1024 * 1024
    market_factory: Callable[[str, Any], Any] | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``environ`` (default ``os.environ``), then ``overrides`` (field names)."""
        env = dict(os.environ if environ is None else environ)
        mode = env.get("MLMARKET_CONSOLE_DEV_ACCOUNTS", "auto").strip().lower() or "auto"
        if mode not in ("auto", "off"):
            raise ValueError(f"MLMARKET_CONSOLE_DEV_ACCOUNTS must be auto or off, got {mode!r}")
        limits = Limits.from_env(env)
        values: dict[str, Any] = {
            "environ": env,
            "secret_key": env.get("MLMARKET_CONSOLE_SECRET_KEY") or secrets.token_hex(32),
            "dev_accounts": mode,
            "wait_timeout": float(env.get("MLMARKET_CONSOLE_WAIT_TIMEOUT") or 300.0),
            "max_file_size": limits.max_file_size,
            "max_public_key_bytes": limits.max_public_key_bytes,
        }
        if env.get("MLMARKET_CONSOLE_UPLOAD_DIR"):
            values["upload_dir"] = Path(env["MLMARKET_CONSOLE_UPLOAD_DIR"]).expanduser()
        values.update(overrides)
        return cls(**values)
