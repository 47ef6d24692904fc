# Scenarios podman and docker pass the same way: both are docker-compatible CLIs.
# Sourced by podman.sh and docker.sh after they define
#   cli ARGS...     their CLI (podman with its private roots; docker on its private socket)
#   run_c ARGS...   `cli run` with the runtime under test and the suite's cgroup/network
#   rm_now NAME...  force-remove at once (podman needs -t 0, docker has no such flag)
# and IMG, the busybox image. ENGINE names the CLI in messages. The tty scenarios run
# the CLI under a pty, as a program: PTY_CLI=(the command line, user switch included)
# and PTY_RUN=(options of its `run`, such as the suite's cgroup parent).

t_run_id() {
    local out
    out=$(run_c --rm "$IMG" id)
    expect_match "id" "$out" '^uid=0\(root\) gid=0\(root\)( groups=0\(root\))?'
}

t_run_hostname() {
    local out
    out=$(run_c --rm --hostname engines-host "$IMG" hostname)
    expect_eq hostname "$out" engines-host
}

t_run_cmdline() {
    local out
    out=$(run_c --rm "$IMG" cat /proc/1/cmdline | tr '\0' ' ')
    expect_eq "/proc/1/cmdline" "$out" "cat /proc/1/cmdline "
}

t_exit_status() {
    expect_status 3 run_c --rm "$IMG" sh -c 'exit 3'
}

t_user_readonly() {
    local out
    out=$(run_c --rm --user 65534:65534 --read-only "$IMG" sh -c 'id -u; id -g; touch /x 2>/dev/null && echo writable || echo ro')
    expect_eq "uid gid rootfs" "$(echo $out)" "65534 65534 ro"
}

t_limits() {
    local out
    out=$(run_c --rm --memory 64m --cpus 0.5 --pids-limit 77 "$IMG" sh -c \
        'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us /sys/fs/cgroup/pids/pids.max' |
        tr '\n' ' ')
    expect_eq "memory.limit_in_bytes cfs_quota_us cfs_period_us pids.max" "$out" "67108864 50000 100000 77 "
}

t_logs() {
    local out
    run_c -d --name lg "$IMG" sh -c 'echo to-stdout; echo to-stderr >&2' >/dev/null
    cli wait lg >/dev/null
    out=$(cli logs lg 2>&1 | sort | tr '\n' ' ')
    cli rm lg >/dev/null
    expect_eq logs "$out" "to-stderr to-stdout "
}

t_signal() {
    local out
    run_c -d --name sg "$IMG" sh -c 'trap "echo got-usr1" USR1; echo ready; while :; do sleep 0.1; done' >/dev/null
    for _ in $(seq 1 50); do [[ $(cli logs sg 2>&1) == *ready* ]] && break; sleep 0.1; done
    cli kill -s USR1 sg >/dev/null
    for _ in $(seq 1 50); do [[ $(cli logs sg 2>&1) == *got-usr1* ]] && break; sleep 0.1; done
    out=$(cli logs sg 2>&1 | tr '\n' ' ')
    rm_now sg
    expect_eq "logs after kill -s USR1" "$out" "ready got-usr1 "
}

t_top_ps() {
    local out
    run_c -d --name tp "$IMG" sleep 1001 >/dev/null
    out=$(cli top tp)
    echo "$out"
    [[ $out == *"sleep 1001"* ]] || fail "$ENGINE top: no 'sleep 1001' in: $out"
    out=$(cli ps --format '{{.Names}} {{.Status}}')
    echo "$out"
    [[ $out =~ tp\ Up ]] || fail "$ENGINE ps: tp not Up: $out"
    rm_now tp
}

t_interactive_tty() {
    local rc=0
    printf 'tty; echo in-tty-$((6*7)); exit 7\n' |
        in_pty "$WORK/tty.out" timeout -k 5 60 "${PTY_CLI[@]}" run -it --rm "${PTY_RUN[@]}" \
            "$IMG" sh || rc=$?
    expect_tty_session "$rc"
}

t_exec_tty() {
    local out
    run_c -d --name xtty "$IMG" sleep 1000 >/dev/null
    : | in_pty "$WORK/xtty.out" timeout -k 5 60 "${PTY_CLI[@]}" exec -it xtty tty
    out=$(tr -d '\r' <"$WORK/xtty.out")
    echo "$out"
    rm_now xtty
    [[ $out == *"/dev/pts/"* ]] || fail "exec -it: tty printed '$out'"
}
