"""cgroupsPath forms: systemd's "slice:prefix:name" mapped onto cgroupfs paths.

systemd is not PID 1 on the hosts we run on, so there is no unit to ask for: the
path systemd would have given the scope is created directly (what runc's cgroupfs
driver makes of the same names).
"""

from __future__ import annotations

from pyrunc.errors import ConfigError

DEFAULT_SLICE = "system.slice"
DEFAULT_PREFIX = "pyrunc"


def expand_slice(slice_name: str) -> str:
    """ "a-b-c.slice" -> "/a.slice/a-b.slice/a-b-c.slice" (systemd's nesting by dashes)."""
    if slice_name == "-.slice":
        return "/"
    if not slice_name.endswith(".slice") or "/" in slice_name:
        raise ConfigError(f"linux.cgroupsPath: invalid slice name {slice_name!r}")
    stem = slice_name[: -len(".slice")]
    if not stem or stem.startswith("-") or stem.endswith("-") or "--" in stem:
        raise ConfigError(f"linux.cgroupsPath: invalid slice name {slice_name!r}")
    path, prefix = "", ""
    for part in stem.split("-"):
        prefix = f"{prefix}-{part}" if prefix else part
        path += f"/{prefix}.slice"
    return path


def systemd_to_cgroupfs(cgroups_path: str, container_id: str) -> str:
    """ "slice:prefix:name" (empty: system.slice:pyrunc:<id>) -> an absolute path."""
    slice_name, unit = systemd_unit(cgroups_path, container_id)
    return f"{expand_slice(slice_name).rstrip('/')}/{unit}"


def systemd_unit(cgroups_path: str, container_id: str) -> tuple[str, str]:
    """ "slice:prefix:name" -> (the slice, the unit: "<prefix>-<name>.scope", or the
    name itself when it is a slice), as runc's systemd driver names them."""
    if not cgroups_path:
        slice_name, prefix, name = DEFAULT_SLICE, DEFAULT_PREFIX, container_id
    else:
        parts = cgroups_path.split(":")
        if len(parts) != 3:
            raise ConfigError(
                'linux.cgroupsPath: expected "slice:prefix:name" for systemd cgroups, '
                f"got {cgroups_path!r}"
            )
        slice_name, prefix, name = parts
        slice_name = slice_name or DEFAULT_SLICE
    if not name or "/" in name or "/" in prefix:
        raise ConfigError(f"linux.cgroupsPath: invalid unit name in {cgroups_path!r}")
    expand_slice(slice_name)  # refused here, before anything is made
    # A name that is itself a slice is used as is; anything else becomes a scope.
    if name.endswith(".slice"):
        return slice_name, name
    return slice_name, f"{prefix}-{name}.scope" if prefix else f"{name}.scope"
