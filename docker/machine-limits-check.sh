#!/usr/bin/env bash
# `make machine-limits-check`: shows, with the real Cartesi machine (../shared/cartesi-machine, 0.19.0),
# that a process killed by RLIMIT_CPU or refused memory by RLIMIT_AS stops at the same point in every
# run: inside the machine time is a function of the cycle counter, so a CPU-seconds budget is too.
#
#  1. builds a tiny riscv64 root in the cache, without qemu or debootstrap: apt-get (with a private
#     configuration, the host's apt is untouched) downloads Debian trixie's busybox-static and
#     python3-numpy with their dependencies, dpkg-deb -x unpacks them; cartesi-init and xhalt come
#     from ../shared/cartesi-machine/guest;
#  2. writes the guest program (below) into it and the root into an ext2 image;
#  3. boots the machine twice (fresh each time) with --max-mcycle and a timeout; the guest forks:
#       - a busybox shell loop under `ulimit -t 1` (SIGKILL), counting to a file,
#       - a Python loop with RLIMIT_CPU (1, 2) that prints its count from a SIGXCPU handler,
#       - a Python loop with RLIMIT_CPU (1, 1) (SIGKILL), counting in shared memory,
#       - 64x64 numpy matrix products under RLIMIT_CPU (1, 2), counted the same way,
#       - numpy allocations of 1 MiB under RLIMIT_AS = its address space + 64 MiB, to MemoryError,
#     and prints guest clocks (date +%s.%N, CPU seconds) and the machine's timebase;
#  4. prints the two runs side by side with the cycles at halt and the host's wall time, exits 1 if
#     any figure differs, and prints the emulator's speed here and what 20 guest CPU seconds cost;
#  5. for contrast, runs the same program twice on the host with the venv's Python (not compared).
#
# Not part of `make test`. Needs root (apt-get, files owned by the guest's users). Environment:
#   CARTESI_MACHINE_DIR  the machine (default ../shared/cartesi-machine beside the repository)
#   LIMITS_CACHE         cache dir (default .cache/machine-limits)
#   LIMITS_MIRROR        Debian mirror (default http://deb.debian.org/debian)
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$(pwd)
CM=${CARTESI_MACHINE_DIR:-$(cd "$REPO/.." && pwd)/shared/cartesi-machine}
CACHE=${LIMITS_CACHE:-$REPO/.cache/machine-limits}
MIRROR=${LIMITS_MIRROR:-http://deb.debian.org/debian}
PACKAGES="busybox-static python3-numpy"
ROOT=$CACHE/root
OUT=$CACHE/out
MAX_MCYCLE=40000000000   # 312 s of guest time: far above the check's ~3.4 G cycles
TIMEOUT=900              # seconds of host time per run

log() { printf '[machine-limits] %s\n' "$*"; }
die() { log "FAILED: $*" >&2; exit 1; }

if [ ! -x "$CM/bin/cartesi-machine" ]; then
    log "no Cartesi machine at $CM (expected bin/cartesi-machine, images/linux.bin, guest/)." >&2
    log "This check needs the prebuilt cartesi-machine 0.19.0 of ../shared/cartesi-machine" >&2
    log "(or CARTESI_MACHINE_DIR=<its directory>); nothing was run." >&2
    exit 2
fi
[ "$(id -u)" = 0 ] || die "needs root (apt-get, a root owned by the guest's users); run it as root or with sudo"
need=()
command -v lua5.4 >/dev/null || need+=(lua5.4)
ldconfig -p | grep -q 'libslirp\.so\.0' || need+=(libslirp0)
command -v mke2fs >/dev/null || need+=(e2fsprogs)
if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]} with apt-get (the machine's runtime packages)"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi
mkdir -p "$CACHE" "$OUT"

# --- 1. the tiny root -------------------------------------------------------------------------------
STAMP=$CACHE/.root-$(echo "$MIRROR $PACKAGES" | cat - "$CM/guest/cartesi-init" | sha256sum | cut -c1-16)
if [ ! -e "$STAMP" ]; then
    log "step 1: riscv64 root from Debian trixie ($PACKAGES and dependencies) into $ROOT"
    rm -rf "$CACHE/apt" "$ROOT" "$CACHE"/.root-*
    A=$CACHE/apt
    mkdir -p "$A/lists/partial" "$A/archives/partial" "$A/etc/sources.list.d" "$A/etc/preferences.d"
    : > "$A/status"   # nothing installed: apt resolves the whole dependency closure
    echo "deb [arch=riscv64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR trixie main" \
        > "$A/etc/sources.list"
    cat > "$A/apt.conf" <<EOF
APT::Architecture "riscv64";
APT::Architectures { "riscv64"; };
APT::Install-Recommends "false";
Dir::State "$A"; Dir::State::status "$A/status"; Dir::State::Lists "$A/lists";
Dir::Cache "$A"; Dir::Cache::archives "$A/archives";
Dir::Etc::SourceList "$A/etc/sources.list"; Dir::Etc::SourceParts "$A/etc/sources.list.d";
Dir::Etc::Preferences "$A/etc/preferences"; Dir::Etc::PreferencesParts "$A/etc/preferences.d";
Debug::NoLocking "true";
EOF
    APT_CONFIG=$A/apt.conf apt-get update -q > "$OUT/apt.log" 2>&1 || { tail "$OUT/apt.log"; die "apt-get update (trixie riscv64)"; }
    # shellcheck disable=SC2086
    APT_CONFIG=$A/apt.conf apt-get install -y -q --download-only $PACKAGES >> "$OUT/apt.log" 2>&1 \
        || { tail "$OUT/apt.log"; die "apt-get download of $PACKAGES"; }
    mkdir -p "$ROOT"
    for deb in "$A"/archives/*.deb; do dpkg-deb -x "$deb" "$ROOT"; done
    # what maintainer scripts and base-files would have done
    for d in bin sbin lib; do ln -sfn "usr/$d" "$ROOT/$d"; done
    ln -sf busybox "$ROOT/usr/bin/sh"
    for lib in blas/libblas.so.3 lapack/liblapack.so.3; do
        ln -sf "$lib" "$ROOT/usr/lib/riscv64-linux-gnu/${lib#*/}"
    done
    mkdir -p "$ROOT"/{dev,proc,sys,tmp,run,root,home/dapp,opt/limits}
    chmod 1777 "$ROOT/tmp"
    printf 'root:x:0:0:root:/root:/bin/sh\ndapp:x:1000:1000:dapp:/home/dapp:/bin/sh\n' > "$ROOT/etc/passwd"
    printf 'root:x:0:\ntty:x:5:\ndapp:x:1000:\n' > "$ROOT/etc/group"
    chown 1000:1000 "$ROOT/home/dapp"
    echo cartesi-machine > "$ROOT/etc/hostname"
    install -m 0755 "$CM/guest/cartesi-init" "$ROOT/usr/sbin/cartesi-init"
    install -m 0755 "$CM/guest/xhalt" "$ROOT/usr/sbin/xhalt"
    touch "$STAMP"
else
    log "step 1: root: cached ($ROOT)"
fi

# --- 2. the guest program ---------------------------------------------------------------------------
# Each figure is one line `name value`; the host compares them between the runs.
cat > "$ROOT/opt/limits/check.py" <<'PY'
"""Forks children under RLIMIT_CPU / RLIMIT_AS and prints where each one stopped."""
import mmap
import os
import resource
import signal
import struct
import sys
import time


def say(name, value):
    print(f"{name} {value}", flush=True)


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def died(status):
    if os.WIFSIGNALED(status):
        return signal.Signals(os.WTERMSIG(status)).name
    return f"exit{os.WEXITSTATUS(status)}"


def until_xcpu(name, step=None):
    """RLIMIT_CPU (1, 2): SIGXCPU at 1 CPU second; the handler prints the loop's count and exits.
    The loop adds 1 (step None) or calls step() and adds 1."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        n = 0

        def on_xcpu(signum, frame):
            os.write(w, str(n).encode())
            os._exit(0)

        signal.signal(signal.SIGXCPU, on_xcpu)
        resource.setrlimit(resource.RLIMIT_CPU, (1, 2))
        if step is None:
            while True:
                n += 1
        while True:
            step()
            n += 1
    os.close(w)
    before, t0 = cpu_seconds(), time.time()
    _, status = os.waitpid(pid, 0)
    count = os.read(r, 64).decode()
    say(f"{name}_died", died(status))
    say(f"{name}_count", count)
    say(f"{name}_cpu_s", f"{cpu_seconds() - before:.6f}")
    say(f"{name}_wall_s", f"{time.time() - t0:.6f}")


def kill_shared():
    """RLIMIT_CPU (1, 1): SIGKILL at 1 CPU second; the count is read from shared memory."""
    shared = mmap.mmap(-1, 8)
    pid = os.fork()
    if pid == 0:
        resource.setrlimit(resource.RLIMIT_CPU, (1, 1))
        n = 0
        while True:
            n += 1
            struct.pack_into("<Q", shared, 0, n)
    _, status = os.waitpid(pid, 0)
    say("py_kill_died", died(status))
    say("py_kill_count", struct.unpack_from("<Q", shared, 0)[0])


def vm_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise LookupError(field)


def numpy_as():
    """64x64 numpy products until SIGXCPU, then RLIMIT_AS = address space now + 64 MiB: keep 1 MiB numpy arrays until MemoryError."""
    import numpy as np  # ~18 guest s here: the tiny root has no .pyc files and the user cannot write them

    a = np.full((64, 64), 0.5)
    until_xcpu("np_matmul64_xcpu", lambda: a @ a)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        base = vm_kib("VmSize") * 1024
        resource.setrlimit(resource.RLIMIT_AS, (base + (64 << 20), base + (64 << 20)))
        kept = []
        try:
            while True:
                kept.append(np.ones(1 << 17))  # 1 MiB of float64, touched
        except MemoryError:
            os.write(w, f"{len(kept)} {base} {vm_kib('VmPeak') * 1024}".encode())
            os._exit(0)
    os.close(w)
    _, status = os.waitpid(pid, 0)
    count, base, peak = os.read(r, 128).decode().split()
    say("np_as_died", died(status))
    say("np_as_arrays_before_MemoryError", count)
    say("np_as_base_bytes", base)
    say("np_as_vmpeak_bytes", peak)


def device_tree(path):
    """A 32-bit cell of the machine's device tree (the timebase and the CPU clock), n/a off the machine."""
    try:
        with open("/proc/device-tree/" + path, "rb") as f:
            return int.from_bytes(f.read(), "big")
    except OSError:
        return "n/a"


def date():
    return f"{time.time_ns() / 1e9:.9f}"  # what `date +%s.%N` prints (busybox's date has no %N)


say("timebase_hz", device_tree("cpus/timebase-frequency"))
say("cpu_clock_hz", device_tree("cpus/cpu@0/clock-frequency"))
say("py_start_date", date())
until_xcpu("py_xcpu")
kill_shared()
numpy_as()
say("py_end_date", date())
say("py_end_monotonic", f"{time.monotonic():.6f}")
sys.exit(0)
PY
cat > "$ROOT/opt/limits/check.sh" <<'SH'
echo "sh_start_uptime_s $(busybox cut -d' ' -f1 /proc/uptime)"
# busybox ash: soft = hard = 1 CPU second, so SIGKILL; the loop appends its count to a file (a
# kill between open and write leaves the last line whole)
busybox sh -c 'ulimit -t 1; i=0; while :; do i=$((i+1)); echo $i >> /tmp/count; done'
echo "sh_kill_status $?"
echo "sh_kill_count $(busybox tail -n 1 /tmp/count)"
python3 /opt/limits/check.py
echo "sh_end_uptime_s $(busybox cut -d' ' -f1 /proc/uptime)"
SH
# The same root always gives the same image (fixed times, UUID and hash seed), so the same machine
# input and the same figures from one invocation to the next, not only between the two runs.
touch -d @1 "$ROOT/opt/limits" "$ROOT/opt/limits/check.py" "$ROOT/opt/limits/check.sh"
rm -f "$OUT/root.ext2"
SIZE_MB=$(( $(du -sm "$ROOT" | cut -f1) + 64 ))
E2FSPROGS_FAKE_TIME=1 mke2fs -q -t ext2 -b 4096 -L root -U 00000000-0000-0000-0000-000000000001 \
    -E hash_seed=00000000-0000-0000-0000-000000000002 -d "$ROOT" "$OUT/root.ext2" "${SIZE_MB}M" || die "mke2fs"
log "root image: $(sha256sum "$OUT/root.ext2" | cut -c1-16) (sha256; $SIZE_MB MB)"

# --- 3. two runs ------------------------------------------------------------------------------------
run() { # run <n>: boots a fresh machine, guest figures to $OUT/run-<n>.txt, machine's to its .err
    local n=$1 t0 t1 rc=0
    log "run $n: booting the machine (ram 512Mi)"
    t0=$(date +%s.%N)
    timeout "$TIMEOUT" "$CM/bin/cartesi-machine" --ram-length=512Mi --max-mcycle=$MAX_MCYCLE \
        --flash-drive=label:root,filename:"$OUT/root.ext2" -- "sh /opt/limits/check.sh" \
        > "$OUT/run-$n.out" 2> "$OUT/run-$n.err" || rc=$?
    t1=$(date +%s.%N)
    tr -d '\r' < "$OUT/run-$n.out" | grep -E '^[a-zA-Z0-9_]+ [^ ]+$' > "$OUT/run-$n.txt" || true
    echo "machine_exit $rc" >> "$OUT/run-$n.txt"
    echo "machine_mcycle_at_halt $(grep -o 'Cycles: [0-9]*' "$OUT/run-$n.err" | tail -1 | cut -d' ' -f2)" >> "$OUT/run-$n.txt"
    awk -v a="$t0" -v b="$t1" 'BEGIN {printf "host_wall_s %.1f\n", b - a}' > "$OUT/run-$n.host"
    [ "$rc" = 0 ] || { cat "$OUT/run-$n.out" "$OUT/run-$n.err" | tail -20; die "run $n: the machine exited $rc"; }
    grep -q '^Halted' "$OUT/run-$n.err" || die "run $n: the machine did not halt within $MAX_MCYCLE cycles"
}
run 1
run 2

# --- 4. side by side --------------------------------------------------------------------------------
log "figures (guest lines, then the machine's):"
printf '    %-34s %-22s %-22s\n' figure "run 1" "run 2"
paste -d' ' "$OUT/run-1.txt" "$OUT/run-2.txt" | while read -r k1 v1 k2 v2; do
    mark=""; [ "$k1 $v1" = "$k2 $v2" ] || mark="  <- differs"
    printf '    %-34s %-22s %-22s%s\n' "$k1" "$v1" "$v2" "$mark"
done
printf '    %-34s %-22s %-22s (not compared)\n' host_wall_s "$(cut -d' ' -f2 "$OUT/run-1.host")" "$(cut -d' ' -f2 "$OUT/run-2.host")"
grep -q '^py_kill_died SIGKILL$' "$OUT/run-1.txt" || die "the RLIMIT_CPU (1, 1) child did not die of SIGKILL"
grep -q '^np_as_arrays_before_MemoryError [0-9]' "$OUT/run-1.txt" || die "no MemoryError under RLIMIT_AS"
cmp -s "$OUT/run-1.txt" "$OUT/run-2.txt" || die "the two runs differ ($OUT/run-{1,2}.txt)"
mcycle=$(awk '$1 == "machine_mcycle_at_halt" {print $2}' "$OUT/run-1.txt")
clock=$(awk '$1 == "cpu_clock_hz" {print $2}' "$OUT/run-1.txt")
wall=$(cut -d' ' -f2 "$OUT/run-1.host")
log "OK: identical in both runs, to the last cycle"
awk -v c="$mcycle" -v w="$wall" -v hz="$clock" 'BEGIN {
    rate = c / w
    printf "[machine-limits] guest clock %d cycles per second; this host ran %.1f M cycles per second,\n", hz, rate / 1e6
    printf "[machine-limits] so 20 guest CPU seconds = %.2f G cycles, about %.0f s of host time here\n", 20 * hz / 1e9, 20 * hz / rate
}'

# --- contrast: the same program on the host (x86-64), where RLIMIT_CPU counts the host's CPU time ---
HOST_PY=$REPO/.venv/bin/python
if [ -x "$HOST_PY" ] && "$HOST_PY" -c 'import numpy' 2>/dev/null; then
    for n in 1 2; do OPENBLAS_NUM_THREADS=1 "$HOST_PY" "$ROOT/opt/limits/check.py" > "$OUT/host-$n.txt"; done
    log "the same program twice on this host (x86-64, not compared; counts depend on the host's speed and load):"
    paste -d' ' "$OUT/host-1.txt" "$OUT/host-2.txt" | awk '$1 ~ /count|MemoryError|died/ {printf "    %-34s %-22s %-22s\n", $1, $2, $4}'
fi
