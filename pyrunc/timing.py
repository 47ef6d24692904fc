"""Where `create` spends its time, for `--debug`: named marks on the monotonic clock.

A mark names the phase that just ended. Stage 1 and init make theirs in their own
processes and send them back with their messages; CLOCK_MONOTONIC is one clock for
all of them, so the runtime prints a single timeline:
``create phases (ms): cli 1.0, parse 0.3, validate 2.2, ... total 21.4``.
"""

from __future__ import annotations

import time

MAX_RECEIVED = 32  # marks come from the container side: take a bounded, typed list

_marks: list[tuple[str, int]] = []


def mark(phase: str) -> None:
    _marks.append((phase, time.monotonic_ns()))


def count() -> int:
    return len(_marks)


def since(index: int) -> list[list[str | int]]:
    """Marks made after the first `index`, as JSON for a channel message."""
    return [[name, ns] for name, ns in _marks[index:]]


def add(received: object) -> None:
    """Marks another stage sent; anything malformed is dropped, never trusted."""
    if not isinstance(received, list):
        return
    for item in received[:MAX_RECEIVED]:
        if (
            isinstance(item, list)
            and len(item) == 2
            and isinstance(item[0], str)
            and len(item[0]) <= 32
            and type(item[1]) is int
        ):
            _marks.append((item[0], item[1]))


def report() -> str:
    """Each phase's milliseconds, in the order they ended, and the total."""
    if len(_marks) < 2:
        return "no phases recorded"
    ordered = sorted(_marks, key=lambda m: m[1])
    parts = [
        f"{name} {(ns - prev) / 1e6:.1f}"
        for (_, prev), (name, ns) in zip(ordered, ordered[1:], strict=False)
    ]
    total = (ordered[-1][1] - ordered[0][1]) / 1e6
    return f"{', '.join(parts)}, total {total:.1f}"


def reset() -> None:
    _marks.clear()
