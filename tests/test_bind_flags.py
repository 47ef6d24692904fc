"""The per-mount flags of a bind mount of a mount that has flags, as the kernel shows
them in the container's mountinfo: what runc's mounts_sshfs.bats expects.

The source is a tmpfs whose per-mount flags are set with `mount --bind -o remount`
(as the bats file's fallback does: flags given at the first mount would land on the
superblock, where no bind can clear them). Without a user namespace the bind gets
exactly the flags its options ask for; in one, the source's ro, nosuid, nodev, noexec
and atime flags are locked by the kernel: unnamed ones are kept, and an option that
would clear one, or change the atime mode, fails the container.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests import host as host_probe
from tests.helpers import Bundle, Runtime, create_fails, created

MARKER = "from-host"  # a file in the source's tmpfs: the bind shows that mount
USERNS_MAP = [{"containerID": 0, "hostID": 100000, "size": 65536}]


def _mount_opts(pid: int | str, point: str) -> set[str]:
    """The per-mount options (mountinfo's sixth field) of the topmost mount at point."""
    with open(f"/proc/{pid}/mountinfo") as f:
        found = [line.split() for line in f if line.split()[4] == point]
    assert found, f"nothing mounted at {point} for {pid}"
    return set(found[-1][5].split(","))


@contextmanager
def _flagged_source(path: str, flags: str) -> Iterator[set[str]]:
    """A tmpfs at path with the per-mount flags `flags`; yields what the host shows."""
    os.makedirs(path, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "rw,suid,dev,exec,strictatime", "tmpfs", path], check=True
    )
    try:
        with open(os.path.join(path, MARKER), "w"):
            pass  # before the flags (ro among them) are set
        # Reset the atime flags first: "nodiratime" would otherwise stay from before.
        subprocess.run(
            ["mount", "--bind", "-o", "remount,diratime,atime,strictatime", path], check=True
        )
        subprocess.run(["mount", "--bind", "-o", f"remount,{flags}", path], check=True)
        yield _mount_opts("self", path)
    finally:
        subprocess.run(["umount", "-l", path], check=True)


def _configure(bundle: Bundle, source: str, options: list[str], userns: bool) -> None:
    os.makedirs(os.path.join(bundle.rootfs, "mnt"), exist_ok=True)
    bundle.config["mounts"].append(
        {"destination": "/mnt", "type": "bind", "source": source, "options": options}
    )
    if userns:
        bundle.config["linux"]["namespaces"].append({"type": "user"})
        bundle.config["linux"]["uidMappings"] = USERNS_MAP
        bundle.config["linux"]["gidMappings"] = USERNS_MAP
    bundle.set_args("sleep", "1000")


def _names(flags: str) -> set[str]:
    return set(flags.split(",")) - {""}


def _expect_on_host(host: set[str], names: set[str]) -> set[str]:
    """An old kernel has no nosymfollow (mount(8) then passes it as fs data, which a
    remount ignores): expect it only where the host's source shows it."""
    return names if "nosymfollow" in host else names - {"nosymfollow"}


# (source's flags, bind options, with a user namespace, flags present, flags absent)
PASSING = [
    # "bind" alone: no remount, the source's flags are all kept.
    ("ro,noexec,nosymfollow,nodiratime", "bind", False, "ro,noexec,nodiratime,nosymfollow", "rw"),
    ("ro,noexec,nosymfollow,nodiratime", "bind", True, "ro,noexec,nodiratime,nosymfollow", "rw"),
    # Any option (a clearing one too) means exactly those flags; the atime mode stays.
    (
        "ro,noexec,nosymfollow,nodiratime",
        "bind,dev",
        False,
        "rw,nodiratime",
        "ro,noexec,nosymfollow",
    ),
    # ... but a user namespace locks ro, noexec and the atime flags (not nosymfollow).
    (
        "ro,noexec,nosymfollow,nodiratime",
        "bind,dev",
        True,
        "ro,noexec,nodiratime",
        "rw,nosymfollow",
    ),
    # Implied rw.
    ("ro", "bind,nosuid,nodev,rprivate", False, "rw,nosuid,nodev", "ro"),
    ("ro", "bind,nosuid,nodev,rprivate", True, "ro,nosuid,nodev", ""),
    ("ro", "bind,rw,nosuid,nodev", False, "rw,nosuid,nodev", "ro"),
    # Clearing flags as root; a naive "atime" leaves noatime (as mount(8)).
    (
        "nosuid,nodev,noexec,noatime",
        "bind,dev,suid,exec,atime",
        False,
        "rw,noatime",
        "nosuid,nodev,noexec",
    ),
    # containerd's /etc/resolv.conf: ro on a nodev,nosuid,noexec source.
    ("rw,nodev,nosuid,noexec,noatime", "bind,ro", False, "ro,noatime", "nosuid,nodev,noexec"),
    ("rw,nodev,nosuid,noexec,noatime", "bind,ro", True, "ro,nosuid,nodev,noexec,noatime", ""),
    ("rw,nodev,nosymfollow", "bind,ro,symfollow", False, "ro", "nodev,nosymfollow"),
    ("rw,nodev,nosymfollow", "bind,ro,symfollow", True, "ro,nodev", "nosymfollow"),
    ("rw,nodev,nosymfollow", "bind,rw", True, "rw,nodev", "nosymfollow"),
    ("nodev,nosuid,noatime", "bind,ro,exec", True, "ro,nosuid,nodev,noatime", "noexec"),
    # The atime mode: kept unless another mode is named.
    ("noatime", "bind,norelatime", False, "noatime", "relatime"),
    ("noatime", "bind,relatime", False, "relatime", "noatime"),
    ("noatime", "bind,nodiratime", False, "nodiratime,relatime", "noatime"),
    ("nodiratime", "bind,strictatime", False, "", "noatime,nodiratime,relatime"),
    ("noatime", "bind,nodiratime,strictatime", False, "nodiratime", "noatime,relatime"),
    ("strictatime", "bind", True, "", "noatime,nodiratime,relatime"),
    ("noatime,nodiratime", "bind,norelatime", True, "noatime,nodiratime", ""),
    ("strictatime", "bind,nostrictatime", True, "", "noatime,nodiratime,relatime"),
    ("noatime,nodiratime", "bind,atime", True, "noatime,nodiratime", ""),
    # Clearing an atime flag the source has is ignored, not refused (runc's FIXME).
    ("nodiratime", "bind,diratime", True, "nodiratime", ""),
    ("nodiratime", "bind,norelatime", True, "nodiratime", ""),
    ("relatime", "bind,norelatime", True, "relatime", ""),
]


@pytest.mark.parametrize("source_flags,options,userns,present,absent", PASSING)
def test_bind_of_a_flagged_mount(
    runtime: Runtime,
    bundle: Bundle,
    cid: str,
    source_flags: str,
    options: str,
    userns: bool,
    present: str,
    absent: str,
) -> None:
    if userns and not host_probe.userns_allowed():
        pytest.skip("user namespaces disabled on this host")
    source = os.path.join(bundle.path, "flagged")
    _configure(bundle, source, options.split(","), userns)
    with _flagged_source(source, source_flags) as host:
        with created(runtime, bundle, cid) as pid:
            got = _mount_opts(pid, "/mnt")
    assert _expect_on_host(host, _names(present)) <= got, (host, got)
    assert not _names(absent) & got, (host, got)


# (source's flags, bind options, what the refusal names): locked flags in a user
# namespace that an option would clear, or an atime mode other than the source's.
REFUSED = [
    ("ro", "bind,rw,nosuid,nodev,rprivate", "cannot clear locked flags ro"),
    ("nodev,nosuid,noatime", "bind,dev,suid,exec,atime", "cannot clear locked flags"),
    ("nodiratime", "bind,strictatime", "cannot change locked atime flags"),
    ("relatime", "bind,noatime", "cannot change locked atime flags relatime"),
    ("relatime", "bind,nodiratime", "cannot change locked atime flags"),
    # strictatime: the kernel would silently ignore a relatime or noatime asked with it.
    ("strictatime", "bind,relatime", "cannot change locked atime flags strictatime"),
    ("strictatime", "bind,noatime", "cannot change locked atime flags strictatime"),
    # noatime: the kernel would silently keep it for a relatime asked.
    ("noatime", "bind,relatime", "cannot change locked atime flags noatime"),
]


@pytest.mark.skipif(not host_probe.userns_allowed(), reason="user namespaces disabled on this host")
@pytest.mark.parametrize("source_flags,options,words", REFUSED)
def test_bind_cannot_undo_locked_flags_in_a_user_namespace(
    runtime: Runtime, bundle: Bundle, cid: str, source_flags: str, options: str, words: str
) -> None:
    source = os.path.join(bundle.path, "flagged")
    _configure(bundle, source, options.split(","), userns=True)
    with _flagged_source(source, source_flags):
        msg = create_fails(runtime, bundle, cid)
    assert "error mounting" in msg and words in msg, msg
    assert msg.endswith("operation not permitted"), msg


@pytest.mark.skipif(not host_probe.userns_allowed(), reason="user namespaces disabled on this host")
@pytest.mark.parametrize("options", ["bind,nosuid", "bind,rw"])
def test_a_source_the_container_root_cannot_reach_keeps_its_locks(
    runtime: Runtime, bundle: Bundle, cid: str, options: str
) -> None:
    """A source in a 0700 directory is opened for init from the host's user namespace
    (runc's mount source thread), in the container's mount namespace: the mount there
    has the kernel's locks, so the ro the host's mount has stays (a mount cloned on the
    host would have none, and the container's root could make it writable)."""
    hidden = os.path.join(bundle.path, "hidden")
    os.mkdir(hidden, 0o700)
    source = os.path.join(hidden, "flagged")
    _configure(bundle, source, options.split(","), userns=True)
    with _flagged_source(source, "ro,nodev"):
        if "rw" in options.split(","):
            msg = create_fails(runtime, bundle, cid)
            assert "cannot clear locked flags ro" in msg, msg
            return
        with created(runtime, bundle, cid) as pid:
            got = _mount_opts(pid, "/mnt")
            listing = os.listdir(f"/proc/{pid}/root/mnt")
    assert {"ro", "nodev", "nosuid"} <= got, got
    assert listing == [MARKER], listing


@pytest.mark.skipif(not host_probe.userns_allowed(), reason="user namespaces disabled on this host")
def test_an_idmapped_bind_keeps_the_locks_too(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    """An idmapped bind in a user namespace is cloned in the container's mount
    namespace (runc's mount source thread): its locked ro stays."""
    source = os.path.join(bundle.path, "flagged")
    _configure(bundle, source, ["bind", "idmap", "nosuid"], userns=True)
    with _flagged_source(source, "ro,nodev"):
        r = runtime("create", "--bundle", bundle.path, cid)
        if r.code != 0 and "idmap" in r.err and "not supported" in r.err:
            pytest.skip(f"idmapped tmpfs mounts unsupported here: {r.err.strip()}")
        assert r.code == 0, r.err
        try:
            got = _mount_opts(runtime.state(cid)["pid"], "/mnt")
        finally:
            runtime("delete", "--force", cid)
    assert {"ro", "nodev", "nosuid", "idmapped"} <= got, got
