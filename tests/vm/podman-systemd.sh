#!/bin/bash
# podman-systemd.sh [NAME=RUNTIME ...] - podman driving each runtime with
# cgroup_manager = "systemd" and = "cgroupfs", on a systemd host (run it inside
# tests/vm/run-in-systemd-v2: systemd PID 1, system D-Bus, pure cgroup v2):
#   tests/vm/run-in-systemd-v2 "tests/vm/podman-systemd.sh" "$PWD"
# Default runtimes: pyrunc=/usr/local/bin/pyrunc, and runc, crun where installed.
# Scenarios per runtime and manager: run --rm; run -d --memory 64m (the kernel's
# memory.max, and with systemd the scope's MemoryMax and ControlGroup); exec; stats;
# stop + rm (no unit, no cgroup left). Prints PASS/FAIL per scenario, then per runtime
# and in all "N passed, N failed"; exit 1 if any failed. crun 1.8 fails the MemoryMax check
# by design: it keeps its init and limits in <scope>/container, not on the unit. Podman's state lives in a
# private dir under /tmp (a tmpfs in the VM); the image is busybox imported (no registry).
set -u
if [ ! -d /run/systemd/system ]; then
  echo "podman-systemd.sh: needs systemd as PID 1 (run it in tests/vm/run-in-systemd-v2)" >&2
  exit 2
fi
RUNTIMES=("$@")
if [ ${#RUNTIMES[@]} -eq 0 ]; then
  RUNTIMES=(pyrunc=/usr/local/bin/pyrunc)
  for r in runc crun; do command -v $r >/dev/null && RUNTIMES+=("$r=$(command -v $r)"); done
fi
TOTAL_PASS=0 TOTAL_FAIL=0
W=$(mktemp -d /tmp/podman-systemd.XXXXXX)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/rootfs/bin"
cp "$(command -v busybox)" "$W/rootfs/bin/busybox"
for c in sh sleep cat true; do ln -s busybox "$W/rootfs/bin/$c"; done
tar -C "$W/rootfs" -cf "$W/rootfs.tar" .
IMG=localhost/podman-systemd-busybox:latest
MEM=$((64 << 20))

conf() {  # conf NAME PATH MANAGER: a private podman set-up for one runtime and manager
  local d=$W/$1-$3
  mkdir -p "$d"/{root,runroot,tmp}
  cat >"$d/containers.conf" <<EOF
[containers]
netns = "none"
log_driver = "k8s-file"
[engine]
runtime = "$1"
runtime_supports_json = ["$1"]
cgroup_manager = "$3"
events_logger = "file"
events_logfile_path = "$d/events.log"
tmp_dir = "$d/tmp"
static_dir = "$d/root/libpod"
[engine.runtimes]
$1 = ["$2"]
EOF
  cat >"$d/storage.conf" <<EOF
[storage]
driver = "overlay"
runroot = "$d/runroot"
graphroot = "$d/root"
EOF
  export CONTAINERS_CONF=$d/containers.conf CONTAINERS_STORAGE_CONF=$d/storage.conf
}

pass=0 fail=0
check() {  # check NAME CMD...: one scenario
  local name=$1; shift
  if out=$("$@" 2>&1); then echo "PASS $name"; pass=$((pass + 1))
  else echo "FAIL $name"; printf '  %s\n' "$out" | tail -5; fail=$((fail + 1)); fi
}
bounded() { timeout 120 podman "$@"; }
cgroup_of() { sed -n 's|^0::||p' "/proc/$1/cgroup"; }
scope_of() {  # the unit's cgroup: crun puts its init one level below, in <scope>/container
  local p=$1
  while [[ $p != *.scope && $p == /*/* ]]; do p=${p%/*}; done
  echo "$p"
}

run_detached() {  # a container with --memory 64m; the kernel's (and systemd's) view
  bounded run -d --name c1 --memory "$MEM" "$IMG" sleep 300 >/dev/null || return 1
  local pid cg
  pid=$(bounded inspect -f '{{.State.Pid}}' c1) && cg=$(cgroup_of "$pid") || return 1
  echo "$cg" >"$W/cg"
  [ "$(cat "/sys/fs/cgroup$cg/memory.max")" = "$MEM" ] || { echo "memory.max in $cg"; return 1; }
  [ "$MGR" = systemd ] || return 0
  local scope unit
  scope=$(scope_of "$cg") unit=${scope##*/}
  [ "$(systemctl show -p ControlGroup --value "$unit")" = "$scope" ] || { echo "no unit $unit"; return 1; }
  [ "$(systemctl show -p MemoryMax --value "$unit")" = "$MEM" ] || { echo "MemoryMax of $unit"; return 1; }
}
exec_sees_limit() { [ "$(bounded exec c1 cat /sys/fs/cgroup/memory.max)" = "$MEM" ]; }
stats_ok() {  # the limit as podman reads it back from the runtime's cgroup
  local s; s=$(bounded stats --no-stream --format '{{.MemUsage}}' c1) && echo "$s" && [[ $s == *'/ 67.11MB'* ]]
}
stop_rm_leaves_nothing() {
  bounded stop -t 1 c1 >/dev/null && bounded rm c1 >/dev/null || return 1
  local cg; cg=$(cat "$W/cg")
  [ ! -d "/sys/fs/cgroup$cg" ] || { echo "cgroup $cg left"; return 1; }
  local scope; scope=$(scope_of "$cg")
  [ "$MGR" != systemd ] || [ "$(systemctl show -p LoadState --value "${scope##*/}")" = not-found ]
}

for spec in "${RUNTIMES[@]}"; do
  NAME=${spec%%=*} RT=${spec#*=}
  pass=0 fail=0
  for MGR in systemd cgroupfs; do
    conf "$NAME" "$RT" "$MGR"
    bounded import "$W/rootfs.tar" "$IMG" >/dev/null 2>&1 || { echo "FAIL $NAME/$MGR: image import"; fail=$((fail + 1)); continue; }
    check "$NAME/$MGR run --rm" bounded run --rm "$IMG" true
    check "$NAME/$MGR run -d --memory 64m" run_detached
    check "$NAME/$MGR exec" exec_sees_limit
    check "$NAME/$MGR stats" stats_ok
    check "$NAME/$MGR stop+rm" stop_rm_leaves_nothing
    bounded rm -f -a >/dev/null 2>&1
  done
  echo "$NAME: $pass passed, $fail failed"
  TOTAL_PASS=$((TOTAL_PASS + pass)) TOTAL_FAIL=$((TOTAL_FAIL + fail))
done
echo "$TOTAL_PASS passed, $TOTAL_FAIL failed"
[ "$TOTAL_FAIL" -eq 0 ]
