"""How a new process joins its cgroups without the kernel's migration wait
(pyrunc/cgroups/placement.py): born in its cgroup v2 directory by clone3, moving itself
into v1 hierarchies by `tasks`, and the runtime's by-pid fallback for the rest.

Each test forks a real child and reads where it is from the kernel (/proc/PID/cgroup).
"""

from __future__ import annotations

import os
import select
import signal
import uuid

import pytest

from pyrunc.cgroups import placement
from pyrunc.cgroups.placement import Placement
from pyrunc.errors import CgroupError
from tests import host
from tests.helpers import Bundle, Runtime, created

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="makes cgroups: needs root")


@pytest.fixture
def make_cgroup():
    made: list[str] = []

    def make(mountpoint: str) -> str:
        path = os.path.join(mountpoint, f"pyrunc-test-placement-{uuid.uuid4().hex[:8]}")
        os.mkdir(path)
        made.append(path)
        return path

    yield make
    for path in reversed(made):
        os.rmdir(path)  # the children have exited: empty again


def _cgroups_of(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/cgroup") as f:
        return {key: path for _, key, path in (line.rstrip("\n").split(":", 2) for line in f)}


def _spawn(plan: Placement | None) -> tuple[int, bool, list[str], int]:
    """A child placed by plan that reports what move_self left, then waits for a byte
    (while the parent looks at it) before it exits: (pid, born, left, go_fd)."""
    report_r, report_w = os.pipe()
    go_r, go_w = os.pipe()
    pid, born = placement.fork(plan)
    if pid == 0:
        try:
            left = placement.move_self(plan, born) if plan is not None else []
            os.write(report_w, "\n".join(left).encode() + b"\0")
            os.read(go_r, 1)
        finally:
            os._exit(0)
    os.close(report_w)
    os.close(go_r)
    data = b""
    while not data.endswith(b"\0"):
        ready, _, _ = select.select([report_r], [], [], 30)  # bounded: never hang the suite
        assert ready, "the placed child did not report within 30 s"
        chunk = os.read(report_r, 4096)
        assert chunk, "the placed child died before it reported"
        data += chunk
    os.close(report_r)
    text = data[:-1].decode()
    return pid, born, text.split("\n") if text else [], go_w


def _release(pid: int, go_fd: int) -> None:
    os.write(go_fd, b"x")
    os.close(go_fd)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def _relative(mountpoint: str, path: str) -> str:
    return "/" + os.path.relpath(path, mountpoint)


def _v1_pids_mount() -> str:
    mountpoint = host.v1_mountpoint("pids")
    if mountpoint is None:
        pytest.skip("no cgroup v1 pids hierarchy on this host")
    return mountpoint


def test_born_in_its_cgroup2_directory(make_cgroup) -> None:
    mountpoint = host.cgroup2_mountpoint()
    if mountpoint is None or not host.kernel_at_least(5, 7):
        pytest.skip("clone3's CLONE_INTO_CGROUP needs a cgroup2 mount and Linux 5.7")
    target = make_cgroup(mountpoint)
    pid, born, left, go = _spawn(Placement(target, ()))
    try:
        assert born, "clone3 with CLONE_INTO_CGROUP was refused"
        assert left == []
        assert _cgroups_of(pid)[""] == _relative(mountpoint, target)
    finally:
        _release(pid, go)


def test_moves_itself_into_v1_hierarchies(make_cgroup) -> None:
    mountpoint = _v1_pids_mount()
    target = make_cgroup(mountpoint)
    pid, born, left, go = _spawn(Placement(None, (target,)))
    try:
        assert not born
        assert left == []
        pids_key = next(k for k in _cgroups_of(pid) if "pids" in k.split(","))
        assert _cgroups_of(pid)[pids_key] == _relative(mountpoint, target)
    finally:
        _release(pid, go)


def test_what_the_child_could_not_join_the_runtime_joins_by_pid(make_cgroup) -> None:
    # A v1 directory is no cgroup2 directory: clone3 refuses it (EBADF), the plain fork
    # follows, and the child reports the birth cgroup as left for the runtime.
    mountpoint = _v1_pids_mount()
    target = make_cgroup(mountpoint)
    plan = Placement(target, ())
    pid, born, left, go = _spawn(plan)
    try:
        assert not born
        assert left == [target]
        placement.finish(plan, pid, left)
        pids_key = next(k for k in _cgroups_of(pid) if "pids" in k.split(","))
        assert _cgroups_of(pid)[pids_key] == _relative(mountpoint, target)
    finally:
        _release(pid, go)


def test_a_missing_directory_fails_by_pid_naming_the_file() -> None:
    gone = os.path.join(_v1_pids_mount(), f"pyrunc-test-gone-{uuid.uuid4().hex[:8]}")
    plan = Placement(None, (gone,))
    pid, _, left, go = _spawn(plan)
    try:
        assert left == [gone]
        with pytest.raises(CgroupError, match=f"open {gone}/cgroup.procs: no such file"):
            placement.finish(plan, pid, left)
    finally:
        _release(pid, go)


def test_a_containers_init_and_exec_are_in_its_cgroup_in_every_hierarchy(
    runtime: Runtime, bundle: Bundle, cid: str, workdir: str
) -> None:
    # Through create and exec, whatever route each hierarchy took on this host.
    path = f"/pyrunc-test-placement/{cid}"
    bundle.config["linux"]["cgroupsPath"] = path
    bundle.set_args("sleep", "100")
    ours = set(_cgroups_of(os.getpid()))
    with created(runtime, bundle, cid) as init:
        assert _cgroups_of(init) == dict.fromkeys(ours, path)
        runtime.ok("start", cid)
        pid_file = os.path.join(workdir, "exec.pid")
        runtime.ok("exec", "-d", "--pid-file", pid_file, cid, "sleep", "100")
        with open(pid_file) as f:
            tenant = int(f.read())
        try:
            assert _cgroups_of(tenant) == dict.fromkeys(ours, path)
        finally:  # ours to reap (the suite is subreaper): else init's end waits for it
            os.kill(tenant, signal.SIGKILL)
            os.waitpid(tenant, 0)


@pytest.mark.parametrize("report", [["/etc"], "/etc", [None], {"a": 1}])
def test_a_report_naming_anything_else_is_refused(report) -> None:  # noqa: ANN001
    plan = Placement("/sys/fs/cgroup/unified/x", ("/sys/fs/cgroup/pids/x",))
    with pytest.raises(CgroupError, match="malformed report"):
        placement.finish(plan, 1, report)


def test_a_threaded_caller_forks_the_usual_way(make_cgroup) -> None:
    # A program using the Python API may run threads: no raw clone3 then (glibc's fork
    # handlers must run), the runtime's write does the join instead.
    mountpoint = host.cgroup2_mountpoint()
    if mountpoint is None:
        pytest.skip("no cgroup2 mount on this host")
    import threading

    target = make_cgroup(mountpoint)
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()
    try:
        plan = Placement(target, ())
        pid, born, left, go = _spawn(plan)
    finally:
        stop.set()
        worker.join()
    try:
        assert not born
        assert left == [target]
        placement.finish(plan, pid, left)
        assert _cgroups_of(pid)[""] == _relative(mountpoint, target)
    finally:
        _release(pid, go)
