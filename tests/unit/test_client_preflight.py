"""``mlmarket.client.preflight`` against the real backend (``App.inspect``): the bytes it sends are the
input's own, files go inline while the query fits, and the answer comes back as typed problems."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mlmarket.client import actions, preflight
from mlmarket.client.errors import NodeError

from dapp.codec.cid import cid_of, cid_to_text
from dapp.codec.commitment import submission_commitment
from dapp.ml.engine import Engine
from tests.support.market import CAROL, NOW, SPONSOR, Market, spec
from tests.support.rollup import TOKEN

VALIDATION = b"a,b,target\n" + b"".join(f"{i},{i % 3},{i % 2}\n".encode() for i in range(20))
TREE = json.dumps({"estimator": "DecisionTreeClassifier", "params": {"max_depth": 2}}).encode()
SALT = b"\x05" * 32


class Node:
    """Answers inspect queries with the real App, recording them."""

    def __init__(self) -> None:
        self.market = Market(engine=Engine(isolate=False))
        self.queries: list[str] = []

    def query(self, query: str) -> Any:
        self.queries.append(query)
        assert len(query.encode()) <= preflight.MAX_QUERY_BYTES
        return self.market.inspect(query)


def test_a_job_request_is_checked_with_its_deposit_and_its_file_inline():
    node = Node()
    request = actions.create_job(spec(label="y", validation_cid=cid_of(VALIDATION)), TOKEN.hex, 1000)
    result = preflight.check_job(node, request, sender=SPONSOR.hex, now=NOW, files=[VALIDATION])
    assert not result.ok
    assert [p.code for p in result.problems] == ["dataset_missing_label"]
    assert result.details["deposit"] == "1000" and result.details["deposit_kept"] == "1000"
    (query,) = node.queries
    assert f"input=0x{request.payload.hex()}" in query and f"content=0x{VALIDATION.hex()}" in query
    text = preflight.problems_text(result)
    assert "dataset_missing_label" in text and result.problems[0].fix in text


def test_a_good_job_passes():
    node = Node()
    request = actions.create_job(spec(validation_cid=cid_of(VALIDATION)), TOKEN.hex, 1000)
    result = preflight.check_job(node, request, sender=SPONSOR.hex, now=NOW, files=[VALIDATION])
    assert result.ok and result.problems == () and result.to_json()["ok"] is True


def test_a_file_too_large_to_go_inline_is_pending_for_a_submission_and_refused_for_a_job(monkeypatch):
    node = Node()
    job = node.market.create_job(1000, validation_cid=node.market.put(SPONSOR, VALIDATION))
    train = VALIDATION * 40
    monkeypatch.setattr(preflight, "MAX_QUERY_BYTES", preflight.QUERY_MARGIN + 2000 + len(train))
    model_cid, data_cid = cid_of(TREE), cid_of(train)
    commit = actions.commit_submission(job, submission_commitment(CAROL.hex, job, model_cid, data_cid, SALT))
    reveal = actions.reveal_submission(job, model_cid, data_cid, SALT)
    result = preflight.check_submission(node, commit, reveal, sender=CAROL.hex, now=NOW, files=[TREE, train])
    assert result.ok, result.problems
    assert result.unchecked == (cid_to_text(data_cid),)
    with pytest.raises(NodeError, match="upload it first"):
        preflight.check_job(node, actions.create_job(spec(validation_cid=data_cid), TOKEN.hex, 1000),
                            sender=SPONSOR.hex, now=NOW, files=[train])


def test_a_model_is_checked_against_a_job_from_bytes_or_a_cid():
    node = Node()
    job = node.market.create_job(1000, validation_cid=node.market.put(SPONSOR, VALIDATION))
    seeded = json.dumps({"estimator": "DecisionTreeClassifier", "params": {"random_state": 2}}).encode()
    result = preflight.check_model(node, job, model=seeded)
    assert [p.code for p in result.problems] == ["param_not_allowed", "param_required"]
    stored = preflight.check_model(node, job, model=cid_to_text(node.market.put(CAROL, TREE)),
                                   data=cid_to_text(cid_of(VALIDATION)))
    assert stored.ok and stored.details["estimated_cycles"] > 0


def test_an_unexpected_answer_is_a_node_error():
    class Broken:
        def query(self, query: str) -> Any:
            return {"ok": True}

    with pytest.raises(NodeError, match="unexpected answer"):
        preflight.check_model(Broken(), 1, model="bafkreie")
