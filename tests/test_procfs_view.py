"""The lxcfs /proc view (issue 11): with the annotation `run.pyrunc.procfs-view: "true"`
or `pyrunc --procfs-view`, the container reads its own limits in /proc/meminfo,
/proc/cpuinfo, /proc/stat, /proc/uptime and /sys/devices/system/cpu/online, from a
host lxcfs pyrunc finds or starts. Checked from inside real containers, against the
host's own files."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyrunc.errors import ConfigError
from pyrunc.linux import procfs_view
from tests import helpers
from tests import host as host_probe
from tests.helpers import Bundle, Runtime, mountinfo
from tests.test_errors import assert_nothing_left, one_line_error

ANNOTATION = procfs_view.ANNOTATION
MIB = 1024 * 1024

pytestmark = pytest.mark.skipif(
    not os.path.isdir("/sys/fs/cgroup/memory"),
    reason="needs cgroup v1 memory (the hybrid host CI runs on)",
)
# lxcfs is a package a host may lack (scripts/install.sh adds it). Without it there is
# no view to read: those tests skip, and test_missing_lxcfs checks what create says.
needs_lxcfs = pytest.mark.skipif(
    not host_probe.lxcfs_usable(), reason="lxcfs not installed (or no /dev/fuse): no view"
)


@pytest.fixture(scope="module", autouse=True)
def lxcfs() -> Iterator[None]:
    """The host's lxcfs, up before any test's leak snapshot: it is a host service that
    outlives containers (and this run), not something a test leaves behind. We are a
    subreaper, so an lxcfs started here becomes our child: it must stay alive, never
    reaped (reap_zombies only collects the dead)."""
    if host_probe.lxcfs_usable():
        procfs_view.ensure_lxcfs()
    yield


def run_in(runtime: Runtime, bundle: Bundle, cid: str, script: str, *global_args: str) -> str:
    bundle.set_args("sh", "-c", script)
    return runtime.ok("run", "--bundle", bundle.path, cid, global_args=global_args).out


def with_view(
    bundle: Bundle, value: str | None = "true", memory: int | None = None, cpus: str | None = None
) -> Bundle:
    if value is not None:
        bundle.config.setdefault("annotations", {})[ANNOTATION] = value
    resources = bundle.config["linux"].setdefault("resources", {})
    if memory is not None:
        resources["memory"] = {"limit": memory}
    if cpus is not None:
        resources["cpu"] = {"cpus": cpus}
    return bundle.save()


def field(text: str, name: str) -> str:
    m = re.search(rf"^{name}:\s*(.*)$", text, re.M)
    assert m, f"{name} not in {text!r}"
    return m.group(1).strip()


def host(path: str) -> str:
    with open(path) as f:
        return f.read()


# -- the view ----------------------------------------------------------------------------


@needs_lxcfs
def test_memory_limit_is_memtotal(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    with_view(bundle, memory=64 * MIB)
    out = run_in(runtime, bundle, cid, "cat /proc/meminfo")
    assert field(out, "MemTotal") == "65536 kB"
    assert field(host("/proc/meminfo"), "MemTotal") != "65536 kB"


@needs_lxcfs
def test_cpuset_is_one_processor(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    with_view(bundle, cpus="0")
    out = run_in(
        runtime,
        bundle,
        cid,
        "grep -c ^processor /proc/cpuinfo; "
        "cat /sys/devices/system/cpu/online; grep ^cpu /proc/stat",
    )
    count, online, *stat = out.split("\n")[:-1]
    assert (count, online) == ("1", "0")
    assert [line.split()[0] for line in stat] == ["cpu", "cpu0"]  # the total and one CPU
    if os.cpu_count() and os.cpu_count() > 1:
        assert host("/proc/cpuinfo").count("processor") > 1  # the host shows them all


@needs_lxcfs
def test_uptime_starts_near_zero(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    with_view(bundle)
    up = float(run_in(runtime, bundle, cid, "cat /proc/uptime").split()[0])
    host_up = float(host("/proc/uptime").split()[0])
    assert up < 5, up
    assert host_up > up + 5, (host_up, up)


@needs_lxcfs
def test_global_flag_without_annotation(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    with_view(bundle, value=None, memory=64 * MIB)
    out = run_in(runtime, bundle, cid, "head -1 /proc/meminfo", "--procfs-view")
    assert field(out, "MemTotal") == "65536 kB"


@pytest.mark.parametrize("value", ["false", None])
def test_off_is_the_host_view(
    runtime: Runtime, bundle: Bundle, cid: str, value: str | None
) -> None:
    with_view(bundle, value=value, memory=64 * MIB)
    out = run_in(
        runtime, bundle, cid, "head -1 /proc/meminfo; grep -c lxcfs /proc/self/mountinfo || true"
    )
    assert field(out, "MemTotal") == field(host("/proc/meminfo"), "MemTotal")
    assert out.split("\n")[1] == "0"


def test_annotation_false_beats_the_global_flag(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    with_view(bundle, value="false", memory=64 * MIB)
    out = run_in(runtime, bundle, cid, "head -1 /proc/meminfo", "--procfs-view")
    assert field(out, "MemTotal") == field(host("/proc/meminfo"), "MemTotal")


@needs_lxcfs
def test_exec_sees_the_view(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    with_view(bundle, memory=64 * MIB, cpus="0")
    bundle.set_args("sleep", "1000")
    runtime.ok("create", "--bundle", bundle.path, cid)
    try:
        runtime.ok("start", cid)
        out = runtime.ok("exec", cid, "sh", "-c", "head -1 /proc/meminfo; nproc").out
        assert field(out, "MemTotal") == "65536 kB"
        assert out.split("\n")[1] == "1"
    finally:
        runtime.ok("delete", "--force", cid)


@needs_lxcfs
def test_binds_are_read_only_and_stay_in_the_container(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    with_view(bundle)
    bundle.set_args("sleep", "1000")
    runtime.ok("create", "--bundle", bundle.path, cid)
    try:
        pid = runtime.state(cid)["pid"]
        binds = {
            line.split()[4]: line.split()[5] for line in mountinfo(pid) if "fuse.lxcfs" in line
        }
        expected = {f"/proc/{f}" for f in procfs_view.PROC_FILES}
        assert set(binds) == expected | {"/sys/devices/system/cpu/online"}
        assert all(opts.startswith("ro,") for opts in binds.values()), binds
        ours = [line for line in mountinfo() if "fuse.lxcfs" in line]
        assert [line.split()[4] for line in ours] == [procfs_view.LXCFS_DIR]  # the host: one
    finally:
        runtime.ok("delete", "--force", cid)


# -- errors: one line at create, nothing left --------------------------------------------


def create_error(runtime: Runtime, bundle: Bundle, cid: str, *global_args: str) -> str:
    r = runtime("create", "--bundle", bundle.path, cid, global_args=global_args)
    msg = one_line_error(r)
    assert_nothing_left(runtime, cid)
    return msg


@pytest.mark.parametrize("value", ["yes", "True", "1", ""])
def test_bad_annotation_value(runtime: Runtime, bundle: Bundle, cid: str, value: str) -> None:
    with_view(bundle, value=value)
    msg = create_error(runtime, bundle, cid)
    assert msg == f'{ANNOTATION}: must be "true" or "false", not {json.dumps(value)}', msg


def test_missing_lxcfs(
    runtime: Runtime, bundle: Bundle, cid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(helpers.TREE_ENV, procfs_view.BINARY_ENV, "/nonexistent/lxcfs")
    with_view(bundle)
    msg = create_error(runtime, bundle, cid)
    assert msg == (
        "procfs view: lxcfs is not installed at /nonexistent/lxcfs (apt-get install lxcfs)"
    )
    # The same with the global flag, and without the view lxcfs is not needed at all.
    bundle.config["annotations"].pop(ANNOTATION)
    bundle.save()
    assert create_error(runtime, bundle, cid, "--procfs-view") == msg
    run_in(runtime, bundle, cid, "true")
    if shutil.which("lxcfs") is None:  # a host without it: the same, found on PATH
        monkeypatch.delitem(helpers.TREE_ENV, procfs_view.BINARY_ENV)
        assert create_error(runtime, bundle, cid, "--procfs-view") == (
            "procfs view: lxcfs is not installed (apt-get install lxcfs)"
        )


def test_no_mount_namespace_is_refused(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    with_view(bundle)
    nss = bundle.config["linux"]["namespaces"]
    bundle.config["linux"]["namespaces"] = [n for n in nss if n["type"] != "mount"]
    for key in ("maskedPaths", "readonlyPaths"):  # these need a mount namespace by themselves
        bundle.config["linux"].pop(key, None)
    bundle.save()
    msg = create_error(runtime, bundle, cid)
    assert msg.startswith(f"{ANNOTATION}: needs a mount namespace"), msg


def test_no_proc_mount_is_refused(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    with_view(bundle)
    bundle.config["mounts"] = [m for m in bundle.config["mounts"] if m["destination"] != "/proc"]
    bundle.save()
    msg = create_error(runtime, bundle, cid)
    assert msg == f"{ANNOTATION}: the config mounts no /proc to show it in", msg


# -- pure logic ----------------------------------------------------------------------------


@given(st.text().filter(lambda v: v not in ("true", "false")), st.booleans())
def test_only_true_or_false(value: str, everywhere: bool) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(ANNOTATION)}: "):
        procfs_view.wanted({ANNOTATION: value}, everywhere)


@given(st.booleans())
def test_annotation_decides_before_the_flag(everywhere: bool) -> None:
    assert procfs_view.wanted({ANNOTATION: "true"}, everywhere) is True
    assert procfs_view.wanted({ANNOTATION: "false"}, everywhere) is False
    assert procfs_view.wanted({}, everywhere) is everywhere


def test_sys_bind_only_with_a_sys_mount() -> None:
    with_sys = procfs_view.view_mounts("/x", {"/proc", "/sys"})
    without = procfs_view.view_mounts("/x", {"/proc"})
    assert {m.destination for m in with_sys} - {m.destination for m in without} == {
        "/sys/devices/system/cpu/online"
    }
    assert all(m.source.startswith("/x/") and "ro" in m.options for m in with_sys)


@needs_lxcfs
def test_view_in_a_user_namespace(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """The binds come from a FUSE mount the host's user namespace owns; they must still
    be made (and read) from inside a container with its own user namespace."""
    bundle.config["linux"]["namespaces"].append({"type": "user"})
    for key in ("uidMappings", "gidMappings"):
        bundle.config["linux"][key] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    with_view(bundle, memory=64 * MIB)
    out = run_in(runtime, bundle, cid, "head -1 /proc/meminfo; id -u")
    assert field(out, "MemTotal") == "65536 kB"
    assert out.split("\n")[1] == "0"


# -- lxcfs itself: started detached, replaced when dead ------------------------------------


def _lxcfs_pid(pidfile: str) -> int:
    with open(pidfile) as f:
        return int(f.read().split()[0])


def _stop(pid: int, top: str) -> None:
    """SIGKILL (lxcfs with a loadavg thread takes a while on SIGTERM), reap it (we are the
    subreaper it fell to), and detach its dead mount."""
    import signal

    from pyrunc.linux import syscalls as sc

    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
    while procfs_view.is_mounted(top):
        sc.umount2(top, sc.MNT_DETACH)


@needs_lxcfs
def test_lxcfs_started_detached_and_replaced_when_dead(
    workdir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A private lxcfs (own dir, pid file and log, so the shared one is untouched): started
    in its own session and the root cgroups, its helper gone; killed, its mount answers
    ENOTCONN, and the next ensure_lxcfs detaches it and starts another."""
    top = os.path.join(workdir, "lxcfs-private")
    pidfile = top + ".pid"
    monkeypatch.setattr(procfs_view, "LXCFS_PIDFILE", pidfile)
    monkeypatch.setattr(procfs_view, "LXCFS_LOG", top + ".log")
    pids: list[int] = []
    try:
        procfs_view.ensure_lxcfs(top)
        pids.append(_lxcfs_pid(pidfile))
        assert procfs_view.serving(top)
        with open(f"/proc/{pids[0]}/stat") as f:
            stat = f.read().rsplit(")", 1)[1].split()
        assert int(stat[3]) != os.getsid(0) and int(stat[2]) != os.getpgid(0)  # detached
        assert int(stat[1]) == os.getpid()  # its helper exited: it fell to us, the subreaper
        with open(f"/proc/{pids[0]}/cgroup") as f:
            assert {line.rstrip().split(":", 2)[2] for line in f} == {"/"}
        procfs_view.ensure_lxcfs(top)  # answering: left alone
        assert _lxcfs_pid(pidfile) == pids[0]

        _stop_process_only(pids[0])
        with pytest.raises(OSError) as e:
            with open(os.path.join(top, "proc", "meminfo")) as f:
                f.read()
        assert e.value.errno == 107  # ENOTCONN: what containers bound to it now see
        procfs_view.ensure_lxcfs(top)
        pids.append(_lxcfs_pid(pidfile))
        assert pids[1] != pids[0] and procfs_view.serving(top)
        mounted = [m for m in mountinfo() if m.split()[4] == top]
        assert len(mounted) == 1, mounted  # the dead mount was detached, not stacked on
    finally:
        for pid in pids:
            _stop(pid, top)
        if os.path.isdir(top):
            os.rmdir(top)


def _stop_process_only(pid: int) -> None:
    import signal

    os.kill(pid, signal.SIGKILL)
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:  # reparented to init rather than to us
        while os.path.exists(f"/proc/{pid}"):
            time.sleep(0.01)
