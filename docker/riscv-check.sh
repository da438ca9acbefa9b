#!/usr/bin/env bash
# `make riscv-check`: proves the machine image's userland runs the backend on riscv64, without Docker.
#
#  1. builds a Debian trixie riscv64 root with debootstrap + qemu-user-static (binfmt) in a cache dir,
#  2. installs the image's packages in it with docker/install-userland.sh (the Dockerfile's own recipe),
#  3. copies the backend where the Dockerfile puts it (/opt/cartesi/dapp) plus the tests,
#  4. runs a subset of the unit tests under emulation,
#  5. runs the scripted session tests/riscv/session.py on x86-64 (host venv) and on riscv64 and
#     compares every output byte for byte (tests/riscv/compare.py explains any difference; it
#     tolerates, and reports, one: trained-model files whose float arrays differ across CPUs),
#  6. runs the image's command, python3 -m dapp, against the local node's rollup HTTP server on both
#     architectures (tests/riscv/entrypoint.py) and requires identical answers.
#
# Each build step leaves a stamp named after the hash of its inputs, so a second run only repeats
# steps 3-6. Needs root (chroot, a /proc mount, apt-get). Environment:
#   RISCV_CACHE    cache dir (default .cache/riscv64-rootfs)
#   RISCV_MIRROR   Debian mirror (default http://deb.debian.org/debian)
#   RISCV_TESTS    unit test files to run under emulation (default: see UNIT_TESTS below)
#   RISCV_SKIP_UNIT=1   skip step 4
#   RISCV_BUILD_ONLY=1  only build steps 1-2b (used by docker/machine-image.sh)
#   RISCV_STRICT=1 fail also when only trained-model bytes differ (see tests/riscv/compare.py)
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$(pwd)
CACHE=${RISCV_CACHE:-$REPO/.cache/riscv64-rootfs}
MIRROR=${RISCV_MIRROR:-http://deb.debian.org/debian}
SUITE=trixie
ROOT=$CACHE/rootfs
OUT=$CACHE/out
HOST_PY=${HOST_PY:-$REPO/.venv/bin/python}
APP=/opt/cartesi/dapp      # WORKDIR of the Dockerfile
TOOLS=/opt/riscv-check     # test tools (pytest, hypothesis): check only, not in the image
# Unit tests that need no node/anvil/web3/joblib and run in minutes under qemu.
UNIT_TESTS=${RISCV_TESTS:-tests/unit/test_app_ledger.py tests/unit/test_market_rules.py tests/unit/test_store.py
 tests/unit/test_ledger_stateful.py tests/unit/test_protocol_abi.py tests/unit/test_chunks.py
 tests/unit/test_content.py tests/unit/test_ml_catalogue.py tests/unit/test_ml_dataset.py
 tests/unit/test_ml_engine.py tests/unit/test_ml_fedavg.py tests/unit/test_ml_metrics.py}
UNIT_TESTS=$(echo $UNIT_TESTS)  # one line: it is passed to sh -c

START=$(date +%s)
exec 3>&1  # progress goes to the original stdout even from commands whose output is redirected
log() { printf '[riscv-check %4ss] %s\n' "$(( $(date +%s) - START ))" "$*" >&3; }
die() { log "FAILED: $*" >&2; exit 1; }
timed() { # timed <label> <command...>: runs it, logs its duration, records it in $OUT/times.txt
    local label=$1 t0 rc=0; shift; t0=$(date +%s)
    "$@" || rc=$?
    local took=$(( $(date +%s) - t0 ))
    log "$label: ${took}s (exit $rc)"
    echo "$label ${took}s exit=$rc" >> "$OUT/times.txt"
    return $rc
}
hash_of() { cat "$@" | sha256sum | cut -c1-16; }

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, mounts); run it as root or with sudo"
[ -x "$HOST_PY" ] || die "no host venv at $HOST_PY: run make setup first"
mkdir -p "$CACHE" "$OUT"
: > "$OUT/times.txt"

# --- tools: debootstrap, qemu-user-static, binfmt --------------------------------------------------
need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v qemu-riscv64-static >/dev/null || need+=(qemu-user-static)
command -v update-binfmts >/dev/null || need+=(binfmt-support)
if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]} with apt-get"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi
if [ ! -e /proc/sys/fs/binfmt_misc/status ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || die "cannot mount binfmt_misc"
fi
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-riscv64 ]; then
    update-binfmts --enable qemu-riscv64 >/dev/null 2>&1 || update-binfmts --import qemu-riscv64 >/dev/null
fi
grep -q '^enabled' /proc/sys/fs/binfmt_misc/qemu-riscv64 2>/dev/null \
    || die "binfmt for riscv64 is not registered (qemu-user-static)"
log "qemu: $(qemu-riscv64-static --version | head -1); binfmt flags: $(awk '/^flags/{print $2}' /proc/sys/fs/binfmt_misc/qemu-riscv64)"

# --- mounts for the chroot, always undone -----------------------------------------------------------
# Only /proc is mounted: debootstrap made the device nodes the root needs (null, zero, urandom...) in
# its own /dev, so no host directory is ever bound inside the cache (an `rm -rf .cache` during or
# after a killed run cannot reach the host's /dev).
MOUNTED=()
cleanup() {
    local i
    for (( i=${#MOUNTED[@]}-1; i>=0; i-- )); do umount -l "${MOUNTED[$i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
# a run killed before its trap ran may have left mounts in the root
for stale in $(awk -v root="$ROOT/" 'index($2, root) == 1 {print $2}' /proc/mounts | sort -r); do
    log "unmounting $stale (left by an interrupted run)"; umount -l "$stale"
done
mount_chroot() {
    [ ${#MOUNTED[@]} -eq 0 ] || return 0
    if [ ! -c "$ROOT/dev/null" ]; then  # debootstrap binds /dev instead of making nodes inside LXC
        for node in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
            IFS=: read -r name major minor <<< "$node"
            mknod -m 666 "$ROOT/dev/$name" c "$major" "$minor"
        done
    fi
    mount -t proc proc "$ROOT/proc" && MOUNTED+=("$ROOT/proc")
    cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
}
in_root() { # in_root [VAR=value...] <command...>: runs it in the riscv64 root with a clean environment
    chroot "$ROOT" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 ROLLUP_HTTP_SERVER_URL=http://127.0.0.1:5004 "$@"
}

# --- 1. debootstrap -------------------------------------------------------------------------------
STAMP_BASE=$CACHE/.base-$SUITE
if [ ! -e "$STAMP_BASE" ]; then
    log "step 1: debootstrap $SUITE riscv64 from $MIRROR into $ROOT (first run: several minutes)"
    rm -rf "$ROOT" "$CACHE"/.userland-* "$CACHE"/.tools-*
    timed "build: debootstrap" debootstrap --arch=riscv64 --variant=minbase "$SUITE" "$ROOT" "$MIRROR" \
        > "$OUT/debootstrap.log" 2>&1 || { tail -20 "$OUT/debootstrap.log"; die "debootstrap (log: $OUT/debootstrap.log)"; }
    echo "deb $MIRROR $SUITE main" > "$ROOT/etc/apt/sources.list"
    touch "$STAMP_BASE"
else
    log "step 1: debootstrap: cached ($ROOT)"
fi
[ "$(in_root uname -m)" = riscv64 ] || die "the root does not run as riscv64"

# --- 2. the image's userland (same script as the Dockerfile) ----------------------------------------
USERLAND_HASH=$(hash_of docker/debian-packages.txt docker/build-packages.txt docker/pip-requirements.txt docker/install-userland.sh)
STAMP_USERLAND=$CACHE/.userland-$USERLAND_HASH
if [ ! -e "$STAMP_USERLAND" ]; then
    log "step 2: docker/install-userland.sh in the root (first run: pycryptodome compiles under emulation)"
    rm -f "$CACHE"/.userland-*
    mount_chroot
    rm -rf "$ROOT/tmp/userland" && mkdir -p "$ROOT/tmp/userland"
    cp docker/debian-packages.txt docker/build-packages.txt docker/pip-requirements.txt docker/install-userland.sh "$ROOT/tmp/userland/"
    # pip inside the root trusts the host's CA bundle too (networks that intercept TLS add their CA
    # there); PIP_CERT is read by pip only, so the install script is the Dockerfile's, unchanged.
    cp -L /etc/ssl/certs/ca-certificates.crt "$ROOT/tmp/userland/host-ca.crt"
    timed "build: install-userland" in_root PIP_CERT=/tmp/userland/host-ca.crt \
        sh /tmp/userland/install-userland.sh /tmp/userland \
        > "$OUT/userland.log" 2>&1 || { tail -30 "$OUT/userland.log"; die "install-userland.sh (log: $OUT/userland.log)"; }
    grep '^install-userland:   ' "$OUT/userland.log" || true
    rm -rf "$ROOT/tmp/userland"
    touch "$STAMP_USERLAND"
else
    log "step 2: userland: cached (inputs hash $USERLAND_HASH)"
fi

# --- 2b. test tools (pure-Python wheels installed by the host's pip) --------------------------------
TOOLS_HASH=$(hash_of tests/riscv/check-requirements.txt)
STAMP_TOOLS=$CACHE/.tools-$TOOLS_HASH
if [ ! -e "$STAMP_TOOLS" ]; then
    log "step 2b: pytest + hypothesis into $TOOLS (host pip, pure-Python wheels)"
    rm -rf "$ROOT$TOOLS" "$CACHE"/.tools-*
    timed "build: test tools" env -u PIP_FIND_LINKS "$HOST_PY" -m pip install -q --no-deps --only-binary=:all: \
        --platform any --implementation py --abi none --python-version 3.13 \
        --target "$ROOT$TOOLS" -r tests/riscv/check-requirements.txt 2>&1 | { grep -v '^WARNING: Location' >&2 || true; }
    [ "${PIPESTATUS[0]}" = 0 ] || die "pip install of the test tools"
    touch "$STAMP_TOOLS"
else
    log "step 2b: test tools: cached"
fi

if [ "${RISCV_BUILD_ONLY:-0}" = 1 ]; then
    log "RISCV_BUILD_ONLY=1: the root is built ($ROOT); no check run"
    exit 0
fi

mount_chroot

# --- versions: the image's Debian packages against the host pins ------------------------------------
log "versions (riscv64 root vs requirements/dapp.txt):"
in_root python3 - < tests/riscv/versions.py > "$OUT/versions-riscv64.json"
"$HOST_PY" tests/riscv/versions.py --compare "$OUT/versions-riscv64.json" requirements/dapp.txt \
    || die "numpy/scipy/scikit-learn differ between the image and the host pins"

# --- 3. the backend, where the Dockerfile puts it ---------------------------------------------------
log "step 3: copying dapp/, contracts/abi/ to $APP (as the Dockerfile) and the tests beside them"
rm -rf "$ROOT$APP" && mkdir -p "$ROOT$APP/contracts" "$ROOT$APP/tests/unit"
cp -a dapp "$ROOT$APP/dapp"
cp -a contracts/abi "$ROOT$APP/contracts/abi"
cp -a tests/__init__.py tests/support tests/fixtures tests/riscv "$ROOT$APP/tests/"
for t in $UNIT_TESTS; do cp -a "$t" "$ROOT$APP/tests/unit/"; done
find "$ROOT$APP" -name __pycache__ -prune -exec rm -rf {} +
in_root python3 -m compileall -q --invalidation-mode unchecked-hash "$APP/dapp"  # as the Dockerfile
cp pyproject.toml "$ROOT$APP/pyproject.toml"
in_root sh -c "cd $APP && python3 -c 'import dapp.__main__, dapp.app, dapp.ml.engine, dapp.rollup.http'" \
    || die "the backend does not import in the root"
log "backend imports in the root ($APP)"

# --- 4. unit tests under emulation ------------------------------------------------------------------
if [ "${RISCV_SKIP_UNIT:-0}" != 1 ]; then
    log "step 4: unit tests under qemu-riscv64: $(echo $UNIT_TESTS | wc -w) files"
    timed "run: unit tests (riscv64)" in_root sh -c "cd $APP && PYTHONPATH=$TOOLS python3 -m pytest -q \
        -p no:cacheprovider -p tests.riscv.qemu_plugin -o timeout=1800 $UNIT_TESTS" 2>&1 | tee "$OUT/unit-riscv64.log" | tail -5
    [ "${PIPESTATUS[0]}" = 0 ] || die "unit tests under emulation (log: $OUT/unit-riscv64.log)"
fi

# --- 5. the scripted session on both architectures --------------------------------------------------
log "step 5: scripted session on x86-64 (host venv)"
timed "run: session (x86-64)" "$HOST_PY" -m tests.riscv.session --out "$OUT/session-x86_64.hex" \
    --floats "$OUT/floats-x86_64.json" || die "session on x86-64"
log "step 5: scripted session on riscv64 (emulated)"
timed "run: session (riscv64)" in_root sh -c "cd $APP && python3 -m tests.riscv.session \
    --out /tmp/session-riscv64.hex --floats /tmp/floats-riscv64.json --rss" || die "session on riscv64"
mv "$ROOT/tmp/session-riscv64.hex" "$ROOT/tmp/floats-riscv64.json" "$OUT/"

# --- 6. the image's command against a real rollup HTTP API -------------------------------------------
log "step 6: python3 -m dapp (the image's CMD) against the local node's rollup HTTP server, both architectures"
timed "run: entrypoint (x86-64)" "$HOST_PY" -m tests.riscv.entrypoint --out "$OUT/entrypoint-x86_64.hex" -- \
    env ROLLUP_HTTP_SERVER_URL={url} "$HOST_PY" -m dapp || die "python -m dapp on x86-64"
timed "run: entrypoint (riscv64)" "$HOST_PY" -m tests.riscv.entrypoint --out "$OUT/entrypoint-riscv64.hex" -- \
    chroot "$ROOT" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root LANG=C.UTF-8 \
    ROLLUP_HTTP_SERVER_URL={url} sh -c "cd $APP && exec python3 -m dapp" || die "python3 -m dapp on riscv64"
cmp -s "$OUT/entrypoint-x86_64.hex" "$OUT/entrypoint-riscv64.hex" \
    || die "python3 -m dapp answers differently on riscv64 ($OUT/entrypoint-*.hex)"
log "python3 -m dapp: identical answers over HTTP on both architectures"

log "comparing outputs ($(wc -l < "$OUT/session-x86_64.hex") lines)"
RESULT=0
"$HOST_PY" -m tests.riscv.compare "$OUT/session-x86_64.hex" "$OUT/session-riscv64.hex" \
    "$OUT/floats-x86_64.json" "$OUT/floats-riscv64.json" || RESULT=$?
log "times:"; sed 's/^/    /' "$OUT/times.txt"
case $RESULT in
    0) log "OK: riscv64 outputs equal x86-64 byte for byte" ;;
    3) if [ "${RISCV_STRICT:-0}" = 1 ]; then die "trained-model bytes differ (RISCV_STRICT=1)"; fi
       log "OK, with one known difference: trained-model files, so their CIDs, differ (their float arrays"
       log "    differ, table above); every score, acceptance, payment, voucher and report is identical" ;;
    *) die "riscv64 outputs differ from x86-64 beyond trained-model bytes (files in $OUT)" ;;
esac
