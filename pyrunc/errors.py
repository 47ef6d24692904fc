"""Exception classes of pyrunc.

Every error carries the one-line message the CLI prints (runc's text where
engines match on it), so the Python API and the CLI report the same thing.
"""

from __future__ import annotations

import os

__all__ = [
    "CgroupError",
    "ConfigError",
    "ContainerExists",
    "ContainerNotExist",
    "ContainerNotRunning",
    "CorruptState",
    "CreateFailed",
    "ExecFailed",
    "HookError",
    "HostError",
    "InvalidArgument",
    "InvalidState",
    "PyruncError",
    "Timeout",
]


class PyruncError(Exception):
    """Base of every error pyrunc raises on purpose."""


class ConfigError(PyruncError):
    """config.json is missing, unreadable, schema-invalid or semantically wrong."""


class InvalidArgument(PyruncError):
    """A command-line argument or API parameter is wrong (bad ID, bad signal...)."""


class ContainerNotExist(PyruncError):
    def __init__(self, container_id: str = "") -> None:
        super().__init__("container does not exist")
        self.container_id = container_id


class ContainerExists(PyruncError):
    def __init__(self, container_id: str = "") -> None:
        super().__init__("container with given ID already exists")
        self.container_id = container_id


class ContainerNotRunning(PyruncError):
    def __init__(self) -> None:
        super().__init__("container not running")


class InvalidState(PyruncError):
    """The operation is not allowed in the container's current status."""


class CreateFailed(PyruncError):
    """Setting up the container failed; everything created was undone."""


class CgroupError(PyruncError):
    """A cgroup could not be created, configured or removed."""


class Timeout(PyruncError):
    """Waiting (Container.wait with a timeout) took longer than allowed."""


class HostError(PyruncError, OSError):
    """The host refused an operation: an OSError (errno, strerror and filename kept),
    reported as the CLI prints it ("/run/x: not a directory")."""

    def __str__(self) -> str:
        if not self.errno:
            return OSError.__str__(self)
        text = os.strerror(self.errno).lower()
        return f"{self.filename}: {text}" if self.filename else text

    @classmethod
    def of(cls, e: OSError) -> HostError:
        return cls(e.errno, e.strerror, e.filename) if e.errno else cls(*e.args)


# Raised by modules the CLI loads only when it needs them; named here, resolved lazily.
_ELSEWHERE = {
    "CorruptState": "pyrunc.container.store",  # state.json cannot be read back
    "ExecFailed": "pyrunc.process.tenant",  # the process could not be started
    "HookError": "pyrunc.container.hooks",  # a hook failed or timed out
}

TYPE_CHECKING = False  # not typing's: this module is on every CLI call's path
if TYPE_CHECKING:
    from pyrunc.container.hooks import HookError
    from pyrunc.container.store import CorruptState
    from pyrunc.process.tenant import ExecFailed


def __getattr__(name: str) -> type[PyruncError]:
    if name not in _ELSEWHERE:
        raise AttributeError(f"module 'pyrunc.errors' has no attribute {name!r}")
    import importlib

    found: type[PyruncError] = getattr(importlib.import_module(_ELSEWHERE[name]), name)
    return found
