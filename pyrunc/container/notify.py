"""systemd integration as runc does it: socket activation (LISTEN_FDS) and sd_notify.

Socket activation: when the runtime itself was socket-activated (LISTEN_FDS set and
LISTEN_PID naming us), the listening fds 3..3+N-1 go on to the container, whose
environment says LISTEN_FDS=N and LISTEN_PID=1.

NOTIFY_SOCKET: when the runtime's environment has one, the container gets a datagram
socket of its own at /run/notify/notify.sock (a bind of <state dir>/notify); `start`
(or `run`) waits for the container's READY=1 and passes MAINPID=<init> and READY=1 on
to the host socket, so a Type=notify unit is ready when the container says so.
"""

from __future__ import annotations

import os
import select

from pyrunc import record
from pyrunc.spec.config import Config, Mount

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    import socket

NOTIFY_DIR = "notify"
SOCKET_NAME = "notify.sock"
IN_CONTAINER = "/run/notify/" + SOCKET_NAME


def listen_fds(environ: dict[str, str] | None = None) -> int:
    """How many socket-activation fds were passed to this process (0 if none)."""
    env = os.environ if environ is None else environ
    count, pid = env.get("LISTEN_FDS", ""), env.get("LISTEN_PID", "")
    if not count.isdigit() or pid != str(os.getpid()):
        return 0
    return int(count)


def with_socket_activation(cfg: Config, preserve_fds: int) -> tuple[Config, int]:
    """The config and fd count to pass when we were socket-activated."""
    n = listen_fds()
    if not n or cfg.process is None:
        return cfg, preserve_fds
    env = cfg.process.env + (f"LISTEN_FDS={n}", "LISTEN_PID=1")
    return _with_process_env(cfg, env), preserve_fds + n


def host_socket() -> str | None:
    return os.environ.get("NOTIFY_SOCKET") or None


def with_notify_socket(cfg: Config, state_dir: str) -> Config:
    """Give the container its own notify socket directory (bound read-only, as runc)."""
    if host_socket() is None or cfg.process is None:
        return cfg
    directory = os.path.join(state_dir, NOTIFY_DIR)
    os.mkdir(directory, 0o755)
    mount = Mount(os.path.dirname(IN_CONTAINER), "bind", directory,
                  ("bind", "nosuid", "noexec", "nodev", "ro"))
    env = tuple(e for e in cfg.process.env if not e.startswith("NOTIFY_SOCKET="))
    cfg = _with_process_env(cfg, env + (f"NOTIFY_SOCKET={IN_CONTAINER}",))
    return record.replace(cfg, mounts=cfg.mounts + (mount,))


def _with_process_env(cfg: Config, env: tuple[str, ...]) -> Config:
    assert cfg.process is not None
    return record.replace(cfg, process=record.replace(cfg.process, env=env))


def bind(state_dir: str) -> socket.socket | None:
    """Listen on the container's notify socket (before its process can write to it)."""
    directory = os.path.join(state_dir, NOTIFY_DIR)
    if host_socket() is None or not os.path.isdir(directory):
        return None
    path = os.path.join(directory, SOCKET_NAME)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    import socket  # here: every create imports this module, few have NOTIFY_SOCKET

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
    sock.bind(path)
    os.chmod(path, 0o777)  # the container's user may be anyone
    return sock


def relay_ready(sock: socket.socket, init_pid: int, pidfd: int | None) -> None:
    """Block until the container sends READY=1 (or its init exits), then tell the host."""
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    if pidfd is not None:
        poller.register(pidfd, select.POLLIN)
    while True:
        events = dict(poller.poll())
        if pidfd is not None and events.get(pidfd):
            return  # the container ended without ever being ready
        data = sock.recv(4096)
        if any(line == b"READY=1" for line in data.splitlines()):
            break
    _send_host(f"MAINPID={init_pid}".encode())
    _send_host(b"READY=1")


def _send_host(message: bytes) -> None:
    path = host_socket()
    if path is None:
        return
    if path.startswith("@"):  # abstract namespace, as sd_notify accepts
        path = "\0" + path[1:]
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
        s.sendto(message, path)
