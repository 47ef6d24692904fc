"""create -> start -> kill -> delete through the CLI, checked against the kernel."""

from __future__ import annotations

import json
import os
import re
import signal
import time

import pytest

from tests.helpers import Bundle, Runtime, created, error_message, is_dead, proc_ns


def _wait_status(runtime: Runtime, cid: str, want: str, timeout: float = 5) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        st = runtime.state(cid)
        if st["status"] == want or time.monotonic() > deadline:
            return st
        time.sleep(0.02)


def test_create_start_kill_delete(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.set_args("sleep", "1000")
    pid_file = os.path.join(bundle.path, "pid")
    runtime.ok("create", "--bundle", bundle.path, "--pid-file", pid_file, cid)

    st = runtime.state(cid)
    assert st["status"] == "created"
    assert st["id"] == cid and st["bundle"] == bundle.path
    pid = st["pid"]
    assert open(pid_file).read() == str(pid)  # no newline: containerd uses Atoi
    # The init waits in its own pid namespace as PID 1, not yet running sleep.
    assert proc_ns(pid, "pid") != proc_ns("self", "pid")
    assert open(f"/proc/{pid}/status").read().count("NSpid") == 1
    nspid = [ln for ln in open(f"/proc/{pid}/status") if ln.startswith("NSpid")][0].split()
    assert nspid[-1] == "1"
    assert b"sleep" not in open(f"/proc/{pid}/cmdline", "rb").read()

    runtime.ok("start", cid)
    assert runtime.state(cid)["status"] == "running"
    assert open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")[0] == b"sleep"

    r = runtime("start", cid)
    assert r.code == 1 and "cannot start an already running container" in r.err

    r = runtime("delete", cid)
    assert r.code == 1 and "not stopped" in r.err

    runtime.ok("kill", cid, "KILL")
    st = _wait_status(runtime, cid, "stopped")
    assert st["status"] == "stopped" and st["pid"] == 0
    r = runtime("kill", cid, "TERM")
    assert r.code == 1 and "container not running" in r.err

    runtime.ok("delete", cid)
    assert is_dead(pid)
    r = runtime("state", cid)
    assert r.code == 1 and "container does not exist" in r.err


@pytest.mark.parametrize("args,code", [
    (["true"], 0), (["false"], 1), (["sh", "-c", "exit 3"], 3),
    (["sh", "-c", "exit 255"], 255),
])
def test_run_exit_status(runtime: Runtime, bundle: Bundle, cid: str, args: list[str],
                         code: int) -> None:
    bundle.set_args(*args)
    r = runtime("run", "--bundle", bundle.path, cid)
    assert r.code == code, r.err
    assert runtime("state", cid).code == 1  # run removes the container


@pytest.mark.parametrize("args", [["true"], ["false"], ["sh", "-c", "exit 3"],
                                  ["/nonexistent"], ["nonexistent-cmd"], ["/etc/passwd"]])
def test_run_matches_runc(runtime: Runtime, runc: Runtime, bundle: Bundle, cid: str,
                          args: list[str]) -> None:
    bundle.set_args(*args)
    ours = runtime("run", "--bundle", bundle.path, cid)
    theirs = runc("run", "--bundle", bundle.path, cid)
    assert ours.code == theirs.code, (ours.err, theirs.err)
    if theirs.code != 0 and "exec" in theirs.err:
        # Same error text after the runtime's name (podman and docker match it).
        theirs_msg = error_message(theirs.err)
        assert theirs_msg[theirs_msg.index("exec: "):] in error_message(ours.err)


def test_run_output_pid1_hostname(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.config["hostname"] = "box-" + cid[-6:]
    bundle.set_args("sh", "-c", "echo $$; hostname")
    r = runtime.ok("run", "--bundle", bundle.path, cid)
    assert r.out.split() == ["1", "box-" + cid[-6:]]


def test_delete_created_container_needs_force(runtime: Runtime, bundle: Bundle,
                                              cid: str) -> None:
    runtime.ok("create", "--bundle", bundle.path, cid)
    pid = runtime.state(cid)["pid"]
    r = runtime("delete", cid)
    assert r.code == 1 and "not stopped: created" in r.err
    runtime.ok("delete", "--force", cid)
    assert is_dead(pid)


def test_no_process_may_be_created_but_not_started(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    """runtime-spec: `process` is optional, but REQUIRED when start is called. The start
    fails in runc's words, ends the waiting init, and the container is stopped."""
    del bundle.config["process"]
    bundle.save()
    runtime.ok("create", "--bundle", bundle.path, cid)
    pid = runtime.state(cid)["pid"]
    assert runtime.state(cid)["status"] == "created" and not is_dead(pid)
    r = runtime("start", cid)
    assert r.code == 1 and len(r.err.strip().splitlines()) == 1, r.err
    assert "process property must not be empty" in error_message(r.err), r.err
    assert runtime.state(cid)["status"] == "stopped" and is_dead(pid)
    r = runtime("start", cid)  # stays refused, now for the status
    assert r.code == 1 and "stopped" in error_message(r.err), r.err
    runtime.ok("delete", cid)
    r = runtime("run", "--bundle", bundle.path, cid)  # run is create + start
    assert r.code == 1 and "process property must not be empty" in error_message(r.err), r.err
    assert runtime("state", cid).code == 1


# What runc's create.bats "detect fd leak" lets a created init hold: stdio ptys, anon
# inodes, a procfs handle ("/" when mounted nowhere), sockets, pipes, and exec.fifo.
_INIT_MAY_HOLD = re.compile(
    r"/dev/pts/\d+|anon_inode:\[.+\]|/(proc)?|socket:\[\d+\]|pipe:\[\d+\]|.*/exec\.fifo"
)
_USERNS_MAP = [{"containerID": 0, "hostID": 100000, "size": 65536}]


@pytest.mark.parametrize("userns", [False, True], ids=["plain", "userns"])
def test_created_init_holds_its_fifo_and_no_host_directory(
    runtime: Runtime, bundle: Bundle, cid: str, userns: bool
) -> None:
    """Until `start`, init waits on exec.fifo: it holds the fifo, never the state dir (a
    host directory an fd inside the container could walk out of), and start goes
    through that fd (reopened in a procfs of the container's own)."""
    if userns:
        bundle.config["linux"]["namespaces"].append({"type": "user"})
        bundle.config["linux"]["uidMappings"] = _USERNS_MAP
        bundle.config["linux"]["gidMappings"] = _USERNS_MAP
    bundle.set_args("sh", "-c", "exit 3").save()
    with created(runtime, bundle, cid) as pid:
        fd_dir = f"/proc/{pid}/fd"
        # 0-2 are the caller's stdio (bats gives a pty; we give files): the rest is ours.
        held = {n: os.readlink(os.path.join(fd_dir, n)) for n in os.listdir(fd_dir) if int(n) > 2}
        assert all(_INIT_MAY_HOLD.fullmatch(t) for t in held.values()), held
        fifos = [t for t in held.values() if t.endswith("/exec.fifo")]
        assert fifos == [os.path.join(runtime.root, cid, "exec.fifo")], held
        runtime.ok("start", cid)
        st = _wait_status(runtime, cid, "stopped")
        assert st["status"] == "stopped" and is_dead(pid)


@pytest.mark.parametrize("how", ["kill", "host"])
def test_created_container_dies_of_SIGTERM(
    runtime: Runtime, bundle: Bundle, cid: str, how: str
) -> None:
    """Its init is PID 1 of a pid namespace, which the kernel shields from signals it has
    no handler for; runc's init dies of SIGTERM all the same (pidfd-socket.bats), from
    `kill` or from the host (a pidfd, kill(2))."""
    bundle.set_args("sleep", "1000").save()
    with created(runtime, bundle, cid) as pid:
        if how == "kill":
            runtime.ok("kill", cid, "TERM")
        else:
            os.kill(pid, signal.SIGTERM)
        assert _wait_status(runtime, cid, "stopped")["status"] == "stopped"
        assert is_dead(pid)


def _cmdlines_naming(word: str) -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue  # gone meanwhile
        if word.encode() in argv:
            found.append(f"{pid}: {b' '.join(argv).decode(errors='replace')}")
    return found


def test_run_detached_leaves_no_runtime_process(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """After `run -d` returns, the container's process is all that is left: no pyrunc
    process stays behind to hold memory (runc's and crun's do not either)."""
    bundle.set_args("sleep", "100")
    try:
        runtime.ok("run", "-d", "--bundle", bundle.path, cid)
        pid = runtime.state(cid)["pid"]
        assert _cmdlines_naming(cid) == []  # every pyrunc call named the container
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            assert f.read().split(b"\0")[0] == b"sleep"
    finally:
        runtime("delete", "--force", cid)


def test_delete_force_unknown_is_silent(runtime: Runtime, cid: str) -> None:
    r = runtime("delete", "--force", cid)
    assert (r.code, r.err) == (0, "")
    r = runtime("delete", cid)
    assert r.code == 1 and "container does not exist" in r.err


def test_kill_signal_forms(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.set_args("sh", "-c", "trap 'exit 7' USR1; while true; do sleep 0.05; done")
    runtime.ok("run", "--detach", "--bundle", bundle.path, cid)
    pid = runtime.state(cid)["pid"]
    runtime.ok("kill", cid, str(int(signal.SIGUSR1)))
    _wait_status(runtime, cid, "stopped")
    assert runtime.state(cid)["status"] == "stopped"
    assert is_dead(pid)
    runtime.ok("delete", cid)


def _cgroup_pids(init: int) -> list[int]:
    """Every process in init's pids cgroup (the kernel's list, not ours)."""
    line = next(ln for ln in open(f"/proc/{init}/cgroup") if ":pids:" in ln or ln.startswith("0::"))
    path = line.strip().split(":", 2)[2]
    base = "/sys/fs/cgroup/pids" if ":pids:" in line else "/sys/fs/cgroup"
    with open(f"{base}{path}/cgroup.procs") as f:
        return [int(p) for p in f.read().split()]


def _wait_dead(pids: list[int], timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while not all(is_dead(p) for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.mark.parametrize("init_first", [False, True], ids=["running", "init-gone"])
def test_kill_KILL_without_a_pid_namespace_reaches_every_process(
    runtime: Runtime, bundle: Bundle, cid: str, init_first: bool
) -> None:
    """runc: sharing the host's pid namespace, the init's death does not take the rest
    along, so `kill KILL` signals every process of the container's cgroup, also once
    the init is gone (no --all needed)."""
    bundle.config["linux"]["namespaces"] = [
        ns for ns in bundle.config["linux"]["namespaces"] if ns["type"] != "pid"
    ]
    bundle.set_args("sh", "-c", "sleep 100 & sleep 100 & wait")
    runtime.ok("run", "--detach", "--bundle", bundle.path, cid)
    try:
        init = runtime.state(cid)["pid"]
        for _ in range(200):
            if len(pids := _cgroup_pids(init)) >= 3:
                break
            time.sleep(0.01)
        assert len(pids) >= 3, pids
        if init_first:
            os.kill(init, signal.SIGKILL)
            _wait_status(runtime, cid, "stopped")
            assert not all(is_dead(p) for p in pids)  # the sleeps live on
        runtime.ok("kill", cid, "KILL")
        assert _wait_dead(pids), [p for p in pids if not is_dead(p)]
    finally:
        runtime("delete", "--force", cid)


def test_kill_of_a_stopped_container(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """runc's words for a plain kill; with --all (obsolete in runc) it is no error."""
    bundle.set_args("sleep", "100")
    runtime.ok("run", "--detach", "--bundle", bundle.path, cid)
    runtime.ok("kill", cid, "0")  # kill(2)'s probe: it is there
    assert runtime.state(cid)["status"] == "running"
    runtime.ok("kill", cid, "KILL")
    _wait_status(runtime, cid, "stopped")
    for sig in ("KILL", "0"):
        r = runtime("kill", cid, sig)
        assert r.code == 1 and error_message(r.err) == "container not running", r.err
    runtime.ok("kill", "--all", cid, "KILL")
    runtime.ok("delete", cid)


def test_state_is_valid_per_schema(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    from pyrunc.spec.validate import validate_state

    runtime.ok("create", "--bundle", bundle.path, cid)
    st = runtime.state(cid)
    validate_state(st)
    assert {"ociVersion", "id", "status", "pid", "bundle", "rootfs", "created"} <= set(st)
    r = runtime.ok("list", "--format", "json")
    assert [s["id"] for s in json.loads(r.out)] == [cid]
    assert runtime.ok("list", "-q").out.split() == [cid]
    runtime.ok("delete", "--force", cid)


def test_list_as_runc_prints_it(runtime: Runtime, bundle: Bundle, cid: str, tmp_path) -> None:
    """runc's list.bats: compact JSON (no spaces: scripts match it), `null` for none; a
    --root that does not exist is an error, the default root missing is no containers."""
    missing = str(tmp_path / "no-such-root")
    r = Runtime(missing)("list")
    assert r.code == 1 and error_message(r.err) == f"open {missing}: no such file or directory"
    empty = tmp_path / "empty-root"
    empty.mkdir()
    assert Runtime(str(empty)).ok("list", "--format", "json").out == "null\n"
    runtime.ok("create", "--bundle", bundle.path, cid)
    try:
        out = runtime.ok("list", "--format", "json").out
        assert out.startswith('[{"ociVersion":"') and ", " not in out, out
        assert [s["id"] for s in json.loads(out)] == [cid]
    finally:
        runtime.ok("delete", "--force", cid)


@pytest.mark.parametrize("how", ["delete-force", "kill"])
def test_host_pidns_exec_processes_die_with_the_container(
    runtime: Runtime, bundle: Bundle, cid: str, how: str
) -> None:
    """runc's delete.bats/kill.bats [host pidns + init gone]: exec'd processes of a
    container without its own pid namespace outlive its init; `delete --force` (or
    `kill KILL`) still takes every one of them."""
    bundle.config["linux"]["namespaces"] = [
        ns for ns in bundle.config["linux"]["namespaces"] if ns["type"] != "pid"
    ]
    bundle.set_args("sleep", "100")
    runtime.ok("run", "--detach", "--bundle", bundle.path, cid)
    try:
        init = runtime.state(cid)["pid"]
        for _ in range(3):
            runtime.ok("exec", "--detach", cid, "sleep", "100")
        pids = _cgroup_pids(init)
        assert len(pids) == 4, pids
        os.kill(init, signal.SIGKILL)
        _wait_status(runtime, cid, "stopped")
        if how == "kill":
            runtime.ok("kill", cid, "KILL")
        else:
            runtime.ok("delete", "--force", cid)
        assert _wait_dead(pids), [p for p in pids if not is_dead(p)]
    finally:
        runtime("delete", "--force", cid)
