"""linux.intelRdt through the resctrl filesystem, as runc's libcontainer/intelrdt does it.

A container joins one resctrl group (CTRL_MON directory): `closID` names it, else the
container id does; closID "/" is the filesystem's root (the default CLOS). The group is
made if missing, its `schemata` file gets l3CacheSchema, memBwSchema and then every
line of `schemata` (one write, the kernel applies all or nothing), and the container's
first process is written to its `tasks` file right after the cgroup join; children
follow by fork. enableMonitoring adds a MON group, mon_groups/<container id>.

On delete the group is removed only when no closID was given and this runtime made it
(runc's rule, the spec's too): a named group is shared or managed by someone else. The
MON group is always removed. Whether we made the group is recorded in the state, so a
later `delete` knows it (runc keeps it in memory only: its `delete` never removes it).

The resctrl root is a parameter throughout, so that the manager can be driven against
a directory laid out like /sys/fs/resctrl; by default it is found in mountinfo.
Imported only for configs with linux.intelRdt (and records of such containers).
"""

from __future__ import annotations

import os

from pyrunc.errors import PyruncError

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from typing import Any

    from pyrunc.linux.mountinfo import MountEntry

DEFAULT_ROOT = "/sys/fs/resctrl"  # where the kernel makes the (empty) mount point
ROOT_CLOS = "/"  # closID of the filesystem's root group (runtime-spec 1.3)

# Cache resources take a hex capacity bitmask, bandwidth ones a decimal number
# (the kernel's parse_cbm / bw_validate); others are left to the kernel.
_CACHE = frozenset({"L2", "L2CODE", "L2DATA", "L3", "L3CODE", "L3DATA"})
_BANDWIDTH = frozenset({"MB", "SMBA"})
_ULONG_MAX = (1 << 64) - 1


class ResctrlError(PyruncError):
    """A resctrl group could not be made, written, joined or removed."""


# ------------------------------------------------------------------ the filesystem


def find_root(mounts: Iterable[MountEntry] | None = None) -> str | None:
    """Where resctrl is mounted (/sys/fs/resctrl if it is there, else the first resctrl
    mount, as runc's Root()), or None: no Intel RDT for us."""
    if mounts is None:
        from pyrunc.linux import mountinfo

        try:
            mounts = mountinfo.entries()
        except OSError:
            return None
    points = [m.point for m in mounts if m.fstype == "resctrl"]
    if DEFAULT_ROOT in points:
        return DEFAULT_ROOT
    return points[0] if points else None


def has_resource(root: str, name: str) -> bool:
    """Whether the host offers schemata resource `name`: the kernel makes info/<name>
    for each one it has (L3, MB, L2, L3CODE...), none for one it lacks or was told to
    disable (rdt=!mba)."""
    return bool(name) and "/" not in name and os.path.isdir(os.path.join(root, "info", name))


def monitoring_enabled(root: str) -> bool:
    """Whether the host can monitor (info/L3_MON): only then do groups have mon_groups."""
    return os.path.isdir(os.path.join(root, "info", "L3_MON"))


def group_path(root: str, container_id: str, clos_id: str = "") -> str:
    """The CTRL_MON group of a container: closID's, else the container id's; "/" is
    the root group. A closID is a plain name (semantic checks refuse '/', '.', '..')."""
    if clos_id == ROOT_CLOS:
        return root
    name = clos_id or container_id
    if not valid_group_name(name):
        raise ResctrlError(f"linux.intelRdt.closID: invalid resctrl group name {name!r}")
    return os.path.join(root, name)


def valid_group_name(name: str) -> bool:
    """A plain directory name: runc refuses ".", ".." and any '/' (but "/" alone)."""
    return bool(name) and name not in (".", "..") and "/" not in name and "\0" not in name


# ------------------------------------------------------------------ schema lines


def schema_lines(section: dict[str, Any]) -> list[str]:
    """What goes into `schemata`, in the spec's order: l3CacheSchema, memBwSchema,
    then schemata's lines; empty values are skipped (runc's Set)."""
    lines = [section.get("l3CacheSchema"), section.get("memBwSchema")]
    extra = section.get("schemata")
    lines += extra if isinstance(extra, list) else []
    return [line for line in lines if isinstance(line, str) and line]


def resource_of(line: str) -> str:
    """The resource a schemata line is for ("L3" of " L3:0=ff"), as the kernel trims it."""
    return line.partition(":")[0].strip()


def schema_problem(line: str) -> str | None:
    """Why the kernel's schemata parser would refuse this line, or None."""
    try:
        parse_schema(line)
    except ValueError as e:
        return str(e)
    return None


def parse_schema(line: str) -> tuple[str, dict[int, str]]:
    """(resource, {domain id: value}) of a schemata line; ValueError says what is wrong.

    The kernel's grammar: `<resource>:<id>=<value>[;<id>=<value>]...[;]`, the resource
    name and each value trimmed of blanks, the ids plain decimal, each id once. Whether
    the ids and values fit this machine (domains, bitmask width, bandwidth steps) only
    the kernel knows: it says so at the write.
    """
    if "\n" in line:
        raise ValueError("must not contain a newline (one schemata line per string)")
    name, colon, rest = line.partition(":")
    if not colon:
        raise ValueError("expected <resource>:<id>=<value>;... (no ':')")
    name = name.strip()
    if not name:
        raise ValueError("expected a resource name before ':'")
    if rest == "":
        raise ValueError(f"expected a value for {name}")
    items = rest.split(";")
    if items[-1] == "":  # one trailing ';' ends the list, as the kernel reads it
        items.pop()
    domains: dict[int, str] = {}
    for item in items:
        ident, value = _domain(name, item)
        if ident in domains:
            raise ValueError(f"{name}: domain {ident} is given twice")
        domains[ident] = value
    return name, domains


def _domain(name: str, item: str) -> tuple[int, str]:
    ident, eq, value = item.partition("=")
    number = _kernel_uint(ident, 10)
    if not eq or number is None:
        raise ValueError(f"{name}: expected <domain id>=<value>, got {item!r}")
    value = value.strip()
    if not value:
        raise ValueError(f"{name}: expected a value for domain {number}")
    if name in _CACHE and _kernel_uint(value, 16) is None:
        raise ValueError(f"{name}: domain {number}: {value!r} is not a hexadecimal bitmask")
    if name in _BANDWIDTH and _kernel_uint(value, 10) is None:
        raise ValueError(f"{name}: domain {number}: {value!r} is not a decimal bandwidth")
    return number, value


def _kernel_uint(text: str, base: int) -> int | None:
    """The kernel's kstrtoul: an optional '+', (base 16) an optional 0x, at least one
    digit, nothing else, at most 2**64-1; None where it says EINVAL or ERANGE."""
    if text.startswith("+"):
        text = text[1:]
    digits = "0123456789abcdef"[:base]
    if base == 16 and text[:2].lower() == "0x" and text[2:3].lower() in tuple(digits):
        text = text[2:]
    if not text or any(c not in digits for c in text.lower()):
        return None
    if len(text.lstrip("0")) > 20:  # past 2**64 in any base; int() would refuse 4300 digits
        return None
    value = int(text, base)
    return value if value <= _ULONG_MAX else None


def problems(section: dict[str, Any], root: str | None) -> Iterator[tuple[tuple, str]]:
    """(sub-path, rule) of each thing create would refuse in linux.intelRdt: the values
    first (wrong anywhere), then what this host lacks (runc's validator's checks, and
    the resources and monitoring the lines and enableMonitoring need)."""
    clos = section.get("closID")
    if isinstance(clos, str) and clos not in ("", ROOT_CLOS) and not valid_group_name(clos):
        yield ("closID",), "must be a plain directory name"  # or "/": the default CLOS
    yield from _line_problems(section)
    if root is None:
        yield (), "Intel RDT is not enabled on this host (no resctrl filesystem is mounted)"
        return
    yield from _host_problems(section, root)


def _line_problems(section: dict[str, Any]) -> Iterator[tuple[tuple, str]]:
    """Each line's own problem, then a domain set twice across lines: the kernel takes
    one write and refuses a domain given twice in it ("Duplicate domain")."""
    owner: dict[tuple[str, int], tuple] = {}
    for at, line in _lines(section):
        try:
            name, domains = parse_schema(line)
        except ValueError as e:
            yield at, str(e)
            continue
        for ident in domains:
            first = owner.setdefault((name, ident), at)
            if first != at:
                from pyrunc.spec.validate import format_path

                shown = format_path(("linux", "intelRdt", *first))
                yield at, f"{name}: domain {ident} is also set by {shown}"
                break


def _lines(section: dict[str, Any]) -> Iterator[tuple[tuple, str]]:
    for field in ("l3CacheSchema", "memBwSchema"):
        value = section.get(field)
        if isinstance(value, str) and value:
            yield (field,), value
    extra = section.get("schemata")
    for i, value in enumerate(extra if isinstance(extra, list) else ()):
        if isinstance(value, str) and value:
            yield ("schemata", i), value


def _host_problems(section: dict[str, Any], root: str) -> Iterator[tuple[tuple, str]]:
    # runc's own words and checks for the two named fields (CAT: info/L3, MBA: info/MB).
    for field, info, feature in (("l3CacheSchema", "L3", "CAT"), ("memBwSchema", "MB", "MBA")):
        if section.get(field) and not has_resource(root, info):
            missing = f"no {root}/info/{info}"
            yield (field,), f"Intel RDT/{feature} is not enabled on this host ({missing})"
    for at, line in _lines(section):
        name = resource_of(line)
        if at[0] == "schemata" and not has_resource(root, name):
            yield at, f"resource {name} is not enabled on this host (no {root}/info/{name})"
    if section.get("enableMonitoring") and not monitoring_enabled(root):
        missing = f"no {root}/info/L3_MON"
        yield ("enableMonitoring",), f"Intel RDT monitoring is not enabled on this host ({missing})"
    clos = section.get("closID")
    if isinstance(clos, str) and valid_group_name(clos) and not schema_lines(section):
        path = os.path.join(root, clos)
        if not os.path.isdir(path):
            why = "without schemata, closID names a group made beforehand"
            yield ("closID",), f"{path} does not exist ({why})"


# ------------------------------------------------------------------ the manager


class IntelRdtManager:
    """The resctrl group (and MON group) of one container.

    create() makes them before any process exists, set() writes the schemata, apply()
    puts a process in them (after its cgroup join), destroy() removes what create()
    made and is ours to remove. to_state()/from_state() carry it to later commands.
    """

    def __init__(
        self,
        root: str,
        container_id: str,
        section: dict[str, Any],
        *,
        created: bool = False,
    ) -> None:
        self.root = root
        self.id = container_id
        self.section = dict(section)
        self.clos_id: str = section.get("closID") or ""
        self.path = group_path(root, container_id, self.clos_id)
        self.created = created  # we made self.path (it did not exist before)

    @classmethod
    def for_container(
        cls, container_id: str, section: dict[str, Any], root: str | None = None
    ) -> IntelRdtManager:
        """The manager of a new container; root: the resctrl mount (found if None)."""
        if root is None:
            root = find_root()
            if root is None:
                raise ResctrlError(
                    "linux.intelRdt: Intel RDT is not enabled on this host "
                    "(no resctrl filesystem is mounted)"
                )
        return cls(root, container_id, section)

    @property
    def mon_path(self) -> str:
        """The container's own MON group, "" without enableMonitoring."""
        if not self.section.get("enableMonitoring"):
            return ""
        return os.path.join(self.path, "mon_groups", self.id)

    def create(self) -> None:
        """Make the group (and the MON group) unless they exist; a closID without any
        schemata must name a group made beforehand (the spec; runc's Apply)."""
        if self.clos_id and not schema_lines(self.section) and not os.path.isdir(self.path):
            raise ResctrlError(
                f"linux.intelRdt.closID: {self.path} does not exist (without schemata, "
                "closID names a group made beforehand)"
            )
        self.created = self._mkdir(self.path)
        if self.mon_path:
            self._mkdir(self.mon_path)

    def _mkdir(self, path: str) -> bool:
        """mkdir; True if we made it, False if it was there."""
        try:
            os.mkdir(path, 0o755)
        except FileExistsError:
            return False
        except OSError as e:
            raise ResctrlError(self._with_status(f"intelrdt: mkdir {path}: {_reason(e)}")) from None
        return True

    def set(self, changes: dict[str, Any] | None = None) -> None:
        """Write the schemata lines of the container's section, with `changes` (update's
        new l3CacheSchema/memBwSchema) over it, in one write; nothing is written when
        there are none (the spec: no schemata, no write)."""
        section = {**self.section, **(changes or {})}
        lines = schema_lines(section)
        if not lines:
            return
        text = "".join(line + "\n" for line in lines)  # the kernel wants the newline
        try:
            _write(os.path.join(self.path, "schemata"), text)
        except OSError as e:
            shown = "\\n".join(lines)  # one line, as Go's %q shows it
            raise ResctrlError(
                self._with_status(f'intelrdt: unable to write "{shown}": {_reason(e)}')
            ) from None
        self.section = section

    def apply(self, pid: int) -> None:
        """Put pid in the group, then in its MON group (the kernel takes a task into a
        MON group only from that group's CTRL_MON group). Its children follow by fork."""
        for path in filter(None, (self.path, self.mon_path)):
            try:
                _write(os.path.join(path, "tasks"), str(pid))
            except OSError as e:
                raise ResctrlError(
                    self._with_status(f"intelrdt: unable to add pid {pid} to {path}: {_reason(e)}")
                ) from None

    def destroy(self) -> None:
        """Remove the MON group, and the group itself if it has no closID and we made
        it; a group named by closID is never removed (it is shared, or someone else's)."""
        if self.mon_path:
            _rmdir(self.mon_path)
        if not self.clos_id and self.created:
            _rmdir(self.path)

    def to_state(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "config": self.section,
            "path": self.path,
            "mon_path": self.mon_path,
            "created": self.created,
        }

    @classmethod
    def from_state(cls, container_id: str, data: dict[str, Any]) -> IntelRdtManager:
        return cls(data["root"], container_id, data["config"], created=bool(data["created"]))

    def stats(self) -> dict[str, Any]:
        """runc's intel_rdt of `events --stats`: the group's schemata, the root's and
        the host's info for L3 and MB, the monitoring counters."""
        return stats(self.root, self.path, self.mon_path or self.path)

    def _with_status(self, message: str) -> str:
        """The kernel's explanation of the last failed resctrl operation, appended."""
        status = _read(os.path.join(self.root, "info", "last_cmd_status"))
        if status and status != "ok":
            return f"{message}, last_cmd_status: {'; '.join(status.splitlines())}"
        return message


def _write(path: str, text: str) -> None:
    # O_CREAT as runc's os.WriteFile: a resctrl group has these files already.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _rmdir(path: str) -> None:
    try:
        os.rmdir(path)
    except FileNotFoundError:
        pass
    except OSError as e:
        raise ResctrlError(f"unable to remove the container's Intel RDT group: rmdir {path}: "
                           f"{_reason(e)}") from None  # fmt: skip


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def _reason(e: OSError) -> str:
    return os.strerror(e.errno).lower() if e.errno else str(e)


# ------------------------------------------------------------------ events --stats

_L3_INFO = (("cbm_mask", str), ("min_cbm_bits", int), ("num_closids", int))
_MB_INFO = (("bandwidth_gran", int), ("delay_linear", int), ("min_bandwidth", int),
            ("num_closids", int))  # fmt: skip


def stats(root: str, path: str, mon_path: str) -> dict[str, Any]:
    """runc's IntelRdt stats: fields it leaves out when empty are left out here too; a
    file that cannot be read is an error, as for runc."""
    group, host = _schemata(path), _schemata(root)
    out: dict[str, Any] = {}
    for info, keys, prefix, word in (("L3", _L3_INFO, "l3_cache", "L3"),
                                     ("MB", _MB_INFO, "mem_bw", "MB")):  # fmt: skip
        if not has_resource(root, info):
            continue
        out[f"{prefix}_info"] = _info(os.path.join(root, "info", info), keys)
        # runc's choice: the last line that mentions the resource, trimmed.
        for key, lines in ((f"{prefix}_schema_root", host), (f"{prefix}_schema", group)):
            found = [line.strip() for line in lines if word in line]
            if found and found[-1]:
                out[key] = found[-1]
    if group:
        out["schemata"] = group
    out.update(_monitoring(root, mon_path))
    return out


def _schemata(directory: str) -> list[str]:
    # runc trims the file as a whole, then splits it: inner lines keep their padding.
    with open(os.path.join(directory, "schemata")) as f:
        text = f.read().strip()
    return text.split("\n") if text else []


def _info(directory: str, keys: tuple[tuple[str, type], ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, kind in keys:
        with open(os.path.join(directory, name)) as f:
            text = f.read().strip()
        value = int(text) if kind is int else text
        if value:
            out[name] = value
    return out


def _monitoring(root: str, mon_path: str) -> dict[str, Any]:
    """mbm_stats and cmt_stats per mon_data/<domain>, for the features info/L3_MON
    lists (mon_features), as runc reads them."""
    features = set(_read(os.path.join(root, "info", "L3_MON", "mon_features")).split())
    mbm = [f for f in ("mbm_total_bytes", "mbm_local_bytes") if f in features]
    cmt = "llc_occupancy" in features
    if not mbm and not cmt:
        return {}
    data = os.path.join(mon_path, "mon_data")
    mbm_stats, cmt_stats = [], []
    for name in sorted(os.listdir(data)):
        domain = os.path.join(data, name)
        if not os.path.isdir(domain):
            continue
        if mbm:
            entry = dict.fromkeys(("mbm_total_bytes", "mbm_local_bytes"), 0)
            entry.update({f: _counter(domain, f) for f in mbm})
            mbm_stats.append(entry)
        if cmt:
            cmt_stats.append({"llc_occupancy": _counter(domain, "llc_occupancy")})
    out: dict[str, Any] = {}
    if mbm:
        out["mbm_stats"] = mbm_stats or None  # runc's nil slice: null
    if cmt:
        out["cmt_stats"] = cmt_stats or None
    return out


def _counter(directory: str, name: str) -> int:
    with open(os.path.join(directory, name)) as f:
        return int(f.read().strip())
