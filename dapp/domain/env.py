"""What handlers may use besides the state: the limits and the injected ML engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dapp.domain.limits import Limits


@dataclass(frozen=True)
class Env:
    """Configuration handed to every handler. ``engine`` is the ML engine (``dapp.ml``), injected
    by the shell so that the domain never imports scikit-learn."""

    limits: Limits = field(default_factory=Limits)
    engine: Any = None
