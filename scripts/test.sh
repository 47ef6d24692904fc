#!/usr/bin/env bash
# Installs pyrunc with its test extras and runs the whole suite (as root: tests run real
# containers). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install.sh "[test]"
exec python3 -m pytest -q -p no:cacheprovider "$@"
