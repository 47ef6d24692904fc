"""The `process.rlimits` section."""

from __future__ import annotations

import os
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
_I64_MAX = 2**63 - 1


def _kernel_value(v: int) -> int:
    # The spec uses uint64 (2^64-1: unlimited); CPython's prlimit takes a signed long long
    # and casts it to rlim_t, so 2^63 and above travel as their two's complement
    # (2^64-1 becomes -1, RLIM_INFINITY) instead of failing with "int too large".
    return v - (_U64_MAX + 1) if v > _I64_MAX else v


class RlimitError(Exception):
    """Not an OSError: the step wrapper would replace our text with strerror alone."""


def apply(rlimits: tuple[Rlimit, ...]) -> None:
    for rl in rlimits:
        number = RLIMIT_NUMBERS[rl.type]
        try:
            # prlimit, not setrlimit: setrlimit turns EPERM into a ValueError without errno.
            resource.prlimit(0, number, (_kernel_value(rl.soft), _kernel_value(rl.hard)))
        except OSError as e:
            # runc's text; engines map "operation not permitted" to exit 126.
            reason = os.strerror(e.errno).lower() if e.errno else str(e)
            raise RlimitError(f"error setting rlimit type {number}: {reason}") from None
        except ValueError:  # prlimit's only ValueError is EINVAL (soft above hard)
            raise RlimitError(f"error setting rlimit type {number}: invalid argument") from None
