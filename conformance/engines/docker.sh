#!/bin/bash
# docker.sh [RUNTIME] - docker 20.10 (dockerd, its own containerd, the runc v2
# shim) driving RUNTIME end to end.
#
# RUNTIME: empty or "pyrunc" (the installed pyrunc), "runc", "crun" (through
# conformance/runtime-tools/crun-hybrid.sh), or a path.  A private dockerd
# runs for the duration (--data-root, --exec-root, -H unix socket, --pidfile
# under a temp dir, no bridge, no iptables) with RUNTIME added as runtime
# test-<name> and made the default in a private daemon.json; every container
# also names it with `--runtime test-<name>`.  The image is `docker import` of a busybox-static
# rootfs (no registry).  Containers get `--network none` (DOCKER_NETWORK to
# change it), which makes docker add its libnetwork-setkey prestart hook.
# Prints PASS/FAIL per scenario and "N passed, N failed"; exits 1 on failure.
set -euo pipefail
ENGINE=docker
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
engines_lock "$@"

need_pkgs docker.io containerd busybox-static bsdutils
engines_init "$@"
BEFORE=$(snapshot)
IMG=engines/busybox:latest
SOCK=$WORK/docker.sock
RT=test-$RUNTIME_NAME
NET=${DOCKER_NETWORK:-none}
DOCKER=/usr/bin/docker            # Debian's CLI (a newer one may be in /usr/local/bin)
mkdir -p "$WORK"/{data,exec,cli}
# The runtime as users configure it (README): daemon.json "runtimes" + default.
cat >"$WORK/daemon.json" <<EOF
{
  "runtimes": {"$RT": {"path": "$RUNTIME"}},
  "default-runtime": "$RT"
}
EOF
export DOCKER_CONFIG=$WORK/cli
# dockerd 20.10 writes a trust key to /etc/docker/key.json whatever its roots.
KEY_EXISTED=
[[ -e /etc/docker/key.json ]] && KEY_EXISTED=1
RUN_CONTAINERD_EXISTED=
[[ -e /run/containerd ]] && RUN_CONTAINERD_EXISTED=1

dockerd --config-file "$WORK/daemon.json" --data-root "$WORK/data" --exec-root "$WORK/exec" \
    -H "unix://$SOCK" --pidfile "$WORK/docker.pid" --storage-driver overlay2 \
    --exec-opt native.cgroupdriver=cgroupfs --cgroup-parent "/$TAG" \
    --bridge none --iptables=false --ip6tables=false --ip-masq=false --userland-proxy=false \
    >"$WORK/dockerd.log" 2>&1 &
echo $! >"$WORK/dockerd.launch.pid"

d() { timeout 60 "$DOCKER" -H "unix://$SOCK" "$@"; }
drun() { d run --runtime "$RT" --network "$NET" "$@"; }
# Scenarios shared with the other docker-compatible CLI (cli_scenarios.sh).
cli() { d "$@"; }
run_c() { drun "$@"; }
rm_now() { d rm -f "$@" >/dev/null; }
PTY_CLI=("$DOCKER" -H "unix://$SOCK")
PTY_RUN=(--runtime "$RT" --network "$NET")
source "$(dirname "${BASH_SOURCE[0]}")/cli_scenarios.sh"

teardown() {
    [[ -n ${TORN_DOWN:-} ]] && return 0
    TORN_DOWN=1
    local ids
    if [[ -S $SOCK ]]; then
        ids=$(d ps -a -q 2>/dev/null || true)
        # shellcheck disable=SC2086
        [[ -z $ids ]] || d rm -f $ids >/dev/null 2>&1 || true
    fi
    kill_pidfile "$WORK/dockerd.launch.pid" 30
    sleep 0.3
    kill_matching "$WORK"          # docker's containerd and shims
    rm_cgroups "/$TAG"
    [[ -n $KEY_EXISTED ]] || rm -f /etc/docker/key.json
    rm_run_containerd
    return 0
}
on_exit teardown

wait_until_up dockerd "$WORK/dockerd.log" 150 0.2 d version

make_rootfs_tar "$WORK/rootfs.tar"
d import --change 'CMD ["sh"]' "$WORK/rootfs.tar" "$IMG" >/dev/null
setup_done

after_failure() {
    local ids
    ids=$(d ps -a -q)
    # shellcheck disable=SC2086
    [[ -z $ids ]] || d rm -f $ids
}

status_of() { d inspect -f '{{.State.Status}}' "$1"; }

# --- scenarios ---------------------------------------------------------------
t_missing_command() {
    local rc=0 err
    err=$(drun --rm "$IMG" /nonexistent 2>&1 >/dev/null) || rc=$?
    echo "$err"
    # The docker CLI maps the daemon's text (case-sensitive) to 127.
    [[ $rc == 127 ]] || fail "exit $rc, want 127: $err"
}

t_not_executable() {
    local rc=0 err
    err=$(drun --rm "$IMG" /etc/passwd 2>&1 >/dev/null) || rc=$?
    echo "$err"
    [[ $rc == 126 ]] || fail "exit $rc, want 126: $err"
}

t_exec_missing() {
    local rc=0 err
    drun -d --name xm "$IMG" sleep 1000 >/dev/null
    err=$(d exec xm /nonexistent 2>&1) || rc=$?
    echo "$err"
    d rm -f xm >/dev/null
    [[ $rc == 126 ]] || fail "exec of a missing command: exit $rc, want 126: $err"
    [[ ${err,,} == *"no such file or directory"* ]] || fail "exec error text: $err"
}

t_host_pid_children() {
    # Without a pid namespace the init's children outlive it; the shim then
    # runs `kill --all ID 9` on the stopped container to reap them.
    local tag=$((RANDOM + 40000)) left
    # (No --rm: `delete` would kill them anyway, hiding a failed kill --all.)
    drun --name hp --pid host "$IMG" sh -c "sleep $tag >/dev/null 2>&1 & echo started" >/dev/null
    sleep 1
    left=$(pgrep -x -f "sleep $tag" || true)
    d rm -f hp >/dev/null
    [[ -z $left ]] || {
        kill -KILL $left 2>/dev/null || true
        fail "the init's child (sleep $tag, pid $left) outlived the container"
    }
}

t_options() {
    # Config breadth: env, workdir, bind volume, tmpfs, dropped cap, ulimit,
    # namespaced sysctl, shm size, no-new-privileges, oom_score_adj.
    local out
    mkdir -p "$WORK/vol"
    echo in-volume >"$WORK/vol/f"
    out=$(drun --rm -e FOO=bar -w /tmp -v "$WORK/vol:/vol:ro" --tmpfs /scratch:size=1m \
        --cap-drop NET_RAW --ulimit nofile=512:512 --sysctl net.ipv4.ip_forward=1 \
        --shm-size 8m --security-opt no-new-privileges --oom-score-adj 100 "$IMG" sh -c '
        echo "env=$FOO cwd=$(pwd) vol=$(cat /vol/f)"
        touch /vol/x 2>/dev/null && echo vol-rw || echo vol-ro
        echo "scratch=$(awk "\$2==\"/scratch\"{print \$3}" /proc/mounts) nofile=$(ulimit -n)"
        echo "fwd=$(cat /proc/sys/net/ipv4/ip_forward) shm=$(df -k /dev/shm | awk "NR==2{print \$2}")"
        grep -E "^(CapEff|NoNewPrivs)" /proc/self/status | tr -s "\t" " "
        echo "oom=$(cat /proc/self/oom_score_adj)"')
    expect_eq "options" "$out" "env=bar cwd=/tmp vol=in-volume
vol-ro
scratch=tmpfs nofile=512
fwd=1 shm=8192
CapEff: 00000000a80405fb
NoNewPrivs: 1
oom=100"
}

t_oom() {
    local rc=0 out
    drun --name oom --memory 16m --memory-swap 16m "$IMG" sh -c 'x=$(head -c 67108864 /dev/zero | tr "\0" a); echo survived' >/dev/null || rc=$?
    out=$(d inspect -f '{{.State.OOMKilled}} {{.State.ExitCode}}' oom)
    d rm -f oom >/dev/null
    expect_eq "exit status" "$rc" 137
    expect_eq "OOMKilled ExitCode" "$out" "true 137"
}

t_restart_policy() {
    # dockerd re-creates the same container ID right after each exit.
    local out i
    drun -d --name rp --restart on-failure:2 "$IMG" sh -c 'echo try; exit 1' >/dev/null
    for i in $(seq 1 100); do
        out=$(d inspect -f '{{.RestartCount}} {{.State.Status}}' rp)
        [[ $out == "2 exited" ]] && break
        sleep 0.1
    done
    local logs
    logs=$(d logs rp | tr '\n' ' ')
    d rm -f rp >/dev/null
    expect_eq "RestartCount Status" "$out" "2 exited"
    expect_eq "logs of three runs" "$logs" "try try try "
}

t_info() {
    # dockerd runs `RUNTIME --version` for the default runtime: the commit line.
    local out
    out=$(d info --format '{{.DefaultRuntime}}|{{.RuncCommit.ID}}')
    echo "$out"
    [[ $out == "$RT|"?* && $out != *"|N/A" ]] || fail "docker info: $out"
}

t_detached_exec_stop_rm() {
    local out rc=0 id
    id=$(drun -d --name det "$IMG" sleep 1000)
    expect_eq status "$(status_of det)" running
    out=$(d exec det sh -c 'echo exec-ok; cat /proc/1/cmdline | tr "\0" " "')
    expect_eq "exec output" "$out" "exec-ok
sleep 1000 "
    d exec det sh -c 'exit 5' || rc=$?
    expect_eq "exec exit status" "$rc" 5
    # The runtime under test owns the container.
    out=$(timeout 20 "$RUNTIME" --root "$WORK/exec/runtime-runc/moby" state "$id")
    [[ $out == *'"status"'*'"running"'* ]] || fail "$RUNTIME state $id: $out"
    d stop -t 2 det >/dev/null
    expect_eq "status after stop" "$(status_of det)" exited
    d rm det >/dev/null
    out=$(d ps -a -q --no-trunc)
    [[ $out != *"$id"* ]] || fail "container still listed after rm"
    [[ ! -e $WORK/exec/runtime-runc/moby/$id ]] || fail "runtime state left for $id"
}

t_update() {
    local out
    drun -d --name up --memory 64m "$IMG" sleep 1000 >/dev/null
    d update --memory 96m --memory-swap 200m up >/dev/null
    d update --cpus 0.25 --pids-limit 55 up >/dev/null
    out=$(d exec up cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/pids/pids.max | tr '\n' ' ')
    d rm -f up >/dev/null
    expect_eq "memory limit, cfs quota, pids.max after update" "$out" "100663296 25000 55 "
}

t_pause_unpause() {
    local out pid fr
    drun -d --name pz "$IMG" sleep 1000 >/dev/null
    d pause pz >/dev/null
    expect_eq "status after pause" "$(status_of pz)" paused
    pid=$(d inspect -f '{{.State.Pid}}' pz)
    fr=$(awk -F: '$2=="freezer"{print $3}' "/proc/$pid/cgroup")
    out=$(cat "/sys/fs/cgroup/freezer$fr/freezer.state")
    expect_eq "freezer.state" "$out" FROZEN
    d unpause pz >/dev/null
    expect_eq "status after unpause" "$(status_of pz)" running
    out=$(d exec pz echo alive)
    expect_eq "exec after unpause" "$out" alive
    # Removing a paused container: kill 9 must reach a frozen task.
    d pause pz >/dev/null
    d rm -f pz >/dev/null
    [[ -z $(d ps -a -q --filter name=pz) ]] || fail "paused container not removed"
}

t_stats() {
    local out
    drun -d --name st --memory 64m "$IMG" sleep 1000 >/dev/null
    out=$(d stats --no-stream --format '{{.Name}} {{.MemUsage}}' st)
    echo "$out"
    d rm -f st >/dev/null
    [[ $out =~ ^st\ .*/\ 64MiB ]] || fail "stats: $out"
}

t_restart() {
    local out p1 p2
    drun -d --name rs "$IMG" sh -c 'echo ran; exit 4' >/dev/null
    out=$(d wait rs)
    expect_eq "first exit" "$out" 4
    d start rs >/dev/null
    out=$(d wait rs)
    expect_eq "second exit" "$out" 4
    out=$(d logs rs | tr '\n' ' ')
    expect_eq "logs of two runs" "$out" "ran ran "
    d rm rs >/dev/null
    drun -d --name rr "$IMG" sleep 1000 >/dev/null
    p1=$(d inspect -f '{{.State.Pid}}' rr)
    d restart -t 1 rr >/dev/null
    p2=$(d inspect -f '{{.State.Pid}}' rr)
    expect_eq "status after restart" "$(status_of rr)" running
    [[ $p1 != "$p2" ]] || fail "restart kept pid $p1"
    d rm -f rr >/dev/null
}

t_parallel_20() {
    local i pids=() rc=0 n
    for i in $(seq 1 20); do
        drun -d --name "par$i" "$IMG" sleep 1000 >/dev/null &
        pids+=($!)
    done
    for i in "${pids[@]}"; do wait "$i" || rc=$?; done
    n=$(d ps -q --filter name=par --filter status=running | wc -l)
    expect_eq "running containers" "$n" 20
    ((rc == 0)) || fail "a parallel run failed (exit $rc)"
    pids=()
    for i in $(seq 1 20); do
        d rm -f "par$i" >/dev/null &
        pids+=($!)
    done
    for i in "${pids[@]}"; do wait "$i" || rc=$?; done
    ((rc == 0)) || fail "a parallel rm failed (exit $rc)"
    n=$(d ps -a -q | wc -l)
    expect_eq "containers left" "$n" 0
    n=$(find "$WORK/exec/runtime-runc/moby" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
    expect_eq "runtime state dirs left" "$n" 0
}

scenario run-id t_run_id
scenario run-hostname t_run_hostname
scenario run-cmdline t_run_cmdline
scenario exit-status t_exit_status
scenario missing-command-127 t_missing_command
scenario not-executable-126 t_not_executable
scenario user-readonly t_user_readonly
scenario exec-missing-126 t_exec_missing
scenario host-pid-children-killed t_host_pid_children
scenario options t_options
scenario restart-policy t_restart_policy
scenario info t_info
scenario signal t_signal
scenario oom-killed t_oom
scenario detached-exec-stop-rm t_detached_exec_stop_rm
scenario interactive-tty t_interactive_tty
scenario exec-tty t_exec_tty
scenario cgroup-limits t_limits
scenario update t_update
scenario pause-unpause t_pause_unpause
scenario top-ps t_top_ps
scenario stats t_stats
scenario logs t_logs
scenario restart t_restart
scenario parallel-20 t_parallel_20
teardown
scenario no-leaks t_no_leaks
summary
