"""The client on a Rollups v1 node: configuration, the GraphQL reader (mlmarket.client.reader_v1) against
the local node's v1 server in-process, and the v1 chain's ABI and proof argument."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlmarket.client.chain_v1 import V1_ABIS, ChainV1, chain_for, proof_argument, voucher_fields
from mlmarket.client.config import NodeConfig, discover
from mlmarket.client.errors import ClientError, ConfigError
from mlmarket.client.inspect import InspectClient
from mlmarket.client.outputs import DecodedNotice, DecodedVoucher, decode_output
from mlmarket.client.reader import ReaderClient
from mlmarket.client.reader_v1 import ReaderV1Client, graphql_url, reader_for

from dapp.codec.releases import V1_4, V2_2_0
from devnode.outputs import encode_voucher
from devnode.server import ACCEPTED
from tests.support.v1_node import serving, v1_record

APP = "0x" + "ab" * 20
ARTIFACTS = Path(__file__).resolve().parents[2] / "node_modules/cartesi-rollups-1/export/artifacts/contracts"


@pytest.fixture
def node(tmp_path):
    with serving(tmp_path / "node") as running:
        yield running


@pytest.fixture
def client(node):
    return ReaderV1Client(node[0].url + "/graphql", APP)


def node_json(tmp_path: Path, **extra: object) -> dict[str, str]:
    data = {"rpc_url": "http://127.0.0.1:8545", "reader_url": "http://127.0.0.1:6751/graphql",
            "inspect_url": "http://127.0.0.1:6751/inspect", "addresses": {"Application": APP}, **extra}
    (tmp_path / "node.json").write_text(json.dumps(data))
    return {"MLMARKET_DEVNODE_DIR": str(tmp_path)}


# -- configuration --------------------------------------------------------------------------------

def test_node_json_rollups_1_gives_a_v1_configuration(tmp_path):
    config = discover(environ=node_json(tmp_path, rollups=1))
    assert config.rollups == 1
    assert config.address("InputBox") == V1_4.addresses["InputBox"]
    assert config.address("ERC20Portal") == V1_4.addresses["ERC20Portal"]
    assert config.inspect_endpoint() == "http://127.0.0.1:6751/inspect"  # v1: no application in the path
    assert config.to_json()["rollups"] == 1


def test_a_node_json_without_rollups_is_a_v2_node(tmp_path):
    config = discover(environ=node_json(tmp_path))
    assert config.rollups == 2 and config.address("InputBox") == V2_2_0.addresses["InputBox"]
    assert config.inspect_endpoint().endswith("/inspect/" + APP)


def test_the_environment_or_argument_chooses_v1_for_a_remote_node(tmp_path):
    env = {"MLMARKET_DEVNODE_DIR": str(tmp_path), "MLMARKET_ROLLUPS": "1"}
    config = discover(node_url="http://node.example:8080", environ=env)
    assert (config.rollups, config.reader_url) == (1, "http://node.example:8080/graphql")
    assert config.address("EtherPortal") == V1_4.addresses["EtherPortal"]
    no_node_json = {"MLMARKET_DEVNODE_DIR": str(tmp_path)}
    assert discover(node_url="http://n", rollups=1, environ=no_node_json).rollups == 1
    assert discover(node_url="http://n", environ=no_node_json).rollups == 2


@pytest.mark.parametrize("value", ["3", "v1", "0"])
def test_an_unknown_rollups_version_is_a_config_error(tmp_path, value):
    with pytest.raises(ConfigError, match="1 or 2"):
        discover(node_url="http://n", environ={"MLMARKET_DEVNODE_DIR": str(tmp_path),
                                               "MLMARKET_ROLLUPS": value})
    with pytest.raises(ConfigError, match="rollups"):
        discover(environ=node_json(tmp_path, rollups=value))


def test_the_reader_and_chain_follow_the_rollups_version(tmp_path):
    v1 = NodeConfig("http://127.0.0.1:1", "http://127.0.0.1:2/rpc", "http://127.0.0.1:2/inspect",
                    addresses={"Application": APP}, rollups=1)
    reader = reader_for(v1)
    assert isinstance(reader, ReaderV1Client) and reader.graphql == "http://127.0.0.1:2/graphql"
    assert reader.url == "http://127.0.0.1:2/rpc" and graphql_url(v1) == "http://127.0.0.1:2/graphql"
    assert isinstance(chain_for(v1, None, reader), ChainV1)
    v2 = NodeConfig("http://127.0.0.1:1", "http://127.0.0.1:2/rpc", "http://127.0.0.1:2/inspect",
                    addresses={"Application": APP})
    assert type(reader_for(v2)) is ReaderClient and not isinstance(chain_for(v2, None, None), ChainV1)


# -- the reader -----------------------------------------------------------------------------------

def test_inputs_are_v2_shaped_records(client):
    assert client.get_input(0)["status"] == "ACCEPTED" and client.get_input(0)["index"] == "0x0"
    assert client.get_input(4)["status"] == "NONE"  # v1's UNPROCESSED
    assert client.get_input(9) is None
    statuses = [r["status"] for r in client.list_inputs()]
    assert statuses == ["ACCEPTED", "REJECTED", "ACCEPTED", "ACCEPTED", "NONE"]
    assert client.list_inputs()[2]["decoded_data"]["block_timestamp"] == hex(1_700_000_000 + 23)
    assert client.processed_input_count() == 4


def test_outputs_get_one_global_numbering_input_by_input_notices_first(client):
    decoded = [decode_output(r) for r in client.list_outputs()]
    assert [(type(d).__name__, d.index, d.input_index) for d in decoded] == [
        ("DecodedNotice", 0, 0), ("DecodedNotice", 1, 0), ("DecodedVoucher", 2, 0),
        ("DecodedVoucher", 3, 2), ("DecodedVoucher", 4, 2)]
    assert [d.payload for d in decoded] == [b"n0", b"n1", b"pay0", b"pay1", b""]
    destinations = [d.destination for d in decoded if isinstance(d, DecodedVoucher)]
    assert destinations == ["0x" + "12" * 20, "0x" + "34" * 20, "0x" + "12" * 20]
    assert decoded[4].call == {"function": "ether", "to": "0x" + "12" * 20, "amount": "0"}


def test_one_input_s_outputs_and_single_outputs_agree_with_the_whole_list(client):
    everything = client.list_outputs()
    assert client.list_outputs(2) == everything[3:]
    assert client.list_outputs(0) == everything[:3]
    assert client.list_outputs(1) == [] and client.list_outputs(4) == []
    assert [client.get_output(i) for i in range(5)] == everything
    assert client.get_output(5) is None
    assert [client.locate(i) for i in range(5)] == [("notice", 0, 0), ("notice", 0, 1), ("voucher", 0, 0),
                                                   ("voucher", 2, 0), ("voucher", 2, 1)]


def test_a_voucher_is_proven_once_the_node_gives_its_v1_proof(node, client):
    _, _, proofs = node
    vouchers = [d for d in map(decode_output, client.list_outputs()) if isinstance(d, DecodedVoucher)]
    assert [v.siblings for v in vouchers] == [(), None, None]  # input 0 is claimed, input 2 not
    assert client.voucher_proof(0, 0) == proofs("voucher", 0, 0)
    assert client.voucher_proof(2, 1) is None
    proofs.claimed_inputs.add(2)
    assert decode_output(client.get_output(4)).siblings == ()


def test_reports_are_numbered_globally_and_an_outcome_decodes(client):
    reports = client.list_reports()
    assert [(r["index"], r["input_index"]) for r in reports] == [("0x0", "0x0"), ("0x1", "0x1")]
    assert client.list_reports(1) == reports[1:]
    outcome = client.wait_for_input(0, timeout=5)
    assert (outcome.status, len(outcome.notices), len(outcome.vouchers)) == ("ACCEPTED", 2, 1)
    assert outcome.error is None
    assert isinstance(outcome.notices[0], DecodedNotice)
    rejected = client.wait_for_input(1, timeout=5)
    assert rejected.status == "REJECTED" and rejected.error == "no (bad)"


def test_the_numbering_learns_inputs_processed_later(node, client):
    view = node[1]
    assert client.processed_input_count() == 4
    view.unprocessed = list  # input 4 is processed now
    late = encode_voucher(bytes.fromhex("56" * 20), 0, b"late")
    view.store.append_input(v1_record(4, 31, ACCEPTED, (late,)))
    assert client.locate(5) == ("voucher", 4, 0)
    assert decode_output(client.get_output(5)).payload == b"late"


def test_a_v1_node_does_not_list_applications(client):
    with pytest.raises(ClientError, match="--app"):
        client.list_applications()


def test_inspect_reaches_a_v1_node_through_post_inspect(node):
    server, view, _ = node
    config = NodeConfig("http://127.0.0.1:1", server.url + "/graphql", server.url + "/inspect",
                        addresses={"Application": APP}, rollups=1)
    assert InspectClient(config.inspect_endpoint()).query("jobs/1") == {"answer": 1}
    assert view.inspected == [b"jobs/1"]


# -- the v1 chain ---------------------------------------------------------------------------------

def _artifact_entry(contract: str, folder: str, name: str) -> dict:
    abi = json.loads((ARTIFACTS / folder / f"{contract}.sol" / f"{contract}.json").read_text())["abi"]
    return next(e for e in abi if e.get("name") == name)


def _shape(entry: dict) -> list:
    def one(p: dict) -> tuple:
        return (p["type"], p.get("indexed"), tuple(one(c) for c in p.get("components", ())))
    return [one(p) for p in entry["inputs"]]


@pytest.mark.skipif(not ARTIFACTS.exists(), reason="npm @cartesi/rollups 1.4.3 (cartesi-rollups-1) missing")
def test_the_hand_written_v1_abi_matches_the_npm_artifacts():
    for kind, contract, folder in (("Application", "CartesiDApp", "dapp"),
                                   ("InputBox", "InputBox", "inputs")):
        for entry in V1_ABIS[kind]:
            assert _shape(entry) == _shape(_artifact_entry(contract, folder, entry["name"])), entry["name"]


def test_the_proof_argument_carries_every_field_of_the_graphql_proof(node):
    _, _, proofs = node
    proof = proofs("voucher", 0, 1)
    validity, context = proof_argument(proof)
    assert validity[:2] == (0, 1) and context == bytes(32)
    assert validity[2] == bytes.fromhex(proof["validity"]["outputHashesRootHash"][2:])
    assert len(validity[6]) == 2 and len(validity[7]) == 3
    assert all(len(w) == 32 for w in validity[6] + validity[7])


def test_voucher_fields_come_from_its_v2_encoding_and_notices_do_not_execute(client):
    voucher, notice = client.get_output(3), client.get_output(0)
    assert voucher_fields(bytes.fromhex(voucher["raw_data"][2:])) == ("0x" + "34" * 20, b"pay1")
    with pytest.raises(ClientError):
        voucher_fields(bytes.fromhex(notice["raw_data"][2:]))


def test_a_market_on_a_v1_node_reads_it_through_graphql_and_inspects_it(node):
    from mlmarket.client.chain import InputRef, TxResult
    from mlmarket.client.market import Market
    server = node[0]
    config = NodeConfig("http://127.0.0.1:1", server.url + "/graphql", server.url + "/inspect",
                        addresses={"Application": APP}, rollups=1)
    market = Market(config)
    assert isinstance(market.reader, ReaderV1Client) and isinstance(market.chain, ChainV1)
    assert [o.index for o in market.outputs(states=False)] == [0, 1, 2, 3, 4]
    assert market.query("jobs") == {"answer": 1}
    sent = market.wait(InputRef(2, TxResult("0x" + "00" * 32, 23, 0)), check=True)
    assert [v.payload for v in sent.outcome.vouchers] == [b"pay1", b""]


def test_v1_custom_errors_are_named_from_the_v1_abi():
    from eth_utils import function_signature_to_4byte_selector
    from mlmarket.client.abis import describe_revert
    data = function_signature_to_4byte_selector("VoucherReexecutionNotAllowed()")
    assert describe_revert(data).signature is None  # v2's ABIs do not know it
    named = describe_revert(data, V1_ABIS["Application"])
    assert named.signature == "VoucherReexecutionNotAllowed()" and named.name == "VoucherReexecutionNotAllowed"
    too_large = function_signature_to_4byte_selector("InputSizeExceedsLimit()")
    assert describe_revert(too_large, V1_ABIS["InputBox"]).name == "InputSizeExceedsLimit"


def test_market_connect_takes_the_rollups_version(node, tmp_path):
    from mlmarket.client.market import Market
    server = node[0]
    market = Market.connect(node_url=server.url, app=APP, rollups=1, read_only=True,
                            environ={"MLMARKET_DEVNODE_DIR": str(tmp_path / "none")})
    assert market.config.rollups == 1 and isinstance(market.reader, ReaderV1Client)
    assert market.reader.processed_input_count() == 4


def test_small_pages_give_the_same_records(node, client, monkeypatch):
    from mlmarket.client import reader_v1
    whole = (client.list_inputs(), client.list_outputs(), client.list_reports())
    paged = ReaderV1Client(client.graphql, APP)
    monkeypatch.setattr(reader_v1, "PAGE", 2)
    assert (paged.list_inputs(), paged.list_outputs(), paged.list_reports()) == whole
    assert paged.processed_input_count() == 4 and paged.locate(4) == ("voucher", 2, 1)
