"""Unit tests: pure logic, no container, no root.

`python3 -m pytest tests/unit` runs as an ordinary user: tests/conftest.py refuses a
run without root only when it collected container tests. A unit test that does need
root for real (it reads a root-only file, or writes under /sys/fs/cgroup or /run)
says so with `@pytest.mark.needs_root`, and is then skipped, with that reason, when
not run as root. Unit tests ask for none of the container fixtures (runtime, bundle,
busybox_rootfs, state_root, workdir).
"""

from __future__ import annotations

import os

import pytest

NEEDS_ROOT_REASON = "needs root (run as root to include it)"


def pytest_configure(config: pytest.Config) -> None:
    # Registered here rather than in pyproject.toml: it only means something for the
    # unit tests, the container tests need root as a whole.
    config.addinivalue_line(
        "markers", "needs_root: a unit test that needs root; skipped without it"
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    # pytest calls this conftest's runtest hooks only for tests below tests/unit/.
    marker = item.get_closest_marker("needs_root")
    if marker is not None and os.geteuid() != 0:
        why = marker.args[0] if marker.args else ""
        pytest.skip(f"{NEEDS_ROOT_REASON}: {why}" if why else NEEDS_ROOT_REASON)
