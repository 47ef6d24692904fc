"""Pure functions behind the CLI and the runtime, checked with hypothesis against
independent models: runc's ID regex (Go semantics), mount(8) option flags, the Linux
signal table, and cgroup v1 file semantics. Nothing here needs root or a container.
"""

from __future__ import annotations

import re
import string
from functools import reduce
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pyrunc.cgroups.resources_v1 import to_files
from pyrunc.container.signals import parse_signal
from pyrunc.container.store import validate_id
from pyrunc.errors import CgroupError, InvalidArgument, PyruncError
from pyrunc.linux.mount_options import parse_options

FAST = settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)

# ------------------------------------------------------------------ container IDs

# runc: ^[\w+-\.]+$ in Go's RE2: \w is ASCII [0-9A-Za-z_], `+-\.` is the range + , - .
# and `$` is the end of the text (Python's `$` also matches before a final "\n").
_GO_ID_CHARS = frozenset(string.ascii_letters + string.digits + "_" + "+,-.")
NAME_MAX = 255


def runc_accepts(cid: str) -> bool:
    """runc's validateID: the regex, then CleanPath("/"+id) == "/"+id (rules out . and ..)."""
    return bool(cid) and set(cid) <= _GO_ID_CHARS and cid not in (".", "..")


def test_id_model_agrees_with_the_regex_itself() -> None:
    """The hand-written model above is the regex runc uses (checked on all short IDs)."""
    go_like = re.compile(r"[\w+-\.]+", re.ASCII)
    alphabet = "a_Z9+,-./\n é*"
    for a in alphabet:
        for b in alphabet:
            for cid in (a, a + b):
                assert runc_accepts(cid) == (
                    bool(go_like.fullmatch(cid)) and cid not in (".", "..")
                ), repr(cid)


def _check_id(cid: str) -> None:
    try:
        validate_id(cid)
        accepted = True
    except InvalidArgument as e:
        accepted = False
        assert "\n" not in str(e), "an error must stay one line"
        assert str(e) == "container id cannot be empty" if not cid else "container id" in str(e)
    assert accepted == (runc_accepts(cid) and len(cid) <= NAME_MAX), repr(cid)


ID_ALPHABET = st.sampled_from(
    list(string.ascii_letters + string.digits + "_+,-./:\n\t \x00*é٣ſ") + ["\u212a"]  # Kelvin K
)


@FAST
@given(st.text(ID_ALPHABET, max_size=12))
@example("abc\n")  # Python's `$` would accept this
@example("")
@example(".")
@example("..")
@example("...")
@example("a..b")
@example("a/b")
@example("a,b")
@example("٣")  # a Unicode digit: \w in Python's default mode, not in Go's
@example("\u212a")  # KELVIN SIGN: matches [a-z] case-insensitively in Python
def test_validate_id_matches_runc(cid: str) -> None:
    _check_id(cid)


@FAST
@given(st.integers(200, 300), st.sampled_from("aZ9_+,-."))
def test_validate_id_length(length: int, char: str) -> None:
    _check_id(char * length)


# ------------------------------------------------------------------ mount options

# Linux <linux/mount.h> values, written out here rather than taken from pyrunc.
MS = {
    "RDONLY": 0x1, "NOSUID": 0x2, "NODEV": 0x4, "NOEXEC": 0x8, "SYNCHRONOUS": 0x10,
    "REMOUNT": 0x20, "MANDLOCK": 0x40, "DIRSYNC": 0x80, "NOSYMFOLLOW": 0x100,
    "NOATIME": 0x400, "NODIRATIME": 0x800, "BIND": 0x1000, "REC": 0x4000, "SILENT": 0x8000,
    "UNBINDABLE": 1 << 17, "PRIVATE": 1 << 18, "SLAVE": 1 << 19, "SHARED": 1 << 20,
    "RELATIME": 1 << 21, "I_VERSION": 1 << 23, "STRICTATIME": 1 << 24, "LAZYTIME": 1 << 25,
}  # fmt: skip

# option -> (clears?, flag), as mount(8) and runc's specconv define them.
FLAG_OPTIONS: dict[str, tuple[bool, int]] = {
    "defaults": (False, 0),
    "ro": (False, MS["RDONLY"]), "rw": (True, MS["RDONLY"]),
    "nosuid": (False, MS["NOSUID"]), "suid": (True, MS["NOSUID"]),
    "nodev": (False, MS["NODEV"]), "dev": (True, MS["NODEV"]),
    "noexec": (False, MS["NOEXEC"]), "exec": (True, MS["NOEXEC"]),
    "sync": (False, MS["SYNCHRONOUS"]), "async": (True, MS["SYNCHRONOUS"]),
    "remount": (False, MS["REMOUNT"]),
    "mand": (False, MS["MANDLOCK"]), "nomand": (True, MS["MANDLOCK"]),
    "dirsync": (False, MS["DIRSYNC"]),
    "nosymfollow": (False, MS["NOSYMFOLLOW"]), "symfollow": (True, MS["NOSYMFOLLOW"]),
    "noatime": (False, MS["NOATIME"]), "atime": (True, MS["NOATIME"]),
    "nodiratime": (False, MS["NODIRATIME"]), "diratime": (True, MS["NODIRATIME"]),
    "bind": (False, MS["BIND"]), "rbind": (False, MS["BIND"] | MS["REC"]),
    "silent": (False, MS["SILENT"]), "loud": (True, MS["SILENT"]),
    "relatime": (False, MS["RELATIME"]), "norelatime": (True, MS["RELATIME"]),
    "iversion": (False, MS["I_VERSION"]), "noiversion": (True, MS["I_VERSION"]),
    "strictatime": (False, MS["STRICTATIME"]), "nostrictatime": (True, MS["STRICTATIME"]),
    "lazytime": (False, MS["LAZYTIME"]), "nolazytime": (True, MS["LAZYTIME"]),
}  # fmt: skip
PROPAGATION = {
    "private": MS["PRIVATE"], "rprivate": MS["PRIVATE"] | MS["REC"],
    "shared": MS["SHARED"], "rshared": MS["SHARED"] | MS["REC"],
    "slave": MS["SLAVE"], "rslave": MS["SLAVE"] | MS["REC"],
    "unbindable": MS["UNBINDABLE"], "runbindable": MS["UNBINDABLE"] | MS["REC"],
}  # fmt: skip
# Recursive-attribute and runtime-only options: never mount(2) data.
RUNTIME_ONLY = ("tmpcopyup", "rro", "rrw", "idmap", "ridmap")
DATA_OPTIONS = st.one_of(
    st.sampled_from(["mode=755", "size=65536k", "newinstance", "ptmxmode=0666", "gid=5", "x"]),
    st.from_regex(r"[a-z_]{1,8}=[0-9a-z]{0,4}", fullmatch=True),
)


def _fold(flags: int, opt: str) -> int:
    clear, flag = FLAG_OPTIONS[opt]
    return flags & ~flag if clear else flags | flag


ANY_OPTION = st.one_of(
    st.sampled_from(sorted(FLAG_OPTIONS)),
    st.sampled_from(sorted(PROPAGATION)),
    st.sampled_from(RUNTIME_ONLY),
    DATA_OPTIONS,
)


@FAST
@given(st.lists(ANY_OPTION, max_size=12))
def test_parse_options_matches_model(options: list[str]) -> None:
    got = parse_options(options)
    flag_opts = [o for o in options if o in FLAG_OPTIONS]
    assert got.flags == reduce(_fold, flag_opts, 0), options
    assert got.propagation == tuple(PROPAGATION[o] for o in options if o in PROPAGATION)
    data = [o for o in options if o not in FLAG_OPTIONS | PROPAGATION and o not in RUNTIME_ONLY]
    assert got.data == ",".join(data)  # unknown options reach the kernel in their order
    assert got.extra == tuple(o for o in options if o in RUNTIME_ONLY)


@pytest.mark.parametrize(
    "options,flags",
    [
        (["ro", "rw"], 0),
        (["rw", "ro"], MS["RDONLY"]),
        (["nosuid", "suid", "nosuid"], MS["NOSUID"]),
        (["rbind", "bind"], MS["BIND"] | MS["REC"]),  # bind after rbind keeps it recursive
        (["noexec", "exec", "nodev"], MS["NODEV"]),
        (["defaults"], 0),
        (["strictatime", "nostrictatime", "relatime"], MS["RELATIME"]),
    ],
)
def test_parse_options_later_wins(options: list[str], flags: int) -> None:
    assert parse_options(options).flags == flags


def test_parse_options_engine_samples() -> None:
    """The option lists podman and containerd send (engine-protocol.md, section 5)."""
    devpts = parse_options(
        ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]
    )
    assert devpts.flags == MS["NOSUID"] | MS["NOEXEC"]
    assert devpts.data == "newinstance,ptmxmode=0666,mode=0620,gid=5"
    shm = parse_options(["bind", "rprivate", "nosuid", "noexec", "nodev"])
    assert shm.flags == MS["BIND"] | MS["NOSUID"] | MS["NOEXEC"] | MS["NODEV"]
    assert shm.propagation == (MS["PRIVATE"] | MS["REC"],) and shm.data == ""
    assert shm.is_bind and not parse_options(["ro"]).is_bind


# ------------------------------------------------------------------ signals

# The x86-64 Linux numbers (signal(7)), plus the aliases IOT and POLL.
LINUX_SIGNALS = {
    "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7,
    "FPE": 8, "KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14,
    "TERM": 15, "STKFLT": 16, "CHLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21,
    "TTOU": 22, "URG": 23, "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27, "WINCH": 28,
    "IO": 29, "POLL": 29, "PWR": 30, "SYS": 31,
}  # fmt: skip
RTMIN, RTMAX = 34, 64  # glibc reserves 32 and 33 for itself


def _random_case(draw: st.DrawFn, text: str) -> str:
    flips = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(c.lower() if f else c for c, f in zip(text, flips, strict=True))


@st.composite
def signal_names(draw: st.DrawFn) -> tuple[str, int]:
    kind = draw(st.sampled_from(["plain", "rtmin", "rtmax"]))
    if kind == "plain":
        name, number = draw(st.sampled_from(sorted(LINUX_SIGNALS.items())))
    elif kind == "rtmin":
        n = draw(st.integers(0, RTMAX - RTMIN))
        name, number = f"RTMIN+{n}", RTMIN + n
    else:
        n = draw(st.integers(0, RTMAX - RTMIN))
        name, number = f"RTMAX-{n}", RTMAX - n
    prefix = draw(st.sampled_from(["", "SIG"]))
    return _random_case(draw, prefix + name), number


@FAST
@given(signal_names())
def test_parse_signal_names(case: tuple[str, int]) -> None:
    text, number = case
    assert parse_signal(text) == number, text


@FAST
@given(st.integers(0, 10_000))
def test_parse_signal_numbers(number: int) -> None:
    if 0 <= number <= RTMAX:  # 0: kill(2)'s probe, as runc passes it on
        assert parse_signal(str(number)) == number
    else:
        with pytest.raises(InvalidArgument):
            parse_signal(str(number))


REJECTED_SIGNALS = ["RTMIN+31", "RTMAX-31", "SIGRTMIN+-1", "RTMIN+", "SIGFOO", "SIG", "", "9x",
                    "-9", "SIGKILL9", "²", "٣", "RTMIN+³"]  # fmt: skip


@pytest.mark.parametrize("text", REJECTED_SIGNALS)
def test_parse_signal_rejects(text: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        parse_signal(text)
    assert "signal" in str(err.value) and "\n" not in str(err.value)


@FAST
@given(st.text(max_size=10))
@example("²")  # str.isdigit() is true, int() raises ValueError
@example("٣")  # str.isdigit() is true, int() reads 3
def test_parse_signal_any_text(text: str) -> None:
    """A signal number or InvalidArgument: never another exception (= a traceback)."""
    try:
        number = parse_signal(text)
    except InvalidArgument:
        return
    assert 0 <= number <= RTMAX  # 0: kill(2)'s probe, as runc passes it on
    if text.strip().isdigit():
        assert text.strip().isascii(), f"{text!r} is not a number Go's Atoi reads"


# ------------------------------------------------------------------ cgroup v1 resources

# mknod of any node (linux.devices are made from inside the cgroup), then the usual devices.
DEVICE_DEFAULTS = {"c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm",
                   "c 1:9 rwm", "c 5:0 rwm", "c 5:2 rwm", "c 136:* rwm"}  # fmt: skip


def _writes(resources: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(c, f.lstrip("?"), v) for c, f, v in to_files(resources)]


def _non_device(resources: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [w for w in _writes(resources) if w[0] != "devices"]


def test_docker_update_zeroes_mean_unset() -> None:
    """docker's resources (engine-protocol.md 4.1): only the non-zero values are written."""
    doc = {
        "memory": {"limit": 100663296, "reservation": 0, "swap": 209715200, "kernel": 0},
        "cpu": {"shares": 0, "quota": 0, "period": 0},
        "blockIO": {"weight": 0},
    }
    assert _non_device(doc) == [
        ("memory", "memory.limit_in_bytes", "100663296"),
        ("memory", "memory.memsw.limit_in_bytes", "209715200"),
    ]


def test_memory_cpu_pids_values() -> None:
    doc = {
        "memory": {"limit": -1, "reservation": 1 << 20, "swappiness": 0},
        "cpu": {"shares": 512, "quota": -1, "period": 100000, "cpus": "0-1", "mems": "0"},
        "pids": {"limit": 10},
    }
    got = _non_device(doc)
    assert got == [
        ("memory", "memory.limit_in_bytes", "-1"),
        ("memory", "memory.memsw.limit_in_bytes", "-1"),  # no swap asked: unlimited too (runc)
        ("memory", "memory.soft_limit_in_bytes", str(1 << 20)),
        ("memory", "memory.swappiness", "0"),  # 0 is a real value here, not "unset"
        ("cpu", "cpu.shares", "512"),
        ("cpu", "cpu.cfs_period_us", "100000"),
        ("cpu", "cpu.cfs_quota_us", "-1"),
        ("cpuset", "cpuset.cpus", "0-1"),
        ("cpuset", "cpuset.mems", "0"),
        ("pids", "pids.max", "10"),
    ]
    assert _non_device({"pids": {"limit": -1}}) == [("pids", "pids.max", "max")]


@pytest.mark.parametrize("value", [101, 2**63])
def test_swappiness_out_of_range_is_an_error(value: int) -> None:
    with pytest.raises(CgroupError, match="swappiness"):
        list(to_files({"memory": {"swappiness": value}}))
    assert _non_device({"memory": {"swappiness": -1}}) == []  # runc's "unset"


def test_device_rules_order() -> None:
    """deny-all first, the config's rules in their order, the defaults last (as runc)."""
    rules = [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 10, "minor": 200, "access": "rwm"},
        {"allow": True, "type": "b", "major": 8, "access": "r"},
        {"allow": False, "type": "c", "major": 10, "minor": 229},
    ]
    got = [(f, v) for c, f, v in _writes({"devices": rules}) if c == "devices"]
    assert got[:5] == [
        ("devices.deny", "a"),
        ("devices.deny", "a *:* rwm"),
        ("devices.allow", "c 10:200 rwm"),
        ("devices.allow", "b 8:* r"),
        ("devices.deny", "c 10:229 rwm"),
    ]
    assert all(f == "devices.allow" for f, _ in got[5:])
    assert DEVICE_DEFAULTS <= {v for _, v in got[5:]}


def test_no_device_rules_still_deny_all() -> None:
    """Without rules runc still closes the host's devices; leaving the parent's list open
    would let a container with CAP_MKNOD use any disk."""
    got = [(f, v) for c, f, v in _writes({}) if c == "devices"]
    assert got[0] == ("devices.deny", "a")
    assert DEVICE_DEFAULTS <= {v for f, v in got if f == "devices.allow"}


RESOURCES = st.fixed_dictionaries(
    {},
    optional={
        "memory": st.fixed_dictionaries(
            {},
            optional={
                k: st.integers(-1, 1 << 40)
                for k in ("limit", "reservation", "swap", "kernelTCP")
            }
            # A kernel memory limit is refused (test_cgroup_translation): -1/0 only here.
            | {"kernel": st.integers(-1, 0)}
            | {"swappiness": st.integers(0, 100), "disableOOMKiller": st.booleans()},
        ),
        "cpu": st.fixed_dictionaries(
            {},
            optional={
                "shares": st.integers(0, 262144),
                "quota": st.integers(-1, 1 << 30),
                "period": st.integers(0, 1000000),
                "cpus": st.sampled_from(["", "0", "0-1"]),
                "mems": st.sampled_from(["", "0"]),
            },
        ),
        "pids": st.fixed_dictionaries({"limit": st.integers(-1, 1 << 20)}),
        "blockIO": st.fixed_dictionaries({"weight": st.integers(0, 1000)}),
    },
)
KNOWN_CONTROLLERS = {"memory", "cpu", "cpuset", "pids", "devices", "blkio"}


@FAST
@given(RESOURCES)
def test_resources_general(resources: dict[str, Any]) -> None:
    writes = list(to_files(resources))
    for controller, name, value in writes:
        assert controller in KNOWN_CONTROLLERS
        assert name.lstrip("?").startswith(controller + "."), name
        assert isinstance(value, str) and "\n" not in value
    files = [n.lstrip("?") for _, n, _ in writes]
    # A zero is docker's "unset": it must not be written (writing 0 to cpu.shares gives 2,
    # to a memory limit an immediate OOM).
    for section, key, name in (
        ("memory", "limit", "memory.limit_in_bytes"),
        ("memory", "swap", "memory.memsw.limit_in_bytes"),
        ("memory", "reservation", "memory.soft_limit_in_bytes"),
        ("cpu", "shares", "cpu.shares"),
        ("cpu", "quota", "cpu.cfs_quota_us"),
        ("cpu", "period", "cpu.cfs_period_us"),
        ("blockIO", "weight", "blkio.weight"),
    ):
        value = resources.get(section, {}).get(key)
        if name == "memory.memsw.limit_in_bytes" and not value:
            # An unlimited memory limit lifts memory+swap too (runc's update.bats).
            value = (resources.get("memory", {}).get("limit") or 0) < 0
        assert (name in files) == bool(value), (section, key, value)
    if "cpu.cfs_quota_us" in files and "cpu.cfs_period_us" in files:
        # A quota above the old period would be refused: the period goes first.
        assert files.index("cpu.cfs_period_us") < files.index("cpu.cfs_quota_us")
    if "memory.limit_in_bytes" in files and "memory.memsw.limit_in_bytes" in files:
        # memsw must never be below the limit when written: the limit goes first on create.
        assert files.index("memory.limit_in_bytes") < files.index("memory.memsw.limit_in_bytes")
    assert files.count("devices.deny") >= 1 and files[0] == "devices.deny"


def test_exec_cgroup_arguments_as_runc_reads_them() -> None:
    from pyrunc.cli.exec import sub_cgroup_paths

    assert sub_cgroup_paths([]) is None
    assert sub_cgroup_paths(["sub"]) == {"": "sub"}
    want = {"cpu": "a", "cpuacct": "a", "pids": "b"}
    assert sub_cgroup_paths(["cpu,cpuacct:a", "pids:b"]) == want
    bad_args = [
        (["a", "b"], "missing <controller>: prefix"),
        ([":a"], "empty <controller> prefix"),
        (["pids:a", "pids:b"], "controller pids specified multiple times"),
    ]
    for bad, text in bad_args:
        with pytest.raises(PyruncError, match=text):
            sub_cgroup_paths(bad)


def test_sub_cgroup_dir_stays_below_its_base() -> None:
    from pyrunc.cgroups.manager import sub_cgroup_dir

    base = "/sys/fs/cgroup/pids/ct"
    assert sub_cgroup_dir(base, "a/b") == base + "/a/b"
    assert sub_cgroup_dir(base, "/a") == base + "/a"
    for bad in ("..", "../ctx", "a/../../x"):
        with pytest.raises(CgroupError, match=f"bad sub cgroup path: {re.escape(bad)}"):
            sub_cgroup_dir(base, bad)
