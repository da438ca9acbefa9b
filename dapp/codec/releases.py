"""Cartesi Rollups contract addresses per release: the one table the project reads them from.

The contracts of each release sit at deterministic addresses, the same on every chain: CREATE2 with a
zero salt through ``0x4e59b44847b379578588920cA78FbF26c0B4956C`` for v2 (CARTESI-FACTS §4), through
the Safe singleton factory ``0x914d7Fec6aaC8cd542e72Bca78B30650d45643d7`` for v1.4 (the deployment
records of npm ``@cartesi/rollups@1.4.3`` say so) and for v2.0.0-rc.14 (``RC_14``: the release
``@cartesi/cli@2.0.0-alpha.2`` hard-wires). The local node deploys ``V2_2_0`` (``RC_14`` with
``--contracts 2.0.0-rc.14``, ``V1_4`` in its v1 mode) and checks every address it lands at against this table; the backend's default portals, the client's
default addresses and the tests read them from here. Addresses are EIP-55 checksummed text; no
third-party package is imported (this module runs inside the Cartesi machine too).

Public API:

- ``Release(name, rollups, addresses, source, deployable)``: frozen; ``rollups`` is the major version
  of the Rollups protocol (``dapp.codec.metadata.V1`` / ``V2``), ``addresses`` maps a contract name to
  its address, ``deployable`` says whether the local node can deploy it (its artifacts are on npm).
- ``V2_2_0``, ``RC_14``, ``V2_0``, ``V1_4``, ``VIEM_ALPHA_31``; ``RELEASES``: ``name`` -> ``Release``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from dapp.codec.metadata import V1, V2


@dataclass(frozen=True)
class Release:
    """One Rollups contracts release: where its contracts are and where that was read."""

    name: str
    rollups: int
    addresses: Mapping[str, str]
    source: str
    deployable: bool = True


def _release(name: str, rollups: int, source: str, deployable: bool = True, **addresses: str) -> Release:
    return Release(name, rollups, MappingProxyType(addresses), source, deployable)


V2_2_0 = _release(
    "v2.2.0", V2, "npm @cartesi/rollups 2.2.0, zero salt (CARTESI-FACTS §4; ERC-1155 portals as in "
    "@cartesi/viem 2.0.0-alpha.29, which uses this release)",
    InputBox="0x1b51e2992A2755Ba4D6F7094032DF91991a0Cfac",
    EtherPortal="0xA632c5c05812c6a6149B7af5C56117d1D2603828",
    ERC20Portal="0xACA6586A0Cf05bD831f2501E7B4aea550dA6562D",
    ERC721Portal="0x9E8851dadb2b77103928518846c4678d48b5e371",
    ERC1155SinglePortal="0x18558398Dd1a8cE20956287a4Da7B76aE7A96662",
    ERC1155BatchPortal="0xe246Abb974B307490d9C6932F48EbE79de72338A",
    AuthorityFactory="0x5E96408CFE423b01dADeD3bc867E6013135990cc",
    ApplicationFactory="0x26E758238CB6eC5aB70ce0dd52aF2d7b82e1972E",
    SelfHostedApplicationFactory="0x010D3CbB4223F5bCc7b7B03cEE59f3aAea8eDb8A",
)
RC_14 = _release(
    "v2.0.0-rc.14", V2, "npm @cartesi/rollups 2.0.0-rc.14, deployments/<network> (the same on every network; "
    "what @cartesi/cli 2.0.0-alpha.2 hard-wires in dist/contracts.js), Safe singleton factory, zero salt",
    InputBox="0x593E5BCf894D6829Dd26D0810DA7F064406aebB6",
    EtherPortal="0xfa2292f6D85ea4e629B156A4f99219e30D12EE17",
    ERC20Portal="0xB0e28881FF7ee9CD5B1229d570540d74bce23D39",
    ERC721Portal="0x874b3245ead7474Cb9f3b83cD1446dC522f6bd36",
    ERC1155SinglePortal="0x2f0D587DD6EcF67d25C558f2e9c3839c579e5e38",
    ERC1155BatchPortal="0x4a218D331C0933d7E3EB496ac901669f28D94981",
    AuthorityFactory="0xB897F7Fe78f220aE34B7FA9493092701a873Ed45",
    ApplicationFactory="0xd7d4d184b82b1a4e08f304DDaB0A2A7a301C2620",
    QuorumFactory="0x22AFD9162079c7Ac0aF874054298Bf46F29157F1",
    SafeERC20Transfer="0x817b126F242B5F184Fa685b4f2F91DC99D8115F9",
    SelfHostedApplicationFactory="0xF925E1467DfCb1be6904bcF70621A974b5eA8708",
)
V2_0 = _release(
    "v2.0.x", V2, "rollups-contracts 2.0.x, vanity salts (CARTESI-FACTS §4); not on npm here",
    deployable=False,
    InputBox="0xc70074BDD26d8cF983Ca6A5b89b8db52D5850051",
    EtherPortal="0xc70076a466789B595b50959cdc261227F0D70051",
    ERC20Portal="0xc700D6aDd016eECd59d989C028214Eaa0fCC0051",
)
V1_4 = _release(
    "v1.4", V1, "npm @cartesi/rollups 1.4.3, deployments/mainnet (the same on sepolia; CARTESI-FACTS §4)",
    InputBox="0x59b22D57D4f067708AB0c00552767405926dc768",
    EtherPortal="0xFfdbe43d4c855BF7e0f105c400A50857f53AB044",
    ERC20Portal="0x9C21AEb2093C32DDbC53eEF24B873BDCd1aDa1DB",
    ERC721Portal="0x237F8DD094C0e47f4236f12b4Fa01d6Dae89fb87",
    ERC1155SinglePortal="0x7CFB0193Ca87eB6e48056885E026552c3A941FC4",
    ERC1155BatchPortal="0xedB53860A6B52bbb7561Ad596416ee9965B055Aa",
    DAppAddressRelay="0xF5DE34d6BbC0446E2a45719E718efEbaaE179daE",
    CartesiDAppFactory="0x7122cd1221C20892234186facfE8615e6743Ab02",
    AuthorityFactory="0xf26a5b278C25D8D41A136d22Ad719EACEd9c3e63",
    HistoryFactory="0x1f158b5320BBf677FdA89F9a438df99BbE560A26",
    AuthorityHistoryPairFactory="0x3890A047Cf9Af60731E80B2105362BbDCD70142D",
    SelfHostedApplicationFactory="0x9E32e06Fd23675b2DF8eA8e6b0A25c3DF6a60AbC",
)
VIEM_ALPHA_31 = _release(
    "viem-2.0.0-alpha.31", V2, "what npm @cartesi/viem 2.0.0-alpha.31 hard-wires (dist/rollups.js); "
    "not deployable here: its contracts release is not on npm",
    deployable=False,
    InputBox="0x346B3df038FE9f8380071eC6514D5a83aD143939",
    EtherPortal="0x8b53327575ac999bdfa8003f4b5134DFF9027516",
    ERC20Portal="0x22E57511C30CcE6CDaa742E13CE3b774fDC663b1",
    ERC721Portal="0xcA3a0a47915C12F020CF70B938aCC8e744414cb8",
    ERC1155SinglePortal="0x13663E193673756a02e84b724B8a3422A9a7aab4",
    ERC1155BatchPortal="0x3649c5E2De91C69a7Bb80D864f0039da5E511096",
    AuthorityFactory="0x3C1FE01c542a88A523FF6847eD1E26176c8C4ED0",
    ApplicationFactory="0xC549F89cF1ca43eDDECC64Ac2208F4b283B1c483",
    SelfHostedApplicationFactory="0x6145C5996a71a379E030aEb0440df79D60833418",
    QuorumFactory="0x1f94009389F408B8D0ADfFcF8BBDCe5552BaCa5F",
    SafeERC20Transfer="0x15E45E779ED795E5ac4643f6C428B161ccDE7A61",
    UsdWithdrawalOutputBuilderFactory="0xdB4EC04a2792A04cF7421f99A70F624681dd8e50",
)

RELEASES: Mapping[str, Release] = MappingProxyType({r.name: r for r in (V2_2_0, RC_14, V2_0, V1_4, VIEM_ALPHA_31)})
"""Release name -> ``Release``."""
