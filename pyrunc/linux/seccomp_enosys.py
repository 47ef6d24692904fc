"""-ENOSYS for syscalls newer than a seccomp profile, as runc's patchbpf gives it.

A profile lists the syscalls its author knew. Under a default action that refuses
(ERRNO, KILL, TRAP, ...), a syscall added to the kernel after the profile was written
would get that refusal, EPERM say, while programs fall back to an older call only on
ENOSYS (glibc's clone3 to clone, faccessat2 to faccessat, ...). runc puts a stub in
front of the filter: per architecture, a syscall number above the largest one the
profile names gets -ENOSYS, as from a kernel that lacks it; every other call goes on
to the filter libseccomp compiled. runc's seccomp.bats checks it (syscall 1000).

Pure: the caller resolves the profile's names (libseccomp) and hands over the largest
number per libseccomp architecture; this module only writes classic BPF.
"""

from __future__ import annotations

import struct

# Classic BPF opcodes (<linux/filter.h>, <linux/bpf_common.h>).
_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JA = 0x05  # BPF_JMP | BPF_JA
_JEQ = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGT = 0x25  # BPF_JMP | BPF_JGT | BPF_K
_JSET = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_RET = 0x06  # BPF_RET | BPF_K

# struct seccomp_data: int nr; __u32 arch; ...
_OFF_NR = 0
_OFF_ARCH = 4

_ENOSYS = 38
RET_ENOSYS = 0x00050000 | _ENOSYS  # SECCOMP_RET_ERRNO | ENOSYS

# AUDIT_ARCH_* (<linux/audit.h>). libseccomp's SCMP_ARCH_* tokens are these values,
# except x32's: x32 calls arrive as x86_64's with bit 30 set in the number.
AUDIT_ARCH_X86_64 = 0xC000003E
SCMP_ARCH_X32 = 0x4000003E
_X32_SYSCALL_BIT = 0x40000000
# s390(x): a number the kernel does not know reaches the filter as 0 (its multiplexer).
_S390_ARCHS = frozenset({0x00000016, 0x80000016})

# Default actions under which a new syscall already gets what it would get from an
# old kernel, or that must see every call (a tracer handles ENOSYS itself): no stub.
_PERMISSIVE = frozenset({"SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE"})


def wanted(default_action: str, default_errno: int | None) -> bool:
    """Whether a profile with this default action gets the stub. ERRNO(ENOSYS) as the
    default would answer the same as the stub: nothing to add."""
    if default_action in _PERMISSIVE:
        return False
    return not (default_action == "SCMP_ACT_ERRNO" and default_errno == _ENOSYS)


def stub(largest: dict[int, int]) -> bytes:
    """The stub's instructions, to go in front of the filter (they fall through to it).

    largest: {libseccomp architecture token: largest syscall number the profile names
    for it}; an architecture left out (or at 0) gets no check, as in runc.
    """
    by_audit = _by_audit_arch({arch: nr for arch, nr in largest.items() if nr > 0})
    if not by_audit:
        return b""
    program: list[tuple] = [("ld", _OFF_ARCH)]
    program += [("jeq", audit, f"arch{audit}", None) for audit in by_audit]
    program.append(("ja", "filter"))
    for audit, modes in by_audit.items():
        program.append(("label", f"arch{audit}"))
        program += _section(audit, modes)
    program += [("label", "enosys"), ("ret", RET_ENOSYS), ("label", "filter")]
    return _assemble(program)


def _by_audit_arch(largest: dict[int, int]) -> dict[int, dict[str, int]]:
    """{audit arch: {mode: largest number}}; a mode is "x32", "x86_64" or "" (one ABI)."""
    out: dict[int, dict[str, int]] = {}
    for arch in sorted(largest, key=lambda a: a != AUDIT_ARCH_X86_64):  # the usual first
        if arch == SCMP_ARCH_X32:
            out.setdefault(AUDIT_ARCH_X86_64, {})["x32"] = largest[arch]
        elif arch == AUDIT_ARCH_X86_64:
            out.setdefault(arch, {})["x86_64"] = largest[arch]
        else:
            out.setdefault(arch, {})[""] = largest[arch]
    return out


def _section(audit: int, modes: dict[str, int]) -> list[tuple]:
    """The checks for one architecture: the number is loaded, then compared."""
    code: list[tuple] = [("ld", _OFF_NR)]
    if audit in _S390_ARCHS:
        code.append(("jeq", 0, "enosys", None))
    if audit != AUDIT_ARCH_X86_64:
        return code + _above(modes[""])
    if "x32" not in modes:  # x86_64 only: x32 calls go to the filter as they are
        return code + [("jset", _X32_SYSCALL_BIT, "filter", None), *_above(modes["x86_64"])]
    if "x86_64" not in modes:
        return code + [("jset", _X32_SYSCALL_BIT, None, "filter"), *_above(modes["x32"])]
    return code + [
        ("jset", _X32_SYSCALL_BIT, f"x32of{audit}", None),
        *_above(modes["x86_64"]),
        ("label", f"x32of{audit}"),
        *_above(modes["x32"]),  # x32 numbers carry the bit: libseccomp's do too
    ]


def _above(largest: int) -> list[tuple]:
    return [("jgt", largest, "enosys", "filter")]


def _assemble(program: list[tuple]) -> bytes:
    """struct sock_filter[] in host byte order, the labels resolved. A conditional
    jump reaches at most 255 instructions ahead: the stub is a few per architecture."""
    where: dict[str, int] = {}
    count = 0
    for item in program:
        if item[0] == "label":
            where[item[1]] = count  # the instruction that follows it
        else:
            count += 1
    out = bytearray()
    for item in (i for i in program if i[0] != "label"):
        at = len(out) // 8
        op = item[0]
        if op == "ld":
            out += struct.pack("=HBBI", _LD_W_ABS, 0, 0, item[1])
        elif op == "ret":
            out += struct.pack("=HBBI", _RET, 0, 0, item[1])
        elif op == "ja":
            out += struct.pack("=HBBI", _JA, 0, 0, where[item[1]] - at - 1)
        else:
            code = {"jeq": _JEQ, "jgt": _JGT, "jset": _JSET}[op]
            jt, jf = (_skip(where, label, at) for label in item[2:4])
            out += struct.pack("=HBBI", code, jt, jf, item[1])
    return bytes(out)


def _skip(where: dict[str, int], label: str | None, at: int) -> int:
    """A conditional jump's offset: None is the next instruction."""
    if label is None:
        return 0
    skip = where[label] - at - 1
    if not 0 <= skip <= 255:
        raise ValueError(f"seccomp -ENOSYS stub: jump of {skip} instructions")
    return skip
