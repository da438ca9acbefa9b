"""The one seed rule of the protocol: every random choice the machine makes (training, scoring a
round's aggregate) is seeded with ``uint32(sha256("mlmarket/<part>/<part>…")[:4])`` (big-endian) over
public ids, never with anything a user chooses, so every validator draws the same numbers."""

from __future__ import annotations

import hashlib


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
