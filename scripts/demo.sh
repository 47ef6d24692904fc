#!/usr/bin/env bash
# Installs pyrunc, builds a busybox bundle and runs one container that shows it is PID 1,
# has its own hostname, and lives under a cgroup memory and pids limit that are enforced.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install.sh
pyrunc() { /usr/local/bin/pyrunc "$@"; }  # the launcher install.sh wrote
work=$(mktemp -d /tmp/pyrunc-demo.XXXXXX)
trap 'pyrunc delete --force pyrunc-demo >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
python3 tools/busybox_bundle.py "$work/bundle" --hostname demo-box --memory 33554432 \
  --pids 16 -- sh -c '
echo "inside: my pid is $$"
echo "inside: hostname is $(hostname)"
echo "inside: cgroup limits: memory $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes) bytes, pids $(cat /sys/fs/cgroup/pids/pids.max)"
sh -c "i=0; while true; do sleep 1 & i=\$((i+1)); echo \$i > /dev/shm/n; done" 2>/dev/null
read n < /dev/shm/n
echo "inside: forked $n sleeps, then the pids limit refused the next fork"
while ! sleep 1 2>/dev/null; do :; done
# The buffering pipeline volunteers as the OOM victim (raising oom_score_adj needs no
# capability), so the kernel never picks the shell that reports the result.
( echo 1000 > /proc/self/oom_score_adj; head -c 64m /dev/zero | tail >/dev/null ) 2>/dev/null
echo "inside: buffering 64 MiB under a 32 MiB limit ended with status $? (137 = OOM-killed)"
' >/dev/null
echo "host: hostname is $(hostname)"
echo "host: running: pyrunc run --bundle $work/bundle pyrunc-demo"
status=0
pyrunc run --bundle "$work/bundle" pyrunc-demo || status=$?
echo "host: container exited with status $status; afterwards: $(pyrunc state pyrunc-demo 2>&1 | sed 's/.*msg=//')"
