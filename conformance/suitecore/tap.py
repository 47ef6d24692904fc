"""TAP test lines as a suite writes them: each suite has its dialect (its patterns for
the test line, the directive and the plan); the split into status, number, text and
directive is the same for both. Nothing here counts: the counting rules are each
runner's (rci_tap.py, runtime-tools/tap.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class TapDialect:
    # Groups: status ("ok" or "not ok"), the number (may be optional), the rest.
    test_line: re.Pattern[str]
    # Searched in the rest; groups: the directive's word, its text.
    directive: re.Pattern[str]
    # Group: the number of tests planned.
    plan_line: re.Pattern[str]

    def plan(self, line: str) -> int | None:
        m = self.plan_line.match(line)
        return int(m.group(1)) if m else None


@dataclass(frozen=True)
class TapLine:
    status: str  # "ok", "not ok", or "skip" (an ok with a skip directive)
    number: int | None
    text: str  # the rest of the line before the directive, stripped
    directive: str = ""  # its word, lower case ("skip", "todo", ...), or ""
    directive_text: str = ""  # what follows the word, stripped


def split_test_line(line: str, dialect: TapDialect) -> TapLine | None:
    """The test line's parts, or None when `line` is no test line of the dialect."""
    m = dialect.test_line.match(line)
    if not m:
        return None
    status, number, rest = m.group(1), m.group(2), m.group(3) or ""
    word = text = ""
    dm = dialect.directive.search(rest)
    if dm:
        word, text = dm.group(1).lower(), dm.group(2).strip()
        rest = rest[: dm.start()]
    if status == "ok" and word == "skip":
        status = "skip"
    return TapLine(status, int(number) if number else None, rest.strip(), word, text)


def truncate(text: str, limit: int) -> str:
    """A diagnostic cut to `limit` characters, saying so."""
    return text if len(text) <= limit else text[:limit] + "\n[... truncated]"


def stderr_tail(stderr_text: str, lines: int = 5) -> str:
    """The last lines of a file's stderr: the diagnostic of a failure the runner adds."""
    return "\n".join(stderr_text.strip().splitlines()[-lines:])
