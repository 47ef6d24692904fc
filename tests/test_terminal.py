"""Terminals: a pty from the container's own devpts, its master over --console-socket
(received here with socket.recv_fds, as an engine does), and `run` in the foreground
relaying a real pty (pty.fork): prompt, typing, Ctrl-C, window size, exit status."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import signal
import socket
import struct
import termios
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tests.helpers import PYRUNC, Bundle, Runtime, created, error_message
from tests.test_exec import wait_dead

_TIOCGPTN = 0x80045430


@contextmanager
def console_socket(bundle: Bundle) -> Iterator[tuple[str, socket.socket]]:
    path = os.path.join(bundle.path, "console.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    try:
        yield path, srv
    finally:
        srv.close()
        os.unlink(path)


def receive_master(srv: socket.socket) -> int:
    srv.settimeout(10)
    conn, _ = srv.accept()
    with conn:
        _, fds, _, _ = socket.recv_fds(conn, 1024, 1)
    assert len(fds) == 1
    return fds[0]


@contextmanager
def created_with_console(runtime: Runtime, bundle: Bundle, cid: str) -> Iterator[int]:
    """create with a console socket: the pty master the runtime sent there. The master
    is closed and the container force-deleted on the way out."""
    with console_socket(bundle) as (path, srv):
        runtime.ok("create", "--console-socket", path, "--bundle", bundle.path, cid)
        master = receive_master(srv)
    try:
        yield master
    finally:
        os.close(master)
        runtime("delete", "--force", cid)


def read_until(fd: int, pattern: str, timeout: float = 10) -> str:
    data = b""
    deadline = time.monotonic() + timeout
    while not re.search(pattern, data.decode(errors="replace")):
        left = deadline - time.monotonic()
        assert left > 0, f"{pattern!r} never came; got {data!r}"
        if select.select([fd], [], [], left)[0]:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the other side is gone
                break
            if not chunk:
                break
            data += chunk
    return data.decode(errors="replace")


def set_winsize(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def _terminal(bundle: Bundle, *args: str) -> None:
    bundle.config["process"]["terminal"] = True
    bundle.set_args(*args)


def test_console_socket_gets_a_pty_of_the_containers_devpts(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    _terminal(bundle, "sh", "-c", "tty; read line; echo got:$line; exit 3")
    with created_with_console(runtime, bundle, cid) as master:
        pid = runtime.state(cid)["pid"]
        # The kernel's view: init's stdio is a pty slave of the container's own devpts
        # instance (not the host's), and /dev/console is bound to it.
        slave = os.stat(f"/proc/{pid}/fd/0")
        container_pts = os.stat(f"/proc/{pid}/root/dev/pts/ptmx").st_dev
        assert slave.st_dev == container_pts != os.stat("/dev/pts/ptmx").st_dev
        number = struct.unpack("I", fcntl.ioctl(master, _TIOCGPTN, b"\0" * 4))[0]
        assert os.minor(slave.st_rdev) == number
        console = [ln for ln in open(f"/proc/{pid}/mountinfo") if " /dev/console " in ln]
        assert len(console) == 1 and f"/{number} /dev/console" in console[0]
        for fd in (1, 2):
            assert os.stat(f"/proc/{pid}/fd/{fd}").st_rdev == slave.st_rdev
        runtime.ok("start", cid)
        assert f"/dev/pts/{number}" in read_until(master, r"/dev/pts/\d+")
        os.write(master, b"hello\n")
        assert "got:hello" in read_until(master, "got:hello")


def test_terminal_needs_a_console_socket_and_vice_versa(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    _terminal(bundle, "true")
    r = runtime("create", "--bundle", bundle.path, cid)
    assert r.code == 1 and "--console-socket" in error_message(r.err)
    r = runtime("run", "--detach", "--bundle", bundle.path, cid)
    assert r.code == 1 and "--console-socket" in error_message(r.err)
    bundle.config["process"]["terminal"] = False
    bundle.save()
    r = runtime("create", "--console-socket", "/nonexistent.sock", "--bundle", bundle.path, cid)
    assert r.code == 1 and "--console-socket" in error_message(r.err)
    _terminal(bundle, "true")
    r = runtime("create", "--console-socket", "/nonexistent.sock", "--bundle", bundle.path, cid)
    msg = error_message(r.err)
    assert r.code == 1 and "--console-socket" in msg and "no such file" in msg
    assert runtime("state", cid).code == 1


def test_exec_tty_over_console_socket(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    bundle.set_args("sleep", "1000")
    runtime.ok("run", "--detach", "--bundle", bundle.path, cid)
    init = pid = 0
    try:
        init = runtime.state(cid)["pid"]
        pid_file = os.path.join(bundle.path, "exec.pid")
        with console_socket(bundle) as (path, srv):
            runtime.ok(
                "exec", "--tty", "--detach", "--console-socket", path, "--pid-file", pid_file,
                cid, "sh", "-c", "tty; read x; echo x=$x",
            )  # fmt: skip
            master = receive_master(srv)
        try:
            pid = int(open(pid_file).read())
            slave = os.stat(f"/proc/{pid}/fd/0")
            assert slave.st_dev == os.stat(f"/proc/{init}/root/dev/pts/ptmx").st_dev
            assert "/dev/pts/" in read_until(master, r"/dev/pts/\d+")
            os.write(master, b"42\n")
            assert "x=42" in read_until(master, "x=42")
        finally:
            os.close(master)
    finally:
        runtime("delete", "--force", cid)
    # Detached, the process is our child (we are subreaper, as a shim is): reaping it
    # lets the container's dying init finish exiting.
    wait_dead(pid)
    wait_dead(init)


def test_run_foreground_relays_a_real_terminal(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """What `pyrunc run` of an interactive shell in tmux does, through a real pty."""
    _terminal(bundle, "sh")
    bundle.config["process"]["env"].append("PS1=prompt$ ")
    bundle.save()
    pid, master = pty.fork()
    if pid == 0:
        try:
            set_winsize(0, 30, 100)
            argv = [*PYRUNC, "--root", runtime.root, "run", "--bundle", bundle.path, cid]
            os.execvp(argv[0], argv)
        finally:
            os._exit(99)
    try:
        read_until(master, r"prompt\$ ")
        os.write(master, b"stty size\n")
        assert "30 100" in read_until(master, r"30 100")
        set_winsize(master, 40, 120)  # the kernel signals SIGWINCH to pyrunc run
        time.sleep(0.3)
        os.write(master, b"stty size\n")
        assert "40 120" in read_until(master, r"40 120")
        os.write(master, b"sleep 100\n")
        time.sleep(0.5)
        os.write(master, b"\x03")  # Ctrl-C: raw mode lets it reach the container's pty
        os.write(master, b"echo after-$((6*7))\n")
        assert "after-42" in read_until(master, "after-42", timeout=5)
        os.write(master, b"exit 5\n")
        _, status = os.waitpid(pid, 0)
        pid = 0
        assert os.waitstatus_to_exitcode(status) == 5
    finally:
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(master)
    assert runtime("state", cid).code == 1  # run removed it


def get_winsize(fd: int) -> tuple[int, int]:
    """(rows, columns) of a pty as the kernel holds it (TIOCGWINSZ)."""
    rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
    return rows, cols


def _created_console_size(
    runtime: Runtime, bundle: Bundle, cid: str, inside: str
) -> tuple[tuple, tuple, str]:
    """create with a console socket, then start `inside` and wait for a line: the size
    on the received master before start, on init's stdin (the slave, through
    /proc/<pid>/fd/0) and what the container printed."""
    _terminal(bundle, "sh", "-c", f"{inside}; echo done; read x")
    with created_with_console(runtime, bundle, cid) as master:
        before = get_winsize(master)
        runtime.ok("start", cid)
        seen = read_until(master, "done")
        slave = os.open(f"/proc/{runtime.state(cid)['pid']}/fd/0", os.O_RDWR | os.O_NOCTTY)
        try:
            theirs = get_winsize(slave)
        finally:
            os.close(slave)
        os.write(master, b"\n")
        return before, theirs, seen


def test_console_size_is_the_ptys_before_the_master_leaves(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    """process.consoleSize: the pty has it (TIOCSWINSZ) when the engine receives the
    master, and stty in the container (whose controlling terminal it is) reads it."""
    bundle.config["process"]["consoleSize"] = {"height": 33, "width": 111}
    before, theirs, seen = _created_console_size(runtime, bundle, cid, "stty size")
    assert before == theirs == (33, 111)
    assert "33 111" in seen


def test_without_console_size_the_pty_stays_0x0(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """As runc: no consoleSize, no TIOCSWINSZ; the engine sizes it (or not) itself.
    (busybox's stty refuses to print a 0x0 size: the kernel's view is read instead.)"""
    before, theirs, _ = _created_console_size(runtime, bundle, cid, "true")
    assert before == theirs == (0, 0)


def _exec_tty_size(runtime: Runtime, bundle: Bundle, cid: str, *how: str) -> tuple[tuple, str]:
    """exec a terminal process (`how`: its flags and arguments) over a console socket:
    the size on the received master, and the one the process saw."""
    with console_socket(bundle) as (path, srv):
        runtime.ok("exec", "--detach", "--console-socket", path, *how)
        master = receive_master(srv)
    try:
        before = get_winsize(master)
        seen = read_until(master, r"\d+ \d+")
        os.write(master, b"\n")
        return before, seen
    finally:
        os.close(master)


def test_exec_console_size(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """exec --process's consoleSize, and exec --tty's from config.json (runc builds
    exec's process from config.json's, consoleSize included)."""
    bundle.set_args("sleep", "1000")
    bundle.config["process"]["consoleSize"] = {"height": 20, "width": 70}
    bundle.save()
    proc = {
        "terminal": True, "consoleSize": {"height": 33, "width": 111},
        "args": ["sh", "-c", "stty size; read x"], "cwd": "/", "env": ["PATH=/bin"],
    }  # fmt: skip
    process_json = os.path.join(bundle.path, "process.json")
    with open(process_json, "w") as f:
        f.write(json.dumps(proc))
    runtime.ok("run", "--detach", "--bundle", bundle.path, cid)
    init = runtime.state(cid)["pid"]
    try:
        before, seen = _exec_tty_size(runtime, bundle, cid, "--process", process_json, cid)
        assert before == (33, 111) and "33 111" in seen
        how = ("--tty", cid, "sh", "-c", "stty size; read x")
        before, seen = _exec_tty_size(runtime, bundle, cid, *how)
        assert before == (20, 70) and "20 70" in seen
    finally:
        runtime("delete", "--force", cid)
    wait_dead(init)


def test_console_size_above_16_bits_is_refused(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """TIOCSWINSZ holds 16 bits (runc truncates silently): refused, naming the field."""
    bundle.config["process"]["consoleSize"] = {"height": 33, "width": 65536}
    _terminal(bundle, "true")
    with console_socket(bundle) as (path, _):
        r = runtime("create", "--console-socket", path, "--bundle", bundle.path, cid)
    if r.code == 0:  # accepted: do not leave it behind
        runtime("delete", "--force", cid)
    assert r.code == 1, r.err
    assert error_message(r.err) == "config.json: process.consoleSize.width: must be at most 65535"
    assert runtime("state", cid).code == 1


def test_relayed_output_is_what_the_process_wrote(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    """run and exec -t in the foreground, output captured (not a terminal): lines end in
    \\n as written, not the pty's \\r\\n (runc clears ONLCR on a pty it relays; runc's
    own suite compares such output line by line)."""
    bundle.config["process"]["terminal"] = True
    bundle.set_args("sh", "-c", "echo one; echo two")
    r = runtime("run", "--bundle", bundle.path, cid)
    assert (r.code, r.out) == (0, "one\ntwo\n"), r
    bundle.set_args("sleep", "100")
    bundle.config["process"]["terminal"] = False
    bundle.save()
    runtime.ok("run", "--detach", "--bundle", bundle.path, cid)
    try:
        r = runtime("exec", "-t", cid, "sh", "-c", "echo three; echo four")
        assert (r.code, r.out) == (0, "three\nfour\n"), r
    finally:
        runtime("delete", "--force", cid)


def test_listed_ptmx_is_the_devpts_one(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """/dev/ptmx is the link to the container's devpts even when the config lists a
    /dev/ptmx device, as runc's setupPtmx (dev.bats "redundant default /dev/ptmx")."""
    bundle.config["linux"]["devices"] = [{"path": "/dev/ptmx", "type": "c", "major": 5, "minor": 2}]
    bundle.set_args("sleep", "30").save()
    with created(runtime, bundle, cid) as pid:
        dev = f"/proc/{pid}/root/dev"
        assert os.readlink(f"{dev}/ptmx") == "pts/ptmx"
        # The kernel's view: the link leads to the container's devpts, not the host's.
        assert os.stat(f"{dev}/ptmx").st_dev == os.stat(f"{dev}/pts").st_dev
        assert os.stat(f"{dev}/ptmx").st_dev != os.stat("/dev/pts/ptmx").st_dev
