"""The report as a terminal reads it (grouped, one line per check) or as JSON."""

from __future__ import annotations

import json

from pyrunc.check import Report
from pyrunc.check.findings import ERROR, GROUPS, OK, WARNING

_MARKS = {OK: "✓", WARNING: "!", ERROR: "✗"}
_TITLES = {
    "bundle/schema": "Bundle: schema",
    "bundle/semantics": "Bundle: semantics",
    "rootfs": "Rootfs",
    "host": "Host",
}


def text(report: Report) -> str:
    lines = [f"bundle {report.bundle}"]
    for group in GROUPS:
        entries = [f for f in report.checks if f.group == group]
        if not entries:
            continue
        lines.append("")
        lines.append(_TITLES[group])
        for f in entries:
            where = f"{f.path}: " if f.path else ""
            lines.append(f"  {_MARKS[f.severity]} {where}{f.message}")
            if f.hint and f.severity != OK:
                lines.append(f"      fix: {f.hint}")
    lines.append("")
    lines.append(summary(report))
    return "\n".join(lines) + "\n"


def summary(report: Report) -> str:
    errors, warnings = report.count(ERROR), report.count(WARNING)
    notes = f" ({_plural(warnings, 'warning')})" if warnings else ""
    if errors:
        return f"{_plural(errors, 'problem')}{notes}: the bundle would not run"
    return f"bundle would run{notes}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def as_json(report: Report) -> str:
    return json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n"
