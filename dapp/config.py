"""Configuration from the environment, built once at start-up (no work at import time).

| variable | default | meaning |
|---|---|---|
| ROLLUP_HTTP_SERVER_URL | http://127.0.0.1:5004 | the rollup HTTP server |
| MLMARKET_ROLLUPS_VERSION | auto | 1, 2 or auto (detected from each input's metadata) |
| MLMARKET_ETHER_PORTAL | the version's default | EtherPortal address |
| MLMARKET_ERC20_PORTAL | the version's default | ERC20Portal address |
| MLMARKET_APP_ADDRESS_RELAY | v1: DAppAddressRelay 1.x | v1 only |
| MLMARKET_DAPP_ADDRESS | unset | v1: the dApp address for Ether vouchers (else relayed) |
| MLMARKET_MAX_* | see dapp.domain.limits | size bounds |
| MLMARKET_ML_MAX_CPU_SECONDS | 120 | hard CPU seconds of one training or scoring (its worker) |
| MLMARKET_ML_MAX_WORKER_MEMORY | 369098752 (352 MiB) | hard bytes it may map beyond what it inherits |
| MLMARKET_ML_MAX_CYCLES | 10000000000 | estimated machine cycles of one training or scoring (dapp.ml.cost) |
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

from dapp.codec.metadata import V1, V2
from dapp.codec.portals import DEFAULT_PORTALS, Portals
from dapp.domain.limits import Limits
from dapp.domain.values import Address
from dapp.ml.limits import MLLimits


@dataclass(frozen=True)
class Config:
    """Everything the backend is configured with."""

    rollup_url: str = "http://127.0.0.1:5004"
    version: int | None = None
    ether_portal: Address | None = None
    erc20_portal: Address | None = None
    app_address_relay: Address | None = None
    app_address: Address | None = None
    limits: Limits = field(default_factory=Limits)
    ml_limits: MLLimits = field(default_factory=MLLimits)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Config:
        """Reads the variables of the module docstring. Raises ``ValueError`` on bad values."""
        env = os.environ if environ is None else environ
        version_text = env.get("MLMARKET_ROLLUPS_VERSION", "auto").strip().lower().lstrip("v")
        versions = {"auto": None, "1": V1, "2": V2}
        if version_text not in versions:
            raise ValueError(f"MLMARKET_ROLLUPS_VERSION must be 1, 2 or auto, got {version_text!r}")

        def address(name: str) -> Address | None:
            value = env.get(name)
            return Address.from_hex(value) if value else None

        return cls(
            rollup_url=env.get("ROLLUP_HTTP_SERVER_URL", cls.rollup_url).rstrip("/"),
            version=versions[version_text],
            ether_portal=address("MLMARKET_ETHER_PORTAL"),
            erc20_portal=address("MLMARKET_ERC20_PORTAL"),
            app_address_relay=address("MLMARKET_APP_ADDRESS_RELAY"),
            app_address=address("MLMARKET_DAPP_ADDRESS"),
            limits=Limits.from_env(env),
            ml_limits=MLLimits.from_env(env),
        )

    def portals_for(self, version: int) -> Portals:
        """The version's default portals with the configured overrides applied."""
        portals = DEFAULT_PORTALS[version]
        if self.ether_portal:
            portals = replace(portals, ether=self.ether_portal)
        if self.erc20_portal:
            portals = replace(portals, erc20=self.erc20_portal)
        if self.app_address_relay:
            portals = replace(portals, app_address_relay=self.app_address_relay)
        return portals
