"""Every error: exit != 0, ONE line on stderr naming the field or argument, no traceback,
and nothing left behind (state dir, cgroup, pid file; the leak fixture checks mounts,
processes and fds). Plus `--log F --log-format json` as containerd and podman read it."""

from __future__ import annotations

import datetime
import json
import os
import sys
import tempfile
import time
from typing import Any

import pytest

from tests.helpers import REPO, Bundle, Result, Runtime, error_line, error_message, is_dead


def one_line_error(r: Result, lead: bool = False) -> str:
    """The message of a failed call, after checking it is one runc-style line; with
    lead, as printed ("pyrunc create failed: ..." included)."""
    assert r.code != 0, r
    lines = r.err.strip().splitlines()
    assert len(lines) == 1, r.err
    assert "Traceback" not in r.err and r.out == "", r
    return error_line(r.err) if lead else error_message(r.err)


def cgroup_dirs(cid: str) -> list[str]:
    found = []
    for top in os.listdir("/sys/fs/cgroup"):
        for dirpath, dirnames, _ in os.walk(os.path.join("/sys/fs/cgroup", top)):
            found += [os.path.join(dirpath, d) for d in dirnames if cid in d]
    return found


def assert_nothing_left(runtime: Runtime, cid: str, pid_file: str | None = None) -> None:
    assert not os.path.lexists(os.path.join(runtime.root, cid)), "state dir left"
    assert cgroup_dirs(cid) == []
    if pid_file:
        assert not os.path.lexists(pid_file), "pid file written for a failed create"


def create_error(runtime: Runtime, bundle: Bundle, cid: str) -> str:
    pid_file = os.path.join(bundle.path, "init.pid")
    r = runtime("create", "--bundle", bundle.path, "--pid-file", pid_file, cid)
    msg = one_line_error(r)
    assert_nothing_left(runtime, cid, pid_file)
    return msg


def wait_stopped(runtime: Runtime, cid: str, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while runtime.state(cid)["status"] != "stopped":
        assert time.monotonic() < deadline, "container did not stop"
        time.sleep(0.02)


# -- the bundle ----------------------------------------------------------------------------


def test_missing_config(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    os.unlink(os.path.join(bundle.path, "config.json"))
    assert "config.json" in create_error(runtime, bundle, cid)


def test_missing_bundle(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    r = runtime("create", "--bundle", os.path.join(bundle.path, "nope"), cid)
    assert "config.json" in one_line_error(r)
    assert_nothing_left(runtime, cid)


def test_invalid_json(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    with open(os.path.join(bundle.path, "config.json"), "w") as f:
        f.write('{"ociVersion": "1.0.2", "process": {')
    msg = create_error(runtime, bundle, cid)
    assert "config.json" in msg and "JSON" in msg, msg


def _mutate(bundle: Bundle, change: Any) -> None:
    change(bundle.config)
    bundle.save()


@pytest.mark.parametrize(
    "change,field",
    [
        (lambda c: c["process"].__setitem__("args", []), "process.args"),
        (lambda c: c["linux"]["namespaces"].append({"type": "bogus"}), "linux.namespaces[5]"),
        (lambda c: c["process"]["user"].__setitem__("uid", -1), "process.user.uid"),
        (lambda c: c["process"].__setitem__("rlimits", [{"type": "RLIMIT_NOFILE"}]),
         "process.rlimits[0]"),
        (lambda c: c.pop("ociVersion"), "ociVersion"),
        (lambda c: c["root"].__setitem__("path", "missing-rootfs"), "root.path"),
        (lambda c: c["linux"].__setitem__(
            "devices", [{"path": "dev/x", "type": "c", "major": 1, "minor": 3}]),
         "linux.devices[0].path: must be an absolute path"),
    ],
    ids=["empty-args", "namespace-type", "negative-uid", "rlimit-no-hard", "no-version",
         "missing-rootfs", "relative-device-path"],
)  # fmt: skip
def test_config_errors_name_the_field(
    runtime: Runtime, bundle: Bundle, cid: str, change: Any, field: str
) -> None:
    _mutate(bundle, change)
    msg = create_error(runtime, bundle, cid)
    assert field in msg, msg


def test_exec_failure_leaves_nothing(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """The init had its namespaces, cgroups and mounts when the lookup failed."""
    bundle.config["linux"]["cgroupsPath"] = f"/pyrunc-test/{cid}"
    bundle.set_args("no-such-command")
    msg = create_error(runtime, bundle, cid)
    assert 'exec: "no-such-command": executable file not found in $PATH' in msg


def test_run_failure_leaves_nothing(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.set_args("/nonexistent")
    r = runtime("run", "--bundle", bundle.path, cid)
    assert "stat /nonexistent: no such file or directory" in one_line_error(r)
    assert_nothing_left(runtime, cid)


def test_init_failures_read_as_runcs_layered_message(
    runtime: Runtime, bundle: Bundle, cid: str, workdir: str
) -> None:
    """runc's layers: "<name> run failed: unable to start container process: error
    during container init: <what init hit>", the name being the program's as called."""
    bundle.config["mounts"].append({"destination": "/mnt", "type": "nosuchfs", "source": "x"})
    bundle.save()
    r = runtime("run", "--bundle", bundle.path, cid)
    msg = one_line_error(r, lead=True)
    assert msg.startswith(
        "pyrunc run failed: unable to start container process: error during container init: "
        "error mounting "
    ), msg
    assert msg.endswith("no such device"), msg
    assert_nothing_left(runtime, cid)
    # Installed as runc (a drop-in), it speaks as runc.
    as_runc = os.path.join(tempfile.mkdtemp(dir=workdir), "runc")
    with open(as_runc, "w") as f:
        f.write(f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {REPO!r})\n"
                "from pyrunc.cli.main import main\nsys.exit(main())\n")  # fmt: skip
    os.chmod(as_runc, 0o755)
    bundle.set_args("/nonexistent")
    r = Runtime(runtime.root, [as_runc])("create", "--bundle", bundle.path, cid)
    msg = one_line_error(r, lead=True)
    assert msg.startswith("runc create failed: unable to start container process"), msg
    assert_nothing_left(runtime, cid)


def test_unwritable_pid_file(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """The last step of create fails: the init already ran and must go with the rest."""
    bundle.config["linux"]["cgroupsPath"] = f"/pyrunc-test/{cid}"
    bundle.set_args("sleep", "30")
    pid_file = os.path.join(bundle.path, "no-such-dir", "init.pid")
    r = runtime("create", "--bundle", bundle.path, "--pid-file", pid_file, cid)
    msg = f"pyrunc create failed: --pid-file: open {pid_file}: no such file or directory"
    assert one_line_error(r, lead=True) == msg
    assert_nothing_left(runtime, cid, pid_file)
    assert sorted(os.listdir(bundle.path)) == ["config.json", "rootfs"]  # no temporary file


# -- IDs and arguments ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad,text",
    [
        ("", "container id cannot be empty"),
        ("a/b", "invalid container id format"),
        ("..", "invalid container id format"),
        ("x" * 256, "container id"),
        ("abc\n", "invalid container id format"),
    ],
    ids=["empty", "slash", "dotdot", "too-long", "newline"],
)
def test_bad_ids(runtime: Runtime, bundle: Bundle, bad: str, text: str) -> None:
    for args in (["create", "--bundle", bundle.path, bad], ["state", bad], ["kill", bad, "9"]):
        msg = one_line_error(runtime(*args))
        assert text in msg, (args, msg)
    assert not os.path.isdir(runtime.root) or os.listdir(runtime.root) == []


@pytest.mark.parametrize(
    "args,text",
    [
        (["frobnicate"], "frobnicate"),
        (["create"], "id"),
        (["create", "--preserve-fds", "-1", "x"], "--preserve-fds"),
        (["create", "--preserve-fds", "many", "x"], "--preserve-fds"),
        (["kill"], "id"),
        (["--log-format", "xml", "list"], "--log-format"),
    ],
    ids=["unknown-command", "no-id", "negative-fds", "bad-fds", "kill-no-id", "log-format"],
)
def test_argument_errors(runtime: Runtime, args: list[str], text: str) -> None:
    assert text in one_line_error(runtime(*args))


@pytest.mark.parametrize("command", [["state"], ["kill"], ["kill", "--all"], ["delete"],
                                     ["start"]])  # fmt: skip
def test_unknown_container(runtime: Runtime, cid: str, command: list[str]) -> None:
    msg = one_line_error(runtime(*command, cid))
    assert msg == "container does not exist"
    assert_nothing_left(runtime, cid)


def test_delete_force_unknown_is_silent(runtime: Runtime, cid: str) -> None:
    r = runtime("delete", "--force", cid)
    assert (r.code, r.out, r.err) == (0, "", "")


# -- state machine errors on a real container ------------------------------------------------


def test_duplicate_id_keeps_the_first(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.set_args("sleep", "30")
    runtime.ok("create", "--bundle", bundle.path, cid)
    try:
        first = runtime.state(cid)
        pid_file = os.path.join(bundle.path, "second.pid")
        r = runtime("create", "--bundle", bundle.path, "--pid-file", pid_file, cid)
        assert "container with given ID already exists" in one_line_error(r)
        assert not os.path.exists(pid_file)
        assert runtime.state(cid) == first and not is_dead(first["pid"])  # untouched
        runtime.ok("start", cid)
    finally:
        runtime.ok("delete", "--force", cid)


def test_start_twice_and_after_exit(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.set_args("sleep", "30")
    runtime.ok("create", "--bundle", bundle.path, cid)
    try:
        runtime.ok("start", cid)
        msg = one_line_error(runtime("start", cid))
        assert msg == "cannot start an already running container"
        assert runtime.state(cid)["status"] == "running"
        runtime.ok("kill", cid, "KILL")
        wait_stopped(runtime, cid)
        msg = one_line_error(runtime("start", cid))
        assert msg == "cannot start a container that has stopped"
    finally:
        runtime.ok("delete", "--force", cid)


def test_running_container_errors(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.set_args("sleep", "30")
    runtime.ok("run", "--detach", "--bundle", bundle.path, cid)
    try:
        pid = runtime.state(cid)["pid"]
        msg = one_line_error(runtime("delete", cid))
        assert msg == f"cannot delete container {cid} that is not stopped: running"
        for sig in ("FOO", "SIGNOPE", "99", "RTMIN+99"):  # "0" is kill(2)'s probe, as runc
            msg = one_line_error(runtime("kill", cid, sig))
            assert "signal" in msg and sig in msg, msg
        assert runtime.state(cid)["status"] == "running" and not is_dead(pid)
    finally:
        runtime.ok("delete", "--force", cid)


def test_stopped_container_errors(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.set_args("true")
    runtime.ok("run", "--detach", "--bundle", bundle.path, cid)
    wait_stopped(runtime, cid)
    assert one_line_error(runtime("kill", cid, "TERM")) == "container not running"
    # --all still reaches what is left in the cgroup (nothing here), as runc: exit 0.
    runtime.ok("kill", "--all", cid, "KILL")
    assert runtime.state(cid)["pid"] == 0
    runtime.ok("delete", cid)
    assert_nothing_left(runtime, cid)


# -- --log and --log-format ------------------------------------------------------------------


def _records(path: str) -> list[dict[str, Any]]:
    with open(path) as f:
        lines = f.read().splitlines()
    records = [json.loads(line) for line in lines]
    for rec, line in zip(records, lines, strict=True):
        assert {"level", "msg", "time"} <= set(rec), line
        datetime.datetime.fromisoformat(rec["time"])  # RFC 3339
    return records


@pytest.mark.parametrize("style", ["separate", "equals"])
def test_log_json_error(runtime: Runtime, workdir: str, cid: str, style: str) -> None:
    log = os.path.join(workdir, f"{cid}.log.json")
    flags = ("--log", log, "--log-format", "json")
    if style == "equals":  # podman's spelling
        flags = ("--log-format=json", f"--log={log}")
    try:
        r = runtime("state", cid, global_args=flags)
        assert r.code == 1 and r.err == "container does not exist\n"  # the bare message
        with open(log) as f:
            raw = f.read()
        assert raw.count("\n") == 1 and '"level":"error"' in raw
        (rec,) = _records(log)
        assert rec["level"] == "error" and rec["msg"] == "container does not exist"
    finally:
        os.unlink(log)


def test_log_json_create_failure(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """containerd shows the msg of the last "level":"error" record of the log file."""
    log = os.path.join(bundle.path, "log.json")
    bundle.set_args("/nonexistent")
    flags = ("--log", log, "--log-format", "json")
    r = runtime("create", "--bundle", bundle.path, cid, global_args=flags)
    assert r.code == 1
    errors = [rec for rec in _records(log) if rec["level"] == "error"]
    assert 'exec: "/nonexistent": stat /nonexistent: no such file or directory' in errors[-1]["msg"]
    assert r.err.strip() == errors[-1]["msg"]
    assert_nothing_left(runtime, cid)


def test_log_file_created_on_success(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    log = os.path.join(bundle.path, "log.json")
    flags = ("--log", log, "--log-format", "json")
    runtime.ok("create", "--bundle", bundle.path, cid, global_args=flags)
    try:
        assert os.path.isfile(log)
        assert all(rec["level"] != "error" for rec in _records(log))
        os.unlink(log)
        runtime.ok("state", cid, global_args=flags)
        assert os.path.isfile(log)
    finally:
        runtime.ok("delete", "--force", cid, global_args=flags)
    assert all(rec["level"] != "error" for rec in _records(log))


def test_log_formats_without_file(runtime: Runtime, cid: str) -> None:
    """Without --log, runc writes the record itself to stderr, in the chosen format."""
    r = runtime("state", cid, global_args=("--log-format", "json"))
    rec = json.loads(r.err)
    assert rec["level"] == "error" and rec["msg"] == "container does not exist"
    r = runtime("state", cid)
    assert r.err.startswith("time=") and 'level=error msg="container does not exist"' in r.err


def test_log_text_to_file(runtime: Runtime, workdir: str, cid: str) -> None:
    log = os.path.join(workdir, f"{cid}.log")
    try:
        r = runtime("kill", cid, "9", global_args=("--log", log))
        assert r.err == "container does not exist\n"
        with open(log) as f:
            line = f.read()
        assert line.startswith("time=") and 'level=error msg="container does not exist"' in line
    finally:
        os.unlink(log)


def test_log_unopenable(runtime: Runtime, workdir: str, cid: str) -> None:
    log = os.path.join(workdir, "no-such-dir", "log.json")
    msg = one_line_error(runtime("state", cid, global_args=("--log", log)))
    assert msg == f"open {log}: no such file or directory"


def test_unusable_state_root(runtime: Runtime, cid: str, bundle: Bundle) -> None:
    root = os.path.join(bundle.path, "config.json")  # a file, not a directory
    other = Runtime(root)
    for args in (["list"], ["create", "--bundle", bundle.path, cid]):
        assert root in one_line_error(other(*args)), args
    assert one_line_error(other("state", cid)) == "container does not exist"
