"""Bounds that keep one input from exhausting the machine. Built once from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

MIB = 1 << 20


@dataclass(frozen=True, slots=True)
class Limits:
    """Every size bound of the backend (and the content store's two lifetimes, in seconds), with
    its default. Override with ``MLMARKET_<NAME>``."""

    max_file_size: int = 8 * MIB                # one stored file (dataset, model)
    max_pending_upload_bytes: int = 16 * MIB    # declared size of all partial uploads of one account
    max_pending_uploads: int = 8                # partial uploads per account
    max_inflated_chunk: int = 1 * MIB           # original bytes one (deflated) chunk may expand to
    max_total_pending: int = 32 * MIB           # footprint of all partial uploads of all accounts
    upload_ttl: int = 6 * 3600                  # seconds without new bytes after which an upload expires
    max_total_content: int = 256 * MIB          # all stored files and kept best models together
    content_ttl: int = 7 * 24 * 3600            # seconds after which a file no job uses is reclaimable
    max_inspect_bytes: int = MIB - 1024         # raw file bytes per inspect answer (2x as hex + JSON: 2 MiB)
    max_title_bytes: int = 200
    max_inline_bytes: int = 8 * 1024           # contents a revealSubmissionInline carries, together
    max_input_work: int = 20_000_000_000       # estimated machine cycles of ML work one input may do
                                               # (dapp.ml.cost): two trainings at MLLimits.max_cycles
    max_job_work: int = 500_000_000_000        # estimated machine cycles a hidden-test job may defer to
                                               # its reveal (50 trainings at MLLimits.max_cycles)
    max_public_key_bytes: int = 1024
    commit_window: int = 6 * 3600               # seconds a committed submission has to be revealed

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Limits:
        """Reads ``MLMARKET_MAX_FILE_SIZE`` etc.; raises ``ValueError`` on a non-positive value."""
        env = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            raw = env.get(f"MLMARKET_{f.name.upper()}")
            if raw is not None:
                value = int(raw)
                if value <= 0:
                    raise ValueError(f"MLMARKET_{f.name.upper()} must be positive, got {raw}")
                values[f.name] = value
        return cls(**values)
