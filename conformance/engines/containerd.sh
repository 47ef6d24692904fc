#!/bin/bash
# containerd.sh [RUNTIME] - containerd 1.6 (ctr + containerd-shim-runc-v2)
# driving RUNTIME end to end.
#
# RUNTIME: empty or "pyrunc" (the installed pyrunc), "runc", "crun" (through
# conformance/runtime-tools/crun-hybrid.sh), or a path.  A private containerd
# (own config, root, state, gRPC/ttrpc sockets) runs for the duration; the
# shim gets RUNTIME as its BinaryName (`ctr run --runc-binary`) and a private
# runtime state root (`--runc-root`).  The image is an OCI archive built here
# from busybox-static and loaded with `ctr images import` (no registry).
# Prints PASS/FAIL per scenario and "N passed, N failed"; exits 1 on failure.
set -euo pipefail
ENGINE=containerd
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
engines_lock "$@"

need_pkgs containerd busybox-static bsdutils
engines_init "$@"
BEFORE=$(snapshot)
NS=$TAG                       # containerd namespace; cgroups go to /$NS/<id>
IMG=docker.io/engines/busybox:latest
SOCK=$WORK/containerd.sock
RUNC_ROOT=$WORK/runc
mkdir -p "$WORK"/{root,state,runc}

# containerd 1.6 keeps shim sockets in /run/containerd/s whatever its state
# dir; remember whether those dirs existed so as to remove only ours.
RUN_CONTAINERD_EXISTED=
[[ -e /run/containerd ]] && RUN_CONTAINERD_EXISTED=1

cat >"$WORK/config.toml" <<EOF
version = 2
root = "$WORK/root"
state = "$WORK/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
EOF

containerd --config "$WORK/config.toml" >"$WORK/containerd.log" 2>&1 &
echo $! >"$WORK/containerd.pid"

c() { timeout 60 ctr --address "$SOCK" --namespace "$NS" "$@"; }
# Options of every `ctr run`: the runtime binary and its private state root.
crun_opts=(--runc-binary "$RUNTIME" --runc-root "$RUNC_ROOT")

teardown() {
    [[ -n ${TORN_DOWN:-} ]] && return 0
    TORN_DOWN=1
    local id
    if [[ -S $SOCK ]]; then
        for id in $(c task ls -q 2>/dev/null); do
            c task kill -a -s KILL "$id" >/dev/null 2>&1 || true
        done
        sleep 0.3
        for id in $(c task ls -q 2>/dev/null); do
            c task rm -f "$id" >/dev/null 2>&1 || true
        done
        for id in $(c containers ls -q 2>/dev/null); do
            c containers rm "$id" >/dev/null 2>&1 || true
        done
    fi
    kill_pidfile "$WORK/containerd.pid" 20
    sleep 0.3
    kill_matching "$WORK"        # shims carry -address $SOCK
    rm_cgroups "/$NS"
    rm_run_containerd
    return 0
}
on_exit teardown

wait_until_up containerd "$WORK/containerd.log" 100 0.1 c version

make_rootfs_tar "$WORK/rootfs.tar"
make_oci_archive "$WORK/rootfs.tar" "$WORK/busybox-oci.tar" "$IMG"
c images import "$WORK/busybox-oci.tar" >/dev/null
c images ls -q | grep -qx "$IMG" || { echo "image import failed" >&2; exit 1; }
setup_done

# task_status ID -> RUNNING / PAUSED / STOPPED / CREATED
task_status() { c task ls | awk -v id="$1" '$1 == id {print $3}'; }
task_pid() { c task ls | awk -v id="$1" '$1 == id {print $2}'; }
wait_status() {
    local id=$1 want=$2 i
    for i in $(seq 1 100); do
        [[ $(task_status "$id") == "$want" ]] && return 0
        sleep 0.1
    done
    fail "$id: status $(task_status "$id"), want $want"
}
# cg_file PID CONTROLLER FILE: the host path of FILE in PID's cgroup.
cg_file() {
    local p
    p=$(awk -F: -v c="$2" '{n = split($2, a, ","); for (i = 1; i <= n; i++) if (a[i] == c) print $3}' "/proc/$1/cgroup")
    echo "/sys/fs/cgroup/$2$p/$3"
}
after_failure() {
    local id
    for id in $(c containers ls -q); do rmc "$id" || true; done
}
rmc() {
    c task kill -a -s KILL "$1" >/dev/null 2>&1 || true
    c task rm -f "$1" >/dev/null 2>&1 || true
    c containers rm "$1" >/dev/null
}

# --- scenarios ---------------------------------------------------------------
t_run_id() {
    local out
    out=$(c run --rm "${crun_opts[@]}" "$IMG" id1 id)
    expect_match "id" "$out" '^uid=0\(root\) gid=0\(root\)( groups=0\(root\))?$'
}

t_run_hostname() {
    # ctr 1.6 sets no hostname: a new UTS namespace keeps the host's name.
    local out
    out=$(c run --rm "${crun_opts[@]}" "$IMG" hn1 sh -c 'hostname; readlink /proc/self/ns/uts')
    expect_eq "hostname" "${out%%$'\n'*}" "$(hostname)"
    [[ ${out#*$'\n'} == uts:* && ${out#*$'\n'} != "$(readlink /proc/self/ns/uts)" ]] ||
        fail "not a new UTS namespace: ${out#*$'\n'}"
}

t_run_cmdline() {
    local out
    out=$(c run --rm "${crun_opts[@]}" "$IMG" cl1 cat /proc/1/cmdline | tr '\0' ' ')
    expect_eq "/proc/1/cmdline" "$out" "cat /proc/1/cmdline "
}

t_exit_status() {
    expect_status 3 c run --rm "${crun_opts[@]}" "$IMG" ex1 sh -c 'exit 3'
}

t_missing_command() {
    local rc=0 err
    err=$(c run --rm "${crun_opts[@]}" "$IMG" mc1 /nonexistent 2>&1 >/dev/null) || rc=$?
    echo "$err"
    c containers rm mc1 >/dev/null 2>&1 || true
    [[ $rc != 0 ]] || fail "exit 0"
    # The shim reads the message from the runtime's --log JSON.
    [[ ${err,,} == *"oci runtime create failed"*"no such file or directory"* ]] ||
        fail "error not read from the runtime's log: $err"
}

t_exec_missing() {
    local rc=0 err
    c run -d "${crun_opts[@]}" "$IMG" xm sleep 1000 >/dev/null
    err=$(c task exec --exec-id m1 xm /nonexistent 2>&1) || rc=$?
    echo "$err"
    rmc xm
    [[ $rc != 0 ]] || fail "exit 0"
    [[ ${err,,} == *"oci runtime exec failed"*"no such file or directory"* ]] ||
        fail "exec error not read from the runtime's log: $err"
}

t_readonly_env_cwd() {
    local out
    out=$(c run --rm "${crun_opts[@]}" --read-only --env ENG=v1 --cwd /tmp "$IMG" ro1 \
        sh -c 'echo $ENG; pwd; touch /x 2>/dev/null && echo writable || echo ro')
    expect_eq "env cwd rootfs" "$(echo $out)" "v1 /tmp ro"
}

t_detached_exec_kill_rm() {
    local out rc=0
    c run -d "${crun_opts[@]}" "$IMG" det sh -c 'trap "exit 0" TERM; sleep 1000 & wait' >/dev/null
    wait_status det RUNNING
    out=$(c task exec --exec-id e1 det sh -c 'echo exec-ok; cat /proc/1/cmdline | tr "\0" " "')
    expect_eq "exec output" "$out" "exec-ok
sh -c trap \"exit 0\" TERM; sleep 1000 & wait "
    c task exec --exec-id e2 det sh -c 'exit 5' || rc=$?
    expect_eq "exec exit status" "$rc" 5
    out=$(c task ps det | tail -n +2 | wc -l)
    ((out >= 2)) || fail "task ps: $out processes"
    # The runtime under test owns the container.
    out=$(timeout 20 "$RUNTIME" --root "$RUNC_ROOT/$NS" state det)
    [[ $out == *'"status"'*'"running"'* ]] || fail "$RUNTIME state det: $out"
    c task kill det                     # SIGTERM, handled by the shell
    wait_status det STOPPED
    c task rm det >/dev/null
    c containers rm det
    out=$(c containers ls -q)
    [[ $out != *det* ]] || fail "container still listed"
    [[ ! -e $RUNC_ROOT/$NS/det ]] || fail "runtime state left in $RUNC_ROOT/$NS/det"
}

t_kill_after_exit() {
    local err rc=0
    c run -d "${crun_opts[@]}" "$IMG" kx true >/dev/null
    wait_status kx STOPPED
    err=$(c task kill kx 2>&1) || rc=$?
    echo "$err"
    rmc kx
    [[ $rc != 0 && $err == *"process already finished"* ]] ||
        fail "kill of an exited task: exit $rc: $err"
}

t_host_pid_children() {
    # Without a pid namespace the init's children outlive it: when the init
    # exits, the shim runs `kill --all ID 9` on the now stopped container
    # (runc signals every process left in the cgroup and exits 0).
    local tag=$((RANDOM + 40000)) left
    # (/proc/1/ns/pid is unreadable on this VM: use this shell's, the host's.)
    c run -d "${crun_opts[@]}" --with-ns "pid:/proc/$BASHPID/ns/pid" "$IMG" hp \
        sh -c "sleep $tag >/dev/null 2>&1 & echo started" >/dev/null || {
        c containers rm hp >/dev/null 2>&1 || true
        fail "ctr run --with-ns pid:/proc/$BASHPID/ns/pid failed"
    }
    wait_status hp STOPPED
    sleep 0.5
    left=$(pgrep -x -f "sleep $tag" || true)
    rmc hp
    [[ -z $left ]] || {
        kill -KILL $left 2>/dev/null || true
        fail "the init's child (sleep $tag, pid $left) outlived the init; the shim's kill --all failed"
    }
}

t_interactive_tty() {
    local rc=0
    printf 'tty; echo in-tty-$((6*7)); exit 7\n' |
        in_pty "$WORK/tty.out" ctr --address "$SOCK" --namespace "$NS" run -t --rm \
            "${crun_opts[@]}" "$IMG" tty1 sh || rc=$?
    expect_tty_session "$rc"
}

t_exec_tty() {
    local out
    c run -d "${crun_opts[@]}" "$IMG" xtty sleep 1000 >/dev/null
    : | in_pty "$WORK/xtty.out" ctr --address "$SOCK" --namespace "$NS" task exec -t \
        --exec-id t1 xtty sh -c 'tty; sleep 0.5'
    out=$(tr -d '\r' <"$WORK/xtty.out")
    echo "$out"
    rmc xtty
    [[ $out == *"/dev/pts/"* ]] || fail "exec -t: tty printed '$out'"
}

t_limits() {
    local pid out
    c run -d "${crun_opts[@]}" --memory-limit 67108864 --cpus 0.5 "$IMG" lim sleep 1000 >/dev/null
    pid=$(task_pid lim)
    out="$(cat "$(cg_file "$pid" memory memory.limit_in_bytes)") $(cat "$(cg_file "$pid" cpu cpu.cfs_quota_us)") $(cat "$(cg_file "$pid" cpu cpu.cfs_period_us)")"
    expect_match "cgroup path" "$(cg_file "$pid" memory x)" "/$NS/lim/x\$"
    rmc lim
    expect_eq "memory.limit_in_bytes cfs_quota_us cfs_period_us" "$out" "67108864 50000 100000"
}

t_pause_resume() {
    local pid out
    c run -d "${crun_opts[@]}" "$IMG" pz sleep 1000 >/dev/null
    c task pause pz
    expect_eq status "$(task_status pz)" PAUSED
    pid=$(task_pid pz)
    out=$(cat "$(cg_file "$pid" freezer freezer.state)")
    expect_eq freezer.state "$out" FROZEN
    c task resume pz
    expect_eq status "$(task_status pz)" RUNNING
    out=$(c task exec --exec-id a1 pz echo alive)
    expect_eq "exec after resume" "$out" alive
    rmc pz
}

t_ps_metrics() {
    local out pid
    c run -d "${crun_opts[@]}" --memory-limit 67108864 "$IMG" pm sleep 1000 >/dev/null
    pid=$(task_pid pm)
    out=$(c task ps pm)
    echo "$out"
    [[ $out == *"$pid"* ]] || fail "task ps does not list init pid $pid: $out"
    out=$(c task metrics pm)
    echo "$out"
    rmc pm
    [[ $out == *memory.limit_in_bytes*67108864* ]] || fail "task metrics: no memory limit: $out"
}

t_logs() {
    # (ctr's file logger opens the file once per stream: log stdout only.)
    local out
    c run --rm "${crun_opts[@]}" --log-uri "file://$WORK/lg.log" "$IMG" lg \
        sh -c 'echo line1; echo line2'
    out=$(tr '\n' ' ' <"$WORK/lg.log")
    expect_eq "log file" "$out" "line1 line2 "
}

t_restart() {
    local out
    c run -d "${crun_opts[@]}" --log-uri "file://$WORK/rs.log" "$IMG" rs \
        sh -c 'echo run >>/runs; echo runs=$(wc -l </runs); exit 4' >/dev/null
    wait_status rs STOPPED
    c task rm rs >/dev/null
    # A new task of the same stopped container (same rootfs snapshot).
    c task start -d --log-uri "file://$WORK/rs.log" rs >/dev/null
    wait_status rs STOPPED
    rmc rs
    out=$(tr '\n' ' ' <"$WORK/rs.log")
    expect_eq "log of the two runs" "$out" "runs=1 runs=2 "
}

t_parallel_20() {
    local i pids=() rc=0 n
    for i in $(seq 1 20); do
        c run -d "${crun_opts[@]}" "$IMG" "par$i" sleep 1000 >/dev/null &
        pids+=($!)
    done
    for i in "${pids[@]}"; do wait "$i" || rc=$?; done
    n=$(c task ls | awk '$1 ~ /^par/ && $3 == "RUNNING"' | wc -l)
    expect_eq "running tasks" "$n" 20
    ((rc == 0)) || fail "a parallel run failed (exit $rc)"
    pids=()
    for i in $(seq 1 20); do
        (
            c task kill -a -s KILL "par$i"
            for _ in $(seq 1 100); do
                [[ $(task_status "par$i") == STOPPED ]] && break
                sleep 0.1
            done
            c task rm "par$i" >/dev/null
            c containers rm "par$i"
        ) &
        pids+=($!)
    done
    for i in "${pids[@]}"; do wait "$i" || rc=$?; done
    ((rc == 0)) || fail "a parallel removal failed (exit $rc)"
    n=$(c containers ls -q | wc -l)
    expect_eq "containers left" "$n" 0
    n=$(find "$RUNC_ROOT/$NS" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
    expect_eq "runtime state dirs left" "$n" 0
}

t_cri_runtime_config() {
    # The Kubernetes (CRI) way to name the runtime: a runtime handler of type
    # io.containerd.runc.v2 whose options.BinaryName is RUNTIME (the shim
    # option `ctr run --runc-binary` sets).  Checked here: containerd parses
    # it; the CRI path itself needs crictl/kubelet (not on this host).
    {
        echo 'version = 2'
        echo '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.pyrunc]'
        echo '  runtime_type = "io.containerd.runc.v2"'
        echo '  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.pyrunc.options]'
        echo "    BinaryName = \"$RUNTIME\""
    } >"$WORK/cri.toml"
    local out
    out=$(containerd --config "$WORK/cri.toml" config dump)
    [[ $out == *"runtimes.pyrunc.options]"*"BinaryName = \"$RUNTIME\""* ]] ||
        fail "containerd config dump does not show the runtime: $(grep -A4 'runtimes.pyrunc' <<<"$out")"
}

scenario run-id t_run_id
scenario run-hostname t_run_hostname
scenario run-cmdline t_run_cmdline
scenario exit-status t_exit_status
scenario missing-command-error t_missing_command
scenario exec-missing-error t_exec_missing
scenario readonly-env-cwd t_readonly_env_cwd
scenario detached-exec-kill-rm t_detached_exec_kill_rm
scenario kill-after-exit t_kill_after_exit
scenario host-pid-children-killed t_host_pid_children
scenario interactive-tty t_interactive_tty
scenario exec-tty t_exec_tty
scenario cgroup-limits t_limits
scenario pause-resume t_pause_resume
scenario ps-metrics t_ps_metrics
scenario logs t_logs
scenario restart t_restart
scenario parallel-20 t_parallel_20
scenario cri-runtime-config t_cri_runtime_config
teardown
scenario no-leaks t_no_leaks
summary
