"""Issue 15, the dApp's side of "outcomes that tell the truth": the winner of a ``best`` job shows
the model the machine trained and published, and a revoked contributor whose request stands is
told to ask the sponsor, not to request access again."""

import json

from tests.support.market import CAROL, DAVE, NOW, SPONSOR, Market
from tests.support.rollup import notice_names, report_json


def test_a_best_winner_shows_the_trained_model_the_machine_published():
    m = Market()
    job = m.create_job(900, policy="best", reward_per_accept=0, min_score=600_000)
    m.submit(CAROL, job, m.put_model(CAROL, 0.7), m.put(CAROL, b"x,target\n1,0\n2,1\n"))
    m.submit(DAVE, job, m.put_model(DAVE, 0.5), m.put(DAVE, b"x,target\n3,1\n"))
    done = m.call(DAVE, "settleJob", job, timestamp=NOW + 1000)
    assert "ModelPublished" in notice_names(done)
    view = m.job(job)
    winner, loser = view["submissions"]
    assert view["job"]["model_cid"] == winner["trained_model_cid"]
    assert winner["trained_model_cid"] != winner["model_cid"]  # the machine's training, not the spec sent
    stored = m.inspect(f"contents/{winner['trained_model_cid']}")
    assert stored["size"] > len(json.dumps({"score": 0.7}))  # the trained model, stored
    assert loser["trained_model_cid"] is None


def test_after_a_revoke_the_refusal_says_the_request_stands():
    m = Market()
    job = m.create_job(500, reward_per_accept=100, gated=True)
    assert m.call(CAROL, "requestAccess", job, b"").accepted
    assert m.call(SPONSOR, "setAccess", job, CAROL.raw, True).accepted
    assert m.call(SPONSOR, "setAccess", job, CAROL.raw, False).accepted
    refused = m.commit(CAROL, job, m.put_model(CAROL, 0.9))[0]
    message = report_json(refused)["error"]["message"]
    assert "requestAccess first" not in message and "request stands" in message
    never = m.commit(DAVE, job, m.put_model(DAVE, 0.9))[0]
    assert "requestAccess first" in report_json(never)["error"]["message"]
