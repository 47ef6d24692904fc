"""runc's CVEs as regression tests: each reproduces the attack's shape against pyrunc
(real containers through the CLI where the attack needs one) and asserts it is blocked.

Races are made deterministic where we can (the symlink is already in place when the
runtime looks) and also run against a racing swapper where the shape needs it.
"""

from __future__ import annotations

import array
import json
import os
import shutil
import socket
import subprocess
import threading

import pytest

from tests.helpers import Bundle, Runtime, proc_status


def _outside(workdir: str, cid: str) -> str:
    """A host directory outside every rootfs: nothing may ever appear in it."""
    d = os.path.join(workdir, f"{cid}-outside")
    os.makedirs(d, exist_ok=True)
    return d


def _escape_link(rootfs: str, link_dir: str, host_target: str) -> str:
    """A relative symlink climbing far above the rootfs to reach host_target."""
    return "../" * (rootfs.count("/") + link_dir.count("/") + 4) + host_target.lstrip("/")


def _create(runtime: Runtime, bundle: Bundle, cid: str, *args: str):  # noqa: ANN202
    bundle.set_args(*args)
    return runtime("create", "--bundle", bundle.path, cid)


# -- CVE-2019-5736: overwriting the runtime through /proc/<pid>/exe ---------------------


def test_cve_2019_5736_runtime_exe_unreachable_from_container(runtime, bundle, cid) -> None:
    """While init waits for `start` it is still our Python process: a process in the
    container's namespaces, root but without CAP_SYS_PTRACE (as container processes
    are), must not open /proc/1/exe, the host's interpreter."""
    r = _create(runtime, bundle, cid, "true")
    assert r.code == 0, r.err
    try:
        pid = runtime.state(cid)["pid"]
        assert os.readlink(f"/proc/{pid}/exe").startswith("/")  # the host interpreter
        # The attacker holds what container processes hold (the config's caps, none of
        # them CAP_SYS_PTRACE): only init being non-dumpable stands in the way.
        caps = int(proc_status(pid, "CapPrm"), 16)
        assert not caps & (1 << 19)
        assert _attacker_opens(pid, "/proc/1/exe", caps) == "EACCES"
    finally:
        runtime.ok("delete", "--force", cid)


def _attacker_opens(pid: int, path: str, caps: int) -> str:
    """Join pid's mount and pid namespaces, drop every capability, open path."""
    from pyrunc.linux import capabilities
    from pyrunc.linux import syscalls as sc

    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            for ns, flag in (("pid", sc.CLONE_NEWPID), ("mnt", sc.CLONE_NEWNS)):
                fd = os.open(f"/proc/{pid}/ns/{ns}", os.O_RDONLY)
                sc.setns(fd, flag)
                os.close(fd)
            grandchild = os.fork()  # a pid namespace applies to children
            if grandchild == 0:
                capabilities.set_sets(caps, caps, 0)
                try:
                    os.close(os.open(path, os.O_RDONLY))
                    os.write(w, b"OPENED")
                except PermissionError:
                    os.write(w, b"EACCES")
                except OSError as e:
                    os.write(w, f"errno {e.errno}".encode())
                os._exit(0)
            os.waitpid(grandchild, 0)
        finally:
            os._exit(0)
    os.close(w)
    out = os.read(r, 64).decode()
    os.close(r)
    os.waitpid(child, 0)
    return out


# -- CVE-2019-16884: a fake /proc to make LSM/sysctl writes land in a plain file ---------


def test_cve_2019_16884_fake_proc_bind_is_refused(runtime, bundle, cid, workdir) -> None:
    fake = os.path.join(_outside(workdir, cid), "fakeproc")
    os.makedirs(os.path.join(fake, "sys/kernel"))
    with open(os.path.join(fake, "sys/kernel/domainname"), "w") as f:
        f.write("untouched")
    mounts = bundle.config["mounts"]
    proc = next(m for m in mounts if m["destination"] == "/proc")
    proc.update(type="proc", source=fake, options=["bind"])  # "proc", but a bind
    bundle.config["linux"]["maskedPaths"] = []
    bundle.config["linux"]["readonlyPaths"] = []
    bundle.config["linux"]["sysctl"] = {"kernel.domainname": "written"}
    r = _create(runtime, bundle, cid, "true")
    created = r.code == 0
    if created:
        runtime.ok("delete", "--force", cid)
    assert not created and "/proc" in r.err, r.err
    with open(os.path.join(fake, "sys/kernel/domainname")) as f:
        assert f.read() == "untouched"


# -- CVE-2019-19921 / CVE-2023-27561: a volume over /proc through a symlink --------------


@pytest.mark.parametrize("link", ["/proc", "../proc", "/proc/sys/.."])
def test_cve_2019_19921_volume_over_proc_via_symlink(runtime, bundle, cid, workdir, link) -> None:
    vol = _outside(workdir, cid)
    # Nothing else below /proc would fail either: only the destination check may refuse.
    bundle.config["linux"]["maskedPaths"] = []
    bundle.config["linux"]["readonlyPaths"] = []
    os.symlink(link, os.path.join(bundle.rootfs, "vol"))
    bundle.config["mounts"].append(
        {"destination": "/vol", "type": "bind", "source": vol, "options": ["rbind"]}
    )
    r = _create(runtime, bundle, cid, "true")
    if r.code == 0:
        runtime.ok("delete", "--force", cid)
    assert r.code != 0 and "/proc" in r.err and "mounted" in r.err, r.err


# -- CVE-2021-30465 and CVE-2024-45310: mount destinations swapped for symlinks ---------


class _Swapper(threading.Thread):
    """Exchange a directory and an escaping symlink at `path` as fast as we can."""

    def __init__(self, path: str, link_target: str) -> None:
        super().__init__(daemon=True)
        self.path, self.stop = path, threading.Event()
        self.dir, self.link = path + ".d", path + ".l"
        os.makedirs(self.dir)
        os.symlink(link_target, self.link)
        os.rename(self.dir, path)

    def run(self) -> None:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        a, b = os.fsencode(self.path), os.fsencode(self.link)
        while not self.stop.is_set():  # renameat2(RENAME_EXCHANGE)
            libc.renameat2(-100, a, -100, b, 2)


def test_cve_2021_30465_racing_symlink_exchange(runtime, bundle, cid, workdir) -> None:
    outside = _outside(workdir, cid)
    mnt = os.path.join(bundle.rootfs, "mnt")
    os.makedirs(mnt, exist_ok=True)
    swap = _Swapper(os.path.join(mnt, "a"), _escape_link(bundle.rootfs, "/mnt", outside))
    for name in ("t1", "t2", "t3"):
        bundle.config["mounts"].append(
            {"destination": f"/mnt/a/{name}", "type": "tmpfs", "source": "tmpfs"}
        )
    swap.start()
    try:
        for i in range(12):
            r = _create(runtime, bundle, f"{cid}x{i}", "true")
            if r.code == 0:
                runtime.ok("delete", "--force", f"{cid}x{i}")
    finally:
        swap.stop.set()
        swap.join()
    assert os.listdir(outside) == [], "a mount destination was created on the host"


@pytest.mark.parametrize("kind", ["file", "dir"])
def test_cve_2024_45310_no_empty_files_or_dirs_on_host(runtime, bundle, cid, workdir, kind):
    outside = _outside(workdir, cid)
    os.symlink(_escape_link(bundle.rootfs, "/", outside), os.path.join(bundle.rootfs, "esc"))
    src = os.path.join(workdir, f"{cid}-src-{kind}")
    if kind == "file":
        open(src, "w").close()
    else:
        os.makedirs(src)
    bundle.config["mounts"].append(
        {"destination": "/esc/deep/er/target", "type": "bind", "source": src, "options": ["bind"]}
    )
    r = _create(runtime, bundle, cid, "true")
    if r.code == 0:
        runtime.ok("delete", "--force", cid)
    assert os.listdir(outside) == [], "the runtime created something on the host"
    # ... and what it created is inside the rootfs, where the container would see it
    assert os.path.lexists(os.path.join(bundle.rootfs, outside.lstrip("/"), "deep/er/target"))


# -- CVE-2023-28642: /proc a symlink in the rootfs ---------------------------------------


def test_cve_2023_28642_proc_symlink_refused(runtime, bundle, cid, workdir) -> None:
    """/proc in the rootfs is a symlink climbing out of it: refused before anything is
    mounted through it, in runc's words (CVE-2019-19921, CVE-2023-27561: runc's
    mounts.bats "/proc is a symlink"); nothing appears on the host, no sysctl is
    written."""
    outside = _outside(workdir, cid)
    os.rmdir(os.path.join(bundle.rootfs, "proc"))
    os.symlink(_escape_link(bundle.rootfs, "/", outside), os.path.join(bundle.rootfs, "proc"))
    bundle.config["linux"]["maskedPaths"] = []
    bundle.config["linux"]["readonlyPaths"] = []
    bundle.config["linux"]["sysctl"] = {"kernel.domainname": "dom28642"}
    r = _create(runtime, bundle, cid, "true")
    if r.code == 0:
        runtime.ok("delete", "--force", cid)
    assert r.code == 1
    assert "must be mounted on ordinary directory" in r.err, r.err
    assert os.listdir(outside) == []
    with open("/proc/sys/kernel/domainname") as f:
        assert f.read().strip() != "dom28642"


# -- CVE-2024-21626: a leaked runtime fd as the container's cwd --------------------------


@pytest.mark.parametrize("n", range(3, 9))
def test_cve_2024_21626_cwd_through_leaked_fd(runtime, bundle, cid, n) -> None:
    bundle.config["process"]["cwd"] = f"/proc/self/fd/{n}"
    r = _create(runtime, bundle, cid, "sleep", "30")
    if r.code != 0:
        assert "cwd" in r.err  # refused: a magic link is never followed
        return
    try:
        pid = runtime.state(cid)["pid"]
        # (readlink of /proc/<pid>/root says "/" for a root in another mount namespace,
        # so compare inodes.) The leaked fd would be the state dir, host-side.
        cwd = os.stat(f"/proc/{pid}/cwd")
        state_dir = os.stat(os.path.join(runtime.root, cid))
        assert (cwd.st_dev, cwd.st_ino) != (state_dir.st_dev, state_dir.st_ino)
        assert not os.readlink(f"/proc/{pid}/cwd").startswith(runtime.root)
        assert _inside(bundle.rootfs, cwd), "cwd outside the rootfs"
    finally:
        runtime.ok("delete", "--force", cid)


def _inside(rootfs: str, st: os.stat_result) -> bool:
    """Whether a directory with st's identity is in the rootfs tree (the host's view)."""
    for dirpath, dirnames, _ in os.walk(rootfs):
        for d in [dirpath, *(os.path.join(dirpath, n) for n in dirnames)]:
            s = os.lstat(d)
            if (s.st_dev, s.st_ino) == (st.st_dev, st.st_ino):
                return True
    return False


def test_cve_2024_21626_container_has_only_its_stdio(runtime, bundle, cid) -> None:
    """From the host: after `start` the container process holds fds 0-2 and nothing of
    ours (state dir, procfs, channel, cwd), and its cwd is inside the rootfs."""
    r = _create(runtime, bundle, cid, "sleep", "30")
    assert r.code == 0, r.err
    try:
        runtime.ok("start", cid)
        pid = runtime.state(cid)["pid"]
        for _ in range(100):  # until the exec happened
            if os.readlink(f"/proc/{pid}/exe").endswith("busybox"):
                break
            threading.Event().wait(0.02)
        assert sorted(int(x) for x in os.listdir(f"/proc/{pid}/fd")) == [0, 1, 2]
        cwd, root = os.stat(f"/proc/{pid}/cwd"), os.stat(bundle.rootfs)
        assert (cwd.st_dev, cwd.st_ino) == (root.st_dev, root.st_ino)
    finally:
        runtime.ok("delete", "--force", cid)


# -- CVE-2025-31133: maskedPaths' /dev/null swapped for a symlink -------------------------


@pytest.mark.parametrize("fake", ["symlink-procfs", "regular-file"])
def test_cve_2025_31133_dev_null_replaced(runtime, bundle, cid, workdir, fake) -> None:
    dev = os.path.join(workdir, f"{cid}-dev")
    os.makedirs(dev)
    if fake == "symlink-procfs":
        os.symlink("/proc/sys/kernel/domainname", os.path.join(dev, "null"))
    else:
        open(os.path.join(dev, "null"), "w").close()
    bundle.config["mounts"] = [
        m for m in bundle.config["mounts"] if not m["destination"].startswith("/dev")
    ] + [{"destination": "/dev", "type": "bind", "source": dev, "options": ["rbind"]}]
    with open(os.path.join(bundle.rootfs, "etc/secret"), "w") as f:
        f.write("s3cret")
    bundle.config["linux"]["maskedPaths"] = ["/etc/secret"]
    bundle.config["hostname"] = "h"
    r = _create(runtime, bundle, cid, "true")
    if r.code == 0:
        runtime.ok("delete", "--force", cid)
    assert r.code != 0 and "not the null device" in r.err, r.err


# -- CVE-2025-52565: /dev/console bind-mount redirected -----------------------------------


def test_cve_2025_52565_console_symlink_stays_inside(runtime, bundle, cid, workdir) -> None:
    outside = _outside(workdir, cid)
    victim = os.path.join(outside, "victim")
    with open(victim, "w") as f:
        f.write("host file")
    dev = os.path.join(workdir, f"{cid}-dev")
    shutil.copytree(os.path.join(bundle.rootfs, "dev"), dev, symlinks=True)
    for node in ("null", "zero", "tty", "ptmx"):
        subprocess.run(["cp", "-a", f"/dev/{node}", dev], check=True)
    os.makedirs(os.path.join(dev, "pts"), exist_ok=True)
    os.symlink(_escape_link(bundle.rootfs, "/dev", victim), os.path.join(dev, "console"))
    bundle.config["mounts"] = [m for m in bundle.config["mounts"] if m["destination"] != "/dev"] + [
        {"destination": "/dev", "type": "bind", "source": dev, "options": ["rbind"]}
    ]
    bundle.config["mounts"].sort(key=lambda m: m["destination"].count("/"))
    bundle.config["process"]["terminal"] = True
    sock_path = os.path.join(workdir, f"{cid}.console")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(sock_path)
    server.listen(1)
    got: list[int] = []

    def take() -> None:
        server.settimeout(30)
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn:
            _, anc, _, _ = conn.recvmsg(64, socket.CMSG_SPACE(4))
            for _, _, payload in anc:
                got.extend(array.array("i", payload))

    t = threading.Thread(target=take, daemon=True)
    t.start()
    bundle.set_args("true")
    r = runtime("create", "--console-socket", sock_path, "--bundle", bundle.path, cid)
    try:
        if r.code != 0 and "terminal" in r.err and "not supported" in r.err:
            pytest.skip("terminals are not supported by this build yet")
        assert r.code == 0, r.err
    finally:
        if r.code == 0:
            runtime.ok("delete", "--force", cid)
        server.close()
        t.join(5)
        for fd in got:
            os.close(fd)
        os.unlink(sock_path)
    with open(victim) as f:
        assert f.read() == "host file"
    assert sorted(os.listdir(outside)) == ["victim"]


# -- CVE-2025-52881: /proc writes redirected by an overmount -----------------------------


@pytest.mark.parametrize("redirect", ["plain-file", "other-procfs-file"])
def test_cve_2025_52881_redirected_sysctl_write(workdir, redirect) -> None:
    """The end state of the race, built directly in a private mount namespace: a file
    is bound over /proc/sys/kernel/domainname. pyrunc's sysctl write must fail, not
    land in the file bound there."""
    from pyrunc.linux import paths, sysctl
    from pyrunc.linux import syscalls as sc

    decoy = os.path.join(workdir, f"decoy-{redirect}")
    with open(decoy, "w") as f:
        f.write("decoy")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            sc.unshare(sc.CLONE_NEWNS | sc.CLONE_NEWUTS)
            sc.mount(None, "/", None, sc.MS_PRIVATE | sc.MS_REC, None)
            src = decoy if redirect == "plain-file" else "/proc/sys/kernel/hostname"
            sc.mount(src, "/proc/sys/kernel/domainname", None, sc.MS_BIND, None)
            try:
                fd = paths.open_procfs()
                sysctl.apply({"kernel.domainname": "attacker"}, fd)
                verdict = "WRITTEN"
            except OSError as e:
                verdict = f"refused {e.errno}"
            os.write(w, f"{verdict} {os.uname().nodename}".encode())
        finally:
            os._exit(0)
    os.close(w)
    out = os.read(r, 256).decode()
    os.close(r)
    os.waitpid(pid, 0)
    assert out.startswith("refused"), out
    assert "attacker" not in out  # the hostname (other procfs file) untouched
    with open(decoy) as f:
        assert f.read() == "decoy"


def test_cve_2025_52881_fake_procfs_root_is_refused(workdir) -> None:
    from pyrunc.linux import paths

    fake = os.path.join(workdir, "fake-proc-root")
    os.makedirs(fake, exist_ok=True)
    with pytest.raises(OSError):
        paths.open_procfs(fake)
    with pytest.raises(OSError):
        paths.open_procfs("/proc/sys")  # procfs, but not its root


# -- CVE-2022-29162: inheritable capabilities --------------------------------------------


@pytest.mark.parametrize("uid", [0, 1000])
def test_cve_2022_29162_no_inheritable_or_ambient_caps(runtime, bundle, cid, uid) -> None:
    caps = bundle.config["process"]["capabilities"]
    caps.pop("inheritable", None)
    caps.pop("ambient", None)
    bundle.config["process"]["user"] = {"uid": uid, "gid": uid}
    r = _create(runtime, bundle, cid, "sleep", "30")
    assert r.code == 0, r.err
    try:
        runtime.ok("start", cid)
        pid = runtime.state(cid)["pid"]
        for _ in range(100):
            if os.readlink(f"/proc/{pid}/exe").endswith("busybox"):
                break
            threading.Event().wait(0.02)
        assert int(proc_status(pid, "CapInh"), 16) == 0
        assert int(proc_status(pid, "CapAmb"), 16) == 0
        if uid:
            assert int(proc_status(pid, "CapEff"), 16) == 0  # nothing regained at exec
        bounding = int(proc_status(pid, "CapBnd"), 16)
        from pyrunc.linux.capabilities import mask_of

        assert bounding == mask_of(tuple(caps.get("bounding", ())))
    finally:
        runtime.ok("delete", "--force", cid)


# -- CVE-2021-43784: the parent/child channel rejects oversized and forged frames --------


def _pair():  # noqa: ANN202
    from pyrunc.process.channel import Channel

    return Channel.pair()


@pytest.mark.parametrize(
    "frame",
    [
        b"x" * ((1 << 16) + 1),  # oversized (MAX_FRAME + 1)
        b"{" * 1000 + b"}" * 1000,  # not JSON
        b"[" * 60000 + b"]" * 5000,  # nesting deep enough to blow the parser's stack
        b'["type", "ready"]',  # not an object
        b'{"kind": "ready"}',  # no type
        b'{"type": 7}',  # type not a string
        b"\x00" * 64,
    ],
)
def test_cve_2021_43784_channel_rejects_forged_frames(frame: bytes) -> None:
    from pyrunc.process.channel import ChannelError

    ours, theirs = _pair()
    try:
        theirs.sock.send(frame)
        with pytest.raises(ChannelError):
            ours.recv()
    finally:
        ours.close()
        theirs.close()


def test_cve_2021_43784_channel_refuses_unasked_fds() -> None:
    from pyrunc.process.channel import ChannelError

    ours, theirs = _pair()
    extra = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
    before = set(os.listdir("/proc/self/fd"))
    try:
        theirs.send_fd("ready", extra)
        with pytest.raises(ChannelError):
            ours.recv()
        assert set(os.listdir("/proc/self/fd")) <= before  # nothing smuggled in stays open
    finally:
        os.close(extra)
        ours.close()
        theirs.close()


def test_cve_2021_43784_runtime_rejects_forged_messages(runtime, bundle, cid) -> None:
    """A frame from init with a forged pid is refused by the runtime (not trusted)."""
    from pyrunc.errors import CreateFailed
    from pyrunc.process.reap import checked_pid

    for bad in (True, 1, 0, -5, "123", 1.5, None, [2]):
        with pytest.raises(CreateFailed):
            checked_pid(bad)
    assert json.dumps(bundle.config)  # the fixture is used for the leak check only
