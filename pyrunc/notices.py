"""Warnings from deep inside an operation (a failed poststart hook, an ambient capability
the kernel will not raise): the operation goes on, the user is told. The CLI points
`sink` at its log (plain stderr, or --log/--log-format); the API keeps stderr.

Like errors.py, this imports nothing of pyrunc.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from collections.abc import Callable


def _stderr_warning(msg: str) -> None:
    sys.stderr.write(f"pyrunc: warning: {msg}\n")


sink: Callable[[str], None] = _stderr_warning


def warn(msg: str) -> None:
    sink(msg)
