"""Process attributes applied in the container right before exec, shared by the
container's init (init.py) and by processes exec'd into a running container
(tenant.py): rlimits, capabilities, user, cwd, umask, no_new_privs, fd hygiene.

Seccomp belongs here too (last before exec, after no_new_privs): both paths then
get it from this one place.
"""

from __future__ import annotations

import os

from pyrunc.linux import capabilities, execute, rlimits, user
from pyrunc.linux import syscalls as sc
from pyrunc.process.errors import step
from pyrunc.spec.config import Process


def apply(proc: Process, preserve_fds: int) -> str:
    """Everything but the exec itself; returns the resolved path of args[0]."""
    with step("setting rlimits"):
        rlimits.apply(proc.rlimits)
    cap_masks = capabilities.masks(proc.capabilities)
    with step("dropping bounding capabilities"):
        capabilities.drop_bounding(cap_masks["bounding"])
    with step("setting user"):
        user.switch_user(proc.user)
    with step(f"chdir to cwd ({proc.cwd!r}) set in config.json"):
        os.chdir(proc.cwd)
    user.apply_umask(proc.user)
    path = execute.look_path(proc.args[0], proc.env)
    if proc.no_new_privileges:
        with step("setting no_new_privs"):
            sc.set_no_new_privs()
    with step("applying capabilities"):
        capabilities.apply(cap_masks)
    # Nothing of the runtime's may reach the container: stdio and preserved fds only.
    sc.close_range_cloexec(3 + preserve_fds)
    return path


def write_oom_score_adj(proc: Process) -> None:
    if proc.oom_score_adj is not None:
        with step("setting oom_score_adj"):
            with open("/proc/self/oom_score_adj", "w") as f:
                f.write(str(proc.oom_score_adj))


def exec_or_die(proc: Process, path: str) -> None:
    """Never returns: exec the process, or report on stderr and exit 127."""
    execute.reset_signals()
    try:
        execute.exec_process(path, proc.args, proc.env)
    except execute.ExecError as e:
        os.write(2, f"pyrunc: {e}\n".encode())
    os._exit(127)
