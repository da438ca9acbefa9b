"""Versions of the backend's runtime packages: the machine image's against the host pins.

Inside the riscv64 root (``python3 - < versions.py``) it prints the installed versions as JSON.
On the host (``versions.py --compare image.json requirements/dapp.txt``, with the host venv's
Python) it prints a table of image vs host venv versions and exits 1 when a package that decides
the scores (numpy, scipy, scikit-learn) differs or is missing; other differences are printed only.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RUNTIME = ("numpy", "scipy", "scikit-learn", "threadpoolctl", "requests", "eth-abi", "eth-hash", "eth-typing",
           "eth-utils", "parsimonious", "multiformats", "multiformats-config", "bases", "typing-validation",
           "pycryptodome", "pydantic", "pydantic-core", "cytoolz", "regex", "typing-extensions")
SCORE_DECIDING = ("numpy", "scipy", "scikit-learn")
PIP_PINNED = ("eth-typing", "eth-utils", "parsimonious", "multiformats-config", "bases", "typing-validation",
              "pycryptodome")  # pinned in docker/pip-requirements.txt only (dependencies of the pins)


def installed() -> dict[str, str | None]:
    """Installed version of each runtime package (None when missing), plus Python's."""
    import importlib.metadata as md
    import platform

    versions: dict[str, str | None] = {"python": platform.python_version(), "machine": platform.machine()}
    for name in RUNTIME:
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            versions[name] = None
    return versions


def pins(requirements: str) -> dict[str, str]:
    """``name==version`` lines of a requirements file (extras dropped, names normalised)."""
    found = {}
    for line in Path(requirements).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            found[name.split("[", 1)[0].strip().lower().replace("_", "-")] = version.split()[0]
    return found


def compare(image_json: str, requirements: str) -> int:
    """Prints the image's versions next to the host venv's (this interpreter) and the pins of
    ``requirements``; returns 1 when a score-deciding package differs or a package is missing."""
    image = json.loads(Path(image_json).read_text(encoding="utf-8"))
    host, pinned = installed(), pins(requirements)
    print(f"    image: python {image['python']} on {image['machine']}; "
          f"host: python {host['python']} on {host['machine']}")
    print(f"    {'package':<20} {'image (riscv64)':<16} {'host venv':<12} {'pinned in':<22}")
    failed = False
    for name in RUNTIME:
        have, want = image.get(name), host.get(name)
        note = ""
        if have is None:
            note, failed = "MISSING in the image", True
        elif have != want:
            deciding = name in SCORE_DECIDING
            failed |= deciding
            note = "MISMATCH (decides scores)" if deciding else "differs (not score-deciding)"
        where = requirements if name in pinned else "docker/ lists" if name in PIP_PINNED else "Debian"
        print(f"    {name:<20} {have or '-':<16} {want or '-':<12} {where:<22} {note}")
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--compare":
        sys.exit(compare(sys.argv[2], sys.argv[3]))
    json.dump(installed(), sys.stdout)
