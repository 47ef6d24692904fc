"""exec: start another process in a running (or created) container.

The process comes from a runtime-spec process document (`--process`, what every
engine passes) or from the container's own config.json process with runc's
command-line overrides. The container-side work is in pyrunc.process.tenant.
"""

from __future__ import annotations

import os

from pyrunc import jsonio as json  # not json: CONTRIBUTING.md, Imports
from pyrunc import record
from pyrunc.container import status as st
from pyrunc.errors import InvalidArgument
from pyrunc.faults import FAULT, hit
from pyrunc.record import dataclass

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from pyrunc.container.container import Container
    from pyrunc.linux.intelrdt import IntelRdtManager
    from pyrunc.spec.config import Process


@dataclass(frozen=True)
class Overrides:
    """runc exec's flags that amend the config's process (ignored with --process)."""

    args: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    cwd: str = ""
    user: str = ""  # uid[:gid]
    additional_gids: tuple[int, ...] = ()
    caps: tuple[str, ...] = ()
    tty: bool | None = None
    no_new_privs: bool | None = None
    process_label: str = ""
    apparmor: str = ""


@dataclass
class Started:
    """A process exec'd into the container."""

    pid: int
    console_master: int | None = None  # when the caller relays the terminal itself


def exec_process(
    c: Container,
    proc: Process,
    *,
    pid_file: str | None = None,
    preserve_fds: int = 0,
    console_socket: str | None = None,
    relay_console: bool = False,
    ignore_paused: bool = False,
    sub_cgroups: dict[str, str] | None = None,
) -> Started:
    """Start proc inside c; returns once it is about to exec (its pid written to pid_file).
    sub_cgroups: existing sub-cgroups of the container's to join (exec --cgroup)."""
    from pyrunc.container.create import (
        check_console_socket,
        grantable,
        write_pid_file,
    )
    from pyrunc.spec.config import with_container_defaults

    if preserve_fds < 0:
        raise InvalidArgument("--preserve-fds: must not be negative")
    check_console_socket(proc.terminal, console_socket or (proc.terminal and relay_console))
    proc = with_container_defaults(proc, c.record.get("exec_defaults") or {})
    proc = grantable(proc)
    # delete waits until the process is in the container's cgroup; resume must not
    # wait for it after that (exec --ignore-paused into a paused container waits there).
    lock = c.store.lock(c.id, shared=True)
    with lock:
        status = c.status()
        st.check_allowed("exec --ignore-paused" if ignore_paused else "exec", status)
        started = _launch(c, proc, preserve_fds, console_socket, relay_console,
                          joined=lock.release, sub_cgroups=sub_cgroups,
                          frozen=status == st.PAUSED)  # fmt: skip
        if FAULT:
            hit("exec-after-launch")
    if pid_file:
        try:
            write_pid_file(pid_file, started.pid)
        except BaseException:
            _kill_quietly(started)
            raise
    return started


def _launch(
    c: Container,
    proc: Process,
    preserve_fds: int,
    console_socket: str | None,
    relay_console: bool,
    joined: Callable[[], None],
    sub_cgroups: dict[str, str] | None = None,
    frozen: bool = False,
) -> Started:
    from pyrunc.container.create import connect_console_socket, console_socketpair
    from pyrunc.process.tenant import TenantOptions, launch_tenant

    console_fd = -1
    ours = None
    try:
        if proc.terminal and console_socket:
            console_fd = connect_console_socket(console_socket)
        elif proc.terminal and relay_console:
            ours, theirs = console_socketpair()
            console_fd = theirs.detach()
        opts = TenantOptions(
            c.pid, c.record["pid_start_time"], preserve_fds, console_fd, c.record.get("seccomp"),
            c.options.debug,
        )  # fmt: skip
        started = Started(
            launch_tenant(
                proc, c.cgroup_manager(), opts, _intel_rdt(c), joined, sub_cgroups,
                _seccomp_agent(c), frozen,
            )
        )  # fmt: skip
        if ours is not None:
            from pyrunc.linux.tty import recv_master

            started.console_master = recv_master(ours)
        return started
    finally:
        if console_fd >= 0:
            os.close(console_fd)
        if ours is not None:
            ours.close()


def _seccomp_agent(c: Container) -> Callable[[int, int], None] | None:
    """Where the exec'd process's SCMP_ACT_NOTIFY listener goes: the container's agent,
    told of the running container, as runc's exec does."""
    from pyrunc.container.container import SPEC_VERSION

    section = c.record.get("seccomp")
    if not section or not section.get("listenerPath"):
        return None
    state = {
        "ociVersion": SPEC_VERSION,
        "id": c.id,
        "status": st.RUNNING,
        "pid": c.pid,
        "bundle": c.bundle,
        "annotations": c.record.get("annotations") or {},
    }

    def send(fd: int, pid: int) -> None:
        from pyrunc.linux import seccomp_agent

        seccomp_agent.send_listener(section, fd, state, pid)

    return send


def _intel_rdt(c: Container) -> IntelRdtManager | None:
    """The container's resctrl group, if it has one (runc's exec joins it too)."""
    data = c.record.get("intel_rdt")
    if not data or not os.path.isdir(data["path"]):  # as runc: only a group still there
        return None
    from pyrunc.linux.intelrdt import IntelRdtManager

    return IntelRdtManager.from_state(c.id, data)


def _kill_quietly(started: Started) -> None:
    import _signal as signal  # not signal: CONTRIBUTING.md, Imports

    try:
        os.kill(started.pid, signal.SIGKILL)
        os.waitpid(started.pid, 0)
    except OSError:
        pass


# -- building the process -----------------------------------------------------------


def process_from_file(path: str) -> Process:
    """A runtime-spec process document (runc exec --process), validated like config.json."""
    from pyrunc.spec.config import parse_process
    from pyrunc.spec.validate import iter_errors

    try:
        with open(path, "rb") as f:
            doc = json.load(f)
    except OSError as e:
        raise InvalidArgument(f"--process: open {path}: {(e.strerror or str(e)).lower()}") from None
    except ValueError as e:
        raise InvalidArgument(f"--process: {path}: invalid JSON: {e}") from None
    wrapper = {"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "process": doc}
    first = next(iter_errors("config-schema.json", wrapper, f"--process {path}"), None)
    if first is not None:
        raise InvalidArgument(first)
    return _checked(parse_process(doc), f"--process {path}: process")


def process_from_config(c: Container, o: Overrides) -> Process:
    """The container's config.json process with runc exec's flags applied."""
    stored = c.record.get("process")
    if isinstance(stored, dict):  # validated at create
        from pyrunc.container.store import CorruptState
        from pyrunc.spec.config import parse_process

        try:
            base: Process | None = parse_process(stored)
        except (KeyError, TypeError, ValueError):
            raise CorruptState(c.id, "its process is malformed") from None
    else:  # a record from before the process was kept
        from pyrunc.spec.config import load_config

        base = load_config(c.record["bundle"]).process
    if base is None:
        raise InvalidArgument("config.json: process: required to exec without --process")
    if not o.args:
        raise InvalidArgument("exec: a command to run is required (or --process)")
    user = base.user
    if o.user:
        uid, gid = _parse_user(o.user, user.gid)
        user = record.replace(user, uid=uid, gid=gid)
    if o.additional_gids:
        user = record.replace(user, additional_gids=user.additional_gids + o.additional_gids)
    proc = record.replace(
        base,
        args=o.args,
        env=base.env + o.env,
        cwd=o.cwd or base.cwd,
        user=user,
        terminal=bool(o.tty),
        capabilities=_with_caps(base, o.caps),
        no_new_privileges=base.no_new_privileges if o.no_new_privs is None else o.no_new_privs,
        selinux_label=o.process_label or base.selinux_label,
        apparmor_profile=o.apparmor or base.apparmor_profile,
    )
    return _checked(proc, "exec")


def _parse_user(text: str, gid: int) -> tuple[int, int]:
    uid_s, sep, gid_s = text.partition(":")
    try:
        uid = int(uid_s)
        if sep:
            gid = int(gid_s)
    except ValueError:
        raise InvalidArgument(f"--user: must be uid[:gid] in numbers, got {text!r}") from None
    if uid < 0 or gid < 0:
        raise InvalidArgument(f"--user: must not be negative, got {text!r}")
    return uid, gid


def _with_caps(base: Process, caps: tuple[str, ...]) -> Any:
    """runc: --cap adds to bounding, effective and permitted (ambient only if
    the process has inheritable capabilities, which ambient ones need). An unknown name
    is dropped with a warning at launch, as one in config.json (create.grantable)."""
    from pyrunc.spec.config import Capabilities

    cur = base.capabilities or Capabilities()
    if not caps:
        return base.capabilities
    return record.replace(
        cur,
        bounding=cur.bounding + caps,
        effective=cur.effective + caps,
        permitted=cur.permitted + caps,
        ambient=cur.ambient + caps if cur.inheritable else cur.ambient,
    )


def _checked(proc: Process, where: str) -> Process:
    if not proc.args:
        raise InvalidArgument(f"{where}: args: expected a non-empty array")
    if not proc.cwd.startswith("/"):
        raise InvalidArgument(f"{where}: cwd: must be an absolute path")
    return proc
