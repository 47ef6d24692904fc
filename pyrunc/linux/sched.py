"""process.scheduler and process.ioPriority, applied to the calling process as runc
applies them: sched_setattr(2) and ioprio_set(2), in the container's init and in each
exec'd process, while it still has the runtime's capabilities (before the user switch
and the capability drop: a realtime policy needs CAP_SYS_NICE, which the container's
own sets need not hold).

A value the kernel refuses is an error naming the field and the value; runc says
"error setting scheduler: <errno>", we add which field and which policy.
"""

from __future__ import annotations

import os

from pyrunc.linux import syscalls as sc
from pyrunc.process.errors import step

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from pyrunc.spec.config import IOPriority, Scheduler

#: sched(7) policy numbers (<linux/sched.h>); SCHED_ISO is reserved, no mainline
#: kernel implements it (sched_setattr refuses it with EINVAL).
POLICIES: dict[str, int] = {
    "SCHED_OTHER": 0,
    "SCHED_FIFO": 1,
    "SCHED_RR": 2,
    "SCHED_BATCH": 3,
    "SCHED_ISO": 4,
    "SCHED_IDLE": 5,
    "SCHED_DEADLINE": 6,
}

#: sched_attr.sched_flags bits (<linux/sched.h>).
FLAGS: dict[str, int] = {
    "SCHED_FLAG_RESET_ON_FORK": 0x01,
    "SCHED_FLAG_RECLAIM": 0x02,
    "SCHED_FLAG_DL_OVERRUN": 0x04,
    "SCHED_FLAG_KEEP_POLICY": 0x08,
    "SCHED_FLAG_KEEP_PARAMS": 0x10,
    "SCHED_FLAG_UTIL_CLAMP_MIN": 0x20,
    "SCHED_FLAG_UTIL_CLAMP_MAX": 0x40,
}

#: I/O scheduling classes (<linux/ioprio.h>); the class sits above 13 bits of level.
IOPRIO_CLASSES: dict[str, int] = {
    "IOPRIO_CLASS_RT": 1,
    "IOPRIO_CLASS_BE": 2,
    "IOPRIO_CLASS_IDLE": 3,
}
_IOPRIO_CLASS_SHIFT = 13

_RT_POLICIES = ("SCHED_FIFO", "SCHED_RR")


def sched_attr(s: Scheduler) -> sc.SchedAttr:
    """The sched_attr for s; unknown names are a ValueError (the schema refuses them)."""
    if s.policy not in POLICIES:
        raise ValueError(f"process.scheduler.policy: unknown policy {s.policy!r}")
    flags = 0
    for name in s.flags:
        if name not in FLAGS:
            raise ValueError(f"process.scheduler.flags: unknown flag {name!r}")
        flags |= FLAGS[name]
    attr = sc.SchedAttr()
    attr.sched_policy = POLICIES[s.policy]
    attr.sched_flags = flags
    attr.sched_nice = s.nice
    attr.sched_priority = s.priority
    attr.sched_runtime, attr.sched_deadline, attr.sched_period = s.runtime, s.deadline, s.period
    return attr


def apply_scheduler(s: Scheduler | None) -> None:
    if s is None:
        return
    attr = sched_attr(s)
    with step(f"process.scheduler: sched_setattr {s.policy}"):
        try:
            sc.sched_setattr(attr)
        except PermissionError:
            # step() keeps an OSError's errno text only: the hint rides as the message.
            raise RuntimeError(_eperm_hint(s.policy)) from None


def _eperm_hint(policy: str) -> str:
    """Why the kernel may say EPERM, in words; the errno alone sends users guessing."""
    text = "operation not permitted"
    if policy in _RT_POLICIES:
        return (
            f"{text} (needs CAP_SYS_NICE, and where the kernel groups realtime tasks "
            "runtime in the container's cpu cgroup: linux.resources.cpu.realtimeRuntime)"
        )
    if policy == "SCHED_DEADLINE":
        # runc's words first (scheduler.bats matches them), then why.
        return (
            f"{text}: process scheduler can't be used together with AllowedCPUs "
            "(SCHED_DEADLINE needs CAP_SYS_NICE and every CPU of its root domain: no cpuset "
            "limit)"
        )
    return text


def ioprio_value(prio: IOPriority) -> int:
    if prio.cls not in IOPRIO_CLASSES:
        raise ValueError(f"process.ioPriority.class: unknown class {prio.cls!r}")
    return IOPRIO_CLASSES[prio.cls] << _IOPRIO_CLASS_SHIFT | prio.priority


def apply_io_priority(prio: IOPriority | None) -> None:
    if prio is None:
        return
    value = ioprio_value(prio)
    # IOPRIO_WHO_PROCESS: this process only (its children inherit it). runc asks for
    # its process group, the same set in init (a session leader) but not necessarily
    # in an exec'd process, where it could reach processes that are not the container's.
    with step(f"process.ioPriority: ioprio_set {prio.cls} {prio.priority}"):
        sc.ioprio_set(value)


# Every CPU the kernel may have: it clamps the mask to its own size and masks it with
# the cgroup's cpuset, so CPUs added to the cpuset later are usable too.
ALL_CPUS = range(8192)


def reset_affinity(pid: int) -> None:
    """Let `pid` run on every CPU its cgroup allows, so that a container does not
    inherit the runtime's own affinity (taskset, systemd's CPUAffinity=): runc's
    tryResetCPUAffinity, after the cgroup join."""
    try:
        os.sched_setaffinity(pid, ALL_CPUS)
    except OSError:
        pass  # as runc (a warning there): the process keeps the runtime's affinity
