"""pytest plugin for the unit tests run under qemu-user by ``make riscv-check`` (``-p tests.riscv.qemu_plugin``).

Emulation is 10-20x slower than native, so Hypothesis's per-example deadline and its "too slow"
health checks would fail tests that are correct: this profile turns them off and keeps the number
of examples. Tests that set their own ``@settings`` keep them.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

settings.register_profile(
    "qemu-riscv64",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("qemu-riscv64")
