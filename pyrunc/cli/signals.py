"""Parsing signals the way runc does: numbers, names with or without SIG, RTMIN+n."""

from __future__ import annotations

import signal

from pyrunc.errors import InvalidArgument


def _names() -> dict[str, int]:
    table = {s.name: int(s) for s in signal.Signals if not s.name.startswith("SIG_")}
    table.setdefault("SIGIOT", int(signal.SIGABRT))
    table.setdefault("SIGPOLL", int(signal.SIGIO))
    return table


def parse_signal(raw: str) -> int:
    text = raw.strip()
    if text.isdigit():
        num = int(text)
        if not 0 < num <= signal.SIGRTMAX:
            raise InvalidArgument(f"invalid signal: {raw}")
        return num
    name = text.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    for base, sign in (("SIGRTMIN+", 1), ("SIGRTMAX-", -1)):
        if name.startswith(base) and name[len(base):].isdigit():
            num = (signal.SIGRTMIN if sign > 0 else signal.SIGRTMAX) + sign * int(name[len(base):])
            if signal.SIGRTMIN <= num <= signal.SIGRTMAX:
                return int(num)
    table = _names()
    if name not in table:
        raise InvalidArgument(f"unknown signal {raw!r}")
    return table[name]
