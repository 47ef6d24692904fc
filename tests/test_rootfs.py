"""The container's root filesystem as the kernel shows it: mountinfo, device nodes, and
what commands inside can read and write."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from tests import host
from tests.helpers import (
    Bundle,
    Result,
    Runtime,
    create_fails,
    created,
    error_message,
    reap_zombies,
)


@dataclass(frozen=True)
class MountInfo:
    id: int
    parent: int
    root: str
    point: str
    opts: frozenset[str]
    fields: tuple[str, ...]  # optional fields: shared:N, master:N, unbindable
    fstype: str
    super_opts: frozenset[str]


def _parse_mountinfo(text: str) -> list[MountInfo]:
    mounts = []
    for line in text.splitlines():
        f = line.split()
        sep = f.index("-")
        mounts.append(
            MountInfo(
                int(f[0]),
                int(f[1]),
                f[3],
                f[4],
                frozenset(f[5].split(",")),
                tuple(f[6:sep]),
                f[sep + 1],
                frozenset(f[sep + 3].split(",")),
            )
        )
    return mounts


def _mountinfo(pid: int | str) -> list[MountInfo]:
    with open(f"/proc/{pid}/mountinfo") as f:
        return _parse_mountinfo(f.read())


def _at(mounts: list[MountInfo], point: str) -> MountInfo:
    """The topmost mount at point."""
    found = [m for m in mounts if m.point == point]
    assert found, f"nothing mounted at {point}: {[m.point for m in mounts]}"
    return found[-1]


def _host_mount_points() -> set[str]:
    return {m.point for m in _mountinfo("self")}


def _run(
    runtime: Runtime,
    bundle: Bundle,
    cid: str,
    *args: str,
    ok: bool = True,
    flags: tuple[str, ...] = (),
) -> Result:
    bundle.set_args(*args)
    r = runtime("run", *flags, "--bundle", bundle.path, cid)
    if ok:
        assert r.code == 0, r.err
    return r


@contextmanager
def _host_mount(*argv: str, target: str) -> Iterator[None]:
    """A mount on the host for the duration of a test (the leak check sees a forgotten one)."""
    subprocess.run(["mount", *argv], check=True)
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", target], check=True)


def _add_mount(
    bundle: Bundle, dest: str, type_: str, source: str, options: list[str] | None = None
) -> None:
    m: dict[str, Any] = {"destination": dest, "type": type_, "source": source}
    if options is not None:
        m["options"] = options
    bundle.config["mounts"].append(m)
    bundle.save()


def _write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


# -- switching root --------------------------------------------------------------------------


def _config_points(bundle: Bundle) -> set[str]:
    cfg = bundle.config
    return (
        {"/"}
        | {m["destination"] for m in cfg["mounts"]}
        | set(cfg["linux"].get("maskedPaths", ()))
        | set(cfg["linux"].get("readonlyPaths", ()))
    )


def test_pivot_root_leaves_only_the_container_tree(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    _write(os.path.join(bundle.rootfs, "marker"), "")
    bundle.set_args("sleep", "1000")
    with created(runtime, bundle, cid) as pid:
        mounts = _mountinfo(pid)
        assert [m for m in mounts if m.point == "/"] == [mounts[0]]
        assert mounts[0].root == bundle.rootfs  # the bundle's rootfs, not the host's /
        allowed = _config_points(bundle)
        stray = [
            m.point
            for m in mounts
            if not any(m.point == p or m.point.startswith(p + "/") for p in allowed - {"/"})
            and m.point != "/"
        ]
        assert stray == []
        assert os.path.exists(f"/proc/{pid}/root/marker")
    out = _run(runtime, bundle, cid, "ls", "-a", "/").out.split()
    assert set(out) - {".", ".."} == set(os.listdir(bundle.rootfs))


def test_no_pivot_moves_and_chroots(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    _write(os.path.join(bundle.rootfs, "marker"), "")
    out = _run(
        runtime,
        bundle,
        cid,
        "sh",
        "-c",
        "ls -a /; echo ---; cat /proc/self/mountinfo",
        flags=("--no-pivot",),
    ).out
    listing, info = out.split("---\n")
    assert set(listing.split()) - {".", ".."} == set(os.listdir(bundle.rootfs))
    root = _at(_parse_mountinfo(info), "/")
    assert root.root == bundle.rootfs


@pytest.mark.skipif(not host.userns_allowed(), reason="user namespaces disabled on this host")
@pytest.mark.parametrize("flags", [(), ("--no-pivot",)])
def test_nested_userns_cannot_mount_unmasked_proc(
    runtime: Runtime, bundle: Bundle, cid: str, flags: tuple[str, ...]
) -> None:
    """In a user namespace of its own, the kernel lets a process mount proc or sysfs only
    if a fully visible one exists in its mount namespace: after --no-pivot the host's
    would be, and the fresh mount would bypass maskedPaths and the read-only /sys."""
    os.makedirs(os.path.join(bundle.rootfs, "mnt/p"))
    caps = bundle.config["process"]["capabilities"]
    for name in ("bounding", "effective", "permitted"):
        caps[name].append("CAP_SETFCAP")  # to map root in the nested namespace (as Docker)
    out = _run(
        runtime,
        bundle,
        cid,
        "unshare",
        "-Urmpf",
        "sh",
        "-c",
        "echo unshared; mount -t proc proc /mnt/p && echo proc-mounted; "
        "mount -t sysfs sysfs /mnt/p && echo sysfs-mounted; true",
        flags=flags,
    ).out
    assert out.split() == ["unshared"]


@pytest.mark.parametrize("readonly", [True, False])
def test_root_readonly(runtime: Runtime, bundle: Bundle, cid: str, readonly: bool) -> None:
    bundle.config["root"]["readonly"] = readonly
    r = _run(
        runtime,
        bundle,
        cid,
        "sh",
        "-c",
        "awk '$5 == \"/\"' /proc/self/mountinfo; touch /probe",
        ok=False,
    )
    root_opts = r.out.split()[5].split(",")
    if readonly:
        assert r.code != 0 and "Read-only file system" in r.err
        assert "ro" in root_opts
        assert not os.path.exists(os.path.join(bundle.rootfs, "probe"))
    else:
        assert r.code == 0, r.err
        assert "rw" in root_opts
        assert os.path.exists(os.path.join(bundle.rootfs, "probe"))


# -- rootfsPropagation -----------------------------------------------------------------------


@pytest.fixture
def shared_rootfs(bundle: Bundle) -> Iterator[str]:
    """The bundle's rootfs as a shared mount on the host; yields its peer group field."""
    with _host_mount("--bind", "--make-shared", bundle.rootfs, bundle.rootfs, target=bundle.rootfs):
        fields = _at(_mountinfo("self"), bundle.rootfs).fields
        (group,) = [f for f in fields if f.startswith("shared:")]
        yield group


FLAVOURS = ["private", "slave", "shared", "unbindable"]


@pytest.mark.parametrize("propagation", ["", *FLAVOURS, *("r" + f for f in FLAVOURS)])
def test_rootfs_propagation(
    runtime: Runtime, bundle: Bundle, cid: str, shared_rootfs: str, propagation: str
) -> None:
    host_master = "master:" + shared_rootfs.split(":")[1]
    if propagation:
        # The r- forms are beyond the spec's enum; runc and crun accept them (a leniency).
        bundle.config["linux"]["rootfsPropagation"] = propagation
    bundle.set_args("sleep", "1000")
    # Scoped to the rootfs: engines run by others mount and unmount elsewhere meanwhile.
    before = {p for p in _host_mount_points() if p.startswith(bundle.rootfs)}
    with created(runtime, bundle, cid) as pid:
        fields = set(_at(_mountinfo(pid), "/").fields)
        proc_fields = set(_at(_mountinfo(pid), "/proc").fields)
        # Whatever the setting, nothing the container mounts may reach the host.
        assert {p for p in _host_mount_points() if p.startswith(bundle.rootfs)} == before
    assert shared_rootfs not in fields  # never in the host's peer group
    expected = {
        "": {host_master},  # as runc: a slave of the host, host unmounts reach it
        "private": set(),
        "slave": {host_master},
        "unbindable": {"unbindable"},
    }
    # The root mount itself shows the same for a flavour and its recursive form.
    flavour = propagation[1:] if propagation.startswith("r") else propagation
    if flavour == "shared":
        assert any(f.startswith("shared:") for f in fields), fields
    else:
        assert fields == expected[flavour]
    # The recursive forms reach the mounts below / too (/proc: mounted before the switch).
    if propagation == "rshared":
        assert any(f.startswith("shared:") for f in proc_fields), proc_fields
    else:
        assert proc_fields == ({"unbindable"} if propagation == "runbindable" else set())


@pytest.mark.parametrize("propagation", ["unbindable", "runbindable"])
def test_unbindable_root_with_binds_on_the_rootfs(
    runtime: Runtime, bundle: Bundle, cid: str, propagation: str
) -> None:
    """A masked file and a read-only directory of the rootfs are binds of the root mount:
    made after it became unbindable, they would fail (EINVAL). Unbindable comes last."""
    _write(os.path.join(bundle.rootfs, "etc/secret"), "s3cret\n")
    bundle.config["linux"]["rootfsPropagation"] = propagation
    bundle.config["linux"]["maskedPaths"] += ["/etc/secret"]
    bundle.config["linux"]["readonlyPaths"] += ["/etc"]
    bundle.set_args("sleep", "1000")
    with created(runtime, bundle, cid) as pid:
        mounts = _mountinfo(pid)
        assert "unbindable" in _at(mounts, "/").fields
        assert os.path.getsize(f"/proc/{pid}/root/etc/secret") == 0  # masked: /dev/null
        assert "ro" in _at(mounts, "/etc").opts, _at(mounts, "/etc")


def test_runbindable_root_with_a_terminal(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """runbindable comes last: /dev/console, masked and read-only paths are binds made
    before it (done first, every one of them would fail: an unbindable source)."""
    from tests.test_terminal import created_with_console

    bundle.config["linux"]["rootfsPropagation"] = "runbindable"
    bundle.config["process"]["terminal"] = True
    bundle.set_args("sleep", "1000")
    assert bundle.config["linux"].get("maskedPaths") and bundle.config["linux"].get("readonlyPaths")
    with created_with_console(runtime, bundle, cid):
        mounts = _mountinfo(runtime.state(cid)["pid"])
        assert "unbindable" in _at(mounts, "/dev/console").fields
        assert all("unbindable" in m.fields for m in mounts), [m.point for m in mounts]


def test_rootfs_default_propagation_on_a_private_host_mount(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    bundle.set_args("sleep", "1000")
    with created(runtime, bundle, cid) as pid:
        assert _at(_mountinfo(pid), "/").fields == ()


# -- the mounts list ---------------------------------------------------------------------------


def test_mount_options_and_order(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    _add_mount(
        bundle, "/m/tmp", "tmpfs", "tmpfs", ["nosuid", "nodev", "noexec", "size=1m", "mode=0710"]
    )
    _add_mount(bundle, "/m/tmp/nested", "tmpfs", "tmpfs", ["ro", "strictatime"])
    # Later entries cover earlier ones: /m/order/hidden ends up below /m/order.
    _add_mount(bundle, "/m/order/hidden", "tmpfs", "tmpfs")
    _add_mount(bundle, "/m/order", "tmpfs", "tmpfs", ["mode=0700"])
    r = _run(
        runtime,
        bundle,
        cid,
        "sh",
        "-c",
        "cat /proc/self/mountinfo; echo ---; ls -A /m/order; stat -c %a /m/tmp",
    )
    info, rest = r.out.split("---\n")
    mounts = _parse_mountinfo(info)
    tmp, nested = _at(mounts, "/m/tmp"), _at(mounts, "/m/tmp/nested")
    assert {"nosuid", "nodev", "noexec", "rw"} <= tmp.opts
    assert {"size=1024k", "mode=710"} <= tmp.super_opts and tmp.fstype == "tmpfs"
    assert nested.parent == tmp.id and "ro" in nested.opts and "nosuid" not in nested.opts
    hidden, order = _at(mounts, "/m/order/hidden"), _at(mounts, "/m/order")
    assert hidden.id < order.id and order.parent != hidden.id
    assert rest.split() == ["710"]  # ls -A /m/order printed nothing: hidden is covered


def _selinux_file_label() -> str | None:
    """A file context this host's policy has (that of /tmp), where SELinux is enabled."""
    if not os.path.exists("/sys/fs/selinux/enforce"):
        return None
    try:
        return os.getxattr("/tmp", "security.selinux").rstrip(b"\0").decode()
    except OSError:
        return None


def test_mount_label_is_applied_or_refused(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """linux.mountLabel: with SELinux, the tmpfs mounts carry it as their context (proc
    does not); without, create refuses the field, leaves nothing, and check agrees."""
    label = _selinux_file_label()
    bundle.config["linux"]["mountLabel"] = label or "system_u:object_r:container_file_t:s0"
    _add_mount(bundle, "/m/tmp", "tmpfs", "tmpfs", ["size=1m"])
    if label:
        mounts = _parse_mountinfo(_run(runtime, bundle, cid, "cat", "/proc/self/mountinfo").out)
        assert f'context="{label}"' in _at(mounts, "/m/tmp").super_opts, _at(mounts, "/m/tmp")
        assert not any("context=" in o for o in _at(mounts, "/proc").super_opts)
        return
    bundle.set_args("true")
    r = runtime("create", "--bundle", bundle.path, cid)
    assert r.code == 1 and len(r.err.strip().splitlines()) == 1, r.err
    assert error_message(r.err) == (
        "config.json: linux.mountLabel: SELinux is disabled or not supported"
    ), r.err
    assert runtime("state", cid).code == 1
    c = runtime("check", "--bundle", bundle.path, "--format", "json")
    found = [f for f in json.loads(c.out)["checks"] if f["path"] == "linux.mountLabel"]
    assert [f["severity"] for f in found] == ["error"], found


@pytest.mark.parametrize("readonly", [False, True])
def test_tmpfs_copy_up(runtime: Runtime, bundle: Bundle, cid: str, readonly: bool) -> None:
    skel = os.path.join(bundle.rootfs, "etc/skel")
    _write(os.path.join(skel, "sub/file"), "content\n")
    os.chmod(os.path.join(skel, "sub/file"), 0o640)
    os.chown(os.path.join(skel, "sub/file"), 1000, 1001)
    os.chmod(os.path.join(skel, "sub"), 0o750)
    os.symlink("sub/file", os.path.join(skel, "link"))
    os.mkfifo(os.path.join(skel, "fifo"), 0o604)
    _add_mount(
        bundle,
        "/etc/skel",
        "tmpfs",
        "tmpfs",
        ["tmpcopyup", "mode=755", *(["ro"] if readonly else [])],
    )
    bundle.set_args("sleep", "1000")
    with created(runtime, bundle, cid) as pid:
        mount = _at(_mountinfo(pid), "/etc/skel")
        inside = f"/proc/{pid}/root/etc/skel"
        st = os.lstat(f"{inside}/sub/file")
        with open(f"{inside}/link") as f:
            assert f.read() == "content\n"
        assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o640, 1000, 1001)
        assert stat.S_IMODE(os.lstat(f"{inside}/sub").st_mode) == 0o750
        assert os.readlink(f"{inside}/link") == "sub/file"
        assert stat.S_ISFIFO(os.lstat(f"{inside}/fifo").st_mode)
        if not readonly:  # a write lands in the tmpfs, not in the bundle
            _write(f"{inside}/new", "")
            assert not os.path.exists(os.path.join(skel, "new"))
    assert mount.fstype == "tmpfs"
    assert ("ro" in mount.opts) == readonly


@pytest.fixture
def host_dir(bundle: Bundle) -> str:
    d = os.path.join(bundle.path, "hostdir")
    os.mkdir(d)
    _write(os.path.join(d, "from-host"), "host data\n")
    return d


def test_bind_mounts_dir_file_and_relative_source(
    runtime: Runtime, bundle: Bundle, cid: str, host_dir: str
) -> None:
    _write(os.path.join(bundle.path, "single-file"), "one file\n")
    _add_mount(bundle, "/data", "bind", host_dir, ["rbind", "rw"])
    _add_mount(
        bundle,
        "/etc/deep/new/file.conf",
        "bind",
        os.path.join(bundle.path, "single-file"),
        ["bind", "ro"],
    )
    _add_mount(bundle, "/rel", "none", "hostdir", ["bind", "ro", "nosuid", "nodev"])
    r = _run(
        runtime,
        bundle,
        cid,
        "sh",
        "-c",
        "cat /data/from-host /etc/deep/new/file.conf /rel/from-host; "
        "echo from-container > /data/written; "
        "echo x > /rel/nope 2>/dev/null || echo rel-ro; "
        "echo --- ; cat /proc/self/mountinfo",
    )
    text, info = r.out.split("---\n")
    assert text.splitlines() == ["host data", "one file", "host data", "rel-ro"]
    with open(os.path.join(host_dir, "written")) as f:
        assert f.read() == "from-container\n"
    mounts = _parse_mountinfo(info)
    assert {"ro", "nosuid", "nodev"} <= _at(mounts, "/rel").opts
    assert "ro" in _at(mounts, "/etc/deep/new/file.conf").opts
    assert "rw" in _at(mounts, "/data").opts


def test_bind_and_rbind_of_a_dir_with_a_submount(
    runtime: Runtime, bundle: Bundle, cid: str, host_dir: str
) -> None:
    sub = os.path.join(host_dir, "sub")
    os.mkdir(sub)
    _add_mount(bundle, "/bind", "bind", host_dir, ["bind"])
    _add_mount(bundle, "/rbind", "bind", host_dir, ["rbind"])
    with _host_mount("-t", "tmpfs", "-o", "size=1m", "tmpfs", sub, target=sub):
        _write(os.path.join(sub, "in-submount"), "")
        out = _run(runtime, bundle, cid, "ls", "/bind/sub", "/rbind/sub").out
    assert out.split() == ["/bind/sub:", "/rbind/sub:", "in-submount"]


def _in_userns(bundle: Bundle) -> None:
    bundle.config["linux"]["namespaces"].append({"type": "user"})
    for key in ("uidMappings", "gidMappings"):
        bundle.config["linux"][key] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    bundle.save()


@pytest.mark.parametrize(
    "source_opts,options,userns,expected",
    [
        # As runc: without a user namespace a bind gets exactly the flags asked for
        # (implied rw; tests/test_bind_flags.py); in one, the kernel locks the source's.
        ("ro", ["bind", "nosuid"], False, {"rw", "nosuid"}),
        ("ro", ["bind", "nosuid", "rw"], False, {"rw", "nosuid"}),  # asked for: root may
        ("nosuid,nodev,noexec", ["bind", "ro"], True, {"ro", "nosuid", "nodev", "noexec"}),
        ("noatime", ["bind", "ro"], True, {"ro", "noatime"}),
    ],
)
def test_bind_remount_keeps_source_flags(
    runtime: Runtime,
    bundle: Bundle,
    cid: str,
    host_dir: str,
    source_opts: str,
    options: list[str],
    userns: bool,
    expected: set[str],
) -> None:
    os.mkdir(os.path.join(bundle.rootfs, "src"))  # the mapped root may not mkdir in the rootfs
    _add_mount(bundle, "/src", "bind", host_dir, options)
    if userns:
        _in_userns(bundle)
    bundle.set_args("sleep", "1000")
    with _host_mount("-t", "tmpfs", "-o", source_opts, "tmpfs", host_dir, target=host_dir):
        with created(runtime, bundle, cid) as pid:
            opts = _at(_mountinfo(pid), "/src").opts
    assert expected <= opts, opts


@pytest.mark.parametrize(
    "options,top,sub",
    [
        (["rbind", "ro"], {"ro"}, {"rw"}),  # as runc: plain ro is for the top mount only
        (["rbind", "rro"], {"ro"}, {"ro"}),
        (["rbind", "rro", "rrw"], {"rw"}, {"rw"}),
        (
            ["rbind", "rnosuid", "rnodev", "rnoexec"],
            {"nosuid", "nodev", "noexec"},
            {"nosuid", "nodev", "noexec"},
        ),
        (["rbind", "rnoatime"], {"noatime"}, {"noatime"}),
    ],
)
def test_recursive_mount_attributes(
    runtime: Runtime,
    bundle: Bundle,
    cid: str,
    host_dir: str,
    options: list[str],
    top: set[str],
    sub: set[str],
) -> None:
    sub_dir = os.path.join(host_dir, "sub")
    os.mkdir(sub_dir)
    _add_mount(bundle, "/tree", "bind", host_dir, options)
    bundle.set_args("sleep", "1000")
    with _host_mount("-t", "tmpfs", "tmpfs", sub_dir, target=sub_dir):
        with created(runtime, bundle, cid) as pid:
            mounts = _mountinfo(pid)
    assert top <= _at(mounts, "/tree").opts
    assert sub <= _at(mounts, "/tree/sub").opts


@pytest.mark.parametrize(
    "option,expected",
    [
        ("private", None),
        ("rprivate", None),
        ("shared", "shared:"),
        ("rshared", "shared:"),
        ("slave", "master:"),
        ("rslave", "master:"),
        ("unbindable", "unbindable"),
    ],
)
def test_bind_propagation_flavours(
    runtime: Runtime, bundle: Bundle, cid: str, host_dir: str, option: str, expected: str | None
) -> None:
    _add_mount(bundle, "/prop", "bind", host_dir, ["rbind", option])
    bundle.set_args("sleep", "1000")
    # A shared source, so that slave has a master to follow.
    with _host_mount("--bind", "--make-shared", host_dir, host_dir, target=host_dir):
        host_group = _at(_mountinfo("self"), host_dir).fields[0]
        with created(runtime, bundle, cid) as pid:
            fields = _at(_mountinfo(pid), "/prop").fields
    assert host_group not in fields  # never a peer of the host's mount
    if expected is None:
        assert fields == ()
    else:
        assert [f for f in fields if f.startswith(expected)], fields
    if expected == "master:":
        assert fields == ("master:" + host_group.split(":")[1],)


@pytest.mark.parametrize("dest,link", [
    ("/proc/sys/kernel", None),
    ("/proc", None),
    ("/vol", "/proc/sys"),           # through a symlink in the rootfs
    ("/vol/kernel", "../proc/sys"),
])  # fmt: skip
def test_mounts_over_proc_are_refused(
    runtime: Runtime, bundle: Bundle, cid: str, dest: str, link: str | None
) -> None:
    """A tmpfs there would hide what readonlyPaths and maskedPaths protect."""
    if link:
        os.symlink(link, os.path.join(bundle.rootfs, "vol"))
    _add_mount(bundle, dest, "tmpfs", "tmpfs")
    r = _run(runtime, bundle, cid, "true", ok=False)
    assert r.code != 0 and "/proc" in r.err


def test_lxcfs_style_file_over_proc_is_allowed(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    _write(os.path.join(bundle.path, "fake-uptime"), "12345.67 89.00\n")
    _add_mount(bundle, "/proc/uptime", "bind", "fake-uptime", ["bind", "ro"])
    assert _run(runtime, bundle, cid, "cat", "/proc/uptime").out == "12345.67 89.00\n"


# -- /dev --------------------------------------------------------------------------------------

DEFAULT_DEVICES = {
    "null": (1, 3),
    "zero": (1, 5),
    "full": (1, 7),
    "random": (1, 8),
    "urandom": (1, 9),
    "tty": (5, 0),
}
DEFAULT_LINKS = {
    "ptmx": "pts/ptmx",
    "fd": "/proc/self/fd",
    "stdin": "/proc/self/fd/0",
    "stdout": "/proc/self/fd/1",
    "stderr": "/proc/self/fd/2",
}


def test_default_devices(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.set_args("sleep", "1000")
    with created(runtime, bundle, cid) as pid:
        dev = f"/proc/{pid}/root/dev"
        for name, (major, minor) in DEFAULT_DEVICES.items():
            st = os.lstat(f"{dev}/{name}")
            assert stat.S_ISCHR(st.st_mode), name
            assert (os.major(st.st_rdev), os.minor(st.st_rdev)) == (major, minor), name
            assert stat.S_IMODE(st.st_mode) == 0o666 and (st.st_uid, st.st_gid) == (0, 0), name
        for name, target in DEFAULT_LINKS.items():
            assert os.readlink(f"{dev}/{name}") == target, name
        # /dev/core -> /proc/kcore where the kernel has a kcore (CONFIG_PROC_KCORE), as
        # runc; never a dangling link where it has none.
        assert os.path.lexists(f"{dev}/core") == os.path.exists("/proc/kcore")
        if os.path.exists("/proc/kcore"):
            assert os.readlink(f"{dev}/core") == "/proc/kcore"
    out = _run(
        runtime,
        bundle,
        cid,
        "sh",
        "-c",
        "echo gone > /dev/null && head -c 5 /dev/zero | wc -c && "
        "head -c 7 /dev/urandom | wc -c && echo via-fd >> /dev/stdout",
    ).out
    assert out.split() == ["5", "7", "via-fd"]


def test_linux_devices_exact_mode_and_owner(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.config["linux"]["devices"] = [
        {
            "path": "/dev/custom",
            "type": "c",
            "major": 1,
            "minor": 3,
            "fileMode": 0o640,
            "uid": 1234,
            "gid": 5678,
        },
        {"path": "/dev/sub/dir/tty", "type": "c", "major": 5, "minor": 0, "fileMode": 0o600},
        {"path": "/dev/fifo", "type": "p", "fileMode": 0o604, "uid": 1, "gid": 2},
    ]
    bundle.set_args("sleep", "1000")
    with created(runtime, bundle, cid) as pid:
        dev = f"/proc/{pid}/root/dev"
        st = os.lstat(f"{dev}/custom")
        assert (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode)) == (stat.S_IFCHR, 0o640)
        assert (os.major(st.st_rdev), os.minor(st.st_rdev), st.st_uid, st.st_gid) == (
            1,
            3,
            1234,
            5678,
        )
        st = os.lstat(f"{dev}/sub/dir/tty")
        assert (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode)) == (stat.S_IFCHR, 0o600)
        assert (os.major(st.st_rdev), os.minor(st.st_rdev), st.st_uid, st.st_gid) == (5, 0, 0, 0)
        st = os.lstat(f"{dev}/fifo")
        assert (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode)) == (stat.S_IFIFO, 0o604)
        assert (st.st_uid, st.st_gid) == (1, 2)
        # The defaults are still there besides the config's own.
        assert stat.S_ISCHR(os.lstat(f"{dev}/null").st_mode)


def test_dev_bound_from_the_host_gets_no_device_nodes(
    runtime: Runtime, bundle: Bundle, cid: str, host_dir: str
) -> None:
    """A /dev bind means the caller brings its own devices: nothing is created in it."""
    bundle.config["mounts"] = [
        m for m in bundle.config["mounts"] if not m["destination"].startswith("/dev")
    ]
    _add_mount(bundle, "/dev", "bind", host_dir, ["rbind"])
    bundle.config["linux"]["maskedPaths"] = []  # file masks need a /dev/null (test below)
    out = _run(runtime, bundle, cid, "ls", "-A", "/dev").out
    assert out.split() == ["from-host"]
    assert os.listdir(host_dir) == ["from-host"]


@pytest.mark.parametrize("dev_type,major,minor", [("b", 7, 42), ("c", 10, 229)])
def test_linux_devices_outside_the_default_list(
    runtime: Runtime, bundle: Bundle, cid: str, dev_type: str, major: int, minor: int
) -> None:
    bundle.config["linux"]["devices"] = [
        {"path": "/dev/extra", "type": dev_type, "major": major, "minor": minor}
    ]
    bundle.set_args("sleep", "1000")
    with created(runtime, bundle, cid) as pid:
        st = os.lstat(f"/proc/{pid}/root/dev/extra")
        assert (os.major(st.st_rdev), os.minor(st.st_rdev)) == (major, minor)


# -- maskedPaths, readonlyPaths, sysctl ----------------------------------------------------------


def test_masked_paths(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    _write(os.path.join(bundle.rootfs, "etc/secret"), "s3cret\n")
    _write(os.path.join(bundle.rootfs, "etc/secretdir/key"), "k3y\n")
    bundle.config["linux"]["maskedPaths"] += ["/etc/secret", "/etc/secretdir", "/no/such/path"]
    r = _run(
        runtime,
        bundle,
        cid,
        "sh",
        "-c",
        "cat /etc/secret; echo ---; ls -A /etc/secretdir; echo ---; "
        "touch /etc/secretdir/new 2>/dev/null || echo masked-ro",
    )
    assert r.out.split("---\n") == ["", "", "masked-ro\n"]
    with open(os.path.join(bundle.rootfs, "etc/secret")) as f:
        assert f.read() == "s3cret\n"  # the host's file is untouched


def test_masked_file_without_dev_null_fails_closed(
    runtime: Runtime, bundle: Bundle, cid: str, host_dir: str
) -> None:
    _write(os.path.join(bundle.rootfs, "etc/secret"), "s3cret\n")
    bundle.config["mounts"] = [
        m for m in bundle.config["mounts"] if not m["destination"].startswith("/dev")
    ]
    _add_mount(bundle, "/dev", "bind", host_dir, ["rbind"])
    bundle.config["linux"]["maskedPaths"] = ["/etc/secret"]
    r = _run(runtime, bundle, cid, "cat", "/etc/secret", ok=False)
    assert r.code != 0 and "s3cret" not in r.out
    assert "masking /etc/secret: the container has no /dev/null" in r.err


def test_readonly_paths(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    os.makedirs(os.path.join(bundle.rootfs, "etc/rodir"))
    bundle.config["root"]["readonly"] = False
    bundle.config["linux"]["readonlyPaths"] += ["/etc/rodir", "/no/such/path"]
    r = _run(
        runtime,
        bundle,
        cid,
        "sh",
        "-c",
        "touch /etc/rodir/x; echo 1 > /proc/sys/kernel/ns_last_pid; touch /etc/rw-ok",
        ok=False,
    )
    assert r.code == 0, r.err  # the shell's last command succeeded
    assert r.err.count("Read-only file system") == 2, r.err
    assert not os.path.exists(os.path.join(bundle.rootfs, "etc/rodir/x"))
    assert os.path.exists(os.path.join(bundle.rootfs, "etc/rw-ok"))


def _read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def test_sysctl_in_container_namespaces(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    host = (_read("/proc/sys/kernel/shmmax"), _read("/proc/sys/net/ipv4/ip_forward"))
    want_shmmax = "123456789" if host[0] != "123456789" else "987654321"
    want_forward = "0" if host[1] == "1" else "1"
    bundle.config["linux"]["sysctl"] = {
        "kernel.shmmax": want_shmmax,
        "net.ipv4.ip_forward": want_forward,
    }
    out = _run(
        runtime, bundle, cid, "cat", "/proc/sys/kernel/shmmax", "/proc/sys/net/ipv4/ip_forward"
    ).out
    assert out.split() == [want_shmmax, want_forward]
    assert (_read("/proc/sys/kernel/shmmax"), _read("/proc/sys/net/ipv4/ip_forward")) == host


# -- symlinks in the rootfs must never lead a mount out of it --------------------------------------


@pytest.fixture
def host_target(cid: str) -> Iterator[str]:
    """A directory on the host that a hostile rootfs points its symlinks at."""
    path = f"/tmp/host-target-{cid}"
    os.mkdir(path)
    _write(os.path.join(path, "precious"), "host\n")
    yield path
    shutil.rmtree(path)


def _untouched(host_target: str) -> None:
    assert os.listdir(host_target) == ["precious"]
    with open(os.path.join(host_target, "precious")) as f:
        assert f.read() == "host\n"


@pytest.mark.parametrize(
    "link,dest,in_rootfs",
    [
        ("{t}", "/evil", False),  # absolute, dangling inside the rootfs
        ("{t}", "/evil", True),  # absolute, its target exists inside
        ("../../../../../../..{t}", "/evil", False),  # climbing out with ..
        ("../../../../../../..{t}", "/evil", True),
        ("{t}", "/evil/sub/dir", False),  # as a middle component
        ("{t}", "/evil/sub/dir", True),
    ],
)
def test_symlinked_mount_destination_stays_inside(
    runtime: Runtime,
    bundle: Bundle,
    cid: str,
    host_target: str,
    link: str,
    dest: str,
    in_rootfs: bool,
) -> None:
    os.symlink(link.format(t=host_target), os.path.join(bundle.rootfs, "evil"))
    if in_rootfs:
        os.makedirs(os.path.join(bundle.rootfs, host_target.lstrip("/")))
    _add_mount(bundle, dest, "tmpfs", "tmpfs", ["size=1m"])
    bundle.set_args("sleep", "1000")
    before = _host_mount_points()
    with created(runtime, bundle, cid) as pid:
        assert _host_mount_points() == before
        inside = os.path.normpath(os.path.join(host_target, dest.removeprefix("/evil").lstrip("/")))
        # The kernel shows the mount where the symlink led, within the rootfs.
        assert _at(_mountinfo(pid), inside).fstype == "tmpfs"
    _untouched(host_target)
    assert _host_mount_points() == before


def test_symlinked_file_bind_destination_stays_inside(
    runtime: Runtime, bundle: Bundle, cid: str, host_target: str
) -> None:
    _write(os.path.join(bundle.path, "payload"), "container\n")
    os.symlink(os.path.join(host_target, "precious"), os.path.join(bundle.rootfs, "etc/evil"))
    _add_mount(bundle, "/etc/evil", "bind", "payload", ["bind", "ro"])
    out = _run(runtime, bundle, cid, "cat", "/etc/evil", host_target + "/precious").out
    assert out.split() == ["container", "container"]
    _untouched(host_target)
    # The mount point was created in the rootfs, where the container sees the target.
    assert os.path.isfile(os.path.join(bundle.rootfs, host_target.lstrip("/"), "precious"))


# -- runc's mounts.bats and mask.bats: what runc users rely on -------------------------------


def test_readonly_dev_is_made_readonly_last(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """A read-only /dev still gets its devpts and device nodes (runc mounts it writable
    and remounts it read-only at the end; its issue 3248)."""
    for m in bundle.config["mounts"]:
        if m["destination"] == "/dev":
            m["options"].append("ro")
    bundle.set_args("sleep", "1000")
    with created(runtime, bundle, cid) as pid:
        mounts = _mountinfo(pid)
        assert "ro" in _at(mounts, "/dev").opts
        assert _at(mounts, "/dev/pts").fstype == "devpts"
        st = os.lstat(f"/proc/{pid}/root/dev/null")
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)


@pytest.mark.parametrize(
    ("covered", "options", "mode", "shown"),
    [
        (0o710, [], 0o710, "mode=710"),  # the covered directory's mode (runc issue 4971)
        (0o710, ["mode=1500"], 0o1500, "mode=1500"),  # an explicit mode= wins
        (None, [], 0o1777, None),  # a new mountpoint: tmpfs's own default, no mode=
    ],
)
def test_tmpfs_mode(
    runtime: Runtime,
    bundle: Bundle,
    cid: str,
    covered: int | None,
    options: list[str],
    mode: int,
    shown: str | None,
) -> None:
    dest = "/tmpfs" if covered is not None else "/non-existent/foo/bar"
    host = os.path.join(bundle.rootfs, dest.lstrip("/"))
    if covered is not None:
        os.mkdir(host)
        os.chmod(host, covered)
    _add_mount(bundle, dest, "tmpfs", "tmpfs", ["rw", "nodev", "nosuid", *options])
    bundle.set_args("sleep", "1000")
    with created(runtime, bundle, cid) as pid:
        assert stat.S_IMODE(os.stat(f"/proc/{pid}/root{dest}").st_mode) == mode
        shown_modes = {o for o in _at(_mountinfo(pid), dest).super_opts if o.startswith("mode=")}
        assert shown_modes == ({shown} if shown else set())
    # The directories themselves are untouched, or made 0755.
    assert stat.S_IMODE(os.stat(host).st_mode) == (covered if covered is not None else 0o755)


@pytest.mark.parametrize(("fs", "dest"), [("proc", "proc"), ("sysfs", "sys")])
def test_proc_and_sysfs_on_a_symlink_are_refused(
    runtime: Runtime, bundle: Bundle, cid: str, fs: str, dest: str
) -> None:
    """Even a symlink staying inside the rootfs (CVE-2019-19921, CVE-2023-27561; runc's
    mounts.bats "/proc is a symlink")."""
    os.rmdir(os.path.join(bundle.rootfs, dest))
    os.mkdir(os.path.join(bundle.rootfs, f"bad-{dest}"))
    os.symlink(f"/bad-{dest}", os.path.join(bundle.rootfs, dest))
    bundle.set_args("true")
    msg = create_fails(runtime, bundle, cid)
    assert f'filesystem "{fs}" must be mounted on ordinary directory' in msg, msg
    assert os.listdir(os.path.join(bundle.rootfs, f"bad-{dest}")) == []


def test_masked_dirs_share_one_tmpfs_and_duplicates_mount_once(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    for d in ("testdir", "testdir2", "testdir3"):
        os.mkdir(os.path.join(bundle.rootfs, d))
    _write(os.path.join(bundle.rootfs, "testfile"), "Forbidden information!\n")
    masks = ["/testdir", "/testfile", "/testdir/", "/testfile", "/testdir2", "/testdir3"]
    bundle.config["linux"]["maskedPaths"] += masks
    bundle.set_args("sleep", "1000")
    with created(runtime, bundle, cid) as pid:
        mounts = _mountinfo(pid)
        for point in ("/testdir", "/testfile", "/testdir2", "/testdir3"):
            found = [m for m in mounts if m.point == point]
            assert len(found) == 1, (point, found)
            assert "ro" in found[0].opts or point == "/testfile", found
        devs = {
            os.stat(f"/proc/{pid}/root/{d}").st_dev for d in ("testdir", "testdir2", "testdir3")
        }
        assert len(devs) == 1  # one tmpfs, bound on the others
    r = _run(runtime, bundle, cid, "sh", "-c", "touch /testdir3/x 2>&1; cat /testfile", ok=False)
    assert "Read-only file system" in r.out and "Forbidden" not in r.out, r.out


def test_destination_written_as_a_host_path_below_the_rootfs(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    """runc strips the rootfs from such a destination (LexicallyStripRoot)."""
    _add_mount(bundle, os.path.join(bundle.rootfs, "mnt/x"), "tmpfs", "tmpfs", ["size=1m"])
    bundle.set_args("sleep", "1000")
    with created(runtime, bundle, cid) as pid:
        assert _at(_mountinfo(pid), "/mnt/x").fstype == "tmpfs"
    assert not os.path.lexists(os.path.join(bundle.rootfs, bundle.rootfs.lstrip("/")))


def _our_children() -> set[int]:
    """Our live children now. We are a subreaper: a daemon an earlier test started
    (lxcfs, for the procfs view) is among them, so a test compares before and after."""

    def parent(pid: str) -> int:
        try:
            with open(f"/proc/{pid}/stat") as f:
                return int(f.read().rsplit(")", 1)[1].split()[1])
        except (FileNotFoundError, ProcessLookupError):
            return 0

    return {int(p) for p in os.listdir("/proc") if p.isdigit() and parent(p) == os.getpid()}


USERNS_MAP = [{"containerID": 0, "hostID": 100000, "size": 65536}]


@pytest.mark.parametrize("variant", ["plain", "idmap", "userns", "userns-idmap"])
def test_bind_sources_below_the_rootfs_see_earlier_mounts(
    runtime: Runtime, bundle: Bundle, cid: str, variant: str
) -> None:
    """runc's mounts.bats "mount order": a source below the rootfs holds what the
    entries before it mounted, idmapped or not; with a user namespace, a source its
    root cannot reach (a 0750 directory) is still bound, and an idmapped source below
    the rootfs comes from the host's user namespace all the same."""
    if variant.startswith("userns"):
        bundle.config["linux"]["namespaces"].append({"type": "user"})
        bundle.config["linux"]["uidMappings"] = USERNS_MAP
        bundle.config["linux"]["gidMappings"] = USERNS_MAP
    src = os.path.join(bundle.path, "bind-src")
    for sub in ("a/x", "b/y", "c/z"):
        _write(os.path.join(src, sub, "file"), sub + "\n")
        os.symlink(sub.split("/")[0], os.path.join(src, "sym-" + sub.split("/")[0]))
    os.chmod(src, 0o750)
    rootfs = bundle.rootfs
    os.makedirs(os.path.join(rootfs, "mnt"))
    os.makedirs(os.path.join(rootfs, "final"))
    ctr = ["rbind", "rprivate"]
    idmap: dict[str, Any] = {}
    if variant.endswith("idmap"):
        idmap = {"uidMappings": USERNS_MAP, "gidMappings": USERNS_MAP}
        ctr = ["rbind", "idmap", "rprivate"]
    host = ["bind", "rprivate"]
    for source, dest, opts, extra in [
        (f"{src}/a", "/mnt", host, {}),
        (f"{src}/sym-b", "/mnt/x", host, {}),
        (f"{src}/c", "/mnt/x/y", host, {}),
        (f"{src}/sym-a", "/mnt/x/y/z", host, {}),
        (f"{rootfs}/mnt/x", f"{rootfs}/mnt/x/y/z/x", ctr, idmap),
        (f"{rootfs}/mnt/x/y", f"{rootfs}/mnt/x/y/z", ctr, idmap),
        (f"{rootfs}/mnt", f"{rootfs}/final", ctr, idmap),
    ]:
        entry = {"source": source, "destination": dest, "type": "bind", "options": opts}
        bundle.config["mounts"].append({**entry, **extra})
    reap_zombies()
    before = _our_children()
    out = _run(runtime, bundle, cid, "cat", "/final/x/y/z/z/x/y/z/x/file").out
    assert out == "a/x\n"
    reap_zombies()  # a source helper (userns-idmap) is gone, not left behind
    assert not _our_children() - before
    assert not os.path.lexists(os.path.join(rootfs, rootfs.lstrip("/")))


def test_relative_mount_destination_is_taken_from_the_root(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    """runc accepts it with a warning (idmap.bats has one): mounted below the root."""
    _add_mount(bundle, "m/rel", "tmpfs", "tmpfs", ["size=1m"])
    r = _run(runtime, bundle, cid, "cat", "/proc/self/mountinfo")
    assert _at(_parse_mountinfo(r.out), "/m/rel").fstype == "tmpfs"
    assert "mount destination m/rel is not absolute" in r.err, r.err
