"""Signals the foreground CLI (run, exec) passes on to the container's process.
(Parsing signal names is the API's: pyrunc.container.signals.)"""

from __future__ import annotations

import _signal as signal  # not signal: CONTRIBUTING.md, Imports
import os

__all__ = ["FORWARDED", "forward_signal"]

FORWARDED = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGWINCH,
    signal.SIGCONT,
)


def forward_signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
