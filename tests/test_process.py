"""process.*: args, env, cwd, user, umask, rlimits, noNewPrivileges, capabilities,
oomScoreAdj and the exec errors, read from the kernel (/proc/<pid>/...) or from what
the container itself prints, never from pyrunc's records."""

from __future__ import annotations

import json
import os
import resource
import sys
from typing import Any

import pytest

from tests import host
from tests.helpers import Bundle, Result, Runtime, create_fails, created, error_message, proc_status

# Capability numbers from <linux/capability.h>, written out rather than taken from pyrunc.
CAP = {"CAP_CHOWN": 0, "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7,
       "CAP_NET_BIND_SERVICE": 10, "CAP_NET_RAW": 13, "CAP_SYS_ADMIN": 21,
       "CAP_SYS_RESOURCE": 24, "CAP_AUDIT_WRITE": 29}  # fmt: skip
SETS = {"bounding": "CapBnd", "effective": "CapEff", "permitted": "CapPrm",
        "inheritable": "CapInh", "ambient": "CapAmb"}  # fmt: skip
# A different list in every set; ambient holds one cap that is permitted and inheritable
# (raised) and one that is not (silently skipped by the kernel's rule, as runc does).
MIXED_CAPS = {
    "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETUID", "CAP_NET_RAW",
                 "CAP_AUDIT_WRITE"],
    "effective": ["CAP_CHOWN", "CAP_KILL"],
    "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_NET_BIND_SERVICE"],
    "inheritable": ["CAP_NET_BIND_SERVICE", "CAP_NET_RAW"],
    "ambient": ["CAP_NET_BIND_SERVICE", "CAP_SETUID"],
}  # fmt: skip


def mask(*names: str) -> int:
    return sum(1 << CAP[n] for n in set(names))


def cap_sets(pid: int | str) -> dict[str, int]:
    return {name: int(proc_status(pid, field), 16) for name, field in SETS.items()}


def configure(bundle: Bundle, *args: str, **process: Any) -> Bundle:
    """Set process.args and any other process.* keys (JSON names)."""
    bundle.config["process"]["args"] = list(args)
    bundle.config["process"].update(process)
    return bundle.save()


def run(runtime: Runtime, bundle: Bundle, cid: str) -> Result:
    r = runtime("run", "--bundle", bundle.path, cid)
    assert r.code == 0, r.err
    return r


# A runtime started by a careless parent: supplementary groups, a strict umask, inheritable
# and ambient capabilities and a stray variable. None of it may reach the container.
_HOSTILE_PARENT = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
os.setgroups([4242, 4343])
os.umask(0o077)
hdr = (ctypes.c_uint32 * 2)(0x20080522, 0)
data = (ctypes.c_uint32 * 6)()  # {effective, permitted, inheritable} x 2
assert libc.capget(hdr, data) == 0
data[2] |= (1 << 13) | (1 << 21)  # CAP_NET_RAW, CAP_SYS_ADMIN inheritable
assert libc.capset(hdr, data) == 0
assert libc.prctl(47, 2, 21, 0, 0) == 0  # PR_CAP_AMBIENT_RAISE CAP_SYS_ADMIN
os.environ["LEAKED_FROM_RUNTIME"] = "1"
os.execv(sys.argv[1], sys.argv[1:])
"""


@pytest.fixture
def hostile(state_root: str) -> Runtime:
    return Runtime(state_root, [sys.executable, "-c", _HOSTILE_PARENT, sys.executable, "-m",
                                "pyrunc"])  # fmt: skip


# -- args, env, cwd -----------------------------------------------------------------------


def test_args_reach_the_process_verbatim(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    configure(bundle, "sh", "-c", 'printf "[%s]" "$@"', "arg0", "a b", "", "ü", "$HOME", "'\"")
    assert run(runtime, bundle, cid).out == "[a b][][ü][$HOME]['\"]"


def test_env_is_exactly_the_configs(hostile: Runtime, bundle: Bundle, cid: str) -> None:
    """Only process.env (a repeated name: first place, last value) plus HOME, like runc;
    nothing of the runtime's own environment."""
    configure(bundle, "env", env=["PATH=/bin", "A=1", "B=x=y", "EMPTY=", "A=2"])
    out = run(hostile, bundle, cid).out
    assert out.splitlines() == ["PATH=/bin", "A=2", "B=x=y", "EMPTY=", "HOME=/root"]


@pytest.mark.parametrize(
    "uid,env,home",
    [
        (1234, [], "/home/app"),  # from the container's /etc/passwd, not the host's
        (65534, [], "/"),
        (4321, [], "/"),  # no passwd entry
        (1234, ["HOME=/mine"], "/mine"),
        (0, ["HOME="], "/root"),  # empty counts as unset
    ],
)
def test_env_home(
    runtime: Runtime, bundle: Bundle, cid: str, uid: int, env: list[str], home: str
) -> None:
    with open(os.path.join(bundle.rootfs, "etc", "passwd"), "a") as f:
        f.write("app:x:1234:1234:app:/home/app:/bin/sh\n")
    configure(bundle, "sh", "-c", 'echo "$HOME"', env=["PATH=/bin", *env],
              user={"uid": uid, "gid": uid})  # fmt: skip
    assert run(runtime, bundle, cid).out == home + "\n"


@pytest.mark.parametrize(
    "entry,text",
    [
        ("NOEQUALS", 'invalid environment variable: "NOEQUALS"'),
        ("=value", 'environment variable name can\'t be empty: "=value"'),
    ],
)
def test_env_malformed_entry_fails_create(
    runtime: Runtime, bundle: Bundle, cid: str, entry: str, text: str
) -> None:
    configure(bundle, "true", env=["PATH=/bin", entry])
    assert text in create_fails(runtime, bundle, cid)


def test_cwd(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    os.makedirs(os.path.join(bundle.rootfs, "srv", "app dir"))
    configure(bundle, "pwd", cwd="/srv/app dir")
    assert run(runtime, bundle, cid).out == "/srv/app dir\n"


def test_cwd_the_user_cannot_enter_but_the_runtime_can(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    """runc's cwd.bats: the chdir happens before the user switch where it can (runc's
    finalizeNamespace), so uid 42 starts in a 0700 directory of root's."""
    secret = os.path.join(bundle.rootfs, "secret")
    os.makedirs(secret)
    os.chmod(secret, 0o700)
    configure(bundle, "sh", "-c", "pwd; id -u", cwd="/secret", user={"uid": 42, "gid": 42})
    assert run(runtime, bundle, cid).out == "/secret\n42\n"


def test_stdio_belongs_to_the_process_user(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """runc's fixStdioPermissions (tty.bats [tty owner]): the stdio the runtime hands
    over becomes the user's (uid only), /dev/null excepted."""
    configure(bundle, "sh", "-c", "stat -L -c %u /proc/self/fd/0 /proc/self/fd/1",
              user={"uid": 1000, "gid": 100})  # fmt: skip
    assert run(runtime, bundle, cid).out.split() == ["0", "1000"]  # stdin: /dev/null


def test_cap_dac_override_runs_a_program_without_the_users_x_bit(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    """runc's start_hello.bats: /bin/busybox executable by root only; uid 1000 cannot
    run it, unless its capabilities include CAP_DAC_OVERRIDE (the kernel's rule)."""
    os.chmod(os.path.join(bundle.rootfs, "bin", "busybox"), 0o744)
    configure(bundle, "/bin/true", user={"uid": 1000, "gid": 100}, noNewPrivileges=False)
    assert "permission denied" in create_fails(runtime, bundle, cid)
    caps = {k: ["CAP_DAC_OVERRIDE"] for k in
            ("bounding", "effective", "permitted", "inheritable", "ambient")}  # fmt: skip
    configure(bundle, "/bin/true", user={"uid": 1000, "gid": 100}, capabilities=caps,
              noNewPrivileges=False)  # fmt: skip
    run(runtime, bundle, cid)


def test_cwd_missing_is_a_clear_error(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    # runc 1.1 would mkdir it in the rootfs; we refuse, naming the field and the path.
    configure(bundle, "pwd", cwd="/does/not/exist")
    msg = create_fails(runtime, bundle, cid)
    assert "cwd" in msg and "/does/not/exist: no such file or directory" in msg, msg
    assert not os.path.exists(os.path.join(bundle.rootfs, "does"))


# -- user, groups, umask -------------------------------------------------------------------


def test_user_uid_gid_groups(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    configure(bundle, "sh", "-c", "id; grep -E '^(Uid|Gid|Groups):' /proc/self/status",
              user={"uid": 1000, "gid": 1001, "additionalGids": [5, 7]})  # fmt: skip
    with created(runtime, bundle, cid) as pid:
        assert proc_status(pid, "Uid").split() == ["1000"] * 4
        assert proc_status(pid, "Gid").split() == ["1001"] * 4
        assert proc_status(pid, "Groups").split() == ["5", "7"]
    out = run(runtime, bundle, cid).out.splitlines()
    assert out[0] == "uid=1000 gid=1001 groups=5(tty),7"
    assert out[1:] == ["Uid:\t1000\t1000\t1000\t1000", "Gid:\t1001\t1001\t1001\t1001",
                       "Groups:\t5 7 "]  # fmt: skip


def test_no_groups_from_the_runtime(hostile: Runtime, bundle: Bundle, cid: str) -> None:
    configure(bundle, "true", user={"uid": 0, "gid": 0})
    with created(hostile, bundle, cid) as pid:
        assert proc_status(pid, "Groups") == ""
        assert proc_status(pid, "Uid").split() == ["0"] * 4


@pytest.mark.parametrize("umask,shown", [(None, "0022"), (0o027, "0027"), (0, "0000")])
def test_umask(hostile: Runtime, bundle: Bundle, cid: str, umask: int | None, shown: str) -> None:
    """The runtime runs with umask 077: the container gets the config's, or runc's 022."""
    user: dict[str, Any] = {"uid": 0, "gid": 0}
    if umask is not None:
        user["umask"] = umask
    configure(bundle, "sh", "-c", "umask", user=user)
    assert run(hostile, bundle, cid).out == shown + "\n"


# -- rlimits, noNewPrivileges, oomScoreAdj -------------------------------------------------


def _limits(pid: int | str) -> dict[str, tuple[str, str]]:
    with open(f"/proc/{pid}/limits") as f:
        rows = f.read().splitlines()[1:]
    return {row[:26].strip(): tuple(row[26:].split()[:2]) for row in rows}  # type: ignore[misc]


def test_rlimits_soft_and_hard(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    configure(bundle, "sleep", "5", rlimits=[
        {"type": "RLIMIT_NOFILE", "soft": 123, "hard": 456},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 2**64 - 1},  # the spec's "unlimited"
        {"type": "RLIMIT_NPROC", "soft": 77, "hard": 88},
        {"type": "RLIMIT_MSGQUEUE", "soft": 4096, "hard": 8192},
    ])  # fmt: skip
    with created(runtime, bundle, cid) as pid:
        limits = _limits(pid)
        assert limits["Max open files"] == ("123", "456")
        assert limits["Max core file size"] == ("0", "unlimited")
        assert limits["Max processes"] == ("77", "88")
        assert limits["Max msgqueue size"] == ("4096", "8192")
        runtime.ok("start", cid)
        assert _limits(pid)["Max open files"] == ("123", "456")  # the user's process too


def test_rlimit_above_our_hard_limit_fails_like_runc(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    """Raising a hard limit needs CAP_SYS_RESOURCE (absent from some hosts' bounding set)
    and stays within fs.nr_open: where the runtime may, the container gets it."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1] + 1
    configure(bundle, "true", rlimits=[{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": hard}])
    if host.can_raise_nofile_to(hard):
        with created(runtime, bundle, cid) as pid:
            assert _limits(pid)["Max open files"] == ("1024", str(hard))
        return
    msg = create_fails(runtime, bundle, cid)
    assert "error setting rlimit type 7: operation not permitted" in msg, msg


@pytest.mark.parametrize("nnp", [True, False])
def test_no_new_privileges(runtime: Runtime, bundle: Bundle, cid: str, nnp: bool) -> None:
    configure(bundle, "sh", "-c", "grep NoNewPrivs /proc/self/status", noNewPrivileges=nnp)
    with created(runtime, bundle, cid) as pid:
        assert proc_status(pid, "NoNewPrivs") == str(int(nnp))
    assert run(runtime, bundle, cid).out == f"NoNewPrivs:\t{int(nnp)}\n"


def test_oom_score_adj(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    configure(bundle, "cat", "/proc/self/oom_score_adj", oomScoreAdj=503)
    with created(runtime, bundle, cid) as pid:
        assert open(f"/proc/{pid}/oom_score_adj").read() == "503\n"
    assert run(runtime, bundle, cid).out == "503\n"
    assert open("/proc/self/oom_score_adj").read() != "503\n"  # ours is untouched


def test_oom_score_adj_below_ours(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """Lowering it needs CAP_SYS_RESOURCE: without, a clear error (runc fails too)."""
    configure(bundle, "cat", "/proc/self/oom_score_adj", oomScoreAdj=-503)
    if host.capable(host.CAP_SYS_RESOURCE):
        assert run(runtime, bundle, cid).out == "-503\n"
    else:
        assert "oom_score_adj: permission denied" in create_fails(runtime, bundle, cid)


# -- capabilities ---------------------------------------------------------------------------


@pytest.mark.parametrize("uid", [0, 1000])
def test_capability_sets_before_exec(runtime: Runtime, bundle: Bundle, cid: str, uid: int) -> None:
    """All five sets exactly as listed; ambient only where the kernel allows it."""
    configure(bundle, "true", capabilities=MIXED_CAPS, noNewPrivileges=False,
              user={"uid": uid, "gid": uid})  # fmt: skip
    with created(runtime, bundle, cid) as pid:
        got = cap_sets(pid)
    want = {name: mask(*caps) for name, caps in MIXED_CAPS.items()}
    want["ambient"] = mask("CAP_NET_BIND_SERVICE")  # SETUID is neither permitted nor inheritable
    assert got == want, {k: (hex(got[k]), hex(want[k])) for k in got}


def test_capabilities_after_exec_non_root(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """A non-root process keeps across execve exactly its ambient capabilities."""
    configure(bundle, "cat", "/proc/self/status", capabilities=MIXED_CAPS,
              noNewPrivileges=False, user={"uid": 1000, "gid": 1000})  # fmt: skip
    status = dict(line.split(":\t", 1) for line in run(runtime, bundle, cid).out.splitlines())
    amb = mask("CAP_NET_BIND_SERVICE")
    assert {f: int(status[f], 16) for f in SETS.values()} == {
        "CapBnd": mask(*MIXED_CAPS["bounding"]), "CapEff": amb, "CapPrm": amb,
        "CapInh": mask(*MIXED_CAPS["inheritable"]), "CapAmb": amb,
    }  # fmt: skip


def test_unraisable_ambient_capability_is_a_warning(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    """runc's capabilities.bats: an ambient capability that is not inheritable is not
    raised, and runc warns of it in these words (plain stderr, or the JSON log)."""
    configure(bundle, "true", capabilities=MIXED_CAPS, noNewPrivileges=False)
    r = runtime("run", "--bundle", bundle.path, cid)
    assert r.code == 0, r.err
    assert "can't raise ambient capability CAP_SETUID: operation not permitted" in r.err, r.err
    assert "CAP_NET_BIND_SERVICE" not in r.err  # permitted and inheritable: raised
    log = os.path.join(bundle.path, "log.json")
    r = runtime("run", "--bundle", bundle.path, cid,
                global_args=("--log", log, "--log-format", "json"))  # fmt: skip
    assert r.code == 0 and r.err == "", r.err
    with open(log) as f:
        entries = [json.loads(line) for line in f]
    assert any(e["level"] == "warning" and "CAP_SETUID" in e["msg"] for e in entries), entries


def test_unknown_capabilities_are_ignored_with_a_warning(
    runtime: Runtime, bundle: Bundle, cid: str
) -> None:
    """runtime-spec 1.1+: a name that cannot be mapped to the kernel is "logged as a
    warning" and the runtime "SHOULD NOT fail"; the others are granted (runc's words)."""
    caps = {s: ["CAP_KILL", "CAP_UNKNOWN"] for s in ("bounding", "effective", "permitted")}
    caps["bounding"].append("UNKNOWN_CAP")
    configure(bundle, "sleep", "100", capabilities=caps)
    r = runtime("create", "--bundle", bundle.path, cid)
    try:
        assert r.code == 0, r.err
        assert "ignoring unknown or unavailable capabilities: [CAP_UNKNOWN UNKNOWN_CAP]" in r.err
        pid = runtime.state(cid)["pid"]
        assert cap_sets(pid) == {"bounding": mask("CAP_KILL"), "effective": mask("CAP_KILL"),
                                 "permitted": mask("CAP_KILL"), "inheritable": 0, "ambient": 0}
        runtime.ok("start", cid)
        # exec --cap adds to the config's sets; an unknown one is dropped the same way.
        e = runtime("exec", "--cap", "CAP_CHOWN", "--cap", "CAP_NOPE", cid,
                    "cat", "/proc/self/status")  # fmt: skip
        assert e.code == 0, e.err
        assert "ignoring unknown or unavailable capabilities: [CAP_NOPE]" in e.err, e.err
        status = dict(line.split(":\t", 1) for line in e.out.splitlines())
        assert int(status["CapEff"], 16) == mask("CAP_KILL", "CAP_CHOWN")
    finally:
        runtime("delete", "--force", cid)


def test_capabilities_after_exec_root(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """uid 0 regains every bounding capability at execve: the bounding set is the limit."""
    configure(bundle, "cat", "/proc/self/status", capabilities=MIXED_CAPS, noNewPrivileges=False)
    status = dict(line.split(":\t", 1) for line in run(runtime, bundle, cid).out.splitlines())
    bnd = mask(*MIXED_CAPS["bounding"])
    assert int(status["CapEff"], 16) == int(status["CapPrm"], 16) == bnd
    assert int(status["CapBnd"], 16) == bnd


def test_no_inheritable_or_ambient_unless_asked(hostile: Runtime, bundle: Bundle, cid: str) -> None:
    """The runtime itself has CapInh/CapAmb: the container must not inherit them."""
    assert {"inheritable", "ambient"}.isdisjoint(bundle.config["process"]["capabilities"])
    configure(bundle, "true")
    with created(hostile, bundle, cid) as pid:
        got = cap_sets(pid)
    default = mask("CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE")
    assert got == {"bounding": default, "effective": default, "permitted": default,
                   "inheritable": 0, "ambient": 0}  # fmt: skip


def test_no_capabilities_section_means_none(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    del bundle.config["process"]["capabilities"]
    configure(bundle, "true")
    with created(runtime, bundle, cid) as pid:
        assert set(cap_sets(pid).values()) == {0}


def test_effective_not_permitted_fails(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """capset(2) would refuse it (runc fails with EPERM at start): refused at validation,
    naming the capability and the field, before anything is made."""
    caps = {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": []}
    configure(bundle, "true", capabilities=caps)
    msg = create_fails(runtime, bundle, cid)
    assert "process.capabilities.effective[0]: CAP_KILL is not in" in msg, msg


# -- exec errors: the texts podman and docker map to exit codes ------------------------------


@pytest.mark.parametrize(
    "args,text",
    [
        (["no-such-cmd"], 'exec: "no-such-cmd": executable file not found in $PATH'),
        (["/nonexistent"], 'exec: "/nonexistent": stat /nonexistent: no such file or directory'),
        (["/etc/passwd"], 'exec: "/etc/passwd": permission denied'),
        (["/tmp"], 'exec: "/tmp": permission denied'),
    ],
)
def test_exec_errors(
    runtime: Runtime, bundle: Bundle, cid: str, args: list[str], text: str
) -> None:
    configure(bundle, *args)
    assert text in create_fails(runtime, bundle, cid)
    r = runtime("run", "--bundle", bundle.path, cid)
    assert r.code == 1 and text in error_message(r.err), r.err
    assert r.out == ""


def test_exec_permission_is_the_users(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """Executable for root only: uid 1000 gets permission denied (checked as that user)."""
    tool = os.path.join(bundle.rootfs, "bin", "rootonly")
    with open(tool, "w") as f:
        f.write("#!/bin/sh\necho ran\n")
    os.chmod(tool, 0o744)
    configure(bundle, "/bin/rootonly", user={"uid": 1000, "gid": 1000})
    assert 'exec: "/bin/rootonly": permission denied' in create_fails(runtime, bundle, cid)
    configure(bundle, "/bin/rootonly", user={"uid": 0, "gid": 0})
    assert run(runtime, bundle, cid).out == "ran\n"


def test_lookup_uses_the_configs_path(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """PATH is the container's (its last value, as os.Setenv leaves it), not the runtime's."""
    os.makedirs(os.path.join(bundle.rootfs, "opt", "tools"))
    os.symlink("/bin/busybox", os.path.join(bundle.rootfs, "opt", "tools", "hello"))
    configure(bundle, "hello", env=["PATH=/bin"])
    assert "executable file not found in $PATH" in create_fails(runtime, bundle, cid)
    configure(bundle, "hello", env=["PATH=/bin", "PATH=/opt/tools"])
    r = runtime("run", "--bundle", bundle.path, cid)
    # busybox run as "hello": unknown applet, but it did run.
    assert "applet not found" in r.err and r.code != 0


def test_env_matches_runc(runtime: Runtime, runc: Runtime, bundle: Bundle, cid: str) -> None:
    configure(bundle, "env", env=["PATH=/bin", "A=1", "B=x=y", "A=2", "EMPTY="],
              user={"uid": 65534, "gid": 65534})  # fmt: skip
    ours = run(runtime, bundle, cid).out
    theirs = runc("run", "--bundle", bundle.path, cid)
    assert theirs.code == 0, theirs.err
    assert ours == theirs.out
