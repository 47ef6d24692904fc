"""Finding and executing process.args[0], with runc's error texts (engines match them)."""

from __future__ import annotations

import errno
import os
import signal
import stat


class ExecError(Exception):
    pass


def env_path(env: tuple[str, ...]) -> str:
    for entry in env:
        if entry.startswith("PATH="):
            return entry[5:]
    return "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _check_executable(path: str, shown: str) -> None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ExecError(f'exec: "{shown}": stat {path}: no such file or directory') from None
    except PermissionError:
        raise ExecError(f'exec: "{shown}": permission denied') from None
    if stat.S_ISDIR(st.st_mode) or not os.access(path, os.X_OK, effective_ids=True):
        raise ExecError(f'exec: "{shown}": permission denied')


def look_path(arg0: str, env: tuple[str, ...]) -> str:
    """Resolve arg0 like Go's exec.LookPath in the container (after the root switch)."""
    if "/" in arg0:
        _check_executable(arg0, arg0)
        return arg0
    for directory in env_path(env).split(":"):
        candidate = os.path.join(directory or ".", arg0)
        try:
            _check_executable(candidate, arg0)
            return candidate
        except ExecError:
            continue
    raise ExecError(f'exec: "{arg0}": executable file not found in $PATH')


def env_dict(env: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for entry in env:
        key, sep, value = entry.partition("=")
        if sep:
            out[key] = value
    return out


def reset_signals() -> None:
    """Python ignores SIGPIPE and SIGXFSZ; ignored dispositions survive exec."""
    for sig in (
        signal.SIGPIPE,
        signal.SIGXFSZ,
        signal.SIGINT,
        signal.SIGTERM,
        signal.SIGCHLD,
        signal.SIGHUP,
        signal.SIGQUIT,
    ):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def exec_process(path: str, args: tuple[str, ...], env: tuple[str, ...]) -> None:
    try:
        os.execve(path, list(args), env_dict(env))
    except OSError as e:
        text = os.strerror(e.errno).lower() if e.errno else str(e)
        if e.errno == errno.ENOENT:
            text = "no such file or directory"
        raise ExecError(f'exec: "{args[0]}": {text}') from None
