"""runc's -ENOSYS stub in front of a seccomp filter (pyrunc/linux/seccomp_enosys.py),
run on a small classic-BPF interpreter of its own: the kernel's opcodes, not the
module's constants."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyrunc.linux.seccomp_enosys import stub, wanted

X86_64 = 0xC000003E  # AUDIT_ARCH_X86_64 = libseccomp's SCMP_ARCH_X86_64
X32 = 0x4000003E  # libseccomp's SCMP_ARCH_X32 (not an audit arch)
I386 = 0x40000003
AARCH64 = 0xC00000B7
S390X = 0x80000016
X32_BIT = 0x40000000
ENOSYS = 0x00050000 | 38  # SECCOMP_RET_ERRNO | ENOSYS
FILTER = 0x7FFF0000  # what the "filter" after the stub answers: ALLOW, as a marker


def run_bpf(program: bytes, arch: int, nr: int) -> int:
    """Classic BPF as the kernel runs a seccomp filter: seccomp_data {nr, arch}."""
    insns = [struct.unpack("=HBBI", program[i : i + 8]) for i in range(0, len(program), 8)]
    data = struct.pack("=iI", nr if nr < 1 << 31 else nr - (1 << 32), arch)
    acc, pc = 0, 0
    for _ in range(len(insns)):  # forward jumps only: each insn at most once
        code, jt, jf, k = insns[pc]
        if code == 0x20:  # BPF_LD|BPF_W|BPF_ABS
            (acc,) = struct.unpack_from("=I", data, k)
            pc += 1
        elif code == 0x06:  # BPF_RET|BPF_K
            return k
        elif code == 0x05:  # BPF_JMP|BPF_JA
            pc += 1 + k
        else:
            test = {0x15: acc == k, 0x25: acc > k, 0x45: bool(acc & k)}[code]
            pc += 1 + (jt if test else jf)
        assert pc < len(insns), "jumped past the program"
    raise AssertionError("no return")


def verdict(largest: dict[int, int], arch: int, nr: int) -> int:
    return run_bpf(stub(largest) + struct.pack("=HBBI", 0x06, 0, 0, FILTER), arch, nr)


def expected(largest: dict[int, int], arch: int, nr: int) -> int:
    """runc's rule, written from its description: above the largest number the profile
    names for the calling ABI is ENOSYS; x32 is x86_64 with bit 30 set in the number;
    s390's call 0 is the multiplexer an unknown number becomes."""
    known = {a: n for a, n in largest.items() if n > 0}
    if arch == X86_64:
        top = known.get(X32 if nr & X32_BIT else X86_64)
    else:
        top = known.get(arch)
    if top is None:
        return FILTER
    if arch == S390X and nr == 0:
        return ENOSYS
    return ENOSYS if nr > top else FILTER


def test_a_call_newer_than_the_profile_gets_enosys() -> None:
    largest = {X86_64: 439}
    assert verdict(largest, X86_64, 1000) == ENOSYS  # seccomp.bats' fake syscall
    assert verdict(largest, X86_64, 440) == ENOSYS
    assert verdict(largest, X86_64, 439) == FILTER
    assert verdict(largest, X86_64, 0) == FILTER
    assert verdict(largest, X86_64, X32_BIT | 1000) == FILTER  # no x32 in the profile
    assert verdict(largest, I386, 1000) == FILTER  # an architecture it does not name


def test_x32_and_x86_64_are_told_apart_by_bit_30() -> None:
    largest = {X86_64: 300, X32: X32_BIT | 500, I386: 400}
    assert verdict(largest, X86_64, 301) == ENOSYS
    assert verdict(largest, X86_64, X32_BIT | 400) == FILTER
    assert verdict(largest, X86_64, X32_BIT | 501) == ENOSYS
    assert verdict(largest, X86_64, 0xFFFFFFFF) == ENOSYS  # -1: bit 30 set, above x32's
    assert verdict(largest, I386, 401) == ENOSYS
    assert verdict(largest, I386, 399) == FILTER


def test_x32_alone() -> None:
    largest = {X32: X32_BIT | 500}
    assert verdict(largest, X86_64, X32_BIT | 501) == ENOSYS
    assert verdict(largest, X86_64, 9999) == FILTER  # x86_64 calls: the filter's


def test_s390_multiplexer_call_gets_enosys() -> None:
    assert verdict({S390X: 400}, S390X, 0) == ENOSYS
    assert verdict({S390X: 400}, S390X, 1) == FILTER


def test_nothing_named_means_no_stub() -> None:
    assert stub({}) == b""
    assert stub({X86_64: 0, X32: -1}) == b""


@pytest.mark.parametrize(
    ("action", "errno", "want"),
    [
        ("SCMP_ACT_ERRNO", None, True),
        ("SCMP_ACT_ERRNO", 1, True),
        ("SCMP_ACT_ERRNO", 38, False),  # the default answers ENOSYS itself
        ("SCMP_ACT_KILL", None, True),
        ("SCMP_ACT_KILL_PROCESS", None, True),
        ("SCMP_ACT_TRAP", None, True),
        ("SCMP_ACT_ALLOW", None, False),
        ("SCMP_ACT_LOG", None, False),
        ("SCMP_ACT_TRACE", None, False),  # a tracer sees every call
    ],
)
def test_which_default_actions_get_the_stub(action: str, errno: int | None, want: bool) -> None:
    assert wanted(action, errno) is want


_archs = st.sampled_from([X86_64, X32, I386, AARCH64, S390X])
_numbers = st.one_of(
    st.integers(0, 1100), st.integers(0, 1100).map(lambda n: n | X32_BIT), st.just(0xFFFFFFFF)
)


@given(
    st.dictionaries(_archs, st.integers(-1, 1000)),
    st.sampled_from([X86_64, I386, AARCH64, S390X, 0x12345678]),
    _numbers,
)
def test_stub_matches_runc_rule(largest: dict[int, int], arch: int, nr: int) -> None:
    if X32 in largest and largest[X32] > 0:
        largest[X32] |= X32_BIT  # libseccomp's x32 numbers carry the bit
    assert verdict(largest, arch, nr) == expected(largest, arch, nr)
