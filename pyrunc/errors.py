"""Exception classes of pyrunc.

Every error carries the one-line message the CLI prints (runc's text where
engines match on it), so the Python API and the CLI report the same thing.
"""

from __future__ import annotations

import os


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
