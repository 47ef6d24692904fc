"""exec: a new process in a running container.

Runtime side (launch_tenant) → stage (joins the container's namespaces through
/proc/<init>/ns/*, user namespace first, and its root) → tenant (forked so that it
is inside the container's pid namespace; applies the process attributes and execs).
The stage exits right after the fork, so the tenant is re-parented to the runtime,
which is child subreaper and reaps it (foreground) or leaves it (detached).
"""

from __future__ import annotations

import errno
import os

from pyrunc.cgroups import placement
from pyrunc.cgroups.manager import CgroupManager
from pyrunc.container.status import is_alive
from pyrunc.errors import ExecFailed, PyruncError  # ExecFailed: importable from here as before
from pyrunc.linux import lsm, namespaces, paths, sched, tty
from pyrunc.linux import syscalls as sc
from pyrunc.process import attributes, importguard, preload
from pyrunc.process.channel import Channel, ChannelError
from pyrunc.process.errors import go_style, step
from pyrunc.process.reap import checked_pid, kill, kill_and_reap, reap
from pyrunc.record import dataclass
from pyrunc.spec.config import Process

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from pyrunc.cgroups.placement import Placement
    from pyrunc.linux.intelrdt import IntelRdtManager

    _Affinity = tuple[frozenset[int] | None, frozenset[int] | None]  # (initial, final)

# Joined in this order: the user namespace owns the others, the mount namespace
# changes how the remaining /proc paths would resolve (all are opened up front anyway).
_JOIN_ORDER = ("user", "ipc", "uts", "network", "pid", "cgroup", "time", "mount")


@dataclass(frozen=True)
class TenantOptions:
    init_pid: int
    init_start_time: int
    preserve_fds: int = 0
    console_fd: int = -1  # connected console socket (or our socketpair end): gets the master
    seccomp: dict[str, Any] | None = None  # the container's linux.seccomp
    debug: bool = False  # RuntimeOptions.debug: arms the import guard (importguard.py)


def launch_tenant(
    proc: Process,
    cgroups: CgroupManager | None,
    opts: TenantOptions,
    rdt: IntelRdtManager | None = None,
    joined: Callable[[], None] | None = None,
    sub_cgroups: dict[str, str] | None = None,
    on_listener: Callable[[int, int], None] | None = None,
    frozen: bool = False,
) -> int:
    """Start proc in the container; return its host pid once it is about to exec.
    sub_cgroups: exec --cgroup's existing sub-cgroups to join instead ({controller: path}).
    on_listener(fd, pid): the process's SCMP_ACT_NOTIFY listener, for the seccomp agent
    (the fd is closed after the call); without it such a filter fails the exec.
    rdt: the container's resctrl group (linux.intelRdt), joined after the cgroup.
    joined: called once the process is in the container's cgroup (and resctrl group),
    before it runs there: in a paused container it waits there until resumed.
    frozen: the container is paused; the stage then joins only once it has dropped
    what it inherited (the runtime moves it), never born in the frozen cgroup.

    On failure every process started here is killed and reaped before raising.
    """
    affinity = _affinity(proc)
    runtime_ch, stage_ch = Channel.pair()
    sc.set_child_subreaper(True)  # the tenant becomes ours when the stage exits
    plan = cgroups.placement(sub_cgroups) if cgroups is not None and not frozen else None
    stage, born = _fork_with_affinity(affinity[0], plan)
    if stage == 0:
        runtime_ch.close()
        _stage(proc, stage_ch, opts, plan and (plan, born))
    stage_ch.close()
    pid = 0
    try:
        joins = _Joins(cgroups, plan, sub_cgroups)
        pid = _drive(runtime_ch, joins, stage, affinity, rdt, joined, on_listener)
        reap(stage)
        return pid
    except BaseException as e:
        pid = pid or getattr(e, "pid", 0)
        kill(pid)
        kill_and_reap(stage)
        reap(pid)
        raise
    finally:
        runtime_ch.close()


# -- process.execCPUAffinity, as runc: initial before the cgroup, final after it --------


def _affinity(proc: Process) -> _Affinity:
    """(initial, final) CPU sets; None where unset. ExecFailed names the field."""
    from pyrunc.spec.idlist import parse_cpu_list

    lists = proc.exec_cpu_affinity or ("", "")
    sets: list[frozenset[int] | None] = []
    for name, value in zip(("initial", "final"), lists, strict=True):
        try:
            sets.append(parse_cpu_list(value) if value else None)
        except ValueError as e:
            raise ExecFailed(f"process.execCPUAffinity.{name}: {e}") from None
    return sets[0], sets[1]


def _fork_with_affinity(initial: frozenset[int] | None, plan: Placement | None) -> tuple[int, bool]:
    """fork (into the cgroup where plan allows: (pid, born)), the child on the initial
    CPUs from its first instruction: the stage is born there, before it joins the
    container's cgroup."""
    if initial is None:
        return placement.fork(plan)
    ours = os.sched_getaffinity(0)
    _setaffinity(0, initial, "initial")
    pid, born = placement.fork(plan)
    if pid:
        os.sched_setaffinity(0, ours)  # the runtime goes on where it ran
    return pid, born


def _set_final_affinity(stage: int, affinity: _Affinity) -> None:
    """After the cgroup join: final if given; initial alone is left to the kernel (the
    spec: the runtime SHOULD NOT change it); neither resets, so that the process does
    not inherit the runtime's affinity (runc's rule: libcontainer setFinalCPUAffinity)."""
    initial, final = affinity
    if final is not None:
        _setaffinity(stage, final, "final")
    elif initial is None:
        sched.reset_affinity(stage)


def _setaffinity(pid: int, cpus: frozenset[int], name: str) -> None:
    try:
        os.sched_setaffinity(pid, cpus)
    except OSError as e:
        why = (e.strerror or str(e)).lower()
        if e.errno == errno.EINVAL:  # the only case the kernel answers EINVAL for
            why += ": none of these CPUs is online and allowed by the cgroup's cpuset"
        listed = ",".join(map(str, sorted(cpus)))
        raise ExecFailed(f"process.execCPUAffinity.{name}: {listed}: {why}") from None


class _Progress:
    pid = 0
    ready = False
    listener = -1  # the tenant's seccomp listener, held until its pid is known


@dataclass(frozen=True)
class _Joins:
    """The container's cgroups for the stage: by placement (cgroups/placement.py), what
    it could not join itself by pid; without a plan all by pid."""

    cgroups: CgroupManager | None
    plan: Placement | None
    sub: dict[str, str] | None

    def finish(self, stage: int, left: Any) -> None:
        if self.plan is not None:
            placement.finish(self.plan, stage, left)
        elif self.cgroups is not None:
            self.cgroups.apply(stage, self.sub)


def _drive(
    ch: Channel,
    joins: _Joins,
    stage: int,
    affinity: _Affinity,
    rdt: IntelRdtManager | None = None,
    joined: Callable[[], None] | None = None,
    on_listener: Callable[[int, int], None] | None = None,
) -> int:
    seen = _Progress()
    try:
        # The stage has closed what it inherited (our lock on the container among it)
        # before it is moved into a frozen cgroup, where it stops where it stands (no
        # plan then: it is never born there). Before the fork: the tenant is born in
        # the container's cgroup.
        msg = ch.expect("fds-closed")
        joins.finish(stage, msg.get("left"))
        if rdt is not None:
            rdt.apply(stage)  # likewise its resctrl group (and MON group)
        _set_final_affinity(stage, affinity)  # the tenant inherits it with the fork too
        if joined is not None:
            joined()
        ch.send("cgroup-applied")
        while not (seen.pid and seen.ready):
            msg, fds = ch.recv_with_fds(1)
            _handle(msg, fds, seen, ch)
            _deliver_listener(seen, on_listener)
        return seen.pid
    except ChannelError:
        raise ExecFailed("the exec'd process exited before it was ready") from None
    finally:
        if seen.listener >= 0:
            os.close(seen.listener)


def _deliver_listener(seen: _Progress, on_listener: Callable[[int, int], None] | None) -> None:
    """The listener goes on once the tenant's pid is known (the stage's message may come
    after it). The tenant does not wait for this: a notified call waits for the agent."""
    if seen.listener < 0 or not seen.pid:
        return
    if on_listener is None:
        raise _FailedWithPid("linux.seccomp: SCMP_ACT_NOTIFY needs a seccomp agent", seen.pid)
    fd, seen.listener = seen.listener, -1
    try:
        on_listener(fd, seen.pid)
    except ValueError as e:  # the agent's refusal, one line naming the field
        raise _FailedWithPid(str(e), seen.pid) from None
    finally:
        os.close(fd)


def _handle(msg: dict[str, Any], fds: list[int], seen: _Progress, ch: Channel) -> None:
    kind = msg["type"]
    if kind == "seccomp-listener" and len(fds) == 1 and seen.listener < 0:
        seen.listener = fds[0]
        return
    for fd in fds:  # only the tenant's one listener may carry one
        os.close(fd)
    if fds:
        raise ExecFailed(f"the exec'd process sent a file descriptor with {kind!r}")
    if kind == "tenant-pid":
        seen.pid = checked_pid(msg.get("pid"))
    elif kind == "ready":  # the tenant's; may overtake the stage's tenant-pid
        seen.ready = True
    elif kind == "error":
        # The tenant's error may overtake its pid too: learn it so that the caller
        # reaps it (left to our subreaper, a zombie in the container's pid namespace
        # holds up the container's dying init).
        pid = seen.pid or _pid_after_error(ch)
        raise _FailedWithPid(str(msg.get("msg", "exec failed")), pid)
    else:
        raise ExecFailed(f"unexpected message {kind!r} from the exec'd process")


class _FailedWithPid(ExecFailed):
    def __init__(self, msg: str, pid: int) -> None:
        super().__init__(msg)
        self.pid = pid


def _pid_after_error(ch: Channel) -> int:
    try:
        while True:  # until both the stage and the tenant have closed their ends
            msg = ch.recv()
            if msg["type"] == "tenant-pid":
                return checked_pid(msg.get("pid"))
    except (ChannelError, ExecFailed, PyruncError):
        return 0


# -- the stage: host pid namespace, joins the container's ----------------------------


def _stage(
    proc: Process, ch: Channel, opts: TenantOptions, placed: tuple[Placement, bool] | None
) -> None:
    """Never returns. placed: the cgroups it joins itself ((plan, born))."""
    try:
        sc.close_fds_except({ch.fileno(), opts.console_fd}, 3 + opts.preserve_fds)
        ch.send("fds-closed", left=placement.move_self(*placed) if placed else None)
        sc.set_dumpable(False)  # before entering any container namespace
        # While the runtime moves us into the cgroup: once in the container's
        # namespaces the host's Python installation is out of reach or the image's.
        prepared = preload.for_exec(opts.seccomp)
        ch.expect("cgroup-applied")
        filt = prepared.seccomp_filter()
        with step("opening procfs"):
            proc_fd = paths.open_procfs()  # ours, for the LSM writes (never the container's)
        importguard.arm("the exec'd process", opts.debug)
        with step("joining the container's namespaces"):
            _join_container(opts.init_pid, opts.init_start_time)
        pid = os.fork()
        if pid == 0:
            _tenant(proc, ch, opts, filt, proc_fd)
        ch.send("tenant-pid", pid=pid)
    except BaseException as e:  # noqa: BLE001 - report, never unwind into the runtime's code
        _report(ch, f"unable to start container process: {go_style(e)}")
        os._exit(1)
    os._exit(0)


def _join_container(init_pid: int, start_time: int) -> None:
    fds = _open_namespaces(init_pid)
    root = os.open(f"/proc/{init_pid}/root", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        # Opened by pid: make sure it is still the container's init, not a reused pid.
        if not is_alive(init_pid, start_time):
            raise OSError("the container's init has exited")
        for ns_type, fd in fds:
            sc.setns(fd, namespaces.NS_FLAGS[ns_type])
            if ns_type == "user":
                # Host root is unmapped in there: become the namespace's root.
                os.setresgid(0, 0, 0)
                os.setresuid(0, 0, 0)
        # The init's root, whatever made it (pivot_root, move + chroot, plain chroot).
        os.fchdir(root)
        os.chroot(".")
        os.chdir("/")
    finally:
        os.close(root)
        for _, fd in fds:
            os.close(fd)


def _open_namespaces(init_pid: int) -> list[tuple[str, int]]:
    """An fd for each of init's namespaces that is not already ours, in join order."""
    fds: list[tuple[str, int]] = []
    try:
        for ns_type in _JOIN_ORDER:
            name = namespaces.PROC_NAMES[ns_type]
            theirs = f"/proc/{init_pid}/ns/{name}"
            try:
                if _same_file(theirs, f"/proc/self/ns/{name}"):
                    continue  # setns into our own user namespace fails; the others are no-ops
            except FileNotFoundError:
                continue  # a namespace type this kernel lacks
            fds.append((ns_type, os.open(theirs, os.O_RDONLY | os.O_CLOEXEC)))
    except BaseException:
        for _, fd in fds:
            os.close(fd)
        raise
    return fds


def _same_file(a: str, b: str) -> bool:
    sa, sb = os.stat(a), os.stat(b)
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


# -- the tenant: inside every namespace of the container -----------------------------


def _tenant(proc: Process, ch: Channel, opts: TenantOptions, filt: Any, proc_fd: int) -> None:
    """Never returns."""
    try:
        os.setsid()
        if opts.console_fd >= 0:
            with step("setting up console"):
                tty.set_up_console(opts.console_fd, mount=False, size=proc.console_size)
        _apply_lsm(proc, proc_fd)
        attributes.write_oom_score_adj(proc)
        # A SCMP_ACT_NOTIFY listener goes to the runtime, which hands it to the agent.
        path = attributes.apply(
            proc, opts.preserve_fds, filt, lambda fd: ch.send_fd("seccomp-listener", fd)
        )
        importguard.check()
        ch.send("ready")
        ch.close()
    except BaseException as e:  # noqa: BLE001
        _report(ch, f"unable to start container process: {go_style(e)}")
        os._exit(1)
    attributes.exec_or_die(proc, path)


def _apply_lsm(proc: Process, proc_fd: int) -> None:
    try:
        if proc.apparmor_profile:
            with step("unable to apply apparmor profile"):
                lsm.apply_apparmor(proc_fd, proc.apparmor_profile)
        if proc.selinux_label:
            with step("unable to apply SELinux label"):
                lsm.apply_selinux(proc_fd, proc.selinux_label)
    finally:
        os.close(proc_fd)


def _report(ch: Channel, msg: str) -> None:
    try:
        ch.send("error", msg=msg)
    except OSError:
        pass
