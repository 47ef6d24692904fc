"""linux.netDevices: host interfaces moved into the container's network namespace
(runtime-spec 1.3, config-linux.md "Network Devices"; runc's devChangeNetNamespace).

The runtime does it, on the host side, while stage 1 waits in the container's network
namespace and before init exists (pyrunc/process/intermediate.py), the point where runc
does it: init's sysctls, the hooks and the user's process all find the interfaces there.

Every entry is checked before any interface is touched (it exists here; its name in the
container is free there), so a refused create leaves the host as it was. Then, for each:
moved and renamed in one RTM_NEWLINK (the new name never has to be free on the host; the
kernel takes it down on the way), its permanent global addresses added again (the kernel
drops addresses on a move; MTU, MAC and flags travel with the device), and up, as the
spec asks whatever its state on the host was.

Nothing happens at delete: the spec says the runtime MUST NOT move interfaces out, and
runc does not. When the namespace dies with the container's last process, the kernel
destroys virtual interfaces (veth, dummy, macvlan...) and gives physical ones back to the
initial namespace under their name in the container (dev%d if that is taken there); a
namespace joined by path keeps them. A create that fails after a move leaves the same to
the kernel: its namespace dies with stage 1.

pyroute2 costs ~100 ms to import: only the functions that run when the field is set
import it (CONTRIBUTING.md, Imports).
"""

from __future__ import annotations

import os

from pyrunc.errors import CreateFailed
from pyrunc.linux import syscalls as sc

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from typing import Any

_AF_INET = 2
_IFA_F_PERMANENT = 0x80  # <linux/if_addr.h>
_RT_SCOPE_UNIVERSE = 0  # "global" in ip(8)


# ------------------------------------------------------------------ pure rules


def is_template(name: str) -> bool:
    """Whether `name` is a kernel name template ("eth%d"): the kernel picks a free name."""
    return "%" in name


def address_moves(flags: int, scope: int) -> bool:
    """Whether an address goes along (runc and the spec): permanent and of global scope.
    Dynamic addresses depend on the host's context; host and link scopes mean nothing in
    another namespace."""
    return bool(flags & _IFA_F_PERMANENT) and scope == _RT_SCOPE_UNIVERSE


def broadcast_of(family: int, address: str, prefixlen: int) -> str | None:
    """The broadcast address an IPv4 address is added with again (runc's netlink library
    computes it from the prefix, for prefixes up to /30: RFC 3021), None otherwise."""
    if family != _AF_INET or prefixlen >= 31:
        return None
    import ipaddress

    return str(ipaddress.IPv4Network(f"{address}/{prefixlen}", strict=False).broadcast_address)


def field_path(host_name: str, renamed: bool = False) -> str:
    """The config field an error is about, as validation messages write it."""
    from pyrunc.spec.validate import format_path

    return format_path(("linux", "netDevices", host_name, *(("name",) if renamed else ())))


# ------------------------------------------------------------------ netlink


def move_in(devices: dict[str, str], netns_path: str) -> None:
    """Move each host interface (key) into the network namespace at netns_path, named
    devices[key] there. Raises CreateFailed naming the field: before touching anything
    for what can be checked (a missing interface, a name taken in the namespace), else
    for the step the kernel refused."""
    if not devices:
        return
    from pyroute2.netlink.exceptions import NetlinkError  # type: ignore[import-untyped]

    netns_fd = _open_netns(netns_path)
    try:
        host, inside = _route_socket(), _route_socket(netns_fd)
        try:
            indexes = _check(host, inside, devices)
            for name, target in devices.items():
                _move(host, inside, name, target, indexes[name], netns_fd)
        finally:
            host.close()
            inside.close()
    except NetlinkError as e:  # a dump or lookup the steps below do not expect to fail
        raise CreateFailed(f"linux.netDevices: netlink: {_reason(e)}") from None
    finally:
        os.close(netns_fd)


def _open_netns(path: str) -> int:
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise CreateFailed(
            f"linux.netDevices: opening the container's network namespace: {e.strerror}"
        ) from None


def _route_socket(netns_fd: int = -1) -> Any:
    """An rtnetlink handle, in the namespace netns_fd if given: a netlink socket belongs
    to the namespace it was created in, so we step in for its creation and back out
    (what runc's netlink.NewHandleAt does)."""
    from pyroute2 import IPRoute  # type: ignore[import-untyped]

    if netns_fd < 0:
        return IPRoute()
    ours = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        sc.setns(netns_fd, sc.CLONE_NEWNET)
        try:
            return IPRoute()
        finally:
            sc.setns(ours, sc.CLONE_NEWNET)  # failing here fails create: never stay inside
    except OSError as e:
        raise CreateFailed(
            f"linux.netDevices: entering the container's network namespace: {e.strerror}"
        ) from None
    finally:
        os.close(ours)


def _names(ipr: Any) -> set[str]:
    return {link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}


def _check(host: Any, inside: Any, devices: dict[str, str]) -> dict[str, int]:
    """Each host interface's index; CreateFailed for the first entry that cannot move.
    (Duplicate names in the container are refused by validation already.)"""
    taken = _names(inside)
    indexes: dict[str, int] = {}
    for name, target in devices.items():
        found = host.link_lookup(ifname=name)
        if not found:
            raise CreateFailed(
                f"{field_path(name)}: no such network interface in the runtime's namespace"
            )
        indexes[name] = found[0]
        if not is_template(target) and target in taken:
            raise CreateFailed(
                f"{field_path(name, target != name)}: {target} already exists in the "
                "container's network namespace"
            )
    return indexes


def _move(host: Any, inside: Any, name: str, target: str, index: int, netns_fd: int) -> None:
    from pyroute2.netlink.exceptions import NetlinkError  # type: ignore[import-untyped]

    at = field_path(name)
    addresses = _moving_addresses(host, index)
    before = {link["index"] for link in inside.get_links()}
    try:
        # runc sets it down first; the kernel closes it itself once the move is sure to
        # happen (dev_change_net_namespace), so a refused move (a bridge, "lo") leaves it
        # up on the host instead of down.
        host.link("set", index=index, net_ns_fd=netns_fd, ifname=target)
    except NetlinkError as e:
        raise CreateFailed(
            f"{at}: moving into the container's network namespace: {_reason(e)}"
        ) from None
    try:
        moved = _find_moved(inside, at, target, before)
        for family, address, prefixlen in addresses:
            _add_address(inside, moved, family, address, prefixlen)
        inside.link("set", index=moved, state="up")
    except NetlinkError as e:
        # The namespace dies with stage 1 and the kernel takes the interface back.
        raise CreateFailed(f"{at}: setting up in the container's network namespace: "
                           f"{_reason(e)}") from None  # fmt: skip


def _moving_addresses(host: Any, index: int) -> list[tuple[int, str, int]]:
    """(family, address, prefixlen) of the addresses that go along, read before the move."""
    kept = []
    for msg in host.get_addr(index=index):
        flags = msg.get_attr("IFA_FLAGS")
        if flags is None:  # older kernels: the header's 8 bits only
            flags = msg["flags"]
        if not address_moves(flags, msg["scope"]):
            continue
        # IFA_LOCAL is the interface's own address (IFA_ADDRESS is the peer's on a
        # point-to-point link); IPv6 has IFA_ADDRESS only. The peer is not kept (runc).
        address = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
        if address:
            kept.append((msg["family"], address, msg["prefixlen"]))
    return kept


def _find_moved(inside: Any, at: str, target: str, before: set[int]) -> int:
    """The moved interface's index in the namespace: by name, or for a template ("eth%d",
    named by the kernel) the one interface that was not there before the move."""
    if not is_template(target):
        found = inside.link_lookup(ifname=target)
    else:
        found = [link["index"] for link in inside.get_links() if link["index"] not in before]
    if len(found) != 1:
        raise CreateFailed(
            f"{at}: {target} not found in the container's network namespace after the move"
        )
    return found[0]


def _add_address(inside: Any, index: int, family: int, address: str, prefixlen: int) -> None:
    extra = {}
    broadcast = broadcast_of(family, address, prefixlen)
    if broadcast is not None:
        extra["broadcast"] = broadcast
    if family == _AF_INET:
        extra["local"] = address
    inside.addr("add", index=index, family=family, address=address, prefixlen=prefixlen,
                **extra)  # fmt: skip


def _reason(e: Exception) -> str:
    code = getattr(e, "code", 0)
    return os.strerror(code).lower() if code else str(e)
