#!/bin/sh
# Installs the machine image's userland inside a Debian trixie riscv64 root: the Debian packages of
# debian-packages.txt, the pip pins of pip-requirements.txt (pycryptodome compiled from source with
# the packages of build-packages.txt, purged afterwards), then checks that everything imports.
#
# Run as root inside the riscv64 root, from any directory: both the Dockerfile (RUN) and
# docker/riscv-check.sh (chroot under qemu-user) call it, so the image and the check share one recipe.
#   usage: install-userland.sh <dir holding the three lists>
#
# DEBIAN_SNAPSHOT (e.g. 20261201T000000Z, set by the Dockerfile): install from that day's
# snapshot.debian.org archive instead of the live mirror, so that two builds months apart install
# the same package versions. Unset (docker/riscv-check.sh): the root's own sources are used.
set -eu

LISTS=${1:?usage: install-userland.sh <dir with debian-packages.txt, build-packages.txt, pip-requirements.txt>}
export DEBIAN_FRONTEND=noninteractive

# Package names of a list file: comments and blank lines dropped.
names() { sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$1"; }

if [ -n "${DEBIAN_SNAPSHOT:-}" ]; then
    echo "install-userland: apt sources pinned to snapshot.debian.org $DEBIAN_SNAPSHOT"
    rm -f /etc/apt/sources.list
    cat > /etc/apt/sources.list.d/debian.sources <<EOF
Types: deb
URIs: http://snapshot.debian.org/archive/debian/$DEBIAN_SNAPSHOT
Suites: trixie trixie-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://snapshot.debian.org/archive/debian-security/$DEBIAN_SNAPSHOT
Suites: trixie-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    # A snapshot's Release files are past their Valid-Until date by design.
    echo 'Acquire::Check-Valid-Until "false";' > /etc/apt/apt.conf.d/99snapshot
fi

echo "install-userland: apt-get update"
apt-get update -q

echo "install-userland: Debian packages"
# shellcheck disable=SC2046  # one word per package, on purpose
apt-get install -y -q --no-install-recommends $(names "$LISTS/debian-packages.txt") $(names "$LISTS/build-packages.txt")

echo "install-userland: OpenBLAS (serial) as libblas.so.3 and liblapack.so.3"
# Its package registers both with update-alternatives at a higher priority than the reference libblas3
# and liblapack3 (which python3-numpy and python3-scipy may pull in too); set, not left to priorities.
MULTIARCH=$(python3 -c 'import sysconfig; print(sysconfig.get_config_var("MULTIARCH"))')
for lib in libblas.so.3 liblapack.so.3; do
    update-alternatives --set "$lib-$MULTIARCH" "/usr/lib/$MULTIARCH/openblas-serial/$lib"
done

echo "install-userland: pip packages (pycryptodome built from source)"
# --no-deps: every dependency is listed (pinned, hashed) or comes from Debian; --no-build-isolation:
# pycryptodome builds with Debian's setuptools instead of whatever PyPI serves today.
python3 -m pip install --no-cache-dir --break-system-packages --root-user-action=ignore \
    --no-deps --require-hashes --no-build-isolation --no-binary=pycryptodome \
    -r "$LISTS/pip-requirements.txt"

# Dependency check. Debian builds its arch-independent python3-* packages (python3-sklearn's
# dist-info among them) on amd64, so pip calls them "not supported on this platform": that line
# is not a missing or conflicting requirement and is ignored; anything else fails the build.
problems=$(python3 -m pip check 2>&1 | grep -v -e 'is not supported on this platform' -e '^No broken requirements' || true)
if [ -n "$problems" ]; then echo "$problems" >&2; exit 1; fi

echo "install-userland: removing the build packages"
# Marked automatic then autoremoved: apt keeps any of them that a runtime package depends on (not
# merely suggests: python3-numpy suggests gcc, which apt would otherwise keep).
# shellcheck disable=SC2046
apt-mark auto $(names "$LISTS/build-packages.txt") >/dev/null
apt-get autoremove -y -q --purge -o APT::AutoRemove::SuggestsImportant=false
apt-get clean
rm -rf /var/lib/apt/lists/* /root/.cache
if command -v gcc >/dev/null; then echo "install-userland: gcc is still installed" >&2; exit 1; fi

echo "install-userland: checking the result"
python3 - <<'EOF'
import importlib.metadata as md
import eth_abi, multiformats, numpy, requests, scipy, sklearn, threadpoolctl  # noqa: F401
from eth_hash.auto import keccak
assert keccak(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470", "keccak"
for name in ("numpy", "scipy", "scikit-learn", "threadpoolctl", "requests", "eth-abi", "eth-hash",
             "eth-utils", "pydantic", "multiformats", "pycryptodome"):
    print(f"install-userland:   {name} {md.version(name)}")
# numpy's and scipy's BLAS is OpenBLAS without threads. The kernels it picks depend on the CPU it runs
# on: riscv64_generic wherever the V extension is absent, as in the Cartesi machine (rv64imafdc).
from threadpoolctl import threadpool_info
blas = [i for i in threadpool_info() if i["user_api"] == "blas"]
assert [(i["internal_api"], i["threading_layer"]) for i in blas] == [("openblas", "disabled")], blas
print(f"install-userland:   BLAS openblas {blas[0]['version']} ({blas[0]['filepath']}; "
      f"{blas[0]['architecture']} kernels here)")
EOF
