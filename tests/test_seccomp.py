"""linux.seccomp on real containers: what busybox inside gets back from the kernel."""

from __future__ import annotations

import array
import ctypes
import fcntl
import json
import os
import socket
import threading
import time
from typing import Any

import pytest

from tests import host
from tests.helpers import Bundle, Runtime, proc_status

X86 = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
WAIT_KILLABLE_RECV = 1 << 5  # SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (<linux/seccomp.h>)


def _run(
    runtime: Runtime,
    bundle: Bundle,
    cid: str,
    seccomp: dict[str, Any],
    *args: str,
    nnp: bool = False,
) -> tuple[int, str]:
    bundle.config["linux"]["seccomp"] = seccomp
    bundle.config["process"]["noNewPrivileges"] = nnp
    bundle.config["root"]["readonly"] = False  # mkdir must fail for seccomp's reason only
    bundle.set_args(*args)
    r = runtime("run", "--bundle", bundle.path, cid)
    return r.code, r.out + r.err


def _deny(names: list[str], **rule: Any) -> dict[str, Any]:
    return {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": X86,
        "syscalls": [{"names": names, "action": "SCMP_ACT_ERRNO", **rule}],
    }


MKDIR = ["mkdir", "mkdirat"]


@pytest.mark.parametrize("nnp", [False, True])
def test_errno_rule_with_and_without_no_new_privs(runtime, bundle, cid, nnp) -> None:
    code, out = _run(runtime, bundle, cid, _deny(MKDIR, errnoRet=13), "mkdir", "/x", nnp=nnp)
    assert code == 1 and "Permission denied" in out
    assert not os.path.exists(os.path.join(bundle.rootfs, "x"))


def test_errno_defaults_to_eperm(runtime, bundle, cid) -> None:
    code, out = _run(runtime, bundle, cid, _deny(MKDIR), "mkdir", "/x")
    assert code == 1 and "Operation not permitted" in out


def test_unknown_syscall_names_are_skipped(runtime, bundle, cid) -> None:
    code, out = _run(runtime, bundle, cid, _deny(["no_such_call_xyz", *MKDIR]), "mkdir", "/x")
    assert code == 1 and "Operation not permitted" in out


@pytest.mark.parametrize(
    ("arg", "blocked", "allowed"),
    [
        ({"index": 1, "value": 0o700, "op": "SCMP_CMP_EQ"}, "700", "755"),
        ({"index": 1, "value": 0o700, "op": "SCMP_CMP_NE"}, "755", "700"),
        ({"index": 1, "value": 0o700, "op": "SCMP_CMP_GT"}, "755", "700"),
        ({"index": 1, "value": 0o700, "op": "SCMP_CMP_GE"}, "700", "500"),
        ({"index": 1, "value": 0o700, "op": "SCMP_CMP_LT"}, "500", "700"),
        ({"index": 1, "value": 0o700, "op": "SCMP_CMP_LE"}, "700", "755"),
        ({"index": 1, "value": 0o077, "valueTwo": 0o055, "op": "SCMP_CMP_MASKED_EQ"}, "755", "700"),
    ],
)
def test_argument_operators(runtime, bundle, cid, arg, blocked, allowed) -> None:
    # chmod(path, mode) has the mode at index 1, fchmodat(dirfd, path, mode) at 2.
    prof = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": X86,
        "syscalls": [
            {"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "args": [arg]},
            {"names": ["fchmodat"], "action": "SCMP_ACT_ERRNO", "args": [dict(arg, index=2)]},
        ],
    }
    script = f"touch /f; chmod {blocked} /f; echo A=$?; chmod {allowed} /f; echo B=$?"
    code, out = _run(runtime, bundle, cid, prof, "sh", "-c", script)
    assert "A=1" in out and "B=0" in out, out


def test_two_conditions_on_one_argument_are_or(runtime, bundle, cid) -> None:
    """runc's rule: libseccomp cannot AND one argument twice, so each is a rule (OR)."""
    args = [
        {"index": 1, "value": 0o700, "op": "SCMP_CMP_EQ"},
        {"index": 1, "value": 0o500, "op": "SCMP_CMP_EQ"},
    ]
    prof = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "args": args},
            {
                "names": ["fchmodat"],
                "action": "SCMP_ACT_ERRNO",
                "args": [dict(a, index=2) for a in args],
            },
        ],
    }
    script = "touch /f; for m in 700 500 755; do chmod $m /f; echo $m=$?; done"
    _, out = _run(runtime, bundle, cid, prof, "sh", "-c", script)
    assert "700=1" in out and "500=1" in out and "755=0" in out, out


@pytest.mark.parametrize(
    ("action", "signal_exit"),
    [
        ("SCMP_ACT_KILL_PROCESS", 159),
        ("SCMP_ACT_KILL", 159),
        ("SCMP_ACT_KILL_THREAD", 159),
        ("SCMP_ACT_TRAP", 159),
    ],
)
def test_killing_actions(runtime, bundle, cid, action, signal_exit) -> None:
    prof = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": MKDIR, "action": action}]}
    code, _ = _run(runtime, bundle, cid, prof, "mkdir", "/x")
    assert code == signal_exit  # 128 + SIGSYS


def test_log_and_trace_actions(runtime, bundle, cid) -> None:
    # LOG allows; TRACE without a tracer fails the call with ENOSYS (kernel rule).
    prof = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": MKDIR, "action": "SCMP_ACT_LOG"},
            {"names": ["rmdir"], "action": "SCMP_ACT_TRACE"},
        ],
    }
    code, out = _run(runtime, bundle, cid, prof, "sh", "-c", "mkdir /x && echo M=$?; rmdir /x")
    assert "M=0" in out and code == 1 and "not implemented" in out.lower()


def test_default_errno_ret_like_podman(runtime, bundle, cid) -> None:
    """podman: defaultAction ERRNO with defaultErrnoRet 38 (ENOSYS) and an allow list."""
    from pyrunc.linux import seccomp

    names = _all_syscall_names(seccomp)
    allowed = sorted(set(names) - {"mkdir", "mkdirat"})
    prof = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 38,
        "architectures": X86,
        "syscalls": [{"names": allowed, "action": "SCMP_ACT_ALLOW"}],
    }
    code, out = _run(runtime, bundle, cid, prof, "sh", "-c", "mkdir /x; echo rc=$?")
    assert "rc=1" in out and "not implemented" in out.lower(), out


def _all_syscall_names(seccomp) -> list[str]:  # noqa: ANN001
    lib = seccomp._lib()
    lib.seccomp_syscall_resolve_num_arch.restype = ctypes.c_void_p
    lib.seccomp_syscall_resolve_num_arch.argtypes = [ctypes.c_uint32, ctypes.c_int]
    native = lib.seccomp_arch_native()
    out = []
    for nr in range(0, 460):
        p = lib.seccomp_syscall_resolve_num_arch(native, nr)
        if p:
            out.append(ctypes.string_at(p).decode())
            ctypes.CDLL(None).free(ctypes.c_void_p(p))
    return out


def test_podman_sized_profile_loads_fast() -> None:
    """~370 names in 20 rules on podman's 3 architectures, in a child: compile
    (libseccomp, done before the root switch) and load (seccomp(2), right before
    exec) are timed apart; measured here ~11 ms and ~0.1 ms."""
    from pyrunc.linux import seccomp

    names = _all_syscall_names(seccomp)
    rules = [{"names": names[i::20], "action": "SCMP_ACT_ALLOW"} for i in range(20)]
    prof = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 38,
        "architectures": X86,
        "syscalls": rules,
    }
    seccomp.prepare(prof)  # warm: dlopen and ctypes set-up happen once per runtime
    # Best of 5: the figure is the code's, not a busy machine's (other suites run here).
    compile_ms, load_ms = min(_timed_load(seccomp, prof) for _ in range(5))
    print(f"podman-sized profile ({len(names)} names): compile {compile_ms} ms, load {load_ms} ms")
    assert load_ms < 10 and compile_ms < 50, (compile_ms, load_ms)


def _timed_load(seccomp, prof: dict[str, Any]) -> tuple[float, float]:  # noqa: ANN001
    """(compile ms, load ms) in a forked child, which the filter then confines."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        t0 = time.perf_counter()
        filt = seccomp.prepare(prof)
        t1 = time.perf_counter()
        seccomp.load(filt)
        t2 = time.perf_counter()
        os.write(w, f"{(t1 - t0) * 1000:.2f} {(t2 - t1) * 1000:.2f}".encode())
        os._exit(0)
    os.close(w)
    compile_ms, load_ms = map(float, os.read(r, 64).decode().split())
    os.close(r)
    os.waitpid(pid, 0)
    return compile_ms, load_ms


def test_filter_flags_and_status(runtime, bundle, cid) -> None:
    bundle.config["linux"]["seccomp"] = dict(
        _deny(MKDIR), flags=["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]
    )
    bundle.set_args("sleep", "60")
    runtime.ok("create", "--bundle", bundle.path, cid)
    try:
        pid = runtime.state(cid)["pid"]
        assert proc_status(pid, "Seccomp") == "2"  # loaded before `start`
        assert proc_status(pid, "Seccomp_filters") == "1"
    finally:
        runtime.ok("delete", "--force", cid)


def test_getcwd_blocked_does_not_break_cwd(runtime, bundle, cid) -> None:
    bundle.config["process"]["cwd"] = "/tmp"
    code, out = _run(runtime, bundle, cid, _deny(["getcwd"]), "sh", "-c", "ls -d . && echo ok")
    assert code == 0 and "ok" in out, out


@pytest.mark.parametrize(
    ("prof", "field"),
    [
        ({"defaultAction": "SCMP_ACT_NOTIFY"}, "linux.seccomp.defaultAction"),
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}],
            },
            "linux.seccomp.listenerPath",
        ),
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "listenerPath": "/x",
                "syscalls": [{"names": ["write"], "action": "SCMP_ACT_NOTIFY"}],
            },
            "linux.seccomp.syscalls[0].names",
        ),
    ],
)
def test_invalid_sections_are_one_line_errors(runtime, bundle, cid, prof, field) -> None:
    bundle.config["linux"]["seccomp"] = prof
    bundle.save()
    r = runtime("create", "--bundle", bundle.path, cid)
    assert r.code != 0 and field in r.err and len(r.err.strip().splitlines()) == 1, r.err
    assert runtime("state", cid).code != 0


# -- SCMP_ACT_NOTIFY -----------------------------------------------------------------

_NOTIF_RECV = 0xC0502100  # _IOWR('!', 0, struct seccomp_notif)   (80 bytes)
_NOTIF_SEND = 0xC0182101  # _IOWR('!', 1, struct seccomp_notif_resp) (24 bytes)


class _Agent(threading.Thread):
    """A seccomp agent: takes the listener from pyrunc, answers one syscall EXDEV."""

    def __init__(self, path: str) -> None:
        super().__init__(daemon=True)
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        self.server.listen(1)
        self.server.settimeout(30)
        self.state: dict[str, Any] = {}
        self.answered = 0

    def run(self) -> None:
        conn, _ = self.server.accept()
        with conn:
            data, anc, _, _ = conn.recvmsg(1 << 16, socket.CMSG_SPACE(4))
            fds = array.array("i")
            for _, _, payload in anc:
                fds.frombytes(payload)
        self.state = json.loads(data)
        fd = fds[0]
        try:
            req = bytearray(80)
            fcntl.ioctl(fd, _NOTIF_RECV, req)
            notif_id = int.from_bytes(req[0:8], "little")
            resp = notif_id.to_bytes(8, "little") + (0).to_bytes(8, "little", signed=True)
            resp += (-18).to_bytes(4, "little", signed=True) + (0).to_bytes(4, "little")
            fcntl.ioctl(fd, _NOTIF_SEND, bytearray(resp))
            self.answered += 1
        finally:
            os.close(fd)
            self.server.close()


@pytest.mark.parametrize("flags", [[], ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]])
def test_notify_sends_listener_and_state_to_agent(runtime, bundle, cid, workdir, flags) -> None:
    path = os.path.join(workdir, f"{cid}.sock")
    agent = _Agent(path)
    prof = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": path,
        "listenerMetadata": "hello-agent",
        "architectures": X86,
        "syscalls": [{"names": MKDIR, "action": "SCMP_ACT_NOTIFY"}],
        "flags": flags,  # WAIT_KILLABLE_RECV: Linux >= 5.19
    }
    if flags and not host.seccomp_flag_supported(WAIT_KILLABLE_RECV):
        # An older kernel: create says so, naming the field (the agent is never called).
        try:
            code, out = _run(runtime, bundle, cid, prof, "mkdir", "/x", nnp=True)
        finally:
            agent.server.close()
            os.unlink(path)
        assert code != 0 and "linux.seccomp.flags: " in out and flags[0] in out, out
        return
    agent.start()
    try:
        code, out = _run(runtime, bundle, cid, prof, "mkdir", "/x", nnp=True)
        agent.join(30)
    finally:
        os.unlink(path)
    assert agent.answered == 1
    assert code == 1 and "cross-device" in out.lower(), out
    st = agent.state
    assert st["fds"] == ["seccompFd"] and st["metadata"] == "hello-agent"
    assert st["state"]["id"] == cid and st["state"]["status"] == "creating"
    assert st["state"]["bundle"] == bundle.path and st["pid"] == st["state"]["pid"] > 1


def test_notify_without_agent_fails_create(runtime, bundle, cid, workdir) -> None:
    prof = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": os.path.join(workdir, "none"),
        "syscalls": [{"names": MKDIR, "action": "SCMP_ACT_NOTIFY"}],
    }
    code, out = _run(runtime, bundle, cid, prof, "true", nnp=True)
    assert code != 0 and "listenerPath" in out


# -- LSMs (hosts differ: enabled or not, asked of the kernel): runc's behaviour, never a
# silent success


def test_apparmor_profile_is_applied_or_fails_as_runc(runtime, bundle, cid) -> None:
    """A profile the kernel does not know fails create whether AppArmor is off (EINVAL)
    or on but without that profile (ENOENT); where it is on, a known one is applied."""
    bundle.config["process"]["apparmorProfile"] = "pyrunc-test-no-such-profile"
    bundle.set_args("true")
    r = runtime("create", "--bundle", bundle.path, cid)
    assert r.code != 0, "an AppArmor profile must not be silently ignored"
    assert "unable to apply apparmor profile: apparmor failed to apply profile" in r.err
    assert runtime("state", cid).code != 0
    if host.apparmor_enabled():
        bundle.config["process"]["apparmorProfile"] = "unconfined"  # always known
        bundle.set_args("cat", "/proc/self/attr/current")
        r = runtime("run", "--bundle", bundle.path, cid)
        assert r.code == 0 and r.out.strip() == "unconfined", r


def test_selinux_label_is_applied_or_refused(runtime, bundle, cid) -> None:
    """Without SELinux a label is refused naming the field; with it, the container runs
    under the label (our own, which the policy surely has)."""
    label = host.selinux_label()
    bundle.config["process"]["selinuxLabel"] = label or "system_u:system_r:container_t:s0"
    if label:
        bundle.set_args("cat", "/proc/self/attr/current")
        r = runtime("run", "--bundle", bundle.path, cid)
        assert r.code == 0 and r.out.strip("\0\n ") == label, r
        return
    bundle.set_args("true")
    r = runtime("create", "--bundle", bundle.path, cid)
    assert r.code != 0 and "process.selinuxLabel" in r.err and "SELinux" in r.err, r.err


def test_listener_path_without_notify_rules_asks_nothing(runtime, bundle, cid) -> None:
    """runc's seccomp-notify.bats: accepted, and no socket is ever connected to."""
    bundle.config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": os.path.join(bundle.path, "no-agent.sock"),
        "listenerMetadata": "bar",
    }
    bundle.set_args("true")
    r = runtime("run", "--bundle", bundle.path, cid)
    assert r.code == 0, r.err
