"""The runtime killed (SIGKILL) at every phase, state.json damaged, init killed early, a
full state root: afterwards `state` tells the truth or fails in one clear line,
`delete --force` succeeds, and the leak check (conftest) finds the host as it was.

Phases are pyrunc/faults.py's PYRUNC_FAULT points, one per step that leaves something
new behind (state dir, fifo, cgroups + first record, stage 1, init, final record).
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
from collections.abc import Iterator

import pytest

from tests.helpers import TREE_ENV, Bundle, Result, Runtime, error_message, is_dead

# phase -> what `state` must say afterwards (None: the ID is unknown, "container does not
# exist" — only a state dir with no record yet, which `list` skips and delete removes).
CREATE_PHASES = {
    "after-state-dir": None,
    "after-fifo": None,
    "after-cgroups": "stopped",  # recorded with pid 0 and a dead creator: abandoned
    "after-fork": "stopped",
    "after-init-ready": "stopped",  # init waits in the cgroup, unrecorded: delete kills it
    "after-state": "created",  # fully recorded: it can even be started
}


def faulted(runtime: Runtime, phase: str, *args: str) -> Result:
    """Run the CLI with a fault point armed; it must die of SIGKILL there."""
    cmd = [*runtime.argv, "--root", runtime.root, *args]
    env = {**TREE_ENV, "PYRUNC_FAULT": phase}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.run(
            cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, timeout=60
        )
        err.seek(0)
        r = Result(p.returncode, "", err.read().decode(errors="replace"))
    assert r.code == -signal.SIGKILL, f"fault {phase} was not hit: {r}"
    return r


def one_line_error(r: Result) -> str:
    assert r.code != 0, r
    assert len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err, r.err
    return error_message(r.err)


def assert_state(runtime: Runtime, cid: str, expected: str | None) -> None:
    r = runtime("state", cid)
    if expected is None:
        assert one_line_error(r) == "container does not exist"
    else:
        assert r.code == 0, r.err
        assert r.json()["status"] == expected
    listed = runtime.ok("list", "--format", "json").json() or []
    assert [c["status"] for c in listed if c["id"] == cid] == ([expected] if expected else [])


def force_delete(runtime: Runtime, cid: str) -> None:
    runtime.ok("delete", "--force", cid)
    assert not os.path.lexists(os.path.join(runtime.root, cid))
    assert one_line_error(runtime("state", cid)) == "container does not exist"


@pytest.fixture
def sleeper(bundle: Bundle) -> Bundle:
    return bundle.set_args("sleep", "1000")


@pytest.mark.parametrize("phase", list(CREATE_PHASES))
def test_create_killed(runtime: Runtime, sleeper: Bundle, cid: str, phase: str) -> None:
    faulted(runtime, phase, "create", "--bundle", sleeper.path, cid)
    assert_state(runtime, cid, CREATE_PHASES[phase])
    if CREATE_PHASES[phase] == "stopped":
        # Nothing can come of it: start refuses in one line, plain delete is allowed.
        assert "stopped" in one_line_error(runtime("start", cid))
    force_delete(runtime, cid)


def test_create_killed_after_record_can_still_start(
    runtime: Runtime, sleeper: Bundle, cid: str
) -> None:
    faulted(runtime, "after-state", "create", "--bundle", sleeper.path, cid)
    runtime.ok("start", cid)
    assert runtime.state(cid)["status"] == "running"
    force_delete(runtime, cid)


def test_create_killed_then_same_id_reused(runtime: Runtime, sleeper: Bundle, cid: str) -> None:
    faulted(runtime, "after-init-ready", "create", "--bundle", sleeper.path, cid)
    assert "already exists" in one_line_error(runtime("create", "--bundle", sleeper.path, cid))
    force_delete(runtime, cid)
    runtime.ok("create", "--bundle", sleeper.path, cid)
    assert runtime.state(cid)["status"] == "created"
    force_delete(runtime, cid)


@pytest.mark.parametrize(
    ("phase", "expected"),
    [("start-before-release", "created"), ("start-after-release", "running")],
)
def test_start_killed(
    runtime: Runtime, sleeper: Bundle, cid: str, phase: str, expected: str
) -> None:
    runtime.ok("create", "--bundle", sleeper.path, cid)
    faulted(runtime, phase, "start", cid)
    assert_state(runtime, cid, expected)
    if expected == "created":
        runtime.ok("start", cid)  # the lock died with the runtime: a retry works
        assert runtime.state(cid)["status"] == "running"
    force_delete(runtime, cid)


@pytest.mark.parametrize("phase", ["delete-after-kill", "delete-after-cgroups"])
def test_delete_killed(runtime: Runtime, sleeper: Bundle, cid: str, phase: str) -> None:
    runtime.ok("create", "--bundle", sleeper.path, cid)
    runtime.ok("start", cid)
    faulted(runtime, phase, "delete", "--force", cid)
    assert_state(runtime, cid, "stopped")
    runtime.ok("delete", cid)  # stopped: no --force needed to finish the job
    assert not os.path.lexists(os.path.join(runtime.root, cid))


def test_exec_killed(runtime: Runtime, sleeper: Bundle, cid: str) -> None:
    runtime.ok("create", "--bundle", sleeper.path, cid)
    runtime.ok("start", cid)
    faulted(runtime, "exec-after-launch", "exec", "--detach", cid, "sleep", "500")
    assert_state(runtime, cid, "running")
    force_delete(runtime, cid)  # the orphaned exec'd process dies with the cgroup


# -- damaged state ---------------------------------------------------------------------------


def _damage(runtime: Runtime, cid: str, how: str) -> None:
    path = os.path.join(runtime.root, cid, "state.json")
    data = open(path, "rb").read()
    damaged = {
        "truncated": data[: len(data) // 2],
        "empty": b"",
        "garbage": b"\xff\xfe\x00garbage",
        "not-an-object": b"[1, 2]",
        "missing-pid": b'{"id": "%s"}' % cid.encode(),
        "wrong-type": data.replace(b'"pid": ', b'"pid": "x', 1),
    }[how]
    with open(path, "wb") as f:
        f.write(damaged)


@pytest.mark.parametrize(
    "how", ["truncated", "empty", "garbage", "not-an-object", "missing-pid", "wrong-type"]
)
def test_corrupt_state(runtime: Runtime, sleeper: Bundle, cid: str, how: str) -> None:
    pid_file = os.path.join(sleeper.path, "init.pid")
    runtime.ok("create", "--bundle", sleeper.path, "--pid-file", pid_file, cid)
    init = int(open(pid_file).read())
    _damage(runtime, cid, how)
    for command in (["state", cid], ["start", cid], ["kill", cid, "KILL"], ["delete", cid]):
        msg = one_line_error(runtime(*command))
        assert f"container {cid}: state.json is corrupt" in msg, (command, msg)
    runtime.ok("list")  # one damaged entry does not break the others' listing
    force_delete(runtime, cid)
    assert is_dead(init), "delete --force left the init running (cgroup not found)"


def test_init_killed_before_start(runtime: Runtime, sleeper: Bundle, cid: str) -> None:
    pid_file = os.path.join(sleeper.path, "init.pid")
    runtime.ok("create", "--bundle", sleeper.path, "--pid-file", pid_file, cid)
    os.kill(int(open(pid_file).read()), signal.SIGKILL)
    assert_state(runtime, cid, "stopped")
    assert one_line_error(runtime("start", cid)) == "cannot start a container that has stopped"
    assert one_line_error(runtime("kill", cid, "TERM")) == "container not running"
    runtime.ok("delete", cid)
    assert not os.path.lexists(os.path.join(runtime.root, cid))


# -- a full state root -----------------------------------------------------------------------


@pytest.fixture
def full_root(workdir: str, cid: str) -> Iterator[str]:
    """A 64 KiB tmpfs with every block taken, as the state root."""
    root = os.path.join(workdir, f"full-{cid}")
    os.makedirs(root)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", root], check=True)
    try:
        fd = os.open(os.path.join(root, "filler"), os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:  # ENOSPC: full, as wanted
            pass
        finally:
            os.close(fd)
        yield root
    finally:
        subprocess.run(["umount", root], check=True)
        os.rmdir(root)


def test_full_state_root(sleeper: Bundle, full_root: str, cid: str) -> None:
    full = Runtime(full_root)
    msg = one_line_error(full("create", "--bundle", sleeper.path, cid))
    assert msg == f"{full_root}/{cid}/state.json: no space left on device", msg
    assert os.listdir(full_root) == ["filler"], "a failed create left its state dir"
    full.ok("delete", "--force", cid)
    assert full.ok("list", "-q").out == ""
    pid_file = os.path.join(full_root, "init.pid")  # no stray temporary file either
    msg = one_line_error(full("create", "--bundle", sleeper.path, "--pid-file", pid_file, cid))
    assert msg == f"{full_root}/{cid}/state.json: no space left on device", msg
    assert os.listdir(full_root) == ["filler"]
