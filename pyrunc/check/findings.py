"""What every check returns: one line about one field, with a verdict and how to fix it."""

from __future__ import annotations

from dataclasses import dataclass

OK, WARNING, ERROR = "ok", "warning", "error"

# Sections of the report, in the order they are shown.
SCHEMA, SEMANTICS, ROOTFS, HOST = "bundle/schema", "bundle/semantics", "rootfs", "host"
GROUPS: tuple[str, ...] = (SCHEMA, SEMANTICS, ROOTFS, HOST)


@dataclass(frozen=True)
class Finding:
    group: str  # one of GROUPS
    severity: str  # OK, WARNING or ERROR
    path: str  # JSON path in config.json ("process.args[0]"), "" for the bundle/host as a whole
    message: str
    hint: str = ""  # how to fix it (failures only)

    def to_json(self) -> dict[str, str]:
        return {
            "severity": self.severity,
            "group": self.group,
            "path": self.path,
            "message": self.message,
            "hint": self.hint,
        }


def ok(group: str, path: str, message: str) -> Finding:
    return Finding(group, OK, path, message)


def error(group: str, path: str, message: str, hint: str) -> Finding:
    return Finding(group, ERROR, path, message, hint)


def warning(group: str, path: str, message: str, hint: str) -> Finding:
    return Finding(group, WARNING, path, message, hint)


def would_run(findings: list[Finding]) -> bool:
    return not any(f.severity == ERROR for f in findings)
