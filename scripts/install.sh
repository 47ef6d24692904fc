#!/usr/bin/env bash
# Installs what pyrunc needs on a fresh Debian machine (as root): busybox-static for the
# demo/test bundles, libcap-dev for python-prctl, runc for side-by-side tests, and pyrunc.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for pkg in busybox-static libcap-dev libseccomp2 runc; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
python3 -m pip install -q --disable-pip-version-check -e ".${1:-}" 2>&1 | grep -v -E "^WARNING|^$" || true
python3 -c "import pyrunc.cli.main" || { echo "pyrunc failed to install" >&2; exit 1; }
