"""Reading the host's small text files (/proc, /sys) for `check`."""

from __future__ import annotations


def read_text(path: str) -> str:
    """The file's text, stripped; "" when it is missing or unreadable (check reports
    what it can see, and says so elsewhere)."""
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""
