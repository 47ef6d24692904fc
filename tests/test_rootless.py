"""Rootless mode: pyrunc run by an ordinary user, on a `pyrunc spec --rootless` bundle.

The suite makes that user (useradd, a free uid, removed at the end) and runs pyrunc as
it (runuser), with an interpreter the user can reach and this tree on PYTHONPATH. What
is checked is the kernel's view of the container's init: its uid_map and gid_map, its
credentials, setgroups, its hostname, the cgroups it is in (the ones it was started
from: the user cannot make a cgroup here), and where the state lives
($XDG_RUNTIME_DIR/pyrunc). runc, run by the same user on its own rootless spec, is the
reference where that is cheap.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests import host
from tests.helpers import (
    REPO,
    Result,
    error_message,
    is_dead,
    mountinfo,
    proc_status,
    reap_zombies,
)
from tests.leakcheck import LeakCheck

USER_NAME = f"pyrunc-rl{os.getpid() % 100000}"


@dataclass
class User:
    name: str
    uid: int
    gid: int
    xdg: str  # its XDG_RUNTIME_DIR
    python: str  # an interpreter it can run pyrunc with
    tree: str = REPO  # this tree, or a copy the user may read (_readable_copy)
    cgroup: str | None = None  # a cgroup dir its processes start in, not the test's own

    def env(self) -> list[str]:
        return [
            "env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", f"HOME={self.xdg}",
            f"USER={self.name}", f"XDG_RUNTIME_DIR={self.xdg}", f"PYTHONPATH={self.tree}",
            "PYRUNC_IMPORT_GUARD=1",
        ]  # fmt: skip

    def run(self, argv: list[str], cwd: str | None = None, timeout: float = 60) -> Result:
        """argv as this user; files, not pipes (a detached container keeps its stdio)."""
        cmd = ["runuser", "-u", self.name, "--", *self.env(), *argv]
        if self.cgroup:  # moved there by root, as a login manager would place a session
            cmd = ["sh", "-c", 'echo $$ >"$0/cgroup.procs" && exec "$@"', self.cgroup, *cmd]
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                               cwd=cwd, timeout=timeout)  # fmt: skip
            out.seek(0)
            err.seek(0)
            return Result(p.returncode, out.read().decode(errors="replace"),
                          err.read().decode(errors="replace"))  # fmt: skip

    def pyrunc(self, *args: str, cwd: str | None = None) -> Result:
        return self.run([self.python, "-m", "pyrunc", *args], cwd=cwd)

    def runc(self, runc: str, *args: str, prefix: tuple[str, ...] = ()) -> Result:
        """runc, the reference, as this user, with its own state root (prefix: what
        runs it, such as _in_own_userns's unshare)."""
        return self.run([*prefix, runc, "--root", os.path.join(self.xdg, "runc-ref"), *args])

    def ok(self, *args: str, cwd: str | None = None) -> Result:
        r = self.pyrunc(*args, cwd=cwd)
        assert r.code == 0, f"pyrunc {' '.join(args)} as {self.name} failed ({r.code}): {r.err}"
        return r


def _free_uid(start: int = 2600) -> int:
    taken = {p.pw_uid for p in pwd.getpwall()}
    uid = start
    while uid in taken or _in_subid_files(uid):
        uid += 1
    return uid


def _in_subid_files(uid: int) -> bool:
    """Whether uid lies in another user's subordinate range (it would be mapped there)."""
    for path in ("/etc/subuid", "/etc/subgid"):
        try:
            with open(path) as f:
                lines = f.read().split()
        except FileNotFoundError:
            continue
        for line in lines:
            parts = line.split(":")
            if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                if int(parts[1]) <= uid < int(parts[1]) + int(parts[2]):
                    return True
    return False


def _reachable_python(user: User) -> str | None:
    """The first interpreter that, run as user, imports this tree's CLI."""
    probe = f"import sys; sys.path.insert(0, {user.tree!r}); import pyrunc.cli.main"
    candidates = [sys.executable, shutil.which("python3", path="/usr/bin:/bin"),
                  f"/usr/bin/python{sys.version_info[0]}.{sys.version_info[1]}"]  # fmt: skip
    for python in dict.fromkeys(c for c in candidates if c):
        if user.run([python, "-I", "-c", probe]).code == 0:
            return python
    return None


@pytest.fixture(scope="session")
def rootless_user() -> Iterator[User]:
    if shutil.which("useradd") is None or shutil.which("runuser") is None:
        pytest.skip("useradd/runuser missing: cannot make an unprivileged user")
    uid = _free_uid()
    subprocess.run(["useradd", "-M", "-N", "-u", str(uid), "-s", "/bin/sh", USER_NAME],
                   check=True, capture_output=True)  # fmt: skip
    xdg = tempfile.mkdtemp(prefix=f"pyrunc-xdg-{uid}-", dir="/run")
    copy = ""
    try:
        gid = pwd.getpwnam(USER_NAME).pw_gid
        os.chown(xdg, uid, gid)
        os.chmod(xdg, 0o700)
        user = User(USER_NAME, uid, gid, xdg, "")
        python = _reachable_python(user)
        if python is None:  # a tree the user may not enter (CI's 0700 clone): a copy
            user.tree = copy = _readable_copy()
            python = _reachable_python(user)
        if python is None:
            pytest.skip(f"no Python interpreter with this tree that {USER_NAME} can run "
                        f"({sys.executable} lies where it cannot go)")  # fmt: skip
        user.python = python
        if user.run(["unshare", "--user", "true"]).code != 0:
            pytest.skip("unprivileged user namespaces are disabled on this host")
        yield user
    finally:
        reap_zombies()
        shutil.rmtree(xdg, ignore_errors=True)
        if copy:
            shutil.rmtree(copy, ignore_errors=True)
        subprocess.run(["userdel", USER_NAME], capture_output=True)


def _readable_copy() -> str:
    """This tree's code (pyrunc/ and its schemas, spec/) where any user may read it: the
    same code an installed pyrunc would be, out of a directory only root may enter."""
    top = tempfile.mkdtemp(prefix="pyrunc-rl-tree-", dir="/var/tmp")
    for name in ("pyrunc", "spec"):
        shutil.copytree(os.path.join(REPO, name), os.path.join(top, name),
                        ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    for d, _, files in os.walk(top):
        os.chmod(d, 0o755)
        for f in files:
            os.chmod(os.path.join(d, f), 0o644)
    return top


@pytest.fixture
def leaks(workdir: str, state_root: str) -> Iterator[None]:
    """The suite's leak check (mounts, cgroups, processes, fds) for these tests too."""
    check = LeakCheck.for_run(workdir, state_root)
    yield
    assert check.leaks() == {}


def _user_bundle(user: User, workdir: str, rootfs: str, name: str, spec: list[str]) -> str:
    """A bundle the user owns: config.json from `spec --rootless` (run as the user, so
    its ids are the mapping), the busybox rootfs (root's, readable by all)."""
    path = os.path.join(workdir, f"rl-{name}")
    os.makedirs(path)
    os.chown(path, user.uid, user.gid)
    r = user.run([*spec, "spec", "--rootless"], cwd=path)
    assert r.code == 0, r.err
    shutil.copytree(rootfs, os.path.join(path, "rootfs"), symlinks=True)
    return path


def _edit(bundle: str, *args: str, **linux: object) -> None:
    p = os.path.join(bundle, "config.json")
    with open(p) as f:
        cfg = json.load(f)
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = list(args)
    cfg["linux"].update(linux)
    with open(p, "w") as f:
        json.dump(cfg, f)


@pytest.fixture
def user_bundle(rootless_user: User, workdir: str, busybox_rootfs: str, cid: str) -> str:
    user = rootless_user
    return _user_bundle(user, workdir, busybox_rootfs, cid, [user.python, "-m", "pyrunc"])


def _rewrite(bundle: str, edit: Any) -> None:
    p = os.path.join(bundle, "config.json")
    with open(p) as f:
        cfg = json.load(f)
    edit(cfg)
    with open(p, "w") as f:
        json.dump(cfg, f)


def _set_user(bundle: str, uid: int, gid: int) -> None:
    _rewrite(bundle, lambda cfg: cfg["process"].update(user={"uid": uid, "gid": gid}))


def _map(pid: int, name: str) -> list[str]:
    with open(f"/proc/{pid}/{name}") as f:
        return f.read().split()


def _cgroups(pid: int | str) -> str:
    with open(f"/proc/{pid}/cgroup") as f:
        return f.read()


def _wait_dead(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not is_dead(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_spec_rootless_maps_the_callers_ids(rootless_user: User, user_bundle: str) -> None:
    with open(os.path.join(user_bundle, "config.json")) as f:
        lx = json.load(f)["linux"]
    one = [{"containerID": 0, "hostID": rootless_user.uid, "size": 1}]
    assert lx["uidMappings"] == one
    assert lx["gidMappings"] == [{"containerID": 0, "hostID": rootless_user.gid, "size": 1}]
    assert "resources" not in lx and "network" not in [n["type"] for n in lx["namespaces"]]


def test_lifecycle_as_an_ordinary_user(
    rootless_user: User, user_bundle: str, cid: str, leaks: None
) -> None:
    """create/start/state/list/exec/ps/kill/delete by the user, checked in /proc."""
    user = rootless_user
    _edit(user_bundle, "sleep", "300")
    state_dir = os.path.join(user.xdg, "pyrunc", cid)
    user.ok("create", "--bundle", user_bundle, cid)
    try:
        state = json.loads(user.ok("state", cid).out)
        pid = state["pid"]
        assert state["status"] == "created"
        # The kernel's view of init: our single-id mapping, setgroups denied first.
        assert _map(pid, "uid_map") == ["0", str(user.uid), "1"]
        assert _map(pid, "gid_map") == ["0", str(user.gid), "1"]
        assert _map(pid, "setgroups") == ["deny"]
        assert proc_status(pid, "Uid").split() == [str(user.uid)] * 4
        # Devices are the host's nodes bound in (mknod is not for a user namespace).
        points = {line.split()[4]: line.split()[3] for line in mountinfo(pid)}
        for name in ("null", "zero", "tty"):
            assert f"/dev/{name}" in points, f"/dev/{name} is not a bind mount"
            there = os.stat(f"/proc/{pid}/root/dev/{name}")
            assert (there.st_rdev, there.st_ino) == (os.stat(f"/dev/{name}").st_rdev,
                                                     os.stat(f"/dev/{name}").st_ino)  # fmt: skip
        # No cgroup of its own: it is where runuser started pyrunc, as this process.
        assert _cgroups(pid) == _cgroups("self")
        assert cid not in _cgroups(pid)
        # The state root is $XDG_RUNTIME_DIR/pyrunc, as runc's is .../runc.
        st = os.stat(state_dir)
        assert st.st_uid == user.uid
        assert os.stat(os.path.dirname(state_dir)).st_mode & 0o7777 == 0o1700
        assert not os.path.exists(os.path.join("/run/pyrunc", cid))
        listed = user.ok("list", "--format", "json").json()
        assert [(c["id"], c["pid"], c["owner"]) for c in listed] == [(cid, pid, user.name)]
        assert user.ok("list").out.splitlines()[1].split()[-1] == user.name  # runc's OWNER

        # Created, the user may join it (runc create.bats "runc create exec", rootless):
        # the kernel lets it open init's namespaces.
        assert os.lstat(f"/proc/{pid}/ns/user").st_uid == user.uid
        assert user.ok("exec", cid, "cat", "/proc/self/uid_map").out.split() == [
            "0", str(user.uid), "1",
        ]  # fmt: skip
        user.ok("start", cid)
        assert json.loads(user.ok("state", cid).out)["status"] == "running"
        r = user.ok("exec", cid, "sh", "-c", "id -u; hostname; cat /proc/self/uid_map")
        assert r.out.split() == ["0", "pyrunc", "0", str(user.uid), "1"]
        user.ok("exec", "-d", cid, "sleep", "301")
        pids = user.ok("ps", "--format", "json", cid).json()
        assert pid in pids and len(pids) == 2
        other = next(p for p in pids if p != pid)
        with open(f"/proc/{other}/cmdline", "rb") as f:
            assert f.read().split(b"\0")[:2] == [b"sleep", b"301"]
        assert os.readlink(f"/proc/{other}/ns/pid") == os.readlink(f"/proc/{pid}/ns/pid")

        user.ok("kill", "--all", cid, "KILL")
        assert _wait_dead(pid) and _wait_dead(other)
        assert json.loads(user.ok("state", cid).out)["status"] == "stopped"
        user.ok("delete", cid)
        assert not os.path.exists(state_dir)
        assert user.ok("list", "-q").out == ""
    finally:
        user.pyrunc("delete", "--force", cid)
        reap_zombies()


def test_delete_force_kills_every_process(
    rootless_user: User, user_bundle: str, cid: str, leaks: None
) -> None:
    user = rootless_user
    _edit(user_bundle, "sh", "-c", "sleep 300 & sleep 300")
    user.ok("run", "-d", "--bundle", user_bundle, cid)
    pids = user.ok("ps", "--format", "json", cid).json()
    assert len(pids) >= 2, pids  # sh's two sleeps (sh execs the last)
    user.ok("delete", "--force", cid)
    assert all(_wait_dead(p) for p in pids)
    assert user.pyrunc("state", cid).code == 1


def test_limits_without_a_cgroup_are_refused_as_runc(
    rootless_user: User, workdir: str, busybox_rootfs: str, cid: str, leaks: None
) -> None:
    """runc's rootless v1 words when the config asks for a limit and the user has no
    cgroup to hold it; nothing is left behind."""
    user = rootless_user
    ours = _user_bundle(user, workdir, busybox_rootfs, cid, [user.python, "-m", "pyrunc"])
    _edit(ours, "true", resources={"pids": {"limit": 10}})
    r = user.pyrunc("run", "--bundle", ours, cid)
    assert r.code == 1 and len(r.err.strip().splitlines()) == 1, r.err
    want = "cannot set pids limit: container could not join or create cgroup"
    assert error_message(r.err) == want
    assert user.pyrunc("state", cid).code == 1
    assert not os.path.exists(os.path.join(user.xdg, "pyrunc", cid))
    runc = host.runc_binary()
    if runc is not None:
        theirs = _user_bundle(user, workdir, busybox_rootfs, cid + "-runc", [runc])
        _edit(theirs, "true", resources={"pids": {"limit": 10}})
        r = user.runc(runc, "run", "--bundle", theirs, cid)
        assert r.code != 0 and want in r.err, r.err
        user.runc(runc, "delete", "--force", cid)


def test_run_prints_what_runc_prints(
    rootless_user: User, workdir: str, busybox_rootfs: str, cid: str, leaks: None
) -> None:
    """The issue's example, side by side: uid 0 inside, the caller's id outside."""
    runc = host.runc_binary()
    if runc is None:
        pytest.skip("runc is not installed: nothing to compare")
    user = rootless_user
    script = ("sh", "-c", "id; cat /proc/self/uid_map /proc/self/gid_map; hostname")
    ours = _user_bundle(user, workdir, busybox_rootfs, cid, [user.python, "-m", "pyrunc"])
    theirs = _user_bundle(user, workdir, busybox_rootfs, cid + "-runc", [runc])
    _edit(ours, *script)
    _edit(theirs, *script)
    got = user.pyrunc("run", "--bundle", ours, cid)
    want = user.runc(runc, "run", "--bundle", theirs, cid)
    reap_zombies()
    assert (got.code, want.code) == (0, 0), (got.err, want.err)
    assert got.out.split() == want.out.replace("runc", "pyrunc").split()
    assert got.out.split()[:3] == ["uid=0(root)", "gid=0(root)", "groups=0(root)"]
    assert got.out.split()[3:6] == ["0", str(user.uid), "1"]


def test_rootless_false_keeps_the_cgroup_error(
    rootless_user: User, user_bundle: str, cid: str, leaks: None
) -> None:
    """--rootless false: the user asked for cgroups, and gets the kernel's refusal."""
    user = rootless_user
    _edit(user_bundle, "true")
    r = user.pyrunc("--rootless", "false", "run", "--bundle", user_bundle, cid)
    assert r.code == 1 and "permission denied" in error_message(r.err), r.err
    assert user.pyrunc("state", cid).code == 1


def _subordinate_start(path: str, name: str) -> int | None:
    """The start of name's first range of at least 65536 ids in /etc/subuid or subgid."""
    try:
        with open(path) as f:
            lines = f.read().split()
    except FileNotFoundError:
        return None
    for line in lines:
        parts = line.split(":")
        if len(parts) == 3 and parts[0] == name and int(parts[2]) >= 65536:
            return int(parts[1])
    return None


def test_several_ranges_through_newuidmap(
    rootless_user: User, workdir: str, busybox_rootfs: str, cid: str, leaks: None
) -> None:
    """More than the caller's own id: the maps go through newuidmap/newgidmap (which
    check /etc/subuid and subgid), as runc does; the kernel's view matches runc's."""
    user = rootless_user
    tools = [shutil.which(t, path="/usr/bin:/bin") for t in ("newuidmap", "newgidmap")]
    if None in tools:
        pytest.skip("newuidmap/newgidmap missing (Debian: apt-get install uidmap)")
    subuid = _subordinate_start("/etc/subuid", user.name)
    subgid = _subordinate_start("/etc/subgid", user.name)
    if subuid is None or subgid is None:
        pytest.skip(f"useradd gave {user.name} no subordinate ids (/etc/subuid, /etc/subgid)")
    uids = [{"containerID": 0, "hostID": user.uid, "size": 1},
            {"containerID": 1, "hostID": subuid, "size": 65536}]  # fmt: skip
    gids = [{"containerID": 0, "hostID": user.gid, "size": 1},
            {"containerID": 1, "hostID": subgid, "size": 65536}]  # fmt: skip
    # As uid 1000 (no CAP_CHOWN in the spec), in /dev/shm (the spec's root is read-only).
    script = ("sh", "-c", "touch /dev/shm/f.tmp; mv /dev/shm/f.tmp /dev/shm/f; sleep 300")
    ours = _user_bundle(user, workdir, busybox_rootfs, cid, [user.python, "-m", "pyrunc"])
    _edit(ours, *script, uidMappings=uids, gidMappings=gids)
    _set_user(ours, 1000, 1000)
    user.ok("run", "-d", "--bundle", ours, cid)
    try:
        pid = json.loads(user.ok("state", cid).out)["pid"]
        want_uids = ["0", str(user.uid), "1", "1", str(subuid), "65536"]
        assert _map(pid, "uid_map") == want_uids
        assert _map(pid, "gid_map") == ["0", str(user.gid), "1", "1", str(subgid), "65536"]
        made = f"/proc/{pid}/root/dev/shm/f"  # what the container's uid 1000 is outside
        deadline = time.monotonic() + 5
        while not os.path.exists(made):
            assert time.monotonic() < deadline, "the container did not make /dev/shm/f"
            time.sleep(0.05)
        assert (os.stat(made).st_uid, os.stat(made).st_gid) == (subuid + 999, subgid + 999)
        assert proc_status(pid, "Uid").split() == [str(subuid + 999)] * 4
        assert _cgroups(pid) == _cgroups("self")
    finally:
        user.pyrunc("delete", "--force", cid)
        reap_zombies()
    runc = host.runc_binary()
    if runc is not None:  # runc, same maps, same script: the same maps in the kernel
        theirs = _user_bundle(user, workdir, busybox_rootfs, cid + "-runc", [runc])
        _edit(theirs, "cat", "/proc/self/uid_map", uidMappings=uids, gidMappings=gids)
        r = user.runc(runc, "run", "--bundle", theirs, cid)
        reap_zombies()
        assert r.code == 0, r.err
        assert r.out.split() == want_uids


def test_a_map_outside_the_users_ranges_is_refused(
    rootless_user: User, user_bundle: str, cid: str, leaks: None
) -> None:
    """newuidmap's own refusal, in one line, and nothing left behind."""
    user = rootless_user
    if shutil.which("newuidmap", path="/usr/bin:/bin") is None:
        pytest.skip("newuidmap missing (Debian: apt-get install uidmap)")
    _edit(user_bundle, "true", uidMappings=[{"containerID": 0, "hostID": 0, "size": 1}])
    r = user.pyrunc("run", "--bundle", user_bundle, cid)
    assert r.code == 1 and len(r.err.strip().splitlines()) == 1, r.err
    assert "failed to use newuidmap" in error_message(r.err), r.err
    assert user.pyrunc("state", cid).code == 1
    assert not os.path.exists(os.path.join(user.xdg, "pyrunc", cid))


def _without_user_namespace(bundle: str, *args: str) -> None:
    """A config that makes no user namespace: the one rootless podman gives its runtime,
    which already runs as root in the user's namespace."""
    _edit(bundle, *args)
    p = os.path.join(bundle, "config.json")
    with open(p) as f:
        cfg = json.load(f)
    lx = cfg["linux"]
    lx["namespaces"] = [n for n in lx["namespaces"] if n["type"] != "user"]
    lx.pop("uidMappings")
    lx.pop("gidMappings")
    with open(p, "w") as f:
        json.dump(cfg, f)


# What makes the user root of a user namespace of its own (unshare -r), as podman does.
_OWN_USERNS = ("unshare", "--user", "--map-root-user", "--")


def _in_own_userns(user: User, argv: list[str]) -> Result:
    return user.run([*_OWN_USERNS, *argv])


def _bound_devices(pid: int) -> list[tuple[str, tuple[int, int]]]:
    """(path, (rdev, ino)) of the default devices that are mount points in pid's /dev and
    the very nodes of the host."""
    points = {line.split()[4] for line in mountinfo(pid)}
    found = []
    for name in ("null", "zero", "full", "random", "urandom", "tty"):
        path = f"/dev/{name}"
        there = os.stat(f"/proc/{pid}/root{path}")
        if path in points and (there.st_rdev, there.st_ino) == (
            os.stat(path).st_rdev,
            os.stat(path).st_ino,
        ):
            found.append((path, (there.st_rdev, there.st_ino)))
    return found


def test_root_in_a_user_namespace_binds_devices_as_runc(
    rootless_user: User, workdir: str, busybox_rootfs: str, cid: str, leaks: None
) -> None:
    """The runtime as rootless podman runs it: root in the user's namespace, a config
    without one. mknod is refused there, so the host's nodes are bound in (runc's
    RunningInUserNS); the kernel shows them as mount points of the very host nodes."""
    user = rootless_user
    ours = _user_bundle(user, workdir, busybox_rootfs, cid, [user.python, "-m", "pyrunc"])
    _without_user_namespace(ours, "sleep", "300")
    # check, there, says it would run, made in the namespace pyrunc runs in.
    r = _in_own_userns(user, [user.python, "-m", "pyrunc", "check", "--format", "json",
                              "--bundle", ours])  # fmt: skip
    assert r.code == 0, r.out
    messages = [c["message"] for c in json.loads(r.out)["checks"]]
    assert "rootless: root in a user namespace, not the host's root" in messages
    assert any(m.startswith("the runtime runs in a user namespace") for m in messages)
    r = _in_own_userns(user, [user.python, "-m", "pyrunc", "run", "-d", "--bundle", ours, cid])
    try:
        assert r.code == 0, r.err
        pid = json.loads(user.ok("state", cid).out)["pid"]
        assert _map(pid, "uid_map") == ["0", str(user.uid), "1"]  # unshare's, not ours
        assert os.readlink(f"/proc/{pid}/ns/user") != os.readlink("/proc/self/ns/user")
        assert [p for p, _ in _bound_devices(pid)] == [
            "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty",
        ]  # fmt: skip
        assert _cgroups(pid) == _cgroups("self")  # no cgroup of its own: rootless
    finally:
        user.pyrunc("delete", "--force", cid)
        reap_zombies()
    runc = host.runc_binary()
    if runc is None:
        return
    theirs = _user_bundle(user, workdir, busybox_rootfs, cid + "-runc", [runc])
    _without_user_namespace(theirs, "sleep", "300")
    r = user.runc(runc, "run", "-d", "--bundle", theirs, cid, prefix=_OWN_USERNS)
    try:
        assert r.code == 0, r.err
        pid = json.loads(user.runc(runc, "state", cid).out)["pid"]
        assert len(_bound_devices(pid)) == 6  # runc binds them too
    finally:
        user.runc(runc, "delete", "--force", cid)
        reap_zombies()


# -- pyrunc check, run by the user ------------------------------------------------------


def _check(user: User, bundle: str, *env: str) -> tuple[int, dict[str, Any]]:
    r = user.run([*env, user.python, "-m", "pyrunc", "check", "--format", "json", "--bundle",
                  bundle])  # fmt: skip
    assert r.code in (0, 1) and "Traceback" not in r.err, r
    return r.code, json.loads(r.out)


def _verdicts(report: dict[str, Any]) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    for c in report["checks"]:
        out.setdefault(c["path"], []).append((c["severity"], c["message"]))
    return out


def _stays_in_callers_cgroups(user: User, bundle: str, cid: str) -> bool:
    """The kernel's answer: a container of this user lands in the caller's cgroups."""
    _edit(bundle, "sleep", "300")
    user.ok("run", "-d", "--bundle", bundle, cid)
    try:
        pid = json.loads(user.ok("state", cid).out)["pid"]
        return _cgroups(pid) == _cgroups("self")
    finally:
        user.pyrunc("delete", "--force", cid)
        reap_zombies()


def test_check_tells_a_rootless_user_what_works_here(
    rootless_user: User, user_bundle: str, cid: str, leaks: None
) -> None:
    """A `spec --rootless` bundle: check says it runs (the capabilities its user
    namespace gives are not held against an unprivileged runtime), and what rootless
    means on this host, each line against what the host shows."""
    user = rootless_user
    code, report = _check(user, user_bundle)
    assert code == 0 and report["ok"], report["findings"]
    v = _verdicts(report)
    assert ("ok", f"rootless: run by uid {user.uid}, not root") in v[""]
    assert ("ok", f"state root in $XDG_RUNTIME_DIR: {user.xdg}/pyrunc") in v[""]
    assert ("ok", f"{user.name} may make user namespaces") in v["linux.namespaces[3].type"] + v.get(
        "linux.namespaces[4].type", []
    )
    uid_lines = v["linux.uidMappings"]
    assert ("ok", f"maps only your own uid ({user.uid}): the runtime writes it itself") in uid_lines
    subuid = _subordinate_start("/etc/subuid", user.name)
    tool = shutil.which("newuidmap", path="/usr/bin:/bin")
    if subuid is not None and tool is not None and os.stat(tool).st_mode & 0o4000:
        want = f"/etc/subuid gives {user.name} {subuid}-{subuid + 65535}"
        assert any(s == "ok" and m.endswith(want) for s, m in uid_lines), uid_lines
    else:
        assert any(s == "warning" for s, _ in uid_lines), uid_lines
    # The cgroup line says what create does: a cgroup of its own or the caller's.
    cgroup = v["linux.cgroupsPath"]
    if _stays_in_callers_cgroups(user, user_bundle, cid):
        assert [s for s, _ in cgroup] == ["warning"], cgroup
        assert "limits, pause and exec --cgroup are refused" in cgroup[0][1]
    else:
        assert [s for s, _ in cgroup] == ["ok"], cgroup


def _pids_limit(cfg: dict[str, Any]) -> None:
    cfg["linux"]["resources"] = {"pids": {"limit": 10}}


def _no_user_namespace(cfg: dict[str, Any]) -> None:
    cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "user"]
    del cfg["linux"]["uidMappings"], cfg["linux"]["gidMappings"]


def _host_root_mapped(cfg: dict[str, Any]) -> None:
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 0, "size": 1}]


def _device_not_on_host(cfg: dict[str, Any]) -> None:
    cfg["linux"]["devices"] = [{"path": "/dev/pyrunc-absent", "type": "c", "major": 1, "minor": 3}]


def _sysfs_without_netns(cfg: dict[str, Any]) -> None:
    sys_mount = next(m for m in cfg["mounts"] if m["destination"] == "/sys")
    sys_mount.update(type="sysfs", source="sysfs", options=["nosuid", "noexec", "nodev", "ro"])


@pytest.mark.parametrize(
    ("edit", "path"),
    [
        (_pids_limit, "linux.resources.pids"),
        (_no_user_namespace, "linux.namespaces"),
        (_host_root_mapped, "linux.uidMappings[0].hostID"),
        (_device_not_on_host, "linux.devices[0].path"),
        (_sysfs_without_netns, None),  # the host's /sys is bound instead, as runc
    ],
)
def test_check_and_create_agree_for_a_rootless_user(
    rootless_user: User,
    user_bundle: str,
    cid: str,
    leaks: None,
    edit: Any,
    path: str | None,
) -> None:
    """What check calls an error for this user is what create refuses, and the reverse
    (a limit only where the host gives the user no cgroup)."""
    user = rootless_user
    _edit(user_bundle, "true")
    _rewrite(user_bundle, edit)
    code, report = _check(user, user_bundle)
    errors = [f for f in report["findings"] if f["severity"] == "error"]
    created = user.pyrunc("run", "--bundle", user_bundle, cid)
    reap_zombies()
    assert (code == 0) == (created.code == 0), (errors, created.err)
    assert (created.code == 0) == (path is None), created.err
    if path is not None:
        assert path in [f["path"] for f in errors], errors
    assert user.pyrunc("state", cid).code == 1


def test_no_user_namespace_is_refused_in_runcs_words(
    rootless_user: User, user_bundle: str, cid: str, leaks: None
) -> None:
    """runc: "rootless container requires user namespaces", before anything is made."""
    user = rootless_user
    _edit(user_bundle, "true")
    _rewrite(user_bundle, _no_user_namespace)
    r = user.pyrunc("run", "--bundle", user_bundle, cid)
    assert r.code == 1 and len(r.err.strip().splitlines()) == 1, r.err
    want = "config.json: linux.namespaces: rootless container requires user namespaces"
    assert error_message(r.err) == want, r.err
    assert user.pyrunc("state", cid).code == 1


def test_a_named_cgroup_the_user_cannot_make_is_an_error(
    rootless_user: User, user_bundle: str, cid: str, leaks: None
) -> None:
    """runc: without permission, only a cgroup the config did not name is done without;
    an explicit cgroupsPath fails in its words ("unable to apply cgroup configuration")."""
    user = rootless_user
    if not _stays_in_callers_cgroups(user, user_bundle, cid):
        pytest.skip("this host gives the test user a cgroup it may make")
    _edit(user_bundle, "true", cgroupsPath=f"/pyrunc-rl/{cid}")
    r = user.pyrunc("run", "--bundle", user_bundle, cid)
    assert r.code == 1 and len(r.err.strip().splitlines()) == 1, r.err
    msg = error_message(r.err)
    assert msg.startswith("unable to apply cgroup configuration: mkdir "), msg
    assert msg.endswith(": permission denied") and "pyrunc-rl" in msg, msg
    assert user.pyrunc("state", cid).code == 1


def _share_the_hosts_pid_namespace(cfg: dict[str, Any]) -> None:
    cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "pid"]
    for m in cfg["mounts"]:  # no new proc without a pid namespace of its own: the host's
        if m["type"] == "proc":
            m.update(type="none", source="/proc", options=["rbind", "nosuid", "nodev", "noexec"])


def test_no_cgroup_and_no_pid_namespace_is_warned_of_as_runc(
    rootless_user: User, user_bundle: str, cid: str, leaks: None
) -> None:
    """runc warns that such a container's processes cannot all be killed; it still runs."""
    user = rootless_user
    if not _stays_in_callers_cgroups(user, user_bundle, cid):
        pytest.skip("this host gives the test user a cgroup it may make")
    _edit(user_bundle, "true")
    _rewrite(user_bundle, _share_the_hosts_pid_namespace)
    r = user.pyrunc("run", "--bundle", user_bundle, cid)
    assert r.code == 0, r.err
    assert "Such configuration is strongly discouraged" in r.err, r.err
    _rewrite(user_bundle, lambda cfg: cfg["linux"]["namespaces"].append({"type": "pid"}))
    r = user.pyrunc("run", "--bundle", user_bundle, cid)  # its own pid namespace: no warning
    assert r.code == 0 and "strongly discouraged" not in r.err, r.err


def test_check_without_xdg_runtime_dir(rootless_user: User, user_bundle: str) -> None:
    """No $XDG_RUNTIME_DIR: the state root falls back to root's, and check says why."""
    user = rootless_user
    env = ["env", "-u", "XDG_RUNTIME_DIR"]
    code, report = _check(user, user_bundle, *env)
    assert code == 1
    v = _verdicts(report)
    assert any(s == "warning" and "XDG_RUNTIME_DIR is not set" in m for s, m in v[""]), v[""]
    assert ("error", "state root /run/pyrunc is not writable") in v[""]


# A time namespace made by pyrunc run by an ordinary user (runc's run.bats "joining
# existing container namespaces", rootless): the offsets file is opened before stage 1
# turns non-dumpable (a non-dumpable process's /proc/self files are root's, and the
# user could not open /proc/self/timens_offsets for writing).
OFFSETS = {
    "monotonic": {"secs": 7881, "nanosecs": 2718281},
    "boottime": {"secs": 1337, "nanosecs": 3141519},
}


def test_time_namespace_offsets_as_an_ordinary_user(
    rootless_user: User, user_bundle: str, cid: str, leaks: None
) -> None:
    if not os.path.exists("/proc/self/timens_offsets"):
        pytest.skip("no time namespaces in this kernel")
    with open(os.path.join(user_bundle, "config.json")) as f:
        namespaces = json.load(f)["linux"]["namespaces"]
    _edit(
        user_bundle,
        "cat", "/proc/self/timens_offsets",
        namespaces=[*namespaces, {"type": "time"}],
        timeOffsets=OFFSETS,
    )  # fmt: skip
    r = rootless_user.pyrunc("run", "--bundle", user_bundle, cid)
    assert r.code == 0, r.err
    # The kernel's own table of the container's time namespace.
    got = {line.split()[0]: line.split()[1:] for line in r.out.splitlines() if line.strip()}
    assert got == {
        "monotonic": ["7881", "2718281"],
        "boottime": ["1337", "3141519"],
    }


# /dev/ptmx is always the link to the container's own devpts (pts/ptmx), even when the
# config lists a /dev/ptmx device, as runc's setupPtmx (dev.bats "redundant default
# /dev/ptmx"); rootless, that device was bound from the host and the console could not
# open it. The same as root: tests/test_terminal.py.
PTMX = {"path": "/dev/ptmx", "type": "c", "major": 5, "minor": 2}


def test_listed_ptmx_is_the_devpts_one_as_an_ordinary_user(
    rootless_user: User, user_bundle: str, cid: str, leaks: None
) -> None:
    _edit(user_bundle, "sh", "-c", "readlink /dev/ptmx; ls -lLn /dev/ptmx", devices=[PTMX])
    r = rootless_user.pyrunc("run", "--bundle", user_bundle, cid)
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert len(lines) == 2, (r.out, r.err)
    link, listing = lines
    assert link == "pts/ptmx"
    # The container's devpts ptmx (ptmxmode=0666), owned by the container's root.
    assert listing.split()[0] == "crw-rw-rw-" and listing.split()[2:6] == ["0", "0", "5,", "2"]


# -- cgroups handed over to the user: v1 as runc's rootless.sh does it, v2 delegated ----


def _v1_mounts() -> dict[str, str]:
    """Every v1 hierarchy's mountpoint, by its key in /proc/self/cgroup ("cpu,cpuacct",
    "name=systemd"): what rootless.sh hands over. The hybrid cgroup2 tree ("0::") is not
    among them."""
    keys = [line.split(":", 2)[1] for line in _cgroups("self").splitlines()]
    mounts = {key: host.v1_mountpoint(key.split(",")[0]) for key in keys if key}
    return {key: m for key, m in mounts.items() if m}


@pytest.fixture
def v1_handed_over(rootless_user: User) -> Iterator[dict[str, str]]:
    """A parent cgroup in every v1 hierarchy, given to the user as runc's
    tests/rootless.sh gives it (the directory, cgroup.procs and tasks; cpuset's sets
    filled by root); removed afterwards, with whatever a failed test left below it."""
    if host.is_cgroup_v2():
        pytest.skip("cgroup v1 hand-over: this host is cgroup v2")
    user = rootless_user
    made = {}
    try:
        for key, mountpoint in _v1_mounts().items():
            d = os.path.join(mountpoint, f"pyrunc-rl-{os.getpid()}")
            os.mkdir(d)
            made[key] = d
            if "cpuset" in key.split(","):
                for f in ("cpuset.cpus", "cpuset.mems"):
                    with open(os.path.join(mountpoint, f)) as src:
                        value = src.read().strip()
                    with open(os.path.join(d, f), "w") as dst:
                        dst.write(value)
            for p in (d, os.path.join(d, "cgroup.procs"), os.path.join(d, "tasks")):
                os.chown(p, user.uid, user.gid)
        yield made
    finally:
        for d in made.values():
            for sub, _, _ in sorted(os.walk(d), key=lambda w: -w[0].count("/")):
                with contextlib.suppress(OSError):
                    os.rmdir(sub)


def _v1_path(pid: int, key: str) -> str | None:
    """pid's cgroup in the hierarchy with this key, as /proc/<pid>/cgroup says."""
    for line in _cgroups(pid).splitlines():
        _, k, path = line.split(":", 2)
        if k == key:
            return path
    return None


def _key_of(handed_over: dict[str, str], controller: str) -> str:
    return next(key for key in handed_over if controller in key.split(","))


def _dir_of(handed_over: dict[str, str], controller: str) -> str:
    return handed_over[_key_of(handed_over, controller)]


def test_handed_over_v1_cgroups_are_used_as_runc_uses_them(
    rootless_user: User,
    user_bundle: str,
    workdir: str,
    busybox_rootfs: str,
    cid: str,
    v1_handed_over: dict[str, str],
) -> None:
    """runc's rootless cgroup v1 mode (rootless.sh's "cgroup" feature): a named cgroup
    under the handed-over parents is made in every hierarchy, the limits are written
    there, update/pause/events work on it, device rules are not enforced (they need
    CAP_SYS_ADMIN), and the hybrid cgroup2 tree, not handed over, is left alone."""
    user = rootless_user
    parent = os.path.basename(next(iter(v1_handed_over.values())))
    rel = f"/{parent}/{cid}"
    resources = {"pids": {"limit": 10}, "memory": {"limit": 64 << 20},
                 "devices": [{"allow": False, "access": "rwm"}]}  # fmt: skip
    _edit(user_bundle, "sleep", "300", cgroupsPath=rel, resources=resources)
    user.ok("run", "-d", "--bundle", user_bundle, cid)
    try:
        pid = json.loads(user.ok("state", cid).out)["pid"]
        for key in v1_handed_over:
            assert _v1_path(pid, key) == rel, (key, _cgroups(pid))
        assert _v1_path(pid, "") == _v1_path(os.getpid(), "")  # unified: the caller's
        pids_dir = os.path.join(_dir_of(v1_handed_over, "pids"), cid)
        memory_dir = os.path.join(_dir_of(v1_handed_over, "memory"), cid)
        assert _read(pids_dir, "pids.max") == "10"
        assert _read(memory_dir, "memory.limit_in_bytes") == str(64 << 20)
        user.ok("update", "--pids-limit", "20", cid)
        assert _read(pids_dir, "pids.max") == "20"
        user.ok("pause", cid)
        freezer = os.path.join(_dir_of(v1_handed_over, "freezer"), cid)
        assert _read(freezer, "freezer.state") == "FROZEN"
        user.ok("resume", cid)
        assert _read(freezer, "freezer.state") == "THAWED"
        reap_zombies()  # run -d's helpers, reparented to this subreaper, still count
        assert user.ok("events", "--stats", cid).json()["data"]["pids"]["current"] == 1
        r = user.ok("exec", cid, "sh", "-c", "cat /dev/null && echo devices-open")
        assert r.out.strip() == "devices-open"  # deny-all not enforced, as runc
    finally:
        user.pyrunc("delete", "--force", cid)
        reap_zombies()
    assert not any(os.path.exists(os.path.join(d, cid)) for d in v1_handed_over.values())
    runc = host.runc_binary()
    if runc is None:
        return
    theirs = _user_bundle(user, workdir, busybox_rootfs, cid + "-runc", [runc])
    _edit(theirs, "sleep", "300", cgroupsPath=rel + "-runc", resources=resources)
    r = user.runc(runc, "run", "-d", "--bundle", theirs, cid)
    try:
        assert r.code == 0, r.err
        pid = json.loads(user.runc(runc, "state", cid).out)["pid"]
        assert _v1_path(pid, _key_of(v1_handed_over, "pids")) == rel + "-runc"
        assert _read(pids_dir + "-runc", "pids.max") == "10"
    finally:
        user.runc(runc, "delete", "--force", cid)
        reap_zombies()


def test_a_named_cgroup_not_handed_over_in_one_hierarchy_fails_as_runc(
    rootless_user: User, user_bundle: str, cid: str, v1_handed_over: dict[str, str]
) -> None:
    """One controller's parent taken back: runc fails create in its words for the cgroup
    the config named, whatever the others allow; nothing is left in any hierarchy."""
    user = rootless_user
    pids_parent = _dir_of(v1_handed_over, "pids")
    os.chown(pids_parent, 0, 0)
    parent = os.path.basename(pids_parent)
    _edit(user_bundle, "true", cgroupsPath=f"/{parent}/{cid}")
    r = user.pyrunc("run", "--bundle", user_bundle, cid)
    assert r.code == 1 and len(r.err.strip().splitlines()) == 1, r.err
    want = f"unable to apply cgroup configuration: mkdir {pids_parent}/{cid}: permission denied"
    assert error_message(r.err) == want
    assert user.pyrunc("state", cid).code == 1
    assert not any(os.path.exists(os.path.join(d, cid)) for d in v1_handed_over.values())


@pytest.fixture
def v2_delegated(rootless_user: User) -> Iterator[User]:
    """The user, starting in a cgroup v2 subtree delegated to it as systemd's
    user@.service is (the directory, cgroup.procs, cgroup.subtree_control and
    cgroup.threads; its processes in a leaf below it)."""
    if not host.is_cgroup_v2():
        pytest.skip("cgroup v2 delegation: this host is not cgroup v2 (the v2 VM runs it)")
    user = rootless_user
    top = os.path.join(host.CGROUP_ROOT, f"pyrunc-rl-{os.getpid()}")
    os.mkdir(top)
    try:
        leaf = os.path.join(top, "session")
        os.mkdir(leaf)
        for d in (top, leaf):
            for name in ("", "cgroup.procs", "cgroup.subtree_control", "cgroup.threads"):
                os.chown(os.path.join(d, name), user.uid, user.gid)
        yield dataclasses.replace(user, cgroup=leaf)
    finally:
        reap_zombies()
        for sub, _, _ in sorted(os.walk(top), key=lambda w: -w[0].count("/")):
            with contextlib.suppress(OSError):
                os.rmdir(sub)


def test_a_delegated_v2_subtree_holds_the_container_and_its_limits(
    v2_delegated: User, workdir: str, busybox_rootfs: str, cid: str
) -> None:
    """runc's fs2 rule for a user: the container's cgroup is <parent of its own>/<id>,
    made in the delegated subtree, with the limits; pause and events work; the device
    filter (it needs CAP_SYS_ADMIN) is not installed, as runc; delete removes it."""
    user = v2_delegated
    assert user.cgroup
    top = os.path.dirname(user.cgroup)
    bundle = _user_bundle(user, workdir, busybox_rootfs, cid, [user.python, "-m", "pyrunc"])
    resources = {"pids": {"limit": 10}, "memory": {"limit": 64 << 20}}
    _edit(bundle, "sleep", "300", resources=resources)
    user.ok("run", "-d", "--bundle", bundle, cid)
    mine = os.path.join(top, cid)
    try:
        pid = json.loads(user.ok("state", cid).out)["pid"]
        rel = "/" + os.path.relpath(mine, host.CGROUP_ROOT)
        assert _cgroups(pid).strip() == f"0::{rel}"
        assert _read(mine, "pids.max") == "10"
        assert _read(mine, "memory.max") == str(64 << 20)
        user.ok("pause", cid)
        assert "frozen 1" in _read(mine, "cgroup.events").splitlines()
        user.ok("resume", cid)
        reap_zombies()  # run -d's helpers, reparented to this subreaper, still count
        assert user.ok("events", "--stats", cid).json()["data"]["pids"]["current"] == 1
    finally:
        user.pyrunc("delete", "--force", cid)
        reap_zombies()
    assert not os.path.exists(mine)
    runc = host.runc_binary()
    if runc is None:
        return
    theirs = _user_bundle(user, workdir, busybox_rootfs, cid + "-runc", [runc])
    _edit(theirs, "sleep", "300", resources=resources)
    r = user.runc(runc, "run", "-d", "--bundle", theirs, cid)
    try:
        assert r.code == 0, r.err
        pid = json.loads(user.runc(runc, "state", cid).out)["pid"]
        assert _cgroups(pid).strip() == f"0::{rel}"  # the same place as ours
        assert _read(mine, "pids.max") == "10"
    finally:
        user.runc(runc, "delete", "--force", cid)
        reap_zombies()


def _read(directory: str, name: str) -> str:
    with open(os.path.join(directory, name)) as f:
        return f.read().strip()
