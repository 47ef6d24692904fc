"""Parsing signals as runc does: numbers, names with or without SIG, RTMIN+n."""

from __future__ import annotations

import _signal as signal  # not signal: CONTRIBUTING.md, Imports

from pyrunc import jsonio as json  # not json: CONTRIBUTING.md, Imports
from pyrunc.errors import InvalidArgument


def _names() -> dict[str, int]:
    # What signal.Signals enumerates, plus its aliases (SIGIOT, SIGPOLL, SIGCLD).
    return {
        name: value
        for name, value in vars(signal).items()
        if name.startswith("SIG") and not name.startswith("SIG_") and name.isupper()
    }


def _decimal(text: str) -> int | None:
    # ASCII only: str.isdigit() also accepts '²' and '٣', which int() rejects or misreads.
    return int(text) if text.isascii() and text.isdigit() else None


def _realtime(name: str) -> int | None:
    """SIGRTMIN+n / SIGRTMAX-n, as crun and moby accept them."""
    for base, sign in (("SIGRTMIN+", 1), ("SIGRTMAX-", -1)):
        offset = _decimal(name[len(base) :]) if name.startswith(base) else None
        if offset is not None:
            num = (signal.SIGRTMIN if sign > 0 else signal.SIGRTMAX) + sign * offset
            if signal.SIGRTMIN <= num <= signal.SIGRTMAX:
                return int(num)
    return None


def _quote(raw: str) -> str:
    return json.dumps(raw, ensure_ascii=False)  # close to Go's %q, always one line


def parse_signal(raw: str) -> int:
    """Signal number of `raw`; InvalidArgument (never another error) if it names none."""
    text = raw.strip()
    num = _decimal(text)
    if num is not None:
        # 0 is kill(2)'s probe: runc passes it on (kill.bats: "container not running"
        # for a stopped container, success for a running one).
        if not 0 <= num <= signal.SIGRTMAX:
            raise InvalidArgument(f"invalid signal: {_quote(raw)}")
        return num
    name = text.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    num = _realtime(name)
    if num is not None:
        return num
    table = _names()
    if name not in table:
        raise InvalidArgument(f"unknown signal {_quote(raw)}")  # runc: %q
    return table[name]
