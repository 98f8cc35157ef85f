#!/usr/bin/env bash
# Version matrix: the README's two commands on fresh minimal Debian images (as root, on a Debian
# host with network access to Debian's archive and PyPI):
#
#     scripts/test_matrix.sh [dist ...]        (default: bookworm trixie sid; or `make matrix`)
#
# For each distribution: a minimal chroot (debootstrap --variant=minbase: no make, no git), a fresh
# clone of this repository's committed HEAD in /root/mmsiam/multimodal_siamese, the project's
# shared data read-only beside it (/root/mmsiam/shared, where the tests look for ../shared/data),
# then, exactly as the README says, `sh bootstrap.sh demo` and `sh bootstrap.sh test`.
# Prints one summary line per distribution; exits non-zero if any failed.
#
# Idempotent: chroots, their Debian packages and the venv are kept in the cache folder and reused;
# a rerun only replaces the repository copy (the venv is reinstalled when requirements change,
# as scripts/setup.sh does on any machine). MMSIAM_MATRIX_REBUILD=1 starts from a new chroot.
#
# The distributions are prepared in parallel. The set-up (Debian packages, pip, several GB of
# downloads) runs first, niced and unlocked (`sh bootstrap.sh setup`; the README's commands then
# find it done, they are idempotent); the demo and the tests, the CPU-heavy parts, run one at a
# time under `flock $MMSIAM_CPU_LOCK`.
#
# Environment:
#   MMSIAM_MATRIX_DIR      cache of chroots and logs (default /var/tmp/mmsiam-matrix; outside the
#                          repository on purpose: `make clean` must never meet a bind mount)
#   MMSIAM_SHARED          folder made available as ../shared beside the copy (default: the
#                          repository's ../shared; skipped when absent, the data tests then skip)
#   MMSIAM_MATRIX_LOGS     logs and summary (default $MMSIAM_MATRIX_DIR/logs)
#   MMSIAM_CPU_LOCK        lock file for the CPU-heavy phases (default $MMSIAM_MATRIX_DIR/cpu.lock)
#   MMSIAM_MATRIX_MIRROR   Debian mirror (default http://deb.debian.org/debian)
#   MMSIAM_MATRIX_TIMEOUT  seconds allowed to each phase (default 3600)
#   MMSIAM_MATRIX_REBUILD  1: delete and rebuild the chroots
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SELF="$ROOT/scripts/test_matrix.sh"
CACHE="${MMSIAM_MATRIX_DIR:-/var/tmp/mmsiam-matrix}"
SHARED="${MMSIAM_SHARED:-$ROOT/../shared}"
LOCK="${MMSIAM_CPU_LOCK:-$CACHE/cpu.lock}"
MIRROR="${MMSIAM_MATRIX_MIRROR:-http://deb.debian.org/debian}"
PHASE_TIMEOUT="${MMSIAM_MATRIX_TIMEOUT:-3600}"
LOGS="${MMSIAM_MATRIX_LOGS:-$CACHE/logs}"
# Inside each chroot: the repository copy, with the shared data beside it.
WORK=/root/mmsiam
REPO="$WORK/multimodal_siamese"


log() { echo "[$(date -u +%H:%M:%S)] $1: $2"; }

# Every mount below a chroot, deepest first, detached: safe to call any time, also after a crash.
unmount_all() {
    local dir="$1" target
    findmnt -rn -o TARGET | awk -v d="$dir/" 'index($0 "/", d) == 1' | sort -r | while read -r target; do
        umount "$target" 2>/dev/null || umount -l "$target"
    done
}

# A minimal chroot (no make, no git, no CA certificates), made once.
ensure_chroot() {
    local dist="$1" dir="$CACHE/$1"
    local done_mark="$CACHE/$dist.debootstrap-ok"
    if [ "${MMSIAM_MATRIX_REBUILD:-0}" = 1 ] || [ ! -f "$done_mark" ]; then
        rm -f "$done_mark"
        if [ -e "$dir" ]; then
            unmount_all "$dir"
            rm -rf --one-file-system "$dir"
        fi
        log "$dist" "debootstrap --variant=minbase (log: $LOGS/$dist.debootstrap.log)"
        nice -n 10 debootstrap --variant=minbase "$dist" "$dir" "$MIRROR" >"$LOGS/$dist.debootstrap.log" 2>&1
        touch "$done_mark"
    fi
    # What a real image of that release has: its updates and security suites (not for sid).
    case "$dist" in
        sid|unstable) printf 'deb %s %s main\n' "$MIRROR" "$dist" ;;
        *) printf 'deb %s %s main\ndeb %s %s-updates main\ndeb %s %s-security main\n' \
               "$MIRROR" "$dist" "$MIRROR" "$dist" "${MIRROR%/debian}/debian-security" "$dist" ;;
    esac >"$dir/etc/apt/sources.list"
    # A mirror or snapshot older than the clock: its Release files are still valid (as on this host).
    printf 'Acquire::Check-Valid-Until "false";\nAcquire::Check-Date "false";\n' \
        >"$dir/etc/apt/apt.conf.d/99mmsiam-matrix"
    # This host's name server and CA certificates (a registry proxy may need the host's CA); the
    # copy in /usr/local/share survives update-ca-certificates when a package installs
    # ca-certificates in the chroot.
    cp -L /etc/resolv.conf "$dir/etc/resolv.conf"
    mkdir -p "$dir/etc/ssl/certs" "$dir/usr/local/share/ca-certificates"
    cp -L /etc/ssl/certs/ca-certificates.crt "$dir/usr/local/share/ca-certificates/mmsiam-host.crt"
    [ -s "$dir/etc/ssl/certs/ca-certificates.crt" ] ||
        cp -L /etc/ssl/certs/ca-certificates.crt "$dir/etc/ssl/certs/ca-certificates.crt"
    # No daemons started by package scripts inside the chroot.
    printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
    chmod 755 "$dir/usr/sbin/policy-rc.d"
}

# A fresh clone of the committed HEAD; the venv and the fetched demo data of the previous copy are
# kept (same path, so the venv's scripts stay valid).
refresh_repository() {
    local dist="$1" dir="$CACHE/$1"
    local new="$dir$REPO.new" old="$dir$REPO"
    rm -rf --one-file-system "$new"
    mkdir -p "$dir$WORK"
    git clone -q --no-hardlinks "$ROOT" "$new"
    git -C "$new" checkout -q --detach "$HEAD_SHA"
    if [ -d "$old" ]; then
        if [ -d "$old/.venv" ]; then mv "$old/.venv" "$new/.venv"; fi
        if [ -d "$old/data" ]; then mv "$old/data" "$new/data"; fi
        rm -rf --one-file-system "$old"
    fi
    mv "$new" "$old"
    mkdir -p "$dir$WORK/shared"
}

mount_chroot() {
    local dir="$1"
    unmount_all "$dir"
    mount -t proc proc "$dir/proc"
    mount -t sysfs sysfs "$dir/sys"
    mount --rbind /dev "$dir/dev"
    mount --make-rslave "$dir/dev"
    if [ -d "$SHARED" ]; then
        mount --bind "$SHARED" "$dir$WORK/shared"
        mount -o remount,bind,ro "$dir$WORK/shared"
    fi
}

# A command in the chroot's repository copy, with a newcomer's bare environment.
in_chroot() {
    local dir="$1"; shift
    chroot "$dir" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        PIP_CERT=/usr/local/share/ca-certificates/mmsiam-host.crt \
        /bin/sh -c "cd $REPO && $*"
}

# phase DIST NAME locked|unlocked COMMAND: runs it in the chroot, log in $LOGS/<dist>.<name>.log;
# sets PHASE_RC and PHASE_S (seconds it ran, without the wait for the lock).
phase() {
    local dist="$1" name="$2" locked="$3" cmd="$4" dir="$CACHE/$1" start
    local logfile="$LOGS/$dist.$name.log" stamp="$LOGS/$dist.$name.started"
    log "$dist" "$name: $cmd (log: $logfile)"
    start=$(date +%s)
    echo "$start" >"$stamp"
    export MMSIAM_PHASE_STAMP="$stamp"  # rewritten once the lock is held: waiting is not counted
    set +e
    if [ "$locked" = locked ]; then
        flock "$LOCK" timeout "$PHASE_TIMEOUT" bash "$SELF" --in-chroot "$dir" "$cmd" >"$logfile" 2>&1
    else
        nice -n 10 timeout "$PHASE_TIMEOUT" bash "$SELF" --in-chroot "$dir" "$cmd" >"$logfile" 2>&1
    fi
    PHASE_RC=$?
    set -e
    PHASE_S=$(( $(date +%s) - $(cat "$stamp") ))
    log "$dist" "$name: exit $PHASE_RC after ${PHASE_S} s (started $(( $(cat "$stamp") - start )) s after the request)"
}

versions() {
    local dir="$1" venv torch cuda
    venv="$dir$REPO/.venv"
    QGIS_V="$(chroot "$dir" dpkg-query -W -f='${Version}' qgis 2>/dev/null | sed 's/[+~-].*//')" || QGIS_V="?"
    PY_V="$(chroot "$dir" /usr/bin/python3 -c 'import platform; print(platform.python_version())' 2>/dev/null)" || PY_V="?"
    GDAL_V="$(chroot "$dir" gdalinfo --version 2>/dev/null | awk '{print $2}' | tr -d ,)" || GDAL_V="?"
    torch="$(find "$venv"/lib/python3*/site-packages -maxdepth 1 -name 'torch-*.dist-info' 2>/dev/null | head -n1)"
    torch="${torch##*/torch-}"; torch="${torch%.dist-info}"
    cuda=""
    if find "$venv"/lib/python3*/site-packages -maxdepth 1 -name 'triton-*.dist-info' 2>/dev/null | grep -q .; then
        cuda=" CUDA build+triton"
    fi
    TORCH_V="${torch:-none}$cuda"
}

# "210 passed, 3 failed, 5 skipped, 3 errors in 190.2s" from a pytest log, as passed/failed/skipped/errors.
test_counts() {
    local line p f s e
    line="$(grep -E '[0-9]+ (passed|failed|error|errors|skipped)' "$1" | grep -E ' in [0-9.]+s' | tail -n1 || true)"
    [ -n "$line" ] || { echo "no pytest summary"; return; }
    p="$(grep -oE '[0-9]+ passed' <<<"$line" | cut -d' ' -f1 || true)"
    f="$(grep -oE '[0-9]+ failed' <<<"$line" | cut -d' ' -f1 || true)"
    s="$(grep -oE '[0-9]+ skipped' <<<"$line" | cut -d' ' -f1 || true)"
    e="$(grep -oE '[0-9]+ errors?' <<<"$line" | cut -d' ' -f1 || true)"
    echo "${p:-0}/${f:-0}/${s:-0}/${e:-0}"
}

run_dist() {
    local dist="$1" dir="$CACHE/$1" status=OK t0 setup_s demo_s test_s setup_rc demo_rc test_rc counts
    trap 'exit 130' INT TERM
    t0=$(date +%s)
    # One matrix run per chroot at a time (the lock is released when this subshell ends). The
    # clean-up on exit is set only once the lock is held: a run turned away here must not
    # unmount the chroot of the run that holds it.
    exec 9>"$CACHE/$dist.lock"
    flock -n 9 || { log "$dist" "another matrix run is using $dir"; exit 1; }
    trap 'unmount_all "$CACHE/'"$dist"'"' EXIT
    unmount_all "$dir"
    ensure_chroot "$dist"
    refresh_repository "$dist"
    mount_chroot "$dir"
    log "$dist" "chroot ready in $(( $(date +%s) - t0 )) s; repository copy at ${HEAD_SHA:0:10}"
    phase "$dist" setup unlocked "sh bootstrap.sh setup"; setup_rc=$PHASE_RC; setup_s=$PHASE_S
    if [ "$setup_rc" = 0 ]; then
        phase "$dist" demo locked "sh bootstrap.sh demo"; demo_rc=$PHASE_RC; demo_s=$PHASE_S
        phase "$dist" test locked "sh bootstrap.sh test"; test_rc=$PHASE_RC; test_s=$PHASE_S
    else
        # Both commands start with this same set-up: they would fail the same way, on the lock.
        log "$dist" "set-up failed: demo and test not run (see $LOGS/$dist.setup.log)"
        demo_rc=-; test_rc=-; demo_s=-; test_s=-
        : >"$LOGS/$dist.test.log"
    fi
    versions "$dir"
    counts="$(test_counts "$LOGS/$dist.test.log")"
    [ "$setup_rc$demo_rc$test_rc" = 000 ] || status=FAIL
    printf '%-8s QGIS %-7s Python %-7s GDAL %-7s torch %-28s tests p/f/s/e %-13s setup %4ss demo %4ss test %4ss exit setup=%s demo=%s test=%s %s\n' \
        "$dist" "$QGIS_V" "$PY_V" "$GDAL_V" "$TORCH_V" "$counts" "$setup_s" "$demo_s" "$test_s" \
        "$setup_rc" "$demo_rc" "$test_rc" "$status" >"$LOGS/$dist.summary"
    [ "$status" = OK ]
}

# Called back by phase() (flock and timeout need a program): one command in a chroot.
if [ "${1:-}" = --in-chroot ]; then
    [ -z "${MMSIAM_PHASE_STAMP:-}" ] || date +%s >"$MMSIAM_PHASE_STAMP"
    in_chroot "$2" "$3"
    exit
fi

# Debugging a failure: one command in an existing chroot's repository copy, mounts as for the
# matrix, in a fresh copy of the committed HEAD (venv and demo data kept; no set-up, no lock: take
# it yourself), e.g.
#     scripts/test_matrix.sh --run trixie '.venv/bin/python -m pytest -q tests/core/test_raster.py'
if [ "${1:-}" = --run ]; then
    [ "$#" = 3 ] && [ -f "$CACHE/$2.debootstrap-ok" ] || { echo "usage: $0 --run DIST COMMAND (an existing chroot)" >&2; exit 2; }
    exec 9>"$CACHE/$2.lock"
    flock -n 9 || { echo "test_matrix: another run is using $CACHE/$2" >&2; exit 1; }
    trap 'unmount_all "$CACHE/$2"' EXIT
    unmount_all "$CACHE/$2"
    HEAD_SHA="$(git -C "$ROOT" rev-parse HEAD)"
    refresh_repository "$2"
    echo "test_matrix: $2's copy is at ${HEAD_SHA:0:10}" >&2
    mount_chroot "$CACHE/$2"
    set +e
    in_chroot "$CACHE/$2" "$3"
    exit
fi

if [ "$#" -gt 0 ]; then DISTS=("$@"); else DISTS=(bookworm trixie sid); fi
[ "$(id -u)" = 0 ] || { echo "test_matrix: run as root (debootstrap, chroot, mount)" >&2; exit 2; }
for tool in debootstrap chroot flock findmnt git timeout; do
    command -v "$tool" >/dev/null || { echo "test_matrix: $tool is missing (apt-get install debootstrap util-linux git)" >&2; exit 2; }
done
HEAD_SHA="$(git -C "$ROOT" rev-parse HEAD)"
if [ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no)" ]; then
    echo "test_matrix: note: testing the committed HEAD ${HEAD_SHA:0:10}; uncommitted changes are left out"
fi
mkdir -p "$CACHE" "$LOGS"

killtree() {
    local child
    for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do killtree "$child"; done
    kill "$1" 2>/dev/null || true
}
cleanup() {
    local pid dist
    for pid in "${PIDS[@]}"; do killtree "$pid"; done
    wait || true
    unmount_unused
}
# The mounts of this run's chroots that no other run is using now.
unmount_unused() {
    local dist
    for dist in "${DISTS[@]}"; do
        if flock -n "$CACHE/$dist.lock" true; then unmount_all "$CACHE/$dist"; fi
    done
}
PIDS=()
trap 'cleanup; exit 130' INT TERM

log matrix "HEAD ${HEAD_SHA:0:10}; ${DISTS[*]}; cache $CACHE; logs $LOGS; lock $LOCK"
start=$(date +%s)
for dist in "${DISTS[@]}"; do
    rm -f "$LOGS/$dist.summary"
    # Parallel: downloads overlap; the CPU-heavy phases still take turns on the lock.
    (run_dist "$dist" 2>&1 | tee "$LOGS/$dist.matrix.log") &
    PIDS+=($!)
done
wait
unmount_unused

echo
echo "Matrix of ${HEAD_SHA:0:10} ($(date -u +%Y-%m-%dT%H:%MZ), $(( $(date +%s) - start )) s; tests passed/failed/skipped/errors; logs in $LOGS):"
for dist in "${DISTS[@]}"; do
    if [ -f "$LOGS/$dist.summary" ]; then
        cat "$LOGS/$dist.summary"
    else
        echo "$dist: FAIL before the tests (see $LOGS/$dist.matrix.log)"
    fi
done | tee "$LOGS/summary.txt"
grep -q -v ' OK$' "$LOGS/summary.txt" && exit 1
exit 0
