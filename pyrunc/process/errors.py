"""Turning exceptions raised during set-up into runc-style one-line texts."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


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


@contextmanager
def step(what: str) -> Iterator[None]:
    try:
        yield
    except StageError:
        raise
    except Exception as e:  # noqa: BLE001 - every failure becomes one line for the user
        raise StageError(f"{what}: {go_style(e)}") from None
