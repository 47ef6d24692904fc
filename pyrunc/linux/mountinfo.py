"""Reading /proc/self/mountinfo: the mounts this process sees, parents first."""

from __future__ import annotations

from pyrunc.record import dataclass


@dataclass(frozen=True)
class MountEntry:
    """One line of /proc/self/mountinfo (paths unescaped)."""

    point: str
    root: str
    fstype: str
    fields: list[str]  # optional fields: shared:N, master:N, unbindable


def entries() -> list[MountEntry]:
    """Every mount of this process's mount namespace, in the kernel's order (a parent
    mount comes before the mounts below it)."""
    entries = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            x = line.split()
            sep = x.index("-")
            entries.append(MountEntry(_unescape(x[4]), _unescape(x[3]), x[sep + 1], x[6:sep]))
    return entries


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as \\ooo octal escapes."""
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        code = field[i + 1 : i + 4]
        if field[i] == "\\" and len(code) == 3 and all(c in "01234567" for c in code):
            out.append(chr(int(code, 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)
