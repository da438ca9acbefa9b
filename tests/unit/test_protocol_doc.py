"""docs/PROTOCOL.md stays in sync with the code.

Selectors are recomputed here from the ABI JSON with keccak (an oracle independent of
``dapp.codec.abi``); error codes are collected from the source of ``dapp/`` with ``ast``; the example
blocks are regenerated with ``scripts/protocol_examples.py`` and compared.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
from dataclasses import fields
from pathlib import Path

import pytest
from eth_hash.auto import keccak

from dapp.codec import chunks, cid
from dapp.codec.portals import DEFAULT_PORTALS
from dapp.domain import spec as job_spec
from dapp.domain.limits import Limits
from dapp.domain.queries import QUERIES
from mlmarket.client.jobspec import KEYS as CLI_SPEC_KEYS

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "PROTOCOL.md").read_text()
ABI = ROOT / "contracts" / "abi"


def section(number: int) -> str:
    """The text of ``## <number>. …`` up to the next top-level section."""
    match = re.search(rf"^## {number}\. .*?(?=^## \d+\. |\Z)", DOC, re.M | re.S)
    assert match, f"docs/PROTOCOL.md has no section {number}"
    return match[0]


def _type(param: dict) -> str:
    if param["type"].startswith("tuple"):
        return "(" + ",".join(_type(c) for c in param["components"]) + ")" + param["type"][len("tuple"):]
    return param["type"]


def abi_functions(interface: str) -> list[tuple[str, str, list[dict]]]:
    """(name, selector hex, params) of each function of ``contracts/abi/<interface>.json``."""
    entries = json.loads((ABI / f"{interface}.json").read_text())
    out = []
    for entry in entries:
        if entry.get("type") == "function":
            signature = f"{entry['name']}({','.join(_type(p) for p in entry['inputs'])})"
            out.append((entry["name"], "0x" + keccak(signature.encode())[:4].hex(), entry["inputs"]))
    return out


def first_cells(text: str) -> list[str]:
    """The first cell of every table row of ``text``."""
    return [line.split("|")[1].strip() for line in text.splitlines() if line.startswith("| ")]


def ticked(cell: str) -> set[str]:
    return set(re.findall(r"`([^`]+)`", cell))


def _kind(param: dict) -> str:
    """The Solidity type as declared: the struct's name for a tuple."""
    if param["type"].startswith("tuple"):
        return param.get("internalType", "tuple").removeprefix("struct ").split(".")[-1]
    return param["type"]


# --- inputs, notices, vouchers ----------------------------------------------------------------------

@pytest.mark.parametrize("name, selector, params", abi_functions("IMLMarketInputs"),
                         ids=[f[0] for f in abi_functions("IMLMarketInputs")])
def test_every_input_has_a_section_headed_by_its_name_and_selector(name, selector, params):
    assert re.search(rf"^### `{name}` `{selector}`$", section(3), re.M), f"no '### `{name}` `{selector}`'"
    (declaration,) = [line for line in section(3).splitlines() if line.startswith(f"function {name}(")]
    for param in params:
        assert re.search(rf"\b{_kind(param)}( calldata)? {param['name']}\b", declaration), (name, param["name"])


def test_the_input_sections_name_only_real_inputs():
    documented = re.findall(r"^### `(\w+)`", section(3), re.M)
    assert sorted(documented) == sorted(n for n, _, _ in abi_functions("IMLMarketInputs"))


def test_every_input_is_in_the_sender_table():
    cells = {c for cell in first_cells(section(3)) for c in ticked(cell)}
    missing = [n for n, _, _ in abi_functions("IMLMarketInputs") if n not in cells]
    assert not missing


def _field_list(params: list[dict]) -> str:
    return "(" + ", ".join(f"{_kind(p)} {p['name']}" for p in params) + ")"


@pytest.mark.parametrize("name, selector, params", abi_functions("IMLMarketNotices"),
                         ids=[f[0] for f in abi_functions("IMLMarketNotices")])
def test_every_notice_is_in_the_notice_table_with_its_fields(name, selector, params):
    row = f"| `{name}` | `{_field_list(params)}` |"
    assert row in section(7), f"missing row starting {row}"


def test_the_notice_table_names_only_real_notices():
    notices = {n for n, _, _ in abi_functions("IMLMarketNotices")}
    rows = re.findall(r"^\| `(\w+)` \| `\(", section(7), re.M)
    assert sorted(rows) == sorted(notices)


@pytest.mark.parametrize("interface, number", [("IMLMarketInputs", 3), ("IMLMarketNotices", 7),
                                               ("IMLMarketVoucherTargets", 8)])
def test_selector_tables_match_keccak_of_the_abi(interface, number):
    for name, selector, _ in abi_functions(interface):
        assert f"| `{name}` | `{selector}` |" in section(number), (interface, name)


def test_every_voucher_target_is_described():
    for name, _, params in abi_functions("IMLMarketVoucherTargets"):
        arguments = ", ".join(f"{p['type']} {p['name']}" for p in params)
        assert f"`{name}({arguments})`" in section(8)


# --- jobs -----------------------------------------------------------------------------------------

def _spec_components() -> list[dict]:
    (create,) = [f for f in abi_functions("IMLMarketInputs") if f[0] == "createJob"]
    return next(p for p in create[2] if p["name"] == "spec")["components"]


@pytest.mark.parametrize("component", _spec_components(), ids=lambda c: c["name"])
def test_every_job_spec_field_is_in_the_field_table_and_the_struct(component):
    text = section(4)
    assert f"| `{component['name']}` | {component['type']} |" in text
    assert re.search(rf"\b{component['type']} {component['name']};", text), "not in the struct block"


def test_every_cli_spec_key_is_documented():
    cells = {c for cell in first_cells(section(5)) for c in ticked(cell)}
    assert set(CLI_SPEC_KEYS) <= cells, set(CLI_SPEC_KEYS) - cells


def test_policies_tasks_and_metrics_are_documented():
    table_row = next(line for line in section(4).splitlines() if line.startswith("| `metric` |"))
    for task, metrics in job_spec.METRICS.items():
        assert f"`{task}`" in section(4)
        assert all(f"`{m}`" in table_row for m in metrics), task
    for policy in job_spec.POLICIES:
        assert f"**{policy}**" in section(4), policy
    min_score_row = next(line for line in section(4).splitlines() if line.startswith("| `minScore` |"))
    assert all(f"`{m}`" in min_score_row for m in job_spec.LOSSES)


def test_federated_rounds_are_not_called_unimplemented_while_the_code_runs_them():
    from dapp.domain.policy import rounds  # noqa: F401  (the module exists: rounds are implemented)

    assert "implementation in progress" not in DOC


# --- inspect, errors ------------------------------------------------------------------------------

@pytest.mark.parametrize("query", sorted(QUERIES))
def test_every_inspect_query_is_in_the_query_table(query):
    assert f"| `{query}` |" in section(10)


def raised_codes() -> dict[str, set[str]]:
    """Every error code literal of ``dapp/``: ``code="…"`` arguments, ``code = "…"`` class defaults,
    and the first argument of ``error_report``/``CommandFailed``; with the files naming it."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "dapp").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            literals = []
            if isinstance(node, ast.Call):
                literals += [k.value for k in node.keywords if k.arg == "code"]
                name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
                if name in ("error_report", "CommandFailed") and node.args:
                    literals.append(node.args[0])
            elif isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "code" for t in node.targets):
                literals.append(node.value)
            for literal in literals:
                if isinstance(literal, ast.Constant) and isinstance(literal.value, str):
                    found.setdefault(literal.value, set()).add(str(path.relative_to(ROOT)))
    return found


def documented_codes() -> set[str]:
    return {c for cell in first_cells(section(11)) for c in ticked(cell)} - {"code"}


def test_the_code_scan_finds_codes():
    assert len(raised_codes()) > 50  # the oracle works (guards against a silently empty scan)


def test_every_error_code_raised_in_dapp_is_in_the_error_table():
    missing = {code: files for code, files in raised_codes().items() if code not in documented_codes()}
    assert not missing, f"undocumented error codes: {missing}"


def test_the_error_table_lists_no_code_the_backend_never_names():
    stale = documented_codes() - set(raised_codes())
    assert not stale, f"documented but never raised: {stale}"


# --- limits and configuration ---------------------------------------------------------------------

@pytest.mark.parametrize("limit", fields(Limits), ids=lambda f: f.name)
def test_every_limit_is_documented_with_its_variable_and_default(limit):
    rows = [line for line in section(12).splitlines() if line.startswith(f"| `{limit.name}` |")]
    assert len(rows) == 1, limit.name
    assert f"`MLMARKET_{limit.name.upper()}`" in rows[0]
    assert f"| {limit.default:,}" in rows[0], f"default {limit.default:,} not in {rows[0]}"


def _environment_variables() -> set[str]:
    names = set()
    for module in ("config.py", "codec/abi.py"):
        for node in ast.walk(ast.parse((ROOT / "dapp" / module).read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                    re.fullmatch(r"(ROLLUP|MLMARKET)_[A-Z0-9_]+", node.value):
                names.add(node.value)
    return names


def test_every_environment_variable_is_documented():
    assert _environment_variables(), "the scan found no variable"
    missing = [n for n in _environment_variables() if f"| `{n}` |" not in section(12)]
    assert not missing


def test_default_portal_addresses_are_documented():
    text = section(12).lower()
    for portals in DEFAULT_PORTALS.values():
        for address in (portals.ether, portals.erc20, portals.app_address_relay):
            if address is not None:
                assert address.hex in text


def test_fixed_bounds_are_documented():
    text = section(12)
    for value in (chunks.MAX_PAYLOAD, cid.CHUNK_SIZE, cid.MAX_LINKS, job_spec.MAX_DURATION, job_spec.MAX_ROUNDS,
                  job_spec.MAX_SUBMISSIONS_PER_CONTRIBUTOR, job_spec.DEFAULT_SUBMISSIONS_PER_CONTRIBUTOR):
        assert f"{value:,}" in text, value
    exponent = len(str(job_spec.MAX_SCORE)) - 1
    assert job_spec.MAX_SCORE == 10**exponent
    superscript = str(exponent).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))
    assert f"10{superscript} millionths" in text


# --- examples -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def examples():
    """The example script as a module (it drives the real App and engine)."""
    path = ROOT / "scripts" / "protocol_examples.py"
    module_spec = importlib.util.spec_from_file_location("protocol_examples", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def example_values(examples):
    return examples.blocks()


def test_the_example_blocks_are_what_the_code_produces_now(examples, example_values):
    placed = {m["name"] for m in examples.BLOCK.finditer(DOC)}
    assert placed == set(example_values), f"not placed: {set(example_values) - placed}; " \
                                          f"unknown: {placed - set(example_values)}"
    _, changed = examples.refresh(DOC, example_values)
    assert not changed, f"stale example blocks {changed}: run .venv/bin/python scripts/protocol_examples.py --write"


def test_the_example_check_detects_a_tampered_block(examples, example_values):
    (name, selector, _), *_ = abi_functions("IMLMarketInputs")
    row = f"| `{name}` | `{selector}` |"
    tampered = DOC.replace(row, f"| `{name}` | `0x00000000` |", 1)
    assert tampered != DOC
    fixed, changed = examples.refresh(tampered, example_values)
    assert changed == ["input-selectors"] and fixed == DOC
