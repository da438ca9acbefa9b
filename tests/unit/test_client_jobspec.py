"""Job specs: JSON keys -> the JobSpec ABI tuple, with units converted and mistakes named."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from eth_hash.auto import keccak
from mlmarket.client import actions
from mlmarket.client.errors import SpecError
from mlmarket.client.jobspec import hidden_test_commitment, load_spec, parse_cid, spec_from_dict, spec_tuple
from multiformats import CID

from dapp.codec.abi import inputs

TOKEN = "0x" + "ab" * 20


def raw_cid(data: bytes) -> tuple[bytes, str]:
    """CIDv1 raw sha2-256 built by hand (CARTESI-FACTS §11) and its base32 text."""
    binary = bytes([0x01, 0x55, 0x12, 0x20]) + hashlib.sha256(data).digest()
    return binary, CID.decode(binary).encode("base32")


VALIDATION, VALIDATION_TEXT = raw_cid(b"a,b,label\n1,2,0\n")
BASE, BASE_TEXT = raw_cid(b'{"estimator": "LogisticRegression", "params": {}}')


def minimal(**extra: object) -> dict[str, object]:
    spec: dict[str, object] = {"policy": "threshold", "task": "classification", "label": "label",
                               "metric": "accuracy", "validation_cid": VALIDATION_TEXT, "deadline": 2_000_000_000}
    spec.update(extra)
    return spec


def never() -> int:
    raise AssertionError("the clock must not be read for an absolute deadline")


def abi_field_names() -> list[str]:
    """The JobSpec struct's field names from the compiled ABI, in order, as snake_case."""
    params = inputs()["createJob"].params
    spec_param = next(p for p in params if p["type"] == "tuple")
    return [re.sub(r"(?<!^)([A-Z])", r"_\1", c["name"]).lower() for c in spec_param["components"]]


def test_full_spec_converts_every_unit() -> None:
    spec = spec_from_dict(minimal(
        title="iris", base_model_cid=BASE_TEXT, min_score=0.9, min_gain="0.01", reward_per_accept="2.5",
        accept_by_default=False, test_commitment="0x" + "11" * 32, reveal_window=600, rounds=0,
        round_quota=0, round_duration=0, tolerance=0, stake="10wei", max_submissions=3, gated=True,
    ), now=never)
    fields = dict(zip(abi_field_names(), spec_tuple(spec)))
    assert fields["validation_cid"] == VALIDATION
    assert fields["base_model_cid"] == BASE
    assert fields["min_score"] == 900_000
    assert fields["min_gain"] == 10_000
    assert fields["reward_per_accept"] == 25 * 10**17
    assert fields["stake"] == 10
    assert fields["test_commitment"] == bytes([0x11]) * 32
    assert fields["deadline"] == 2_000_000_000
    assert fields["gated"] is True and fields["max_submissions"] == 3 and fields["title"] == "iris"


def test_spec_tuple_follows_the_abi_struct_order() -> None:
    spec = spec_from_dict(minimal(title="t", min_score=0.5, reward_per_accept=1), now=never)
    payload = actions.create_job(spec, TOKEN, 10**18).payload
    function, args = inputs().decode(payload)
    assert function.name == "createJob"
    decoded = dict(zip(abi_field_names(), args[2]))
    assert decoded["title"] == "t" and decoded["policy"] == "threshold" and decoded["label"] == "label"
    assert decoded["min_score"] == 500_000 and decoded["reward_per_accept"] == 10**18
    assert args[0] == TOKEN and args[1] == 10**18


def test_missing_optional_keys_default_to_zero_values() -> None:
    fields = dict(zip(abi_field_names(), spec_tuple(spec_from_dict(minimal(), now=never))))
    assert fields["base_model_cid"] == b"" and fields["test_commitment"] == bytes(32)
    assert fields["min_score"] == 0 and fields["stake"] == 0 and fields["accept_by_default"] is False


def test_relative_deadline_counts_from_the_latest_block() -> None:
    spec = spec_from_dict(minimal(deadline="+3600"), now=lambda: 1_700_000_000)
    assert spec.deadline == 1_700_003_600


def test_unknown_keys_are_all_named() -> None:
    with pytest.raises(SpecError) as info:
        spec_from_dict(minimal(reward=5, minscore=0.5), now=never)
    assert "minscore" in info.value.message and "reward" in info.value.message


def test_missing_required_key_is_named() -> None:
    data = minimal()
    del data["label"]
    with pytest.raises(SpecError, match="lacks label"):
        spec_from_dict(data, now=never)


@pytest.mark.parametrize(("key", "value", "named"), [
    ("validation_cid", "not-a-cid", "validation_cid"),
    ("validation_cid", 12, "validation_cid"),
    ("min_score", 0.1234567, "min_score"),
    ("reward_per_accept", "-1", "reward_per_accept"),
    ("deadline", "tomorrow", "deadline"),
    ("deadline", -5, "deadline"),
    ("gated", "yes", "gated"),
    ("rounds", 2**32, "rounds"),
    ("test_commitment", "0x1234", "test_commitment"),
    ("policy", 3, "policy"),
])
def test_malformed_values_name_their_key(key: str, value: object, named: str) -> None:
    with pytest.raises(SpecError, match=named):
        spec_from_dict(minimal(**{key: value}), now=never)


def test_cid_text_becomes_binary() -> None:
    binary, text = raw_cid(b"hello")
    assert parse_cid(text) == binary


def test_cidv0_is_refused_with_advice() -> None:
    v0 = CID.decode(raw_cid(b"x")[1]).set(version=0, codec="dag-pb", base="base58btc")
    with pytest.raises(SpecError, match="CIDv1"):
        parse_cid(str(v0))


def test_load_spec_reads_json_files(tmp_path: Path) -> None:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(minimal(min_score="0.8")))
    assert load_spec(path, now=never).min_score == 800_000


def test_load_spec_reports_bad_json(tmp_path: Path) -> None:
    path = tmp_path / "spec.json"
    path.write_text("{not json")
    with pytest.raises(SpecError, match="not valid JSON"):
        load_spec(path, now=never)


def test_load_spec_reports_missing_files(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read"):
        load_spec(tmp_path / "absent.json", now=never)


def test_hidden_test_commitment_is_keccak_of_abi_encoded_cid_and_salt() -> None:
    cid, _ = raw_cid(b"test labels")
    salt = bytes(range(32))
    # abi.encode(bytes, bytes32) written out: head (offset of the bytes, the salt), then length + padded data
    padded = cid + bytes(-len(cid) % 32)
    encoded = (64).to_bytes(32, "big") + salt + len(cid).to_bytes(32, "big") + padded
    expected = keccak(encoded)
    assert hidden_test_commitment(cid, salt) == expected
    assert hidden_test_commitment(cid, bytes(32)) != expected
