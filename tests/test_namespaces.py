"""linux.namespaces: new, absent (the host's) and joined by path, as the kernel sees them."""

from __future__ import annotations

import ctypes
import os
import time

import pytest

from tests.helpers import Bundle, Runtime, created, proc_ns, proc_status

# spec type -> /proc/<pid>/ns/<name>
PROC_NS = {
    "pid": "pid",
    "uts": "uts",
    "mount": "mnt",
    "ipc": "ipc",
    "network": "net",
    "cgroup": "cgroup",
    "time": "time",
    "user": "user",
}
# Everything but user, which needs id mappings.
ALL_BUT_USER = ("pid", "uts", "mount", "ipc", "network", "cgroup", "time")


def _set_namespaces(bundle: Bundle, *entries: str | dict[str, str]) -> None:
    bundle.config["linux"]["namespaces"] = [
        e if isinstance(e, dict) else {"type": e} for e in entries
    ]
    bundle.save()


def _run(runtime: Runtime, bundle: Bundle, cid: str, *args: str) -> str:
    bundle.set_args(*args)
    r = runtime("run", "--bundle", bundle.path, cid)
    assert r.code == 0, r.err
    return r.out


def _host_mount_points() -> set[str]:
    with open("/proc/self/mountinfo") as f:
        return {line.split()[4] for line in f}


# -- new and absent ----------------------------------------------------------------------


def test_new_namespaces_are_not_the_hosts(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    _set_namespaces(bundle, *ALL_BUT_USER)
    with created(runtime, bundle, cid) as pid:
        for t in ALL_BUT_USER:
            assert proc_ns(pid, PROC_NS[t]) != proc_ns("self", PROC_NS[t]), t
        assert proc_ns(pid, "user") == proc_ns("self", "user")


@pytest.mark.parametrize("absent", ["pid", "uts", "ipc", "network", "cgroup", "time"])
def test_absent_namespace_is_the_hosts(
    runtime: Runtime, bundle: Bundle, cid: str, absent: str
) -> None:
    _set_namespaces(bundle, *(t for t in ALL_BUT_USER if t != absent))
    if absent == "uts":
        del bundle.config["hostname"]
        bundle.save()
    with created(runtime, bundle, cid) as pid:
        for t in ALL_BUT_USER:
            same = proc_ns(pid, PROC_NS[t]) == proc_ns("self", PROC_NS[t])
            assert same == (t == absent), t


def test_absent_mount_namespace_chroots_without_touching_host_mounts(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    _set_namespaces(bundle, "pid", "ipc", "uts", "network")
    bundle.config["mounts"] = []
    bundle.config["root"]["readonly"] = False
    for key in ("maskedPaths", "readonlyPaths"):
        bundle.config["linux"].pop(key)
    open(os.path.join(bundle.rootfs, "marker-" + cid), "w").close()
    _fake_cap_last_cap(bundle)
    bundle.set_args("sleep", "1000")
    before = _host_mount_points()
    with created(runtime, bundle, cid) as pid:
        assert proc_ns(pid, "mnt") == proc_ns("self", "mnt")
        assert os.readlink(f"/proc/{pid}/root") == bundle.rootfs
        assert _host_mount_points() == before
        runtime.ok("start", cid)
        assert os.path.exists(f"/proc/{pid}/root/marker-{cid}")
    assert _host_mount_points() == before


def _fake_cap_last_cap(bundle: Bundle) -> None:
    # The init reads cap_last_cap after the root switch (see the xfail test below), and
    # with no mount namespace there is no /proc: give it the host's value as a file.
    d = os.path.join(bundle.rootfs, "proc", "sys", "kernel")
    os.makedirs(d)
    with open("/proc/sys/kernel/cap_last_cap") as src, open(f"{d}/cap_last_cap", "w") as dst:
        dst.write(src.read())


def test_container_without_proc_mount_starts(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.config["mounts"] = [m for m in bundle.config["mounts"] if m["type"] != "proc"]
    bundle.config["linux"]["maskedPaths"] = []
    bundle.config["linux"]["readonlyPaths"] = []
    assert _run(runtime, bundle, cid, "echo", "up") == "up\n"


def test_absent_mount_namespace_shares_mounts_until_delete(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    """Without a mount namespace the mounts go into the runtime's table (as runc does,
    and runtime-tools' linux_ns_itype expects); delete takes them away again."""
    _set_namespaces(bundle, "pid", "ipc", "uts", "network")
    bundle.config["root"]["readonly"] = False
    for key in ("maskedPaths", "readonlyPaths"):
        bundle.config["linux"].pop(key)
    bundle.config["mounts"] = [{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}]
    bundle.set_args("sh", "-c", "echo hi > /tmp/f; sleep 1000")
    before = _host_mount_points()
    runtime.ok("run", "--detach", "--bundle", bundle.path, cid)
    pid = runtime.state(cid)["pid"]
    assert proc_ns(pid, "mnt") == proc_ns("self", "mnt")
    tmp = os.path.join(bundle.rootfs, "tmp")
    assert _host_mount_points() - before == {tmp}
    runtime.ok("delete", "--force", cid)
    assert _host_mount_points() == before


def test_absent_mount_namespace_readonly_root_is_a_bind_undone_at_delete(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    """runc's host-mntns.bats runs runc spec's read-only root without a mount namespace
    (runc skips it silently). pyrunc binds the rootfs on itself read-only: the container
    cannot write its root, the bundle's directory underneath stays writable, and delete
    takes the bind away again."""
    _set_namespaces(bundle, "pid", "ipc", "uts", "network")
    for key in ("maskedPaths", "readonlyPaths"):
        bundle.config["linux"].pop(key)
    bundle.config["mounts"] = []
    bundle.set_args("sh", "-c", "touch /x 2>/dev/null; sleep 100")
    before = _host_mount_points()
    runtime.ok("run", "--detach", "--bundle", bundle.path, cid)
    try:
        assert _host_mount_points() - before == {bundle.rootfs}
        with open("/proc/self/mountinfo") as f:  # the top mount there: the bind
            root = [ln for ln in f if ln.split()[4] == bundle.rootfs][-1]
        assert "ro" in root.split()[5].split(","), root
    finally:
        runtime.ok("delete", "--force", cid)
    assert _host_mount_points() == before
    assert not os.path.exists(os.path.join(bundle.rootfs, "x"))


# -- each namespace, from the inside --------------------------------------------------------


def test_pid_namespace(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    out = _run(runtime, bundle, cid, "sh", "-c", "echo $$; ls /proc")
    first, *entries = out.split()
    assert first == "1"
    pids = {int(e) for e in entries if e.isdigit()}
    assert 1 in pids and len(pids) <= 2  # sh and ls: no host process is visible
    bundle.set_args("sleep", "1000")
    with created(runtime, bundle, cid + "c") as pid:
        assert proc_status(pid, "NSpid").split() == [str(pid), "1"]


def test_uts_namespace_hostname_and_domainname(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    host = os.uname()
    bundle.config["hostname"] = "h-" + cid[-8:]
    bundle.config["domainname"] = "d-" + cid[-8:] + ".example"
    out = _run(
        runtime, bundle, cid, "cat", "/proc/sys/kernel/hostname", "/proc/sys/kernel/domainname"
    )
    assert out.split() == ["h-" + cid[-8:], "d-" + cid[-8:] + ".example"]
    assert os.uname() == host


class _SysV:
    """A host SysV shared memory segment, removed on exit."""

    IPC_PRIVATE, IPC_CREAT, IPC_RMID = 0, 0o1000, 0

    def __enter__(self) -> int:
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.shmid = self.libc.shmget(self.IPC_PRIVATE, 4096, self.IPC_CREAT | 0o600)
        assert self.shmid >= 0, os.strerror(ctypes.get_errno())
        return self.shmid

    def __exit__(self, *exc: object) -> None:
        self.libc.shmctl(self.shmid, self.IPC_RMID, None)


@pytest.mark.parametrize("own_ipc", [True, False])
def test_ipc_namespace_hides_host_segments(
    runtime: Runtime, bundle: Bundle, cid: str, own_ipc: bool
) -> None:
    _set_namespaces(bundle, "pid", "mount", "network", "uts", *(["ipc"] if own_ipc else []))
    with _SysV() as shmid:
        out = _run(runtime, bundle, cid, "cat", "/proc/sysvipc/shm")
    ids = {int(line.split()[1]) for line in out.splitlines()[1:] if line.strip()}
    assert (shmid in ids) == (not own_ipc)


def test_network_namespace_has_only_loopback_up(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    out = _run(
        runtime, bundle, cid, "sh", "-c", "cat /proc/net/dev; echo ---; cat /sys/class/net/lo/flags"
    )
    table, flags = out.split("---")
    names = [line.split(":")[0].strip() for line in table.splitlines()[2:] if line.strip()]
    assert names == ["lo"]
    assert int(flags.strip(), 16) & 0x1  # IFF_UP


@pytest.mark.parametrize("own_cgroupns", [True, False])
def test_cgroup_namespace_roots_at_container_cgroup(
    runtime: Runtime, bundle: Bundle, cid: str, own_cgroupns: bool
) -> None:
    _set_namespaces(
        bundle, "pid", "mount", "network", "uts", "ipc", *(["cgroup"] if own_cgroupns else [])
    )
    out = _run(runtime, bundle, cid, "cat", "/proc/self/cgroup")
    paths = [line.split(":", 2)[2] for line in out.splitlines()]
    assert paths
    if own_cgroupns:
        assert set(paths) == {"/"}
    else:
        assert all(p.endswith("/" + cid) for p in paths), paths


def _map_root_to(bundle: Bundle, host_uid: int, host_gid: int) -> None:
    bundle.config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": host_uid, "size": 65536}]
    bundle.config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": host_gid, "size": 65536}]
    bundle.save()


@pytest.mark.parametrize("with_userns", [False, True])
def test_time_namespace_offsets(
    runtime: Runtime, bundle: Bundle, cid: str, with_userns: bool
) -> None:
    year, two_days = 365 * 86400, 2 * 86400
    _set_namespaces(bundle, *ALL_BUT_USER, *(["user"] if with_userns else []))
    if with_userns:
        _map_root_to(bundle, 100000, 100000)
    bundle.config["linux"]["timeOffsets"] = {
        "monotonic": {"secs": year, "nanosecs": 0},
        "boottime": {"secs": two_days, "nanosecs": 0},
    }
    bundle.set_args("cat", "/proc/uptime")
    with created(runtime, bundle, cid + "c") as pid:
        with open(f"/proc/{pid}/timens_offsets") as f:
            offsets = {ln.split()[0]: ln.split()[1:] for ln in f}
        assert offsets == {"monotonic": [str(year), "0"], "boottime": [str(two_days), "0"]}
    before = time.clock_gettime(time.CLOCK_BOOTTIME)
    out = _run(runtime, bundle, cid, "cat", "/proc/uptime")
    after = time.clock_gettime(time.CLOCK_BOOTTIME)
    inside = float(out.split()[0])
    assert before + two_days - 1 <= inside <= after + two_days + 1


# -- user namespace ----------------------------------------------------------------------


def _wait_for(path: str, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def test_user_namespace_mappings(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    host_uid, host_gid = 100000, 200000
    out_dir = os.path.join(bundle.path, "out")
    os.mkdir(out_dir)
    os.chmod(out_dir, 0o777)
    os.mkdir(os.path.join(bundle.rootfs, "out"))  # the rootfs is not the mapped root's to write
    _set_namespaces(bundle, *ALL_BUT_USER, "user")
    _map_root_to(bundle, host_uid, host_gid)
    bundle.config["mounts"].append(
        {"destination": "/out", "type": "bind", "source": out_dir, "options": ["rbind"]}
    )
    bundle.set_args(
        "sh", "-c", "id -u > /out/ids; id -g >> /out/ids; touch /out/made; exec sleep 1000"
    )
    with created(runtime, bundle, cid) as pid:
        for name, host_id in (("uid_map", host_uid), ("gid_map", host_gid)):
            with open(f"/proc/{pid}/{name}") as f:
                assert f.read().split() == ["0", str(host_id), "65536"]
        assert proc_ns(pid, "user") != proc_ns("self", "user")
        runtime.ok("start", cid)
        made = os.path.join(out_dir, "made")
        _wait_for(made)
        with open(os.path.join(out_dir, "ids")) as f:
            assert f.read().split() == ["0", "0"]
        assert proc_status(pid, "Uid").split() == [str(host_uid)] * 4
        assert proc_status(pid, "Gid").split() == [str(host_gid)] * 4
        st = os.stat(f"/proc/{pid}")  # dumpable again after exec: owned by its euid
        assert (st.st_uid, st.st_gid) == (host_uid, host_gid)
        st = os.stat(made)
        assert (st.st_uid, st.st_gid) == (host_uid, host_gid)


# -- joining by path ---------------------------------------------------------------------


def test_join_namespaces_by_path(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.config["hostname"] = "alpha-" + cid[-6:]
    bundle.set_args("sleep", "1000")
    with created(runtime, bundle, cid) as a_pid:
        joined = ("network", "ipc", "uts")
        _set_namespaces(
            bundle,
            "pid",
            "mount",
            *({"type": t, "path": f"/proc/{a_pid}/ns/{PROC_NS[t]}"} for t in joined),
        )
        del bundle.config["hostname"]
        out = _run(
            runtime,
            bundle,
            cid + "b",
            "sh",
            "-c",
            "cat /proc/sys/kernel/hostname; "
            "for n in net ipc uts pid mnt; do readlink /proc/self/ns/$n; done",
        )
        hostname, *inside = out.split()
        assert hostname == "alpha-" + cid[-6:]
        expected = [proc_ns(a_pid, n) for n in ("net", "ipc", "uts")]
        assert inside[:3] == expected
        assert inside[3] != proc_ns(a_pid, "pid") and inside[4] != proc_ns(a_pid, "mnt")
        assert inside[3] != proc_ns("self", "pid") and inside[4] != proc_ns("self", "mnt")


def test_join_user_namespace_by_path(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """B joins A's user namespace (and network, ipc): it is root in there, like A."""
    _set_namespaces(bundle, *ALL_BUT_USER, "user")
    _map_root_to(bundle, 100000, 100000)
    bundle.set_args("sleep", "1000")
    with created(runtime, bundle, cid) as a_pid:
        joined = ("user", "network", "ipc")
        _set_namespaces(
            bundle,
            "pid",
            "mount",
            "uts",
            *({"type": t, "path": f"/proc/{a_pid}/ns/{PROC_NS[t]}"} for t in joined),
        )
        del bundle.config["linux"]["uidMappings"], bundle.config["linux"]["gidMappings"]
        out = _run(
            runtime,
            bundle,
            cid + "b",
            "sh",
            "-c",
            "id -u; id -g; cat /proc/self/uid_map; "
            "for n in user net ipc mnt; do readlink /proc/self/ns/$n; done",
        )
        uid, gid, *uid_map, user, net, ipc, mnt = out.split()
        assert (uid, gid, uid_map) == ("0", "0", ["0", "100000", "65536"])
        assert [user, net, ipc] == [proc_ns(a_pid, n) for n in ("user", "net", "ipc")]
        assert mnt != proc_ns(a_pid, "mnt")


def test_join_user_namespace_with_a_network_namespace_it_does_not_own(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    """runc#4390 (userns.bats "wrong userns owner"): B joins A's user namespace and the
    host's network namespace, which that user namespace does not own. Joined after the
    user namespace, it would be refused (no CAP_SYS_ADMIN over it in there)."""
    _set_namespaces(bundle, *ALL_BUT_USER, "user")
    _map_root_to(bundle, 100000, 100000)
    bundle.set_args("sleep", "1000")
    with created(runtime, bundle, cid) as a_pid:
        _set_namespaces(
            bundle,
            "pid",
            "mount",
            "ipc",
            "uts",
            {"type": "user", "path": f"/proc/{a_pid}/ns/user"},
            {"type": "network", "path": "/proc/self/ns/net"},  # ours: the host's
        )
        del bundle.config["linux"]["uidMappings"], bundle.config["linux"]["gidMappings"]
        # sysfs needs CAP_SYS_ADMIN over the network namespace: the host's, bound instead
        bundle.config["mounts"] = [
            {"source": "/sys", "destination": m["destination"], "type": "bind",
             "options": ["rbind"]} if m["type"] == "sysfs" else m
            for m in bundle.config["mounts"]
        ]  # fmt: skip
        out = _run(
            runtime, bundle, cid + "b", "sh", "-c",
            "id -u; for n in user net; do readlink /proc/self/ns/$n; done",
        )  # fmt: skip
        uid, user, net = out.split()
        assert uid == "0"
        assert (user, net) == (proc_ns(a_pid, "user"), proc_ns("self", "net"))
