"""Who may run what: tests/unit without root, container tests only as root.

The root check lives in tests/conftest.py (pytest_collection_finish) and looks at what
was collected. These tests run pytest --collect-only in a child whose os.geteuid is
made to answer a chosen uid, so they check the gate both ways whoever runs them.
The real thing, a fresh user running the unit tests, is the command in README.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]
UNIT_CONFTEST = Path(__file__).with_name("conftest.py")
# A pytest whose process believes it runs as the uid in $AS_UID.
AS_UID = (
    "import os, sys, pytest; uid = int(os.environ['AS_UID']); os.geteuid = lambda: uid; "
    "sys.exit(pytest.main())"
)


def collect(uid: int, *paths: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", AS_UID, "-p", "no:cacheprovider", "--collect-only", "-q", *paths],
        cwd=REPO,
        env={**os.environ, "AS_UID": str(uid)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_unit_tests_are_collected_without_root() -> None:
    r = collect(1000, "tests/unit")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "tests/unit/test_root_gate.py::test_unit_tests_are_collected_without_root" in r.stdout


def test_container_tests_are_refused_without_root() -> None:
    r = collect(1000, "tests/unit", "tests/test_errors.py")
    assert r.returncode == pytest.ExitCode.USAGE_ERROR, r.stdout + r.stderr
    assert "runs real containers: run it as root" in r.stderr
    assert "e.g. tests/test_errors.py::" in r.stderr
    assert "only tests/unit runs without root" in r.stderr


def test_container_tests_deselected_are_not_refused() -> None:
    # The check counts what is left after -k, so `-k` down to unit tests runs.
    r = collect(1000, "tests/unit/test_root_gate.py", "tests/test_errors.py", "-k", "root_gate")
    assert r.returncode == 0, r.stdout + r.stderr


def test_root_collects_container_tests() -> None:
    r = collect(0, "tests/test_errors.py")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "tests/test_errors.py::" in r.stdout


@pytest.mark.parametrize(("uid", "outcome"), [(1000, "skipped"), (0, "passed")])
def test_needs_root_marker_skips_without_root_with_its_reason(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, uid: int, outcome: str
) -> None:
    pytester.makeconftest(UNIT_CONFTEST.read_text())
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.needs_root("writes /sys/fs/cgroup")
        def test_writes_cgroupfs():
            pass
        """
    )
    monkeypatch.setattr(os, "geteuid", lambda: uid)
    result = pytester.runpytest("-rs", "-p", "no:cacheprovider")
    result.assert_outcomes(**{outcome: 1})
    if outcome == "skipped":
        result.stdout.fnmatch_lines(
            ["*needs root (run as root to include it): writes /sys/fs/cgroup*"]
        )
