#!/usr/bin/env bash
# `make machine-check`: the backend in the real Cartesi machine, compared with x86-64 and qemu-user.
#
#  1. docker/machine-image.sh: the machine root, its ext2 image and the snapshot at the backend's first
#     yield (cached; rebuilt when the backend changes);
#  2. docker/riscv-check.sh (unit tests skipped): the same scripted session under qemu-user riscv64 and
#     on x86-64, compared there byte for byte;
#  3. python -m tests.machine.check: the session's requests fed to the stored machine as a validator
#     does (snapshot before each advance, rollback of rejected ones, inspects on a fork), every output,
#     report and outputs Merkle root compared per request with qemu-user and x86-64, and the table of
#     cycles, wall time and machine/native ratio per input kind (also in .cache/machine/check/);
#  4. bench/machine_cycles.py in the machine (from a second flash drive): CPU time of one small fit per
#     estimator family, i.e. cycles per unit of the work estimate, into .cache/machine/cycles.json; of
#     an MLP's matrix products with the BLAS the image uses, into products.json; of a few evaluations,
#     into evaluations.json (cached until the image or the bench changes); then its tables natively
#     beside them;
#  5. tests/e2e/test_machine_node.py (marker `machine`): `mlmarket` against a local node running the
#     backend in the machine: a threshold job pays, the voucher is executed, claims are the machine's roots.
#
# Not part of `make test`. Needs root (see the two scripts). A host without ../shared/cartesi-machine
# (or CARTESI_MACHINE_DIR) gets a message and exit status 0: there is nothing to check against.
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$(pwd)
CM=${CARTESI_MACHINE_DIR:-$(cd "$REPO/.." && pwd)/shared/cartesi-machine}
CACHE=${MACHINE_CACHE:-$REPO/.cache/machine}
RISCV_CACHE=${RISCV_CACHE:-$REPO/.cache/riscv64-rootfs}
HOST_PY=${HOST_PY:-$REPO/.venv/bin/python}
START=$(date +%s)
log() { printf '[machine-check %4ss] %s\n' "$(( $(date +%s) - START ))" "$*"; }

if [ ! -x "$CM/bin/cartesi-machine" ]; then
    log "skipped: no Cartesi machine at $CM. This check runs the backend in the prebuilt"
    log "cartesi-machine 0.19.0 of ../shared/cartesi-machine (or CARTESI_MACHINE_DIR=<its directory>)."
    exit 0
fi
[ -x "$HOST_PY" ] || { log "FAILED: no host venv at $HOST_PY: run make setup first" >&2; exit 1; }

log "step 1: the machine image and its snapshot"
CARTESI_MACHINE_DIR="$CM" MACHINE_CACHE="$CACHE" RISCV_CACHE="$RISCV_CACHE" bash docker/machine-image.sh
log "step 2: the session under qemu-user riscv64 and on x86-64 (make riscv-check without its unit tests)"
RISCV_SKIP_UNIT=1 RISCV_CACHE="$RISCV_CACHE" HOST_PY="$HOST_PY" bash docker/riscv-check.sh
log "step 3: the session in the real machine"
CARTESI_MACHINE_DIR="$CM" "$HOST_PY" -m tests.machine.check --snapshot "$CACHE/snapshot" \
    --qemu "$RISCV_CACHE/out/session-riscv64.hex" --out "$CACHE/check" --machine-dir "$CM"

log "step 4: cycles per unit of the work estimate, per estimator family (bench/machine_cycles.py)"
BENCH_FILES="bench/__init__.py bench/_summary.py bench/_table.py bench/cost_model.py bench/machine_cycles.py"
KEY=$( { ls "$CACHE"/.snapshot-*; cat $BENCH_FILES; } | sha256sum | cut -c1-16)
if [ ! -e "$CACHE/.cycles-$KEY" ]; then
    rm -rf "$CACHE/bench" "$CACHE/bench.ext2" "$CACHE"/.cycles-*
    mkdir -p "$CACHE/bench/bench"
    cp $BENCH_FILES "$CACHE/bench/bench/"
    mke2fs -q -t ext2 -b 4096 -L bench -d "$CACHE/bench" "$CACHE/bench.ext2" 8M
    T0=$(date +%s)
    timeout 1800 "$CM/bin/cartesi-machine" --ram-length=1Gi --no-init-splash --max-mcycle=200000000000 \
        --flash-drive=label:root,filename:"$CACHE/root.ext2" --flash-drive=label:bench,filename:"$CACHE/bench.ext2" \
        --workdir=/opt/cartesi/dapp --env=PYTHONPATH=/mnt/bench -- python3 -m bench.machine_cycles --json \
        > "$CACHE/cycles.log" 2>&1 || { tail -20 "$CACHE/cycles.log"; log "FAILED: the fits in the machine"; exit 1; }
    sed -n 's/^MACHINE-CYCLES //p' "$CACHE/cycles.log" | tr -d '\r' > "$CACHE/cycles.json"
    sed -n 's/^MACHINE-PRODUCTS //p' "$CACHE/cycles.log" | tr -d '\r' > "$CACHE/products.json"
    sed -n 's/^MACHINE-EVALUATIONS //p' "$CACHE/cycles.log" | tr -d '\r' > "$CACHE/evaluations.json"
    [ -s "$CACHE/cycles.json" ] && [ -s "$CACHE/products.json" ] && [ -s "$CACHE/evaluations.json" ] \
        || { tail -20 "$CACHE/cycles.log"; log "FAILED: no figures from the machine"; exit 1; }
    log "fits in the machine: $(( $(date +%s) - T0 ))s; $(grep -a '^Cycles' "$CACHE/cycles.log" || true)"
    touch "$CACHE/.cycles-$KEY"
fi
"$HOST_PY" -m bench.machine_cycles 2>/dev/null

log "step 5: the CLI flow on a local node whose backend runs in the machine (tests/e2e/test_machine_node.py)"
CARTESI_MACHINE_DIR="$CM" "$HOST_PY" -m pytest -q -p no:cacheprovider -m machine tests/e2e/test_machine_node.py
log "done"
