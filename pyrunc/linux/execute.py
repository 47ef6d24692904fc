"""Finding and executing process.args[0], with runc's error texts (engines match them)."""

from __future__ import annotations

import _signal as signal  # not signal: CONTRIBUTING.md, Imports
import errno
import os
import stat

from pyrunc import jsonio as json  # not json: CONTRIBUTING.md, Imports


class ExecError(Exception):
    pass


DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def env_dict(env: tuple[str, ...]) -> dict[str, str]:
    """process.env as runc's init applies it with os.Setenv: a repeated name keeps its
    first position and takes its last value; a malformed entry is an error (runc's text)."""
    out: dict[str, str] = {}
    for entry in env:
        key, sep, value = entry.partition("=")
        if not sep:
            raise ExecError(f"invalid environment variable: {_quote(entry)}")
        if not key:
            raise ExecError(f"environment variable name can't be empty: {_quote(entry)}")
        if "\0" in entry:
            raise ExecError(f"environment variable can't contain null(\\x00): {_quote(entry)}")
        out[key] = value
    return out


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def env_path(env: tuple[str, ...]) -> str:
    # Without PATH we search a default one (crun does too; runc finds nothing).
    return env_dict(env).get("PATH", DEFAULT_PATH)


def _check_executable(path: str, shown: str, dac_override: bool = False) -> None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ExecError(f'exec: "{shown}": stat {path}: no such file or directory') from None
    except PermissionError:
        raise ExecError(f'exec: "{shown}": permission denied') from None
    # Plain access(2): real and effective ids are equal by now, and effective_ids would
    # need faccessat2, which older seccomp profiles (runtime-tools', docker's before
    # 20.10) deny with EPERM.
    # access(2) drops a non-root caller's capabilities; the process will exec with
    # CAP_DAC_OVERRIDE if asked, and the kernel then needs only one x bit anywhere
    # (runc's start_hello.bats).
    override = dac_override and st.st_mode & 0o111
    if stat.S_ISDIR(st.st_mode) or not (override or os.access(path, os.X_OK)):
        raise ExecError(f'exec: "{shown}": permission denied')


def look_path(arg0: str, env: tuple[str, ...], dac_override: bool = False) -> str:
    """Resolve arg0 like Go's exec.LookPath in the container (after the root switch).
    dac_override: the process will have CAP_DAC_OVERRIDE in its effective set."""
    if "/" in arg0:
        _check_executable(arg0, arg0, dac_override)
        return arg0
    for directory in env_path(env).split(":"):
        candidate = os.path.join(directory or ".", arg0)
        try:
            _check_executable(candidate, arg0, dac_override)
            return candidate
        except ExecError:
            continue
    raise ExecError(f'exec: "{arg0}": executable file not found in $PATH')


def home_dir(uid: int, passwd: str = "/etc/passwd") -> str:
    """The uid's home in the container's passwd file, "/" if it has none (as runc)."""
    try:
        with open(passwd, encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.rstrip("\n").split(":")
                if len(fields) >= 6 and fields[2] == str(uid):
                    return fields[5] or "/"
    except OSError:
        pass  # no (readable) passwd file: the default, like runc for a missing one
    return "/"


def final_env(env: tuple[str, ...], uid: int) -> dict[str, str]:
    """The environment the process gets: process.env, plus HOME if unset or empty."""
    out = env_dict(env)
    if not out.get("HOME"):
        out["HOME"] = home_dir(uid)
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
    """Exec as the container's user (already switched to); HOME comes from its passwd."""
    try:
        os.execve(path, list(args), final_env(env, os.getuid()))
    except OSError as e:
        text = os.strerror(e.errno).lower() if e.errno else str(e)
        if e.errno == errno.ENOENT:
            text = "no such file or directory"
        # runc's words for a failed execve(2) itself (os.PathError{Op: "exec"}), e.g. a
        # script whose #! interpreter is missing; lookups failed earlier, in Go's words.
        raise ExecError(f"exec {path}: {text}") from None
