"""Job specs as JSON files -> the protocol's ``JobSpec`` (keys documented in docs/CLI.md).

Keys are the snake_case of the ABI struct's fields. Scores (``min_score``, ``min_gain``,
``tolerance``) are in the metric's units and become int64 millionths; token amounts
(``reward_per_accept``, ``stake``) are in token units like ``--reward`` (``"1.5"``; ``"<N>wei"`` for
base units); CIDs are text (``bafk…``/``bafy…``); ``deadline`` is unix seconds or ``"+SECONDS"``
from the latest block's timestamp. The client checks types and units only; the machine checks the
rules (``dapp.domain.spec``) and answers a broken one with a clear report.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import astuple, fields
from pathlib import Path
from typing import Any

from dapp.codec.cid import cid_from_text
from dapp.codec.commitment import test_commitment
from dapp.domain.commands import JobSpec
from dapp.errors import InvalidInput
from mlmarket.client.amounts import ETHER_DECIMALS, parse_amount, to_millionths
from mlmarket.client.errors import SpecError

REQUIRED = ("policy", "task", "label", "metric", "deadline")
SCORES = ("min_score", "min_gain", "tolerance")
NORMS = ("clip_norm",)  # a length in the model's parameter space, as millionths
AMOUNTS = ("reward_per_accept", "stake")
CIDS = ("validation_cid", "base_model_cid")
STRINGS = ("title", "policy", "task", "label", "metric", "aggregation", "reward")
BOOLS = ("accept_by_default", "gated", "payout_vouchers")
UINT_BITS = {"reveal_window": 64, "rounds": 32, "round_quota": 32, "round_duration": 64, "max_submissions": 32,
             "top_k": 32, "permutations": 32}
KEYS = tuple(f.name for f in fields(JobSpec))
MAX_SPEC_FILE = 64 * 1024
_RELATIVE = re.compile(r"^\+(\d+)$")


def parse_cid(text: Any, what: str = "cid") -> bytes:
    """A textual CIDv1 (``bafk…``/``bafy…``) as binary. Raises ``SpecError`` naming ``what``."""
    if not isinstance(text, str):
        raise SpecError(f"{what}: expected a CID as text, got {text!r}")
    try:
        return cid_from_text(text)
    except InvalidInput as exc:
        raise SpecError(f"{what}: {exc.message}") from exc


def _uint(value: Any, key: str, bits: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < (1 << bits):
        raise SpecError(f"{key}: expected a whole number from 0 to {(1 << bits) - 1}, got {value!r}")
    return value


def parse_deadline(value: Any, now: Callable[[], int]) -> int:
    """Unix seconds, or ``"+SECONDS"`` added to ``now()`` (the latest block's timestamp)."""
    if isinstance(value, str):
        match = _RELATIVE.match(value.strip())
        if match:
            return _uint(now() + int(match.group(1)), "deadline", 64)
        if value.strip().isdigit():
            return _uint(int(value.strip()), "deadline", 64)
        raise SpecError(f"deadline: expected unix seconds or \"+SECONDS\", got {value!r}")
    return _uint(value, "deadline", 64)


def parse_bytes32(value: Any, what: str) -> bytes:
    """``0x`` + 64 hex digits as 32 bytes."""
    if not isinstance(value, str) or not re.fullmatch(r"0x[0-9a-fA-F]{64}", value):
        raise SpecError(f"{what}: expected 0x followed by 64 hex digits, got {value!r}")
    return bytes.fromhex(value[2:])


def _convert(key: str, value: Any, now: Callable[[], int], decimals: int) -> Any:
    if key in STRINGS:
        if not isinstance(value, str):
            raise SpecError(f"{key}: expected a string, got {value!r}")
        return value
    if key in CIDS:
        return parse_cid(value, key) if value else b""
    if key in SCORES:
        return to_millionths(value, key)
    if key in NORMS:
        norm = to_millionths(value, key)
        if not 0 <= norm < 1 << 64:
            raise SpecError(f"{key}: expected a length from 0 (the default bound) up, got {value!r}")
        return norm
    if key in AMOUNTS:
        return parse_amount(value, decimals=decimals, what=key)
    if key in BOOLS:
        if not isinstance(value, bool):
            raise SpecError(f"{key}: expected true or false, got {value!r}")
        return value
    if key == "deadline":
        return parse_deadline(value, now)
    if key == "test_commitment":
        return parse_bytes32(value, key) if value else bytes(32)
    return _uint(value, key, UINT_BITS[key])


def spec_from_dict(data: Mapping[str, Any], *, now: Callable[[], int],
                   decimals: int = ETHER_DECIMALS) -> JobSpec:
    """Converts a spec's keys (module doc) into a ``JobSpec``. ``now`` is called only for a relative
    deadline; ``decimals`` is the job token's. Raises ``SpecError`` naming every unknown key, else
    the first missing or malformed one."""
    if not isinstance(data, Mapping):
        raise SpecError("a job spec is a JSON object")
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise SpecError(f"unknown key{'s' if len(unknown) > 1 else ''} in the job spec: {', '.join(unknown)} "
                        f"(known: {', '.join(KEYS)})")
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise SpecError(f"the job spec lacks {', '.join(missing)}")
    defaults: dict[str, Any] = {k: 0 for k in KEYS}
    defaults.update(title="", aggregation="", reward="", validation_cid=b"", base_model_cid=b"",
                    test_commitment=bytes(32), accept_by_default=False, gated=False, payout_vouchers=False)
    values = {**defaults, **{k: _convert(k, v, now, decimals) for k, v in data.items()}}
    return JobSpec(**values)


def load_spec(path: str | Path, *, now: Callable[[], int], decimals: int = ETHER_DECIMALS) -> JobSpec:
    """Reads a JSON spec file (at most 64 KiB) and converts it (``spec_from_dict``)."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_SPEC_FILE + 1)
    except OSError as exc:
        raise SpecError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if len(raw) > MAX_SPEC_FILE:
        raise SpecError(f"{path} is larger than {MAX_SPEC_FILE} bytes")
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise SpecError(f"{path} is not valid JSON: {exc}") from exc
    return spec_from_dict(data, now=now, decimals=decimals)


def spec_tuple(spec: JobSpec) -> tuple[Any, ...]:
    """The ``JobSpec`` ABI tuple (fields in struct order) for ``createJob``."""
    return astuple(spec)


def hidden_test_commitment(test_cid: bytes, salt: bytes) -> bytes:
    """What a sponsor commits to for a hidden test set and ``revealTestSet`` must match
    (``dapp.codec.commitment``: ``keccak256(abi.encode(bytes testCid, bytes32 salt))``)."""
    if len(salt) != 32:
        raise SpecError(f"the salt is 32 bytes, got {len(salt)}")
    return test_commitment(test_cid, salt)
