"""Fixtures: a busybox rootfs built once, a bundle and a private state root per test,
and a leak check after every test (mounts, cgroups, processes, state dirs, fds,
namespaces: tests/leakcheck.py).

Container tests need root; the unit tests in tests/unit/ do not. The fixtures here are
only made when a test asks for them, and the root check and the subreaper apply once
container tests are collected (pytest_collection_finish).
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Container-side stages fail loudly if they import after leaving the host
# (pyrunc/process/importguard.py). Set before tests.helpers copies the environment.
os.environ["PYRUNC_IMPORT_GUARD"] = "1"

from tests import host  # noqa: E402
from tests.helpers import Bundle, Runtime, fresh_config  # noqa: E402
from tests.leakcheck import ID_PREFIX, STATE_MARKER, LeakCheck, reference_root  # noqa: E402

CGROUP_MARKERS = (ID_PREFIX, STATE_MARKER)
_counter = itertools.count()


UNIT_DIR = Path(__file__).parent / "unit"


def is_unit_test(item: pytest.Item) -> bool:
    """tests/unit/ holds pure unit tests: no container, no root (tests/unit/conftest.py)."""
    return item.path.is_relative_to(UNIT_DIR)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Container tests need root and a subreaper; unit tests need neither.

    Checked on what was collected (after -k and deselection), not at start-up, so that
    `pytest tests/unit` runs as an ordinary user while any run that would make
    containers is refused as a whole, before its first test.
    """
    container_tests = [item for item in session.items if not is_unit_test(item)]
    if not container_tests:
        return
    if os.geteuid() != 0:
        raise pytest.UsageError(
            "the pyrunc test suite runs real containers: run it as root "
            f"({len(container_tests)} container tests collected, e.g. "
            f"{container_tests[0].nodeid}; only tests/unit runs without root)"
        )
    # Like conmon and containerd's shim: container inits whose runtime exited become
    # our children, so they can be reaped and counted.
    from pyrunc.linux.syscalls import set_child_subreaper

    set_child_subreaper(True)


@pytest.fixture(scope="session")
def workdir() -> Iterator[str]:
    d = tempfile.mkdtemp(prefix="pyrunc-tests-", dir="/tmp")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def busybox_rootfs(workdir: str) -> str:
    from tools.busybox_bundle import make_rootfs

    return make_rootfs(os.path.join(workdir, "rootfs-template"))


@pytest.fixture
def cid() -> str:
    return f"{ID_PREFIX}{next(_counter)}"


@pytest.fixture
def bundle(workdir: str, busybox_rootfs: str, cid: str) -> Bundle:
    path = os.path.join(workdir, cid)
    os.makedirs(path)
    shutil.copytree(busybox_rootfs, os.path.join(path, "rootfs"), symlinks=True)
    return Bundle(path, fresh_config(["true"])).save()


@pytest.fixture(scope="session")
def state_root() -> Iterator[str]:
    root = os.path.join("/run", STATE_MARKER)
    yield root
    if os.path.isdir(root) and not os.listdir(root):
        os.rmdir(root)


@pytest.fixture
def runtime(state_root: str) -> Runtime:
    return Runtime(state_root)


@pytest.fixture
def runc(state_root: str) -> Iterator[Runtime]:
    """The host's runc, for side-by-side tests, with its own state root beside ours.

    A runc call that failed or was killed (a timeout, a pty closed on it) leaves its
    container's state dir, and a running init, in that root: every one is force-deleted
    here and the test fails for it; the leak check then finds the root empty or says what
    is still there.
    """
    binary = host.runc_binary()
    if binary is None:
        pytest.skip("runc is not installed (scripts/install.sh installs it): nothing to compare")
    root = reference_root(state_root)
    yield Runtime(root, [binary])
    left = sorted(os.listdir(root)) if os.path.isdir(root) else []
    _clean_up(Runtime(root, [binary]), left)
    assert not left, f"runc containers left in {root}: {left}"


# -- leak check (tests/leakcheck.py) ------------------------------------------------------


@pytest.fixture(autouse=True)
def leak_check(request: pytest.FixtureRequest) -> Iterator[None]:
    """Whatever a test did, the host must be as it was (cf. DEVELOPERS.md).

    Only tests that drive a runtime can leak; pure unit tests skip the snapshot.
    """
    if "runtime" not in request.fixturenames and "bundle" not in request.fixturenames:
        yield
        return
    workdir = request.getfixturevalue("workdir")
    state_root = request.getfixturevalue("state_root")
    check = LeakCheck.for_run(workdir, state_root)
    yield
    leaks = check.leaks()
    if leaks:
        runc = host.runc_binary()
        reference = [Runtime(reference_root(state_root), [runc])] if runc else []
        for rt in (Runtime(state_root), *reference):
            _clean_up(rt, sorted(os.listdir(rt.root)) if os.path.isdir(rt.root) else [])
    assert not leaks, f"test left behind: {leaks}"


def _clean_up(rt: Runtime, ids: list[str]) -> None:
    """Force-delete ids from rt's state root, then remove the root."""
    for cid in ids:
        rt("delete", "--force", cid)
    shutil.rmtree(rt.root, ignore_errors=True)
