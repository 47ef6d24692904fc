"""SCMP_ACT_NOTIFY: the runtime hands a process's listener fd to the seccomp agent.

The runtime-spec's protocol: connect to linux.seccomp.listenerPath (a path, or an
abstract name written `@name`, as Go's dialer reads it), send one message holding the
containerProcessState JSON with the fd in SCM_RIGHTS. Runs in the runtime, for the
container's init (create) and for each process exec'd into it, as runc does.
"""

from __future__ import annotations

from pyrunc import jsonio as json  # not json: CONTRIBUTING.md, Imports
from pyrunc.linux import fdpass

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from typing import Any


class AgentError(ValueError):
    """The agent could not be given the listener; the message names the field."""


def send_listener(
    section: dict[str, Any], fd: int, state: dict[str, Any], pid: int | None = None
) -> None:
    """Send fd, the listener of process pid (default: state's, the init's), to the agent.

    state is the container's OCI state (ociVersion, id, status, pid, bundle,
    annotations); metadata is listenerMetadata.
    """
    path = section["listenerPath"]
    doc = {
        "ociVersion": state.get("ociVersion", ""),
        "fds": ["seccompFd"],
        "pid": state["pid"] if pid is None else pid,
        "metadata": section.get("listenerMetadata", ""),
        "state": state,
    }
    sock = _connect(path)
    try:
        fdpass.send_fds(sock, json.dumps(doc).encode(), [fd])
    except OSError as e:
        raise AgentError(
            f"linux.seccomp.listenerPath: cannot send seccomp fd to {path}: {fdpass.reason(e)}"
        ) from None
    finally:
        sock.close()


def _connect(path: str) -> fdpass.socket:
    try:
        return fdpass.dial_unix(path)
    except OSError as e:
        # runc's words (seccomp-notify.bats greps them), after the field's name.
        raise AgentError(
            "linux.seccomp.listenerPath: failed to connect with seccomp agent specified in "
            f"the seccomp profile: dial unix {path}: connect: {fdpass.reason(e)}"
        ) from None
