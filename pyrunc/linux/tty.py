"""Terminals: a pty from the container's own devpts, its master handed over a unix
socket (SCM_RIGHTS, as runc's --console-socket), and the relay `run`/`exec` in the
foreground do when they keep the master themselves."""

from __future__ import annotations

import _signal as signal  # not signal: CONTRIBUTING.md, Imports
import errno
import fcntl
import os
import select
import struct
import termios

from pyrunc.linux import fdpass, paths
from pyrunc.linux import syscalls as sc

_TIOCSPTLCK = 0x40045431
_TIOCGPTN = 0x80045430
_TIOCGPTPEER = 0x5441


def open_pty() -> tuple[int, int, str]:
    """(master, slave, slave name) from /dev/ptmx as the caller sees it.

    Called after the root switch, /dev/ptmx is the container's (pts/ptmx of its own
    devpts instance), so the pty belongs to the container. The slave is opened from
    the master (TIOCGPTPEER), never by a path the container could swap.
    """
    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        fcntl.ioctl(master, _TIOCSPTLCK, struct.pack("i", 0))  # unlockpt
        number = struct.unpack("I", fcntl.ioctl(master, _TIOCGPTN, b"\0" * 4))[0]
        slave = fcntl.ioctl(master, _TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except BaseException:
        os.close(master)
        raise
    return master, slave, f"/dev/pts/{number}"


def send_master(console_fd: int, master: int) -> None:
    """Send the pty master to whoever listens on --console-socket, as runc does."""
    sock = fdpass.socket(fileno=console_fd)
    try:
        fdpass.send_fds(sock, b"/dev/ptmx", [master])
    finally:
        sock.close()


def recv_master(sock: fdpass.socket) -> int:
    """The receiving end of send_master (run/exec in the foreground, and tests)."""
    _, fds, _ = fdpass.recv_fds(sock, 4096, 1)
    if not fds:
        raise OSError(errno.EBADMSG, "no pty master received on the console socket")
    clear_onlcr(fds[0])
    return fds[0]


def clear_onlcr(fd: int) -> None:
    """No \n -> \r\n on the pty's output: what we relay reads as the process wrote it
    (runc clears ONLCR on the pty it relays, scripts compare that output)."""
    mode = termios.tcgetattr(fd)
    mode[1] &= ~termios.ONLCR
    termios.tcsetattr(fd, termios.TCSANOW, mode)


def mount_console(slave: int) -> None:
    """Bind the pty slave on /dev/console (after the root switch, inside the rootfs)."""
    root_fd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        target = paths.create_in_root(root_fd, "/dev/console", is_dir=False)
    finally:
        os.close(root_fd)
    try:
        sc.mount(paths.fd_path(slave), paths.fd_path(target), None, sc.MS_BIND, None)
    finally:
        os.close(target)


def become_stdio(slave: int) -> None:
    """Make the slave our controlling terminal (we lead a session) and fds 0-2."""
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)  # dup2 clears CLOEXEC on the copies
    os.close(slave)


def set_winsize(fd: int, size: tuple[int, int]) -> None:
    """Give the pty process.consoleSize's (height, width), in characters."""
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", size[0], size[1], 0, 0))


def set_up_console(console_fd: int, mount: bool, size: tuple[int, int] | None = None) -> None:
    """The container side: new pty, master to the socket, slave as stdio (+ /dev/console).

    With a size (process.consoleSize) the pty has it before the master leaves, so the
    process sees it from its first instruction; without, it stays 0x0 as with runc.
    """
    master, slave, _ = open_pty()
    try:
        if size is not None:
            set_winsize(master, size)
        send_master(console_fd, master)
    finally:
        os.close(master)
    if mount:
        mount_console(slave)
    become_stdio(slave)


# -- the runtime side: relaying a terminal we keep ourselves ----------------------------


def copy_winsize(src: int, dst: int) -> None:
    try:
        size = fcntl.ioctl(src, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(dst, termios.TIOCSWINSZ, size)
    except OSError:
        pass  # src is not a terminal: the pty keeps its default size


def relay(master: int, pidfd: int) -> None:
    """Copy stdin to the pty and the pty to stdout until the process behind pidfd ends.

    Our own terminal (if stdin is one) goes raw so that keys like Ctrl-C reach the
    container's line discipline, and its size follows ours (SIGWINCH).
    """
    saved = _make_raw(0)
    old_winch = signal.signal(signal.SIGWINCH, lambda *_: copy_winsize(0, master))
    copy_winsize(0, master)
    try:
        _pump(master, pidfd)
    finally:
        signal.signal(signal.SIGWINCH, old_winch)
        if saved is not None:
            termios.tcsetattr(0, termios.TCSAFLUSH, saved)


def _make_raw(fd: int) -> list | None:
    if not os.isatty(fd):
        return None
    saved = termios.tcgetattr(fd)
    mode = termios.tcgetattr(fd)
    mode[0] &= ~(termios.BRKINT | termios.ICRNL | termios.INPCK | termios.ISTRIP | termios.IXON)
    mode[1] &= ~termios.OPOST
    mode[2] = (mode[2] & ~(termios.CSIZE | termios.PARENB)) | termios.CS8
    mode[3] &= ~(termios.ECHO | termios.ICANON | termios.IEXTEN | termios.ISIG)
    mode[6][termios.VMIN] = 1
    mode[6][termios.VTIME] = 0
    termios.tcsetattr(fd, termios.TCSAFLUSH, mode)
    return saved


def _pump(master: int, pidfd: int) -> None:
    poller = select.poll()
    poller.register(master, select.POLLIN)
    poller.register(pidfd, select.POLLIN)
    stdin_open = _register_stdin(poller)
    while True:
        for fd, ev in poller.poll():
            if fd == pidfd:
                _drain(master)
                return
            if fd == master and not _copy(master, 1):
                return  # every slave fd is closed
            if fd == 0 and stdin_open and not _copy(0, master):
                poller.unregister(0)  # EOF on our stdin: the container keeps running
                stdin_open = False
            if ev & select.POLLNVAL:
                return


def _register_stdin(poller: select.poll) -> bool:
    try:
        os.fstat(0)
    except OSError:
        return False
    poller.register(0, select.POLLIN)
    return True


def _copy(src: int, dst: int) -> bool:
    try:
        data = os.read(src, 65536)
    except OSError as e:
        if e.errno == errno.EIO:  # a pty master reads EIO once no slave is open
            return False
        raise
    if not data:
        return False
    _write_all(dst, data)
    return True


def _drain(master: int) -> None:
    """What the process wrote just before it exited is still in the pty."""
    os.set_blocking(master, False)
    try:
        while _copy(master, 1):
            pass
    except BlockingIOError:
        pass


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            select.select([], [fd], [])
            continue
        view = view[n:]
