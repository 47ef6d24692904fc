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
# --debug lines from deep inside (the CLI points it at its log's debug; else dropped)
debug_sink: Callable[[str], None] | None = None


def warn(msg: str) -> None:
    sink(msg)


def debug(msg: str) -> None:
    if debug_sink is not None:
        debug_sink(msg)
