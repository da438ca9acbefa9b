"""``job show``'s text form of a job and its submissions: ``render``'s human units, plus what
contribution rewards and private updates add (issue 16): the job's reward rule in words and its
clip norm as a length; each submission's measured contribution, signed, in the job's metric, and
its declared privacy as ``ε=…, δ=…``. ``--json`` never comes here: it keeps inspect's values."""

from __future__ import annotations

from typing import Any

from mlmarket.cli.render import ETHER, human_job, human_submission
from mlmarket.client.units import (
    Units,
    contribution_of,
    contribution_text,
    norm_text,
    privacy_text,
    reward_rule,
)


def shown_job(job: dict[str, Any], units: Units) -> dict[str, Any]:
    """``human_job`` with ``reward_rule`` after the policy (rounds and best jobs, and any job with a
    rule: ``leave-one-out share of each round's 10 MLT``) and the spec's ``clip_norm`` as a length
    (``0`` is the machine's default bound)."""
    spec, policy = job.get("spec") or {}, str(job.get("policy", ""))
    shown = human_job(job, units)
    if isinstance(shown.get("spec"), dict) and isinstance(spec.get("clip_norm"), int):
        norm = spec["clip_norm"]
        shown["spec"] = {**shown["spec"], "clip_norm": norm_text(norm) if norm else "0 (the default bound)"}
    if policy not in ("rounds", "best") and not spec.get("reward"):
        return shown
    pool = units.amount(spec.get("reward_per_accept", 0), str(job.get("token", ETHER)))
    rule = reward_rule(spec, policy, pool)
    ordered: dict[str, Any] = {}
    for key, value in shown.items():
        ordered[key] = value
        if key == "policy":
            ordered["reward_rule"] = rule
    return ordered if "reward_rule" in ordered else {**ordered, "reward_rule": rule}


def shown_submission(sub: dict[str, Any], job: dict[str, Any], units: Units) -> dict[str, Any]:
    """``human_submission`` with ``contribution`` in the job's metric, signed (``-``: not measured;
    exact from ``contribution_millionths``), and ``privacy`` as ``ε=1.5, δ=1e-5`` (``-``: none
    declared); ``reward`` is what it was paid."""
    shown = {k: v for k, v in human_submission(sub, job, units).items() if k != "contribution_millionths"}
    if "contribution" in sub:
        shown["contribution"] = contribution_text(contribution_of(sub), str(job.get("metric", "")))
    if "privacy" in sub:
        shown["privacy"] = privacy_text(sub.get("privacy")) or None
    return shown
