"""What the runtime side tells the container-side stages, besides the config."""

from __future__ import annotations

from pyrunc.record import dataclass


@dataclass(frozen=True)
class InitOptions:
    exec_fifo_fd: int  # O_PATH fd of the container's exec.fifo (init reopens it)
    no_pivot: bool = False
    no_new_keyring: bool = False
    preserve_fds: int = 0
    console_fd: int = -1  # connected --console-socket: init sends its pty master there
    debug: bool = False  # RuntimeOptions.debug: arms the import guard (importguard.py)
    joinable: bool = False  # rootless: created init dumpable, for the same user's exec
