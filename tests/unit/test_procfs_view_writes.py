"""procfs_view's best-effort writes to cgroup control files."""

from __future__ import annotations

from pathlib import Path


def test_leaving_cgroups_never_creates_a_file(tmp_path: Path) -> None:
    """lxcfs's launcher's write into a cgroup.procs that is not there (a v1 host's tmpfs
    /sys/fs/cgroup) must not leave a plain file behind."""
    from pyrunc.linux.procfs_view import _write_quietly

    _write_quietly(str(tmp_path / "cgroup.procs"), "0")
    assert list(tmp_path.iterdir()) == []
