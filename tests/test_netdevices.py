"""linux.netDevices (runtime-spec 1.3): host interfaces moved into the container's
network namespace, renamed, with their addresses and MTU, up; refused in one line naming
the field with the host untouched. Read from the kernel: `ip` run in the container's
namespace (nsenter) and in ours, /proc/<pid>/net/dev.

Each test makes its own interfaces with unique names (a dummy where the kernel has the
driver, else a veth pair) and removes what is left of them. Debian's runc (1.1.5)
ignores netDevices: nothing to compare with it.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import Bundle, Runtime, create_fails, created

pytestmark = pytest.mark.skipif(
    shutil.which("ip") is None or shutil.which("nsenter") is None,
    reason="needs iproute2's ip and util-linux's nsenter on the host",
)


# -- the kernel's view --------------------------------------------------------------------


def ip(*args: str, pid: int | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """`ip` in our network namespace, or in pid's."""
    prefix = ["nsenter", "-t", str(pid), "-n"] if pid is not None else []
    return subprocess.run([*prefix, "ip", *args], capture_output=True, text=True, check=check)


def link(name: str, pid: int | None = None) -> dict | None:
    """`ip -j link show` of one interface (None: not in that namespace)."""
    r = ip("-j", "-d", "link", "show", "dev", name, pid=pid, check=False)
    return json.loads(r.stdout)[0] if r.returncode == 0 else None


def addresses(name: str, pid: int | None = None) -> list[tuple[str, int, str, str | None]]:
    """(address, prefixlen, scope, broadcast) of an interface."""
    out = json.loads(ip("-j", "addr", "show", "dev", name, pid=pid).stdout)[0]
    return [(a["local"], a["prefixlen"], a["scope"], a.get("broadcast"))
            for a in out.get("addr_info", [])]  # fmt: skip


def proc_net_dev(pid: int) -> set[str]:
    """The interfaces of pid's network namespace, as /proc/<pid>/net/dev lists them."""
    with open(f"/proc/{pid}/net/dev") as f:
        return {line.split(":", 1)[0].strip() for line in f.readlines()[2:]}


def gone_from_host(*names: str, timeout: float = 10) -> bool:
    """Whether every name has left our namespace (a namespace dies asynchronously)."""
    deadline = time.monotonic() + timeout
    while any(link(n) for n in names):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# -- host interfaces, made and removed by each test ---------------------------------------


@functools.cache
def link_kind() -> str | None:
    """The kind of virtual interface this kernel can make: dummy, else veth (a pair)."""
    for kind in ("dummy", "veth"):
        probe = f"pyrdp{uuid.uuid4().hex[:8]}"
        extra = ["peer", "name", probe + "p"] if kind == "veth" else []
        if ip("link", "add", probe, "type", kind, *extra, check=False).returncode == 0:
            ip("link", "del", probe)
            return kind
    return None


def can_make(kind: str) -> bool:
    probe = f"pyrdp{uuid.uuid4().hex[:8]}"
    if ip("link", "add", probe, "type", kind, check=False).returncode != 0:
        return False
    ip("link", "del", probe)
    return True


def ipv6_here() -> bool:
    try:
        with open("/proc/sys/net/ipv6/conf/default/disable_ipv6") as f:
            return f.read().strip() == "0"
    except FileNotFoundError:
        return False


@dataclass
class HostIf:
    name: str
    peer: str | None  # a veth's other end, left on the host
    mac: str


class HostInterfaces:
    """Interfaces this test made; whatever is left of them is deleted at the end."""

    def __init__(self) -> None:
        self.made: list[str] = []

    def new(self, kind: str | None = None, *, up: bool = True, mtu: int | None = None,
            addrs: tuple[str, ...] = ()) -> HostIf:  # fmt: skip
        kind = kind or link_kind()
        if kind is None:
            pytest.skip("this kernel makes neither dummy nor veth interfaces")
        name = f"pyrd{uuid.uuid4().hex[:8]}"
        peer = name[:-1] + "p" if kind == "veth" else None
        extra = ["peer", "name", peer] if peer else []
        self.made += [name, *([peer] if peer else [])]
        ip("link", "add", name, "type", kind, *extra)
        if mtu is not None:
            ip("link", "set", "dev", name, "mtu", str(mtu))
        for a in addrs:
            ip("addr", "add", a, "dev", name, *(["brd", "+"] if "." in a else []))
        if up:
            ip("link", "set", "dev", name, "up")
        return HostIf(name, peer, link(name)["address"])

    def remove_all(self) -> None:
        for name in self.made:
            ip("link", "del", name, check=False)  # a veth's end goes with the other


@pytest.fixture
def ifs() -> Iterator[HostInterfaces]:
    made = HostInterfaces()
    try:
        yield made
    finally:
        made.remove_all()


def net_devices(bundle: Bundle, devices: dict, *args: str) -> Bundle:
    bundle.config["linux"]["netDevices"] = devices
    bundle.config["process"]["args"] = list(args or ("sleep", "100"))
    return bundle.save()


def up(info: dict) -> bool:
    return "UP" in info["flags"]


# -- moved in -----------------------------------------------------------------------------


def test_moved_renamed_with_addresses_mtu_and_up(
    runtime: Runtime, bundle: Bundle, cid: str, ifs: HostInterfaces
) -> None:
    """Down on the host, with a global and a host-scope address and its own MTU: in the
    container it has the new name, the MTU, the MAC, only the global address (and its
    broadcast), and is up (the spec: up whatever it was)."""
    v6 = ("fd00:5079:7275::2/64",) if ipv6_here() else ()
    dev = ifs.new(up=False, mtu=1380, addrs=("10.231.7.2/24", "127.0.0.77/8", *v6))
    net_devices(bundle, {dev.name: {"name": "ctr-renamed0"}})
    with created(runtime, bundle, cid) as pid:
        inside = link("ctr-renamed0", pid)
        assert inside is not None, ip("-o", "link", pid=pid).stdout
        assert inside["mtu"] == 1380 and inside["address"] == dev.mac
        assert up(inside)
        kept = addresses("ctr-renamed0", pid)
        assert ("10.231.7.2", 24, "global", "10.231.7.255") in kept
        assert not any(a[0] == "127.0.0.77" for a in kept), kept  # host scope stays out
        if v6:
            assert ("fd00:5079:7275::2", 64, "global", None) in kept
        assert "ctr-renamed0" in proc_net_dev(pid)
        assert link(dev.name) is None and link("ctr-renamed0") is None  # not on the host


def test_moved_through_the_installed_launcher(
    state_root: str, bundle: Bundle, cid: str, ifs: HostInterfaces, tmp_path: Path
) -> None:
    """Engines call the launcher (python -IS: no site-packages of its own): pyroute2,
    imported only for netDevices, must still be found there."""
    launcher = str(tmp_path / "pyrunc")
    subprocess.run([sys.executable, "-m", "pyrunc.launcher", launcher], check=True,
                   capture_output=True)  # fmt: skip
    dev = ifs.new(addrs=("10.231.9.2/24",))
    net_devices(bundle, {dev.name: {"name": "ctr-launched0"}})
    with created(Runtime(state_root, [launcher]), bundle, cid) as pid:
        assert "ctr-launched0" in proc_net_dev(pid)
        assert link(dev.name) is None


def test_keeps_its_name_without_name(
    runtime: Runtime, bundle: Bundle, cid: str, ifs: HostInterfaces
) -> None:
    dev = ifs.new(addrs=("10.231.8.2/30",))
    net_devices(bundle, {dev.name: {}})
    with created(runtime, bundle, cid) as pid:
        assert dev.name in proc_net_dev(pid)
        assert up(link(dev.name, pid))
        assert ("10.231.8.2", 30, "global", "10.231.8.3") in addresses(dev.name, pid)
        assert link(dev.name) is None


def test_seen_by_the_containers_process_and_sysctls(
    runtime: Runtime, bundle: Bundle, cid: str, ifs: HostInterfaces
) -> None:
    """Moved before init sets anything up (runc's order): a sysctl of the interface is
    written, and the user's process sees it."""
    dev = ifs.new(mtu=1420)
    bundle.config["linux"]["sysctl"] = {"net.ipv4.conf.ctr1.forwarding": "1"}
    files = ("/sys/class/net/ctr1/mtu", "/proc/sys/net/ipv4/conf/ctr1/forwarding")
    net_devices(bundle, {dev.name: {"name": "ctr1"}}, "cat", *files)
    out = runtime.ok("run", "--bundle", bundle.path, cid).out.split()
    assert out == ["1420", "1"], out


def test_name_template_is_completed_by_the_kernel(
    runtime: Runtime, bundle: Bundle, cid: str, ifs: HostInterfaces
) -> None:
    first, second = ifs.new(), ifs.new()
    net_devices(bundle, {first.name: {"name": "ctr%d"}, second.name: {"name": "ctr%d"}})
    with created(runtime, bundle, cid) as pid:
        names = proc_net_dev(pid)
        assert {"ctr0", "ctr1"} <= names, names
        assert {link(n, pid)["address"] for n in ("ctr0", "ctr1")} == {first.mac, second.mac}


def test_moved_into_a_user_namespaced_container(
    runtime: Runtime, bundle: Bundle, cid: str, ifs: HostInterfaces
) -> None:
    """The new network namespace belongs to the container's user namespace (runc's
    userns.bats case): the move is the host's to make all the same."""
    dev = ifs.new(addrs=("10.231.12.2/24",))
    lx = bundle.config["linux"]
    lx["namespaces"].append({"type": "user"})
    lx["uidMappings"] = lx["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    net_devices(bundle, {dev.name: {"name": "ctr6"}})
    with created(runtime, bundle, cid) as pid:
        assert up(link("ctr6", pid))
        assert ("10.231.12.2", 24, "global", "10.231.12.255") in addresses("ctr6", pid)


# -- after delete: the kernel's, as runc ----------------------------------------------------


def test_delete_leaves_it_to_the_namespace(
    runtime: Runtime, bundle: Bundle, cid: str, ifs: HostInterfaces
) -> None:
    """Nothing moves it back (the spec forbids it, runc does not): when the container's
    namespace dies the kernel destroys a virtual interface (a veth's host end with it)."""
    dev = ifs.new()
    net_devices(bundle, {dev.name: {"name": "ctr2"}})
    with created(runtime, bundle, cid) as pid:
        assert "ctr2" in proc_net_dev(pid)
    assert gone_from_host(dev.name, "ctr2", *([dev.peer] if dev.peer else []))


def test_joined_namespace_keeps_it_after_delete(
    runtime: Runtime, bundle: Bundle, cid: str, ifs: HostInterfaces
) -> None:
    """A namespace joined by path outlives the container: the interface stays in it,
    renamed and up (runc's "precreated container network namespace" case)."""
    dev = ifs.new(addrs=("10.231.9.2/24",))
    holder = subprocess.Popen(["unshare", "--net", "sleep", "300"])
    try:
        path = _wait_for_own_netns(holder.pid)
        for ns in bundle.config["linux"]["namespaces"]:
            if ns["type"] == "network":
                ns["path"] = path
        net_devices(bundle, {dev.name: {"name": "ctr3"}})
        with created(runtime, bundle, cid) as pid:
            assert os.readlink(f"/proc/{pid}/ns/net") == os.readlink(path)
        assert runtime("state", cid).code == 1  # deleted
        still = link("ctr3", holder.pid)
        assert still is not None and up(still)
        assert ("10.231.9.2", 24, "global", "10.231.9.255") in addresses("ctr3", holder.pid)
        assert link(dev.name) is None
    finally:
        holder.kill()
        holder.wait()


def _wait_for_own_netns(pid: int) -> str:
    path = f"/proc/{pid}/ns/net"
    ours = os.readlink("/proc/self/ns/net")
    deadline = time.monotonic() + 10
    while os.readlink(path) == ours:  # unshare(1) has not unshared yet
        assert time.monotonic() < deadline, "unshare --net did not start"
        time.sleep(0.01)
    return path


# -- refused: one line naming the field, the host untouched -----------------------------------

NOT_HERE = "no such network interface in the runtime's namespace"
THEIRS = "the container's network namespace"


@contextmanager
def untouched(dev: HostIf) -> Iterator[None]:
    """The interface is still on the host afterwards, with its name, state and addresses."""
    before = (link(dev.name), addresses(dev.name))
    yield
    after = (link(dev.name), addresses(dev.name))
    assert after[0] is not None, f"{dev.name} left the host"
    assert (up(after[0]), after[0]["mtu"], after[1]) == (up(before[0]), before[0]["mtu"], before[1])


def test_missing_interface_fails_create(
    runtime: Runtime, bundle: Bundle, cid: str, ifs: HostInterfaces
) -> None:
    dev = ifs.new(addrs=("10.231.10.2/24",))
    missing = f"pyrd{uuid.uuid4().hex[:8]}"
    net_devices(bundle, {dev.name: {}, missing: {"name": "ctr4"}})
    with untouched(dev):
        msg = create_fails(runtime, bundle, cid)
    assert msg == f"linux.netDevices.{missing}: {NOT_HERE}"


def test_name_taken_in_the_namespace_fails_create(
    runtime: Runtime, bundle: Bundle, cid: str, ifs: HostInterfaces
) -> None:
    """A new namespace has its loopback: "lo" is taken (the spec: MUST generate an error)."""
    dev = ifs.new(addrs=("10.231.11.2/24",))
    net_devices(bundle, {dev.name: {"name": "lo"}})
    with untouched(dev):
        msg = create_fails(runtime, bundle, cid)
    assert msg == f"linux.netDevices.{dev.name}.name: lo already exists in {THEIRS}"


def test_kernel_refusal_fails_create_and_the_namespace_takes_back_the_rest(
    runtime: Runtime, bundle: Bundle, cid: str, ifs: HostInterfaces
) -> None:
    """A bridge cannot change namespace (the kernel says EINVAL): create fails naming it,
    the bridge is back up on the host; the interface moved before it dies with the
    namespace, as with runc (the spec leaves moved interfaces to the kernel)."""
    if not can_make("bridge"):
        pytest.skip("this kernel makes no bridge interfaces (the one kind here that cannot move)")
    moved = ifs.new()
    bridge = ifs.new("bridge")
    net_devices(bundle, {moved.name: {}, bridge.name: {}})
    with untouched(bridge):
        msg = create_fails(runtime, bundle, cid)
    assert msg == (f"linux.netDevices.{bridge.name}: moving into the container's network "
                   "namespace: invalid argument")  # fmt: skip
    assert gone_from_host(moved.name)


def test_one_name_twice_is_refused(
    runtime: Runtime, bundle: Bundle, cid: str, ifs: HostInterfaces
) -> None:
    first, second = ifs.new(), ifs.new()
    net_devices(bundle, {first.name: {"name": "ctr5"}, second.name: {"name": "ctr5"}})
    with untouched(first), untouched(second):
        msg = create_fails(runtime, bundle, cid)
    assert msg == (f"config.json: linux.netDevices.{second.name}.name: ctr5 is also the "
                   f"name of linux.netDevices.{first.name} in the container")  # fmt: skip
    _check_agrees(runtime, bundle, f"linux.netDevices.{second.name}.name")


def test_no_network_namespace_is_refused(
    runtime: Runtime, bundle: Bundle, cid: str, ifs: HostInterfaces
) -> None:
    dev = ifs.new()
    lx = bundle.config["linux"]
    lx["namespaces"] = [ns for ns in lx["namespaces"] if ns["type"] != "network"]
    net_devices(bundle, {dev.name: {}})
    with untouched(dev):
        msg = create_fails(runtime, bundle, cid)
    assert msg == "config.json: linux.netDevices: needs a network namespace"
    _check_agrees(runtime, bundle, "linux.netDevices")


def test_the_hosts_network_namespace_is_refused(
    runtime: Runtime, bundle: Bundle, cid: str, ifs: HostInterfaces
) -> None:
    dev = ifs.new()
    for ns in bundle.config["linux"]["namespaces"]:
        if ns["type"] == "network":
            ns["path"] = "/proc/self/ns/net"  # the runtime's own: the host's
    net_devices(bundle, {dev.name: {}})
    with untouched(dev):
        msg = create_fails(runtime, bundle, cid)
    assert msg == "config.json: linux.netDevices: not allowed in the host's network namespace"


def _check_agrees(runtime: Runtime, bundle: Bundle, path: str) -> None:
    report = runtime("check", "--bundle", bundle.path, "--format", "json").json()
    assert any(f["path"] == path for f in report["findings"]), report
