"""start: release the init blocked on exec.fifo so it execs the user's process."""

from __future__ import annotations

import os
import select

from pyrunc.container import hooks
from pyrunc.container import status as st
from pyrunc.container.hooks import HookError
from pyrunc.container.store import EXEC_FIFO
from pyrunc.container.wait import open_pidfd
from pyrunc.errors import InvalidState
from pyrunc.faults import FAULT, hit

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from pyrunc.container.container import Container


def start(c: Container) -> None:
    ready_sock = None
    try:
        with c.store.lock(c.id):
            _check_startable(c)
            if FAULT:
                hit("start-before-release")
            if os.environ.get("NOTIFY_SOCKET"):  # the socket module only when it is needed
                from pyrunc.container import notify

                ready_sock = notify.bind(c.state_dir)  # before the process can send READY=1
            _release(c)
            _poststart(c)
            if FAULT:
                hit("start-after-release")
        if ready_sock is not None:  # outside the lock: delete --force must not wait on it
            _relay_ready(c, ready_sock)
    finally:
        if ready_sock is not None:
            ready_sock.close()


def _check_startable(c: Container) -> None:
    st.check_allowed("start", c.status())
    if not c.record.get("has_process", True):
        # Nothing can ever run in it: end the waiting init so the container is
        # stopped, as the spec has start fail and leave it for delete.
        _stop_init(c)
        raise InvalidState(  # runc's words (it refuses such a config at create)
            "process property must not be empty: a container created without one cannot be started"
        )


def _relay_ready(c: Container, sock) -> None:  # noqa: ANN001
    from pyrunc.container import notify

    pidfd = open_pidfd(c.pid)
    try:
        notify.relay_ready(sock, c.pid, pidfd)
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _stop_init(c: Container) -> None:
    import _signal as signal  # not signal: CONTRIBUTING.md, Imports

    from pyrunc.container.wait import wait_exit

    fd = open_pidfd(c.pid)
    if fd is None:
        return
    try:
        if st.is_alive(c.pid, c.record["pid_start_time"]):
            signal.pidfd_send_signal(fd, signal.SIGKILL)
    finally:
        os.close(fd)
    wait_exit(c.pid, timeout=5)


def _poststart(c: Container) -> None:
    """After the user's process exec'd, before start returns. runtime-spec 1.3: if one
    fails, "the runtime MUST generate an error, stop the container" (runc: the process
    is killed, start fails with the hook's error; delete then undoes the rest)."""
    entries = hooks.from_record(c.record, "poststart")
    if not entries:
        return
    try:
        hooks.run(entries, "poststart", hooks.state_doc(c.record, st.RUNNING, c.pid))
    except HookError:
        _stop_init(c)
        raise


def _release(c: Container) -> None:
    fifo = os.path.join(c.state_dir, EXEC_FIFO)
    pidfd = open_pidfd(c.pid)
    # Non-blocking open: it succeeds at once and unblocks init's open for writing.
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        if pidfd is not None:
            poller.register(pidfd, select.POLLIN)
        while True:
            events = dict(poller.poll())
            if events.get(fd, 0) & select.POLLIN:
                data = os.read(fd, 4096)
                if data == b"0":
                    break
                if data[:1] == b"1":  # init's startContainer hooks failed; it exits
                    raise HookError(data[1:].decode(errors="replace"))
            if pidfd is None or events.get(pidfd):
                raise InvalidState("container init exited before it could start")
        os.unlink(fifo)
    finally:
        os.close(fd)
        if pidfd is not None:
            os.close(pidfd)
