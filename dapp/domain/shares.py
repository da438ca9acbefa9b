"""Sharing a pool of base units in proportion to measured contributions (docs/PROTOCOL.md §4.7).

One rule for every contribution reward (``loo``, ``shapley``, ``top_k``): weights are the
contributions floored at zero; no positive weight → nobody is paid; otherwise each gets the floor of
its exact share and the units left over go one each to the largest remainders, ties to the smaller
submission id. The whole pool is paid, so no dust is left in the job.
"""

from __future__ import annotations

from collections.abc import Mapping


def proportional(pool: int, contributions: Mapping[int, int]) -> dict[int, int]:
    """``{submission id: amount}`` sharing ``pool`` (base units, ≥ 0) by ``contributions``
    (``{submission id: signed contribution}``); every id is in the answer, most with 0 when nothing
    is positive."""
    weights = {sid: max(value, 0) for sid, value in contributions.items()}
    total = sum(weights.values())
    if pool <= 0 or total == 0:
        return {sid: 0 for sid in weights}
    amounts = {sid: pool * w // total for sid, w in weights.items()}
    left = pool - sum(amounts.values())
    by_remainder = sorted(weights, key=lambda sid: (-(pool * weights[sid] % total), sid))
    for sid in by_remainder[:left]:
        amounts[sid] += 1
    return amounts
