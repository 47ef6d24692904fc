#!/bin/bash
# containerd-systemd.sh [NAME=RUNTIME ...] - containerd 1.6's runc shim (io.containerd.runc.v2)
# driving each runtime with SystemdCgroup = true (ctr --runc-systemd-cgroup, cgroupsPath
# "machine.slice:ctr:<id>") and with a cgroupfs path, on a systemd host (run it inside
# tests/vm/run-in-systemd-v2):
#   tests/vm/run-in-systemd-v2 "tests/vm/containerd-systemd.sh" "$PWD"
# Default runtimes: pyrunc=/usr/local/bin/pyrunc, and runc, crun where installed.
# Scenarios per runtime and cgroup mode: run -d --memory-limit 64m (memory.max; with
# systemd the scope's ControlGroup and MemoryMax), task exec (in the container's cgroup),
# task metrics, kill + delete
# (no unit, no cgroup left). A private containerd (CRI off) in /tmp, a busybox rootfs
# (--rootfs, no image). Prints PASS/FAIL, "N passed, N failed" per runtime and in all.
set -u
if [ ! -d /run/systemd/system ]; then
  echo "containerd-systemd.sh: needs systemd as PID 1 (run it in tests/vm/run-in-systemd-v2)" >&2
  exit 2
fi
RUNTIMES=("$@")
if [ ${#RUNTIMES[@]} -eq 0 ]; then
  RUNTIMES=(pyrunc=/usr/local/bin/pyrunc)
  for r in runc crun; do command -v $r >/dev/null && RUNTIMES+=("$r=$(command -v $r)"); done
fi
W=$(mktemp -d /tmp/containerd-systemd.XXXXXX)
CPID=
cleanup() {
  [ -n "$CPID" ] && kill "$CPID" 2>/dev/null && wait "$CPID" 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT
mkdir -p "$W/rootfs/bin" "$W/root" "$W/state"
cp "$(command -v busybox)" "$W/rootfs/bin/busybox"
for c in sh sleep cat true; do ln -s busybox "$W/rootfs/bin/$c"; done
cat >"$W/config.toml" <<EOF
version = 2
root = "$W/root"
state = "$W/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$W/containerd.sock"
EOF
containerd --config "$W/config.toml" >"$W/containerd.log" 2>&1 &
CPID=$!
for _ in $(seq 600); do [ -S "$W/containerd.sock" ] && break; sleep 0.1; done
[ -S "$W/containerd.sock" ] || { echo "containerd did not start"; tail "$W/containerd.log"; exit 1; }
CTR=$(command -v ctr)
ctr() { timeout 120 "$CTR" -a "$W/containerd.sock" -n pyrunc-vm "$@"; }
MEM=$((64 << 20))

check() {  # check NAME CMD...: one scenario
  local name=$1; shift
  if out=$("$@" 2>&1); then echo "PASS $name"; pass=$((pass + 1))
  else echo "FAIL $name"; printf '  %s\n' "$out" | tail -5; fail=$((fail + 1)); fi
}
scope_of() {  # the unit's cgroup: crun puts its init one level below, in <scope>/container
  local p=$1
  while [[ $p != *.scope && $p == /*/* ]]; do p=${p%/*}; done
  echo "$p"
}

run_detached() {
  local flags=(--rootfs --runc-binary "$RT" --memory-limit "$MEM")
  if [ "$MODE" = systemd ]; then flags+=(--runc-systemd-cgroup --cgroup "machine.slice:ctr:$ID")
  else flags+=(--cgroup "/pyrunc-vm-ctr/$ID"); fi
  ctr run -d "${flags[@]}" "$W/rootfs" "$ID" /bin/sleep 300 >/dev/null || return 1
  local pid cg
  pid=$(ctr task ls | awk -v id="$ID" '$1 == id {print $2}')
  cg=$(sed -n 's|^0::||p' "/proc/$pid/cgroup") && echo "$cg" >"$W/cg"
  [ "$(cat "/sys/fs/cgroup$cg/memory.max")" = "$MEM" ] || { echo "memory.max in $cg"; return 1; }
  [ "$MODE" = systemd ] || return 0
  local scope unit
  scope=$(scope_of "$cg") unit=${scope##*/}
  [ "$unit" = "ctr-$ID.scope" ] || { echo "cgroup $cg is not ctr-$ID.scope's"; return 1; }
  [ "$(systemctl show -p ControlGroup --value "$unit")" = "$scope" ] || { echo "no unit $unit"; return 1; }
  [ "$(systemctl show -p MemoryMax --value "$unit")" = "$MEM" ] || { echo "MemoryMax of $unit"; return 1; }
}
exec_joins_the_cgroup() {  # ctr's spec has no cgroup namespace: the full path, or "/" with one
  local got; got=$(ctr task exec --exec-id e1 "$ID" /bin/cat /proc/self/cgroup) || return 1
  echo "$got"; [ "$got" = "0::$(cat "$W/cg")" ] || [ "$got" = "0::/" ]
}
metrics_ok() { ctr task metrics "$ID" | grep -q "$MEM"; }
kill_delete_leaves_nothing() {
  ctr task kill -s KILL "$ID" >/dev/null || return 1
  for _ in $(seq 100); do ctr task ls | grep -q "^$ID .*STOPPED" && break; sleep 0.1; done
  ctr task delete "$ID" >/dev/null && ctr container delete "$ID" >/dev/null || return 1
  local cg; cg=$(cat "$W/cg")
  [ ! -d "/sys/fs/cgroup$cg" ] || { echo "cgroup $cg left"; return 1; }
  [ "$MODE" != systemd ] || [ "$(systemctl show -p LoadState --value "ctr-$ID.scope")" = not-found ]
}

TOTAL_PASS=0 TOTAL_FAIL=0 n=0
for spec in "${RUNTIMES[@]}"; do
  NAME=${spec%%=*} RT=${spec#*=}
  pass=0 fail=0
  for MODE in systemd cgroupfs; do
    n=$((n + 1)) ID=c$n-$NAME
    check "$NAME/$MODE run -d --memory-limit 64m" run_detached
    check "$NAME/$MODE task exec" exec_joins_the_cgroup
    check "$NAME/$MODE task metrics" metrics_ok
    check "$NAME/$MODE kill+delete" kill_delete_leaves_nothing
    ctr task kill -s KILL "$ID" >/dev/null 2>&1; ctr task delete "$ID" >/dev/null 2>&1
    ctr container delete "$ID" >/dev/null 2>&1
  done
  rmdir /sys/fs/cgroup/pyrunc-vm-ctr 2>/dev/null
  echo "$NAME: $pass passed, $fail failed"
  TOTAL_PASS=$((TOTAL_PASS + pass)) TOTAL_FAIL=$((TOTAL_FAIL + fail))
done
echo "$TOTAL_PASS passed, $TOTAL_FAIL failed"
[ "$TOTAL_FAIL" -eq 0 ]
