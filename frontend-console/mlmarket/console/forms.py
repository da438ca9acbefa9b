"""Server-side validation of the console's forms (pure: no network, no Flask).

Each parser takes the submitted fields (a mapping of strings) and returns typed values, or raises
``FormErrors`` mapping field names to clear messages. Job specs are checked by the client library's
``spec_from_dict`` (the same rules as ``mlmarket job create``); a ``SpecError`` naming a key is shown
next to that key's field.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from web3 import Web3

from dapp.domain.commands import JobSpec
from mlmarket.client.amounts import parse_amount
from mlmarket.client.chain import ETHER
from mlmarket.client.errors import SpecError
from mlmarket.client.jobspec import KEYS, parse_bytes32, parse_cid, spec_from_dict

POLICIES = ("threshold", "manual", "best", "rounds")
TASKS = ("classification", "regression")
METRICS = {"classification": ("accuracy", "balanced_accuracy", "f1", "roc_auc", "log_loss"),
           "regression": ("r2", "mae", "rmse")}
UNITS = {"minutes": 60, "hours": 3600, "days": 86400}
MAX_DURATION = 31_622_400
POLICY_FIELDS = {
    "threshold": ("reward_per_accept", "min_gain", "test_commitment", "reveal_window"),
    "manual": ("reward_per_accept", "accept_by_default"),
    "best": ("test_commitment", "reveal_window"),
    "rounds": ("reward_per_accept", "rounds", "round_quota", "round_duration", "tolerance"),
}
"""Spec keys only some policies use; the others must stay zero, so fields of other policies are ignored."""
HIDDEN_TEST_POLICIES = tuple(p for p, keys in POLICY_FIELDS.items() if "test_commitment" in keys)
"""Policies that may keep a hidden test set (docs/PROTOCOL.md §4.2: ``best`` and ``threshold``)."""
_COMMON = ("title", "policy", "task", "label", "metric", "validation_cid", "base_model_cid", "min_score",
           "deadline", "stake", "max_submissions", "gated")
_KEY_PREFIX = re.compile(r"^(\w+):")
_HEX = re.compile(r"[0-9a-fA-F]*")
_BASE32 = re.compile(r"[a-zA-Z2-7]+")


class FormErrors(ValueError):
    """Field name -> message for every field that failed (``""`` for the form as a whole)."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" if k else v for k, v in errors.items()))
        self.errors = dict(errors)


def text(form: Mapping[str, str], name: str) -> str:
    """The stripped text of field ``name`` ('' when absent)."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def checked(form: Mapping[str, str], name: str) -> bool:
    """Whether checkbox ``name`` was ticked."""
    return text(form, name) in ("on", "1", "true", "yes")


def whole(form: Mapping[str, str], name: str, *, lo: int = 0, hi: int = 2**64 - 1, default: int | None = None) -> int:
    """Field ``name`` as a whole number in [lo, hi] (``default`` when empty)."""
    raw = text(form, name)
    if not raw and default is not None:
        return default
    if not raw.isdigit() or not lo <= int(raw) <= hi:
        raise FormErrors({name: f"expected a whole number from {lo} to {hi}, got {raw!r}" if raw else "required"})
    return int(raw)


def token_choice(form: Mapping[str, str], test_token: str | None, prefix: str = "") -> str:
    """The token chosen with ``<prefix>token`` (``test``, ``eth`` or ``custom`` + ``<prefix>token_address``)."""
    choice = text(form, f"{prefix}token") or ("test" if test_token else "eth")
    if choice == "eth":
        return ETHER
    if choice == "test":
        if not test_token:
            raise FormErrors({f"{prefix}token": "this node has no test token: choose Ether or a token address"})
        return Web3.to_checksum_address(test_token)
    address = text(form, f"{prefix}token_address")
    if choice != "custom" or not Web3.is_address(address):
        raise FormErrors({f"{prefix}token_address": f"not a token address: {address!r}"})
    return Web3.to_checksum_address(address)


def amount(form: Mapping[str, str], name: str, decimals: int, *, positive: bool = True) -> int:
    """Field ``name`` in token units (``1.5``; ``<N>wei`` for base units) as base units."""
    raw = text(form, name)
    if not raw:
        raise FormErrors({name: "required"})
    try:
        value = parse_amount(raw, decimals=decimals, what=name)
    except SpecError as exc:
        raise FormErrors({name: exc.message.removeprefix(f"{name}: ")}) from None
    if positive and value <= 0:
        raise FormErrors({name: "must be more than 0"})
    return value


def cid_field(form: Mapping[str, str], name: str, *, required: bool = False) -> bytes:
    """Field ``name`` as a binary CID (``b""`` when empty and not ``required``)."""
    raw = text(form, name)
    if not raw:
        if required:
            raise FormErrors({name: "required: upload a file or paste its CID"})
        return b""
    try:
        return parse_cid(raw, name)
    except SpecError:
        raise FormErrors({name: cid_problem(raw)}) from None


def cid_problem(raw: str) -> str:
    """Why ``raw`` is not a CID, as a sentence (the decoder's own message names its alphabets)."""
    shown = raw if len(raw) <= 24 else raw[:20] + "…"
    if raw.startswith("Qm"):
        return (f"“{shown}” is a version 0 CID; the dApp names files by version 1 CIDs (bafkrei…, as "
                f"“ipfs add --cid-version 1 --raw-leaves” prints them): choose the file instead")
    if not raw.startswith("b"):
        return (f"“{shown}” is not a CID: a CID starts with “bafk” or “bafy” (as “ipfs add "
                f"--cid-version 1 --raw-leaves” prints it); choose the file instead and the console "
                f"computes it")
    if not _BASE32.fullmatch(raw[1:]):
        return (f"“{shown}” is not a CID: after its first letter a CID has only the letters a–z and "
                f"the digits 2–7; check that it was copied whole, or choose the file instead")
    return (f"“{shown}” is not a complete CID (too short or damaged): check that it was copied whole, "
            f"or choose the file instead")


def validation_field(cid: str) -> str:
    """The validation set's CID, which every job needs (docs/PROTOCOL.md §4.1): submissions are scored
    on it and, with a hidden test set, a fallback split is decided on it."""
    if not cid:
        raise FormErrors({"validation_cid": "required for every job, with a hidden test set too (a fallback "
                                            "split is decided on it): upload the validation CSV or paste its CID"})
    return cid


def deadline(form: Mapping[str, str]) -> str:
    """``duration`` × ``duration_unit`` from now as the spec's relative ``"+SECONDS"``."""
    unit = UNITS.get(text(form, "duration_unit") or "hours")
    if unit is None:
        raise FormErrors({"duration_unit": "choose minutes, hours or days"})
    seconds = whole(form, "duration", lo=1, hi=MAX_DURATION) * unit
    if seconds > MAX_DURATION:
        raise FormErrors({"duration": f"a job lasts at most {MAX_DURATION // 86400} days"})
    return f"+{seconds}"


def spec_fields(form: Mapping[str, str], *, validation_cid: str, base_model_cid: str,
                test_commitment: str | None) -> dict[str, Any]:
    """The job spec's keys (as ``spec_from_dict`` takes them) from the create form: only the keys of
    the chosen policy, empty fields left to their defaults."""
    policy = text(form, "policy")
    if policy not in POLICIES:
        raise FormErrors({"policy": f"choose one of {', '.join(POLICIES)}"})
    task = text(form, "task")
    if task not in TASKS:
        raise FormErrors({"task": f"choose one of {', '.join(TASKS)}"})
    if text(form, "metric") not in METRICS[task]:
        raise FormErrors({"metric": f"for {task}, choose one of {', '.join(METRICS[task])}"})
    if not text(form, "label"):
        raise FormErrors({"label": "required: the name of the label column of the CSV files"})
    values: dict[str, Any] = {"policy": policy, "task": task, "label": text(form, "label"),
                              "metric": text(form, "metric"), "title": text(form, "title"),
                              "deadline": deadline(form), "gated": checked(form, "gated"),
                              "payout_vouchers": checked(form, "payout_vouchers"),
                              "validation_cid": validation_cid, "base_model_cid": base_model_cid}
    allowed = set(_COMMON) | set(POLICY_FIELDS[policy])
    for key in ("min_score", "min_gain", "tolerance", "reward_per_accept", "stake"):
        if key in allowed and text(form, key):
            values[key] = text(form, key)
    for key in ("max_submissions", "rounds", "round_quota", "round_duration", "reveal_window"):
        if key in allowed and text(form, key):
            values[key] = whole(form, key, hi=2**32 - 1)
    if policy == "manual":
        values["accept_by_default"] = checked(form, "accept_by_default")
    if policy in HIDDEN_TEST_POLICIES and test_commitment:
        values["test_commitment"] = test_commitment
        values["reveal_window"] = whole(form, "reveal_window", lo=1, hi=MAX_DURATION, default=86400)
    return values  # a reveal window without a hidden test set goes to the pre-flight, which refuses it


def to_spec(values: Mapping[str, Any], *, now: Callable[[], int], decimals: int) -> JobSpec:
    """``spec_from_dict`` with a ``SpecError`` turned into the error of the field it names."""
    try:
        return spec_from_dict(values, now=now, decimals=decimals)
    except SpecError as exc:
        match = _KEY_PREFIX.match(exc.message)
        key = match.group(1) if match and match.group(1) in KEYS else ""
        field = {"deadline": "duration"}.get(key, key)
        raise FormErrors({field: exc.message.removeprefix(f"{key}: ") if key else exc.message}) from None


def salt_field(form: Mapping[str, str], name: str = "salt") -> bytes:
    """A 32-byte salt written as ``0x`` + 64 hex digits."""
    try:
        return parse_bytes32(text(form, name), name)
    except SpecError as exc:
        raise FormErrors({name: exc.message.removeprefix(f"{name}: ")}) from None


def address_field(form: Mapping[str, str], name: str) -> str:
    """Field ``name`` as a checksummed account address."""
    raw = text(form, name)
    if not Web3.is_address(raw):
        raise FormErrors({name: f"not an account address: {raw!r}" if raw else "required: an account address (0x…)"})
    return Web3.to_checksum_address(raw)


def hex_field(form: Mapping[str, str], name: str, *, limit: int) -> bytes:
    """Field ``name`` as bytes written in hex (``0x`` optional; empty gives ``b""``), at most ``limit``."""
    raw = text(form, name)
    digits = raw[2:] if raw[:2].lower() == "0x" else raw
    if len(digits) > 2 * limit:
        raise FormErrors({name: f"at most {limit} bytes ({2 * limit} hex digits), got {len(digits)} digits"})
    if len(digits) % 2 or not _HEX.fullmatch(digits):
        raise FormErrors({name: "expected hex digits (0x…), an even number of them"})
    return bytes.fromhex(digits)
