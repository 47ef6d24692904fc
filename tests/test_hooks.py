"""OCI hooks: each stage at its moment, in its namespace, with the state on stdin;
timeouts; which failures abort and which only warn."""

from __future__ import annotations

import json
import os
import time

from tests.helpers import Bundle, Runtime, error_message, is_dead

STAGES = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")
IN_CONTAINER = ("createContainer", "startContainer")  # namespace-wise
# The log lives in the rootfs: startContainer runs after the root switch and sees only that.
LOG = "hooklog"


def _hook(stage: str, log: str, extra: str = "") -> dict:
    # One line per call: stage, mount namespace, then the state from stdin.
    script = f'{extra}echo "{stage} $(readlink /proc/self/ns/mnt) $(cat)" >> {log}'
    return {"path": "/bin/sh", "args": ["sh", "-c", script], "env": ["PATH=/bin:/usr/bin"]}


def _record_all(bundle: Bundle) -> str:
    bundle.config["root"]["readonly"] = False
    host_log = os.path.join(bundle.rootfs, LOG)
    bundle.config["hooks"] = {
        s: [_hook(s, "/" + LOG if s == "startContainer" else host_log)] for s in STAGES
    }
    bundle.config["annotations"] = {"org.example.hooks": "yes"}
    bundle.save()
    return host_log


def _calls(log: str) -> list[tuple[str, str, dict]]:
    if not os.path.exists(log):
        return []
    with open(log) as f:
        out = []
        for line in f:
            stage, ns, state = line.split(" ", 2)
            out.append((stage, ns, json.loads(state)))
        return out


def _wait_stopped(runtime: Runtime, cid: str) -> None:
    deadline = time.monotonic() + 5
    while runtime.state(cid)["status"] != "stopped":
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_every_stage_in_order_namespace_and_state(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    log = _record_all(bundle)
    bundle.set_args("sleep", "1000")
    runtime.ok("create", "--bundle", bundle.path, cid)
    pid = runtime.state(cid)["pid"]
    container_mnt = os.readlink(f"/proc/{pid}/ns/mnt")
    host_mnt = os.readlink("/proc/self/ns/mnt")
    assert [c[0] for c in _calls(log)] == ["prestart", "createRuntime", "createContainer"]
    runtime.ok("start", cid)
    assert [c[0] for c in _calls(log)][3:] == ["startContainer", "poststart"]  # poststart: after
    assert runtime.state(cid)["status"] == "running"
    runtime.ok("kill", cid, "KILL")
    _wait_stopped(runtime, cid)
    runtime.ok("delete", cid)
    calls = _calls(log)
    assert [c[0] for c in calls] == list(STAGES)
    want_status = {"prestart": "created", "createRuntime": "creating",
                   "createContainer": "creating", "startContainer": "created",
                   "poststart": "running", "poststop": "stopped"}  # fmt: skip
    for stage, mnt, state in calls:
        assert mnt == (container_mnt if stage in IN_CONTAINER else host_mnt), stage
        assert state["id"] == cid and state["bundle"] == bundle.path, stage
        assert state["status"] == want_status[stage], stage
        assert state["annotations"] == {"org.example.hooks": "yes"}, stage
        assert state["pid"] == (0 if stage == "poststop" else pid), stage


def test_failing_prestart_leaves_nothing(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    log = _record_all(bundle)
    bundle.config["hooks"]["prestart"] = [
        {"path": "/bin/sh", "args": ["sh", "-c", "echo out; echo bad >&2; exit 3"]}
    ]
    bundle.save()
    pid_file = os.path.join(bundle.path, "pid")
    r = runtime("create", "--pid-file", pid_file, "--bundle", bundle.path, cid)
    assert r.code == 1
    msg = error_message(r.err)
    assert msg.startswith("error running prestart hook #0: exit status 3"), msg
    assert "stdout: out" in msg and "stderr: bad" in msg
    assert len(r.err.strip().splitlines()) == 1
    assert runtime("state", cid).code == 1 and not os.path.exists(pid_file)
    calls = _calls(log)
    assert "createContainer" not in [c[0] for c in calls]  # aborted before it
    # runtime-spec lifecycle: a failed prestart hook continues at poststop.
    assert calls[-1][0] == "poststop" and calls[-1][2]["status"] == "stopped"
    assert calls[-1][2]["annotations"] == {"org.example.hooks": "yes"}


def test_failing_create_container_hook_aborts(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    log = os.path.join(bundle.path, LOG)
    bundle.config["hooks"] = {
        "createContainer": [{"path": "/bin/false"}],
        "poststop": [_hook("poststop", log)],
    }
    bundle.save()
    r = runtime("create", "--bundle", bundle.path, cid)
    assert r.code == 1 and "createContainer hook #0: exit status 1" in error_message(r.err)
    assert runtime("state", cid).code == 1
    assert [(c[0], c[2]["status"]) for c in _calls(log)] == [("poststop", "stopped")]


def test_poststop_does_not_run_when_create_fails_otherwise(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    log = os.path.join(bundle.path, LOG)
    bundle.config["hooks"] = {"poststop": [_hook("poststop", log)]}
    bundle.config["process"]["cwd"] = "/no/such/dir"
    bundle.save()
    assert runtime("create", "--bundle", bundle.path, cid).code == 1
    assert _calls(log) == []


def test_hook_timeout(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.config["hooks"] = {
        "createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "sleep 30"], "timeout": 1}]
    }
    bundle.save()
    t0 = time.monotonic()
    r = runtime("create", "--bundle", bundle.path, cid)
    assert r.code == 1 and time.monotonic() - t0 < 10
    assert "hook ran past specified timeout of 1.0s" in error_message(r.err)
    assert runtime("state", cid).code == 1


def test_missing_hook_binary(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.config["hooks"] = {"prestart": [{"path": "/nonexistent/hook"}]}
    bundle.save()
    r = runtime("create", "--bundle", bundle.path, cid)
    assert r.code == 1
    assert "prestart hook #0: fork/exec /nonexistent/hook: no such file or directory" in r.err


def test_failing_start_container_hook_stops_the_container(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    bundle.config["hooks"] = {"startContainer": [{"path": "/bin/false"}]}
    bundle.set_args("sleep", "1000")
    runtime.ok("create", "--bundle", bundle.path, cid)
    pid = runtime.state(cid)["pid"]
    r = runtime("start", cid)
    assert r.code == 1 and "startContainer hook #0: exit status 1" in error_message(r.err)
    _wait_stopped(runtime, cid)
    assert is_dead(pid)
    runtime.ok("delete", cid)


def test_failing_poststart_hook_fails_start_and_stops_the_container(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    """runtime-spec 1.3: a failing poststart hook is an error and the container is
    stopped (runc kills it too); the process had run, poststop runs at delete."""
    log = _record_all(bundle)
    fail = {"path": "/bin/sh", "args": ["sh", "-c", "exit 9"]}
    bundle.config["hooks"]["poststart"].insert(0, fail)
    bundle.set_args("sleep", "1000")
    runtime.ok("create", "--bundle", bundle.path, cid)
    pid = runtime.state(cid)["pid"]
    r = runtime("start", cid)
    assert r.code == 1 and "error running poststart hook #0: exit status 9" in error_message(
        r.err
    ), r.err
    assert is_dead(pid)
    assert runtime.state(cid)["status"] == "stopped"
    runtime.ok("delete", cid)
    assert runtime("state", cid).code == 1
    # The failing hook stopped its stage: the recording poststart hook did not run.
    assert [c[0] for c in _calls(log)][-2:] == ["startContainer", "poststop"]


def test_failing_poststart_hook_fails_run_and_leaves_nothing(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    bundle.config["hooks"] = {"poststart": [{"path": "/bin/true"}, {"path": "/bin/false"}]}
    bundle.set_args("sleep", "1000")
    r = runtime("run", "--bundle", bundle.path, cid)
    assert r.code == 1 and "error running poststart hook #1: exit status 1" in r.err, r.err
    assert runtime("state", cid).code == 1


def test_failing_poststop_hook_only_warns(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    log = _record_all(bundle)
    fail = {"path": "/bin/sh", "args": ["sh", "-c", "exit 9"]}
    bundle.config["hooks"]["poststop"].insert(0, fail)
    bundle.set_args("sleep", "1000")
    runtime.ok("create", "--bundle", bundle.path, cid)
    runtime.ok("start", cid)
    r = runtime("delete", "--force", cid)
    assert r.code == 0 and "poststop hook #0: exit status 9" in r.err and "warning" in r.err
    assert runtime("state", cid).code == 1
    # The remaining hook of the stage still ran.
    assert [c[0] for c in _calls(log)][-1] == "poststop"


def test_hook_args_and_env(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    out = os.path.join(bundle.path, "out")
    bundle.config["hooks"] = {
        "poststart": [
            {"path": "/bin/sh", "args": ["my-argv0", "-c", f'echo "$0 $FOO $HOME" > {out}'],
             "env": ["FOO=bar"]}
        ]
    }  # fmt: skip
    bundle.set_args("true")
    r = runtime("run", "--bundle", bundle.path, cid)
    assert r.code == 0, r.err
    with open(out) as f:
        assert f.read() == "my-argv0 bar \n"  # env is exactly the hook's: no HOME of ours


def test_hooks_without_env_inherit_as_runcs_do(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """runc's hooks.bats: a startContainer hook without env runs with the process's
    environment (HOME filled in); a runtime-side hook without env, the runtime's own
    (Go runs a command without Env in its parent's environment)."""
    with open(os.path.join(bundle.rootfs, "check-env.sh"), "w") as f:
        f.write('#!/bin/sh -ue\ntest "$ONE" = two\ntest "$FOO" = bar\necho "$HOME" >/dev/null\n')
    os.chmod(os.path.join(bundle.rootfs, "check-env.sh"), 0o755)
    out = os.path.join(bundle.path, "prestart-env")
    bundle.config["process"]["env"] = ["ONE=two", "FOO=bar"]
    bundle.config["hooks"] = {
        "startContainer": [{"path": "/check-env.sh"}],
        "prestart": [{"path": "/bin/sh", "args": ["sh", "-c", f'echo "$PATH" > {out}']}],
    }
    bundle.set_args("true")
    r = runtime("run", "--bundle", bundle.path, cid)
    assert r.code == 0, r.err
    with open(out) as f:
        assert f.read().strip() == os.environ["PATH"]  # the runtime's, passed on


def test_create_container_hook_runs_from_the_rootfs(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    """runc's hooks_so.bats: a createContainer hook's relative paths name the container's
    root (runc runs it from there), before the root switch."""
    bundle.config["root"]["readonly"] = False
    bundle.config["hooks"] = {
        "createContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "pwd > ./hook-cwd"]}]
    }
    bundle.set_args("cat", "/hook-cwd")
    r = runtime("run", "--bundle", bundle.path, cid)
    assert r.code == 0 and r.out.strip() == bundle.rootfs, (r.out, r.err)


def test_a_hook_killed_by_a_signal_is_named_as_go_names_it(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    """runc's seccomp.bats looks for "bad system call" in a hook's error."""
    hook = {"path": "/bin/sh", "args": ["sh", "-c", "kill -SYS $$"]}
    bundle.config["hooks"] = {"prestart": [hook]}
    bundle.set_args("true")
    r = runtime("run", "--bundle", bundle.path, cid)
    assert r.code != 0 and "error running prestart hook #0: signal: bad system call" in r.err, r.err
