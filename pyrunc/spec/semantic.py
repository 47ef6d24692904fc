"""Checks on config.json that a JSON schema cannot express.

Run after :func:`pyrunc.spec.validate.validate_config`; the rules follow what
runc refuses at create time (libcontainer/configs/validate and specconv), with
messages in the validator's one-line format ``config.json: <path>: <rule>``.
The functions tolerate schema-invalid documents (they skip what has the wrong
shape) so that `pyrunc check` can list both kinds of problems together.
"""

from __future__ import annotations

import os

from pyrunc import jsonio as json  # not json: CONTRIBUTING.md, Imports
from pyrunc.errors import ConfigError
from pyrunc.spec.capnames import CAPABILITIES
from pyrunc.spec.idlist import parse_cpu_list
from pyrunc.spec.lenient import arr, obj, text
from pyrunc.spec.validate import format_path

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from collections.abc import Iterator

_CAPABILITY_SET = frozenset(CAPABILITIES)

#: Resource limits setrlimit(2) knows on Linux.
RLIMITS: frozenset[str] = frozenset(
    "RLIMIT_" + name
    for name in (
        "AS CORE CPU DATA FSIZE LOCKS MEMLOCK MSGQUEUE NICE NOFILE NPROC RSS RTPRIO RTTIME "
        "SIGPENDING STACK"
    ).split()
)

_CAP_SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")
# Sysctls living in the ipc namespace besides the fs.mqueue.* family.
_IPC_SYSCTLS = frozenset(
    "kernel." + name
    for name in (
        "msgmax",
        "msgmnb",
        "msgmni",
        "sem",
        "shmall",
        "shmmax",
        "shmmni",
        "shm_rmid_forced",
    )
)
_IFNAMSIZ = 16

Problem = tuple[tuple, str]


def _shown(value: str) -> str:
    """`value` for a message; quoted when it would break the one-line format."""
    return value if value.isprintable() else json.dumps(value)


# ---------------------------------------------------------------- top level


def _version(doc: dict) -> Iterator[Problem]:
    version = doc.get("ociVersion")
    if not isinstance(version, str):
        return
    major = _major(version)
    if major is None:
        yield ("ociVersion",), "expected a version such as 1.2.0"
    elif int(major) != 1:
        yield ("ociVersion",), f"unsupported major version {major} (expected 1)"


def _major(version: str) -> str | None:
    """X of a version that starts X.Y.Z (ASCII digits, anything after Z), else None."""
    parts = version.split(".", 2)
    if len(parts) < 3 or not all(p.isascii() and p.isdigit() for p in parts[:2]):
        return None
    return parts[0] if parts[2][:1].isascii() and parts[2][:1].isdigit() else None


def _root(doc: dict, bundle: str) -> Iterator[Problem]:
    root = doc.get("root")
    if root is None:
        # Optional in the schema only for Hyper-V containers; Linux needs one.
        yield ("root",), "required"
        return
    path = obj(root).get("path")
    if not isinstance(path, str):
        return
    if path == "":
        yield ("root", "path"), "expected a non-empty string"
        return
    full = os.path.join(bundle, path)
    if not os.path.exists(full):
        yield ("root", "path"), f"{_shown(full)} does not exist"
    elif not os.path.isdir(full):
        yield ("root", "path"), f"{_shown(full)} is not a directory"


def _devices(linux: dict) -> Iterator[Problem]:
    # The spec's "full path to device inside container": a relative one has no meaning
    # (and would be resolved against whatever directory init happens to be in).
    for i, dev in enumerate(arr(linux.get("devices"))):
        path = obj(dev).get("path")
        if isinstance(path, str) and not path.startswith("/"):
            yield ("linux", "devices", i, "path"), "must be an absolute path"


# ------------------------------------------------------------------ process


def _process(doc: dict) -> Iterator[Problem]:
    # A config without `process` may be created; `start` refuses it later.
    proc = doc.get("process")
    if not isinstance(proc, dict):
        return
    if not arr(proc.get("args")):
        yield ("process", "args"), "expected a non-empty array"
    cwd = proc.get("cwd")
    if isinstance(cwd, str) and not cwd.startswith("/"):
        yield ("process", "cwd"), "must be an absolute path"
    yield from _capabilities(obj(proc.get("capabilities")))
    yield from _rlimits(arr(proc.get("rlimits")))
    yield from _io_priority(obj(proc.get("ioPriority")))
    yield from _scheduler(obj(proc.get("scheduler")))
    yield from _console_size(obj(proc.get("consoleSize")))
    yield from _exec_cpu_affinity(obj(proc.get("execCPUAffinity")))
    if proc.get("selinuxLabel"):
        from pyrunc.linux.lsm import selinux_enabled

        if not selinux_enabled():  # runc's validator refuses it the same way
            yield ("process", "selinuxLabel"), "SELinux is disabled or not supported"


def _mount_label(linux: dict) -> Iterator[Problem]:
    # Without SELinux the kernel takes no context= option (runc passes it and the tmpfs
    # mounts fail): refused here, in the words of the process label's refusal.
    if text(linux.get("mountLabel")):
        from pyrunc.linux.lsm import selinux_enabled

        if not selinux_enabled():
            yield ("linux", "mountLabel"), "SELinux is disabled or not supported"


def _capabilities(caps: dict) -> Iterator[Problem]:
    # Unknown names are not refused (runtime-spec 1.1+: a warning, see
    # container/create.py grantable); `pyrunc check` lists them (unknown_capabilities).
    # capset(2) refuses an effective capability that is not permitted (EPERM at start,
    # for runc too): say which one, before anything is made.
    permitted = {name for name in arr(caps.get("permitted")) if isinstance(name, str)}
    for i, name in enumerate(arr(caps.get("effective"))):
        if isinstance(name, str) and name in _CAPABILITY_SET and name not in permitted:
            yield (
                ("process", "capabilities", "effective", i),
                f"{name} is not in process.capabilities.permitted (the kernel refuses it)",
            )


def unknown_capabilities(doc: dict) -> Iterator[Problem]:
    """Capability names no kernel knows: create goes on without them, with a warning
    (runtime-spec 1.1+); `pyrunc check` shows them as warnings."""
    caps = obj(obj(obj(doc).get("process")).get("capabilities"))
    for which in _CAP_SETS:
        for i, name in enumerate(arr(caps.get(which))):
            if isinstance(name, str) and name not in _CAPABILITY_SET:
                yield ("process", "capabilities", which, i), f"unknown capability {_shown(name)}"


def _rlimits(rlimits: list) -> Iterator[Problem]:
    seen: dict[str, int] = {}
    for i, rlimit in enumerate(rlimits):
        rlimit = obj(rlimit)
        kind = rlimit.get("type")
        if isinstance(kind, str):
            if kind not in RLIMITS:
                yield ("process", "rlimits", i, "type"), f"unknown resource limit {_shown(kind)}"
            elif kind in seen:
                first = format_path(("process", "rlimits", seen[kind]))
                yield ("process", "rlimits", i, "type"), f"{kind} already set by {first}"
            else:
                seen[kind] = i
        soft, hard = rlimit.get("soft"), rlimit.get("hard")
        if isinstance(soft, int) and isinstance(hard, int) and soft > hard:
            yield ("process", "rlimits", i, "soft"), "must not exceed the hard limit"


def _io_priority(prio: dict) -> Iterator[Problem]:
    level = prio.get("priority")
    if isinstance(level, int) and not 0 <= level <= 7:
        yield ("process", "ioPriority", "priority"), "must be between 0 and 7"


def _scheduler(sched: dict) -> Iterator[Problem]:
    policy = sched.get("policy")
    if not isinstance(policy, str):
        return
    at = ("process", "scheduler")
    nice = sched.get("nice", 0)
    if policy in ("SCHED_OTHER", "SCHED_BATCH") and isinstance(nice, int):
        if not -20 <= nice <= 19:
            yield (*at, "nice"), "must be between -20 and 19"
    if sched.get("priority", 0) != 0 and policy not in ("SCHED_FIFO", "SCHED_RR"):
        yield (*at, "priority"), "only allowed with SCHED_FIFO or SCHED_RR"
    if policy != "SCHED_DEADLINE":
        for field in ("runtime", "deadline", "period"):
            if sched.get(field, 0) != 0:
                yield (*at, field), "only allowed with SCHED_DEADLINE"


def _console_size(box: dict) -> Iterator[Problem]:
    # TIOCSWINSZ holds 16 bits; runc truncates larger values silently, we refuse them.
    for field in ("height", "width"):
        value = box.get(field)
        if isinstance(value, int) and value > 0xFFFF:
            yield ("process", "consoleSize", field), "must be at most 65535"


def _exec_cpu_affinity(aff: dict) -> Iterator[Problem]:
    # Only syntax here: which CPUs are usable is the kernel's answer at exec time.
    for field in ("initial", "final"):
        value = aff.get(field)
        if isinstance(value, str) and value:
            try:
                parse_cpu_list(value)
            except ValueError as e:
                yield ("process", "execCPUAffinity", field), str(e)


# ---------------------------------------------------------------- namespaces


def _namespaces(linux: dict) -> tuple[dict[str, dict], list[Problem]]:
    """Namespaces by type (first entry wins) and the problems of the list."""
    found: dict[str, dict] = {}
    problems: list[Problem] = []
    for i, ns in enumerate(arr(linux.get("namespaces"))):
        ns = obj(ns)
        kind = ns.get("type")
        if not isinstance(kind, str):
            continue
        if kind in found:
            at = ("linux", "namespaces", i, "type")
            problems.append((at, f"duplicate namespace {_shown(kind)}"))
            continue
        found[kind] = ns
        path = ns.get("path")
        if not isinstance(path, str) or path == "":
            continue
        at = ("linux", "namespaces", i, "path")
        if not path.startswith("/"):
            problems.append((at, "must be an absolute path"))
        elif not os.path.exists(path):
            problems.append((at, f"{_shown(path)} does not exist"))
    return found, problems


def _joins(ns: dict[str, dict], kind: str) -> bool:
    return bool(text(ns.get(kind, {}).get("path")))


def _user_ns(linux: dict, ns: dict[str, dict]) -> Iterator[Problem]:
    for field in ("uidMappings", "gidMappings"):
        given = bool(arr(linux.get(field)))
        if "user" not in ns and given:
            yield ("linux", field), "user namespace mappings given but no user namespace"
        elif "user" in ns and not _joins(ns, "user") and not given:
            yield ("linux", field), "required to create a user namespace"
        yield from _mappings(field, arr(linux.get(field)))


_MAX_MAPPINGS = 340  # the kernel's limit on lines in uid_map/gid_map (since 4.15)


def _mappings(field: str, mappings: list) -> Iterator[Problem]:
    """What the kernel's write of uid_map/gid_map would refuse with a bare EINVAL."""
    if len(mappings) > _MAX_MAPPINGS:
        yield ("linux", field), f"at most {_MAX_MAPPINGS} mappings"
    seen: dict[str, list[tuple[int, int, int]]] = {"containerID": [], "hostID": []}
    for i, m in enumerate(mappings):
        m = obj(m)
        size = m.get("size")
        if not isinstance(size, int) or isinstance(size, bool):
            continue  # the schema reports it
        if size < 1:
            yield ("linux", field, i, "size"), "must be at least 1"
            continue
        for key, ranges in seen.items():
            start = m.get(key)
            if not isinstance(start, int) or isinstance(start, bool):
                continue
            if start + size > 1 << 32:
                yield ("linux", field, i, key), f"{key} + size must not exceed 4294967296"
            for j, first, last in ranges:
                if start < last and first < start + size:
                    yield ("linux", field, i, key), f"overlaps linux.{field}[{j}]"
                    break
            ranges.append((i, start, start + size))


def _time_ns(linux: dict, ns: dict[str, dict]) -> Iterator[Problem]:
    if linux.get("timeOffsets") is None:
        return
    if "time" not in ns:
        yield ("linux", "timeOffsets"), "time offsets given but no time namespace"
    elif _joins(ns, "time"):
        yield ("linux", "timeOffsets"), "not allowed when joining an existing time namespace"


def _uts_ns(doc: dict, ns: dict[str, dict]) -> Iterator[Problem]:
    if "uts" in ns:
        return
    for field in ("hostname", "domainname"):
        if text(doc.get(field)):
            yield (field,), "needs a uts namespace"


def _mount_ns(linux: dict, ns: dict[str, dict]) -> Iterator[Problem]:
    # Masking needs a private mount table, else it would hide host paths.
    if "mount" in ns:
        return
    for field in ("maskedPaths", "readonlyPaths"):
        if arr(linux.get(field)):
            yield ("linux", field), "needs a mount namespace"
    if text(linux.get("rootfsPropagation")):
        yield ("linux", "rootfsPropagation"), "needs a mount namespace"


def _net_devices(linux: dict, ns: dict[str, dict]) -> Iterator[Problem]:
    """What runc's validator refuses (no network namespace, bad interface names), and
    what the kernel would refuse half-way through the moves (one name given twice)."""
    devices = obj(linux.get("netDevices"))
    if not devices:
        return
    if "network" not in ns:
        yield ("linux", "netDevices"), "needs a network namespace"
    elif _is_host_netns(text(ns["network"].get("path"))):
        yield ("linux", "netDevices"), "not allowed in the host's network namespace"
    for name, dev in devices.items():
        at = ("linux", "netDevices", name)
        if not _valid_ifname(name):
            yield at, "invalid network interface name"
        new = obj(dev).get("name")
        if isinstance(new, str) and new and not _valid_ifname(new):
            yield (*at, "name"), "invalid network interface name"
        elif isinstance(new, str) and "%" in new and not _valid_template(new):
            yield (*at, "name"), "a name template has one %d and no other %"
    yield from _net_device_clashes(devices)


def _valid_ifname(name: str) -> bool:
    # The kernel's dev_valid_name(): fits IFNAMSIZ with the NUL, no '/', ':' or space.
    if not name or len(name.encode()) >= _IFNAMSIZ or name in (".", ".."):
        return False
    return not any(c in name for c in "/: ") and not any(c.isspace() for c in name)


def _valid_template(name: str) -> bool:
    # The kernel's rule for a name it completes (dev_alloc_name): one %d, no other %.
    return name.count("%") == 1 and "%d" in name


def _net_device_clashes(devices: dict) -> Iterator[Problem]:
    """Two entries with one name in the container: the second move would fail EEXIST
    after the first was made. Templates ("eth%d") never clash: the kernel picks."""
    taken: dict[str, str] = {}  # name in the container -> the entry that has it
    for name, dev in devices.items():
        new = obj(dev).get("name")
        renamed = isinstance(new, str) and new != ""
        target = new if renamed else name
        if not isinstance(target, str) or "%" in target:
            continue
        if target in taken:
            at = ("linux", "netDevices", name, *(("name",) if renamed else ()))
            first = format_path(("linux", "netDevices", taken[target]))
            yield at, f"{_shown(target)} is also the name of {first} in the container"
        else:
            taken[target] = name


# -------------------------------------------------------------------- sysctl


def _dotted(key: str) -> str:
    """sysctl name with '.' separators; 'net/ipv4/conf/eth0.100/x' is accepted too."""
    dot, slash = key.find("."), key.find("/")
    if slash == -1 or -1 < dot < slash:  # the first separator is a dot (or there is none)
        return key
    return key.translate(str.maketrans("./", "/."))


def _sysctls(linux: dict, ns: dict[str, dict]) -> Iterator[Problem]:
    host_net: bool | None = None
    for key in obj(linux.get("sysctl")):
        name = _dotted(key)
        at = ("linux", "sysctl", key)
        if name in _IPC_SYSCTLS or name.startswith("fs.mqueue."):
            if "ipc" not in ns:
                yield at, "needs an ipc namespace"
        elif name.startswith("net."):
            if "network" not in ns:
                yield at, "needs a network namespace"
                continue
            if host_net is None:
                host_net = _is_host_netns(text(ns["network"].get("path")))
            if host_net:
                yield at, "not allowed in the host's network namespace"
        elif name == "kernel.hostname":
            yield at, "not allowed: set the hostname field instead"
        elif name == "kernel.domainname":
            if "uts" not in ns:
                yield at, "needs a uts namespace"
        elif name.startswith("user."):
            if "user" not in ns:
                yield at, "needs a user namespace"
        else:
            yield at, "not isolated by any namespace"


def _is_host_netns(path: str) -> bool:
    """Whether joining `path` means staying in our own network namespace."""
    if not path:
        return False
    try:
        ours, theirs = os.stat("/proc/self/ns/net"), os.stat(path)
    except OSError:
        return False  # a missing path is reported by the namespace check
    return (ours.st_dev, ours.st_ino) == (theirs.st_dev, theirs.st_ino)


def _intel_rdt(linux: dict) -> Iterator[Problem]:
    section = linux.get("intelRdt")
    if not isinstance(section, dict):
        return  # absent, or the schema reports its type
    from pyrunc.linux import intelrdt  # lazily: only configs with intelRdt pay

    for sub, rule in intelrdt.problems(section, _resctrl_mounted()):
        yield ("linux", "intelRdt", *sub), rule


def _resctrl_mounted() -> str | None:
    """Where resctrl is mounted (runc's Root()), None where it is not."""
    from pyrunc.linux import intelrdt

    return intelrdt.find_root()


def _personality(linux: dict) -> Iterator[Problem]:
    if arr(obj(linux.get("personality")).get("flags")):
        yield ("linux", "personality", "flags"), "no flags are defined (runtime-spec 1.3)"


# ------------------------------------------------------------------- public


def _problems(doc: dict, bundle: str) -> Iterator[Problem]:
    yield from _version(doc)
    yield from _root(doc, bundle)
    # mounts[].destination: a relative one is taken from the root, with runc's warning
    # (spec/config.py): runc accepts it "for backward compatibility".
    yield from _process(doc)
    linux = obj(doc.get("linux"))
    ns, ns_problems = _namespaces(linux)
    yield from ns_problems
    yield from _user_ns(linux, ns)
    yield from _time_ns(linux, ns)
    yield from _uts_ns(doc, ns)
    yield from _mount_ns(linux, ns)
    yield from _mount_label(linux)
    yield from _devices(linux)
    yield from _net_devices(linux, ns)
    yield from _sysctls(linux, ns)
    yield from _intel_rdt(linux)
    yield from _personality(linux)
    yield from _memory_policy(linux)
    yield from _seccomp(linux)


def _memory_policy(linux: dict) -> Iterator[Problem]:
    section = linux.get("memoryPolicy")
    if isinstance(section, dict):
        from pyrunc.linux import mempolicy  # lazily: only configs with a policy pay

        for sub, rule in mempolicy.problems(section):
            yield ("linux", "memoryPolicy", *sub), rule


def _seccomp(linux: dict) -> Iterator[Problem]:
    section = linux.get("seccomp")
    if isinstance(section, dict):
        from pyrunc.linux.seccomp import validate

        for sub, rule in validate(section):
            yield ("linux", "seccomp", *sub), rule


def iter_semantic_problems(doc: dict, bundle: str) -> Iterator[Problem]:
    """Every semantic problem as (path, rule), for `pyrunc check`."""
    if isinstance(doc, dict):
        yield from _problems(doc, bundle)


def iter_semantic_errors(doc: dict, bundle: str) -> Iterator[str]:
    """Every semantic problem of a parsed config.json of bundle dir `bundle`."""
    if not isinstance(doc, dict):
        return
    for path, rule in _problems(doc, bundle):
        yield f"config.json: {format_path(path)}: {rule}"


def check_config(doc: dict, bundle: str) -> None:
    """Raise ConfigError naming the first semantic problem of a parsed config.json."""
    first = next(iter_semantic_errors(doc, bundle), None)
    if first is not None:
        raise ConfigError(first)
