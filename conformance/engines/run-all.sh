#!/bin/bash
# run-all.sh [RUNTIME] - the podman, rootless podman, containerd and docker suites against
# RUNTIME (default: the installed pyrunc; "runc", "crun" or a path also work),
# one engine after another (never at once: podman's shm lock and
# /run/containerd are host-wide).
#
# ENGINES: which suites, default "podman podman-rootless containerd docker".
# ENGINE_TIMEOUT: seconds per engine suite (default 300), then TERM (the
# suite's trap still stops its daemon and removes its temp dir).
# ENGINES_LOG_DIR: keep each suite's full scenario output there.
# Prints each suite's PASS/FAIL lines prefixed with the engine, one summary
# line per engine with its time, and a total; exits 1 if anything failed.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# One engine suite at a time on the host (see engines_lock in lib.sh): hold
# the lock for the whole run; the suites see ENGINES_LOCKED and do not wait.
# shellcheck source=lib.sh
ENGINE=run-all source "$here/lib.sh"
engines_lock "$@"
runtime=${1:-}
engines=${ENGINES:-podman podman-rootless containerd docker}
per_engine=${ENGINE_TIMEOUT:-300}
total_pass=0
total_fail=0
summaries=()
start_all=$SECONDS
child=

on_signal() {
    [[ -z $child ]] || kill -TERM "$child" 2>/dev/null || true
    [[ -z $child ]] || wait "$child" 2>/dev/null || true
    exit 130
}
trap on_signal INT TERM

for e in $engines; do
    start=$SECONDS
    out=$(mktemp "${TMPDIR:-/tmp}/engines-run-all.XXXXXX")
    rc=0
    timeout -k 30 "$per_engine" "$here/$e.sh" ${runtime:+"$runtime"} >"$out" 2>"$out.err" &
    child=$!
    wait "$child" || rc=$?
    child=
    sed "s/^/$e: /" "$out"
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -1 || true)
    if [[ -z $line ]]; then
        echo "$e: FAIL suite: exit $rc before its summary; last stderr lines:"
        tail -n 5 "$out.err" | sed "s/^/$e:     /"
        p=$(grep -c '^PASS ' "$out" || true)
        f=$(($(grep -c '^FAIL ' "$out" || true) + 1))
    else
        p=${line%% passed*}
        f=${line#*passed, }
        f=${f%% failed}
    fi
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
    summaries+=("$(printf '%-10s %3d passed, %3d failed  %4ds' "$e" "$p" "$f" $((SECONDS - start)))")
    rm -f "$out" "$out.err"
done

echo "---"
printf '%s\n' "${summaries[@]}"
echo "total: $total_pass passed, $total_fail failed in $((SECONDS - start_all))s"
((total_fail == 0))
