"""Differentially private federated updates, as the machine sees them (docs/MODELS.md "Private updates").

A contributor clips its update to the job's ``clip_norm``, adds Gaussian noise for an (epsilon,
delta) on its own machine, and may declare that (epsilon, delta) in the update's model file. The
machine can verify only the bound: the engine's ``check_update`` refuses an update farther than
``clip_norm`` from the global model, and a declaration on a job without a ``clip_norm``. Noise the
machine added would hide nothing (every validator replays its inputs, so anyone can subtract it),
and the declared (epsilon, delta) cannot be checked: it is recorded as the contributor's statement.

At the reveal (:func:`note`) the measured distance and the declaration are kept per submission; when
the update is decided (:func:`take`) they go into the submission record (``epsilon``/``delta``),
accepted or not, and, once it joins a round, into a ``PrivacyDeclared`` notice (:func:`notices`). The declaration is
part of the update's bytes, which its contributor committed to before the reveal, so one
submission's declaration can never be attached to another's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from dapp.domain.events import PrivacyDeclared
from dapp.domain.records import Submission
from dapp.domain.store import Tx

CHECKED = "update_privacy"  # (job_id, submission_id) -> Declared, from the reveal's check to the decision


@dataclass(frozen=True, slots=True)
class Declared:
    """A private update's declared ``epsilon`` (millionths), ``delta`` (10⁻¹² units) and measured
    distance from the global model (``norm``, millionths)."""

    epsilon: int
    delta: int
    norm: int


def note(tx: Tx, sub: Submission, checked: Any) -> None:
    """Keeps what the engine's ``check_update`` found of ``sub``'s update, if it declares privacy."""
    if checked.epsilon:
        tx.put(CHECKED, (sub.job_id, sub.id), Declared(checked.epsilon, checked.delta, checked.distance))


def take(tx: Tx, sub: Submission) -> tuple[Submission, Declared | None]:
    """``sub`` with the (epsilon, delta) its update declared recorded, and what was kept for it at the
    reveal (now dropped); ``sub`` and None for an update without a declaration."""
    declared = tx.get(CHECKED, (sub.job_id, sub.id))
    if declared is None:
        return sub, None
    tx.delete(CHECKED, (sub.job_id, sub.id))
    return replace(sub, epsilon=declared.epsilon, delta=declared.delta), declared


def notices(sub: Submission, declared: Declared | None) -> list[Any]:
    """The ``PrivacyDeclared`` of a private update that joined a round (none without a declaration)."""
    if declared is None:
        return []
    return [PrivacyDeclared(sub.job_id, sub.id, declared.epsilon, declared.delta, declared.norm)]
