#!/bin/bash
# podman-rootless.sh [RUNTIME] - rootless podman 4.3 + conmon, run by an unprivileged
# user this script makes, driving RUNTIME (`podman --runtime RUNTIME`).
#
# RUNTIME as for podman.sh: empty or "pyrunc" (the installed pyrunc), "runc", or a path;
# the user must be able to run it. The suite makes a user with /etc/subuid and
# /etc/subgid ranges (useradd's), its HOME and XDG_RUNTIME_DIR in a private temp dir,
# vfs storage, cgroup_manager cgroupfs and no network (netns "none": no slirp4netns);
# it removes the user, its processes (podman's pause process) and the dir at the end,
# also on failure or a signal. Scenarios run as that user; the kernel's view of the
# containers (uid_map, credentials, cgroups) is read from the host.
# Prints PASS/FAIL per scenario and "N passed, N failed"; exits 1 on failure.
set -euo pipefail
ENGINE=podman-rootless
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
engines_lock "$@"

need_pkgs podman conmon uidmap catatonit busybox-static bsdutils
RL_USER=eng-rl$$
RL_UID=
# The installed launcher by default: the user can run it (the pyenv console script that
# PATH may find first lies under /root).
if [[ -z ${1:-} || $1 == pyrunc ]] && [[ -x /usr/local/bin/pyrunc ]]; then
    set -- /usr/local/bin/pyrunc "${@:2}"
fi
engines_init "$@"
BEFORE=$(snapshot)
IMG=localhost/engines-busybox:latest
HOME_DIR=$WORK/home
XDG=$WORK/xdg

# The user's objects on the host, for the leak check (lib.sh snapshot).
snapshot_extra() {
    grep -h "^$RL_USER:" /etc/passwd /etc/subuid /etc/subgid 2>/dev/null | sed 's/^/user /' || true
    [[ -n $RL_UID ]] || return 0
    # zombies wait for PID 1 (not an init here) to reap them.
    ps -o pid=,stat=,args= -u "$RL_UID" 2>/dev/null | awk '$2 !~ /^Z/ { $2 = ""; print "user-proc " $0 }' || true
    ls -d "/run/user/$RL_UID" "/tmp/podman-run-$RL_UID" "/tmp/containers-user-$RL_UID" \
        "/tmp/run-$RL_UID" 2>/dev/null | sed 's/^/path /' || true
}

# --- the user -----------------------------------------------------------------
make_user() {
    local uid=2800
    while getent passwd "$uid" >/dev/null; do uid=$((uid + 1)); done
    on_exit remove_user # first: whatever happens next, the user goes
    useradd -M -N -u "$uid" -s /bin/sh "$RL_USER"
    RL_UID=$uid
    RL_GID=$(id -g "$RL_USER")
    SUBUID=$(awk -F: -v u="$RL_USER" '$1 == u && $3 >= 65536 { print $2; exit }' /etc/subuid)
    SUBGID=$(awk -F: -v u="$RL_USER" '$1 == u && $3 >= 65536 { print $2; exit }' /etc/subgid)
    [[ -n $SUBUID && -n $SUBGID ]] || {
        log "useradd gave $RL_USER no 65536 subordinate ids (SUB_UID_COUNT in /etc/login.defs)"
        exit 2
    }
    install -d -m 700 -o "$RL_UID" -g "$RL_GID" "$HOME_DIR" "$XDG"
}

remove_user() {
    [[ -n $RL_UID && -z ${USER_REMOVED:-} ]] || return 0
    USER_REMOVED=1
    # podman's pause process (catatonit -P) holds the user's namespaces; conmon and
    # `podman container cleanup` may linger: every process of the user, by pid.
    local p i
    for i in 1 2 3; do
        p=$(pgrep -u "$RL_UID" || true)
        [[ -n $p ]] || break
        # shellcheck disable=SC2086
        kill -KILL $p 2>/dev/null || true
        sleep 0.2
    done
    userdel "$RL_USER" 2>/dev/null || log "userdel $RL_USER failed"
    # userdel removes the subordinate ranges; make sure, without touching other lines.
    sed -i "/^$RL_USER:/d" /etc/subuid /etc/subgid
}

# AS_USER CMD...: CMD as the user, in its HOME, with only the environment it needs (an
# array, so that timeout and in_pty can run it); as_user: the same, bounded.
AS_USER=(runuser -u "$RL_USER" -- env -i -C "$HOME_DIR" PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin
    HOME="$HOME_DIR" USER="$RL_USER" LOGNAME="$RL_USER" XDG_RUNTIME_DIR="$XDG"
    CONTAINERS_CONF="$WORK/containers.conf" CONTAINERS_STORAGE_CONF="$WORK/storage.conf"
    CONTAINERS_REGISTRIES_CONF="$WORK/registries.conf")
as_user() { timeout -k 5 60 "${AS_USER[@]}" "$@"; }

make_user
if [[ -n ${ENGINES_TRACE:-} ]]; then
    touch "$ENGINES_TRACE" && chmod a+rw "$ENGINES_TRACE" # the wrapper runs as the user
fi
# A pyrunc in a directory the user may not enter (CI's 0700 clone) runs as a readable copy.
copy=$(mktemp -d /var/tmp/pyrunc-rl-tree.XXXXXX)
rm_tree_copy() { rm -rf "$copy"; }
on_exit rm_tree_copy
RUNTIME=$("$(dirname "${BASH_SOURCE[0]}")/../readable-runtime.sh" "$RUNTIME" "$RL_USER" "$copy") ||
    exit 2

NOFILE=$(ulimit -Hn)
[[ $NOFILE == unlimited ]] && NOFILE=1048576
cat >"$WORK/containers.conf" <<EOF
[containers]
netns = "none"
default_ulimits = ["nofile=$NOFILE:$NOFILE"]
log_driver = "k8s-file"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$XDG/events.log"
EOF
cat >"$WORK/storage.conf" <<EOF
[storage]
driver = "vfs"
runroot = "$XDG/containers"
graphroot = "$HOME_DIR/storage"
rootless_storage_path = "$HOME_DIR/storage"
EOF
: >"$WORK/registries.conf"
chmod 644 "$WORK"/*.conf

PODMAN=(podman --runtime "$RUNTIME" --root "$HOME_DIR/storage" --runroot "$XDG/containers"
    --storage-driver vfs --cgroup-manager cgroupfs --events-backend file)
pm() { as_user "${PODMAN[@]}" "$@"; }
# Scenarios shared with the root suites (cli_scenarios.sh).
cli() { pm "$@"; }
run_c() { pm run "$@"; }
rm_now() { pm rm -f -t 0 "$@" >/dev/null; }
PTY_CLI=("${AS_USER[@]}" "${PODMAN[@]}")
PTY_RUN=()
source "$(dirname "${BASH_SOURCE[0]}")/cli_scenarios.sh"

teardown() {
    [[ -n ${TORN_DOWN:-} ]] && return 0
    TORN_DOWN=1
    pm rm -a -f -t 0 >/dev/null 2>&1 || true
    pm rmi -a -f >/dev/null 2>&1 || true
    remove_user
}
on_exit teardown
after_failure() { pm rm -a -f -t 0; }

# --- image ---------------------------------------------------------------------
make_rootfs_tar "$WORK/rootfs.tar"
chmod 644 "$WORK/rootfs.tar"
pm import --change 'CMD ["sh"]' "$WORK/rootfs.tar" "$IMG" >/dev/null
setup_done

# --- scenarios -----------------------------------------------------------------
# the uid_map a container of podman's user namespace has: the user's own id at 0, then
# its subordinate range (what newuidmap wrote for podman).
want_map() { printf '0 %s 1 1 %s 65536' "$1" "$2"; }

t_run_id_mapped() {
    local out
    out=$(pm run --rm "$IMG" sh -c 'id; cat /proc/self/uid_map /proc/self/gid_map')
    echo "$out"
    expect_match "id" "$(head -1 <<<"$out")" '^uid=0\(root\) gid=0\(root\)'
    expect_eq "uid_map gid_map" "$(tail -n +2 <<<"$out" | xargs)" \
        "$(want_map "$RL_UID" "$SUBUID") $(want_map "$RL_GID" "$SUBGID")"
}

t_keep_id() {
    local out
    out=$(pm run --rm --userns keep-id "$IMG" id -u)
    expect_eq "id -u with --userns keep-id" "$out" "$RL_UID"
}

t_detached_exec_stop_rm() {
    local id pid out rc=0 status
    id=$(pm run -d --name det "$IMG" sleep 1000)
    pid=$(pm inspect -f '{{.State.Pid}}' det)
    # The kernel's view from the host: the user's ids, podman's map, no cgroup of its own.
    expect_eq "host uid of the init" "$(awk '/^Uid:/{print $2}' "/proc/$pid/status")" "$RL_UID"
    expect_eq "uid_map of the init" "$(xargs <"/proc/$pid/uid_map")" "$(want_map "$RL_UID" "$SUBUID")"
    out=$(pm ps --format '{{.Names}} {{.Status}}')
    echo "$out"
    [[ $out =~ det\ Up ]] || fail "podman ps: det not Up: $out"
    # The runtime owns it, in its rootless state root ($XDG_RUNTIME_DIR/<runtime>).
    status=$(as_user "${PODMAN[@]}" unshare "$RUNTIME" state "$id")
    [[ $status == *'"status"'*'"running"'* ]] || fail "$RUNTIME state $id: $status"
    out=$(pm exec det sh -c 'echo exec-ok; id -u; cat /proc/1/cmdline | tr "\0" " "')
    expect_eq "exec output" "$out" "exec-ok
0
sleep 1000 "
    pm exec det sh -c 'exit 5' || rc=$?
    expect_eq "exec exit status" "$rc" 5
    pm stop -t 2 det >/dev/null
    expect_eq "status after stop" "$(pm inspect -f '{{.State.Status}}' det)" exited
    pm rm det >/dev/null
    out=$(pm ps -a -q --no-trunc)
    [[ $out != *"$id"* ]] || fail "container still listed after rm"
}

t_missing_command() {
    local rc=0 err
    err=$(pm run --rm "$IMG" /nonexistent 2>&1 >/dev/null) || rc=$?
    echo "$err"
    [[ $rc == 127 ]] || fail "exit $rc, want 127: $err"
}

# unified: a pure cgroup v2 host (a delegated subtree may hold limits there).
unified() { [[ -f /sys/fs/cgroup/cgroup.controllers ]]; }

t_memory() {
    # cgroup v1 (this kind of host): podman drops the limit with a warning, as it does for
    # runc, and the container stays in the cgroups of the user's session. cgroup v2: the
    # limit is applied when podman finds a delegated cgroup, else podman says why.
    local out err pid
    err=$(pm run -d --name mem --memory 64m "$IMG" sleep 1000 2>&1 >/dev/null)
    echo "$err"
    pid=$(pm inspect -f '{{.State.Pid}}' mem)
    if unified && [[ -z $err ]]; then
        out=$(cat "/sys/fs/cgroup$(awk -F: '$1 == "0" {print $3}' "/proc/$pid/cgroup")/memory.max")
        rm_now mem
        expect_eq "memory.max" "$out" 67108864
        return
    fi
    out=$(awk -F: '$2 == "memory" {print $3}' "/proc/$pid/cgroup")
    rm_now mem
    if ! unified; then
        [[ $err == *"Resource limits are not supported and ignored on cgroups V1 rootless"* ]] ||
            fail "no warning from podman: '$err'"
    fi
    expect_eq "the container's memory cgroup" "$out" \
        "$(awk -F: '$2 == "memory" {print $3}' /proc/self/cgroup)"
}

t_limits_refused() {
    # The runtime itself, as podman runs it (root in the user's namespace), on a bundle
    # that asks for a pids limit it has no cgroup for: runc's refusal, nothing left.
    local b=$HOME_DIR/limits err rc=0
    as_user mkdir -p "$b/rootfs"
    as_user tar -C "$b/rootfs" -xf "$WORK/rootfs.tar" 2>/dev/null || true
    as_user sh -c 'cd "$1" && exec "$2" spec --rootless' sh "$b" "$RUNTIME"
    as_user python3 -c 'import json,sys; p=sys.argv[1]; c=json.load(open(p))
c["process"].update(terminal=False, args=["true"])
c["linux"]["resources"]={"pids":{"limit":10}}
c["linux"]["namespaces"]=[n for n in c["linux"]["namespaces"] if n["type"]!="user"]
for k in ("uidMappings","gidMappings"): c["linux"].pop(k)
json.dump(c, open(p, "w"))' "$b/config.json"
    err=$(as_user "${PODMAN[@]}" unshare "$RUNTIME" run -b "$b" rl-limits 2>&1) || rc=$?
    echo "$err"
    [[ $rc != 0 ]] || fail "a pids limit without a cgroup was not refused"
    [[ $err == *"cannot set pids limit: container could not join or create cgroup"* ]] ||
        fail "not runc's refusal: $err"
    [[ ! -e $XDG/$(basename "$RUNTIME")/rl-limits ]] || fail "state left in $XDG"
}

t_pause_refused() {
    local rc=0 err
    pm run -d --name pz "$IMG" sleep 1000 >/dev/null
    err=$(pm pause pz 2>&1) || rc=$?
    echo "$err"
    rm_now pz
    [[ $rc != 0 ]] || fail "pause of a container without a cgroup succeeded"
    [[ $err == *"rootless containers with cgroup V1"* ]] || fail "not podman's refusal: $err"
}

t_runtime_state_clean() {
    local left
    [[ -z $(pm ps -a -q) ]] || fail "podman still lists containers"
    left=$(find "$XDG" -mindepth 2 -maxdepth 2 -path "$XDG/$(basename "$RUNTIME")/*" 2>/dev/null)
    [[ -z $left ]] || fail "runtime state left: $left"
}

scenario run-id-mapped t_run_id_mapped
scenario run-hostname t_run_hostname
scenario exit-status t_exit_status
scenario missing-command-127 t_missing_command
scenario user-readonly t_user_readonly
scenario keep-id t_keep_id
scenario detached-exec-stop-rm t_detached_exec_stop_rm
scenario interactive-tty t_interactive_tty
scenario exec-tty t_exec_tty
scenario top-ps t_top_ps
scenario logs t_logs
scenario signal t_signal
scenario memory-limit t_memory
scenario limits-refused-as-runc t_limits_refused
if ! unified; then scenario pause-refused-v1 t_pause_refused; fi
scenario runtime-state-clean t_runtime_state_clean
teardown
scenario no-leaks t_no_leaks
summary
