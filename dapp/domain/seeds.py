"""The one seed rule of the protocol: every random choice the machine makes (training, scoring a
round's aggregate, the orders Shapley values are measured in) is seeded with
``uint32(sha256("mlmarket/<part>/<part>…")[:4])`` (big-endian) over public ids, never with anything a
user chooses, so every validator draws the same numbers."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def derive(*parts: int | str) -> int:
    """``uint32(sha256("mlmarket/" + "/".join(parts))[:4])``, big-endian."""
    path = "/".join(["mlmarket", *map(str, parts)])
    return int.from_bytes(hashlib.sha256(path.encode()).digest()[:4], "big")


def submission_seed(job_id: int, submission_id: int) -> int:
    """The training and scoring seed of a submission."""
    return derive(job_id, submission_id)


def round_seed(job_id: int, round_number: int) -> int:
    """The seed of scoring a federated round's aggregate."""
    return derive(job_id, "round", round_number)


def shapley_orders(job_id: int, round_number: int, ids: Sequence[int], count: int) -> list[tuple[int, ...]]:
    """The ``count`` permutations of a round's update ids (submission ids) that Monte-Carlo Shapley
    walks (docs/PROTOCOL.md §4.7): permutation ``k`` (0 to ``count - 1``) orders the ids by
    ``derive(job_id, "round", round_number, "shapley", k, id)``, ties (equal keys) by id. In one
    line of any language: sort the ids by
    ``uint32(sha256("mlmarket/<job>/round/<round>/shapley/<k>/<id>")[:4])``, then by id."""
    def order(k: int) -> tuple[int, ...]:
        return tuple(sorted(ids, key=lambda sid: (derive(job_id, "round", round_number, "shapley", k, sid),
                                                  sid)))
    return [order(k) for k in range(count)]
