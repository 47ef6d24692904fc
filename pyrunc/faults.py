"""Test-only fault points: the runtime SIGKILLs itself at a named phase.

    PYRUNC_FAULT=after-cgroups pyrunc create ...    # dies there, as an engine's timeout would

tests/test_faults.py then checks that `state` tells the truth and `delete --force`
brings the host back. The variable is read once at import; call sites are guarded by
`if FAULT:`, so a normal run pays one global lookup per point and nothing else.
"""

from __future__ import annotations

import _signal as signal  # not signal: CONTRIBUTING.md, Imports
import os

FAULT: str | None = os.environ.get("PYRUNC_FAULT") or None


def hit(phase: str) -> None:
    """Die here, with no chance to clean up, if this is the phase asked for."""
    if FAULT == phase:
        os.kill(os.getpid(), signal.SIGKILL)
