"""Fixtures: a busybox rootfs built once, a bundle and a private state root per test,
and a leak check after every test (mounts, cgroups, processes, state dirs, fds)."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest

from tests.helpers import Bundle, Runtime, fresh_config, reap_zombies

# Every container a test makes has an id with this prefix, so leaks can be told apart
# from what else the host runs.
ID_PREFIX = f"pyt-{os.getpid()}-"
CGROUP_MARKERS = (ID_PREFIX, f"pyrunc-test-{os.getpid()}")
_counter = itertools.count()


def pytest_configure(config: pytest.Config) -> None:
    if os.geteuid() != 0:
        raise pytest.UsageError("the pyrunc test suite runs real containers: run it as root")
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
    root = os.path.join("/run", f"pyrunc-test-{os.getpid()}")
    yield root
    if os.path.isdir(root) and not os.listdir(root):
        os.rmdir(root)


@pytest.fixture
def runtime(state_root: str) -> Runtime:
    return Runtime(state_root)


# -- leak check ------------------------------------------------------------------------

def _mounts(marker: str) -> set[str]:
    with open("/proc/self/mountinfo") as f:
        return {line.split()[4] for line in f if marker in line}


def _cgroups() -> set[str]:
    found = set()
    for hierarchy in os.listdir("/sys/fs/cgroup"):
        top = os.path.join("/sys/fs/cgroup", hierarchy)
        for dirpath, dirnames, _ in os.walk(top):
            for d in dirnames:
                if any(m in d for m in CGROUP_MARKERS):
                    found.add(os.path.join(dirpath, d))
    return found


def _processes_rooted_in(prefix: str) -> set[int]:
    pids = set()
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                root = os.readlink(f"/proc/{name}/root")
                cmd = open(f"/proc/{name}/cmdline", "rb").read()
            except OSError:
                continue
            if root.startswith(prefix) or prefix.encode() in cmd:
                pids.add(int(name))
    return pids


def _children() -> set[int]:
    me = str(os.getpid())
    kids = set()
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                stat = open(f"/proc/{name}/stat").read()
            except OSError:
                continue
            if stat[stat.rindex(")") + 2:].split()[1] == me:
                kids.add(int(name))
    return kids


def _fds() -> set[int]:
    return {int(x) for x in os.listdir("/proc/self/fd")}


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
    before = (_mounts(workdir), _cgroups(), _processes_rooted_in(workdir), _children(), _fds())
    yield
    reap_zombies()
    after = (_mounts(workdir), _cgroups(), _processes_rooted_in(workdir), _children(), _fds())
    leftovers = os.listdir(state_root) if os.path.isdir(state_root) else []
    names = ("mounts", "cgroups", "processes", "child processes", "fds")
    leaks = {n: sorted(a - b) for n, b, a in zip(names, before, after, strict=True) if a - b}
    if leftovers:
        leaks["state dirs"] = leftovers
    if leaks:
        _clean_up(state_root, leftovers)
    assert not leaks, f"test left behind: {leaks}"


def _clean_up(state_root: str, ids: list[str]) -> None:
    rt = Runtime(state_root)
    for cid in ids:
        rt("delete", "--force", cid)
    shutil.rmtree(state_root, ignore_errors=True)
