"""The rollup HTTP API client (CARTESI-FACTS §1): ``/finish``, ``/notice``, ``/voucher``, ``/report``."""

from __future__ import annotations

import logging
import time
from typing import Any

import requests

from dapp.codec.hexbytes import to_hex
from dapp.domain.values import Address

log = logging.getLogger(__name__)


class RollupHttpError(RuntimeError):
    """The server refused a request (4xx/5xx)."""


class HttpRollup:
    """Talks to ``ROLLUP_HTTP_SERVER_URL``. Connection failures are retried with a capped backoff
    (the server may start after the backend); refusals raise ``RollupHttpError``."""

    def __init__(self, url: str, *, timeout: float = 600.0, retry_delay: float = 0.05) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.retry_delay = retry_delay
        self.session = requests.Session()
        self.session.trust_env = False  # the rollup server is local: no proxy, no scan of os.environ per call

    def _post(self, path: str, body: dict[str, Any]) -> requests.Response:
        delay = self.retry_delay
        while True:
            try:
                response = self.session.post(f"{self.url}{path}", json=body, timeout=self.timeout)
            except requests.ConnectionError as exc:
                log.warning("rollup server unreachable (%s); retrying in %.2fs", exc.__class__.__name__, delay)
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            if response.status_code >= 400:
                raise RollupHttpError(f"POST {path}: {response.status_code} {response.text[:500]}")
            return response

    def finish(self, accept: bool) -> dict[str, Any] | None:
        """POST /finish; 202 means no request yet (returns None)."""
        response = self._post("/finish", {"status": "accept" if accept else "reject"})
        if response.status_code == 202:
            time.sleep(self.retry_delay)
            return None
        return response.json()

    def notice(self, payload: bytes) -> int:
        """POST /notice."""
        return self._post("/notice", {"payload": to_hex(payload)}).json()["index"]

    def voucher(self, destination: Address, value: int, payload: bytes) -> int:
        """POST /voucher with ``value`` as 64 zero-padded hex digits (the real server's format)."""
        body = {"destination": destination.hex, "value": "0x" + value.to_bytes(32, "big").hex(),
                "payload": to_hex(payload)}
        return self._post("/voucher", body).json()["index"]

    def report(self, payload: bytes) -> None:
        """POST /report."""
        self._post("/report", {"payload": to_hex(payload)})
