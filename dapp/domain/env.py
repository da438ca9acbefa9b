"""What handlers may use besides the state: the limits and the injected ML engine."""

from __future__ import annotations

from dataclasses import dataclass, field

from dapp.domain.engine_port import MLEngine
from dapp.domain.limits import Limits


@dataclass(frozen=True)
class Env:
    """Configuration handed to every handler. ``engine`` is the ML engine (``dapp.ml``, typed by
    ``dapp.domain.engine_port.MLEngine``), injected by the shell so that the domain never imports
    scikit-learn."""

    limits: Limits = field(default_factory=Limits)
    engine: MLEngine | None = None
