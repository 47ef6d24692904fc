"""This host against what the bundle asks of it: only what the config uses is checked."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from typing import Any

from pyrunc.check.findings import HOST, Finding, error, ok, warning
from pyrunc.check.sysfiles import read_text
from pyrunc.spec.lenient import arr, integer, namespace_entries, new_namespace, obj, text

_NGROUPS_MAX = 65536


def _new_user_ns(doc: dict[str, Any]) -> bool:
    return new_namespace(doc, "user") is not None


# ---------------------------------------------------------------- namespaces


def namespaces(doc: dict[str, Any]) -> Iterator[Finding]:
    from pyrunc.linux.namespaces import NS_FLAGS, PROC_NAMES

    for i, kind, path in namespace_entries(doc):
        if kind not in PROC_NAMES:
            continue  # the schema check names it
        at = f"linux.namespaces[{i}]"
        if not path:
            if os.path.exists(f"/proc/self/ns/{PROC_NAMES[kind]}"):
                yield ok(HOST, f"{at}.type", f"{kind} namespaces are available")
            else:
                yield error(
                    HOST,
                    f"{at}.type",
                    f"this kernel has no {kind} namespaces (/proc/self/ns/{PROC_NAMES[kind]})",
                    f"remove the {kind} namespace, or use a kernel built with it",
                )
        elif path.startswith("/") and os.path.exists(path):
            yield _namespace_file(f"{at}.path", kind, path, NS_FLAGS[kind])
    if _new_user_ns(doc):
        yield _user_namespaces_enabled(doc)


def _namespace_file(at: str, kind: str, path: str, flag: int) -> Finding:
    import fcntl

    from pyrunc.linux.namespaces import NS_GET_NSTYPE

    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        return error(
            HOST,
            at,
            f"open {path}: {os.strerror(e.errno or 0).lower()}",
            "give a namespace file this runtime may open, e.g. /proc/<pid>/ns/...",
        )
    try:
        found = fcntl.ioctl(fd, NS_GET_NSTYPE)
    except OSError:
        return error(
            HOST,
            at,
            f"{path} is not a namespace file",
            f"give a {kind} namespace file, such as /proc/<pid>/ns/...",
        )
    finally:
        os.close(fd)
    if found != flag:
        from pyrunc.linux.namespaces import NS_FLAGS

        other = next((t for t, f in NS_FLAGS.items() if f == found), hex(found))
        return error(
            HOST,
            at,
            f"{path} is a {other} namespace, not a {kind} one",
            f"give a {kind} namespace file, or change the type",
        )
    return ok(HOST, at, f"{path} is a {kind} namespace")


def _user_namespaces_enabled(doc: dict[str, Any]) -> Finding:
    at = _first_path(doc, "user")
    limit = read_text("/proc/sys/user/max_user_namespaces")
    if limit.isdigit() and int(limit) == 0:
        return error(
            HOST,
            at,
            "user namespaces are disabled (user.max_user_namespaces = 0)",
            "sysctl -w user.max_user_namespaces=15000",
        )
    return ok(HOST, at, f"user namespaces are enabled (user.max_user_namespaces = {limit or '?'})")


def _first_path(doc: dict[str, Any], kind: str) -> str:
    i = new_namespace(doc, kind) or 0
    return f"linux.namespaces[{i}].type"


# ---------------------------------------------------------------- process.user


def user(doc: dict[str, Any]) -> Iterator[Finding]:
    u = obj(obj(doc.get("process")).get("user"))
    if not u:
        return
    at = "process.user"
    if "username" in u:
        yield warning(
            HOST,
            f"{at}.username",
            "username is a Windows-only field: ignored here",
            "remove it; uid and gid say who the process runs as",
        )
    groups = [g for g in arr(u.get("additionalGids")) if integer(g) is not None]
    if len(groups) > _NGROUPS_MAX:
        yield error(
            HOST,
            f"{at}.additionalGids",
            f"more than {_NGROUPS_MAX} groups",
            "the kernel takes at most NGROUPS_MAX (65536) groups",
        )
    for j, g in enumerate(groups):
        if g in groups[:j]:
            yield warning(
                HOST,
                f"{at}.additionalGids[{j}]",
                f"group {g} is listed twice",
                "remove the duplicate",
            )
    if _new_user_ns(doc):
        yield from _user_mapped(doc, u, groups)
    else:
        uid, gid = integer(u.get("uid")) or 0, integer(u.get("gid")) or 0
        yield ok(HOST, at, f"runs as uid {uid}, gid {gid} (numeric ids need no passwd entry)")


def _mapped(mappings: list, ident: int) -> bool:
    for m in mappings:
        start, size = integer(obj(m).get("containerID")), integer(obj(m).get("size"))
        if start is not None and size is not None and start <= ident < start + size:
            return True
    return False


def _user_mapped(doc: dict[str, Any], u: dict[str, Any], groups: list[int]) -> Iterator[Finding]:
    linux = obj(doc.get("linux"))
    uids, gids = arr(linux.get("uidMappings")), arr(linux.get("gidMappings"))
    if not uids or not gids:
        return  # bundle/semantics: mappings are required
    wanted = [("uid", integer(u.get("uid")) or 0, uids, "uidMappings")]
    wanted.append(("gid", integer(u.get("gid")) or 0, gids, "gidMappings"))
    wanted += [(f"additionalGids[{j}]", g, gids, "gidMappings") for j, g in enumerate(groups)]
    bad = False
    for field, ident, maps, name in wanted:
        if not _mapped(maps, ident):
            bad = True
            yield error(
                HOST,
                f"process.user.{field}",
                f"{ident} is not mapped by linux.{name}",
                f"add a linux.{name} entry whose containerID range holds {ident}",
            )
    if not bad:
        yield ok(HOST, "process.user", "uid and gids are mapped in the user namespace")


# ----------------------------------------------------------- rlimits and caps


def _cap_sets() -> dict[str, int]:
    sets = {}
    for line in read_text("/proc/self/status").splitlines():
        key, _, value = line.partition(":")
        if key in ("CapEff", "CapPrm", "CapBnd", "CapInh"):
            sets[key] = int(value.strip(), 16)
    return sets


def rlimits(doc: dict[str, Any]) -> Iterator[Finding]:
    import resource

    from pyrunc.linux.capabilities import CAP_NUMBERS
    from pyrunc.linux.rlimits import RLIMIT_NUMBERS

    entries = arr(obj(doc.get("process")).get("rlimits"))
    if not entries:
        return
    can_raise = bool(_cap_sets().get("CapEff", 0) >> CAP_NUMBERS["CAP_SYS_RESOURCE"] & 1)
    if _new_user_ns(doc):
        can_raise = False  # the cap must be held in the host's user namespace
    nr_open = read_text("/proc/sys/fs/nr_open")
    for i, rl in enumerate(entries):
        kind, hard = text(obj(rl).get("type")), integer(obj(rl).get("hard"))
        if kind not in RLIMIT_NUMBERS or hard is None:
            continue  # the schema or semantic check reports it
        at = f"process.rlimits[{i}].hard"
        current = resource.getrlimit(RLIMIT_NUMBERS[kind])[1]
        unlimited = current == resource.RLIM_INFINITY
        if kind == "RLIMIT_NOFILE" and nr_open.isdigit() and hard > int(nr_open):
            yield error(
                HOST,
                at,
                f"{kind} {hard} is above fs.nr_open ({nr_open})",
                f"lower it to {nr_open} at most, or raise fs.nr_open",
            )
        elif not unlimited and hard > current and not can_raise:
            yield error(
                HOST,
                at,
                f"{kind} {hard} is above this runtime's hard limit {current}, "
                "and raising it needs CAP_SYS_RESOURCE in the host's user namespace",
                f"lower it to {current} at most, or run the runtime with a higher "
                "hard limit (ulimit -H)",
            )
        else:
            yield ok(HOST, at, f"{kind} {hard} can be set")


def capabilities(doc: dict[str, Any]) -> Iterator[Finding]:
    from pyrunc.linux.capabilities import CAP_NUMBERS

    caps = obj(obj(doc.get("process")).get("capabilities"))
    if not caps:
        return
    last = int(read_text("/proc/sys/kernel/cap_last_cap") or max(CAP_NUMBERS.values()))
    sets = _cap_sets()
    everything = (1 << (last + 1)) - 1
    # What capset(2) lets us give: effective/permitted from our permitted set, inheritable
    # from our bounding set. Bounding only drops; ambient entries init cannot raise are
    # skipped (as runc), so neither can fail. In a new user namespace init holds every
    # capability our bounding set keeps, whatever ours (a rootless runtime has none).
    held = sets.get("CapBnd", everything) if _new_user_ns(doc) else sets.get("CapPrm", everything)
    grantable = {
        "effective": held,
        "permitted": held,
        "inheritable": sets.get("CapBnd", everything) | sets.get("CapInh", 0),
    }
    found = False
    for which in ("bounding", "effective", "permitted", "inheritable", "ambient"):
        for i, name in enumerate(arr(caps.get(which))):
            number = CAP_NUMBERS.get(name) if isinstance(name, str) else None
            if number is None:
                continue  # unknown names: bundle/semantics
            at = f"process.capabilities.{which}[{i}]"
            if number > last:
                found = True
                yield warning(
                    HOST,
                    at,
                    f"{name} is unknown to this kernel (cap_last_cap {last})",
                    "remove it, or run on a newer kernel",
                )
            elif which in grantable and not grantable[which] >> number & 1:
                found = True
                yield error(
                    HOST,
                    at,
                    f"{name} is not in this runtime's own capabilities: "
                    "it cannot give it to the container",
                    f"remove {name}, or run the runtime with it (check CapBnd in "
                    "/proc/self/status)",
                )
    if not found:
        yield ok(HOST, "process.capabilities", "every known capability asked for can be granted")


# ------------------------------------------------------------ kernel features


def seccomp(doc: dict[str, Any]) -> Iterator[Finding]:
    if not isinstance(obj(doc.get("linux")).get("seccomp"), dict):
        return
    at = "linux.seccomp"
    if "Seccomp:" not in read_text("/proc/self/status"):
        yield error(
            HOST,
            at,
            "this kernel has no seccomp (CONFIG_SECCOMP_FILTER)",
            "remove linux.seccomp, or use a kernel with seccomp",
        )
        return
    from pyrunc.linux import seccomp as sc

    if not sc.available():
        yield error(
            HOST,
            at,
            "libseccomp.so.2 cannot be loaded",
            "install libseccomp (apt-get install libseccomp2)",
        )
        return
    yield ok(HOST, at, "seccomp is available and libseccomp loads")


def idmapped_mounts(doc: dict[str, Any]) -> Iterator[Finding]:
    wanted = [
        i
        for i, m in enumerate(arr(doc.get("mounts")))
        if arr(obj(m).get("uidMappings")) or arr(obj(m).get("gidMappings"))
        or any(o in ("idmap", "ridmap") for o in arr(obj(m).get("options")))
    ]  # fmt: skip
    if not wanted:
        return
    at = f"mounts[{wanted[0]}]"
    if _has_mount_setattr():
        yield ok(HOST, at, "idmapped mounts are supported (mount_setattr)")
    else:
        yield error(
            HOST,
            at,
            "this kernel cannot make idmapped mounts (no mount_setattr)",
            "remove the mount's uidMappings/gidMappings, or use Linux 5.12 or later",
        )


def _has_mount_setattr() -> bool:
    from pyrunc.linux import syscalls as sc

    try:
        sc.mount_setattr(-1, "", 0, 0)  # a bad fd: EBADF if the call exists at all
    except OSError as e:
        return e.errno != errno.ENOSYS
    return True


def lsm(doc: dict[str, Any]) -> Iterator[Finding]:
    from pyrunc.linux import lsm as lsms

    profile = text(obj(doc.get("process")).get("apparmorProfile"))
    if profile:
        at = "process.apparmorProfile"
        if lsms.apparmor_enabled():
            yield ok(HOST, at, "AppArmor is enabled")
        else:
            yield error(
                HOST,
                at,
                "AppArmor is not enabled on this host",
                "remove process.apparmorProfile, or enable AppArmor",
            )
    # linux.mountLabel (like process.selinuxLabel) without SELinux: a semantic refusal.


# ------------------------------------------------------------- files on the host


def state_root(root: str) -> Iterator[Finding]:
    root = os.path.abspath(root)
    existing = root
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if existing == root and not os.path.isdir(root):
        yield error(
            HOST, "", f"state root {root} is not a directory", "give a directory with --root"
        )
        return
    made = "" if existing == root else f" (would be made in {existing})"
    if not os.access(existing, os.W_OK | os.X_OK):
        yield error(
            HOST,
            "",
            f"state root {root} is not writable{made}",
            "run as root, or give a writable directory with --root",
        )
    elif os.statvfs(existing).f_flag & os.ST_RDONLY:
        yield error(
            HOST,
            "",
            f"state root {root} is on a read-only filesystem{made}",
            "give a directory on a writable filesystem with --root",
        )
    else:
        yield ok(HOST, "", f"state root {root} is writable{made}")


def bind_sources(doc: dict[str, Any], bundle: str) -> Iterator[Finding]:
    for i, m in enumerate(arr(doc.get("mounts"))):
        m = obj(m)
        options = [o for o in arr(m.get("options")) if isinstance(o, str)]
        source = text(m.get("source"))
        if not source or not ("bind" in options or "rbind" in options or m.get("type") == "bind"):
            continue
        full = source if source.startswith("/") else os.path.join(bundle, source)
        if os.path.exists(full):
            yield ok(HOST, f"mounts[{i}].source", f"{full} exists")
        else:
            yield error(
                HOST,
                f"mounts[{i}].source",
                f"{full} does not exist",
                "create it, or correct the mount's source",
            )


_FATAL_HOOKS = ("prestart", "createRuntime", "createContainer")


def hooks(doc: dict[str, Any]) -> Iterator[Finding]:
    """Hooks that run on the host: a missing one fails create (poststart/poststop: warn)."""
    for stage in (*_FATAL_HOOKS, "poststart", "poststop"):
        for i, hook in enumerate(arr(obj(doc.get("hooks")).get(stage))):
            path = text(obj(hook).get("path"))
            if not path.startswith("/"):
                continue
            at = f"hooks.{stage}[{i}].path"
            try:
                st = os.stat(path)
            except OSError as e:
                problem = f"{path}: {os.strerror(e.errno or 0).lower()}"
            else:
                if stat.S_ISREG(st.st_mode) and os.access(path, os.X_OK):
                    yield ok(HOST, at, f"{path} is executable")
                    continue
                problem = f"{path} is not an executable file"
            hint = "install the hook, or correct its path"
            if stage in _FATAL_HOOKS:
                yield error(HOST, at, problem, hint)
            else:
                yield warning(HOST, at, problem + f" ({stage} failures are only warnings)", hint)


# ------------------------------------------------------------------ /proc view


def procfs_view(doc: dict[str, Any], everywhere: bool) -> Iterator[Finding]:
    """The lxcfs /proc view (annotation or --procfs-view): what create will need for it."""
    from pyrunc.errors import PyruncError
    from pyrunc.linux import procfs_view as view

    at = f'annotations["{view.ANNOTATION}"]'
    annotations = {k: v for k, v in obj(doc.get("annotations")).items() if isinstance(v, str)}
    try:
        if not view.wanted(annotations, everywhere):
            return
    except PyruncError as e:
        yield error(HOST, at, str(e), 'write "true" or "false"')
        return
    if not any(
        obj(ns).get("type") == "mount" for ns in arr(obj(doc.get("linux")).get("namespaces"))
    ):
        yield error(HOST, at, "the /proc view needs a mount namespace", "add a mount namespace")
    if not any(obj(m).get("destination") == "/proc" for m in arr(doc.get("mounts"))):
        yield error(HOST, at, "the config mounts no /proc to show the view in", "mount /proc")
    try:
        binary = view.lxcfs_binary()
    except PyruncError as e:
        yield error(HOST, at, str(e), "install lxcfs, or drop the annotation")
        return
    if view.serving(view.LXCFS_DIR):
        yield ok(HOST, at, f"lxcfs answers at {view.LXCFS_DIR}")
    else:
        yield ok(HOST, at, f"lxcfs ({binary}) will be started at {view.LXCFS_DIR} by create")


# ------------------------------------------------------------------ Intel RDT


def intel_rdt(doc: dict[str, Any]) -> Iterator[Finding]:
    """linux.intelRdt: where resctrl is mounted and what it offers (runc needs it too)."""
    section = obj(doc.get("linux")).get("intelRdt")
    if not isinstance(section, dict):
        return
    from pyrunc.linux import intelrdt

    at = "linux.intelRdt"
    root = intelrdt.find_root()
    if root is None:
        yield error(
            HOST,
            at,
            "no resctrl filesystem is mounted (Intel RDT is not enabled)",
            "on a host with RDT: mount -t resctrl resctrl /sys/fs/resctrl; else remove it",
        )
        return
    offered = [n for n in ("L3", "L3CODE", "L2", "MB", "SMBA") if intelrdt.has_resource(root, n)]
    monitoring = "yes" if intelrdt.monitoring_enabled(root) else "no"
    found = f"resources: {', '.join(offered) or 'none'}; monitoring: {monitoring}"
    yield ok(HOST, at, f"resctrl is mounted at {root} ({found})")
