# syntax=docker.io/docker/dockerfile:1
# The Cartesi machine image of the ML market backend (linux/riscv64): `cartesi build` turns it into
# the machine's root file system. See docs/IMAGE.md (build, run, RAM, what `make riscv-check` proves).
#
# The userland is installed by docker/install-userland.sh from the package lists in docker/: the
# same script and lists that `make riscv-check` runs in a debootstrap root under qemu-user, so what is
# tested without Docker is what this image holds.

# machine-guest-tools (rollup-init, rollup-http-server; Rollups v2 / CLI 2.x). The release publishes
# only .sha512 files; this sha256 is the one the Cartesi CLI's own templates pin for v0.17.2.
ARG MACHINE_GUEST_TOOLS_VERSION=0.17.2
ARG MACHINE_GUEST_TOOLS_SHA256SUM=c077573dbcf0cdc146adf14b480bfe454ca63aa4d3e8408c5487f550a5b77a41

# Pinned so that two builds give the same machine: the base image by digest (the multi-arch index of
# debian:trixie-slim's 2026-08-24 rebuild, Debian 13.6) and apt by a snapshot.debian.org date
# (docker/install-userland.sh). Neither registry is reachable from the machine this repository is
# tested on: bump both together, and see docs/IMAGE.md ("Pinned inputs").
ARG DEBIAN_SNAPSHOT=20261201T000000Z
FROM --platform=linux/riscv64 debian:trixie-slim@sha256:d7e12182ce18b85b93007c1dedf31f2d29e01ccf3182cc4017c709b6259bc132
ARG DEBIAN_SNAPSHOT

# numpy, scipy, scikit-learn (pinned) and the compiled dependencies from Debian trixie riscv64 (PyPI
# has no riscv64 wheels); pure-Python packages with pip (pinned, hashed); pycryptodome compiled from
# source for eth-hash's keccak, then the compiler is removed.
COPY docker/debian-packages.txt docker/build-packages.txt docker/pip-requirements.txt docker/install-userland.sh \
     /tmp/userland/
RUN DEBIAN_SNAPSHOT=${DEBIAN_SNAPSHOT} sh /tmp/userland/install-userland.sh /tmp/userland && rm -rf /tmp/userland

ARG MACHINE_GUEST_TOOLS_VERSION
ARG MACHINE_GUEST_TOOLS_SHA256SUM
ADD --checksum=sha256:${MACHINE_GUEST_TOOLS_SHA256SUM} \
    https://github.com/cartesi/machine-guest-tools/releases/download/v${MACHINE_GUEST_TOOLS_VERSION}/machine-guest-tools_riscv64.deb \
    /tmp/machine-guest-tools_riscv64.deb
# busybox-static (its dependency) is in docker/debian-packages.txt; the package creates the dapp user.
RUN dpkg -i /tmp/machine-guest-tools_riscv64.deb && rm /tmp/machine-guest-tools_riscv64.deb

# RAM of the machine. CLI 1.x reads this label; CLI 2.x reads [machine] ram_length in cartesi.toml
# (keep both equal). Why 1Gi: docs/IMAGE.md ("RAM").
LABEL io.cartesi.rollups.ram_size=1Gi

ENV PATH="/opt/cartesi/bin:${PATH}"
WORKDIR /opt/cartesi/dapp
# The backend and the ABI it loads (dapp/codec/abi.py: contracts/abi beside dapp/).
COPY contracts/abi contracts/abi
COPY dapp dapp
# Bytecode compiled now, with hashes instead of timestamps so the bytes are reproducible: the
# machine starts faster and never writes .pyc files at run time.
RUN python3 -m compileall -q --invalidation-mode unchecked-hash dapp
ENV PYTHONDONTWRITEBYTECODE=1
# One thread for BLAS and OpenMP, as dapp/__main__.py also forces before numpy loads.
ENV OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 BLIS_NUM_THREADS=1
ENV ROLLUP_HTTP_SERVER_URL=http://127.0.0.1:5004

ENTRYPOINT ["rollup-init"]
CMD ["python3", "-m", "dapp"]
