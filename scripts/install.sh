#!/usr/bin/env bash
# Installs what pyrunc needs on a fresh Debian machine (as root): busybox-static for the
# demo/test bundles, libcap-dev for python-prctl, runc for side-by-side tests, lxcfs for
# the /proc view (--procfs-view), criu for checkpoint/restore, qemu for the cgroup v2 VM,
# and pyrunc.
set -euo pipefail
cd "$(dirname "$0")/.."
# Another apt (an unattended upgrade, a user's install) may hold dpkg's lock: wait for
# it rather than fail the set-up.
apt=(apt-get -o DPkg::Lock::Timeout=600)
need=()
for pkg in busybox-static libcap-dev libseccomp2 runc lxcfs criu; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  "${apt[@]}" update -qq
  DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y -qq "${need[@]}" >/dev/null
fi
# qemu for the cgroup v2 leg of scripts/test.sh (a throw-away pure-v2 VM); its GUI
# recommends are not needed.
if ! dpkg -s qemu-system-x86 >/dev/null 2>&1; then
  "${apt[@]}" update -qq
  DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y -qq --no-install-recommends \
    qemu-system-x86 >/dev/null
fi
python3 -m pip install -q --disable-pip-version-check -e ".${1:-}" 2>&1 | grep -v -E "^WARNING|^$" || true
python3 -c "import pyrunc.cli.main" || { echo "pyrunc failed to install" >&2; exit 1; }
# The fast launcher (python -IS, no site start-up): the path to give engines.
python3 -m pyrunc.launcher /usr/local/bin/pyrunc >/dev/null
