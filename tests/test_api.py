"""The Python API (`import pyrunc`) with real containers: the README's worked example,
run/exec exit statuses and captured output, the cgroup view (stats, the host's files),
errors as exception classes with the CLI's messages, and one state root shared with
the CLI (a container made by either is seen and driven by the other)."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

import pyrunc
from pyrunc import errors
from tests import host as host_probe
from tests.helpers import REPO, TREE_ENV, Bundle, Runtime, error_message, is_dead
from tests.test_cgroups import dirs_named, host_dirs, proc_cgroups

MiB = 1 << 20


# -- helpers -----------------------------------------------------------------------------


def api_bundle(bundle: Bundle, args: list[str], **changes: Any) -> pyrunc.Bundle:
    """A bundle made by the API beside the fixture's, on the fixture's busybox rootfs."""
    return pyrunc.Bundle.create(bundle.path + "-api", rootfs=bundle.rootfs, args=args, **changes)


def host_memory_limit(pid: int) -> int:
    """The memory limit the kernel enforces on pid, read from the host's cgroup files."""
    dirs = host_dirs(proc_cgroups(pid))
    if "memory" in dirs:  # v1 (or hybrid)
        path = os.path.join(dirs["memory"], "memory.limit_in_bytes")
    else:
        path = os.path.join(dirs[""], "memory.max")
    with open(path) as f:
        return int(f.read())


def cgroup_leaves(cid: str) -> list[str]:
    found = []
    for top in os.listdir("/sys/fs/cgroup"):
        for dirpath, dirnames, _ in os.walk(os.path.join("/sys/fs/cgroup", top)):
            found += [os.path.join(dirpath, d) for d in dirnames if d.endswith(cid)]
    return found


@contextmanager
def running(cid: str, b: pyrunc.Bundle, root: str) -> Iterator[pyrunc.Container]:
    c = pyrunc.Container.create(cid, b.path, root=root)
    try:
        c.start()
        yield c
    finally:
        c.delete(force=True)


def read_pipe() -> tuple[int, Callable[[], str]]:
    """A pipe's write end for a container, and a reader to call once it is passed on."""
    r, w = os.pipe()

    def read() -> str:
        os.close(w)
        with os.fdopen(r) as f:
            return f.read()

    return w, read


# -- the package ---------------------------------------------------------------------------


def test_import_is_cheap_and_names_resolve() -> None:
    code = (
        "import sys, pyrunc; before = sorted(m for m in sys.modules if m.startswith('pyrunc'));"
        "[getattr(pyrunc, n) for n in pyrunc.__all__]; print(before)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=TREE_ENV, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "['pyrunc']"
    assert set(pyrunc.__all__) == {
        "Bundle",
        "Container",
        "RuntimeOptions",
        "State",
        "Stats",
        "errors",
        "__version__",
    }
    with pytest.raises(AttributeError):
        pyrunc.NoSuchName  # noqa: B018


def test_py_typed_is_shipped() -> None:
    assert os.path.isfile(os.path.join(REPO, "pyrunc", "py.typed"))
    with open(os.path.join(REPO, "setup.cfg")) as f:
        assert "pyrunc = py.typed" in f.read()


def test_example_type_checks_strictly() -> None:
    """mypy --strict on the README's example and the API's own modules: the hints hold."""
    pytest.importorskip("mypy")
    files = [
        "examples/api_demo.py",
        "pyrunc/__init__.py",
        "pyrunc/bundle.py",
        "pyrunc/errors.py",
        "pyrunc/options.py",
        "pyrunc/container/container.py",
        "pyrunc/container/api_types.py",
        "pyrunc/container/stdio.py",
    ]
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--follow-imports=silent",
            "--no-incremental",
            *files,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr


# -- Bundle ----------------------------------------------------------------------------


def test_bundle_create_writes_the_spec_default_with_changes(bundle: Bundle) -> None:
    from pyrunc.spec.example import example

    b = api_bundle(
        bundle,
        ["echo", "hi"],
        hostname="h1",
        env=["A=b"],
        cwd="/tmp",
        memory_limit=64 * MiB,
        pids_limit=20,
    )
    with open(os.path.join(b.path, "config.json")) as f:
        written = json.load(f)
    want = example()
    want["root"] = {"path": bundle.rootfs, "readonly": True}  # outside the bundle: absolute
    want["process"].update(
        args=["echo", "hi"], env=want["process"]["env"] + ["A=b"], cwd="/tmp", terminal=False
    )
    want["hostname"] = "h1"
    want["linux"]["resources"].update(memory={"limit": 64 * MiB}, pids={"limit": 20})
    assert written == want == b.config
    assert pyrunc.Bundle.load(b.path).config == want
    assert b.rootfs == bundle.rootfs


def test_bundle_rootfs_inside_is_relative(bundle: Bundle) -> None:
    os.unlink(os.path.join(bundle.path, "config.json"))
    b = pyrunc.Bundle.create(bundle.path)
    assert b.config["root"]["path"] == "rootfs"
    with pytest.raises(errors.InvalidArgument, match="config.json exists, remove it first"):
        pyrunc.Bundle.create(bundle.path)


@pytest.mark.parametrize(
    ("changes", "text"),
    [
        ({"memory_limit": 0}, "memory_limit: must be a positive integer, got 0"),
        ({"memory_limit": "64m"}, "memory_limit: must be a positive integer, got '64m'"),
        ({"pids_limit": -1}, "pids_limit: must be a positive integer, got -1"),
        ({"args": []}, "args: expected a non-empty list"),
        ({"args": "sh"}, "args: expected a list of strings"),
        ({"env": [1]}, "env: expected a list of strings"),
        ({"cwd": "tmp"}, "cwd: must be an absolute path, got 'tmp'"),
        ({"rootfs": "/nonexistent"}, "rootfs: /nonexistent is not a directory"),
    ],
)
def test_bundle_bad_input_names_the_field(
    bundle: Bundle, changes: dict[str, Any], text: str
) -> None:
    path = bundle.path + "-api"
    changes.setdefault("rootfs", bundle.rootfs)
    with pytest.raises(errors.InvalidArgument) as e:
        pyrunc.Bundle.create(path, **changes)
    assert str(e.value) == text
    assert not os.path.exists(path)  # nothing written


# -- the README's worked example -----------------------------------------------------------


def test_worked_example(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """Bundle from a rootfs, 64 MiB memory limit, stats, delete: nothing left."""
    b = api_bundle(bundle, ["sleep", "60"], memory_limit=64 * MiB)
    c = pyrunc.Container.create(cid, b.path, root=runtime.root)
    c.start()
    assert c.state()["status"] == "running"
    stats = c.stats()
    assert stats["memory"]["usage"]["limit"] == 64 * MiB
    assert host_memory_limit(c.pid) == 64 * MiB  # the kernel agrees
    assert stats["pids"]["current"] == 1
    pid = c.pid
    c.kill("KILL")
    assert c.wait() == 128 + signal.SIGKILL
    c.delete()
    assert not os.path.exists(f"/proc/{pid}")  # reaped by wait: not even a zombie
    assert not os.path.exists(os.path.join(runtime.root, cid))
    assert cgroup_leaves(cid) == []
    with pytest.raises(errors.ContainerNotExist):
        pyrunc.Container.load(cid, runtime.root)


def test_example_script_output(runtime: Runtime, bundle: Bundle) -> None:
    """examples/api_demo.py, which the README shows, prints what the README says."""
    with tempfile.TemporaryDirectory(dir=os.path.dirname(bundle.path)) as work:
        r = subprocess.run(
            [
                sys.executable,
                "examples/api_demo.py",
                "--rootfs",
                bundle.rootfs,
                "--root",
                runtime.root,
                "--workdir",
                work,
            ],
            cwd=REPO,
            env=TREE_ENV,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert r.returncode == 0 and r.stderr == "", r.stderr
    lines = r.stdout.splitlines()
    assert lines[1].startswith("state: running pid ")
    assert lines[2] == "memory limit: 67108864 (64 MiB)"
    assert lines[4] == "exec: hello from api-demo -> exit status 7"
    assert lines[5] == (
        "error: InvalidState: cannot delete container api-demo that is not stopped: running"
    )
    assert lines[6:] == ["wait: 137", "still listed: False", "run: 3"]


# -- run, exec, wait -----------------------------------------------------------------------


@pytest.mark.parametrize("code", [0, 3])
def test_run_returns_the_exit_status(runtime: Runtime, bundle: Bundle, cid: str, code: int) -> None:
    b = api_bundle(bundle, ["sh", "-c", f"echo out-$$; echo err >&2; exit {code}"])
    out, read_out = read_pipe()
    with tempfile.TemporaryFile() as err:
        assert pyrunc.Container.run(cid, b.path, runtime.root, stdout=out, stderr=err) == code
        err.seek(0)
        assert err.read() == b"err\n"
    assert read_out() == "out-1\n"  # pid 1 of its own pid namespace
    assert not os.path.exists(os.path.join(runtime.root, cid))  # deleted
    assert cgroup_leaves(cid) == []


def test_run_keep_leaves_it_stopped(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    b = api_bundle(bundle, ["sh", "-c", "exit 42"])
    assert pyrunc.Container.run(cid, b.path, runtime.root, keep=True) == 42
    assert runtime.state(cid)["status"] == "stopped"
    runtime.ok("delete", cid)


def test_delete_force_leaves_no_zombie(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """The init is our child: delete reaps it (a zombie still has a /proc entry)."""
    b = api_bundle(bundle, ["sleep", "60"])
    c = pyrunc.Container.create(cid, b.path, root=runtime.root)
    c.start()
    pid = c.pid
    c.delete(force=True)
    assert not os.path.exists(f"/proc/{pid}")
    assert cgroup_leaves(cid) == []


def test_exec_status_output_env_cwd_user(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    b = api_bundle(bundle, ["sleep", "60"], env=["FROM_CONFIG=1"])
    with running(cid, b, runtime.root) as c:
        out, read_out = read_pipe()
        status = c.exec(
            ["sh", "-c", 'echo "$FROM_CONFIG $EXTRA $(pwd) $(id -u):$(id -g)"; exit 5'],
            env=["EXTRA=x"],
            cwd="/tmp",
            user="1000:1001",
            stdout=out,
        )
        assert status == 5
        assert read_out() == "1 x /tmp 1000:1001\n"
        with tempfile.TemporaryFile() as f:
            assert c.exec(["hostname"], stdout=f, user=0) == 0
            f.seek(0)
            assert f.read() == b"pyrunc\n"


def test_exec_detached_returns_the_pid(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    b = api_bundle(bundle, ["sleep", "60"])
    with running(cid, b, runtime.root) as c:
        pid = c.exec(["sleep", "60"], detach=True)
        assert sorted(c.processes()) == sorted([c.pid, pid])
        assert pid in [int(line.split()[1]) for line in c.ps(["-ef"]).splitlines()[1:]]
        os.kill(pid, signal.SIGKILL)
        assert os.waitpid(pid, 0)[0] == pid  # ours to reap, as documented


def test_wait_on_a_cli_container(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """We are the subreaper the CLI's init was re-parented to: wait gets its status."""
    bundle.set_args("sleep", "60")
    runtime.ok("run", "-d", "--bundle", bundle.path, cid)
    c = pyrunc.Container.load(cid, runtime.root)
    with pytest.raises(errors.Timeout):
        c.wait(timeout=0.2)
    runtime.ok("kill", cid, "KILL")
    assert c.wait(timeout=10) == 128 + signal.SIGKILL
    assert c.status() == "stopped"
    c.delete()


def test_wait_in_another_process(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """A process that is not the init's parent: wait returns None once the init exits."""
    bundle.set_args("sleep", "60")
    runtime.ok("run", "-d", "--bundle", bundle.path, cid)
    code = f"import pyrunc; print(pyrunc.Container.load({cid!r}, {runtime.root!r}).wait(10))"
    waiter = subprocess.Popen(
        [sys.executable, "-c", code], env=TREE_ENV, stdout=subprocess.PIPE, text=True
    )
    time.sleep(0.5)
    assert waiter.poll() is None  # still waiting
    runtime.ok("kill", cid, "KILL")
    out, _ = waiter.communicate(timeout=20)
    assert out == "None\n"
    runtime.ok("delete", cid)


# -- cgroups through the API ---------------------------------------------------------------


def test_update_pause_resume(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    b = api_bundle(bundle, ["sleep", "60"], memory_limit=64 * MiB)
    with running(cid, b, runtime.root) as c:
        c.update({"memory": {"limit": 96 * MiB}})
        assert host_memory_limit(c.pid) == 96 * MiB
        assert c.stats()["memory"]["usage"]["limit"] == 96 * MiB
        c.pause()
        assert runtime.state(cid)["status"] == "paused"
        assert proc_state(c.pid) in ("S", "D")  # frozen sleep: still there
        c.resume()
        assert c.status() == "running"


def proc_state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def test_stats_are_the_cli_events_data(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    b = api_bundle(bundle, ["sleep", "60"], memory_limit=64 * MiB, pids_limit=10)
    with running(cid, b, runtime.root) as c:
        cli = runtime.ok("events", "--stats", cid).json()
        api = c.stats()
        assert cli["type"] == "stats" and cli["id"] == cid
        assert set(api) == set(cli["data"])
        assert api["memory"]["usage"]["limit"] == cli["data"]["memory"]["usage"]["limit"]
        assert api["pids"] == cli["data"]["pids"] == {"current": 1, "limit": 10}


# -- one state root for the API and the CLI ------------------------------------------------


def test_api_container_driven_by_the_cli(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    b = api_bundle(bundle, ["sleep", "60"])
    c = pyrunc.Container.create(cid, b.path, root=runtime.root)
    assert runtime.state(cid) == c.state()
    assert [x["id"] for x in runtime.ok("list", "--format", "json").json()] == [cid]
    runtime.ok("start", cid)
    assert c.status() == "running"
    assert runtime.ok("exec", cid, "hostname").out == "pyrunc\n"
    runtime.ok("kill", cid, "KILL")
    assert c.wait() == 128 + signal.SIGKILL
    runtime.ok("delete", cid)
    assert pyrunc.Container.list(runtime.root) == []


def test_cli_container_driven_by_the_api(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.set_args("sleep", "60")
    runtime.ok("create", "--bundle", bundle.path, cid)
    c = pyrunc.Container.load(cid, runtime.root)
    assert [x.id for x in pyrunc.Container.list(runtime.root)] == [cid]
    assert c.state() == runtime.state(cid)
    assert c.state()["status"] == "created"
    c.start()
    assert runtime.state(cid)["status"] == "running"
    assert c.exec(["true"]) == 0
    pid = c.pid
    c.delete(force=True)
    assert is_dead(pid)
    assert runtime("state", cid).code != 0
    assert cgroup_leaves(cid) == []


# -- options: the CLI's global flags, set through the API ----------------------------------


def test_options_carry_the_state_root(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """RuntimeOptions(root=) is --root: the CLI sees the container there; `root=` wins."""
    b = api_bundle(bundle, ["sleep", "60"])
    options = pyrunc.RuntimeOptions(root=runtime.root)
    c = pyrunc.Container.create(cid, b.path, options=options)
    try:
        assert c.root == runtime.root and c.options == options
        assert runtime.state(cid)["status"] == "created"
        assert [x.id for x in pyrunc.Container.list(options=options)] == [cid]
        elsewhere = pyrunc.RuntimeOptions(root=runtime.root + "-not-used")
        assert pyrunc.Container.load(cid, runtime.root, options=elsewhere).options == options
    finally:
        c.delete(force=True)


def test_systemd_cgroup_option_maps_the_path(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """systemd_cgroup=True is --systemd-cgroup: "slice:prefix:name" becomes a .scope,
    as the kernel shows it in /proc/<pid>/cgroup; without it the path is refused."""
    b = api_bundle(bundle, ["sleep", "60"])
    b.config["linux"]["cgroupsPath"] = f"pyt-test.slice:pyt:{cid}"
    b.save()
    options = pyrunc.RuntimeOptions(root=runtime.root, systemd_cgroup=True)
    c = pyrunc.Container.create(cid, b.path, options=options)
    try:
        want = f"/pyt.slice/pyt-test.slice/pyt-{cid}.scope"
        assert proc_cgroups(c.pid) == {key: want for key in proc_cgroups("self")}
    finally:
        c.delete(force=True)
    assert dirs_named("pyt-test.slice") == [] and dirs_named("pyt.slice") == []
    b.config["linux"]["cgroupsPath"] = "/not/systemd"
    b.save()
    with pytest.raises(errors.PyruncError, match="slice:prefix:name"):
        pyrunc.Container.create(cid, b.path, options=options)
    assert pyrunc.Container.list(options=options) == []


@pytest.fixture(scope="module")
def lxcfs_up() -> None:
    """The host's lxcfs, up before the test's leak snapshot (a host service pyrunc
    starts once and never stops: see tests/test_procfs_view.py)."""
    if not (os.path.isdir("/sys/fs/cgroup/memory") and host_probe.lxcfs_usable()):
        pytest.skip("needs lxcfs and cgroup v1 memory (the hybrid host CI runs on)")
    from pyrunc.linux import procfs_view

    procfs_view.ensure_lxcfs()


def test_procfs_view_option_shows_the_limit(
    lxcfs_up: None, runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    """procfs_view=True is --procfs-view: /proc/meminfo in the container shows its limit,
    without the annotation in config.json."""
    b = api_bundle(bundle, ["head", "-1", "/proc/meminfo"], memory_limit=64 * MiB)
    assert "run.pyrunc.procfs-view" not in b.config.get("annotations", {})
    w, read = read_pipe()
    options = pyrunc.RuntimeOptions(root=runtime.root, procfs_view=True)
    assert pyrunc.Container.run(cid, b.path, options=options, stdout=w) == 0
    assert read().split() == ["MemTotal:", "65536", "kB"]
    w, read = read_pipe()
    assert pyrunc.Container.run(cid, b.path, root=runtime.root, stdout=w) == 0  # no view
    assert read().split()[1] != "65536"


def test_rootless_option_works_as_the_flag(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """Rootless mode run by root: the cgroup is writable, so the container gets its own,
    by the flag and by the option alike (tests/test_rootless.py runs it as a user)."""
    runtime.ok("run", "--bundle", bundle.path, cid, global_args=("--rootless", "true"))
    options = pyrunc.RuntimeOptions(root=runtime.root, rootless=True)
    assert options.is_rootless()
    c = pyrunc.Container.create(cid, bundle.path, options=options)
    try:
        assert cid in "".join(proc_cgroups(c.pid).values())
    finally:
        c.delete(force=True)


def test_options_are_frozen_and_compare_by_value() -> None:
    options = pyrunc.RuntimeOptions(systemd_cgroup=True)
    assert options == pyrunc.RuntimeOptions(systemd_cgroup=True) != pyrunc.RuntimeOptions()
    assert (options.root, options.procfs_view, options.rootless, options.debug) == (
        "/run/pyrunc",
        False,
        None,
        False,
    )
    with pytest.raises(AttributeError):
        options.root = "/tmp"  # type: ignore[misc]


# -- errors: the CLI's message is str(exception) -------------------------------------------

Case = Callable[[Runtime, Bundle, str], tuple[list[str], Callable[[], object], type]]


def _missing(rt: Runtime, b: Bundle, cid: str) -> Any:
    return ["state", cid], lambda: pyrunc.Container.load(cid, rt.root), errors.ContainerNotExist


def _exists(rt: Runtime, b: Bundle, cid: str) -> Any:
    rt.ok("create", "--bundle", b.path, cid)
    return (
        ["create", "--bundle", b.path, cid],
        lambda: pyrunc.Container.create(cid, b.path, rt.root),
        errors.ContainerExists,
    )


def _bad_id(rt: Runtime, b: Bundle, cid: str) -> Any:
    return (
        ["create", "--bundle", b.path, "a/b"],
        lambda: pyrunc.Container.create("a/b", b.path, rt.root),
        errors.InvalidArgument,
    )


def _bad_config_field(rt: Runtime, b: Bundle, cid: str) -> Any:
    b.config["process"]["rlimits"] = [{"type": "RLIMIT_NOPE", "hard": 1, "soft": 1}]
    b.save()
    return (
        ["create", "--bundle", b.path, cid],
        lambda: pyrunc.Container.create(cid, b.path, rt.root),
        errors.ConfigError,
    )


def _stopped(rt: Runtime, b: Bundle, cid: str) -> pyrunc.Container:
    rt.ok("run", "-d", "--bundle", b.path, cid)  # `true`: stops at once
    c = pyrunc.Container.load(cid, rt.root)
    c.wait(timeout=10)
    return c


def _not_running(rt: Runtime, b: Bundle, cid: str) -> Any:
    c = _stopped(rt, b, cid)
    return ["kill", cid, "KILL"], lambda: c.kill("KILL"), errors.ContainerNotRunning


def _started_twice(rt: Runtime, b: Bundle, cid: str) -> Any:
    c = _stopped(rt, b, cid)
    return ["start", cid], c.start, errors.InvalidState


def _exec_stopped(rt: Runtime, b: Bundle, cid: str) -> Any:
    c = _stopped(rt, b, cid)
    return ["exec", cid, "true"], lambda: c.exec(["true"]), errors.ExecFailed


def _running(rt: Runtime, b: Bundle, cid: str) -> pyrunc.Container:
    b.set_args("sleep", "60")
    rt.ok("run", "-d", "--bundle", b.path, cid)
    return pyrunc.Container.load(cid, rt.root)


def _delete_running(rt: Runtime, b: Bundle, cid: str) -> Any:
    c = _running(rt, b, cid)
    return ["delete", cid], c.delete, errors.InvalidState


def _resume_running(rt: Runtime, b: Bundle, cid: str) -> Any:
    c = _running(rt, b, cid)
    return ["resume", cid], c.resume, errors.InvalidState


def _bad_signal_name(rt: Runtime, b: Bundle, cid: str) -> Any:
    c = _running(rt, b, cid)
    return ["kill", cid, "NOPE"], lambda: c.kill("NOPE"), errors.InvalidArgument


def _bad_signal_number(rt: Runtime, b: Bundle, cid: str) -> Any:
    c = _running(rt, b, cid)
    return ["kill", cid, "99"], lambda: c.kill(99), errors.InvalidArgument  # 0: a probe


def _bad_update(rt: Runtime, b: Bundle, cid: str) -> Any:
    c = _running(rt, b, cid)
    path = os.path.join(b.path, "resources.json")
    with open(path, "w") as f:
        json.dump({"memory": {"limit": "lots"}}, f)
    return (
        ["update", "-r", path, cid],
        lambda: c.update({"memory": {"limit": "lots"}}),
        errors.InvalidArgument,
    )


ERROR_CASES: list[Case] = [
    _missing,
    _exists,
    _bad_id,
    _bad_config_field,
    _not_running,
    _started_twice,
    _exec_stopped,
    _delete_running,
    _resume_running,
    _bad_signal_name,
    _bad_signal_number,
    _bad_update,
]


@pytest.mark.parametrize("case", ERROR_CASES, ids=lambda f: f.__name__.strip("_"))
def test_errors_are_the_cli_messages(
    runtime: Runtime, bundle: Bundle, cid: str, case: Case
) -> None:
    argv, call, kind = case(runtime, bundle, cid)
    try:
        r = runtime(*argv)
        assert r.code != 0 and len(r.err.strip().splitlines()) == 1, r
        with pytest.raises(errors.PyruncError) as e:
            call()
        assert type(e.value) is kind, type(e.value)
        assert str(e.value) == error_message(r.err)
    finally:
        runtime("delete", "--force", cid)


def test_every_error_class_is_a_pyrunc_error() -> None:
    classes = [getattr(errors, name) for name in errors.__all__]
    assert all(issubclass(k, errors.PyruncError) for k in classes)
    raised_elsewhere = {"CorruptState", "ExecFailed", "HookError"}  # by store, tenant, hooks
    assert {k.__name__ for k in classes} >= raised_elsewhere
    from pyrunc.container.hooks import HookError
    from pyrunc.container.store import STATE_FILE, CorruptState
    from pyrunc.process.tenant import ExecFailed

    # Still importable from the modules that raise them, and the same classes.
    assert (HookError, CorruptState, ExecFailed) == (
        errors.HookError,
        errors.CorruptState,
        errors.ExecFailed,
    )
    assert f"container c: {STATE_FILE} is corrupt (why)" in str(CorruptState("c", "why"))


def test_wait_timeout_is_short(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    b = api_bundle(bundle, ["sleep", "60"])
    with running(cid, b, runtime.root) as c:
        t0 = time.monotonic()
        with pytest.raises(errors.Timeout, match="still running after 0.3s"):
            c.wait(timeout=0.3)
        assert 0.25 < time.monotonic() - t0 < 3


def test_host_refusals_are_host_errors(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """An OSError underneath becomes errors.HostError (still an OSError), the CLI's line."""
    root = os.path.join(bundle.path, "config.json", "state")  # under a file: ENOTDIR
    r = Runtime(root)("create", "--bundle", bundle.path, cid)
    with pytest.raises(errors.HostError) as e:
        pyrunc.Container.create(cid, bundle.path, root=root)
    assert str(e.value) == error_message(r.err) == f"{root}: not a directory"
    assert isinstance(e.value, OSError) and e.value.errno == errno.ENOTDIR
