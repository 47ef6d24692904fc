#!/bin/bash
# engines.sh [--rounds N] [--runtimes pyrunc,runc,crun] [--samples FILE]
#
# What users feel: end-to-end latency of the engines driving each runtime.
#   podman run --rm IMG true                        (podman 4.3 + conmon)
#   ctr run --rm --runc-binary RUNTIME IMG ID true  (containerd 1.6 + runc v2 shim)
#   docker run --rm --runtime bench-NAME IMG true   (dockerd 20.10, daemon.json runtimes)
#   podman exec C true and RUNTIME exec C true, on an idle host and under load
#   (a container running a CPU hog on both cores: two busybox `while :; do :; done`).
#
# The engines are started once, privately and offline, as the suites in
# conformance/engines do (this script sources their lib.sh: the host-wide lock,
# the work dir, the busybox image, the leak check), with every runtime
# configured side by side; they are torn down at the end, also on failure or
# Ctrl-C. Runtimes: pyrunc is /usr/local/bin/pyrunc (the launcher), runc
# /usr/sbin/runc, crun conformance/runtime-tools/crun-hybrid.sh (this host's
# hybrid cgroups need it); NAME=PATH adds another. Every (call, runtime) pair
# of a phase runs once per round, in a new random order each round; one
# untimed warm-up round comes first. Each call is bounded by CALL_TIMEOUT
# (default 60 s). Prints a markdown table: median / p90 ms and the ratios of
# medians pyrunc/runc, pyrunc/crun (< 1: pyrunc faster). Run as root.
set -euo pipefail
ENGINE=bench
# shellcheck source=../conformance/engines/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../conformance/engines/lib.sh"
engines_lock "$@"

ROUNDS=20
RUNTIME_SPECS=pyrunc,runc,crun
SAMPLES_OUT=
while (($#)); do
    case $1 in
        --rounds) ROUNDS=$2; shift 2 ;;
        --runtimes) RUNTIME_SPECS=$2; shift 2 ;;
        --samples) SAMPLES_OUT=$2; shift 2 ;;
        -h | --help) sed -n '2,21p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "--rounds: a positive integer, got '$ROUNDS'" >&2; exit 2; }
CALL_TIMEOUT=${CALL_TIMEOUT:-60}

need_pkgs podman conmon uidmap catatonit containernetworking-plugins containerd docker.io \
    busybox-static
engines_init /usr/sbin/runc

# --- runtimes: NAMES[i] runs PATHS[i] ----------------------------------------
NAMES=()
PATHS=()
add_runtime() {
    local spec=$1 name=${1%%=*} arg=${1#*=}
    if [[ $spec != *=* ]]; then
        case $spec in
            pyrunc) arg=/usr/local/bin/pyrunc ;;
            runc) arg=/usr/sbin/runc ;;
        esac
    fi
    resolve_runtime "$arg"
    NAMES+=("$name")
    PATHS+=("$RUNTIME")
}
IFS=, read -r -a specs <<<"$RUNTIME_SPECS"
for s in "${specs[@]}"; do add_runtime "$s"; done
log "runtimes: $(for i in "${!NAMES[@]}"; do printf '%s=%s ' "${NAMES[i]}" "${PATHS[i]}"; done)"

BEFORE=$(snapshot)
CG=/$TAG
SAMPLES=$WORK/samples
: >"$SAMPLES"
mkdir -p "$WORK"/{podman/root,podman/runroot,podman/tmp,podman/net.d,ctr/root,ctr/state,docker/data,docker/exec,docker/cli}

NOFILE=$(ulimit -Hn)
NPROC=$(ulimit -Hu)
[[ $NOFILE == unlimited ]] && NOFILE=1048576
[[ $NPROC == unlimited || $NPROC -gt 32768 ]] && NPROC=32768
# --- podman: every runtime in [engine.runtimes], chosen per call with --runtime
{
    echo '[containers]'
    echo 'netns = "none"'
    # As podman.sh: the runtime cannot raise a hard limit above this shell's.
    echo "default_ulimits = [\"nofile=$NOFILE:$NOFILE\", \"nproc=$NPROC:$NPROC\"]"
    echo '[engine]'
    echo "runtime = \"${NAMES[0]}\""
    printf 'runtime_supports_json = ["crun", "runc"%s]\n' "$(printf ', "%s"' "${NAMES[@]}")"
    echo 'cgroup_manager = "cgroupfs"'
    echo 'events_logger = "file"'
    echo "events_logfile_path = \"$WORK/podman/events.log\""
    echo "tmp_dir = \"$WORK/podman/tmp\""
    echo "static_dir = \"$WORK/podman/root/libpod\""
    echo '[engine.runtimes]'
    for i in "${!NAMES[@]}"; do echo "${NAMES[i]} = [\"${PATHS[i]}\"]"; done
    echo '[network]'
    echo 'network_backend = "cni"'
    echo "network_config_dir = \"$WORK/podman/net.d\""
} >"$WORK/podman/containers.conf"
printf '[storage]\ndriver = "overlay"\nrunroot = "%s"\ngraphroot = "%s"\n' \
    "$WORK/podman/runroot" "$WORK/podman/root" >"$WORK/podman/storage.conf"
: >"$WORK/podman/registries.conf"
export CONTAINERS_CONF=$WORK/podman/containers.conf
export CONTAINERS_STORAGE_CONF=$WORK/podman/storage.conf
export CONTAINERS_REGISTRIES_CONF=$WORK/podman/registries.conf
PODMAN=(podman --root "$WORK/podman/root" --runroot "$WORK/podman/runroot" --storage-driver overlay
    --cgroup-manager cgroupfs --events-backend file --tmpdir "$WORK/podman/tmp")
pm() { timeout "$CALL_TIMEOUT" "${PODMAN[@]}" "$@"; }

# --- containerd: its own config, root, state and sockets ---------------------
CSOCK=$WORK/ctr/containerd.sock
cat >"$WORK/ctr/config.toml" <<EOF
version = 2
root = "$WORK/ctr/root"
state = "$WORK/ctr/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$CSOCK"
[ttrpc]
  address = "$CSOCK.ttrpc"
EOF
c() { timeout "$CALL_TIMEOUT" ctr --address "$CSOCK" --namespace "$TAG" "$@"; }

# --- dockerd: every runtime added in daemon.json as bench-NAME ---------------
DSOCK=$WORK/docker/docker.sock
DOCKER=/usr/bin/docker
{
    echo '{"runtimes": {'
    for i in "${!NAMES[@]}"; do
        ((i == 0)) || echo ','
        printf '  "bench-%s": {"path": "%s"}' "${NAMES[i]}" "${PATHS[i]}"
    done
    echo '}}'
} >"$WORK/docker/daemon.json"
# (podman reads DOCKER_CONFIG too, for credentials: an empty config serves both.)
export DOCKER_CONFIG=$WORK/docker/cli
echo '{}' >"$DOCKER_CONFIG/config.json"
d() { timeout "$CALL_TIMEOUT" "$DOCKER" -H "unix://$DSOCK" "$@"; }

# Host-wide files the engines write whatever their roots (removed if new).
SHM_LOCK_EXISTED= KEY_EXISTED= RUN_CONTAINERD_EXISTED=
[[ -e /dev/shm/libpod_lock ]] && SHM_LOCK_EXISTED=1
[[ -e /etc/docker/key.json ]] && KEY_EXISTED=1
[[ -e /run/containerd ]] && RUN_CONTAINERD_EXISTED=1

teardown() {
    [[ -n ${TORN_DOWN:-} ]] && return 0
    TORN_DOWN=1
    local id ids
    pm rm -a -f -t 0 >/dev/null 2>&1 || true
    pm rmi -a -f >/dev/null 2>&1 || true
    if [[ -S $CSOCK ]]; then
        for id in $(c task ls -q 2>/dev/null); do c task kill -a -s KILL "$id" >/dev/null 2>&1 || true; done
        sleep 0.3
        for id in $(c task ls -q 2>/dev/null); do c task rm -f "$id" >/dev/null 2>&1 || true; done
        for id in $(c containers ls -q 2>/dev/null); do c containers rm "$id" >/dev/null 2>&1 || true; done
    fi
    if [[ -S $DSOCK ]]; then
        ids=$(d ps -a -q 2>/dev/null || true)
        # shellcheck disable=SC2086
        [[ -z $ids ]] || d rm -f $ids >/dev/null 2>&1 || true
    fi
    kill_pidfile "$WORK/docker/dockerd.pid" 30
    kill_pidfile "$WORK/ctr/containerd.pid" 20
    sleep 0.5
    kill_matching "$WORK" # conmon, `podman container cleanup`, shims, docker's containerd
    rm_cgroups "$CG"
    [[ -n $SHM_LOCK_EXISTED ]] || rm -f /dev/shm/libpod_lock
    [[ -n $KEY_EXISTED ]] || rm -f /etc/docker/key.json
    rm_run_containerd
    return 0
}
on_exit teardown

containerd --config "$WORK/ctr/config.toml" >"$WORK/ctr/containerd.log" 2>&1 &
echo $! >"$WORK/ctr/containerd.pid"
dockerd --config-file "$WORK/docker/daemon.json" --data-root "$WORK/docker/data" \
    --exec-root "$WORK/docker/exec" -H "unix://$DSOCK" --pidfile "$WORK/docker/docker.pid" \
    --storage-driver overlay2 --exec-opt native.cgroupdriver=cgroupfs --cgroup-parent "$CG" \
    --bridge none --iptables=false --ip6tables=false --ip-masq=false --userland-proxy=false \
    >"$WORK/docker/dockerd.log" 2>&1 &
echo $! >"$WORK/docker/dockerd.pid"
# wait_up WHAT CMD...: CMD succeeds within 30 s, or the run ends.
wait_up() {
    local what=$1 i
    shift
    for i in $(seq 1 150); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    echo "$what did not start" >&2
    exit 1
}
wait_up containerd c version
wait_up dockerd d version

# --- the image, in each engine -----------------------------------------------
PIMG=localhost/bench-busybox:latest
CIMG=docker.io/bench/busybox:latest
DIMG=bench/busybox:latest
make_rootfs_tar "$WORK/rootfs.tar"
make_oci_archive "$WORK/rootfs.tar" "$WORK/busybox-oci.tar" "$CIMG"
pm import --change 'CMD ["sh"]' "$WORK/rootfs.tar" "$PIMG" >/dev/null
c images import "$WORK/busybox-oci.tar" >/dev/null
d import --change 'CMD ["sh"]' "$WORK/rootfs.tar" "$DIMG" >/dev/null
setup_done

# --- timed calls ---------------------------------------------------------------
# timed KIND NAME CMD...: run CMD bounded, append "KIND NAME rc ms" to SAMPLES
# (output discarded; the first failure's stderr kept in $WORK/errors).
timed() {
    local kind=$1 name=$2 t0 t1 rc=0
    shift 2
    t0=$EPOCHREALTIME
    timeout "$CALL_TIMEOUT" "$@" >/dev/null 2>"$WORK/last.err" || rc=$?
    t1=$EPOCHREALTIME
    ((rc == 0)) || { echo "$kind $name rc=$rc: $(head -c 300 "$WORK/last.err")" >>"$WORK/errors"; }
    [[ -n ${WARMUP:-} ]] && return 0
    echo "$kind $name $rc $(((${t1/./} - ${t0/./}) / 1000)).$(((${t1/./} - ${t0/./}) % 1000 / 100))" >>"$SAMPLES"
}

SEQ=0
# call KIND I: one timed call of KIND with runtime I.
call() {
    local kind=$1 i=$2 name=${NAMES[$2]} path=${PATHS[$2]}
    SEQ=$((SEQ + 1))
    case $kind in
        podman-run) timed "$kind" "$name" "${PODMAN[@]}" --runtime "$name" run --rm \
            --cgroup-parent "$CG" "$PIMG" true ;;
        ctr-run) timed "$kind" "$name" ctr --address "$CSOCK" --namespace "$TAG" run --rm \
            --runc-binary "$path" --runc-root "$WORK/ctr/runc-$name" "$CIMG" "b$SEQ-$name" true ;;
        docker-run) timed "$kind" "$name" "$DOCKER" -H "unix://$DSOCK" run --rm \
            --runtime "bench-$name" --network none "$DIMG" true ;;
        podman-exec*) timed "$kind" "$name" "${PODMAN[@]}" exec "x-$name" true ;;
        runtime-exec*) timed "$kind" "$name" "$path" exec "${TARGET_ID[i]}" true ;;
    esac
}

# phase ROUNDS KIND...: ROUNDS rounds of every (KIND, runtime), shuffled per round.
phase() {
    local rounds=$1 r item
    shift
    for ((r = 1; r <= rounds; r++)); do
        for item in $(for k in "$@"; do for i in "${!NAMES[@]}"; do echo "$k:$i"; done; done | shuf); do
            call "${item%:*}" "${item#*:}"
        done
    done
}

# Exec targets: one idle container per runtime, started by podman with it (the
# runtime's own exec finds it in its default state root: podman passes none).
TARGET_ID=()
for i in "${!NAMES[@]}"; do
    TARGET_ID[i]=$(pm --runtime "${NAMES[i]}" run -d --cgroup-parent "$CG" --name "x-${NAMES[i]}" \
        "$PIMG" sleep 100000)
done

log "load before: $(uptime)"
echo "load before: $(uptime)" >"$WORK/load"
IDLE=(podman-run ctr-run docker-run podman-exec runtime-exec)
LOADED=(podman-exec-loaded runtime-exec-loaded)
WARMUP=1 phase 1 "${IDLE[@]}"
log "idle phase: $ROUNDS rounds of ${IDLE[*]}"
phase "$ROUNDS" "${IDLE[@]}"
# The hog: its own container (runtime: the first), both cores busy.
pm --runtime "${NAMES[0]}" run -d --cgroup-parent "$CG" --name hog "$PIMG" \
    sh -c 'while :; do :; done & while :; do :; done' >/dev/null
sleep 2
log "loaded phase: $ROUNDS rounds of ${LOADED[*]}, $(uptime)"
phase "$ROUNDS" "${LOADED[@]}"
echo "load at the end of the hog: $(uptime)" >>"$WORK/load"
pm rm -f -t 0 hog >/dev/null
[[ -z $SAMPLES_OUT ]] || cp "$SAMPLES" "$SAMPLES_OUT"

# --- the table -----------------------------------------------------------------
python3 - "$SAMPLES" "$ROUNDS" "${NAMES[@]}" <<'EOF'
import sys
from collections import defaultdict

path, rounds, names = sys.argv[1], sys.argv[2], sys.argv[3:]
ok, failed = defaultdict(list), defaultdict(int)
kinds = []
for line in open(path):
    kind, name, rc, ms = line.split()
    if kind not in kinds:
        kinds.append(kind)
    if rc == "0":
        ok[kind, name].append(float(ms))
    else:
        failed[kind, name] += 1

def median(v):
    v = sorted(v)
    n = len(v)
    return (v[n // 2] + v[(n - 1) // 2]) / 2

def cell(kind, name):
    v = sorted(ok[kind, name])
    if not v:
        return "-"
    p90 = v[max(0, -(-9 * len(v) // 10) - 1)]  # nearest rank
    s = f"{median(v):.0f} / {p90:.0f}"
    return s + (f" ({failed[kind, name]} failed)" if failed[kind, name] else "")

def ratio(kind, a, b):
    if a in names and b in names and ok[kind, a] and ok[kind, b]:
        return f"{median(ok[kind, a]) / median(ok[kind, b]):.2f}"
    return "-"

labels = {
    "podman-run": "`podman run --rm IMG true`",
    "ctr-run": "`ctr run --rm --runc-binary RT IMG ID true`",
    "docker-run": "`docker run --rm --runtime RT IMG true`",
    "podman-exec": "`podman exec C true`, idle",
    "runtime-exec": "`RT exec C true`, idle",
    "podman-exec-loaded": "`podman exec C true`, CPU hog on both cores",
    "runtime-exec-loaded": "`RT exec C true`, CPU hog on both cores",
}
print(f"{rounds} rounds, ms median / p90; ratios of medians (< 1: pyrunc faster)\n")
print("| call | " + " | ".join(names) + " | pyrunc/runc | pyrunc/crun |")
print("|---" * (len(names) + 3) + "|")
for k in sorted(kinds, key=lambda k: list(labels).index(k) if k in labels else len(labels)):
    row = [labels.get(k, k)] + [cell(k, n) for n in names]
    row += [ratio(k, "pyrunc", "runc"), ratio(k, "pyrunc", "crun")]
    print("| " + " | ".join(row) + " |")
EOF
cat "$WORK/load"
if [[ -s $WORK/errors ]]; then
    echo "failed calls (first 5):"
    head -5 "$WORK/errors"
fi

teardown
echo "load after teardown: $(uptime)"
new=$(leaks)
[[ -z $new ]] || { echo "left on the host after teardown:"; echo "$new"; exit 1; }
