"""Rootless: what this user may do on this host, for what the bundle asks.

Only when the runtime would run rootless (pyrunc/rootless.py: an ordinary user, root in
a user namespace, or --rootless true). It says, each on one line: why rootless; whether
the user may make the container's user namespace and write its maps (its own id
directly, more through newuidmap/newgidmap and /etc/subuid, /etc/subgid); whether it
may make the container's cgroup, and so whether limits, pause and events work; the
devices that are bound from the host instead of made; sysfs; and the state root
($XDG_RUNTIME_DIR/pyrunc). The other checks still apply, run as this user.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from pyrunc.check.findings import HOST, Finding, error, ok, warning
from pyrunc.check.sysfiles import read_text
from pyrunc.options import DEFAULT_ROOT, RuntimeOptions
from pyrunc.spec.lenient import arr, integer, namespace_entries, new_namespace, obj, text

_ID = "pyrunc-check"  # stands for the container id in a default cgroupsPath
_SYSCTLS = (
    ("/proc/sys/user/max_user_namespaces", "0", "sysctl -w user.max_user_namespaces=15000"),
    ("/proc/sys/kernel/unprivileged_userns_clone", "0",
     "sysctl -w kernel.unprivileged_userns_clone=1"),
    ("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1",
     "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or an AppArmor profile"),
)  # fmt: skip


def check(doc: dict[str, Any], options: RuntimeOptions) -> Iterator[Finding]:
    from pyrunc import rootless

    if not options.is_rootless():
        return
    in_userns = rootless.in_user_namespace()
    yield ok(HOST, "", f"rootless: {_why(options, in_userns)}")
    yield from _user_namespace(doc, in_userns)
    yield from _mappings(doc, in_userns)
    yield from _cgroups(doc, options)
    yield from _devices(doc)
    yield from _sysfs(doc)
    yield from _state_root(options)


def _why(options: RuntimeOptions, in_userns: bool) -> str:
    if options.rootless:
        return "--rootless true"
    if os.geteuid() != 0:
        return f"run by uid {os.geteuid()}, not root"
    return "root in a user namespace, not the host's root" if in_userns else "auto"


def _account() -> str:
    """This user's name, as /etc/subuid names it."""
    import pwd

    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def _user_name() -> str:
    """This user's name; in a user namespace, with the host's uid it stands for."""
    from pyrunc import rootless

    if not rootless.in_user_namespace():
        return _account()
    return f"{_account()} (host uid {_host_uid(os.geteuid())})"


def _host_uid(uid: int) -> str:
    try:
        with open("/proc/self/uid_map") as f:
            for line in f:
                inside, outside, size = (int(x) for x in line.split())
                if inside <= uid < inside + size:
                    return str(outside + uid - inside)
    except (OSError, ValueError):
        pass
    return "?"


# ------------------------------------------------------------------ user namespace


def _user_namespace(doc: dict[str, Any], in_userns: bool) -> Iterator[Finding]:
    from pyrunc import rootless

    i = new_namespace(doc, "user")
    if i is None:
        if in_userns:
            yield ok(HOST, "", "the runtime runs in a user namespace: the container's "
                     "namespaces are made in it (rootless podman's case)")  # fmt: skip
        elif rootless.lacks_user_namespace(kind for _, kind, _ in namespace_entries(doc)):
            yield error(
                HOST,
                "linux.namespaces",
                f"{rootless.REQUIRES_USER_NAMESPACE} (an ordinary user may make no other "
                "namespace outside one)",
                'add {"type": "user"} with uidMappings and gidMappings '
                "(pyrunc spec --rootless writes them)",
            )
        return
    at = f"linux.namespaces[{i}].type"
    refused = _userns_refused()
    if refused is None:
        yield ok(HOST, at, f"{_user_name()} may make user namespaces")
        return
    why, hint = _userns_blocker()
    yield error(HOST, at, f"{_user_name()} may not make a user namespace: {refused}{why}", hint)


def _userns_refused() -> str | None:
    """The kernel's answer to unshare(CLONE_NEWUSER) in a child that exits at once:
    None, or the error's text."""
    from pyrunc.linux import syscalls as sc

    pid = os.fork()
    if pid == 0:
        try:
            sc.unshare(sc.CLONE_NEWUSER)
        except OSError as e:
            os._exit(e.errno or 1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return None if code == 0 else os.strerror(code).lower()


def _userns_blocker() -> tuple[str, str]:
    """(" (the sysctl that says no)", how to allow it)."""
    for path, refusing, hint in _SYSCTLS:
        value = read_text(path)
        if value == refusing:
            name = path.removeprefix("/proc/sys/").replace("/", ".")
            return f" ({name} = {value})", hint
    return "", "ask root to allow unprivileged user namespaces on this host"


# ------------------------------------------------------------------------ maps


def _mappings(doc: dict[str, Any], in_userns: bool) -> Iterator[Finding]:
    if new_namespace(doc, "user") is None:
        return
    linux = obj(doc.get("linux"))
    if in_userns and os.geteuid() == 0:
        yield ok(HOST, "linux.uidMappings", "root in a user namespace writes the maps "
                 "itself, within the ids of its own namespace")  # fmt: skip
        return
    for which, own, field in (("uid", os.geteuid(), "uidMappings"),
                              ("gid", os.getegid(), "gidMappings")):  # fmt: skip
        yield from _map(which, own, f"linux.{field}", arr(linux.get(field)))


def _map(which: str, own: int, at: str, mappings: list[Any]) -> Iterator[Finding]:
    from pyrunc.linux import idmap_tools

    entries = [
        (integer(obj(m).get("containerID")), integer(obj(m).get("hostID")),
         integer(obj(m).get("size")))
        for m in mappings
    ]  # fmt: skip
    if not entries or any(None in e for e in entries):
        return  # bundle/semantics names a missing or malformed map
    tool = _Tool(which, own)
    if entries == [(0, own, 1)]:
        yield ok(HOST, at, f"maps only your own {which} ({own}): the runtime writes it itself")
        if tool.why_not() is None:
            yield ok(HOST, at, f"{tool.path} ({tool.privilege}) could map more: {tool.ranges_text}")
        else:
            yield warning(
                HOST,
                at,
                f"only your own {which} can be mapped here: {tool.why_not()}",
                f"install uidmap and have root give {tool.user} a range in {tool.files} "
                f"(usermod --add-sub{which}s 100000-165535 {tool.user})",
            )
        return
    if tool.path is None or tool.privilege is None:
        yield error(
            HOST,
            at,
            f"mapping more than your own {which} needs {tool.name}: {tool.why_not()}",
            "install it (Debian: apt-get install uidmap), or map only your own id",
        )
        return
    yield ok(HOST, at, f"{tool.path} ({tool.privilege}) writes the map; {tool.ranges_text}")
    for i, (_, host, size) in enumerate(entries):
        first = idmap_tools.uncovered(host, size, [(own, 1), *tool.ranges])  # type: ignore[arg-type]
        if first is not None:
            yield error(
                HOST,
                f"{at}[{i}].hostID",
                f"host {which} {first} is neither yours nor in {tool.files} for {tool.user} "
                f"({tool.ranges_text}): {tool.name} will refuse the map",
                f"map only your own {which} and your {tool.files} ranges, or have root add "
                f"the range (usermod --add-sub{which}s)",
            )


class _Tool:
    """newuidmap or newgidmap, and the ranges it would let this user map."""

    def __init__(self, which: str, own: int) -> None:
        from pyrunc.linux import idmap_tools

        self.name = f"new{which}map"
        self.path = idmap_tools.find_tool(self.name)
        self.privilege = idmap_tools.privilege(self.path) if self.path else None
        self.user = _account()
        self.files = f"/etc/sub{which}"
        self.ranges = idmap_tools.subordinate_ranges(self.files, self.user, own)

    @property
    def ranges_text(self) -> str:
        held = ", ".join(f"{s}-{s + n - 1}" for s, n in self.ranges) or "no range"
        return f"{self.files} gives {self.user} {held}"

    def why_not(self) -> str | None:
        """Why no more than the user's own id can be mapped, or None."""
        if self.path is None:
            return f"{self.name} is not installed (Debian: uidmap)"
        if self.privilege is None:
            return f"{self.path} is neither setuid root nor has file capabilities"
        if not self.ranges:
            return self.ranges_text
        return None


# ------------------------------------------------------------------------ cgroups


def _cgroups(doc: dict[str, Any], options: RuntimeOptions) -> Iterator[Finding]:
    """What create's rootless_share would give: the part of the cgroup the user may
    make, or none; and which asked-for limit that leaves without a cgroup."""
    from pyrunc.cgroups.manager import new_manager
    from pyrunc.cgroups.rootless import asked_limits, rootless_share
    from pyrunc.errors import CgroupError

    linux = obj(doc.get("linux"))
    path = text(linux.get("cgroupsPath"))
    name = _user_name()
    try:
        share = rootless_share(new_manager(_ID, path, options.systemd_cgroup), named=bool(path))
    except CgroupError as e:  # a named cgroup the user may not make
        yield error(HOST, "linux.cgroupsPath", str(e),
                    f"name a cgroup {name} may make, or leave cgroupsPath out")  # fmt: skip
        return
    except Exception:  # noqa: BLE001 - the cgroups check reports a bad cgroupsPath
        return
    resources = linux.get("resources")
    limits = list(asked_limits(resources if isinstance(resources, dict) else None))
    unjoined = getattr(share, "unjoined", [])
    if share is not None:
        where = ", ".join(sorted({os.path.dirname(d) for d, _ in share.mount_views()}))
        yield ok(HOST, "linux.cgroupsPath", f"you may make the container's cgroup (in "
                 f"{where}): limits, pause and events work; device rules are not enforced "
                 "rootless")  # fmt: skip
        if unjoined:
            left = ", ".join(unjoined)
            yield warning(HOST, "linux.cgroupsPath", f"{name} may not make it in {left}: "
                          "the container stays in your own cgroup there",
                          f"have root hand {left} over to {name}")  # fmt: skip
        limits = [(k, c) for k, c in limits if any(c in u.split(",") for u in unjoined)]
        if not limits:
            return
    if limits:
        key, controller = limits[0]
        yield error(
            HOST,
            f"linux.resources.{key}",
            f"cannot set {controller} limit: container could not join or create cgroup "
            f"({name} may write no {controller} cgroup here)",
            f"remove linux.resources.{key}, or have root delegate a cgroup v2 subtree to {name}",
        )
        return
    yield warning(
        HOST,
        "linux.cgroupsPath",
        f"{name} may write no cgroup here: the container stays in your own cgroups; "
        "limits, pause and exec --cgroup are refused, events reports zeros",
        f"to have them, run on cgroup v2 with a subtree delegated to {name}",
    )


# ------------------------------------------------------------------ devices, sysfs


def _devices(doc: dict[str, Any]) -> Iterator[Finding]:
    """A user namespace may not mknod: each device is the host's node, bound."""
    import stat

    kinds = {"c": stat.S_ISCHR, "u": stat.S_ISCHR, "b": stat.S_ISBLK, "p": stat.S_ISFIFO}
    for i, dev in enumerate(arr(obj(doc.get("linux")).get("devices"))):
        path, kind = text(obj(dev).get("path")), text(obj(dev).get("type"))
        if not path.startswith("/") or kind not in kinds:
            continue  # the schema check names it
        at = f"linux.devices[{i}].path"
        try:
            st = os.stat(path)
        except OSError as e:
            yield error(
                HOST,
                at,
                f"{path}: {os.strerror(e.errno or 0).lower()} on the host: rootless, the "
                "runtime binds the host's node (a user namespace may not mknod)",
                f"remove linux.devices[{i}], or run as root",
            )
            continue
        if not kinds[kind](st.st_mode):
            yield error(HOST, at, f"the host's {path} is not a type {kind} device: rootless, "
                        "the host's node is what the container gets",
                        f"correct linux.devices[{i}], or run as root")  # fmt: skip
        else:
            yield ok(HOST, at, f"the host's {path} is bound in (rootless: no mknod)")


def _sysfs(doc: dict[str, Any]) -> Iterator[Finding]:
    """The kernel mounts sysfs only for a network namespace the mounter's user namespace
    owns: without one of the container's own, the host's /sys is bound (as runc)."""
    own_netns = any(
        obj(ns).get("type") == "network" and not text(obj(ns).get("path"))
        for ns in arr(obj(doc.get("linux")).get("namespaces"))
    )
    if own_netns:
        return
    for i, m in enumerate(arr(doc.get("mounts"))):
        if obj(m).get("type") == "sysfs":
            yield ok(
                HOST,
                f"mounts[{i}].type",
                "no network namespace of its own: the host's /sys is bound instead of a "
                "new sysfs (the kernel refuses one), as runc does",
            )


# ---------------------------------------------------------------------- state root


def _state_root(options: RuntimeOptions) -> Iterator[Finding]:
    from pyrunc import rootless

    xdg = rootless.xdg_state_root()
    if xdg is not None and os.path.abspath(options.root) == os.path.abspath(xdg):
        yield ok(HOST, "", f"state root in $XDG_RUNTIME_DIR: {xdg}")
    elif options.root != DEFAULT_ROOT:
        yield ok(HOST, "", f"state root {options.root} (--root)")
    elif os.geteuid() != 0:
        yield warning(
            HOST,
            "",
            f"XDG_RUNTIME_DIR is not set: the state root is {DEFAULT_ROOT}, root's",
            "export XDG_RUNTIME_DIR=/run/user/$(id -u) (a 0700 dir of yours), or pass --root",
        )
