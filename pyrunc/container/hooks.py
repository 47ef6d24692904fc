"""OCI hooks: running them, with the state on stdin and their timeout.

Where and when each stage runs (runtime-spec runtime.md, config.md#posix-platform-hooks):

  prestart, createRuntime  create, runtime namespace, once the container's namespaces
                           exist and before the root switch (the runtime, on init's "hooks")
  createContainer          create, container namespace, before the root switch (init)
  startContainer           start, container namespace, before the user process execs (init)
  poststart                start, runtime namespace, after the user process exec'd
  poststop                 delete, runtime namespace, after the container is gone

Failures of all but poststop abort create/start and stop the container (poststart since
runtime-spec 1.3); a poststop failure is a warning only and the lifecycle continues.
"""

from __future__ import annotations

import os

from pyrunc import jsonio as json  # not json: CONTRIBUTING.md, Imports
from pyrunc import notices
from pyrunc.errors import HookError  # defined there; importable from here as before

TYPE_CHECKING = False  # typing and spec.config stay off every CLI call's imports
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from pyrunc.spec.config import Hook

# What init asks the runtime for before its root switch, and then runs itself.
SYNC_STAGES = ("prestart", "createRuntime", "createContainer", "startContainer")
# What init runs itself, inside the container (with subprocess: see preload()).
INSIDE_STAGES = ("createContainer", "startContainer")
# What the runtime runs later from state.json (no config.json read after create).
RECORDED_STAGES = ("poststart", "poststop")


def preload() -> None:
    """Import now what running a hook needs: init runs createContainer and
    startContainer hooks after it left the host, where the host's Python library is
    out of reach (pyrunc/process/preload.py calls this before)."""
    import signal  # noqa: F401
    import subprocess  # noqa: F401


def needs_sync(hooks: dict[str, tuple[Hook, ...]]) -> bool:
    return any(hooks.get(stage) for stage in SYNC_STAGES)


def runs_inside(hooks: dict[str, tuple[Hook, ...]]) -> bool:
    """Whether the container's init will run hooks itself."""
    return any(hooks.get(stage) for stage in INSIDE_STAGES)


def to_record(hooks: dict[str, tuple[Hook, ...]]) -> dict[str, list[dict[str, Any]]]:
    """The hooks runs after create need, as JSON for state.json."""
    return {
        stage: [
            {"path": h.path, "args": list(h.args), "env": list(h.env), "timeout": h.timeout}
            for h in hooks[stage]
        ]
        for stage in RECORDED_STAGES
        if hooks.get(stage)
    }


def from_record(record: dict[str, Any], stage: str) -> tuple[Hook, ...]:
    entries = (record.get("hooks") or {}).get(stage) or ()
    if not entries:
        return ()  # the usual case: start and delete skip importing spec.config
    from pyrunc.spec.config import Hook

    return tuple(
        Hook(e["path"], tuple(e["args"]), tuple(e["env"]), e.get("timeout")) for e in entries
    )


def state_doc(record_like: dict[str, Any], status: str, pid: int) -> dict[str, Any]:
    """The OCI state document a hook reads on stdin."""
    from pyrunc.container.container import SPEC_VERSION

    doc: dict[str, Any] = {
        "ociVersion": SPEC_VERSION,
        "id": record_like["id"],
        "status": status,
        "pid": pid,
        "bundle": record_like["bundle"],
    }
    if record_like.get("annotations"):
        doc["annotations"] = record_like["annotations"]
    return doc


def run(
    hooks: Iterable[Hook],
    stage: str,
    state: dict[str, Any],
    default_env: dict[str, str] | None = None,
) -> None:
    """Run the hooks in order; the first failure raises HookError.

    A hook without env gets default_env, or (None) the caller's own environment, as
    runc's do: Go runs a command without Env in its parent's environment (and runc's
    init has the process's by the time it runs startContainer hooks)."""
    for i, hook in enumerate(hooks):
        _run_one(hook, stage, i, state, default_env)


def run_warning(hooks: Iterable[Hook], stage: str, state: dict[str, Any]) -> None:
    """Run every hook; a failure is a warning and the next hook still runs."""
    for i, hook in enumerate(hooks):
        try:
            _run_one(hook, stage, i, state)
        except HookError as e:
            notices.warn(str(e))  # poststop failures


def _run_one(
    hook: Hook,
    stage: str,
    index: int,
    state: dict[str, Any],
    default_env: dict[str, str] | None = None,
) -> None:
    what = f"error running {stage} hook #{index}"
    try:
        _spawn_and_wait(hook, state, what, default_env)
    except OSError as e:
        raise HookError(f"{what}: {e.strerror or e}".lower()) from None


def _spawn_and_wait(
    hook: Hook, state: dict[str, Any], what: str, default_env: dict[str, str] | None
) -> None:
    import signal
    import subprocess

    argv = list(hook.args) or [hook.path]
    env = dict(e.split("=", 1) for e in hook.env if "=" in e) if hook.env else default_env
    # memfds, not pipes: a hook that leaves a background child holding its stdout must
    # not keep us waiting past its timeout; not files either: startContainer hooks run
    # in the container, whose root may be read-only.
    out, err = os.memfd_create("hook-stdout"), os.memfd_create("hook-stderr")
    try:
        try:
            p = subprocess.Popen(
                argv, executable=hook.path, stdin=subprocess.PIPE, stdout=out, stderr=err,
                env=env, close_fds=True, start_new_session=True,
            )  # fmt: skip
        except OSError as e:
            reason = os.strerror(e.errno).lower() if e.errno else str(e)
            raise HookError(f"{what}: fork/exec {hook.path}: {reason}") from None
        try:
            p.communicate(json.dumps(state).encode(), timeout=hook.timeout)
        except subprocess.TimeoutExpired:
            # Its own session: whatever it started goes with it.
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            limit = f"{hook.timeout:.1f}s"
            raise HookError(f"{what}: hook ran past specified timeout of {limit}") from None
        if p.returncode != 0:
            code = p.returncode
            # Go's ProcessState words (runc's text): "signal: bad system call".
            status = f"exit status {code}" if code > 0 else f"signal: {_signal_name(-code)}"
            raise HookError(f"{what}: {status}, stdout: {_text(out)}, stderr: {_text(err)}")
    finally:
        os.close(out)
        os.close(err)


def _signal_name(number: int) -> str:
    import signal

    try:
        name = signal.strsignal(number)
    except ValueError:
        name = None
    return name.lower() if name else str(number)


def _text(fd: int) -> str:
    """A hook's output, kept to one line: the error it ends up in is one line."""
    data = os.pread(fd, 4096, 0).decode(errors="replace").strip()
    return data.replace("\n", "\\n")
