"""Process attributes applied in the container right before exec, shared by the
container's init (init.py) and by processes exec'd into a running container
(tenant.py): rlimits, scheduler, I/O priority, memory policy, capabilities, user,
cwd, umask, no_new_privs, fd hygiene.

Seccomp belongs here too (last before exec, after no_new_privs): both paths then
get it from this one place.
"""

from __future__ import annotations

import os
import stat

from pyrunc.linux import capabilities, execute, mempolicy, paths, rlimits, sched, user
from pyrunc.linux import syscalls as sc
from pyrunc.process.errors import step
from pyrunc.spec.config import Process

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from collections.abc import Callable

    from pyrunc.linux.seccomp import Filter


def apply(
    proc: Process,
    preserve_fds: int,
    seccomp: Filter | None = None,
    on_listener: Callable[[int], None] | None = None,
) -> str:
    """Everything but the exec itself; returns the resolved path of args[0].

    seccomp is linux.seccomp compiled by seccomp.prepare() while the host's
    libseccomp was reachable; on_listener gets a SCMP_ACT_NOTIFY listener fd (closed
    after the call) to pass to the runtime, which sends it to listenerPath.
    """
    with step("setting rlimits"):
        rlimits.apply(proc.rlimits)
    _apply_scheduling(proc)
    cap_masks = capabilities.masks(proc.capabilities)
    cwd_step = f"chdir to cwd ({proc.cwd!r}) set in config.json"
    with step(cwd_step):
        # Resolved inside the root, never through a runtime fd (CVE-2024-21626); opened
        # now because a filter loaded below may not know openat2.
        cwd_fd = paths.open_dir_in_root(proc.cwd)
    # runc's order: the chdir is tried while we may still enter what the user may not (a
    # cwd of /root for uid 42 works, cwd.bats), and again as the user if that failed.
    entered = _try_fchdir(cwd_fd)
    try:
        if not proc.no_new_privileges:
            # Without no_new_privs loading a filter needs CAP_SYS_ADMIN: before any
            # drop (runc's order too). close_range first: old profiles deny it.
            sc.close_range_cloexec(3 + preserve_fds)
            _load_seccomp(seccomp, on_listener)
        with step("dropping bounding capabilities"):
            capabilities.drop_bounding(cap_masks["bounding"])
        _fix_stdio_owner(proc.user.uid)
        with step("setting user"):
            user.switch_user(proc.user)
        if not entered:
            with step(cwd_step):
                os.fchdir(cwd_fd)
    finally:
        os.close(cwd_fd)
    user.apply_umask(proc.user)
    dac_override = bool(cap_masks["effective"] >> capabilities.CAP_NUMBERS["CAP_DAC_OVERRIDE"] & 1)
    path = execute.look_path(proc.args[0], proc.env, dac_override)
    if proc.no_new_privileges:
        with step("setting no_new_privs"):
            sc.set_no_new_privs()
    with step("applying capabilities"):
        capabilities.apply(cap_masks)
    if proc.no_new_privileges or seccomp is None:
        # Nothing of the runtime's may reach the container: stdio and preserved fds only.
        sc.close_range_cloexec(3 + preserve_fds)
    if proc.no_new_privileges:
        _load_seccomp(seccomp, on_listener)  # as late as we can: fewest syscalls under it
    return path


def _apply_scheduling(proc: Process) -> None:
    """runc's place for these: after rlimits (RLIMIT_RTPRIO, RLIMIT_NICE), before a
    seccomp filter (a profile may deny set_mempolicy) and while the runtime's
    capabilities are still held (a realtime policy needs CAP_SYS_NICE)."""
    sched.apply_scheduler(proc.scheduler)
    sched.apply_io_priority(proc.io_priority)
    mempolicy.apply(proc.memory_policy)
    if proc.personality is not None:  # before seccomp: docker's profile limits personality
        with step("linux.personality: setting the execution domain"):
            sc.personality(proc.personality)


def _fix_stdio_owner(uid: int) -> None:
    """Stdio made outside the container (the pty slave, pipes) belongs to the process's
    user, so that it can use its console (runc's fixStdioPermissions: the uid only,
    never /dev/null, and silently not where the kernel refuses)."""
    for fd in (0, 1, 2):
        try:
            st = os.fstat(fd)
            if st.st_uid == uid or (stat.S_ISCHR(st.st_mode) and st.st_rdev == _DEV_NULL):
                continue
            os.fchown(fd, uid, -1)
        except OSError:
            pass  # unmapped owner (EPERM), read-only /dev (EROFS), closed fd: leave it


_DEV_NULL = os.makedev(1, 3)


def _try_fchdir(fd: int) -> bool:
    """fchdir now; False on EACCES/EPERM (tried again after the user switch)."""
    try:
        os.fchdir(fd)
    except PermissionError:
        return False
    return True


def _load_seccomp(filt: Filter | None, on_listener: Callable[[int], None] | None) -> None:
    if filt is None:
        return
    from pyrunc.linux import seccomp  # lazily: only configs with a seccomp section pay

    with step("loading seccomp filter"):
        fd = seccomp.load(filt)
    if fd >= 0:
        try:
            if on_listener is None:
                raise ValueError("linux.seccomp: SCMP_ACT_NOTIFY needs a runtime to take the fd")
            on_listener(fd)
        finally:
            os.close(fd)


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
        # runc's line exactly, no prefix: scripts match it (run.bats "[execve error]").
        os.write(2, f"{e}\n".encode())
    os._exit(127)
