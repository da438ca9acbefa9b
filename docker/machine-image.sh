#!/usr/bin/env bash
# `make machine-image`: the backend's Cartesi machine, built without Docker, and its snapshot.
#
#  1. builds (or reuses) the Debian trixie riscv64 root of `make riscv-check` with the image's
#     userland (docker/install-userland.sh, the Dockerfile's own recipe), cached in .cache/riscv64-rootfs;
#  2. copies it to .cache/machine/root and makes it a machine root as the Dockerfile + machine-guest-tools
#     do: the `dapp` user, cartesi-init and xhalt (from ../shared/cartesi-machine/guest), the backend in
#     /opt/cartesi/dapp with its bytecode compiled; no rollup HTTP server: the backend talks to
#     /dev/cmio itself (dapp/rollup/cmio.py);
#  3. writes it to an ext2 image with `mke2fs -d` (.cache/machine/root.ext2);
#  4. boots it in cartesi-machine 0.19.0 (1Gi of RAM, as cartesi.toml) until the backend's first
#     accepting yield and stores that machine: .cache/machine/snapshot, what `make machine-check` and
#     `mlmarket node up --machine cartesi` load. Boot cycles and the snapshot's size go to
#     .cache/machine/boot.txt.
#
# Steps 2-4 are skipped when nothing they read changed (a stamp named after the hash of the backend,
# the userland stamp, the machine and this script). Needs root (chroot, files owned by the guest's
# user, apt-get for the machine's runtime packages lua5.4 and libslirp0). Environment:
#   CARTESI_MACHINE_DIR  the machine (default ../shared/cartesi-machine beside the repository)
#   MACHINE_CACHE        cache dir (default .cache/machine)
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$(pwd)
CM=${CARTESI_MACHINE_DIR:-$(cd "$REPO/.." && pwd)/shared/cartesi-machine}
CACHE=${MACHINE_CACHE:-$REPO/.cache/machine}
RISCV_CACHE=${RISCV_CACHE:-$REPO/.cache/riscv64-rootfs}
STAGE=$CACHE/root
IMAGE=$CACHE/root.ext2
SNAPSHOT=$CACHE/snapshot
APP=/opt/cartesi/dapp
RAM=1Gi
BOOT_MAX_MCYCLE=40000000000   # ~10x the 4.1 G cycles the boot takes
BOOT_TIMEOUT=1200             # seconds of host time

START=$(date +%s)
log() { printf '[machine-image %4ss] %s\n' "$(( $(date +%s) - START ))" "$*"; }
die() { log "FAILED: $*" >&2; exit 1; }

if [ ! -x "$CM/bin/cartesi-machine" ]; then
    log "no Cartesi machine at $CM (expected bin/cartesi-machine, images/linux.bin, guest/)."
    log "This needs the prebuilt cartesi-machine 0.19.0 of ../shared/cartesi-machine (or"
    log "CARTESI_MACHINE_DIR=<its directory>). Nothing was built."
    exit 2
fi
[ "$(id -u)" = 0 ] || die "needs root (chroot, a root owned by the guest's users); run it as root or with sudo"
need=()
command -v lua5.4 >/dev/null || need+=(lua5.4)
ldconfig -p | grep -q 'libslirp\.so\.0' || need+=(libslirp0)
command -v mke2fs >/dev/null || need+=(e2fsprogs)
if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]} with apt-get (the machine's runtime packages)"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi
mkdir -p "$CACHE"

# --- 1. the riscv64 root with the image's userland ----------------------------------------------------
log "step 1: the riscv64 root with the image's userland (make riscv-check's steps 1-2, cached)"
RISCV_BUILD_ONLY=1 RISCV_CACHE="$RISCV_CACHE" bash docker/riscv-check.sh | sed 's/^/    /'
[ "${PIPESTATUS[0]}" = 0 ] || die "building the riscv64 root"
USERLAND_STAMP=$(cd "$RISCV_CACHE" && ls -d .userland-* 2>/dev/null | head -1)
[ -n "$USERLAND_STAMP" ] || die "no userland stamp in $RISCV_CACHE"

KEY=$( { echo "$USERLAND_STAMP $RAM"; cat "$0" "$CM/guest/cartesi-init" "$CM/images/linux.bin" | sha256sum;
         find dapp contracts/abi -type f -not -path '*/__pycache__/*' -print0 | sort -z | xargs -0 sha256sum; } \
       | sha256sum | cut -c1-16)
STAMP=$CACHE/.snapshot-$KEY
if [ -e "$STAMP" ] && [ -d "$SNAPSHOT" ]; then
    log "steps 2-4: cached (backend, userland and machine unchanged; $SNAPSHOT)"
    cat "$CACHE/boot.txt"
    exit 0
fi
rm -f "$CACHE"/.snapshot-*

# --- 2. the machine root --------------------------------------------------------------------------
log "step 2: machine root in $STAGE"
rm -rf "$STAGE"
cp -a "$RISCV_CACHE/rootfs" "$STAGE"
rm -rf "$STAGE/opt/riscv-check" "$STAGE$APP" "$STAGE"/tmp/* "$STAGE/etc/resolv.conf"
in_stage() { chroot "$STAGE" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 "$@"; }
in_stage sh -c 'getent passwd dapp >/dev/null || useradd --create-home --user-group dapp' \
    || die "creating the dapp user"
install -m 0755 "$CM/guest/cartesi-init" "$STAGE/usr/sbin/cartesi-init"
install -m 0755 "$CM/guest/xhalt" "$STAGE/usr/sbin/xhalt"
echo cartesi-machine > "$STAGE/etc/hostname"
# the Dockerfile's ENV lines that matter without the rollup HTTP server (cartesi-init sources this)
printf 'PYTHONDONTWRITEBYTECODE=1\nexport PYTHONDONTWRITEBYTECODE\n' > "$STAGE/etc/environment"
mkdir -p "$STAGE$APP/contracts"
cp -a contracts/abi "$STAGE$APP/contracts/abi"
cp -a dapp "$STAGE$APP/dapp"
find "$STAGE$APP" -name __pycache__ -prune -exec rm -rf {} +
in_stage python3 -m compileall -q --invalidation-mode unchecked-hash "$APP/dapp" || die "compileall in the root"
in_stage sh -c "cd $APP && python3 -c 'import dapp.__main__, dapp.rollup.cmio, dapp.ml.engine'" \
    || die "the backend does not import in the machine root"

# --- 3. ext2 ----------------------------------------------------------------------------------------
USED_MB=$(du -sm "$STAGE" | cut -f1)
SIZE_MB=$(( USED_MB + USED_MB / 10 + 64 ))
log "step 3: $IMAGE (${USED_MB} MB of files, ${SIZE_MB} MB image)"
rm -f "$IMAGE"
mke2fs -q -t ext2 -b 4096 -L root -d "$STAGE" "$IMAGE" "${SIZE_MB}M" || die "mke2fs"

# --- 4. boot and store ----------------------------------------------------------------------------
log "step 4: booting the backend in cartesi-machine to its first yield, then storing it (~2 min)"
rm -rf "$SNAPSHOT"
T0=$(date +%s)
timeout "$BOOT_TIMEOUT" "$CM/bin/cartesi-machine" --ram-length="$RAM" \
    --flash-drive=label:root,filename:"$IMAGE" --max-mcycle="$BOOT_MAX_MCYCLE" --no-init-splash \
    --assert-rolling-template --final-hash --store="$SNAPSHOT" --workdir="$APP" \
    -- python3 -m dapp > "$CACHE/boot.log" 2>&1 || { tail -30 "$CACHE/boot.log"; die "boot (log: $CACHE/boot.log)"; }
BOOT_S=$(( $(date +%s) - T0 ))
CYCLES=$(LD_LIBRARY_PATH="$CM/lib" lua5.4 -e "
    package.cpath = '$CM/lib/lua/5.4/?.so;' .. package.cpath
    local cartesi = require('cartesi')
    local m = cartesi.new():load('$SNAPSHOT', {skip_root_hash_check = true})
    print(m:read_reg('mcycle'))")
{
    echo "boot to the first yield: $CYCLES cycles; boot + store: ${BOOT_S}s"
    echo "image: ${SIZE_MB} MB ext2 (${USED_MB} MB of files); snapshot: $(du -sh "$SNAPSHOT" | cut -f1) on disk" \
         "($(du -sh --apparent-size "$SNAPSHOT" | cut -f1) apparent)"
    grep -i -m1 'hash' "$CACHE/boot.log" | sed 's/^/machine /' || true
} > "$CACHE/boot.txt"
cat "$CACHE/boot.txt"
touch "$STAMP"
log "done: $SNAPSHOT"
