"""Generated bad and odd bundles through the real CLI (hypothesis).

Bad bundles: `create` exits non-zero with ONE line naming the field (the config path
`config.json: <path>`, or the cgroup file / mount / sysctl the kernel refused), no
traceback, no "internal error", and nothing left behind (tests/leakcheck.py after every
example, not only after the test). Odd but valid bundles run to completion with `run`.

    python3 -m pytest tests/test_fuzz.py -q                            # CI: small profile
    PYRUNC_FUZZ_EXAMPLES=1000 python3 -m pytest tests/test_fuzz.py -q  # the full run
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyrunc.spec.validate import format_path
from tests.helpers import Result, Runtime, error_message, fresh_config
from tests.leakcheck import ID_PREFIX, LeakCheck

# Bad bundles fail fast; odd ones run a container each, so they get a quarter.
EXAMPLES = int(os.environ.get("PYRUNC_FUZZ_EXAMPLES", "100"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # no .hypothesis directory in the tree; failures print their example
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ODD = settings(FUZZ, max_examples=max(EXAMPLES // 4, 5))

_ids = itertools.count()
Doc = dict[str, Any]
Path = tuple[str | int, ...]


@dataclass
class Mutation:
    """A change to config.json (and maybe the bundle) and what the error must name."""

    what: str
    names: tuple[str, ...]  # the error must contain one of these
    apply: Callable[[Doc, str], None]

    def __repr__(self) -> str:  # hypothesis prints it for a failing example
        return f"Mutation({self.what!r}, names={self.names!r})"


def put(doc: Doc, path: Path, value: Any) -> None:
    d: Any = doc
    for key in path[:-1]:
        d = d.setdefault(key, {}) if isinstance(key, str) else d[key]
    d[path[-1]] = value


def setter(path: Path, value: Any, what: str, *names: str) -> Mutation:
    return Mutation(what, names or (format_path(path),), lambda d, _b: put(d, path, value))


# -- strategies: bad bundles -------------------------------------------------------------

# JSON values of every type (no NaN/inf: config.json must be JSON).
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)

TYPED: dict[Path, type | tuple[type, ...]] = {
    ("ociVersion",): str,
    ("hostname",): str,
    ("process", "terminal"): bool,
    ("process", "user", "uid"): int,
    ("process", "user", "gid"): int,
    ("process", "args"): list,
    ("process", "env"): list,
    ("process", "cwd"): str,
    ("process", "noNewPrivileges"): bool,
    ("process", "rlimits"): list,
    ("process", "capabilities", "bounding"): list,
    ("process", "capabilities", "effective"): list,
    ("root", "path"): str,
    ("root", "readonly"): bool,
    ("mounts",): list,
    ("mounts", 0, "destination"): str,
    ("mounts", 1, "options"): list,
    ("linux", "namespaces"): list,
    ("linux", "resources", "memory", "limit"): int,
    ("linux", "resources", "pids", "limit"): int,
    ("linux", "resources", "cpu", "shares"): int,
    ("linux", "maskedPaths"): list,
    ("linux", "readonlyPaths"): list,
    ("linux", "sysctl"): dict,
    ("linux", "cgroupsPath"): str,
    ("annotations",): dict,
}


def _is(value: Any, kind: type | tuple[type, ...]) -> bool:
    if isinstance(value, bool):
        return kind is bool
    if kind is int:  # JSON Schema draft-04: 1.0 is not an integer, so a float is wrong
        return isinstance(value, int)
    return isinstance(value, kind)


@st.composite
def wrong_type(draw: st.DrawFn) -> Mutation:
    path = draw(st.sampled_from(sorted(TYPED, key=str)))
    # Not null: a null member is absent, as runc's Go decoder reads it (spec/config.py).
    value = draw(JSON.filter(lambda v: v is not None and not _is(v, TYPED[path])))
    return setter(path, value, f"wrong type at {format_path(path)}")


RANGES: dict[Path, tuple[int, int]] = {
    ("process", "user", "uid"): (0, 2**32 - 1),
    ("process", "user", "gid"): (0, 2**32 - 1),
    ("process", "user", "umask"): (0, 2**32 - 1),
    ("process", "rlimits", 0, "hard"): (0, 2**64 - 1),
    ("linux", "resources", "memory", "limit"): (-(2**63), 2**63 - 1),
    ("linux", "resources", "pids", "limit"): (-(2**63), 2**63 - 1),
    ("linux", "resources", "cpu", "shares"): (0, 2**64 - 1),
    ("linux", "resources", "memory", "swappiness"): (-1, 100),
    ("linux", "seccomp", "syscalls", 0, "args", 0, "index"): (0, 5),
}


@st.composite
def out_of_range(draw: st.DrawFn) -> Mutation:
    path = draw(st.sampled_from(sorted(RANGES, key=str)))
    low, high = RANGES[path]
    value = draw(st.integers(high + 1, high + 2**80) | st.integers(low - 2**80, low - 1))

    def apply(doc: Doc, _b: str) -> None:
        if path[1] == "seccomp":
            put(
                doc,
                ("linux", "seccomp"),
                _seccomp_rule({"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}),
            )
        put(doc, path, value)

    return Mutation(
        f"out of range {format_path(path)}={value}", (format_path(path), "swappiness"), apply
    )


def _seccomp_rule(arg: dict[str, Any] | None = None, **rule: Any) -> Doc:
    sc = {"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", **rule}
    if arg is not None:
        sc["args"] = [arg]
    return {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [sc]}


# Text that is certainly not a known name (no upper-case ASCII identifier can collide).
UNKNOWN = st.text(min_size=1, max_size=24).filter(lambda s: not s.isupper() or not s.isascii())


@st.composite
def unknown_name(draw: st.DrawFn) -> Mutation:
    name = draw(UNKNOWN | st.sampled_from(["CAP_FOO", "RLIMIT_FOO", "SCMP_ACT_FOO", "cap_kill"]))
    which = draw(
        # Not capabilities: an unknown one is dropped with a warning (runtime-spec 1.1+).
        st.sampled_from(["rlimit", "ns", "action", "arch", "op", "ioprio", "sched"])
    )
    cases: dict[str, tuple[Path, Any]] = {
        "rlimit": (("process", "rlimits"), [{"type": name, "hard": 1, "soft": 1}]),
        "ns": (("linux", "namespaces"), [{"type": name}]),
        "action": (("linux", "seccomp"), {"defaultAction": name}),
        "arch": (
            ("linux", "seccomp"),
            {"defaultAction": "SCMP_ACT_ALLOW", "architectures": [name]},
        ),
        "op": (("linux", "seccomp"), _seccomp_rule({"index": 0, "value": 1, "op": name})),
        "ioprio": (("process", "ioPriority"), {"class": name, "priority": 1}),
        "sched": (("process", "scheduler"), {"policy": name}),
    }
    path, value = cases[which]
    names = {
        "rlimit": "process.rlimits[0].type",
        "ns": "linux.namespaces[0].type",
        "action": "linux.seccomp.defaultAction",
        "arch": "linux.seccomp.architectures[0]",
        "op": "linux.seccomp.syscalls[0].args[0].op",
        "ioprio": "process.ioPriority.class",
        "sched": "process.scheduler.policy",
    }
    return setter(path, value, f"unknown {which} {name!r}", names[which])


def _without(doc: Doc, kind: str) -> None:
    doc["linux"]["namespaces"] = [n for n in doc["linux"]["namespaces"] if n["type"] != kind]


def _add_userns(doc: Doc, uids: list[Doc], gids: list[Doc] | None = None) -> None:
    doc["linux"]["namespaces"].append({"type": "user"})
    doc["linux"]["uidMappings"] = uids
    doc["linux"]["gidMappings"] = gids if gids is not None else uids


@st.composite
def contradiction(draw: st.DrawFn) -> Mutation:
    """Namespaces that contradict the rest of the config."""
    kind = draw(st.sampled_from(["pid", "network", "ipc", "uts", "mount"]))  # all in BASE
    key = draw(st.sampled_from(["net.ipv4.ip_forward", "net.core.somaxconn"]))
    one_map = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    cases = [
        Mutation(
            f"duplicate {kind}",
            ("linux.namespaces",),
            lambda d, _b: d["linux"]["namespaces"].append({"type": kind}),
        ),
        Mutation(
            "user ns without mappings",
            ("linux.uidMappings",),
            lambda d, _b: d["linux"]["namespaces"].append({"type": "user"}),
        ),
        Mutation(
            "mappings without user ns",
            ("linux.uidMappings", "linux.gidMappings"),
            lambda d, _b: d["linux"].update(uidMappings=one_map, gidMappings=one_map),
        ),
        Mutation("hostname without uts", ("hostname",), lambda d, _b: _without(d, "uts")),
        Mutation(
            f"sysctl {key} without netns",
            (f'linux.sysctl["{key}"]',),
            lambda d, _b: (_without(d, "network"), put(d, ("linux", "sysctl"), {key: "1"})),
        ),
        Mutation(
            "time offsets without time ns",
            ("linux.timeOffsets",),
            lambda d, _b: put(d, ("linux", "timeOffsets"), {"monotonic": {"secs": 1}}),
        ),
        Mutation(
            "ns path that does not exist",
            ("linux.namespaces[0]",),
            lambda d, _b: put(
                d, ("linux", "namespaces"), [{"type": kind, "path": "/nonexistent/ns"}]
            ),
        ),
    ]
    return draw(st.sampled_from(cases))


@st.composite
def bad_mapping(draw: st.DrawFn) -> Mutation:
    field = draw(st.sampled_from(["uidMappings", "gidMappings"]))
    good = {"containerID": 0, "hostID": 100000, "size": 1000}
    start = draw(st.integers(0, 999))
    shape = draw(st.sampled_from(["size", "overlap-container", "overlap-host", "overflow"]))
    if shape == "size":
        bad = [{"containerID": 0, "hostID": 100000, "size": draw(st.integers(-(2**31), 0))}]
    elif shape == "overlap-container":
        bad = [good, {"containerID": start, "hostID": 500000, "size": draw(st.integers(1, 10**6))}]
    elif shape == "overlap-host":
        bad = [
            good,
            {"containerID": 5000, "hostID": 100000 + start, "size": draw(st.integers(1, 10**6))},
        ]
    else:
        bad = [{"containerID": 0, "hostID": 2**32 - start - 1, "size": 2000}]
    maps = {"uidMappings": [good], "gidMappings": [good], field: bad}

    def apply(doc: Doc, _b: str) -> None:
        _add_userns(doc, maps["uidMappings"], maps["gidMappings"])

    return Mutation(f"{shape} in {field}: {bad}", (f"linux.{field}",), apply)


@st.composite
def bad_rlimit(draw: st.DrawFn) -> Mutation:
    kind = draw(st.sampled_from(["RLIMIT_NOFILE", "RLIMIT_CORE", "RLIMIT_NPROC", "RLIMIT_STACK"]))
    hard = draw(st.integers(0, 2**64 - 2))
    soft = draw(st.integers(hard + 1, 2**64 - 1))
    cases = [
        setter(
            ("process", "rlimits"),
            [{"type": kind, "hard": hard, "soft": soft}],
            f"{kind} soft {soft} > hard {hard}",
            "process.rlimits[0].soft",
        ),
        setter(
            ("process", "rlimits"),
            [{"type": kind, "hard": 1, "soft": 1}] * 2,
            f"duplicate {kind}",
            "process.rlimits[1].type",
        ),
        setter(
            ("process", "rlimits"),
            [{"type": kind, "soft": 1}],
            f"{kind} without hard",
            "process.rlimits[0]",
        ),
    ]
    return draw(st.sampled_from(cases))


# Values a cgroup file refuses: the error must name the file (or the config field).
CGROUP_BAD: list[tuple[Path, st.SearchStrategy[Any], tuple[str, ...]]] = [
    (("cpu", "cpus"), st.text("abcxyz!#", min_size=1, max_size=8), ("cpuset.cpus",)),
    (("cpu", "mems"), st.text("abcxyz!#", min_size=1, max_size=8), ("cpuset.mems",)),
    (("cpu", "cpus"), st.integers(4096, 10**6).map(lambda n: f"0-{n}"), ("cpuset.cpus",)),
    (("blockIO", "weight"), st.integers(1001, 65535), ("blkio", "weight")),
    (("memory", "swappiness"), st.integers(101, 2**40), ("swappiness",)),
    (("hugepageLimits",), st.just([{"pageSize": "3MB", "limit": 1}]), ("hugetlb", "pageSize")),
    (
        ("devices",),
        st.sampled_from("qxz").map(lambda t: [{"allow": True, "type": t, "access": "rwm"}]),
        ("devices",),
    ),
    (
        ("devices",),
        st.text("xyzq", min_size=1, max_size=3).map(
            lambda a: [{"allow": True, "type": "c", "access": a}]
        ),
        ("devices",),
    ),
]


@st.composite
def bad_cgroup(draw: st.DrawFn) -> Mutation:
    sub, values, names = draw(st.sampled_from(CGROUP_BAD))
    value = draw(values)
    path = ("linux", "resources", *sub)
    return setter(path, value, f"cgroup {format_path(path)}={value!r}", format_path(path), *names)


@st.composite
def bad_path(draw: st.DrawFn) -> Mutation:
    """Missing files, `..`, symlinks to nowhere, relative paths where absolute are needed."""
    name = draw(st.text(st.characters(blacklist_characters="/\0"), min_size=1, max_size=12))
    name = name if name not in (".", "..") else name + "x"
    dots = "/".join([".."] * draw(st.integers(1, 6)))

    def dangling_root(doc: Doc, bundle: str) -> None:
        os.symlink(os.path.join("/nonexistent", name), os.path.join(bundle, "dangling"))
        doc["root"]["path"] = "dangling"

    def file_root(doc: Doc, bundle: str) -> None:
        with open(os.path.join(bundle, "plainfile"), "w") as f:
            f.write("not a directory")
        doc["root"]["path"] = "plainfile"

    cases = [
        setter(("root", "path"), f"{dots}/nonexistent-{name}", "root.path with ..", "root.path"),
        setter(("root", "path"), f"missing-{name}", "missing root", "root.path"),
        Mutation("root.path a dangling symlink", ("root.path",), dangling_root),
        Mutation("root.path a file", ("root.path",), file_root),
        setter(("process", "cwd"), f"{dots}/{name}", "relative cwd", "process.cwd"),
        setter(("process", "args"), [f"/nonexistent/{name}"], "missing binary", "exec:"),
        # A relative mounts[].destination is runc's leniency now: taken from the root.
        setter(
            ("mounts",),
            [
                {
                    "destination": "/mnt",
                    "type": "bind",
                    "source": f"/nonexistent/{name}",
                    "options": ["bind"],
                }
            ],
            "missing bind source",
            'at \\"/mnt\\"',
            'at "/mnt"',
        ),
    ]
    return draw(st.sampled_from(cases))


BAD = st.one_of(
    wrong_type(),
    out_of_range(),
    unknown_name(),
    contradiction(),
    bad_mapping(),
    bad_rlimit(),
    bad_cgroup(),
    bad_path(),
)


# -- the bundle and the checks -------------------------------------------------------------


@pytest.fixture
def fuzz_bundle(workdir: str, busybox_rootfs: str) -> Iterator[str]:
    """One bundle for all examples: the rootfs is copied once, config.json per example."""
    path = os.path.join(workdir, f"fuzz-{next(_ids)}")
    os.makedirs(path)
    shutil.copytree(busybox_rootfs, os.path.join(path, "rootfs"), symlinks=True)
    yield path
    shutil.rmtree(path, ignore_errors=True)


BASE = fresh_config(["true"])


def _reset(bundle: str) -> None:
    for extra in ("dangling", "plainfile"):
        if os.path.lexists(os.path.join(bundle, extra)):
            os.unlink(os.path.join(bundle, extra))


def _write(bundle: str, doc: Doc) -> None:
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(doc, f)


def one_line(r: Result) -> str:
    assert r.code != 0, f"accepted: {r}"
    lines = r.err.strip().splitlines()
    assert len(lines) == 1, r.err
    assert "Traceback" not in r.err and "internal error" not in r.err, r.err
    return error_message(r.err)


def _cid() -> str:
    return f"{ID_PREFIX}fz{next(_ids)}"


@FUZZ
@given(mutation=BAD)
def test_bad_bundles(runtime: Runtime, fuzz_bundle: str, workdir: str, mutation: Mutation) -> None:
    check = _baseline(fuzz_bundle, workdir, runtime)
    doc = copy.deepcopy(BASE)
    _reset(fuzz_bundle)
    mutation.apply(doc, fuzz_bundle)
    _write(fuzz_bundle, doc)
    cid = _cid()
    try:
        msg = one_line(runtime("create", "--bundle", fuzz_bundle, cid))
        assert any(n in msg for n in mutation.names), f"{mutation}: {msg!r} names none of them"
    finally:
        leaks = check.leaks()
        if leaks:
            runtime("delete", "--force", cid)
        assert not leaks, f"{mutation} left {leaks}"


_baselines: dict[str, LeakCheck] = {}


def _baseline(bundle: str, workdir: str, runtime: Runtime) -> LeakCheck:
    """One snapshot per test (its bundle), compared after every example: each must
    bring the host back to it, and a second snapshot per example would double the cost."""
    if bundle not in _baselines:
        _baselines[bundle] = LeakCheck.for_run(workdir, runtime.root)
    return _baselines[bundle]


# -- odd but valid bundles: they run ------------------------------------------------------------

WORDS = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\0"), max_size=30
)
HOSTNAME = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=63)


@st.composite
def odd_bundle(draw: st.DrawFn) -> tuple[str, Callable[[Doc, str], None], str]:
    """(description, change, text the container must print)."""
    word = draw(WORDS)
    kind = draw(
        st.sampled_from(["unicode", "env", "hostname", "rlimits", "dotdot", "symlink", "limits"])
    )
    if kind == "unicode":  # unicode args, env and annotations pass through untouched

        def change(d: Doc, _b: str) -> None:
            d["process"]["args"] = ["sh", "-c", 'printf "%s" "$W"']
            d["process"]["env"].append(f"W={word}")
            d["annotations"] = {f"org.fuzz.{next(_ids)}": word}

        return f"unicode {word!r}", change, word
    if kind == "env":  # many and long variables
        n = draw(st.integers(1, 2000))

        def change(d: Doc, _b: str) -> None:
            d["process"]["env"] += [f"V{i}={'x' * (i % 300)}" for i in range(n)]
            d["process"]["args"] = ["sh", "-c", f'echo "$V{n - 1}" | wc -c']

        return f"{n} env vars", change, str(len("x" * ((n - 1) % 300)) + 1)
    if kind == "hostname":
        name = draw(HOSTNAME)
        return (
            f"hostname {name}",
            lambda d, _b: (put(d, ("hostname",), name), put(d, ("process", "args"), ["hostname"])),
            name,
        )
    if kind == "rlimits":  # any soft <= hard, up to infinity; small enough would kill stdout
        hard = draw(st.integers(1 << 20, 2**63) | st.just(2**64 - 1))
        soft = draw(st.integers(1 << 20, hard))
        shown = "unlimited" if soft == 2**64 - 1 else str(soft // 512)  # POSIX: 512-byte blocks

        def change(d: Doc, _b: str) -> None:
            d["process"]["rlimits"].append({"type": "RLIMIT_FSIZE", "hard": hard, "soft": soft})
            d["process"]["args"] = ["sh", "-c", "ulimit -f"]

        return f"FSIZE {soft}/{hard}", change, shown
    if kind == "dotdot":  # `..` in a destination stays inside the rootfs (runc cleans it)
        dots = "/".join([".."] * draw(st.integers(1, 8)))
        dest = f"/{dots}/tmp/{dots}/fuzzmnt"

        def change(d: Doc, _b: str) -> None:
            d["mounts"].append({"destination": dest, "type": "tmpfs", "source": "tmpfs"})
            d["process"]["args"] = ["sh", "-c", "grep -c ' /fuzzmnt ' /proc/self/mountinfo"]

        return f"mount at {dest}", change, "1"
    if kind == "symlink":  # a symlink to / in the rootfs is followed inside it, never out

        def change(d: Doc, bundle: str) -> None:
            os.symlink("/", os.path.join(bundle, "rootfs", "escape"))
            d["root"]["readonly"] = False
            d["mounts"].append(
                {"destination": "/escape/fuzz-escaped", "type": "tmpfs", "source": "tmpfs"}
            )
            d["process"]["args"] = ["sh", "-c", "grep -c ' /fuzz-escaped ' /proc/self/mountinfo"]

        return "mount through a symlink to /", change, "1"
    limit = draw(st.integers(64 << 20, 1 << 40))
    pids = draw(st.integers(16, 1 << 20))

    def change(d: Doc, _b: str) -> None:
        d["linux"]["resources"].update(memory={"limit": limit}, pids={"limit": pids})
        d["process"]["args"] = ["sh", "-c", "echo ok"]

    return f"memory {limit} pids {pids}", change, "ok"


@ODD
@given(case=odd_bundle())
def test_odd_bundles_run(runtime: Runtime, fuzz_bundle: str, workdir: str, case: tuple) -> None:
    what, change, expected = case
    check = _baseline(fuzz_bundle, workdir, runtime)
    doc = copy.deepcopy(BASE)
    escape = os.path.join(fuzz_bundle, "rootfs", "escape")
    if os.path.lexists(escape):
        os.unlink(escape)
    change(doc, fuzz_bundle)
    _write(fuzz_bundle, doc)
    cid = _cid()
    try:
        r = runtime("run", "--bundle", fuzz_bundle, cid)
        assert r.code == 0, f"{what}: {r}"
        assert r.out.strip() == expected.strip() or expected in r.out, f"{what}: {r.out!r}"
        assert not os.path.exists("/fuzz-escaped") and not os.path.exists("/fuzzmnt"), what
    finally:
        leaks = check.leaks()
        if leaks:
            runtime("delete", "--force", cid)
        assert not leaks, f"{what} left {leaks}"


# -- regressions the fuzzer found (kept as plain, fast cases) ---------------------------------


@pytest.mark.parametrize(
    ("uids", "text"),
    [
        (
            [{"containerID": 0, "hostID": 100000, "size": 0}],
            "linux.uidMappings[0].size: must be at least 1",
        ),
        (
            [
                {"containerID": 0, "hostID": 100000, "size": 10},
                {"containerID": 5, "hostID": 200000, "size": 10},
            ],
            "linux.uidMappings[1].containerID: overlaps linux.uidMappings[0]",
        ),
    ],
)
def test_mapping_errors_name_the_field(
    runtime: Runtime, fuzz_bundle: str, cid: str, uids: list[Doc], text: str
) -> None:
    """The kernel says only "invalid argument" when it refuses uid_map."""
    doc = copy.deepcopy(BASE)
    _add_userns(doc, uids, [{"containerID": 0, "hostID": 100000, "size": 65536}])
    _write(fuzz_bundle, doc)
    assert one_line(runtime("create", "--bundle", fuzz_bundle, cid)) == f"config.json: {text}"


def test_mount_errors_name_the_mount(runtime: Runtime, fuzz_bundle: str, cid: str) -> None:
    """Not just "/proc/self/fd/7: no such device": which mount (runc's words)."""
    doc = copy.deepcopy(BASE)
    doc["mounts"].append({"destination": "/x", "type": "nosuchfs", "source": "none"})
    _write(fuzz_bundle, doc)
    msg = one_line(runtime("create", "--bundle", fuzz_bundle, cid))
    assert 'error mounting "none" to rootfs at "/x"' in msg and "no such device" in msg, msg


@pytest.mark.parametrize("hard", [2**63, 2**64 - 2])
def test_rlimits_above_int64_run(runtime: Runtime, fuzz_bundle: str, cid: str, hard: int) -> None:
    """uint64 limits from 2^63 up failed with "Python int too large to convert to C long"."""
    doc = copy.deepcopy(BASE)
    doc["process"]["rlimits"].append({"type": "RLIMIT_FSIZE", "hard": hard, "soft": 1 << 20})
    doc["process"]["args"] = ["grep", "file size", "/proc/self/limits"]
    _write(fuzz_bundle, doc)
    r = runtime("run", "--bundle", fuzz_bundle, cid)
    assert r.code == 0, r.err
    assert r.out.split()[3:5] == [str(1 << 20), str(hard)], r.out
