"""Configuration from the environment: the ML engine's configurable hard limits (``MLLimits.from_env``,
``Config.ml_limits``) and the engine ``python -m dapp`` builds from them."""

from __future__ import annotations

from dataclasses import fields

import pytest

from dapp.config import Config
from dapp.ml.limits import CONFIGURABLE, DEFAULT_LIMITS, MLLimits

CPU, MEMORY = "MLMARKET_ML_MAX_CPU_SECONDS", "MLMARKET_ML_MAX_WORKER_MEMORY"


def test_without_the_variables_the_limits_are_the_defaults():
    assert MLLimits.from_env({}) == DEFAULT_LIMITS
    assert Config.from_env({}).ml_limits == DEFAULT_LIMITS


def test_both_hard_limits_are_read_and_nothing_else_changes():
    limits = MLLimits.from_env({CPU: "3", MEMORY: str(64 << 20)})
    assert (limits.max_cpu_seconds, limits.max_worker_memory) == (3, 64 << 20)
    others = [f.name for f in fields(MLLimits) if f.name not in CONFIGURABLE]
    assert others and all(getattr(limits, name) == getattr(DEFAULT_LIMITS, name) for name in others)


def test_each_variable_alone_and_surrounding_spaces():
    assert MLLimits.from_env({CPU: " 7 "}) == MLLimits(max_cpu_seconds=7)
    assert MLLimits.from_env({MEMORY: "1048576"}) == MLLimits(max_worker_memory=1 << 20)


def test_config_passes_them_on():
    config = Config.from_env({CPU: "1", MEMORY: "99999999"})
    assert config.ml_limits == MLLimits(max_cpu_seconds=1, max_worker_memory=99_999_999)


@pytest.mark.parametrize("variable", [CPU, MEMORY])
@pytest.mark.parametrize("raw", ["0", "-1", "", "1.5", "1e6", "ten", "0x10", "20s"])
def test_anything_but_a_positive_integer_is_refused_naming_the_variable(variable, raw):
    with pytest.raises(ValueError, match=variable):
        MLLimits.from_env({variable: raw})
    with pytest.raises(ValueError, match=variable):
        Config.from_env({variable: raw})


@pytest.mark.parametrize("field_name", [f.name for f in fields(MLLimits) if f.name not in CONFIGURABLE])
def test_no_other_ml_bound_is_configurable(field_name):
    variable = f"MLMARKET_ML_{field_name.upper()}"
    assert MLLimits.from_env({variable: "1"}) == DEFAULT_LIMITS


def test_python_m_dapp_builds_its_engine_from_the_configured_limits(monkeypatch):
    import dapp.__main__ as entry
    import dapp.rollup.loop as loop

    seen = {}
    monkeypatch.setenv(CPU, "2")
    monkeypatch.setenv(MEMORY, str(50 << 20))
    monkeypatch.setattr(loop, "run", lambda app, rollup: seen.setdefault("app", app))
    entry.main()
    engine = seen["app"].env.engine
    assert engine.limits == MLLimits(max_cpu_seconds=2, max_worker_memory=50 << 20)
    assert (engine._run.cpu_seconds, engine._run.memory) == (2, 50 << 20)
