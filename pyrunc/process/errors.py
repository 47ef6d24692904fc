"""Turning exceptions raised during set-up into runc-style one-line texts."""

from __future__ import annotations

import os


class StageError(Exception):
    """A set-up step failed; the message says which step and why."""


def go_style(exc: BaseException) -> str:
    """'mkdir /x: permission denied' rather than Python's '[Errno 13] Permission denied'."""
    if isinstance(exc, OSError) and exc.errno:
        text = os.strerror(exc.errno).lower()
        if exc.filename:
            return f"{exc.filename}: {text}"
        return text
    return str(exc) or type(exc).__name__


class step:  # noqa: N801 - used like a function: `with step("mounting"):`
    """Any failure inside becomes StageError("<what>: <reason>"), one line for the user.
    A class rather than contextlib.contextmanager, whose import costs ~4 ms per call."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, _tb: object
    ) -> bool:
        if exc is None or isinstance(exc, StageError) or not isinstance(exc, Exception):
            return False
        raise StageError(f"{self.what}: {go_style(exc)}") from None
