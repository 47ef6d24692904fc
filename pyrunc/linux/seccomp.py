"""The `linux.seccomp` section: compile with libseccomp, load with seccomp(2).

libseccomp is Debian's libseccomp2 (the library runc itself links), reached with
ctypes: no build step, no compiler, nothing on PyPI that is maintained and works
offline. It is imported lazily, only for a config that has a seccomp section.

libseccomp only *compiles* the filter here (seccomp_export_bpf); we load the BPF
ourselves with seccomp(2), as runc's patchbpf does, so the flags the spec names
(LOG, SPEC_ALLOW, WAIT_KILLABLE_RECV, the notify listener) do not depend on
which attributes this libseccomp version knows. In front of the program goes
runc's -ENOSYS stub for syscalls newer than the profile (seccomp_enosys.py); a
listener goes to the agent from the runtime (seccomp_agent.py).

Public surface for callers (init and exec): `validate(section)` (pure, no
libseccomp); `prepare(section) -> Filter` while the host's filesystem is still
ours (libseccomp.so is dlopened from it, so never after the root switch), then
`load(filter) -> listener fd or -1` right before exec; `apply` does both;
`filter_flags(section)`, the flags loaded, for the runtime's --debug line.
"""

from __future__ import annotations

import ctypes
import errno
import os

from pyrunc.linux import seccomp_enosys
from pyrunc.record import dataclass
from pyrunc.spec.lenient import arr, integer, obj

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

# Actions (seccomp.h of libseccomp; ERRNO and TRACE carry a 16-bit value).
_ACT_KILL_PROCESS = 0x80000000
_ACT_KILL_THREAD = 0x00000000
_ACT_TRAP = 0x00030000
_ACT_ERRNO = 0x00050000
_ACT_TRACE = 0x7FF00000
_ACT_NOTIFY = 0x7FC00000
_ACT_LOG = 0x7FFC0000
_ACT_ALLOW = 0x7FFF0000

_ACTIONS: dict[str, int] = {
    "SCMP_ACT_KILL": _ACT_KILL_THREAD,
    "SCMP_ACT_KILL_THREAD": _ACT_KILL_THREAD,
    "SCMP_ACT_KILL_PROCESS": _ACT_KILL_PROCESS,
    "SCMP_ACT_TRAP": _ACT_TRAP,
    "SCMP_ACT_ERRNO": _ACT_ERRNO,
    "SCMP_ACT_TRACE": _ACT_TRACE,
    "SCMP_ACT_NOTIFY": _ACT_NOTIFY,
    "SCMP_ACT_LOG": _ACT_LOG,
    "SCMP_ACT_ALLOW": _ACT_ALLOW,
}

_OPERATORS: dict[str, int] = {
    "SCMP_CMP_NE": 1,
    "SCMP_CMP_LT": 2,
    "SCMP_CMP_LE": 3,
    "SCMP_CMP_EQ": 4,
    "SCMP_CMP_GE": 5,
    "SCMP_CMP_GT": 6,
    "SCMP_CMP_MASKED_EQ": 7,
}

# seccomp(2) filter flags.
_FLAG_TSYNC = 1 << 0
_FLAG_LOG = 1 << 1
_FLAG_SPEC_ALLOW = 1 << 2
_FLAG_NEW_LISTENER = 1 << 3
_FLAG_WAIT_KILLABLE_RECV = 1 << 5
_FLAGS: dict[str, int] = {
    "SECCOMP_FILTER_FLAG_TSYNC": _FLAG_TSYNC,
    "SECCOMP_FILTER_FLAG_LOG": _FLAG_LOG,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": _FLAG_SPEC_ALLOW,
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": _FLAG_WAIT_KILLABLE_RECV,
}

_EPERM_DEFAULT = errno.EPERM  # runc's errno for ERRNO/TRACE without errnoRet
_MAX_ARGS = 6
_SYS_SECCOMP = 317  # x86_64
_SECCOMP_SET_MODE_FILTER = 1
_SCMP_FLTATR_CTL_NNP = 3


class SeccompError(ValueError):
    """A seccomp section we cannot load; the message names the field."""


# ----------------------------------------------------------------- validation


def validate(section: dict[str, Any]) -> Iterator[tuple[tuple, str]]:
    """Problems a section has whatever the kernel: (path below linux.seccomp, rule).

    Pure (no libseccomp): run at create, before anything exists. runc refuses
    the same things when it converts the spec.
    """
    if section.get("defaultAction") == "SCMP_ACT_NOTIFY":
        yield ("defaultAction",), "SCMP_ACT_NOTIFY cannot be used as default action"
    uses_notify = False
    # Run on schema-invalid documents too (pyrunc check lists every problem): look only
    # at the shapes understood, the schema check reports the rest.
    for i, rule in enumerate(arr(section.get("syscalls"))):
        rule = obj(rule)
        action = rule.get("action")
        if action == "SCMP_ACT_NOTIFY":
            uses_notify = True
            if "write" in arr(rule.get("names")):
                # We (and runc) write to the runtime after loading the filter; runc's words.
                yield (
                    ("syscalls", i, "names"),
                    "SCMP_ACT_NOTIFY cannot be used for the write syscall",
                )
        if "errnoRet" in rule and action not in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"):
            yield ("syscalls", i, "errnoRet"), "only for SCMP_ACT_ERRNO or SCMP_ACT_TRACE"
        for j, arg in enumerate(arr(rule.get("args"))):
            index = integer(obj(arg).get("index", 0))
            if index is not None and not 0 <= index < _MAX_ARGS:
                yield ("syscalls", i, "args", j, "index"), f"must be below {_MAX_ARGS}"
    if uses_notify and not section.get("listenerPath"):
        yield ("listenerPath",), "required when a rule uses SCMP_ACT_NOTIFY"
    # A listenerPath without SCMP_ACT_NOTIFY rules asks for nothing: nothing is ever
    # sent there (the spec: used "when the SCMP_ACT_NOTIFY action is used"); runc
    # accepts it too (seccomp-notify.bats).


def uses_notify(section: dict[str, Any] | None) -> bool:
    return bool(section) and any(
        r.get("action") == "SCMP_ACT_NOTIFY" for r in section.get("syscalls") or ()
    )


# ----------------------------------------------------------------- libseccomp


class _ArgCmp(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


# Built at import: load_bpf runs after the stage left the host (pyrunc/process/preload.py).
_libc = ctypes.CDLL(None, use_errno=True)
_loaded: list[ctypes.CDLL] = []  # a cache without functools (and the collections it imports)


def _lib() -> ctypes.CDLL:
    if _loaded:
        return _loaded[0]
    try:
        lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    except OSError:
        raise SeccompError(
            "linux.seccomp: libseccomp.so.2 not found (install libseccomp2)"
        ) from None
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    lib.seccomp_arch_resolve_name.restype = ctypes.c_uint32
    lib.seccomp_arch_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_syscall_resolve_name_arch.argtypes = [ctypes.c_uint32, ctypes.c_char_p]
    lib.seccomp_arch_native.restype = ctypes.c_uint32
    lib.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint, ctypes.POINTER(_ArgCmp),
    ]  # fmt: skip
    lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    _loaded.append(lib)
    return lib


def _action(name: str, errno_ret: int | None) -> int:
    base = _ACTIONS[name]
    if base in (_ACT_ERRNO, _ACT_TRACE):
        value = _EPERM_DEFAULT if errno_ret is None else errno_ret
        return base | (value & 0xFFFF)
    return base


def available() -> bool:
    """Whether the host's libseccomp can be loaded."""
    try:
        _lib()
    except SeccompError:
        return False
    return True


def features(spec_archs: list[str]) -> dict[str, Any]:
    """linux.seccomp of the runtime-spec features document (`pyrunc features`)."""
    if not available():
        return {"enabled": False}
    known = [a for a in spec_archs if _lib().seccomp_arch_resolve_name(_lib_arch_name(a))]
    return {
        "enabled": True,
        "actions": sorted(_ACTIONS),
        "operators": sorted(_OPERATORS),
        "archs": known,  # every architecture of the spec that this libseccomp knows
        "knownFlags": sorted(_FLAGS),
        # We hand the flags to seccomp(2) ourselves (libseccomp only compiles the
        # program): the kernel decides which of them it honours, so it is asked.
        "supportedFlags": sorted(name for name, bit in _FLAGS.items() if _kernel_takes(bit)),
    }


def _kernel_takes(flag: int) -> bool:
    """seccomp(SET_MODE_FILTER, flag, NULL): EFAULT once the flags passed, EINVAL when the
    kernel does not know one; nothing is loaded. WAIT_KILLABLE_RECV is asked with
    NEW_LISTENER (it means nothing without one), TSYNC alone (the two exclude each other)."""
    if flag != _FLAG_TSYNC:
        flag |= _FLAG_NEW_LISTENER
    ret = _libc.syscall(
        ctypes.c_long(_SYS_SECCOMP), ctypes.c_uint(_SECCOMP_SET_MODE_FILTER), ctypes.c_uint(flag),
        None,
    )  # fmt: skip
    return ret < 0 and ctypes.get_errno() == errno.EFAULT


def _lib_arch_name(name: str) -> bytes:
    # SCMP_ARCH_X86_64 -> "x86_64": libseccomp's own names.
    return name.removeprefix("SCMP_ARCH_").lower().encode()


def _arch_token(name: str) -> int:
    token = _lib().seccomp_arch_resolve_name(_lib_arch_name(name))
    if not token:
        raise SeccompError(f"linux.seccomp.architectures: {name} is unknown to libseccomp")
    return token


def _conditions(rule: dict[str, Any]) -> list[_ArgCmp]:
    return [
        _ArgCmp(a["index"], _OPERATORS[a["op"]], a["value"], a.get("valueTwo", 0))
        for a in rule.get("args") or ()
    ]


def _add_rule(ctx: int, action: int, nr: int, conds: list[_ArgCmp], where: str) -> None:
    arr = (_ArgCmp * len(conds))(*conds) if conds else None
    ret = _lib().seccomp_rule_add_array(ctx, action, nr, len(conds), arr)
    if ret < 0:
        raise SeccompError(f"linux.seccomp.syscalls: {where}: {os.strerror(-ret)}")


def _add_syscall_rules(ctx: int, rule: dict[str, Any], action: int, i: int) -> None:
    conds = _conditions(rule)
    indexes = [c.arg for c in conds]
    # libseccomp cannot AND two comparisons of one argument: like runc, each of
    # them then becomes a rule of its own (OR).
    groups = [[c] for c in conds] if len(set(indexes)) < len(indexes) else [conds]
    for name in rule.get("names") or ():
        nr = _lib().seccomp_syscall_resolve_name(name.encode())
        if nr < 0:
            continue  # unknown to this libseccomp (a newer profile): skipped, as runc does
        for group in groups:
            _add_rule(ctx, action, nr, group, f"[{i}] {name}")


def compile_bpf(section: dict[str, Any]) -> bytes:
    """The filter as classic BPF for the native architecture (and those listed)."""
    lib = _lib()
    default = _action(section["defaultAction"], section.get("defaultErrnoRet"))
    ctx = lib.seccomp_init(default)
    if not ctx:
        raise SeccompError("linux.seccomp.defaultAction: libseccomp refused it")
    try:
        lib.seccomp_attr_set(ctx, _SCMP_FLTATR_CTL_NNP, 0)  # we set NNP ourselves
        for arch in section.get("architectures") or ():
            ret = lib.seccomp_arch_add(ctx, _arch_token(arch))
            if ret < 0 and ret != -errno.EEXIST:
                raise SeccompError(f"linux.seccomp.architectures: {arch}: {os.strerror(-ret)}")
        for i, rule in enumerate(section.get("syscalls") or ()):
            action = _action(rule["action"], rule.get("errnoRet"))
            if action == default:
                continue  # libseccomp refuses rules that repeat the default (runc skips too)
            _add_syscall_rules(ctx, rule, action, i)
        return _enosys_stub(section) + _export(ctx)
    finally:
        lib.seccomp_release(ctx)


def _enosys_stub(section: dict[str, Any]) -> bytes:
    """runc's -ENOSYS stub for calls newer than the profile (seccomp_enosys.py)."""
    if not seccomp_enosys.wanted(section["defaultAction"], section.get("defaultErrnoRet")):
        return b""
    return seccomp_enosys.stub(_largest_syscalls(section))


def _largest_syscalls(section: dict[str, Any]) -> dict[int, int]:
    """{architecture: the largest number among the syscalls the profile names}, for
    the native architecture and those listed; names an architecture lacks are skipped."""
    lib = _lib()
    archs = {lib.seccomp_arch_native()}
    archs.update(_arch_token(a) for a in section.get("architectures") or ())
    names = {n.encode() for rule in section.get("syscalls") or () for n in rule.get("names") or ()}
    resolve = lib.seccomp_syscall_resolve_name_arch
    # Negative: unknown (-1) or a pseudo-number for a call the architecture lacks.
    return {arch: max((resolve(arch, n) for n in names), default=-1) for arch in archs}


def _export(ctx: int) -> bytes:
    fd = os.memfd_create("seccomp-bpf", os.MFD_CLOEXEC)
    try:
        ret = _lib().seccomp_export_bpf(ctx, fd)
        if ret < 0:
            raise SeccompError(f"linux.seccomp: exporting the filter: {os.strerror(-ret)}")
        size = os.fstat(fd).st_size
        return os.pread(fd, size, 0)
    finally:
        os.close(fd)


# ---------------------------------------------------------------- seccomp(2)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def filter_flags(section: dict[str, Any]) -> int:
    """What seccomp(2) gets, as runc computes it (runc's --debug line shows the number,
    which seccomp.bats checks; the CLI prints the same)."""
    names = section.get("flags")
    if names is None:
        # Flags not given (not even []): runc's default, SPEC_ALLOW where the kernel takes
        # it; without it the kernel forces the costly store-bypass mitigation on.
        names = ["SECCOMP_FILTER_FLAG_SPEC_ALLOW"] if _kernel_takes(_FLAG_SPEC_ALLOW) else []
    flags = 0
    for name in names:
        flags |= _FLAGS[name]
    # We are single-threaded here: TSYNC has nothing to sync, and the kernel
    # refuses it together with a listener.
    flags &= ~_FLAG_TSYNC
    if uses_notify(section):
        flags |= _FLAG_NEW_LISTENER
    else:
        flags &= ~_FLAG_WAIT_KILLABLE_RECV  # only defined for a listener
    return flags


def load_bpf(program: bytes, flags: int) -> int:
    """seccomp(SET_MODE_FILTER); returns the listener fd, or -1 without one."""
    buf = ctypes.create_string_buffer(program, len(program))
    prog = _SockFprog(len(program) // 8, ctypes.cast(buf, ctypes.c_void_p))
    ret = _libc.syscall(
        ctypes.c_long(_SYS_SECCOMP), ctypes.c_uint(_SECCOMP_SET_MODE_FILTER),
        ctypes.c_uint(flags), ctypes.byref(prog),
    )  # fmt: skip
    if ret < 0:
        raise SeccompError(f"loading seccomp filter: {os.strerror(ctypes.get_errno())}")
    return ret if flags & _FLAG_NEW_LISTENER else -1


@dataclass(frozen=True)
class Filter:
    """A compiled linux.seccomp section, ready to load."""

    program: bytes
    flags: int


def prepare(section: dict[str, Any] | None) -> Filter | None:
    """Check and compile a section (None for none); needs the host's libseccomp."""
    if not section:
        return None
    problem = next(validate(section), None)
    if problem is not None:
        path = "".join(f".{p}" if isinstance(p, str) else f"[{p}]" for p in problem[0])
        raise SeccompError(f"linux.seccomp{path}: {problem[1]}")
    _check_flags_supported(section)
    return Filter(compile_bpf(section), filter_flags(section))


def _check_flags_supported(section: dict[str, Any]) -> None:
    """A flag given that this kernel does not know fails here, named (runc refuses it
    when it converts the spec), not as seccomp(2)'s bare EINVAL at load."""
    for name in section.get("flags") or ():
        if _FLAGS[name] != _FLAG_TSYNC and not _kernel_takes(_FLAGS[name]):
            raise SeccompError(f"linux.seccomp.flags: {name} is not supported by this kernel")


def load(filt: Filter | None) -> int:
    """Load into the calling thread; return the notify listener fd (CLOEXEC) or -1.

    Call it as late as possible before exec: after no_new_privs is set, or else
    while still holding CAP_SYS_ADMIN (the kernel's rule, and runc's order).
    """
    if filt is None:
        return -1
    fd = load_bpf(filt.program, filt.flags)
    if fd >= 0:
        os.set_inheritable(fd, False)
    return fd


def apply(section: dict[str, Any] | None) -> int:
    """prepare + load, for a caller that still sees the host's filesystem."""
    return load(prepare(section))
