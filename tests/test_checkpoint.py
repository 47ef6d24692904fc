"""checkpoint and restore over CRIU, on real busybox containers.

The host is asked, not assumed: `criu check` decides which half runs. Where CRIU works,
a checkpoint/restore round trip; where it is absent or fails its own check, both
commands fail in one line naming why, with the container exactly as it was. runc's
option checks (its texts, checkpoint.bats) hold on every host: they come before CRIU.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from functools import cache

import pytest

from tests.helpers import REPO, TREE_ENV, Bundle, Result, Runtime, error_message, is_dead


@cache
def criu_check() -> tuple[bool, str]:
    """(CRIU works here, why not): `criu check` itself, bounded as pyrunc bounds it."""
    binary = shutil.which("criu")
    if binary is None:
        return False, "criu is not installed"
    try:
        done = subprocess.run(
            [binary, "check"], capture_output=True, text=True, timeout=30, check=False
        )
    except subprocess.TimeoutExpired:
        return False, "criu check: no answer within 30s"
    errors = [ln for ln in (done.stderr + done.stdout).splitlines() if "Error" in ln]
    return done.returncode == 0, errors[-1] if errors else f"exit status {done.returncode}"


def needs_working_criu() -> None:
    works, why = criu_check()
    if not works:
        pytest.skip(f"CRIU cannot work on this host ({why})")


def needs_failing_criu() -> str:
    works, why = criu_check()
    if works:
        pytest.skip("CRIU works on this host: the refusal cannot be seen here")
    return why


def _run_sleeping(runtime: Runtime, bundle: Bundle, cid: str) -> tuple[int, str]:
    """A running container; its init's pid and start time (the kernel's /proc/<pid>/stat)."""
    bundle.set_args("sleep", "1000")
    runtime.ok("run", "-d", "--bundle", bundle.path, cid)
    pid = runtime.state(cid)["pid"]
    return pid, _start_time(pid)


def _start_time(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[19]


def _one_line(r: Result) -> str:
    assert r.code == 1, (r.code, r.err)
    assert len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err, r.err
    return error_message(r.err)


def _still_running(runtime: Runtime, cid: str, pid: int, start: str) -> None:
    """The very same init runs (not a restarted one) and `kill` still reaches it."""
    assert _start_time(pid) == start
    assert runtime.state(cid)["status"] == "running"
    runtime.ok("kill", cid, "KILL")
    for _ in range(200):
        if is_dead(pid):
            break
        time.sleep(0.02)
    assert is_dead(pid)
    runtime.ok("delete", cid)


# -- runc's option checks, before CRIU is asked ------------------------------------------


def test_parent_path_refusals_in_runcs_words(
    runtime: Runtime, bundle: Bundle, cid: str, tmp_path: str
) -> None:
    """checkpoint.bats "checkpoint --pre-dump (bad --parent-path)": absolute, then absent;
    the container is untouched and no image or work dir is made."""
    pid, start = _run_sleeping(runtime, bundle, cid)
    work = str(tmp_path)
    common = ("--work-path", "./work-dir", "--image-path", "./image-dir")
    common += ("--manage-cgroups-mode", "ignore", cid)
    r = runtime("checkpoint", "--parent-path", f"{work}/parent-dir", *common, cwd=work)
    assert _one_line(r) == "--parent-path must be relative"
    r = runtime("checkpoint", "--parent-path", "./parent-dir", *common, cwd=work)
    assert _one_line(r) == (
        f"invalid --parent-path: stat {work}/image-dir/parent-dir: no such file or directory"
    )
    assert os.listdir(work) == []
    _still_running(runtime, cid, pid, start)


@pytest.mark.parametrize(
    ("flags", "want"),
    [
        (("--manage-cgroups-mode", "hard"), "invalid manage-cgroups-mode value"),
        (("--empty-ns", "ipc"), 'namespace "ipc" is not supported'),
        (("--page-server", "nowhere"), "Use --page-server ADDRESS:PORT to specify page server"),
        (("--page-server", "127.0.0.1:x"), "Invalid port number"),
    ],
)
def test_option_refusals_in_runcs_words(
    runtime: Runtime, bundle: Bundle, cid: str, tmp_path: str, flags: tuple[str, ...], want: str
) -> None:
    pid, start = _run_sleeping(runtime, bundle, cid)
    r = runtime("checkpoint", *flags, cid, cwd=str(tmp_path))
    assert _one_line(r) == want
    assert os.listdir(tmp_path) == []  # not even ./checkpoint
    _still_running(runtime, cid, pid, start)


def test_a_created_container_cannot_be_checkpointed(
    runtime: Runtime, bundle: Bundle, cid: str, tmp_path: str
) -> None:
    bundle.set_args("sleep", "1000")
    runtime.ok("create", "--bundle", bundle.path, cid)
    try:
        r = runtime("checkpoint", cid, cwd=str(tmp_path))
        assert _one_line(r) == "Container cannot be checkpointed in created state"
        assert runtime.state(cid)["status"] == "created"
    finally:
        runtime("delete", "--force", cid)


def test_restore_without_a_checkpoint_makes_nothing(
    runtime: Runtime, bundle: Bundle, cid: str, tmp_path: str
) -> None:
    image = os.path.join(tmp_path, "image")
    os.mkdir(image)
    r = runtime("restore", "-d", "--image-path", image, "--bundle", bundle.path, cid)
    assert _one_line(r) == f"open {image}/descriptors.json: no such file or directory"
    assert runtime("state", cid).code == 1
    assert os.listdir(image) == []


def test_restore_onto_an_existing_container_leaves_it_alone(
    runtime: Runtime, bundle: Bundle, cid: str, tmp_path: str
) -> None:
    pid, start = _run_sleeping(runtime, bundle, cid)
    image = os.path.join(tmp_path, "image")
    os.mkdir(image)
    with open(os.path.join(image, "descriptors.json"), "w") as f:
        f.write('["/dev/null", "/dev/null", "/dev/null"]')
    r = runtime("restore", "-d", "--image-path", image, "--bundle", bundle.path, cid)
    assert _one_line(r) == "container with given ID already exists"
    _still_running(runtime, cid, pid, start)


# -- a host where CRIU cannot work --------------------------------------------------------


def test_checkpoint_where_criu_fails_its_check(
    runtime: Runtime, bundle: Bundle, cid: str, tmp_path: str
) -> None:
    """One line with criu's own reason; the same init still runs and is killable; the
    image and work dirs it would have made are not there."""
    why = needs_failing_criu()
    pid, start = _run_sleeping(runtime, bundle, cid)
    work = str(tmp_path)
    r = runtime("checkpoint", "--work-path", "./work-dir", cid, cwd=work)
    msg = _one_line(r)
    assert msg.startswith("checkpoint: criu cannot work on this host: ")
    reason = why.split("): ", 1)[-1].rstrip(".")  # criu's line without "Error (file:N)"
    assert reason in msg, (reason, msg)
    assert os.listdir(work) == []
    _still_running(runtime, cid, pid, start)


def test_restore_where_criu_fails_its_check(
    runtime: Runtime, bundle: Bundle, cid: str, tmp_path: str
) -> None:
    needs_failing_criu()
    image = os.path.join(tmp_path, "image")
    os.mkdir(image)
    with open(os.path.join(image, "descriptors.json"), "w") as f:
        f.write('["/dev/null", "/dev/null", "/dev/null"]')
    r = runtime("restore", "-d", "--image-path", image, "--bundle", bundle.path, cid)
    assert _one_line(r).startswith("restore: criu cannot work on this host: ")
    assert runtime("state", cid).code == 1  # no state dir; the leak check looks for cgroups


def test_checkpoint_without_criu_installed(
    runtime: Runtime, bundle: Bundle, cid: str, tmp_path: str
) -> None:
    """No criu on PATH (any host: the PATH is emptied for the call)."""
    pid, start = _run_sleeping(runtime, bundle, cid)
    empty = tempfile.mkdtemp(dir=tmp_path)
    cmd = [sys.executable, "-m", "pyrunc", "--root", runtime.root, "checkpoint", cid]
    env = {**TREE_ENV, "PATH": empty}
    done = subprocess.run(
        cmd, capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=60, check=False
    )
    msg = _one_line(Result(done.returncode, done.stdout, done.stderr))
    assert msg == (
        "checkpoint: criu cannot work on this host: criu: executable file not found in $PATH"
    )
    assert os.listdir(tmp_path) == [os.path.basename(empty)]
    _still_running(runtime, cid, pid, start)


# -- a host where CRIU works --------------------------------------------------------------


def test_checkpoint_and_restore_round_trip(
    runtime: Runtime, bundle: Bundle, cid: str, tmp_path: str
) -> None:
    """checkpoint.bats "checkpoint and restore": the container is gone after checkpoint
    (`state` fails), restore brings back a running one whose process kept its memory
    (a shell counter goes on from where it was, not from 0)."""
    needs_working_criu()
    bundle.set_args("sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /tmp/n; sleep 0.1; done")
    bundle.config["mounts"].append(
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]}
    )
    bundle.save()
    work = str(tmp_path)
    with open(os.path.join(work, "out"), "w") as out:
        subprocess.run(
            [*runtime.argv, "--root", runtime.root, "run", "-d", "--bundle", bundle.path, cid],
            stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=TREE_ENV, check=True,
        )  # fmt: skip
    time.sleep(1)
    runtime.ok("checkpoint", "--work-path", "./work-dir", "--manage-cgroups-mode", "ignore", cid,
               cwd=work)  # fmt: skip
    assert runtime("state", cid).code == 1
    assert os.path.exists(os.path.join(work, "checkpoint", "descriptors.json"))
    with open(os.path.join(work, "out"), "w") as out:
        subprocess.run(
            [*runtime.argv, "--root", runtime.root, "restore", "-d", "--work-path", "./work-dir",
             "--manage-cgroups-mode", "ignore", "--bundle", bundle.path, cid],
            stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=TREE_ENV, cwd=work, check=True,
        )  # fmt: skip
    try:
        state = runtime.state(cid)
        assert state["status"] == "running"
        count = int(runtime.ok("exec", cid, "cat", "/tmp/n").out)
        assert count >= 5  # resumed, not restarted
    finally:
        runtime("delete", "--force", cid)


# -- the RPC conversation, against a stand-in criu (tests/fake_criu.py) ---------------------
# What pyrunc asks CRIU and does with the container around the conversation, checked
# against the kernel; on any host, whatever CRIU can do here.


def _fake_criu(tmp_path: str, behaviour: str) -> tuple[dict[str, str], str]:
    """(environment with the stand-in first on PATH, where it records the request)."""
    bin_dir = os.path.join(tmp_path, "bin")
    os.mkdir(bin_dir)
    path = os.path.join(bin_dir, "criu")
    with open(path, "w") as f:  # exec keeps the swrk socket's fd
        f.write(f'#!/bin/sh\nexec {sys.executable} {REPO}/tests/fake_criu.py "$@"\n')
    os.chmod(path, 0o755)
    record = os.path.join(tmp_path, "request.json")
    env = {**TREE_ENV, "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}"}
    return {**env, "FAKE_CRIU": behaviour, "FAKE_CRIU_RECORD": record}, record


def _pyrunc(runtime: Runtime, env: dict[str, str], cwd: str, *args: str) -> Result:
    """The CLI with env; its output through files (a restored init keeps its stdio)."""
    cmd = [*runtime.argv, "--root", runtime.root, *args]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        done = subprocess.run(
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, cwd=cwd,
            timeout=60, check=False,
        )  # fmt: skip
        out.seek(0)
        err.seek(0)
        return Result(done.returncode, out.read().decode(), err.read().decode())


def _recorded(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def test_checkpoint_asks_criu_for_the_containers_dump(
    runtime: Runtime, bundle: Bundle, cid: str, tmp_path: str
) -> None:
    """The DUMP request names the init, the rootfs, the image and work dirs, the bind
    mount as external; descriptors.json holds the init's stdio as the kernel names them;
    afterwards the container is gone (CRIU ended the init, delete removed the rest)."""
    work = str(tmp_path)
    shared = os.path.join(work, "shared")
    os.mkdir(shared)
    bundle.config["mounts"].append(
        {"destination": "/shared", "type": "bind", "source": shared, "options": ["rbind"]}
    )
    pid, _ = _run_sleeping(runtime, bundle, cid)
    stdio = [os.readlink(f"/proc/{pid}/fd/{n}") for n in range(3)]
    env, record = _fake_criu(work, "dump")
    r = _pyrunc(runtime, env, work, "checkpoint", "--work-path", "./work-dir",
                "--manage-cgroups-mode", "ignore", cid)  # fmt: skip
    assert r.code == 0, r.err
    req = _recorded(record)
    opts = req["opts"]
    assert req["type"] == 1  # DUMP
    assert opts["pid"] == pid
    assert opts["root"] == bundle.rootfs
    assert req["images"] == os.path.join(work, "checkpoint")
    assert req["logs"] == os.path.join(work, "work-dir")
    assert opts["manage_cgroups_mode"] == 0  # IGNORE
    assert opts["empty_ns"] == 0x40000000  # the network namespace's contents are not ours
    assert {"key": "/shared", "val": "/shared"} in opts["ext_mnt"]
    with open(os.path.join(work, "checkpoint", "descriptors.json")) as f:
        assert json.load(f) == stdio
    assert is_dead(pid)
    assert runtime("state", cid).code == 1


def test_checkpoint_leave_running_keeps_the_container(
    runtime: Runtime, bundle: Bundle, cid: str, tmp_path: str
) -> None:
    pid, start = _run_sleeping(runtime, bundle, cid)
    env, record = _fake_criu(str(tmp_path), "dump")
    r = _pyrunc(runtime, env, str(tmp_path), "checkpoint", "--leave-running", cid)
    assert r.code == 0, r.err
    assert _recorded(record)["opts"]["leave_running"] is True
    _still_running(runtime, cid, pid, start)


def test_a_criu_refusal_is_one_line_with_its_log(
    runtime: Runtime, bundle: Bundle, cid: str, tmp_path: str
) -> None:
    """CRIU said no: its error from the log, where the log is; the container runs on."""
    pid, start = _run_sleeping(runtime, bundle, cid)
    work = str(tmp_path)
    env, _ = _fake_criu(work, "refuse")
    r = _pyrunc(runtime, env, work, "checkpoint", "--work-path", "./work-dir", cid)
    log = os.path.join(work, "work-dir", "dump.log")
    assert _one_line(r) == f"criu failed: type DUMP errno 5: fake: cannot do this (log: {log})"
    _still_running(runtime, cid, pid, start)


def _image_dir(tmp_path: str, descriptors: list[str]) -> str:
    image = os.path.join(tmp_path, "image")
    os.mkdir(image)
    with open(os.path.join(image, "descriptors.json"), "w") as f:
        json.dump(descriptors, f)
    return image


def _mounts_under(path: str) -> list[str]:
    """Mount points at or below path, as the kernel lists ours."""
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [p for p in points if p == path or p.startswith(path.rstrip("/") + "/")]


def test_restore_asks_criu_and_records_the_restored_init(
    runtime: Runtime, bundle: Bundle, cid: str, tmp_path: str
) -> None:
    """The RESTORE request: the rootfs bound as CRIU's root (a mount point while CRIU
    runs, gone after), the bind mount external with its host source, the dumped init's
    pipe handed over as our fd 0, CRIU inside the container's new cgroup before it
    forks; the prestart hook runs at setup-namespaces with the restored pid; the
    restored process is the container's running init, in that cgroup."""
    work = str(tmp_path)
    shared = os.path.join(work, "shared")
    os.mkdir(shared)
    hook_out = os.path.join(work, "prestart.json")
    bundle.config["mounts"].append(
        {"destination": "/shared", "type": "bind", "source": shared, "options": ["rbind"]}
    )
    bundle.config["hooks"] = {
        "prestart": [{"path": "/bin/sh", "args": ["sh", "-c", f"cat > {hook_out}"]}]
    }
    bundle.save()
    image = _image_dir(work, ["pipe:[4242]", "/dev/null", "/dev/null"])
    env, record = _fake_criu(work, "restore")
    r = _pyrunc(runtime, env, work, "restore", "-d", "--image-path", image,
                "--work-path", "./work-dir", "--manage-cgroups-mode", "ignore",
                "--bundle", bundle.path, cid)  # fmt: skip
    assert r.code == 0, r.err
    try:
        req = _recorded(record)
        opts = req["opts"]
        pid = runtime.state(cid)["pid"]
        assert runtime.state(cid)["status"] == "running"
        assert req["type"] == 2  # RESTORE
        assert req["images"] == image and req["logs"] == os.path.join(work, "work-dir")
        assert opts["rst_sibling"] is True and opts["manage_cgroups_mode"] == 0
        assert req["root_is_mount"] is True
        assert opts["root"].startswith(os.path.join(runtime.root, cid))
        assert _mounts_under(opts["root"]) == []
        assert _mounts_under(os.path.join(bundle.rootfs, "shared")) == []
        assert {"key": "/shared", "val": shared} in opts["ext_mnt"]
        assert {"key": "pipe:[4242]", "fd": 0} in opts["inherit_fd"]
        with open(f"/proc/{pid}/cgroup") as f:
            assert f.read() == req["cgroups"]  # the init's cgroups are CRIU's
        assert cid in req["cgroups"]  # ...which were the container's, not ours
        with open(hook_out) as f:
            assert json.load(f)["pid"] == pid
    finally:
        runtime("delete", "--force", cid)


def test_a_refused_restore_leaves_nothing(
    runtime: Runtime, bundle: Bundle, cid: str, tmp_path: str
) -> None:
    """One line with CRIU's error and its log; no state, cgroup or mount left (the leak
    check after each test looks for cgroups and mounts too)."""
    work = str(tmp_path)
    image = _image_dir(work, ["/dev/null", "/dev/null", "/dev/null"])
    env, record = _fake_criu(work, "refuse")
    r = _pyrunc(runtime, env, work, "restore", "-d", "--image-path", image,
                "--bundle", bundle.path, cid)  # fmt: skip
    log = os.path.join(image, "restore.log")
    assert _one_line(r) == f"criu failed: type RESTORE errno 5: fake: cannot do this (log: {log})"
    assert runtime("state", cid).code == 1
    assert _mounts_under(_recorded(record)["opts"]["root"]) == []


def test_restore_sends_criu_s_pty_master_to_the_console_socket(
    runtime: Runtime, bundle: Bundle, cid: str, tmp_path: str
) -> None:
    """A terminal container: CRIU's orphan-pts-master reaches --console-socket, and what
    the restored process writes to its terminal is read there."""
    from tests.test_terminal import console_socket, read_until, receive_master

    bundle.config["process"]["terminal"] = True
    bundle.save()
    work = str(tmp_path)
    image = _image_dir(work, ["/dev/pts/0", "/dev/pts/0", "/dev/pts/0"])
    env, _ = _fake_criu(work, "restore")
    env = {**env, "FAKE_CRIU_PTY": "1", "FAKE_CRIU_INIT": "echo restored-here; exec sleep 1000"}
    with console_socket(bundle) as (path, srv):
        r = _pyrunc(runtime, env, work, "restore", "-d", "--image-path", image,
                    "--console-socket", path, "--bundle", bundle.path, cid)  # fmt: skip
        assert r.code == 0, r.err
        master = receive_master(srv)
    try:
        assert "restored-here" in read_until(master, "restored-here")
        assert runtime.state(cid)["status"] == "running"
    finally:
        os.close(master)
        runtime("delete", "--force", cid)


def test_restore_in_the_foreground_exits_with_the_inits_status(
    runtime: Runtime, bundle: Bundle, cid: str, tmp_path: str
) -> None:
    """Without -d: restore waits for the restored init, exits with its status and
    deletes the container, as `run` does (and runc's restore)."""
    work = str(tmp_path)
    image = _image_dir(work, ["/dev/null", "/dev/null", "/dev/null"])
    env, _ = _fake_criu(work, "restore")
    env = {**env, "FAKE_CRIU_INIT": "sleep 0.5; exit 3"}
    r = _pyrunc(runtime, env, work, "restore", "--image-path", image, "--bundle", bundle.path, cid)
    assert r.code == 3, r.err
    assert runtime("state", cid).code == 1


def test_a_failing_prestart_hook_undoes_the_restore(
    runtime: Runtime, bundle: Bundle, cid: str, tmp_path: str
) -> None:
    """The hook's error alone (not CRIU's), and nothing left: the process CRIU had
    started is killed with the cgroup (the leak check counts processes too)."""
    bundle.config["hooks"] = {"prestart": [{"path": "/bin/sh", "args": ["sh", "-c", "exit 7"]}]}
    bundle.save()
    work = str(tmp_path)
    image = _image_dir(work, ["/dev/null", "/dev/null", "/dev/null"])
    env, _ = _fake_criu(work, "restore")
    r = _pyrunc(runtime, env, work, "restore", "-d", "--image-path", image,
                "--bundle", bundle.path, cid)  # fmt: skip
    msg = _one_line(r)
    assert msg.startswith("error running prestart hook #0") and "criu" not in msg, msg
    assert runtime("state", cid).code == 1
