"""A tiny backend speaking the rollup HTTP API, standing in for ``python -m dapp`` in devnode tests.

Its state is one counter: the number of accepted inputs. By the first payload byte of an advance:
- ``ff``: emits a notice, a voucher and a report, then rejects (the notice and voucher must vanish);
- ``fe``: emits ``Voucher(payload[1:21], uint(payload[21:53]), payload[53:])``;
- ``fd``: the first time it sees this input (marker file in ``$FAKE_MARKER_DIR``) it sleeps 60 s,
  so a test can kill it mid-input; later incarnations answer at once like a plain input;
- ``fc``: posts ``/exception``, then waits to be killed;
- anything else: emits the notice ``counter (8 bytes) ‖ payload`` (``‖ 8 random bytes`` when
  ``$FAKE_NONDETERMINISTIC`` is set) and the report ``b"ok"``.
Every accepted input increments the counter. An inspect answers the report ``b"count=N;" ‖ payload``.
It writes ``input-<index>-<pid>`` in ``$FAKE_MARKER_DIR`` (if set) when an advance starts.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

URL = os.environ["ROLLUP_HTTP_SERVER_URL"]
MARKERS = Path(os.environ["FAKE_MARKER_DIR"]) if os.environ.get("FAKE_MARKER_DIR") else None


def post(path: str, body: dict) -> tuple[int, dict | None]:
    request = urllib.request.Request(URL + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            data = answer.read()
            return answer.status, (json.loads(data) if data else None)
    except urllib.error.HTTPError as exc:
        raise SystemExit(f"fake backend: {path} answered {exc.code}: {exc.read()!r}") from exc


def hexed(data: bytes) -> str:
    return "0x" + data.hex()


def advance(payload: bytes, index: int, counter: int) -> str:
    if MARKERS is not None:
        (MARKERS / f"input-{index}-{os.getpid()}").touch()
    op = payload[:1]
    if op == b"\xff":
        post("/notice", {"payload": hexed(b"discard me")})
        post("/voucher", {"destination": "0x" + "11" * 20, "value": "0x" + "00" * 32, "payload": "0x"})
        post("/report", {"payload": hexed(b"rejected: " + payload)})
        return "reject"
    if op == b"\xfe":
        value = int.from_bytes(payload[21:53], "big")
        post("/voucher", {"destination": hexed(payload[1:21]), "value": f"0x{value:064x}",
                          "payload": hexed(payload[53:])})
        return "accept"
    if op == b"\xfd" and MARKERS is not None:
        slept = MARKERS / f"slept-{index}"
        if not slept.exists():
            slept.touch()
            time.sleep(60)
    if op == b"\xfc":
        post("/exception", {"payload": hexed(b"fake backend gave up")})
        time.sleep(60)
    notice = counter.to_bytes(8, "big") + payload
    if os.environ.get("FAKE_NONDETERMINISTIC"):
        notice += os.urandom(8)
    post("/notice", {"payload": hexed(notice)})
    post("/report", {"payload": hexed(b"ok")})
    return "accept"


def main() -> None:
    counter, status = 0, "accept"
    while True:
        code, request = post("/finish", {"status": status})
        if code == 202 or request is None:
            continue
        payload = bytes.fromhex(request["data"]["payload"][2:])
        if request["request_type"] == "inspect_state":
            post("/report", {"payload": hexed(b"count=%d;" % counter + payload)})
            status = "accept"
            continue
        status = advance(payload, request["data"]["metadata"]["input_index"], counter)
        counter += status == "accept"


if __name__ == "__main__":
    main()
