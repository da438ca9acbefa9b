"""The table of Cartesi Rollups addresses per release: well-formed, and v1.4 and v2.0.0-rc.14 as npm publishes them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_utils import is_checksum_address

from dapp.codec.metadata import V1, V2
from dapp.codec.releases import RC_14, RELEASES, V1_4

ROLLUPS_V1 = Path(__file__).resolve().parents[2] / "node_modules" / "cartesi-rollups-1" / "deployments"


@pytest.mark.parametrize("name", sorted(RELEASES))
def test_every_address_is_checksummed_and_named_once(name: str) -> None:
    release = RELEASES[name]
    assert release.name == name and {"InputBox", "EtherPortal", "ERC20Portal"} <= set(release.addresses)
    assert all(is_checksum_address(a) for a in release.addresses.values()), release.addresses
    assert len(set(release.addresses.values())) == len(release.addresses)


def test_no_address_is_shared_between_releases() -> None:
    seen = [a for release in RELEASES.values() for a in release.addresses.values()]
    assert len(seen) == len(set(seen))


def test_v1_4_is_what_the_npm_package_deployed() -> None:
    if not ROLLUPS_V1.is_dir():
        pytest.skip(f"{ROLLUPS_V1} is missing (run make setup)")
    assert V1_4.rollups == V1
    for network in ("mainnet", "sepolia"):
        for name, address in V1_4.addresses.items():
            assert json.loads((ROLLUPS_V1 / network / f"{name}.json").read_text())["address"] == address


ROLLUPS_RC14 = Path(__file__).resolve().parents[2] / "node_modules" / "cartesi-rollups-2rc14" / "deployments"


def test_rc_14_is_what_the_npm_package_deployed_on_every_network() -> None:
    if not ROLLUPS_RC14.is_dir():
        pytest.skip(f"{ROLLUPS_RC14} is missing (run make setup)")
    assert RC_14.rollups == V2
    networks = sorted(p.name for p in ROLLUPS_RC14.iterdir() if p.is_dir())
    assert networks  # sepolia and three L2 testnets in 2.0.0-rc.14
    for network in networks:
        recorded = {p.stem: json.loads(p.read_text())["address"] for p in (ROLLUPS_RC14 / network).glob("*.json")}
        assert recorded == dict(RC_14.addresses), network
