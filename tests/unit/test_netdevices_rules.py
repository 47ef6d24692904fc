"""linux.netDevices without root: the validation rules (runc's validator and the
kernel's naming rules), the config record, and the pure rules of the move (which
addresses go along, the broadcast they get). The moves themselves: tests/test_netdevices.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyrunc.linux import netdevices
from pyrunc.spec.config import from_document
from pyrunc.spec.semantic import iter_semantic_errors

NETNS = [{"type": "network"}, {"type": "mount"}]


def errors(tmp_path: Path, devices: object, namespaces: list | None = None) -> list[str]:
    (tmp_path / "rootfs").mkdir(exist_ok=True)
    doc = {
        "ociVersion": "1.3.0",
        "root": {"path": "rootfs"},
        "process": {"cwd": "/", "args": ["sh"]},
        "linux": {"namespaces": NETNS if namespaces is None else namespaces,
                  "netDevices": devices},
    }  # fmt: skip
    return [e for e in iter_semantic_errors(doc, str(tmp_path)) if "netDevices" in e]


@pytest.mark.parametrize(
    "devices",
    [
        {"eth0": {}},
        {"eth0": {"name": "ctr0"}, "eth1": {}},
        {"a": {"name": "b"}, "b": {"name": "a"}},  # swapped: both free in the container
        {"eth0": {"name": "ctr%d"}, "eth1": {"name": "ctr%d"}},  # the kernel picks each
        {"eth0": {"name": ""}},  # empty: the host name, as runc
        {"enp0s3.100": {"name": "x" * 15}},
    ],
)
def test_accepted(tmp_path: Path, devices: dict) -> None:
    assert errors(tmp_path, devices) == []


@pytest.mark.parametrize(
    ("devices", "namespaces", "message"),
    [
        ({"eth0": {}}, [{"type": "mount"}], "linux.netDevices: needs a network namespace"),
        ({"eth0": {}}, [{"type": "network", "path": "/proc/self/ns/net"}],
         "linux.netDevices: not allowed in the host's network namespace"),
        ({"eth:0": {}}, None, 'linux.netDevices["eth:0"]: invalid network interface name'),
        ({"eth0": {"name": "x" * 16}}, None,
         "linux.netDevices.eth0.name: invalid network interface name"),
        ({"eth0": {"name": "a b"}}, None,
         "linux.netDevices.eth0.name: invalid network interface name"),
        ({"eth0": {"name": ".."}}, None,
         "linux.netDevices.eth0.name: invalid network interface name"),
        ({"eth0": {"name": "ctr%s"}}, None,
         "linux.netDevices.eth0.name: a name template has one %d and no other %"),
        ({"eth0": {"name": "c%d%d"}}, None,
         "linux.netDevices.eth0.name: a name template has one %d and no other %"),
        ({"a": {}, "b": {"name": "a"}}, None,
         "linux.netDevices.b.name: a is also the name of linux.netDevices.a in the container"),
        ({"a": {"name": "b"}, "b": {}}, None,
         "linux.netDevices.b: b is also the name of linux.netDevices.a in the container"),
    ],
)  # fmt: skip
def test_refused(tmp_path: Path, devices: dict, namespaces: list | None, message: str) -> None:
    assert errors(tmp_path, devices, namespaces) == ["config.json: " + message]


names = st.text(alphabet="abc%d", min_size=1, max_size=3)


@given(st.dictionaries(names, st.one_of(st.none(), names), max_size=6))
def test_each_name_in_the_container_is_taken_once(devices: dict) -> None:
    """One refusal per entry whose name (not a template) an earlier entry already takes."""
    doc = {k: ({} if v is None else {"name": v}) for k, v in devices.items()}
    targets = [v or k for k, v in devices.items()]
    plain = [t for t in targets if "%" not in t]
    from pyrunc.spec.semantic import _net_device_clashes

    assert len(list(_net_device_clashes(doc))) == len(plain) - len(set(plain))


def test_config_record_maps_host_names_to_container_names() -> None:
    doc = {
        "ociVersion": "1.3.0",
        "root": {"path": "rootfs"},
        "linux": {"netDevices": {"eth0": {}, "eth1": {"name": "ctr1"}, "eth2": {"name": ""}}},
    }
    linux = from_document(doc, "/b").linux
    assert linux.net_devices == {"eth0": "eth0", "eth1": "ctr1", "eth2": "eth2"}
    assert from_document({**doc, "linux": {}}, "/b").linux.net_devices == {}


@given(st.integers(0, 2**32 - 1), st.integers(0, 255))
def test_only_permanent_global_addresses_move(flags: int, scope: int) -> None:
    assert netdevices.address_moves(flags, scope) == (bool(flags & 0x80) and scope == 0)


@given(st.integers(0, 2**32 - 1), st.integers(0, 32))
def test_ipv4_broadcast_up_to_slash_30(address: int, prefixlen: int) -> None:
    dotted = ".".join(str(address >> s & 0xFF) for s in (24, 16, 8, 0))
    got = netdevices.broadcast_of(2, dotted, prefixlen)
    if prefixlen >= 31:
        assert got is None  # RFC 3021 point-to-point, and a single host: none
    else:
        host_bits = (1 << (32 - prefixlen)) - 1
        want = address | host_bits
        assert got == ".".join(str(want >> s & 0xFF) for s in (24, 16, 8, 0))


def test_no_broadcast_for_ipv6() -> None:
    assert netdevices.broadcast_of(10, "fd00::1", 64) is None


@pytest.mark.parametrize(
    ("name", "renamed", "path"),
    [
        ("eth0", False, "linux.netDevices.eth0"),
        ("eth0", True, "linux.netDevices.eth0.name"),
        ("enp0s3.100", False, 'linux.netDevices["enp0s3.100"]'),
    ],
)
def test_errors_name_the_field_as_validation_does(name: str, renamed: bool, path: str) -> None:
    assert netdevices.field_path(name, renamed) == path


def test_templates() -> None:
    assert netdevices.is_template("eth%d") and not netdevices.is_template("eth0")


def test_nothing_to_move_needs_no_pyroute2() -> None:
    """The module costs nothing until interfaces move: pyroute2 (~100 ms) comes with them."""
    code = (
        "import sys; from pyrunc.linux import netdevices; netdevices.move_in({}, '/nonexistent');"
        "sys.exit('pyroute2' in sys.modules)"
    )
    repo = Path(__file__).parents[2]
    assert subprocess.run([sys.executable, "-c", code], cwd=repo, check=False).returncode == 0
