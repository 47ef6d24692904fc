"""cgroup v2 device control: a BPF_PROG_TYPE_CGROUP_DEVICE program assembled here,
loaded and attached with bpf(2).

The program sees (access_type, major, minor) of every open/mknod and returns 1
(allow) or 0 (deny). Rules are the config's plus the devices every container needs
(resources_v1.DEFAULT_DEVICE_RULES, as on v1); the last matching rule wins, as with
runc's device emulator: a wildcard "a *:* rwm" rule resets the default and drops the
rules before it, and the remaining ones are checked from last to first.
Imported only on v2 hosts, and only when a container's cgroup is set up.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct

from pyrunc.errors import CgroupError
from pyrunc.record import dataclass

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from typing import Any

# <linux/bpf.h>
BPF_PROG_LOAD, BPF_PROG_ATTACH, BPF_PROG_DETACH = 5, 8, 9
BPF_PROG_GET_FD_BY_ID, BPF_PROG_QUERY = 13, 16
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_MULTI = 2
SYS_BPF = 321  # x86_64

# bpf_cgroup_dev_ctx.access_type = access << 16 | type
DEV_BLOCK, DEV_CHAR = 1, 2
ACC_MKNOD, ACC_READ, ACC_WRITE = 1, 2, 4
_TYPES = {"b": DEV_BLOCK, "c": DEV_CHAR}
_ACCESS = {"m": ACC_MKNOD, "r": ACC_READ, "w": ACC_WRITE}
ALL_ACCESS = ACC_MKNOD | ACC_READ | ACC_WRITE

# Instruction encodings (class | op | source).
_LDXW = 0x61  # dst = *(u32 *)(src + off)
_AND32_K = 0x54
_RSH32_K = 0x74
_MOV32_X = 0xBC
_MOV64_K = 0xB7
_JNE_K = 0x55
_JNE_X = 0x5D
_EXIT = 0x95
R0, R1, R2, R3, R4, R5 = range(6)


@dataclass(frozen=True)
class Rule:
    type: int  # 0: any ("a")
    major: int  # -1: any
    minor: int  # -1: any
    access: int
    allow: bool


def insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def rule_from_spec(r: dict[str, Any]) -> Rule:
    kind = r.get("type", "a") or "a"
    if kind not in ("a", "b", "c"):
        raise CgroupError(f"linux.resources.devices: invalid device type {kind!r}")
    access = 0
    for ch in r.get("access") or "rwm":
        if ch not in _ACCESS:
            raise CgroupError(f"linux.resources.devices: invalid access {r.get('access')!r}")
        access |= _ACCESS[ch]
    major, minor = r.get("major"), r.get("minor")
    return Rule(
        _TYPES.get(kind, 0),
        -1 if major is None or major < 0 else major,
        -1 if minor is None or minor < 0 else minor,
        access,
        bool(r.get("allow")),
    )


def rule_from_text(text: str, allow: bool = True) -> Rule:
    """ "c 1:3 rwm" (v1 list syntax) -> Rule."""
    kind, numbers, access = text.split()
    major, minor = numbers.split(":")
    return rule_from_spec(
        {
            "type": kind,
            "major": None if major == "*" else int(major),
            "minor": None if minor == "*" else int(minor),
            "access": access,
            "allow": allow,
        }
    )


def _is_wildcard(r: Rule) -> bool:
    return r.type == 0 and r.major == -1 and r.minor == -1 and r.access == ALL_ACCESS


def effective_rules(rules: list[Rule]) -> tuple[bool, list[Rule]]:
    """(default allow?, the rules still able to change a decision, in order)."""
    default, kept = False, []
    for r in rules:
        if _is_wildcard(r):
            default, kept = r.allow, []
        elif r.allow != default or kept:
            kept.append(r)
    return default, kept


def decide(rules: list[Rule], dev_type: int, major: int, minor: int, access: int) -> bool:
    """What the program answers, computed directly: the model the unit tests hold it to."""
    default, kept = effective_rules(rules)
    for r in reversed(kept):
        if _matches(r, dev_type, major, minor, access):
            return r.allow
    return default


def _matches(r: Rule, dev_type: int, major: int, minor: int, access: int) -> bool:
    return (
        r.type in (0, dev_type)
        and r.major in (-1, major)
        and r.minor in (-1, minor)
        and access & r.access == access
    )


def _rule_block(r: Rule) -> list[bytes]:
    """Checks that jump past the block on mismatch, then return the rule's verdict."""
    checks: list[tuple[int, ...]] = []  # each: instructions, the last one a jump
    if r.type:
        checks.append((_JNE_K, R2, 0, r.type))
    if r.access != ALL_ACCESS:  # every requested bit must be in the rule's access
        checks.append((_MOV32_X, R1, R3, 0, _AND32_K, R1, 0, r.access, _JNE_X, R1, R3))
    if r.major != -1:
        checks.append((_JNE_K, R4, 0, r.major))
    if r.minor != -1:
        checks.append((_JNE_K, R5, 0, r.minor))
    n_checks = sum(3 if c[0] == _MOV32_X else 1 for c in checks)
    total = n_checks + 2  # + mov r0, exit
    out: list[bytes] = []
    for c in checks:
        if c[0] == _MOV32_X:
            out.append(insn(_MOV32_X, R1, R3))
            out.append(insn(_AND32_K, R1, imm=c[7]))
            out.append(insn(_JNE_X, R1, R3, off=total - len(out) - 1))
        else:
            out.append(insn(_JNE_K, c[1], off=total - len(out) - 1, imm=c[3]))
    out.append(insn(_MOV64_K, R0, imm=int(r.allow)))
    out.append(insn(_EXIT))
    return out


def assemble(rules: list[Rule]) -> bytes:
    default, kept = effective_rules(rules)
    prog = [
        insn(_LDXW, R2, R1, 0),
        insn(_AND32_K, R2, imm=0xFFFF),  # type
        insn(_LDXW, R3, R1, 0),
        insn(_RSH32_K, R3, imm=16),  # access
        insn(_LDXW, R4, R1, 4),  # major
        insn(_LDXW, R5, R1, 8),  # minor
    ]
    for r in reversed(kept):  # the last matching rule decides
        prog += _rule_block(r)
    prog += [insn(_MOV64_K, R0, imm=int(default)), insn(_EXIT)]
    return b"".join(prog)


# -- bpf(2) ----------------------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _bpf(cmd: int, attr: ctypes.Array) -> int:
    ret = _libc.syscall(SYS_BPF, cmd, attr, len(attr))
    if ret < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return ret


def load(program: bytes) -> int:
    code = ctypes.create_string_buffer(program, len(program))
    license_ = ctypes.create_string_buffer(b"Apache")
    log = ctypes.create_string_buffer(1 << 16)
    attr = ctypes.create_string_buffer(72)
    struct.pack_into(
        "<IIQQIIQ", attr, 0, BPF_PROG_TYPE_CGROUP_DEVICE, len(program) // 8,
        ctypes.addressof(code), ctypes.addressof(license_), 1, len(log), ctypes.addressof(log),
    )  # fmt: skip
    try:
        return _bpf(BPF_PROG_LOAD, attr)
    except OSError as e:
        detail = log.value.decode(errors="replace").strip().splitlines()[-1:] or [""]
        raise CgroupError(
            f"loading the device filter (bpf): {e.strerror.lower()} {detail[0]}".strip()
        ) from None


def _attached(cgroup_fd: int) -> list[int]:
    ids = (ctypes.c_uint32 * 64)()
    attr = ctypes.create_string_buffer(32)
    struct.pack_into("<IIIIQI", attr, 0, cgroup_fd, BPF_CGROUP_DEVICE, 0, 0,
                     ctypes.addressof(ids), 64)  # fmt: skip
    _bpf(BPF_PROG_QUERY, attr)
    count = struct.unpack_from("<I", attr, 24)[0]
    return list(ids[:count])


def _detach(cgroup_fd: int, prog_id: int) -> None:
    attr = ctypes.create_string_buffer(12)
    struct.pack_into("<I", attr, 0, prog_id)
    try:
        fd = _bpf(BPF_PROG_GET_FD_BY_ID, attr)
    except OSError as e:
        if e.errno == errno.ENOENT:
            return
        raise
    try:
        attr = ctypes.create_string_buffer(20)
        struct.pack_into("<III", attr, 0, cgroup_fd, fd, BPF_CGROUP_DEVICE)
        _bpf(BPF_PROG_DETACH, attr)
    finally:
        os.close(fd)


def install(cgroup_dir: str, spec_rules: list[dict[str, Any]], defaults: tuple[str, ...]) -> None:
    """Attach the filter for these rules to the cgroup, replacing any earlier one."""
    rules = [rule_from_spec(r) for r in spec_rules]
    # runc: the config's rules first (podman's start with deny-all), then the defaults.
    rules = ([] if spec_rules else [rule_from_spec({"allow": False})]) + rules
    rules += [rule_from_text(t) for t in defaults]
    prog_fd = load(assemble(rules))
    cg_fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        old = _attached(cg_fd)
        attr = ctypes.create_string_buffer(20)
        struct.pack_into("<IIII", attr, 0, cg_fd, prog_fd, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI)
        try:
            _bpf(BPF_PROG_ATTACH, attr)
        except OSError as e:
            raise CgroupError(
                f"attaching the device filter to {cgroup_dir}: {e.strerror.lower()}"
            ) from None
        for prog_id in old:  # with ALLOW_MULTI every program must allow: drop the old
            _detach(cg_fd, prog_id)
    finally:
        os.close(cg_fd)
        os.close(prog_fd)
