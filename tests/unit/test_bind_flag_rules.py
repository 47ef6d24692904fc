"""A bind mount's remount flags (pyrunc/linux/mount_options.py) against a model of the
kernel's remount (fs/namespace.c: path_mount's flag translation, the remount's atime
preservation, can_change_locked_flags): in a user namespace, where the source's flags
are locked, the result either is what the options ask for or the mount is refused;
the kernel never silently gives something else. No root, no container.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyrunc.linux import syscalls as sc
from pyrunc.linux.mount_options import (
    MountOptions,
    bind_remount_flags,
    bind_wants_remount,
    locked_remount_flags,
    parse_options,
    statvfs_flags,
)

FAST = settings(max_examples=500, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])  # fmt: skip

# The kernel's per-mount flags, named by the mount(2) flags that set them.
PLAIN = sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC | sc.MS_NOSYMFOLLOW
ATIME_MASK = sc.MS_NOATIME | sc.MS_NODIRATIME | sc.MS_RELATIME  # MNT_ATIME_MASK
LOCKABLE_PLAIN = sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC


class Refused(Exception):
    """EPERM from the model."""


def kernel_remount(current: int, flags: int, locked: bool) -> int:
    """The mount's flags after mount(NULL, target, NULL, MS_BIND|MS_REMOUNT|flags)."""
    new = 0 if flags & sc.MS_NOATIME else sc.MS_RELATIME  # relatime unless noatime
    new |= flags & (PLAIN | sc.MS_NOATIME | sc.MS_NODIRATIME)
    if flags & sc.MS_STRICTATIME:
        new &= ~(sc.MS_RELATIME | sc.MS_NOATIME)
    if not flags & (ATIME_MASK | sc.MS_STRICTATIME):  # a remount keeps the atime
        new = (new & ~ATIME_MASK) | (current & ATIME_MASK)
    if locked:
        if current & LOCKABLE_PLAIN & ~new:
            raise Refused
        if current & ATIME_MASK != new & ATIME_MASK:
            raise Refused
    return new


def as_statvfs(flags: int) -> int:
    """What statvfs's f_flag says of a mount with these flags."""
    table = (
        (os.ST_RDONLY, sc.MS_RDONLY), (os.ST_NOSUID, sc.MS_NOSUID),
        (os.ST_NODEV, sc.MS_NODEV), (os.ST_NOEXEC, sc.MS_NOEXEC),
        (os.ST_NOATIME, sc.MS_NOATIME), (os.ST_NODIRATIME, sc.MS_NODIRATIME),
        (os.ST_RELATIME, sc.MS_RELATIME), (0x2000, sc.MS_NOSYMFOLLOW),
    )  # fmt: skip
    return sum(st for st, ms in table if flags & ms)


def bind(source: int, opts: MountOptions, locked: bool) -> int:
    """pyrunc's procedure (mounts.remount_bind) run against the model."""
    if not bind_wants_remount(opts):
        return source
    try:
        return kernel_remount(source, bind_remount_flags(opts), locked)
    except Refused:
        flags = locked_remount_flags(opts, statvfs_flags(as_statvfs(source)))
        return kernel_remount(source, flags, locked)  # Refused here: a defect


sources = st.builds(
    lambda plain, atime, nodiratime: plain | atime | nodiratime,
    st.sampled_from([0, sc.MS_RDONLY, sc.MS_NOSUID | sc.MS_NODEV, sc.MS_NOEXEC,
                     sc.MS_RDONLY | sc.MS_NOEXEC | sc.MS_NOSYMFOLLOW]),
    st.sampled_from([0, sc.MS_NOATIME, sc.MS_RELATIME]),
    st.sampled_from([0, sc.MS_NODIRATIME]),
)  # fmt: skip
PLAIN_OPTIONS = ["ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec",
                 "nosymfollow", "symfollow", "diratime", "nodiratime", "atime",
                 "norelatime", "nostrictatime"]  # fmt: skip
options = st.builds(
    lambda plain, mode: ["bind", *plain, *mode],
    st.lists(st.sampled_from(PLAIN_OPTIONS), max_size=4),
    st.sampled_from([[], ["noatime"], ["relatime"], ["strictatime"]]),  # one mode at most
)


def mode(flags: int) -> int:
    return flags & (sc.MS_NOATIME | sc.MS_RELATIME)


@FAST
@given(sources, options)
def test_in_a_user_namespace_a_bind_gets_what_it_asks_or_is_refused(
    source: int, opt_list: list[str]
) -> None:
    opts = parse_options(opt_list)
    try:
        got = bind(source, opts, locked=True)
    except ValueError:
        return  # refused, with the reason: never a silently different mount
    if not bind_wants_remount(opts):
        assert got == source  # "bind" alone: the source's flags as they are
        return
    asked = opts.flags & (LOCKABLE_PLAIN | sc.MS_NODIRATIME)
    assert got & asked == asked
    assert not got & opts.cleared & (LOCKABLE_PLAIN | sc.MS_NOSYMFOLLOW)
    if opts.flags & sc.MS_NOATIME:
        assert mode(got) == sc.MS_NOATIME
    elif opts.flags & sc.MS_RELATIME:
        assert mode(got) == sc.MS_RELATIME
    elif opts.flags & sc.MS_STRICTATIME:
        assert mode(got) == 0
    elif not opts.flags & sc.MS_NODIRATIME:
        assert got & ATIME_MASK == source & ATIME_MASK  # no atime asked: the source's
    assert not got & sc.MS_NOSYMFOLLOW & ~opts.flags  # never locked, so never inherited
    # The source's locked flags stay, named or not.
    assert got & source & LOCKABLE_PLAIN == source & LOCKABLE_PLAIN


@FAST
@given(sources, options)
def test_without_a_user_namespace_a_bind_gets_exactly_the_flags_asked(
    source: int, opt_list: list[str]
) -> None:
    opts = parse_options(opt_list)
    got = bind(source, opts, locked=False)
    if not bind_wants_remount(opts):
        assert got == source
        return
    assert got & PLAIN == opts.flags & PLAIN  # unnamed ones cleared (implied rw)


def test_refusals_name_the_locked_flags() -> None:
    ro_noatime = statvfs_flags(os.ST_RDONLY | os.ST_NOATIME)
    try:
        locked_remount_flags(parse_options(["bind", "rw"]), ro_noatime)
    except ValueError as e:
        assert str(e) == "cannot clear locked flags ro"
    else:
        raise AssertionError("rw of a locked ro source must be refused")
    try:
        locked_remount_flags(parse_options(["bind", "relatime"]), ro_noatime)
    except ValueError as e:
        assert str(e) == "cannot change locked atime flags noatime"
    else:
        raise AssertionError("relatime of a locked noatime source must be refused")


def test_statvfs_without_an_atime_mode_is_strictatime() -> None:
    assert statvfs_flags(0) == sc.MS_STRICTATIME
    assert statvfs_flags(os.ST_RELATIME | os.ST_NODIRATIME) == sc.MS_RELATIME | sc.MS_NODIRATIME
