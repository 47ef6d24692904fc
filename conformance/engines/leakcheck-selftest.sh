#!/usr/bin/env bash
# leakcheck-selftest.sh [RUNTIME]: shows that the engine suites' leak check
# (lib.sh: snapshot, setup_done, leaks) tells an engine's one-time set-up from
# a leak. It plays an engine's set-up (an engine-wide path made on first use),
# which must not count, then plants real leaks: a container left running by a
# runtime call (its process and cgroup), a mount, a network namespace and a
# process naming the run's work dir, each of which must be reported.
# Prints one line per check, "N passed, N failed", and exits 1 on a failure.
set -euo pipefail
ENGINE=leakcheck-selftest
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
engines_lock "$@"
engines_init "$@"

SETUP_PATH=/run/engines-selftest-$$ # stands for /var/lib/containers/cache & co
ENGINE_WIDE_PATHS+=("$SETUP_PATH")
NETNS=engines-selftest-$$
STATE=$WORK/state
CID=selftest-$$
NETNS_DIR_MOUNTED=$(findmnt -rn -o TARGET /run/netns || true)

remove_planted() {
    "$RUNTIME" --root "$STATE" delete --force "$CID" >/dev/null 2>&1 || true
    umount "$WORK/mnt" 2>/dev/null || true
    ip netns delete "$NETNS" 2>/dev/null || true
    # `ip netns add` mounts /run/netns on itself on first use: undo that too.
    [[ -n $NETNS_DIR_MOUNTED ]] || umount /run/netns 2>/dev/null || true
    kill_matching "$WORK"
    rm_cgroups "/$TAG"
    rm -rf "$SETUP_PATH"
}
on_exit remove_planted

check() { # check NAME EXPECTED-LINE-PATTERN (grep -E; empty: no leak at all)
    local name=$1 pattern=$2 found
    found=$(leaks)
    if [[ -z $pattern && -z $found ]] || [[ -n $pattern ]] && grep -qE -- "$pattern" <<<"$found"; then
        PASSED=$((PASSED + 1))
        echo "PASS $name"
    else
        FAILED=$((FAILED + 1))
        echo "FAIL $name: leaks() gave: $(tr '\n' ';' <<<"$found")"
    fi
}

BEFORE=$(snapshot)
mkdir "$SETUP_PATH" # the engine's first use on this machine
setup_done
check "set-up is not a leak" ""

# A container a runtime call left behind: running, its cgroup below the run's.
mkdir -p "$WORK/bundle/rootfs"
tar -C "$WORK/bundle/rootfs" -xf <(make_rootfs_tar /dev/stdout)
"$RUNTIME" spec --bundle "$WORK/bundle" >/dev/null
python3 - "$WORK/bundle/config.json" "/$TAG/$CID" <<'EOF'
import json, sys
path, cgroup = sys.argv[1:]
with open(path) as f:
    cfg = json.load(f)
cfg["process"].update(args=["sleep", "1000"], terminal=False)
cfg["linux"]["cgroupsPath"] = cgroup
with open(path, "w") as f:
    json.dump(cfg, f)
EOF
"$RUNTIME" --root "$STATE" run --detach --bundle "$WORK/bundle" "$CID" </dev/null >/dev/null
check "a container's cgroup is a leak" "^cgroup .*/$TAG/$CID\$"

mkdir "$WORK/mnt"
mount -t tmpfs selftest "$WORK/mnt"
check "a mount is a leak" "^mount $WORK/mnt\$"

ip netns add "$NETNS"
check "a network namespace is a leak" "^netns $NETNS"

(exec -a "$WORK/leaked-daemon" sleep 1000) </dev/null >/dev/null 2>&1 &
sleep 0.2
check "a process naming the run is a leak" "^proc .*$WORK/leaked-daemon"

remove_planted
check "nothing once removed" ""
echo "$PASSED passed, $FAILED failed"
((FAILED == 0))
