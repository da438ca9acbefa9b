"""The local node's contracts releases: each descriptor matches the ABIs it loads."""

from __future__ import annotations

import pytest

from devnode.contracts import ArtifactMissing
from devnode.releases import DEFAULT, RELEASES, V2_2_0, release


def test_the_default_is_2_2_0_and_unknown_names_list_the_choices() -> None:
    assert release(None) is release(DEFAULT) is V2_2_0
    with pytest.raises(ValueError, match="2.0.0-rc.14"):
        release("2.1.0")


@pytest.mark.parametrize("name", sorted(RELEASES))
def test_claim_event_and_root_view_exist_in_the_release_s_authority(name: str) -> None:
    chosen = release(name)
    try:
        authority = chosen.artifact("Authority").abi
        factory = chosen.artifact("SelfHostedApplicationFactory").abi
    except ArtifactMissing as exc:
        pytest.skip(str(exc))
    event = next(e for e in authority if e["type"] == "event" and e["name"] == chosen.claim_event)
    assert [i["name"] for i in event["inputs"]][-1] == chosen.claim_root
    view = next(e for e in authority if e["type"] == "function" and e["name"] == chosen.root_valid_view)
    assert [i["type"] for i in view["inputs"]] == ["address", "bytes32"]
    deploy = next(e for e in factory if e["type"] == "function" and e["name"] == "deployContracts"
                  and len(e["inputs"]) in (5, 6))
    assert ("bytes" in [i["type"] for i in deploy["inputs"]]) == chosen.data_availability
    application = {e.get("name") for e in chosen.artifact("Application").abi}
    assert ("getDeploymentBlockNumber" in application) == chosen.deployment_block_views


@pytest.mark.parametrize("name", sorted(RELEASES))
def test_every_contract_s_init_code_has_its_constructor_arguments(name: str) -> None:
    chosen = release(name)
    addresses = dict(chosen.table.addresses)
    try:
        codes = [chosen.init_code(contract, addresses) for contract in chosen.cartesi]
    except ArtifactMissing as exc:
        pytest.skip(str(exc))
    assert all(codes) and set(chosen.cartesi) == set(chosen.table.addresses)
