# shellcheck shell=bash
# lib.sh - shared by the engine suites (podman.sh, containerd.sh, docker.sh).
# Sourced, not run.  Provides: runtime resolution, apt installs, the busybox
# rootfs, result counting, bounded commands, a private work dir, and a leak
# check of the things an engine can leave on the host (daemons, mounts,
# cgroups, netns, veths).
#
# Conventions for the engine scripts:
#   ENGINE=name; source lib.sh; engines_init "$@"
#   scenario NAME CMD...      runs CMD (a shell function) with a timeout and
#                             prints PASS NAME or FAIL NAME: <reason>
#   a scenario function fails with `fail "reason"` (or any non-zero status).
#   after_failure (optional, defined by the engine script) runs after a
#   failed scenario to remove whatever containers it left.

ENGINES_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$ENGINES_DIR/../.." && pwd)
SCENARIO_TIMEOUT=${SCENARIO_TIMEOUT:-90}
PASSED=0
FAILED=0
FAILED_NAMES=()
CLEANUP_FNS=()

log() { printf '[%s %s] %s\n' "$ENGINE" "$(date +%T)" "$*" >&2; }

# --- one suite at a time ----------------------------------------------------
# Engines share host-wide things whatever their private roots (podman's
# /dev/shm/libpod_lock, /run/containerd/{s,fifo}, /run/netns), and the leak
# check compares host snapshots: so suites run one at a time, host-wide.
# engines_lock "$@" (first thing in a script) re-executes the script under
# flock(1) on ENGINES_LOCK; flock(1) holds the lock until the script exits,
# and the script closes its own copy of the lock fd so that no daemon or
# container it starts inherits it.
ENGINES_LOCK=/run/pyrunc-engines.lock
engines_lock() {
    if [[ -z ${ENGINES_LOCKED:-} ]]; then
        export ENGINES_LOCKED=1
        exec flock -w "${ENGINES_LOCK_WAIT:-900}" -E 75 "$ENGINES_LOCK" "$BASH" "$0" "$@"
    fi
    local fd
    for fd in /proc/$$/fd/*; do
        if [[ $(readlink "$fd" 2>/dev/null) == "$ENGINES_LOCK" ]]; then
            eval "exec ${fd##*/}>&-"
        fi
    done
}

# --- runtime ---------------------------------------------------------------
# resolve_runtime [ARG] -> sets RUNTIME (absolute path) and RUNTIME_NAME.
# ARG: empty or "pyrunc" (the installed pyrunc), "runc", "crun" (through
# conformance/runtime-tools/crun-hybrid.sh), or a path/command.
resolve_runtime() {
    local arg=${1:-pyrunc} p
    case $arg in
        crun) p=$REPO_DIR/conformance/runtime-tools/crun-hybrid.sh ;;
        */*) p=$arg ;;
        *)
            p=$(command -v "$arg" || true)
            # A pyenv shim is slow and may pick another version: resolve it.
            if [[ $p == */shims/* ]] && command -v pyenv >/dev/null; then
                p=$(pyenv which "$arg")
            fi
            ;;
    esac
    [[ -n $p && -x $p ]] || { echo "runtime not found: $arg" >&2; exit 2; }
    RUNTIME=$(readlink -f "$p")
    # Keep the name the user gave (podman picks flags by basename).
    [[ $p == /* ]] && RUNTIME=$p
    RUNTIME_NAME=$(basename "$RUNTIME")
    case $RUNTIME_NAME in crun-hybrid.sh) RUNTIME_NAME=crun ;; esac
}

# --- packages --------------------------------------------------------------
# need_pkgs PKG... : apt-get install the missing ones (services are not
# started: Debian's policy-rc.d, or a temporary one, answers 101).
need_pkgs() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
            missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    log "apt-get install ${missing[*]}"
    local made_policy=
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        made_policy=1
    fi
    local rc=0
    DEBIAN_FRONTEND=noninteractive timeout 900 apt-get -o DPkg::Lock::Timeout=600 install -y -q \
        --no-install-recommends "${missing[@]}" >&2 || rc=$?
    if ((rc)); then
        DEBIAN_FRONTEND=noninteractive timeout 300 apt-get -o DPkg::Lock::Timeout=240 update -q >&2 || true
        rc=0
        DEBIAN_FRONTEND=noninteractive timeout 900 apt-get -o DPkg::Lock::Timeout=600 install -y -q \
            --no-install-recommends "${missing[@]}" >&2 || rc=$?
    fi
    [[ -z $made_policy ]] || rm -f /usr/sbin/policy-rc.d
    return "$rc"
}

# --- work dir, cleanup -----------------------------------------------------
on_exit() { CLEANUP_FNS+=("$1"); }

_run_cleanup() {
    local rc=$? i
    trap - EXIT INT TERM
    for ((i = ${#CLEANUP_FNS[@]} - 1; i >= 0; i--)); do
        "${CLEANUP_FNS[i]}" || log "cleanup step ${CLEANUP_FNS[i]} failed"
    done
    _remove_setup_paths
    exit "$rc"
}

# engines_init [RUNTIME]: resolve the runtime, make $WORK, set traps.
engines_init() {
    [[ $(id -u) == 0 ]] || { echo "$ENGINE.sh must run as root" >&2; exit 2; }
    resolve_runtime "${1:-}"
    TAG=eng$$
    WORK=$(mktemp -d "/tmp/engines-$ENGINE.XXXXXX")
    chmod 711 "$WORK"
    trap _run_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    on_exit _remove_work
    [[ -z ${ENGINES_TRACE:-} ]] || _trace_runtime
    log "runtime $RUNTIME ($RUNTIME_NAME), work dir $WORK"
}

# ENGINES_TRACE=FILE: put a wrapper of the same basename in front of the
# runtime that appends "time rc=N argv" per call to FILE, plus the --log file
# of a failed call.  (It leaves the runtime's fds alone: they are the
# container's stdio.)
_trace_runtime() {
    local w
    w=$WORK/trace/$(basename "$RUNTIME")
    mkdir -p "$WORK/trace"
    {
        echo '#!/bin/sh'
        printf 'real=%q\ntrace=%q\n' "$RUNTIME" "$(readlink -f "$ENGINES_TRACE")"
        cat <<'EOF'
"$real" "$@"
rc=$?
log= prev=
for a in "$@"; do
    [ "$prev" = --log ] && log=$a
    case $a in --log=*) log=${a#--log=} ;; esac
    prev=$a
done
{
    printf '%s rc=%s %s\n' "$(date +%T.%N)" "$rc" "$*"
    if [ "$rc" != 0 ] && [ -n "$log" ] && [ -s "$log" ]; then sed 's/^/    log: /' "$log"; fi
} >>"$trace"
exit $rc
EOF
    } >"$w"
    chmod 755 "$w"
    RUNTIME=$w
}

_remove_work() {
    # ENGINES_LOG_DIR: keep every scenario's output there.
    if [[ -n ${ENGINES_LOG_DIR:-} && -f $WORK/all.log ]]; then
        mkdir -p "$ENGINES_LOG_DIR"
        cp "$WORK/all.log" "$ENGINES_LOG_DIR/$ENGINE-$RUNTIME_NAME.log"
    fi
    # Anything still mounted under WORK (overlay layers, shm, netns) goes first.
    local m
    for m in $(findmnt -rn -o TARGET | grep -F "$WORK" | sort -r); do
        umount -l "$m" 2>/dev/null || true
    done
    rm -rf "$WORK"
}

# kill_pidfile FILE [SECONDS]: TERM the pid in FILE, KILL after SECONDS.
kill_pidfile() {
    local f=$1 t=${2:-20} pid i
    [[ -s $f ]] || return 0
    pid=$(<"$f")
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < t * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    log "pid $pid did not stop on TERM: KILL"
    kill -KILL "$pid" 2>/dev/null || true
}

# kill_matching STRING: KILL processes whose command line contains STRING
# (our private work dir path, so only our own processes).
kill_matching() {
    local s=$1 p
    for p in $(pgrep -f -- "$s" || true); do
        [[ $p == "$$" || $p == "$BASHPID" ]] && continue
        log "leftover process $p: $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | cut -c1-120)"
        kill -KILL "$p" 2>/dev/null || true
    done
}

# rm_cgroups NAME: remove the cgroup NAME (a path under each hierarchy root),
# deepest first, in every v1 hierarchy and in the unified tree.
rm_cgroups() {
    local name=$1 h d
    for h in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
        d=$h${name#/}
        [[ -d $d ]] || continue
        find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
    done
}

# rm_run_containerd: containerd 1.6 (and ctr) keep shim sockets and I/O
# fifos in /run/containerd/{s,fifo} whatever their configured state dir;
# remove those dirs if empty and /run/containerd was not there before us
# (RUN_CONTAINERD_EXISTED, set by the engine script).
rm_run_containerd() {
    [[ -n ${RUN_CONTAINERD_EXISTED:-} ]] && return 0
    rmdir /run/containerd/s /run/containerd/fifo /run/containerd 2>/dev/null || true
}

# --- leak check ------------------------------------------------------------
# Engine-wide paths that do not follow the engines' private root/state dirs.
ENGINE_WIDE_PATHS=(/run/containerd /etc/docker/key.json /dev/shm/libpod_lock /run/libpod
    /run/docker /run/docker.sock /var/lib/containers /var/lib/docker /var/lib/containerd)

# snapshot: the host objects an engine run can leave, one per line, filtered
# to the ones that carry our markers ($WORK, $TAG) or are engine-wide
# (netns, veths, engine daemons).
snapshot() {
    {
        findmnt -rn -o TARGET | grep -E -- "$WORK|$TAG|/run/netns|/run/docker|/run/containerd|/var/lib/docker|/var/lib/containers|/var/lib/containerd" |
            sed 's/^/mount /' || true
        ls /run/netns 2>/dev/null | sed 's/^/netns /' || true
        ip -o link show 2>/dev/null | awk -F': ' '{print $2}' |
            grep -E '^(veth|docker|cni|podman)' | sed 's/^/link /' || true
        find /sys/fs/cgroup -maxdepth 3 -type d 2>/dev/null |
            grep -E -- "$TAG|libpod|/docker" | sed 's/^/cgroup /' || true
        ls -d "${ENGINE_WIDE_PATHS[@]}" /run/containerd/* /etc/cni/net.d/*podman* 2>/dev/null |
            sed 's/^/path /' || true
        # Our live processes (daemons, conmon, shims all name $WORK in argv);
        # zombies wait for PID 1 (not an init here) to reap them.
        ps -eo pid=,stat=,args= 2>/dev/null | awk -v w="$WORK" -v me="$$" -v sub_="$BASHPID" '
            $2 ~ /^Z/ || $1 == me || $1 == sub_ { next }
            index($0, w) { $2 = ""; print "proc " $0 }' || true
        # What else a suite makes on the host (podman-rootless.sh: its user, its processes).
        if declare -F snapshot_extra >/dev/null; then snapshot_extra || true; fi
    } | sort -u
}

# setup_done: call once the engine is up and its image imported, before the
# first scenario. Engines make some host-wide paths on their first use on a
# machine, whatever their private roots (podman's blob cache in
# /var/lib/containers/cache, dockerd's /run/docker/plugins): those are the
# engine's one-time set-up, not a leak. Only engine-wide paths count as set-up;
# a daemon, mount, cgroup, netns or process still there at the end is a leak
# whenever it appeared. Set-up paths we made are removed on exit (below).
setup_done() {
    SETUP_PATHS=$(comm -13 <(echo "$BEFORE") <(snapshot) | grep '^path ' || true)
}

# leaks: what the run left on the host, one per line: new since $BEFORE, less
# the set-up paths.
leaks() {
    comm -13 <(printf '%s\n%s\n' "$BEFORE" "${SETUP_PATHS:-}" | sort -u) <(snapshot)
}

t_no_leaks() {
    local new
    new=$(leaks)
    [[ -z $new ]] || fail "left on the host: $(echo "$new" | head -5 | tr '\n' ';')"
}

# _remove_setup_paths (last on exit): the engine-wide paths the set-up made
# here, so that the host is left as found; never one with a mount below it.
_remove_setup_paths() {
    local line p
    while IFS= read -r line; do
        p=${line#path }
        [[ -n $p && -e $p ]] || continue
        findmnt -rn -o TARGET | grep -qF -- "$p" && continue
        rm -rf -- "$p"
    done <<<"${SETUP_PATHS:-}"
}

# --- results ---------------------------------------------------------------
fail() {
    printf '%s\n' "$*" >"$WORK/.reason"
    return 1
}

# scenario NAME FUNC [ARGS...]: run FUNC in a subshell, bounded by
# SCENARIO_TIMEOUT (the subshell's children are killed on timeout).
scenario() {
    local name=$1 rc=0 reason
    shift
    rm -f "$WORK/.reason"
    log "scenario $name"
    local start=$SECONDS
    (
        set -euo pipefail
        "$@"
    ) >"$WORK/$name.out" 2>&1 &
    local pid=$!
    local waited=0
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS - start >= SCENARIO_TIMEOUT)); then
            pkill -KILL -P "$pid" 2>/dev/null || true
            kill -KILL "$pid" 2>/dev/null || true
            printf 'timed out after %ss\n' "$SCENARIO_TIMEOUT" >"$WORK/.reason"
            break
        fi
        sleep 0.2
        waited=1
    done
    wait "$pid" 2>/dev/null || rc=$?
    : "$waited"
    if ((rc == 0)); then
        PASSED=$((PASSED + 1))
        echo "PASS $name"
    else
        FAILED=$((FAILED + 1))
        FAILED_NAMES+=("$name")
        if [[ -s $WORK/.reason ]]; then
            reason=$(head -c 600 "$WORK/.reason" | tr '\n' ' ')
        else
            reason="exit $rc: $(tail -n 3 "$WORK/$name.out" | tr '\n' ' ' | head -c 600)"
        fi
        echo "FAIL $name: $reason"
        if [[ -n ${ENGINES_VERBOSE:-} ]]; then sed 's/^/    | /' "$WORK/$name.out" >&2; fi
        # A failed scenario may leave containers behind: the engine script's
        # after_failure (if any) removes them so the next scenarios start clean.
        if declare -F after_failure >/dev/null; then after_failure >/dev/null 2>&1 || true; fi
    fi
    echo "--- $(date +%T) $name rc=$rc $((SECONDS - start))s" >>"$WORK/all.log"
    cat "$WORK/$name.out" >>"$WORK/all.log"
}

# summary: closing line; exit status 1 if anything failed.
summary() {
    echo "$PASSED passed, $FAILED failed"
    ((FAILED == 0))
}

# expect_eq WHAT GOT WANT
expect_eq() {
    [[ $2 == "$3" ]] || fail "$1: got '$2', want '$3'"
}

# expect_match WHAT GOT REGEX
expect_match() {
    [[ $2 =~ $3 ]] || fail "$1: got '$2', want match of '$3'"
}

# expect_status WANT CMD... : run CMD, check its exit status.
expect_status() {
    local want=$1 rc=0
    shift
    "$@" || rc=$?
    [[ $rc == "$want" ]] || fail "$*: exit $rc, want $want"
}

# --- image -----------------------------------------------------------------
# make_rootfs_tar OUT: a busybox rootfs (busybox-static + applet links,
# /etc/passwd, /etc/group) as an uncompressed tar.
make_rootfs_tar() {
    local out=$1 r
    r=$(mktemp -d "$WORK/rootfs.XXXXXX")
    chmod 755 "$r" # the image's / (mktemp makes 0700: no other user could reach /bin)
    mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,root,var,run}
    chmod 1777 "$r/tmp"
    cp /bin/busybox "$r/bin/busybox"
    local a
    for a in $("$r/bin/busybox" --list); do
        [[ $a == busybox ]] || ln -sf busybox "$r/bin/$a"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$r/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
    tar --numeric-owner --owner=0 --group=0 -C "$r" -cf "$out" .
    rm -rf "$r"
}

# make_oci_archive ROOTFS_TAR OUT NAME [CMD_JSON]: an OCI image layout tarball
# holding ROOTFS_TAR as its only layer, tagged NAME (for `ctr images import`);
# the image's Cmd is CMD_JSON (default ["sh"]).
make_oci_archive() {
    local layer=$1 out=$2 name=$3 cmd=${4:-'["sh"]'} d ldig lsize cdig csize mdig msize cfg man
    d=$(mktemp -d "$WORK/oci.XXXXXX")
    mkdir -p "$d/blobs/sha256"
    ldig=$(sha256sum "$layer" | cut -d' ' -f1)
    lsize=$(stat -c %s "$layer")
    cp "$layer" "$d/blobs/sha256/$ldig"
    cfg='{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":'$cmd'},"rootfs":{"type":"layers","diff_ids":["sha256:'$ldig'"]}}'
    printf '%s' "$cfg" >"$d/cfg"
    cdig=$(sha256sum "$d/cfg" | cut -d' ' -f1)
    csize=$(stat -c %s "$d/cfg")
    mv "$d/cfg" "$d/blobs/sha256/$cdig"
    man='{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:'$cdig'","size":'$csize'},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:'$ldig'","size":'$lsize'}]}'
    printf '%s' "$man" >"$d/man"
    mdig=$(sha256sum "$d/man" | cut -d' ' -f1)
    msize=$(stat -c %s "$d/man")
    mv "$d/man" "$d/blobs/sha256/$mdig"
    printf '{"imageLayoutVersion":"1.0.0"}' >"$d/oci-layout"
    printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
        "$mdig" "$msize" "$name" "${name##*:}" >"$d/index.json"
    tar -C "$d" -cf "$out" oci-layout index.json blobs
    rm -rf "$d"
}

# --- pty -------------------------------------------------------------------
# in_pty OUTFILE CMD...: run CMD with a pseudo-terminal as its stdio (util-linux
# script), input from stdin; the terminal transcript goes to OUTFILE.
# script runs CMD through $SHELL -c, which CI leaves unset (so /bin/sh, dash):
# bash, for %q's quoting, and `exec`, so that CMD is the pty's foreground process
# group. A forked `timeout` moves itself into a background group, where its first
# read of the pty stops it (SIGTTIN) until the timeout fires.
in_pty() {
    local out=$1
    shift
    local cmd
    printf -v cmd '%q ' "$@"
    SHELL=/bin/bash script -qfec "exec $cmd" "$out"
}

# wait_until_up NAME LOG TRIES PAUSE CMD...: run CMD until it succeeds (TRIES times,
# PAUSE seconds apart); else LOG's tail and "NAME did not start" on stderr, exit 1.
wait_until_up() {
    local name=$1 log=$2 tries=$3 pause=$4
    shift 4
    for _ in $(seq 1 "$tries"); do
        "$@" >/dev/null 2>&1 && return 0
        sleep "$pause"
    done
    "$@" >/dev/null 2>&1 || { tail -20 "$log" >&2; echo "$name did not start" >&2; exit 1; }
}

# expect_tty_session RC: what the tty scenarios' shell printed through the pty
# ($WORK/tty.out, fed `tty; echo in-tty-$((6*7)); exit 7`) and its exit status RC.
expect_tty_session() {
    cat "$WORK/tty.out"
    grep -q 'in-tty-42' "$WORK/tty.out" || fail "no shell output through the pty"
    grep -q '/dev/pts/0' "$WORK/tty.out" || fail "stdin is not /dev/pts/0 in the container"
    expect_eq "exit status" "$1" 7
}
