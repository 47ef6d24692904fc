#!/bin/bash
# v2-host-suite.sh [pytest|engines|all] - cgroup v2 as a first-class host: in one boot of
# the systemd-booted pure-v2 VM (systemd PID 1, system D-Bus), the pytest tests whose
# answers depend on the cgroup version or manager, then the engine scripts:
#   SDVM_TIMEOUT=1320 V2VM_ENV=PYRUNC_REQUIRE_SYSTEMD PYRUNC_REQUIRE_SYSTEMD=1 \
#     tests/vm/run-in-systemd-v2 "tests/vm/v2-host-suite.sh" "$PWD"
# pytest (pyrunc): test_cgroups_v2.py, test_systemd_cgroup.py, test_cgroups.py (pause and
# resume through cgroup.freeze, events/OOM, eBPF devices, update, resources), and the
# cgroup-touching parts of test_lifecycle.py and test_exec.py (LIFECYCLE_K, EXEC_K).
# engines (pyrunc, runc, crun): tests/vm/podman-systemd.sh, tests/vm/containerd-systemd.sh.
# Prints each part's exit code last; exit 1 if any part failed.
set -u
cd "$(dirname "$0")/../.."
WHAT=${1:-all}
PYTEST=(env PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 python3 -m pytest -p no:cacheprovider -v -rfEs --durations=15)
LIFECYCLE_K="create_start_kill_delete or run_exit_status or no_process_may_be_created or created_container_dies or kill_KILL_without or host_pidns_exec or delete_created"
EXEC_K="joins_every_namespace_and_the_cgroup or exec_into_stopped or foreground_exec_forwards or cpu_affinity or init_does_not_inherit"
declare -A RC
run_part() {  # NAME COMMAND...: runs it, records its exit code
  local name=$1 start=$SECONDS
  shift
  echo "=== $name: $*"
  "$@"
  RC[$name]=$?
  echo "=== $name: exit ${RC[$name]} after $((SECONDS - start)) s"
}
if [ "$WHAT" = pytest ] || [ "$WHAT" = all ]; then
  run_part cgroups "${PYTEST[@]}" tests/test_cgroups_v2.py tests/test_systemd_cgroup.py tests/test_cgroups.py
  run_part lifecycle-exec "${PYTEST[@]}" tests/test_lifecycle.py tests/test_exec.py -k "$LIFECYCLE_K or $EXEC_K"
fi
if [ "$WHAT" = engines ] || [ "$WHAT" = all ]; then
  run_part podman tests/vm/podman-systemd.sh
  run_part containerd tests/vm/containerd-systemd.sh
fi
status=0
for name in "${!RC[@]}"; do
  echo "v2-host-suite: $name exit ${RC[$name]}"
  [ "${RC[$name]}" -eq 0 ] || status=1
done
exit $status
