"""The `process.rlimits` section."""

from __future__ import annotations

import resource

from pyrunc.spec.config import Rlimit

RLIMIT_NUMBERS: dict[str, int] = {
    "RLIMIT_CPU": 0,
    "RLIMIT_FSIZE": 1,
    "RLIMIT_DATA": 2,
    "RLIMIT_STACK": 3,
    "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5,
    "RLIMIT_NPROC": 6,
    "RLIMIT_NOFILE": 7,
    "RLIMIT_MEMLOCK": 8,
    "RLIMIT_AS": 9,
    "RLIMIT_LOCKS": 10,
    "RLIMIT_SIGPENDING": 11,
    "RLIMIT_MSGQUEUE": 12,
    "RLIMIT_NICE": 13,
    "RLIMIT_RTPRIO": 14,
    "RLIMIT_RTTIME": 15,
}

_U64_MAX = 2**64 - 1


def _kernel_value(v: int) -> int:
    # The spec uses uint64 with 2^64-1 meaning unlimited; Python wants RLIM_INFINITY.
    return resource.RLIM_INFINITY if v >= _U64_MAX else v


def apply(rlimits: tuple[Rlimit, ...]) -> None:
    for rl in rlimits:
        number = RLIMIT_NUMBERS[rl.type]
        try:
            resource.setrlimit(number, (_kernel_value(rl.soft), _kernel_value(rl.hard)))
        except (ValueError, OSError) as e:
            err = getattr(e, "strerror", None) or "operation not permitted"
            raise OSError(
                getattr(e, "errno", 1) or 1, f"error setting rlimit type {number}: {err.lower()}"
            ) from None
