"""pyrunc works wherever pip installs it, and never runs code from a container's image.

The container's init and exec's tenant leave the host part way: they become the user
namespace's root (host uid 100000 here, which may not enter a 0700 directory such as
Debian's /root, where a venv may hold pyrunc and pyenv the interpreter), or switch
their root to the image, where `sys.path` would resolve to the image's files. So:

- pyrunc pip-installed into a venv under a 0700 directory runs user-namespaced
  containers (cgroup mount, masked and read-only paths, seccomp, hooks, a tty, exec)
  and they look to the kernel as runc's do;
- a rootfs that carries a planted module at the path of every module of the running
  interpreter's and of the venv's installation (each `sys.path` directory, the
  standard library's packages, pyrunc's own packages) never gets one of them run, for
  `run` and `exec` and each namespace combination tests/test_namespaces.py covers.

These run pyrunc without the import guard (pyrunc/process/importguard.py), as it runs
in production: the guard would refuse a late import before the planted module ran.
"""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.helpers import PYRUNC, REPO, Bundle, Runtime, proc_ns, proc_status
from tests.test_exec import running, wait_dead
from tests.test_namespaces import (
    ALL_BUT_USER,
    PROC_NS,
    _fake_cap_last_cap,
    _map_root_to,
    _set_namespaces,
)

HOST_ID = 100000
# As production runs: no guard (it would stop a late import before a planted module ran).
TREE_CLI = ("env", "PYRUNC_IMPORT_GUARD=0", *PYRUNC)  # this checkout (helpers' PYTHONPATH)
NO_GUARD_NOR_CHECKOUT = ("env", "-u", "PYTHONPATH", "PYRUNC_IMPORT_GUARD=0")
PLANTED_MARK = "tmp/pyrunc-planted-module-ran"  # in the rootfs; /tmp is 1777 there
PLANTED_CODE = (
    "import os\n"
    f"_fd = os.open('/{PLANTED_MARK}', os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)\n"
    "os.write(_fd, (__name__ + ' ' + __file__ + '\\n').encode())\n"
    "os.close(_fd)\n"
)
# What pip needs to build pyrunc: copied out, so the shared work tree gets no build/.
_SOURCES = ("pyrunc", "bin", "spec", "setup.cfg", "pyproject.toml", "README.md", "LICENSE")


class PrivateVenv:
    """pyrunc pip-installed into <0700 dir>/venv."""

    def __init__(self, top: str) -> None:
        self.top = top
        self.path = os.path.join(top, "venv")
        self.python = os.path.join(self.path, "bin", "python")
        self.pyrunc = os.path.join(self.path, "bin", "pyrunc")

    def install(self) -> None:
        src = os.path.join(self.top, "src")
        for name in _SOURCES:
            _copy(os.path.join(REPO, name), os.path.join(src, name))
        _check_call([sys.executable, "-m", "venv", "--without-pip", self.path])
        # The test interpreter's pip, aimed at the venv; --no-deps: pyrunc imports none.
        _check_call([sys.executable, "-m", "pip", "--python", self.python, "install",
                     "--quiet", "--no-deps", "--no-cache-dir", src])  # fmt: skip

    def query(self, code: str) -> object:
        out = subprocess.run([*NO_GUARD_NOR_CHECKOUT, self.python, "-I", "-c", code], check=True,
                             capture_output=True, text=True).stdout  # fmt: skip
        return json.loads(out)

    def runtime(self, root: str) -> Runtime:
        return Runtime(root, [*NO_GUARD_NOR_CHECKOUT, self.pyrunc])


def _copy(src: str, dst: str) -> None:
    if os.path.isdir(src):
        shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
    else:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy2(src, dst)


def _check_call(argv: list[str]) -> None:
    r = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"{argv}: {r.stdout}{r.stderr}"


@pytest.fixture(scope="module")
def venv() -> Iterator[PrivateVenv]:
    top = tempfile.mkdtemp(prefix="pyrunc-private-")
    assert os.stat(top).st_mode & 0o777 == 0o700  # no other user may enter, as /root
    try:
        v = PrivateVenv(top)
        v.install()
        where = v.query("import json, pyrunc; print(json.dumps(pyrunc.__file__))")
        assert isinstance(where, str) and where.startswith(v.path + "/"), where
        yield v
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_the_installed_command_starts_python_without_site(venv: PrivateVenv, workdir: str) -> None:
    """pip's `pyrunc` (bin/pyrunc) runs the venv's interpreter with -I -S: site, the .pth
    files and sitecustomize cost every call 2-30 ms and are never read. A sitecustomize
    in the venv shows whether site ran; the venv's python proves the trap works. Linked
    as runc, it still finds its venv and speaks as runc."""
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    trap = os.path.join(venv.path, "lib", version, "site-packages", "sitecustomize.py")
    ran = os.path.join(workdir, "site-ran")
    with open(trap, "w") as f:
        f.write(f"open({ran!r}, 'a').write('x')\n")
    try:
        env = {"PATH": "/usr/bin:/bin"}  # no python3 of the test run's on PATH
        r = subprocess.run([venv.pyrunc, "--version"], capture_output=True, text=True, env=env)
        assert r.returncode == 0 and r.stdout.startswith("pyrunc version"), r
        assert not os.path.exists(ran), "the installed command ran site"
        link = os.path.join(tempfile.mkdtemp(dir=workdir), "runc")
        os.symlink(venv.pyrunc, link)
        r = subprocess.run([link, "--help"], capture_output=True, text=True, env=env)
        assert r.returncode == 0 and "runc - Open Container Initiative runtime" in r.stdout, r
        assert not os.path.exists(ran), "the installed command, linked, ran site"
        subprocess.run([venv.python, "-c", "pass"], check=True, env=env)
        assert os.path.exists(ran), "sitecustomize is not where site looks: the test is void"
    finally:
        os.unlink(trap)


# -- a user-namespaced container from the 0700 venv, side by side with runc ---------------

_INSIDE = """id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map
wc -c < /proc/timer_list; ls /sys/firmware | wc -l
(echo x > /proc/sys/kernel/domainname) 2>&1
mkdir /tmp/denied 2>&1; grep Seccomp: /proc/self/status
cat /sys/fs/cgroup/pids/pids.max"""
_EXPECTED_INSIDE = [
    "0", "0", "0 100000 65536", "0 100000 65536",
    "0", "0",  # masked: /proc/timer_list is /dev/null, /sys/firmware an empty tmpfs
    "sh: can't create /proc/sys/kernel/domainname: Read-only file system",
    "mkdir: can't create directory '/tmp/denied': Operation not permitted", "Seccomp: 2",
    "max",  # the cgroup mount (test_userns_init_and_exec_...: it is the container's cgroup)
]  # fmt: skip


def _full_config(bundle: Bundle) -> None:
    """Root mapped to host uid 100000; the example's cgroup mount, masked and read-only
    paths; seccomp denying mkdir; createContainer and startContainer hooks."""
    _set_namespaces(bundle, "pid", "network", "ipc", "uts", "mount", "user")
    _map_root_to(bundle, HOST_ID, HOST_ID)
    cfg = bundle.config
    cfg["root"]["readonly"] = False  # the startContainer hook writes /tmp
    cfg["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
    }
    # createContainer runs before the root switch (the host's /bin/sh, the rootfs by its
    # host path), startContainer after it (busybox): both as the container's root.
    log = os.path.join(bundle.rootfs, "tmp", "hooks")
    cfg["hooks"] = {
        "createContainer": [_sh_hook(f"echo create $(id -u) >> {log}")],
        "startContainer": [_sh_hook("echo start $(id -u) >> /tmp/hooks")],
    }
    bundle.save()


def _sh_hook(script: str) -> dict[str, object]:
    return {"path": "/bin/sh", "args": ["sh", "-c", script]}


def _lines(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text.strip().splitlines()]


def _hook_calls(bundle: Bundle) -> list[str]:
    path = os.path.join(bundle.rootfs, "tmp", "hooks")
    with open(path) as f:
        calls = f.read().split("\n")
    os.unlink(path)
    return [c for c in calls if c]


def test_userns_container_from_private_venv_as_runc_runs_it(
    venv: PrivateVenv, runtime: Runtime, runc: Runtime, bundle: Bundle, cid: str
) -> None:
    _full_config(bundle)
    bundle.set_args("sh", "-c", _INSIDE)
    seen = {}
    for name, rt in (("runc", runc), ("pyrunc", venv.runtime(runtime.root))):
        r = rt("run", "--bundle", bundle.path, f"{cid}-{name}")
        assert r.code == 0, f"{name}: {r.err}"
        seen[name] = (_lines(r.out), _hook_calls(bundle))
    assert seen["pyrunc"] == seen["runc"]
    assert seen["pyrunc"] == (_EXPECTED_INSIDE, ["create 0", "start 0"])


def test_userns_init_and_exec_from_private_venv_seen_by_the_kernel(
    venv: PrivateVenv, runtime: Runtime, runc: Runtime, bundle: Bundle, cid: str, workdir: str
) -> None:
    _full_config(bundle)
    script = "id -u; mkdir /tmp/x 2>&1; grep Seccomp: /proc/self/status"
    seen = {}
    for name, rt in (("runc", runc), ("pyrunc", venv.runtime(runtime.root))):
        ctr = f"{cid}-{name}"
        with running(rt, bundle, ctr) as init:
            assert proc_status(init, "Uid").split() == [str(HOST_ID)] * 4, name
            with open(f"/proc/{init}/uid_map") as f:
                assert f.read().split() == ["0", str(HOST_ID), "65536"], name
            assert proc_status(init, "Seccomp") == "2", name
            for controller in ("pids", "memory"):
                mounted, own = _cgroup_mount_root(init, controller)
                assert mounted == own, (name, controller)
            out = rt.ok("exec", ctr, "sh", "-c", script).out
            pid_file = os.path.join(workdir, f"{ctr}.pid")
            rt.ok("exec", "--detach", "--pid-file", pid_file, ctr, "sleep", "100")
            with open(pid_file) as f:
                tenant = int(f.read())
            os.unlink(pid_file)
            assert proc_status(tenant, "Uid").split() == [str(HOST_ID)] * 4, name
            for ns in ("user", "mnt", "pid"):
                assert proc_ns(tenant, ns) == proc_ns(init, ns), (name, ns)
            seen[name] = (_lines(out), _hook_calls(bundle))
            # Ours to reap (we are subreaper): a zombie would keep runc from removing
            # the cgroup on delete.
            os.kill(tenant, 9)
            wait_dead(tenant)
    assert seen["pyrunc"] == seen["runc"]
    expected = ["0", "mkdir: can't create directory '/tmp/x': Operation not permitted",
                "Seccomp: 2"]  # fmt: skip
    assert seen["pyrunc"] == (expected, ["create 0", "start 0"])


def _cgroup_mount_root(pid: int, controller: str) -> tuple[str, str]:
    """What the container's /sys/fs/cgroup/<controller> shows (its mount's root in the
    hierarchy) and the container's own cgroup there, as the kernel tells the host."""
    with open(f"/proc/{pid}/cgroup") as f:
        own = next(ln.split(":", 2)[2] for ln in f.read().splitlines()
                   if controller in ln.split(":")[1].split(","))  # fmt: skip
    with open(f"/proc/{pid}/mountinfo") as f:
        roots = [ln.split()[3] for ln in f if ln.split()[4] == f"/sys/fs/cgroup/{controller}"]
    return (roots[-1] if roots else ""), own


def test_userns_tty_from_private_venv_as_runc_runs_it(
    venv: PrivateVenv, runtime: Runtime, runc: Runtime, bundle: Bundle, cid: str
) -> None:
    _full_config(bundle)
    bundle.config["process"]["terminal"] = True
    bundle.set_args("sh", "-c", "tty; id -u; stat -c %u /proc/self/fd/0")
    seen = {}
    for name, argv in (("runc", runc.argv), ("pyrunc", [*NO_GUARD_NOR_CHECKOUT, venv.pyrunc])):
        root = runc.root if name == "runc" else runtime.root
        out, code = _run_in_pty([*argv, "--root", root, "run", "--bundle", bundle.path,
                                 f"{cid}-{name}"])  # fmt: skip
        assert code == 0, f"{name}: {out}"
        seen[name] = (_lines(out), _hook_calls(bundle))
    assert seen["pyrunc"] == seen["runc"]
    assert seen["pyrunc"][0] == ["/dev/pts/0", "0", "0"]


def _run_in_pty(argv: list[str], timeout: float = 30) -> tuple[str, int]:
    """argv's output on a real terminal, and its exit status."""
    pid, master = pty.fork()
    if pid == 0:
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    data = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not select.select([master], [], [], 0.5)[0]:
                continue
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the terminal's other side is gone
                break
            if not chunk:
                break
            data += chunk
        _, status = os.waitpid(pid, 0)
        pid = 0
    finally:
        if pid:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(master)
    return data.decode(errors="replace").replace("\r", ""), os.waitstatus_to_exitcode(status)


# -- planted modules never run --------------------------------------------------------------


def _planted_paths(venv: PrivateVenv) -> set[str]:
    """Where a module of the host's installation would be looked for, as absolute paths.

    Every standard library module's name in every `sys.path` directory (of this
    interpreter, whose tree-CLI runs with this checkout first, and of the venv), and
    every module file of the standard library's packages and of both copies of pyrunc,
    each at its own path.
    """
    venv_path = venv.query("import sys, json; print(json.dumps(sys.path))")
    assert isinstance(venv_path, list)
    dirs = {p for p in (*sys.path, REPO, *venv_path) if os.path.isabs(p) and os.path.isdir(p)}
    found = {os.path.join(d, f"{name}.py") for d in dirs for name in sys.stdlib_module_names}
    stdlib = sysconfig.get_paths()["stdlib"]
    packages = [os.path.join(stdlib, n) for n in sys.stdlib_module_names]
    packages += [os.path.join(REPO, "pyrunc"), *_venv_site_pyrunc(venv)]
    for top in packages:
        for where, subdirs, files in os.walk(top):
            subdirs[:] = [s for s in subdirs if s != "__pycache__"]
            found.update(os.path.join(where, f) for f in files if f.endswith(".py"))
    return found


def _venv_site_pyrunc(venv: PrivateVenv) -> list[str]:
    code = "import json, os, pyrunc; print(json.dumps(os.path.dirname(pyrunc.__file__)))"
    return [str(venv.query(code))]


class Planted:
    """The planted modules, written once; each test's rootfs gets hard links (fast)."""

    def __init__(self, template: str, paths: list[str]) -> None:
        self.template, self.paths = template, paths
        self._make_dirs(template)
        data = PLANTED_CODE.encode()
        for path in paths:
            fd = os.open(template + path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)

    def _make_dirs(self, top: str) -> None:
        for d in sorted({os.path.dirname(p) for p in self.paths}):
            os.makedirs(top + d, mode=0o755, exist_ok=True)

    def plant(self, rootfs: str) -> None:
        self._make_dirs(rootfs)
        for path in self.paths:
            os.link(self.template + path, rootfs + path)


@pytest.fixture(scope="module")
def planted(venv: PrivateVenv, workdir: str) -> Iterator[Planted]:
    template = tempfile.mkdtemp(prefix="planted-", dir=workdir)  # bundles' filesystem
    try:
        yield Planted(template, sorted(_planted_paths(venv)))
    finally:
        shutil.rmtree(template, ignore_errors=True)


def _planted_ran(bundle: Bundle) -> str:
    path = os.path.join(bundle.rootfs, PLANTED_MARK)
    if not os.path.exists(path):
        return ""
    with open(path) as f:
        return f.read()


# Those of tests/test_namespaces.py: "joined*" join a first container's namespaces by path.
_WITHOUT = ("pid", "uts", "ipc", "network", "cgroup", "time")
COMBOS: dict[str, tuple[str, ...]] = {
    "example": ("pid", "network", "ipc", "uts", "mount"),
    "all-but-user": ALL_BUT_USER,
    "user": (*ALL_BUT_USER, "user"),
    **{f"without-{t}": tuple(n for n in ALL_BUT_USER if n != t) for t in _WITHOUT},
    "no-mount": ("pid", "ipc", "uts", "network"),
    "joined": ("network", "ipc", "uts"),
    "joined-user": ("user", "network", "ipc"),
}


def _configure(bundle: Bundle, combo: str) -> None:
    """Every part of the config that init or the tenant loads lazily, in this combination."""
    cfg = bundle.config
    cfg["root"]["readonly"] = False  # the planted code must be able to tell it ran
    cfg["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}  # fmt: skip
    # startContainer alone: it runs after the root switch, so nothing before it has
    # needed subprocess (a createContainer hook, before the switch, would have).
    cfg["hooks"] = {"startContainer": [_sh_hook("true")]}
    names = COMBOS[combo] if not combo.startswith("joined") else ALL_BUT_USER
    if combo == "joined-user":  # the first container's user namespace
        names = (*names, "user")
    if "user" in names:
        _map_root_to(bundle, HOST_ID, HOST_ID)
    if "time" in names:
        cfg["linux"]["timeOffsets"] = {"monotonic": {"secs": 86400, "nanosecs": 0}}
    if "uts" not in names or combo == "joined":  # no hostname for a uts namespace not ours
        cfg.pop("hostname", None)
    if combo == "no-mount":
        cfg["mounts"] = []
        for key in ("maskedPaths", "readonlyPaths"):
            cfg["linux"].pop(key)
        _fake_cap_last_cap(bundle)
    _set_namespaces(bundle, *names)


def _join(bundle: Bundle, combo: str, first_pid: int) -> None:
    """The second container of a "joined" combination: new pid, mount, uts or ipc."""
    joined = COMBOS[combo]
    own = [t for t in ("pid", "mount", "uts", "ipc") if t not in joined]
    _set_namespaces(bundle, *own, *({"type": t, "path": f"/proc/{first_pid}/ns/{PROC_NS[t]}"}
                                    for t in joined))  # fmt: skip
    bundle.config["linux"].pop("uidMappings", None)
    bundle.config["linux"].pop("gidMappings", None)
    bundle.config["linux"].pop("timeOffsets", None)
    bundle.save()


@contextmanager
def _first_container(rt: Runtime, bundle: Bundle, cid: str, combo: str) -> Iterator[None]:
    """For "joined" combinations: the container whose namespaces the others join."""
    if not combo.startswith("joined"):
        yield
        return
    with running(rt, bundle, cid + "a") as pid:
        _join(bundle, combo, pid)
        yield


# Every combination with this checkout's CLI; a few with the venv's (same code, its paths).
CASES = [(c, "tree") for c in COMBOS] + [
    (c, "venv") for c in ("example", "user", "no-mount", "joined-user")
]


@pytest.mark.parametrize(("combo", "cli"), CASES)
def test_planted_modules_never_run(
    venv: PrivateVenv,
    planted: Planted,
    runtime: Runtime,
    bundle: Bundle,
    cid: str,
    combo: str,
    cli: str,
) -> None:
    planted.plant(bundle.rootfs)
    _configure(bundle, combo)
    rt = venv.runtime(runtime.root) if cli == "venv" else Runtime(runtime.root, list(TREE_CLI))
    with _first_container(rt, bundle, cid, combo):
        bundle.set_args("sh", "-c", "echo ran")
        r = rt("run", "--bundle", bundle.path, cid)
        assert (r.code, r.out, _planted_ran(bundle)) == (0, "ran\n", ""), r.err
        with running(rt, bundle, cid + "e"):
            r = rt("exec", cid + "e", "sh", "-c", "echo exec")
            assert (r.code, r.out, _planted_ran(bundle)) == (0, "exec\n", ""), r.err
    assert _planted_ran(bundle) == ""


# -- the import guard the rest of the suite runs under ----------------------------------------

_GUARD_PROBE = """
import ctypes, os, sys
from pyrunc.process import importguard

importguard.arm("the probe", debug="--debug" in sys.argv)
def attempt(what, action):
    try:
        action()
        print(f"{what}: allowed")
    except importguard.ImportAfterLeavingHost as e:
        print(f"{what}: {e}")
attempt("new module", lambda: __import__("colorsys"))
attempt("loaded module", lambda: __import__("os"))
attempt("python file", lambda: open(os.__file__).close())
attempt("other file", lambda: open("/proc/self/status").close())
attempt("library", lambda: ctypes.CDLL("libc.so.6"))
attempt("check", importguard.check)
"""
_REFUSED = [
    "new module: module 'colorsys' was imported after the probe left the host",
    "loaded module: allowed",
    "python file: file '{os_file}' of the Python installation was opened"
    " after the probe left the host",
    "other file: allowed",
    "library: library 'libc.so.6' was loaded after the probe left the host",
    "check: module 'colorsys' was imported after the probe left the host",
]
_HINT = (
    " (credentials, user namespace or root switch): load it before, in pyrunc/process/preload.py"
)


@pytest.mark.parametrize(
    ("env", "args", "armed"),
    [("1", (), True), ("0", ("--debug",), True), ("0", (), False), ("", (), False)],
)
def test_import_guard_names_what_came_after_leaving_the_host(
    env: str, args: tuple[str, ...], armed: bool
) -> None:
    r = subprocess.run(
        [sys.executable, "-c", _GUARD_PROBE, *args], capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": REPO, "PYRUNC_IMPORT_GUARD": env}, timeout=30,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    if not armed:
        assert r.stdout.split("\n")[:-1] == [f"{line.split(':')[0]}: allowed" for line in _REFUSED]
        return
    os_file = os.__file__
    assert r.stdout.split("\n")[:-1] == [
        line.format(os_file=os_file) + ("" if line.endswith("allowed") else _HINT)
        for line in _REFUSED
    ]
