"""The engine suites' leak check tells an engine's one-time set-up from a leak.

conformance/engines/leakcheck-selftest.sh plays an engine's first use on a machine (an
engine-wide path such as podman's /var/lib/containers/cache, which must not count), then
plants real leaks: a container left running by a pyrunc call, a mount, a network
namespace, a process naming the run. Each must be reported, and nothing once removed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tests.helpers import REPO, TREE_ENV

SELFTEST = os.path.join(REPO, "conformance", "engines", "leakcheck-selftest.sh")


@pytest.mark.skipif(shutil.which("ip") is None, reason="needs iproute2's ip for the netns")
def test_planted_leaks_are_reported_and_setup_is_not(workdir: str) -> None:
    runtime = os.path.join(workdir, "pyrunc-tree")  # this tree's CLI, as one executable
    with open(runtime, "w") as f:
        f.write(f'#!/bin/sh\nexec {sys.executable} -m pyrunc "$@"\n')
    os.chmod(runtime, 0o755)
    p = subprocess.run(["bash", SELFTEST, runtime], env=TREE_ENV, capture_output=True,
                       text=True, timeout=180, stdin=subprocess.DEVNULL)  # fmt: skip
    lines = p.stdout.splitlines()
    assert p.returncode == 0 and lines[-1] == "6 passed, 0 failed", p.stdout + p.stderr
    assert [ln.split()[0] for ln in lines[:-1]] == ["PASS"] * 6, p.stdout
