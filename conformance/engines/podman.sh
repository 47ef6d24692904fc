#!/bin/bash
# podman.sh [RUNTIME] - podman 4.3 + conmon driving RUNTIME end to end.
#
# RUNTIME: empty or "pyrunc" (the installed pyrunc), "runc", "crun" (through
# conformance/runtime-tools/crun-hybrid.sh), or a path.  Everything podman
# keeps (storage, run root, libpod tmp dir, events, container configs) lives
# in a private temp dir, with a private containers.conf / storage.conf; the
# image is a busybox-static rootfs imported with `podman import` (no registry).
# Prints PASS/FAIL per scenario and "N passed, N failed"; exits 1 on failure.
set -euo pipefail
ENGINE=podman
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
engines_lock "$@"

need_pkgs podman conmon uidmap catatonit containernetworking-plugins busybox-static bsdutils
engines_init "$@"
BEFORE=$(snapshot)
IMG=localhost/engines-busybox:latest
CG=/$TAG                     # every container's cgroup parent
# netns: "none" (a private, empty network namespace per container; podman
# creates it under /run/netns) unless PODMAN_NETNS says otherwise.
NETNS=${PODMAN_NETNS:-none}

mkdir -p "$WORK"/{root,runroot,tmp,net.d,volumes}
# The runtime cannot raise a hard limit without CAP_SYS_RESOURCE (absent
# here), so podman's default rlimits (nofile 1048576, nproc 32768) are capped
# at this shell's hard limits.
NOFILE=$(ulimit -Hn)
NPROC=$(ulimit -Hu)
[[ $NOFILE == unlimited ]] && NOFILE=1048576
[[ $NPROC == unlimited ]] && NPROC=32768
((NPROC > 32768)) && NPROC=32768
cat >"$WORK/containers.conf" <<EOF
[containers]
netns = "$NETNS"
default_ulimits = ["nofile=$NOFILE:$NOFILE", "nproc=$NPROC:$NPROC"]
log_driver = "k8s-file"

[engine]
runtime = "$RUNTIME_NAME"
runtime_supports_json = ["crun", "runc", "kata", "runsc", "krun", "$RUNTIME_NAME"]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$WORK/events.log"
tmp_dir = "$WORK/tmp"
static_dir = "$WORK/root/libpod"
volume_path = "$WORK/volumes"

[engine.runtimes]
$RUNTIME_NAME = ["$RUNTIME"]

[network]
network_backend = "cni"
network_config_dir = "$WORK/net.d"
EOF
cat >"$WORK/storage.conf" <<EOF
[storage]
driver = "overlay"
runroot = "$WORK/runroot"
graphroot = "$WORK/root"
EOF
: >"$WORK/registries.conf"
export CONTAINERS_CONF=$WORK/containers.conf
export CONTAINERS_STORAGE_CONF=$WORK/storage.conf
export CONTAINERS_REGISTRIES_CONF=$WORK/registries.conf

SHM_LOCK_EXISTED=
[[ -e /dev/shm/libpod_lock ]] && SHM_LOCK_EXISTED=1

# The runtime is chosen by name from [engine.runtimes] (so podman passes it
# --log-format=json --log FILE, as runtime_supports_json lists the name);
# scenarios named *-by-path use `--runtime PATH` instead (no global flags:
# errors are read from the runtime's stderr).
PODMAN=(podman --root "$WORK/root" --runroot "$WORK/runroot" --storage-driver overlay
    --cgroup-manager cgroupfs --events-backend file --tmpdir "$WORK/tmp")
pm() { timeout 60 "${PODMAN[@]}" "$@"; }
# prun ARGS...: podman run with our cgroup parent.
prun() { pm run --cgroup-parent "$CG" "$@"; }
# Scenarios shared with the other docker-compatible CLI (cli_scenarios.sh).
cli() { pm "$@"; }
run_c() { prun "$@"; }
rm_now() { pm rm -f -t 0 "$@" >/dev/null; }
PTY_CLI=("${PODMAN[@]}")
PTY_RUN=(--cgroup-parent "$CG")
source "$(dirname "${BASH_SOURCE[0]}")/cli_scenarios.sh"

teardown() {
    [[ -n ${TORN_DOWN:-} ]] && return 0
    TORN_DOWN=1
    pm rm -a -f -t 0 >/dev/null 2>&1 || true
    pm rmi -a -f >/dev/null 2>&1 || true
    # conmon and `podman container cleanup` processes carry $WORK in argv.
    sleep 0.5
    kill_matching "$WORK"
    rm_cgroups "$CG"
    [[ -n $SHM_LOCK_EXISTED ]] || rm -f /dev/shm/libpod_lock
    return 0
}
on_exit teardown
after_failure() {
    pm pod rm -a -f -t 0 || true
    pm rm -a -f -t 0
}

# --- image -------------------------------------------------------------------
make_rootfs_tar "$WORK/rootfs.tar"
pm import --change 'CMD ["sh"]' "$WORK/rootfs.tar" "$IMG" >/dev/null
setup_done

# --- scenarios ---------------------------------------------------------------
t_missing_command() {
    local rc=0 err
    err=$(prun --rm "$IMG" /nonexistent 2>&1 >/dev/null) || rc=$?
    echo "$err"
    [[ $rc == 127 ]] || fail "exit $rc, want 127: $err"
    [[ $err == *"OCI runtime attempted to invoke a command that was not found"* ]] ||
        fail "podman did not classify the error as 'not found': $err"
}

t_missing_command_by_path() {
    local rc=0 err
    err=$(timeout 60 "${PODMAN[@]}" --runtime "$RUNTIME" run --cgroup-parent "$CG" --rm "$IMG" \
        /nonexistent 2>&1 >/dev/null) || rc=$?
    [[ $err == *"$RUNTIME"* ]] || fail "podman did not name the runtime path: $err"
    echo "$err"
    [[ $rc == 127 ]] || fail "exit $rc, want 127: $err"
}

t_not_executable() {
    local rc=0 err
    err=$(prun --rm "$IMG" /etc/passwd 2>&1 >/dev/null) || rc=$?
    echo "$err"
    [[ $rc == 126 ]] || fail "exit $rc, want 126: $err"
    [[ $err == *"OCI permission denied"* ]] || fail "not classified as permission denied: $err"
}

t_exec_missing() {
    local rc=0 err
    prun -d --name xm "$IMG" sleep 1000 >/dev/null
    err=$(pm exec xm /nonexistent 2>&1) || rc=$?
    echo "$err"
    pm rm -f -t 0 xm >/dev/null
    [[ $rc == 127 ]] || fail "exec of a missing command: exit $rc, want 127: $err"
}

t_options() {
    # Config breadth: env, workdir, bind volume, tmpfs, dropped cap, ulimit,
    # namespaced sysctl, shm size, no-new-privileges, oom_score_adj, --init.
    local out
    mkdir -p "$WORK/vol"
    echo in-volume >"$WORK/vol/f"
    out=$(prun --rm -e FOO=bar -w /tmp -v "$WORK/vol:/vol:ro" --tmpfs /scratch:size=1m \
        --cap-drop NET_RAW --ulimit nofile=512:512 --ulimit "nproc=$NPROC:$NPROC" --sysctl net.ipv4.ip_forward=1 \
        --shm-size 8m --security-opt no-new-privileges --oom-score-adj 100 --init "$IMG" sh -c '
        echo "env=$FOO cwd=$(pwd) vol=$(cat /vol/f)"
        touch /vol/x 2>/dev/null && echo vol-rw || echo vol-ro
        echo "scratch=$(awk "\$2==\"/scratch\"{print \$3}" /proc/mounts) nofile=$(ulimit -n)"
        echo "fwd=$(cat /proc/sys/net/ipv4/ip_forward) shm=$(df -k /dev/shm | awk "NR==2{print \$2}")"
        grep -E "^(CapEff|NoNewPrivs)" /proc/self/status | tr -s "\t" " "
        echo "oom=$(cat /proc/self/oom_score_adj) init=$(cat /proc/1/comm)"')
    expect_eq "options" "$out" "env=bar cwd=/tmp vol=in-volume
vol-ro
scratch=tmpfs nofile=512
fwd=1 shm=8192
CapEff: 00000000a80405fb
NoNewPrivs: 1
oom=100 init=podman-init"
}

t_pod() {
    # Pod members join the infra container's namespaces by path.
    local out='' a='' probe='hostname; for n in uts ipc net; do readlink /proc/self/ns/$n; done'
    pm pod create --name pd --hostname pod-host --cgroup-parent "$CG" >/dev/null
    if pm run -d --pod pd --name pd-a "$IMG" sleep 1000 >/dev/null; then
        out=$(pm run --rm --pod pd "$IMG" sh -c "$probe" | tr '\n' ' ') || true
        a=$(pm exec pd-a sh -c "$probe" | tr '\n' ' ') || true
    fi
    pm pod rm -f -t 0 pd >/dev/null
    [[ $out == "pod-host uts:"* ]] || fail "hostname and namespaces in the pod: '$out'"
    expect_eq "namespaces of two pod members" "$out" "$a"
}

t_privileged() {
    local out want
    want=$(awk '/^CapBnd/{print $2}' /proc/self/status)
    out=$(prun --rm --privileged "$IMG" sh -c 'awk "/^CapEff/{print \$2}" /proc/self/status; test -c /dev/loop-control && echo devs-ok')
    expect_eq "CapEff, host devices" "$(echo $out)" "$want devs-ok"
}

t_exec_options() {
    local out
    prun -d --name xo "$IMG" sleep 1000 >/dev/null
    out=$(pm exec -u 65534:65534 -e XO=1 -w /tmp xo sh -c 'echo "$(id -u) $XO $(pwd)"') || true
    pm exec -d xo sh -c 'echo detached >/tmp/d' >/dev/null
    sleep 0.5
    local d
    d=$(pm exec xo cat /tmp/d) || true
    pm rm -f -t 0 xo >/dev/null
    expect_eq "exec -u -e -w" "$out" "65534 1 /tmp"
    expect_eq "exec -d" "$d" detached
}

t_info() {
    local out
    out=$(pm info --format '{{.Host.OCIRuntime.Name}}|{{.Host.OCIRuntime.Path}}|{{.Host.OCIRuntime.Version}}')
    echo "$out"
    [[ $out == "$RUNTIME_NAME|$RUNTIME|"*[0-9]* ]] || fail "podman info: $out"
}

t_detached_exec_stop_rm() {
    local id out rc=0
    id=$(prun -d --name det "$IMG" sleep 1000)
    out=$(pm inspect -f '{{.State.Status}}' det)
    expect_eq status "$out" running
    out=$(pm exec det sh -c 'echo exec-ok; cat /proc/1/cmdline | tr "\0" " "')
    expect_eq "exec output" "$out" "exec-ok
sleep 1000 "
    pm exec det sh -c 'exit 5' || rc=$?
    expect_eq "exec exit status" "$rc" 5
    # The runtime under test owns the container (podman passes no --root).
    out=$(timeout 20 "$RUNTIME" state "$id")
    [[ $out == *'"status"'*'"running"'* ]] || fail "$RUNTIME state $id: $out"
    pm stop -t 2 det >/dev/null
    out=$(pm inspect -f '{{.State.Status}}' det)
    expect_eq "status after stop" "$out" exited
    pm rm det >/dev/null
    out=$(pm ps -a -q --no-trunc)
    [[ $out != *"$id"* ]] || fail "container still listed after rm"
}

t_pause_unpause() {
    local out pid fr
    prun -d --name pz "$IMG" sleep 1000 >/dev/null
    pm pause pz >/dev/null
    out=$(pm inspect -f '{{.State.Status}}' pz)
    expect_eq "status after pause" "$out" paused
    pid=$(pm inspect -f '{{.State.Pid}}' pz)
    fr=$(awk -F: '$2=="freezer"{print $3}' "/proc/$pid/cgroup")
    out=$(cat "/sys/fs/cgroup/freezer$fr/freezer.state")
    expect_eq "freezer.state" "$out" FROZEN
    pm unpause pz >/dev/null
    out=$(pm inspect -f '{{.State.Status}}' pz)
    expect_eq "status after unpause" "$out" running
    out=$(pm exec pz echo alive)
    expect_eq "exec after unpause" "$out" alive
    # Removing a paused container: kill 9 must reach a frozen task.
    pm pause pz >/dev/null
    pm rm -f -t 0 pz >/dev/null
    [[ -z $(pm ps -a -q --filter name=pz) ]] || fail "paused container not removed"
}

t_stats() {
    local out
    prun -d --name st --memory 64m "$IMG" sleep 1000 >/dev/null
    out=$(pm stats --no-stream --format '{{.Name}} {{.MemUsage}}' st)
    echo "$out"
    pm rm -f -t 0 st >/dev/null
    [[ $out =~ ^st\ .*/\ 67.11MB ]] || fail "stats: $out"
}

t_restart_stopped() {
    local out
    prun -d --name rs "$IMG" sh -c 'echo ran; exit 4' >/dev/null
    out=$(pm wait rs)
    expect_eq "first exit" "$out" 4
    pm start rs >/dev/null
    out=$(pm wait rs)
    expect_eq "second exit" "$out" 4
    out=$(pm logs rs | tr '\n' ' ')
    expect_eq "logs of two runs" "$out" "ran ran "
    # restart of a running container
    pm rm rs >/dev/null
    prun -d --name rr "$IMG" sleep 1000 >/dev/null
    local p1 p2
    p1=$(pm inspect -f '{{.State.Pid}}' rr)
    pm restart -t 1 rr >/dev/null
    p2=$(pm inspect -f '{{.State.Pid}}' rr)
    out=$(pm inspect -f '{{.State.Status}}' rr)
    expect_eq "status after restart" "$out" running
    [[ $p1 != "$p2" ]] || fail "restart kept pid $p1"
    pm rm -f -t 0 rr >/dev/null
}

t_parallel_20() {
    local i pids=() rc=0 n
    for i in $(seq 1 20); do
        prun -d --name "par$i" "$IMG" sleep 1000 >/dev/null &
        pids+=($!)
    done
    for i in "${pids[@]}"; do wait "$i" || rc=$?; done
    n=$(pm ps -q --filter name=par --filter status=running | wc -l)
    expect_eq "running containers" "$n" 20
    ((rc == 0)) || fail "a parallel run failed (exit $rc)"
    pids=()
    for i in $(seq 1 20); do
        pm rm -f -t 0 "par$i" >/dev/null &
        pids+=($!)
    done
    for i in "${pids[@]}"; do wait "$i" || rc=$?; done
    ((rc == 0)) || fail "a parallel rm failed (exit $rc)"
    n=$(pm ps -a -q | wc -l)
    expect_eq "containers left" "$n" 0
}

t_runtime_state_clean() {
    # Nothing podman created is left in the runtime's own state root.
    local ids left=
    ids=$(pm ps -a -q --no-trunc)
    [[ -z $ids ]] || fail "podman still lists containers: $ids"
    local root
    for root in /run/pyrunc /run/runc /run/crun; do
        [[ -d $root ]] || continue
        left+=$(find "$root" -maxdepth 1 -regextype egrep -regex '.*/[0-9a-f]{64}' -newer "$WORK/containers.conf" 2>/dev/null)
    done
    [[ -z $left ]] || fail "runtime state left: $left"
}

scenario run-id t_run_id
scenario run-hostname t_run_hostname
scenario run-cmdline t_run_cmdline
scenario exit-status t_exit_status
scenario missing-command-127 t_missing_command
scenario missing-command-127-by-path t_missing_command_by_path
scenario not-executable-126 t_not_executable
scenario user-readonly t_user_readonly
scenario exec-missing-127 t_exec_missing
scenario options t_options
scenario privileged t_privileged
scenario exec-options t_exec_options
scenario info t_info
scenario signal t_signal
scenario pod t_pod
scenario detached-exec-stop-rm t_detached_exec_stop_rm
scenario interactive-tty t_interactive_tty
scenario exec-tty t_exec_tty
scenario cgroup-limits t_limits
scenario pause-unpause t_pause_unpause
scenario top-ps t_top_ps
scenario stats t_stats
scenario logs t_logs
scenario restart t_restart_stopped
scenario parallel-20 t_parallel_20
scenario runtime-state-clean t_runtime_state_clean
teardown
scenario no-leaks t_no_leaks
summary
