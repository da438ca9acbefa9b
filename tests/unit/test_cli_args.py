"""The mlmarket CLI without a node: help texts, argument errors, offline commands, key hygiene."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from eth_hash.auto import keccak
from mlmarket.cli.main import cli
from multiformats import CID

APP = "0x" + "aa" * 20
KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"  # anvil's public dev key 1
DEAD = "http://127.0.0.1:9"  # nothing listens on the discard port: connections are refused at once
CONNECTION_OPTIONS = ("--json", "--account", "--key", "--rpc", "--node", "--app")


def leaf_commands(group: click.Group = cli, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in sorted(group.commands.items()):
        path = prefix + (name,)
        found += leaf_commands(command, path) if isinstance(command, click.Group) else [path]
    return found


def run(*args: str, env: dict[str, str] | None = None) -> click.testing.Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


@pytest.fixture(autouse=True)
def no_local_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No node.json and no connection settings leak in from the developer's environment."""
    monkeypatch.setenv("MLMARKET_DEVNODE_DIR", str(tmp_path / "devnode"))
    for name in ("MLMARKET_RPC_URL", "MLMARKET_NODE_URL", "MLMARKET_APP", "MLMARKET_PRIVATE_KEY"):
        monkeypatch.delenv(name, raising=False)


def test_the_issue_commands_all_exist() -> None:
    names = {" ".join(path) for path in leaf_commands()}
    expected = {"node up", "node down", "node info", "put", "job create", "job list", "job show", "submit",
                "review", "reveal", "settle", "cancel", "withdraw", "deposit", "balance", "payouts", "outputs",
                "execute", "inspect", "send", "model export"}
    assert expected <= names


@pytest.mark.parametrize("path", leaf_commands(), ids=" ".join)
def test_every_command_explains_itself_with_an_example(path: tuple[str, ...]) -> None:
    result = run(*path, "--help")
    assert result.exit_code == 0
    assert "Example" in result.output and f"mlmarket {' '.join(path)}" in result.output


@pytest.mark.parametrize("path", [p for p in leaf_commands() if p[0] != "node" or p[1] == "info"], ids=" ".join)
def test_every_command_takes_the_connection_options(path: tuple[str, ...]) -> None:
    output = run(*path, "--help").output
    for option in CONNECTION_OPTIONS:
        assert option in output


@pytest.mark.parametrize(("args", "message"), [
    (("job", "create", "spec.json"), "Missing option '--reward'"),
    (("submit", "zero", "--model", "x"), "'zero' is not a valid integer"),
    (("submit", "0"), "give --model, --data, or both"),
    (("review", "0", "1"), "give --accept or --reject"),
    (("execute",), "give a voucher INDEX or --all"),
    (("execute", "3", "--all"), "give a voucher INDEX or --all"),
    (("execute", "3", "--everyone"), "--everyone goes with --all"),
    (("send", "0x123"), "even number of hex digits"),
    (("send", "0xzz"), "not hex"),
    (("deposit", "1", "--account", "-1"), "--account"),
    (("reveal", "0", "--test-cid", "x"), "Missing option '--salt'"),
    (("model", "export", "bafy"), "Missing option '-o'"),
])
def test_argument_errors_are_usage_errors(args: tuple[str, ...], message: str) -> None:
    result = run(*args)
    assert result.exit_code == 2
    assert message in result.output


def test_bad_cid_fails_before_any_connection() -> None:
    result = run("submit", "0", "--model", "not-a-cid", "--json", "--rpc", DEAD, "--node", DEAD)
    assert result.exit_code == 1
    answer = json.loads(result.stdout)
    assert answer["ok"] is False and "--model" in answer["error"]


def test_bad_key_is_reported_without_echoing_it() -> None:
    bad = KEY[:-2] + "zz"
    result = run("deposit", "1", "--key", bad, "--app", APP, "--rpc", DEAD, "--node", DEAD)
    assert result.exit_code == 1 and "private key" in result.output
    assert bad[2:] not in result.output


def test_unreachable_chain_is_an_error_not_a_traceback_and_hides_the_key() -> None:
    result = run("deposit", "1", "--key", KEY, "--app", APP, "--rpc", DEAD, "--node", DEAD)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert KEY[2:] not in result.output


def test_key_from_the_environment_is_never_printed() -> None:
    result = run("withdraw", "1", "--eth", "--app", APP, "--rpc", DEAD, "--node", DEAD,
                 env={"MLMARKET_PRIVATE_KEY": KEY})
    assert result.exit_code == 1 and KEY[2:] not in result.output


def test_commitment_is_computed_offline() -> None:
    cid = bytes([0x01, 0x55, 0x12, 0x20]) + hashlib.sha256(b"labels").digest()
    text = CID.decode(cid).encode("base32")
    salt = bytes([0x42]) * 32
    result = run("job", "commitment", "--test-cid", text, "--salt", "0x" + salt.hex(), "--json")
    assert result.exit_code == 0
    encoded = (64).to_bytes(32, "big") + salt + len(cid).to_bytes(32, "big") + cid + bytes(-len(cid) % 32)
    assert json.loads(result.stdout)["test_commitment"] == "0x" + keccak(encoded).hex()


def test_fresh_salts_differ() -> None:
    cid = CID.decode(bytes([0x01, 0x55, 0x12, 0x20]) + bytes(32)).encode("base32")
    salts = {json.loads(run("job", "commitment", "--test-cid", cid, "--json").stdout)["salt"] for _ in range(2)}
    assert len(salts) == 2


def test_node_info_prints_the_configuration_even_when_nothing_answers(tmp_path: Path) -> None:
    addresses = {name: "0x" + f"{i:02x}" * 20 for i, name in enumerate(
        ["InputBox", "ERC20Portal", "EtherPortal", "Application", "Authority", "Token"], start=1)}
    devnode = tmp_path / "devnode"
    devnode.mkdir()
    (devnode / "node.json").write_text(json.dumps({"rpc_url": DEAD, "chain_id": 31337, "reader_url": DEAD + "/rpc",
                                                   "inspect_url": DEAD + "/inspect", "addresses": addresses}))
    result = run("node", "info", "--json", env={"MLMARKET_DEVNODE_DIR": str(devnode)})
    assert result.exit_code == 0
    info = json.loads(result.stdout)
    assert info["addresses"] == addresses and info["reader_url"] == DEAD + "/rpc"
    assert "chain_error" in info and "node_error" in info


def test_access_list_prints_grants_waiting_requests_and_delegates(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlmarket.cli import common

    granted, waiting, delegate = "0x" + "aa" * 20, "0x" + "bb" * 20, "0x" + "cc" * 20
    answer = {"ok": True, "job": 3, "gated": True, "sponsor": "0x" + "11" * 20, "granted": [granted],
              "requests": [{"account": granted, "public_key": "0x"}, {"account": waiting, "public_key": "0x04ab"}],
              "delegates": [delegate]}
    queries: list[str] = []

    class Reader:
        def query(self, path: str) -> dict:
            queries.append(path)
            return dict(answer)

    monkeypatch.setattr(common.Session, "market", lambda self, read_only=False: Reader())
    lines = run("access", "list", "3").output.splitlines()
    assert queries == ["jobs/3/access"]
    assert lines[0].startswith("job 3: gated")
    assert lines[1:] == [f"  granted    {granted}", f"  requested  {waiting}  key 0x04ab", f"  delegate   {delegate}"]


@pytest.mark.parametrize("args, signature, on, key", [
    (("access", "grant"), "setAccess(uint256,address,bool)", True, "granted"),
    (("access", "revoke"), "setAccess(uint256,address,bool)", False, "granted"),
    (("delegate", "add"), "setDelegate(uint256,address,bool)", True, "enabled"),
    (("delegate", "remove"), "setDelegate(uint256,address,bool)", False, "enabled"),
])
def test_access_and_delegate_switches_send_their_input(monkeypatch: pytest.MonkeyPatch, args: tuple[str, str],
                                                        signature: str, on: bool, key: str) -> None:
    from eth_abi import decode
    from mlmarket.cli import access

    sent: list[tuple[bytes, dict]] = []
    monkeypatch.setattr(access, "run_input", lambda session, request, summary: sent.append(
        (request.payload, summary(None))))
    who = "0x" + "ab" * 20
    assert run(*args, "7", who).exit_code == 0
    ((payload, summary),) = sent
    assert payload[:4] == keccak(signature.encode())[:4]
    assert decode(["uint256", "address", "bool"], payload[4:]) == (7, who, on)
    assert summary == {"job": 7, "account": who, key: on}
    assert run(*args, "7", "not-an-address").exit_code == 2 and len(sent) == 1


@pytest.mark.parametrize("args", [("access", "grant"), ("access", "revoke"), ("delegate", "add")])
def test_access_commands_take_a_dev_account_number_like_every_other_command(monkeypatch: pytest.MonkeyPatch,
                                                                            args: tuple[str, str]) -> None:
    from eth_abi import decode
    from mlmarket.cli import access

    sent: list[bytes] = []
    monkeypatch.setattr(access, "run_input", lambda session, request, summary: sent.append(request.payload))
    assert run(*args, "5", "2").exit_code == 0
    anvil_account_2 = "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc"  # anvil's published dev account 2
    assert decode(["uint256", "address", "bool"], sent[0][4:])[:2] == (5, anvil_account_2)
