"""Signals the foreground CLI (run, exec) passes on to the container's process; and
parse_signal for importers of its old location (it is the API's: container.signals)."""

from __future__ import annotations

import _signal as signal  # signal.py only adds IntEnums over it (~5 ms of enum import)
import os

from pyrunc.container.signals import parse_signal

__all__ = ["FORWARDED", "forward_signal", "parse_signal"]

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
