"""Typed view of config.json: the one place that reads the raw JSON document.

Everything after `load_config` works on these objects, never on the dict.
"""

from __future__ import annotations

import os

from pyrunc import jsonio as json  # not json: CONTRIBUTING.md, Imports
from pyrunc.errors import ConfigError
from pyrunc.record import dataclass, field, replace

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from typing import Any


@dataclass(frozen=True)
class IdMapping:
    container_id: int
    host_id: int
    size: int


@dataclass(frozen=True)
class Mount:
    destination: str
    type: str = ""
    source: str = ""
    options: tuple[str, ...] = ()
    uid_mappings: tuple[IdMapping, ...] = ()  # an idmapped mount's own maps
    gid_mappings: tuple[IdMapping, ...] = ()


@dataclass(frozen=True)
class Rlimit:
    type: str
    soft: int
    hard: int


@dataclass(frozen=True)
class User:
    uid: int = 0
    gid: int = 0
    umask: int | None = None
    additional_gids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Capabilities:
    bounding: tuple[str, ...] = ()
    effective: tuple[str, ...] = ()
    permitted: tuple[str, ...] = ()
    inheritable: tuple[str, ...] = ()
    ambient: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scheduler:
    """process.scheduler: sched_setattr(2)'s attributes by the spec's names."""

    policy: str
    nice: int = 0
    priority: int = 0
    flags: tuple[str, ...] = ()
    runtime: int = 0
    deadline: int = 0
    period: int = 0


@dataclass(frozen=True)
class IOPriority:
    cls: str  # the spec's "class", a keyword here
    priority: int = 0


@dataclass(frozen=True)
class MemoryPolicy:
    """linux.memoryPolicy: mode and flags by the spec's names, nodes as written."""

    mode: str
    nodes: str = ""
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Process:
    args: tuple[str, ...]
    env: tuple[str, ...] = ()
    cwd: str = "/"
    terminal: bool = False
    user: User = field(default_factory=User)
    capabilities: Capabilities | None = None
    rlimits: tuple[Rlimit, ...] = ()
    no_new_privileges: bool = False
    oom_score_adj: int | None = None
    apparmor_profile: str = ""
    selinux_label: str = ""
    console_size: tuple[int, int] | None = None  # consoleSize: (height, width)
    exec_cpu_affinity: tuple[str, str] | None = None  # execCPUAffinity: (initial, final), "" unset
    scheduler: Scheduler | None = None
    io_priority: IOPriority | None = None
    # linux.memoryPolicy, not a process field: carried here because the process is
    # what the init applies before exec (attributes.apply). from_document sets it; a
    # process document (exec --process, the state record's) never holds it.
    memory_policy: MemoryPolicy | None = None
    # linux.personality's domain as personality(2) takes it, carried the same way.
    personality: int | None = None


# linux.personality.domain -> personality(2)'s persona (PER_LINUX, PER_LINUX32).
PERSONALITY_DOMAINS = {"LINUX": 0x0000, "LINUX32": 0x0008}


@dataclass(frozen=True)
class Namespace:
    type: str
    path: str = ""


@dataclass(frozen=True)
class Device:
    path: str
    type: str
    major: int = 0
    minor: int = 0
    file_mode: int | None = None
    uid: int | None = None
    gid: int | None = None


@dataclass(frozen=True)
class Hook:
    path: str
    args: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    timeout: int | None = None


@dataclass(frozen=True)
class Linux:
    namespaces: tuple[Namespace, ...] = ()
    uid_mappings: tuple[IdMapping, ...] = ()
    gid_mappings: tuple[IdMapping, ...] = ()
    time_offsets: dict[str, tuple[int, int]] = field(default_factory=dict)
    devices: tuple[Device, ...] = ()
    cgroups_path: str = ""
    resources: dict[str, Any] = field(default_factory=dict)
    rootfs_propagation: str = ""
    masked_paths: tuple[str, ...] = ()
    readonly_paths: tuple[str, ...] = ()
    sysctl: dict[str, str] = field(default_factory=dict)
    # linux.netDevices: host interface -> its name in the container (the same if unset).
    net_devices: dict[str, str] = field(default_factory=dict)
    seccomp: dict[str, Any] | None = None
    mount_label: str = ""
    intel_rdt: dict[str, Any] | None = None  # linux.intelRdt as written (linux/intelrdt.py)

    def namespace(self, ns_type: str) -> Namespace | None:
        return next((ns for ns in self.namespaces if ns.type == ns_type), None)


@dataclass(frozen=True)
class Config:
    oci_version: str
    bundle: str
    root_path: str
    root_readonly: bool = False
    hostname: str | None = None
    domainname: str | None = None
    mounts: tuple[Mount, ...] = ()
    process: Process | None = None
    hooks: dict[str, tuple[Hook, ...]] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    linux: Linux = field(default_factory=Linux)


def _mount(m: dict[str, Any]) -> Mount:
    return Mount(
        _destination(m["destination"]),
        m.get("type", ""),
        m.get("source", ""),
        tuple(m.get("options") or ()),
        _mappings(m.get("uidMappings")),
        _mappings(m.get("gidMappings")),
    )


def _destination(dest: str) -> str:
    """A relative mount destination is below the root, as runc takes it (with its
    warning; the spec asks for an absolute path)."""
    if dest.startswith("/"):
        return dest
    from pyrunc import notices

    notices.warn(
        f"mount destination {dest} is not absolute. Support for non-absolute mount "
        "destinations will be removed in a future release."
    )
    return os.path.normpath("/" + dest)  # "../x" is /x, as runc joins it to the root


def _user(u: dict[str, Any]) -> User:
    return User(
        u.get("uid", 0), u.get("gid", 0), u.get("umask"), tuple(u.get("additionalGids") or ())
    )


def _capabilities(c: dict[str, Any] | None) -> Capabilities | None:
    if c is None:
        return None
    return Capabilities(
        *(
            tuple(c.get(k) or ())
            for k in ("bounding", "effective", "permitted", "inheritable", "ambient")
        )
    )


def _scheduler(s: dict[str, Any] | None) -> Scheduler | None:
    if s is None:
        return None
    return Scheduler(
        s["policy"],
        s.get("nice", 0),
        s.get("priority", 0),
        tuple(s.get("flags") or ()),
        s.get("runtime", 0),
        s.get("deadline", 0),
        s.get("period", 0),
    )


def _scheduler_document(s: Scheduler) -> dict[str, Any]:
    doc: dict[str, Any] = {"policy": s.policy, "nice": s.nice, "priority": s.priority}
    if s.flags:
        doc["flags"] = list(s.flags)
    doc.update(runtime=s.runtime, deadline=s.deadline, period=s.period)
    return doc


def _io_priority(p: dict[str, Any] | None) -> IOPriority | None:
    return None if p is None else IOPriority(p["class"], p.get("priority", 0))


def _memory_policy(m: dict[str, Any] | None) -> MemoryPolicy | None:
    if m is None:
        return None
    return MemoryPolicy(m["mode"], m.get("nodes", ""), tuple(m.get("flags") or ()))


def _process(p: dict[str, Any] | None) -> Process | None:
    if p is None:
        return None
    return Process(
        args=tuple(p.get("args") or ()),
        env=tuple(p.get("env") or ()),
        cwd=p.get("cwd", "/"),
        terminal=bool(p.get("terminal", False)),
        user=_user(p.get("user") or {}),
        capabilities=_capabilities(p.get("capabilities")),
        rlimits=tuple(Rlimit(r["type"], r["soft"], r["hard"]) for r in p.get("rlimits") or ()),
        no_new_privileges=bool(p.get("noNewPrivileges", False)),
        oom_score_adj=p.get("oomScoreAdj"),
        apparmor_profile=p.get("apparmorProfile", ""),
        selinux_label=p.get("selinuxLabel", ""),
        console_size=_console_size(p.get("consoleSize")),
        exec_cpu_affinity=_cpu_affinity(p.get("execCPUAffinity")),
        scheduler=_scheduler(p.get("scheduler")),
        io_priority=_io_priority(p.get("ioPriority")),
    )


def _console_size(box: dict[str, int] | None) -> tuple[int, int] | None:
    return None if box is None else (box["height"], box["width"])


def _cpu_affinity(aff: dict[str, str] | None) -> tuple[str, str] | None:
    return None if aff is None else (aff.get("initial", ""), aff.get("final", ""))


def container_defaults(p: Process) -> dict[str, Any]:
    """What every process exec'd into the container takes from config.json unless its
    own document says otherwise, as runc: execCPUAffinity, scheduler and ioPriority
    (runc's initConfig starts from the container's and lets the process override
    them), and the linux.memoryPolicy and linux.personality a Process carries. create
    keeps it in the state record."""
    doc: dict[str, Any] = {}
    if p.scheduler is not None:
        doc["scheduler"] = _scheduler_document(p.scheduler)
    if p.io_priority is not None:
        doc["ioPriority"] = {"class": p.io_priority.cls, "priority": p.io_priority.priority}
    if p.exec_cpu_affinity is not None:
        doc["execCPUAffinity"] = list(p.exec_cpu_affinity)
    if p.memory_policy is not None:
        m = p.memory_policy
        doc["memoryPolicy"] = {"mode": m.mode, "nodes": m.nodes, "flags": list(m.flags)}
    if p.personality is not None:
        doc["personality"] = p.personality
    return doc


def with_container_defaults(p: Process, defaults: dict[str, Any]) -> Process:
    """p with what it does not set itself taken from container_defaults' document."""
    changes: dict[str, Any] = {}
    if p.scheduler is None and "scheduler" in defaults:
        changes["scheduler"] = _scheduler(defaults["scheduler"])
    if p.io_priority is None and "ioPriority" in defaults:
        changes["io_priority"] = _io_priority(defaults["ioPriority"])
    if p.exec_cpu_affinity is None and "execCPUAffinity" in defaults:
        initial, final = defaults["execCPUAffinity"]
        changes["exec_cpu_affinity"] = (initial, final)
    if p.memory_policy is None and "memoryPolicy" in defaults:
        changes["memory_policy"] = _memory_policy(defaults["memoryPolicy"])
    if p.personality is None and "personality" in defaults:
        changes["personality"] = defaults["personality"]
    return replace(p, **changes) if changes else p


def process_document(p: Process) -> dict[str, Any]:
    """A Process back as its runtime-spec document: parse_process's inverse. create
    keeps it in the state record, so exec uses the process the container was created
    with (as runc does) without reading and validating config.json again."""
    user: dict[str, Any] = {"uid": p.user.uid, "gid": p.user.gid}
    if p.user.umask is not None:
        user["umask"] = p.user.umask
    if p.user.additional_gids:
        user["additionalGids"] = list(p.user.additional_gids)
    doc: dict[str, Any] = {
        "args": list(p.args),
        "env": list(p.env),
        "cwd": p.cwd,
        "terminal": p.terminal,
        "user": user,
        "rlimits": [{"type": r.type, "soft": r.soft, "hard": r.hard} for r in p.rlimits],
        "noNewPrivileges": p.no_new_privileges,
    }
    if p.capabilities is not None:
        c = p.capabilities
        doc["capabilities"] = {
            "bounding": list(c.bounding),
            "effective": list(c.effective),
            "permitted": list(c.permitted),
            "inheritable": list(c.inheritable),
            "ambient": list(c.ambient),
        }
    if p.oom_score_adj is not None:
        doc["oomScoreAdj"] = p.oom_score_adj
    if p.apparmor_profile:
        doc["apparmorProfile"] = p.apparmor_profile
    if p.selinux_label:
        doc["selinuxLabel"] = p.selinux_label
    if p.console_size is not None:
        doc["consoleSize"] = {"height": p.console_size[0], "width": p.console_size[1]}
    if p.exec_cpu_affinity is not None:
        initial, final = p.exec_cpu_affinity
        doc["execCPUAffinity"] = {k: v for k, v in (("initial", initial), ("final", final)) if v}
    if p.scheduler is not None:
        doc["scheduler"] = _scheduler_document(p.scheduler)
    if p.io_priority is not None:
        doc["ioPriority"] = {"class": p.io_priority.cls, "priority": p.io_priority.priority}
    return doc


def parse_process(p: dict[str, Any]) -> Process:
    """A validated runtime-spec process document (exec --process) as a Process."""
    proc = _process(p)
    assert proc is not None
    return proc


def _mappings(ms: list[dict[str, int]] | None) -> tuple[IdMapping, ...]:
    return tuple(IdMapping(m["containerID"], m["hostID"], m["size"]) for m in ms or ())


def _device(d: dict[str, Any]) -> Device:
    return Device(
        d["path"],
        d["type"],
        d.get("major", 0),
        d.get("minor", 0),
        d.get("fileMode"),
        d.get("uid"),
        d.get("gid"),
    )


def _linux(lx: dict[str, Any] | None) -> Linux:
    lx = lx or {}
    offsets = {
        clock: (int(v.get("secs", 0)), int(v.get("nanosecs", 0)))
        for clock, v in (lx.get("timeOffsets") or {}).items()
    }
    return Linux(
        namespaces=tuple(
            Namespace(n["type"], n.get("path", "")) for n in lx.get("namespaces") or ()
        ),
        uid_mappings=_mappings(lx.get("uidMappings")),
        gid_mappings=_mappings(lx.get("gidMappings")),
        time_offsets=offsets,
        devices=tuple(_device(d) for d in lx.get("devices") or ()),
        cgroups_path=lx.get("cgroupsPath", ""),
        resources=lx.get("resources") or {},
        rootfs_propagation=lx.get("rootfsPropagation", ""),
        masked_paths=tuple(lx.get("maskedPaths") or ()),
        readonly_paths=tuple(lx.get("readonlyPaths") or ()),
        sysctl=dict(lx.get("sysctl") or {}),
        net_devices={
            host: (dev or {}).get("name") or host
            for host, dev in (lx.get("netDevices") or {}).items()
        },
        seccomp=lx.get("seccomp"),
        mount_label=lx.get("mountLabel", ""),
        intel_rdt=lx.get("intelRdt"),
    )


def _hooks(h: dict[str, list[dict[str, Any]]] | None) -> dict[str, tuple[Hook, ...]]:
    return {
        stage: tuple(
            Hook(x["path"], tuple(x.get("args") or ()), tuple(x.get("env") or ()), x.get("timeout"))
            for x in entries or ()
        )
        for stage, entries in (h or {}).items()
    }


def from_document(doc: dict[str, Any], bundle: str) -> Config:
    """Turn a validated config document into a Config (paths made absolute)."""
    root = doc["root"]
    root_path = os.path.normpath(os.path.join(bundle, root["path"]))
    process = _process(doc.get("process"))
    linux = doc.get("linux") or {}
    policy = _memory_policy(linux.get("memoryPolicy"))
    if process is not None and policy is not None:
        process = replace(process, memory_policy=policy)
    domain = (linux.get("personality") or {}).get("domain")
    if process is not None and domain is not None:
        process = replace(process, personality=PERSONALITY_DOMAINS[domain])
    return Config(
        oci_version=doc["ociVersion"],
        bundle=bundle,
        root_path=root_path,
        root_readonly=bool(root.get("readonly", False)),
        hostname=doc.get("hostname"),
        domainname=doc.get("domainname"),
        mounts=tuple(_mount(m) for m in doc.get("mounts") or ()),
        process=process,
        hooks=_hooks(doc.get("hooks")),
        annotations=dict(doc.get("annotations") or {}),
        linux=_linux(doc.get("linux")),
    )


def read_document(bundle: str) -> dict[str, Any]:
    path = os.path.join(bundle, "config.json")
    try:
        with open(path, "rb") as f:
            doc = json.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config.json: not found in bundle {bundle}") from None
    except ValueError as e:  # json.JSONDecodeError, or UnicodeDecodeError
        where = getattr(e, "lineno", None)
        if where is None:
            raise ConfigError(f"config.json: invalid JSON: {e}") from None
        raise ConfigError(
            f"config.json: invalid JSON: {e.msg} at line {where} column {e.colno}"  # type: ignore[attr-defined]
        ) from None
    except OSError as e:
        raise ConfigError(f"config.json: {e.strerror}") from None
    if not isinstance(doc, dict):
        raise ConfigError("config.json: expected an object at the top level")
    drop_nulls(doc)
    return doc


def drop_nulls(node: Any) -> None:
    """A member whose value is null is read as absent, as runc's Go decoder reads it
    (into a nil pointer, map or slice): `"timeOffsets": null` is no time offsets."""
    if isinstance(node, dict):
        for key in [k for k, v in node.items() if v is None]:
            del node[key]
        for value in node.values():
            drop_nulls(value)
    elif isinstance(node, list):
        for item in node:
            drop_nulls(item)


_S_IFMT = {"c": 0o020000, "u": 0o020000, "b": 0o060000, "p": 0o010000}


def strip_device_type_bits(doc: dict[str, Any]) -> None:
    """podman --privileged writes linux.devices[].fileMode with the file-type bits
    (0o20666 for a char device); runc accepts that. The schema allows permission bits
    only, so the type bits are dropped here when they match the device's own type."""
    linux = doc.get("linux")
    devices = linux.get("devices") if isinstance(linux, dict) else None
    for dev in devices if isinstance(devices, list) else ():
        if not isinstance(dev, dict):
            continue
        mode, kind = dev.get("fileMode"), dev.get("type")
        if type(mode) is int and isinstance(kind, str) and mode & 0o170000 == _S_IFMT.get(kind):
            dev["fileMode"] = mode & 0o7777


def load_config(bundle: str) -> Config:
    """Read, validate (schema + semantics) and convert the bundle's config.json."""
    from pyrunc import timing
    from pyrunc.spec.semantic import check_config
    from pyrunc.spec.validate import validate_config

    bundle = os.path.abspath(bundle)
    doc = read_document(bundle)
    timing.mark("parse")
    strip_device_type_bits(doc)
    validate_config(doc)
    check_config(doc, bundle)
    cfg = from_document(doc, bundle)
    timing.mark("validate")
    return cfg
