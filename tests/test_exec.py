"""exec into running containers, read from the kernel: the exec'd process's
/proc/<pid>/ns links, cgroup, status (caps, ids, no_new_privs) and what it prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests import host
from tests.helpers import PYRUNC, Bundle, Runtime, error_message, is_dead, proc_status

NAMESPACES = ("mnt", "pid", "net", "uts", "ipc", "cgroup", "user", "time")


@contextmanager
def running(runtime: Runtime, bundle: Bundle, cid: str, *args: str) -> Iterator[int]:
    """A started container running args (default: sleep); its init's host pid."""
    bundle.set_args(*(args or ("sleep", "1000")))
    runtime.ok("run", "--detach", "--bundle", bundle.path, cid)
    try:
        yield runtime.state(cid)["pid"]
    finally:
        runtime("delete", "--force", cid)


def _ns(pid: int, name: str) -> str:
    return os.readlink(f"/proc/{pid}/ns/{name}")


def _cgroups(pid: int) -> list[str]:
    with open(f"/proc/{pid}/cgroup") as f:
        return sorted(f.read().splitlines())


def _exec_detached(runtime: Runtime, cid: str, pid_file: str, *args: str) -> int:
    runtime.ok("exec", "--detach", "--pid-file", pid_file, cid, *args)
    with open(pid_file) as f:
        text = f.read()
    assert text.isdigit(), repr(text)  # the bare pid: containerd parses it with Atoi
    return int(text)


def test_exec_joins_every_namespace_and_the_cgroup(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    bundle.config["linux"]["namespaces"].append({"type": "cgroup"})
    with running(runtime, bundle, cid) as init:
        pid = _exec_detached(runtime, cid, os.path.join(bundle.path, "pid"), "sleep", "1000")
        assert pid != init
        for name in NAMESPACES:
            assert _ns(pid, name) == _ns(init, name), name
        assert _ns(pid, "pid") != _ns(os.getpid(), "pid")  # really in the container's
        assert _cgroups(pid) == _cgroups(init)
        # Same capabilities as the container's process (config: 3 caps, no ambient).
        for field in ("CapBnd", "CapEff", "CapPrm", "CapAmb"):
            assert proc_status(pid, field) == proc_status(init, field), field
        assert proc_status(pid, "NoNewPrivs") == "1"
        # Same root: the container's, not the host's.
        assert (
            os.stat(f"/proc/{pid}/root/bin/busybox").st_ino
            == os.stat(os.path.join(bundle.rootfs, "bin", "busybox")).st_ino
        )
        nspid = proc_status(pid, "NSpid").split()
        assert len(nspid) == 2 and nspid[1] != "1"
        runtime.ok("delete", "--force", cid)
        wait_dead(pid)  # delete kills the whole container, exec'd processes too
        wait_dead(init)


def test_exec_in_user_namespace(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.config["linux"]["namespaces"].append({"type": "user"})
    bundle.config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    bundle.config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    with running(runtime, bundle, cid) as init:
        r = runtime("exec", cid, "sh", "-c", "id -u; readlink /proc/self/ns/user")
        assert r.code == 0, r.err
        uid, userns = r.out.split()
        assert uid == "0" and userns == _ns(init, "user")
        pid = _exec_detached(runtime, cid, os.path.join(bundle.path, "pid"), "sleep", "100")
        assert proc_status(pid, "Uid").split() == ["100000"] * 4
    # Detached, it is the child of us as subreaper (as of an engine's shim): the dying init
    # of its pid namespace only finishes exiting once we have reaped it.
    wait_dead(pid)
    wait_dead(init)


def wait_dead(pid: int, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while pid and not is_dead(pid):
        assert time.monotonic() < deadline, f"{pid} still alive"
        time.sleep(0.02)


def test_exec_foreground_status_env_cwd_user(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    with running(runtime, bundle, cid):
        r = runtime(
            "exec", "-e", "FOO=bar baz", "--cwd", "/tmp", "-u", "1000:1001", "-g", "5",
            cid, "sh", "-c", 'echo "$FOO"; pwd; id -u; id -g; id -G; echo "$HOME"; exit 7',
        )  # fmt: skip
        assert r.code == 7, r.err
        assert r.out.splitlines() == ["bar baz", "/tmp", "1000", "1001", "1001 5", "/"]
        # Without flags: the config's process (root, /, its env).
        r = runtime("exec", cid, "sh", "-c", "id -u; pwd; echo $TERM")
        assert (r.code, r.out.split()) == (0, ["0", "/", "xterm"])


def test_exec_exit_status_and_signal(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    with running(runtime, bundle, cid):
        assert runtime("exec", cid, "false").code == 1
        assert runtime("exec", cid, "sh", "-c", "kill -9 $$").code == 128 + 9


@pytest.mark.parametrize(
    "cmd,text",
    [
        ("nonexistent-cmd", 'exec: "nonexistent-cmd": executable file not found in $PATH'),
        ("/nonexistent", 'exec: "/nonexistent": stat /nonexistent: no such file or directory'),
        ("/etc/passwd", 'exec: "/etc/passwd": permission denied'),
    ],
)
def test_exec_failure_texts(
    runtime: Runtime, bundle: Bundle, cid: str, cmd: str, text: str
) -> None:
    with running(runtime, bundle, cid):
        r = runtime("exec", cid, cmd)
        assert r.code == 255, r.err
        assert error_message(r.err) == f"exec failed: unable to start container process: {text}"
        assert runtime.state(cid)["status"] == "running"  # the container is untouched


def test_execve_failure_is_one_line_in_runcs_words(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    """runc's exec.bats [execve error]: a script whose #! interpreter does not exist gets
    past every lookup and fails in execve(2) itself: one line, `exec PATH: ERROR`."""
    with open(os.path.join(bundle.rootfs, "run.sh"), "w") as f:
        f.write("#!/mmnnttbb foo bar\nsh\n")
    os.chmod(os.path.join(bundle.rootfs, "run.sh"), 0o755)
    with running(runtime, bundle, cid):
        r = runtime("exec", cid, "/run.sh")
        assert r.code != 0
        assert r.err.strip().splitlines() == ["exec /run.sh: no such file or directory"], r.err
    bundle.set_args("/run.sh")
    r = runtime("run", "--bundle", bundle.path, cid + "r")
    assert r.code != 0
    assert r.err.strip().splitlines() == ["exec /run.sh: no such file or directory"], r.err


def test_debug_names_the_steps_as_runc(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """runc's debug.bats/exec.bats look for its --debug phrases; pyrunc logs its own
    equivalent steps with them (stderr, or the --log file)."""
    bundle.set_args("sleep", "100")
    r = runtime("--debug", "run", "--detach", "--bundle", bundle.path, cid)
    try:
        assert r.code == 0, r.err
        for phrase in ("nsexec container setup", "child process in init()",
                       "init: closing the pipe to signal completion"):  # fmt: skip
            assert phrase in r.err and "level=debug" in r.err, r.err
        proc = {"args": ["true"], "cwd": "/", "execCPUAffinity": {"initial": "0"}}
        path = os.path.join(bundle.path, "p.json")
        with open(path, "w") as f:
            json.dump(proc, f)
        r = runtime("--debug", "exec", "--process", path, cid)
        assert r.code == 0, r.err
        assert "setns_init: about to exec" in r.err and "nsexec: affinity: 0x1" in r.err, r.err
    finally:
        runtime("delete", "--force", cid)


def test_exec_into_stopped_container(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.set_args("true")
    runtime.ok("run", "--detach", "--bundle", bundle.path, cid)
    deadline = time.monotonic() + 5
    while runtime.state(cid)["status"] != "stopped":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    pid_file = os.path.join(bundle.path, "pid")
    r = runtime("exec", "--pid-file", pid_file, cid, "true")
    assert r.code == 255
    assert error_message(r.err) == "exec failed: cannot exec in a stopped container"
    assert not os.path.exists(pid_file)
    runtime.ok("delete", cid)
    r = runtime("exec", cid, "true")
    assert (r.code, error_message(r.err)) == (255, "exec failed: container does not exist")


def test_exec_process_json(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    proc = {
        "terminal": False,
        # uid 0: a non-root process loses its capabilities at exec (no ambient ones here).
        "user": {"uid": 0, "gid": 3000, "additionalGids": [4000]},
        "args": ["sh", "-c", "id -u; id -G; pwd; echo $A; grep -E '^Cap(Eff|Bnd)' /proc/self/status"],  # noqa: E501
        "env": ["PATH=/bin", "A=from-process-json"],
        "cwd": "/etc",
        "capabilities": {"bounding": ["CAP_CHOWN", "CAP_KILL"], "effective": ["CAP_KILL"],
                         "permitted": ["CAP_KILL"]},
        "noNewPrivileges": True,
    }  # fmt: skip
    path = os.path.join(bundle.path, "process.json")
    with open(path, "w") as f:
        json.dump(proc, f)
    with running(runtime, bundle, cid):
        r = runtime("exec", "--process", path, cid)
        assert r.code == 0, r.err
        lines = r.out.splitlines()
        assert lines[:4] == ["0", "3000 4000", "/etc", "from-process-json"]
        caps = dict(line.split(":\t") for line in lines[4:])
        assert int(caps["CapEff"], 16) == 1 << 5
        assert int(caps["CapBnd"], 16) == (1 << 0) | (1 << 5)


def test_exec_process_json_errors_name_the_field(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    path = os.path.join(bundle.path, "process.json")
    with open(path, "w") as f:
        json.dump({"cwd": "/", "args": ["true"], "user": {"uid": "root"}}, f)
    with running(runtime, bundle, cid):
        r = runtime("exec", "--process", path, cid)
        assert r.code == 255 and "process.user.uid" in error_message(r.err), r.err
        r = runtime("exec", "--process", path + ".missing", cid)
        assert r.code == 255 and "--process" in error_message(r.err), r.err
        r = runtime("exec", "-u", "nobody", cid, "true")
        assert r.code == 255 and "--user" in error_message(r.err), r.err
        r = runtime("exec", "--tty", "--detach", cid, "true")
        assert r.code == 255 and "--console-socket" in error_message(r.err), r.err


def test_exec_cap_and_no_new_privs_flags(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.config["process"]["noNewPrivileges"] = False
    bundle.save()
    with running(runtime, bundle, cid):
        r = runtime("exec", cid, "grep", "-E", "^(CapEff|NoNewPrivs)", "/proc/self/status")
        before = dict(line.split(":\t") for line in r.out.splitlines())
        assert before["NoNewPrivs"] == "0" and not int(before["CapEff"], 16) & (1 << 21)
        r = runtime(
            "exec", "--cap", "CAP_SYS_ADMIN", "--no-new-privs", cid,
            "grep", "-E", "^(CapEff|NoNewPrivs)", "/proc/self/status",
        )  # fmt: skip
        after = dict(line.split(":\t") for line in r.out.splitlines())
        assert after["NoNewPrivs"] == "1"
        assert int(after["CapEff"], 16) == int(before["CapEff"], 16) | (1 << 21)


def test_exec_preserve_fds(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    inner = [*PYRUNC, "--root", runtime.root, "exec", "--preserve-fds", "1", cid]
    inner += ["sh", "-c", "echo through-fd-3 >&3; ls /proc/self/fd"]
    with running(runtime, bundle, cid):
        r, w = os.pipe()
        stray_r, stray_w = os.pipe()
        # A wrapper puts the pipe on fd 3 and a stray fd (not preserved) on 4, then
        # becomes the runtime.
        become = "import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); "
        become += "os.execvp(sys.argv[3], sys.argv[3:])"
        wrapper = [sys.executable, "-c", become, str(w), str(stray_r), *inner]
        try:
            p = subprocess.run(
                wrapper, capture_output=True, text=True, timeout=30, pass_fds=(w, stray_r)
            )
            os.close(w)
            w = -1
            got = os.read(r, 100)
        finally:
            for fd in (r, w, stray_r, stray_w):
                if fd >= 0:
                    os.close(fd)
        assert p.returncode == 0, p.stderr
        assert got == b"through-fd-3\n"
        # 0-2, the preserved 3, and 4 (ls's own directory fd): the runtime's 4 is gone.
        assert sorted(int(x) for x in p.stdout.split()) == [0, 1, 2, 3, 4]


def test_foreground_exec_forwards_signals_and_reaps(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    with running(runtime, bundle, cid):
        script = "trap 'exit 42' TERM; echo up; while true; do sleep 0.05; done"
        cmd = [*PYRUNC, "--root", runtime.root, "exec", cid, "sh", "-c", script]
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert p.stdout.readline() == b"up\n"
            p.terminate()
            assert p.wait(timeout=10) == 42
        finally:
            p.kill()
            p.wait()
            p.stdout.close()
            p.stderr.close()


def test_exec_gets_the_containers_seccomp_filter(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    bundle.config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}],
    }
    bundle.config["root"]["readonly"] = False
    with running(runtime, bundle, cid) as init:
        r = runtime("exec", cid, "mkdir", "/tmp/blocked")
        assert r.code == 1 and "Operation not permitted" in r.err, r.err
        pid = _exec_detached(runtime, cid, os.path.join(bundle.path, "pid"), "sleep", "100")
        assert proc_status(pid, "Seccomp") == "2"  # filter mode
    wait_dead(pid)
    wait_dead(init)


def test_exec_uses_the_process_the_container_was_created_with(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    """As runc: config.json edited (or gone) after create does not change exec's base."""
    bundle.config["process"]["env"].append("WHEN=create")
    with running(runtime, bundle, cid):
        bundle.config["process"]["env"][-1] = "WHEN=later"
        bundle.config["process"]["cwd"] = "/nonexistent"
        bundle.save()
        r = runtime.ok("exec", cid, "sh", "-c", 'echo "$WHEN $(pwd)"')
        assert r.out == "create /\n"


def _cpus_allowed(pid: int) -> set[int]:
    """The kernel's view: /proc/<pid>/status Cpus_allowed_list as a set."""
    cpus: set[int] = set()
    for element in proc_status(pid, "Cpus_allowed_list").split(","):
        low, _, high = element.partition("-")
        cpus.update(range(int(low), int(high or low) + 1))
    return cpus


def _exec_with_affinity(runtime: Runtime, bundle: Bundle, cid: str, aff: dict | None) -> int:
    """exec --process a sleep with this execCPUAffinity (None: without); its host pid."""
    proc: dict = {"args": ["sleep", "100"], "cwd": "/"}
    if aff is not None:
        proc["execCPUAffinity"] = aff
    path = os.path.join(bundle.path, "process.json")
    with open(path, "w") as f:
        json.dump(proc, f)
    pid_file = os.path.join(bundle.path, "pid")
    runtime.ok("exec", "--detach", "--pid-file", pid_file, "--process", path, cid)
    with open(pid_file) as f:
        return int(f.read())


def test_exec_cpu_affinity(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """process.execCPUAffinity as runc applies it: initial before the exec'd process
    joins the container's cgroup, final after it joined."""
    pids: list[int] = []
    with running(runtime, bundle, cid) as init:
        ours = sorted(os.sched_getaffinity(0) & _cpus_allowed(init))  # usable by both
        last, first = ours[-1], ours[0]
        pids.append(_exec_with_affinity(runtime, bundle, cid, {"final": str(last)}))
        assert _cpus_allowed(pids[-1]) == {last}
        pids.append(
            _exec_with_affinity(runtime, bundle, cid, {"initial": str(first), "final": str(last)})
        )
        assert _cpus_allowed(pids[-1]) == {last}
        # initial alone: the runtime leaves the affinity to the kernel after the cgroup
        # join (the spec: SHOULD NOT change it). The kernel either keeps the CPUs the
        # process asked for (within the cpuset) or resets it to the cpuset's: asked.
        pids.append(_exec_with_affinity(runtime, bundle, cid, {"initial": str(last)}))
        cpuset = _cpus_allowed(init)
        keeps = host.cpuset_move_keeps_asked_affinity()
        assert _cpus_allowed(pids[-1]) == ({last} & cpuset if keeps else cpuset)
        # Neither: reset to every CPU (masked by the cpuset), not the runtime's own
        # affinity (runc's rule), here a runtime started on one CPU.
        saved = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {last})
        try:
            pids.append(
                _exec_detached(runtime, cid, os.path.join(bundle.path, "pid"), "sleep", "100")
            )
        finally:
            os.sched_setaffinity(0, saved)
        assert _cpus_allowed(pids[-1]) == cpuset
    for pid in pids:
        wait_dead(pid)
    wait_dead(init)


def test_init_does_not_inherit_the_runtimes_affinity(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    """A runtime pinned to one CPU (taskset, systemd's CPUAffinity=) still gives the
    container's init every CPU its cgroup allows (runc's tryResetCPUAffinity)."""
    with running(runtime, bundle, cid) as init:
        cpuset = _cpus_allowed(init)  # started by an unpinned runtime
    wait_dead(init)
    if len(cpuset & os.sched_getaffinity(0)) < 2:
        pytest.skip("fewer than two CPUs to tell a pinned runtime from a reset one")
    saved = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {max(cpuset & saved)})  # the runtime we start inherits it
    try:
        with running(runtime, bundle, cid) as init:
            os.sched_setaffinity(0, saved)
            assert _cpus_allowed(init) == cpuset
    finally:
        os.sched_setaffinity(0, saved)
    wait_dead(init)


def test_exec_cpu_affinity_refusals_name_the_field(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    """A list that is no list, or names no CPU the kernel can run it on: exec fails with
    one line naming the field, and leaves no process behind."""
    offline = max(os.cpu_count() or 1, 64)  # past every CPU this machine has
    with running(runtime, bundle, cid) as init:
        before = _cgroup_procs(init)
        for aff, field in (
            ({"final": "x"}, "process.execCPUAffinity.final"),
            ({"initial": "1-0"}, "process.execCPUAffinity.initial"),
            ({"final": str(offline)}, "process.execCPUAffinity.final"),
            ({"initial": str(offline)}, "process.execCPUAffinity.initial"),
        ):
            path = os.path.join(bundle.path, "process.json")
            with open(path, "w") as f:
                json.dump({"args": ["true"], "cwd": "/", "execCPUAffinity": aff}, f)
            r = runtime("exec", "--process", path, cid)
            assert r.code == 255 and len(r.err.strip().splitlines()) == 1, (aff, r.err)
            assert field in error_message(r.err), (aff, r.err)
            assert _cgroup_procs(init) == before, aff
    # create keeps it for exec (not the init's: the spec), and refuses a bad one.
    bundle.config["process"]["execCPUAffinity"] = {"final": "0-x"}
    bundle.save()
    r = runtime("create", "--bundle", bundle.path, cid)
    assert r.code == 1 and "process.execCPUAffinity.final" in error_message(r.err), r.err
    assert runtime("state", cid).code == 1
    wait_dead(init)


def _cgroup_procs(init: int) -> set[int]:
    """Every process in the container's pid namespace, as the host sees them."""
    ns = _ns(init, "pid")
    return {int(p) for p in os.listdir("/proc") if p.isdigit() and _same_pid_ns(p, ns)}


def _same_pid_ns(pid: str, ns: str) -> bool:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid") == ns
    except OSError:
        return False


def test_exec_cpu_affinity_from_config_json(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """config.json's execCPUAffinity is for exec'd processes, never the init (the spec):
    runc applies it to exec with or without --process, unless the process has its own."""
    allowed = sorted(os.sched_getaffinity(0))
    last = allowed[-1]
    bundle.config["process"]["execCPUAffinity"] = {"final": str(last)}
    pids: list[int] = []
    with running(runtime, bundle, cid) as init:
        if len(allowed) > 1:  # the init's is not touched: not narrowed to {last}
            assert _cpus_allowed(init) != {last}
        pids.append(_exec_detached(runtime, cid, os.path.join(bundle.path, "pid"), "sleep", "100"))
        assert _cpus_allowed(pids[-1]) == {last}
        pids.append(_exec_with_affinity(runtime, bundle, cid, None))
        assert _cpus_allowed(pids[-1]) == {last}
        pids.append(_exec_with_affinity(runtime, bundle, cid, {"final": str(allowed[0])}))
        assert _cpus_allowed(pids[-1]) == {allowed[0]}
    for pid in pids:
        wait_dead(pid)
    wait_dead(init)


def _pidfd_listener(path: str):  # noqa: ANN202
    import socket

    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    srv.settimeout(30)
    return srv


def _receive_pidfd(srv) -> tuple[bytes, int]:  # noqa: ANN001
    import socket

    conn, _ = srv.accept()
    with conn:
        data, fds, _, _ = socket.recv_fds(conn, 64, 1)
    return data, fds[0]


@pytest.mark.parametrize("how", ["create", "exec"])
def test_pidfd_socket_hands_over_the_process(
    runtime: Runtime, bundle: Bundle, cid: str, how: str
) -> None:
    """runc 1.2's --pidfd-socket (pidfd-socket.bats): the listener gets a pidfd of the
    init (create/run) or of the exec'd process, and a signal through it reaches it."""
    import signal
    from concurrent.futures import ThreadPoolExecutor

    path = os.path.join(bundle.path, "pidfd.sock")
    srv = _pidfd_listener(path)
    bundle.set_args("sleep", "100")
    try:
        with ThreadPoolExecutor(1) as pool:
            got = pool.submit(_receive_pidfd, srv)
            if how == "create":
                runtime.ok("run", "--detach", "--pidfd-socket", path, "--bundle", bundle.path, cid)
                pid = runtime.state(cid)["pid"]
            else:
                runtime.ok("run", "--detach", "--bundle", bundle.path, cid)
                pid_file = os.path.join(bundle.path, "exec.pid")
                runtime.ok("exec", "--detach", "--pid-file", pid_file, "--pidfd-socket", path,
                           cid, "sleep", "100")  # fmt: skip
                with open(pid_file) as f:
                    pid = int(f.read())
            data, pidfd = got.result(timeout=30)
        assert data == (b"standard" if how == "create" else b"setns")
        try:
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        finally:
            os.close(pidfd)
        wait_dead(pid)
    finally:
        srv.close()
        runtime("delete", "--force", cid)


def test_pidfd_socket_that_nobody_listens_on_fails_before_anything_is_made(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    r = runtime("create", "--pidfd-socket", "/nonexistent.sock", "--bundle", bundle.path, cid)
    assert r.code == 1 and error_message(r.err).startswith("--pidfd-socket: connect"), r.err
    assert runtime("state", cid).code == 1
