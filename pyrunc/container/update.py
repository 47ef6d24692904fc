"""update: change the resource limits of a live container.

The new values are merged into the ones recorded at create (zero or absent means
"unchanged", as docker sends them, but for ZERO_IS_A_VALUE; key names are matched
without case, as runc's decoder does) and the whole set is written again, so that
values which depend on each other (v2's swap is counted against the limit, the
quota against the period) stay consistent. Device rules are never changed here.
"""

from __future__ import annotations

from pyrunc.container import status as st
from pyrunc.errors import InvalidArgument

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from typing import Any

    from pyrunc.container.container import Container

# section -> field -> expected type (bool before int: JSON true is no number here)
FIELDS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "memory": {
        "limit": int, "reservation": int, "swap": int, "kernel": int, "kernelTCP": int,
        "swappiness": int, "disableOOMKiller": bool, "useHierarchy": bool,
        "checkBeforeUpdate": bool,
    },
    "cpu": {
        "shares": int, "quota": int, "period": int, "burst": int, "realtimeRuntime": int,
        "realtimePeriod": int, "cpus": str, "mems": str, "idle": int,
    },
    "pids": {"limit": int},
    "blockIO": {"weight": int, "leafWeight": int, "weightDevice": list,
                "throttleReadBpsDevice": list, "throttleWriteBpsDevice": list,
                "throttleReadIOPSDevice": list, "throttleWriteIOPSDevice": list},
    "hugepageLimits": {},
    "network": {"classID": int, "priorities": list},
    "rdma": {},
    "unified": {},
    "devices": {},
}  # fmt: skip


def check_resources(doc: Any) -> dict[str, Any]:
    """The document with runc's names (see canonical_names); a one-line error naming
    the first field of the wrong kind."""
    if not isinstance(doc, dict):
        raise InvalidArgument("resources: expected a JSON object")
    doc = canonical_names(doc)
    for section, value in doc.items():
        if section not in FIELDS:
            raise InvalidArgument(f"resources.{section}: unknown resource")
        if section == "hugepageLimits":
            if not isinstance(value, list):
                raise InvalidArgument("resources.hugepageLimits: expected an array")
            continue
        if not isinstance(value, dict):
            if section == "devices" and isinstance(value, list):
                continue
            raise InvalidArgument(f"resources.{section}: expected an object")
        if section == "unified":
            for k, v in value.items():
                if not isinstance(v, str):
                    raise InvalidArgument(f"resources.unified.{k}: expected a string")
            continue
        for key, v in value.items():
            want = FIELDS[section].get(key)
            if want is None or v is None:
                continue  # runc's decoder ignores what it does not know
            if (isinstance(v, bool) and want is not bool) or not isinstance(v, want):
                raise InvalidArgument(
                    f"resources.{section}.{key}: expected {_kind(want)}, got {v!r}"
                )
    return doc


def _match(key: str, names: Any) -> str:
    """runc's JSON decoder (Go's) takes a key that matches a field name but for case:
    the exact name first, else the first one equal without case ("CPU" is cpu)."""
    if key in names:
        return key
    return next((n for n in names if n.lower() == key.lower()), key)


def canonical_names(doc: dict[str, Any]) -> dict[str, Any]:
    """Sections and their fields under their spec names; keys naming the same field
    apply in the document's order (Go decodes both into one struct)."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        section = _match(key, FIELDS)
        fields = FIELDS.get(section)
        if fields and isinstance(value, dict):
            value = {_match(k, fields): v for k, v in value.items()}
            if isinstance(out.get(section), dict):
                value = {**out[section], **value}
        out[section] = value
    return out


def _kind(t: type | tuple[type, ...]) -> str:
    return {int: "an integer", str: "a string", bool: "a boolean", list: "an array"}.get(
        t if isinstance(t, type) else int, "a value"
    )


# Fields runc reads as "given" whenever present, zero included: burst 0 and idle 0
# are written as they are, pids.limit 0 is one task (runc #4014). For every other
# field a zero (or "", null) means "unchanged", as docker sends its documents.
ZERO_IS_A_VALUE = {("cpu", "burst"), ("cpu", "idle"), ("pids", "limit")}

# Per-device lists: an entry replaces the one for its device, others stay (runc's upsert).
PER_DEVICE = {"weightDevice", "throttleReadBpsDevice", "throttleWriteBpsDevice",
              "throttleReadIOPSDevice", "throttleWriteIOPSDevice"}  # fmt: skip


def merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """new over old, field by field; zeros, empty strings and nulls leave old alone
    (but see ZERO_IS_A_VALUE); per-device entries are updated device by device."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in old.items()}
    for section, value in new.items():
        if section == "devices":
            continue
        if section == "unified":
            out["unified"] = {**(old.get("unified") or {}), **value}
        elif isinstance(value, dict):
            merged = dict(out.get(section) or {})
            for key, v in value.items():
                if key in PER_DEVICE and isinstance(v, list):
                    merged[key] = _upsert(merged.get(key) or [], v)
                elif v not in (0, "", None, []) or (
                    (section, key) in ZERO_IS_A_VALUE and v is not None
                ):
                    merged[key] = v
            out[section] = merged
        elif value:
            out[section] = value
    _unlimited_swap_with_memory(out, new)
    _no_shares_with_idle(out, new)
    return out


def _no_shares_with_idle(out: dict[str, Any], new: dict[str, Any]) -> None:
    """cpu.idle given without shares forgets the shares (runc's update): an idle cgroup
    refuses any write of cpu.shares (v2: cpu.weight), even of its current value, so
    rewriting the recorded shares would fail every later update."""
    cpu = new.get("cpu") or {}
    if cpu.get("idle") is not None and not cpu.get("shares") and "cpu" in out:
        out["cpu"].pop("shares", None)


def _unlimited_swap_with_memory(out: dict[str, Any], new: dict[str, Any]) -> None:
    """Removing the memory limit without a word on swap removes the memory+swap one too
    (runc's update): an old memsw limit below no limit at all is refused by v1."""
    mem = new.get("memory") or {}
    if (mem.get("limit") or 0) < 0 and not mem.get("swap") and "memory" in out:
        out["memory"].pop("swap", None)


def _upsert(old: list[Any], new: list[Any]) -> list[Any]:
    out = list(old)
    for entry in new:
        if not isinstance(entry, dict):
            continue
        dev = (entry.get("major"), entry.get("minor"))
        same = [i for i, e in enumerate(out) if (e.get("major"), e.get("minor")) == dev]
        if same:  # the last of duplicates is the one the kernel keeps
            out[same[-1]] = {**out[same[-1]], **{k: v for k, v in entry.items() if v is not None}}
        else:
            out.append(entry)
    return out


def update(c: Container, resources: dict[str, Any], schemas: dict[str, str] | None = None) -> None:
    """schemas: runc's --l3-cache-schema and --mem-bw-schema, as l3CacheSchema and
    memBwSchema (empty: unchanged), written to the container's resctrl group."""
    resources = check_resources(resources)
    schemas = {k: v for k, v in (schemas or {}).items() if v}
    with c.store.lock(c.id):
        record = c.store.read(c.id)  # the latest, under the lock
        c.record = record
        rdt = _intel_rdt(c, schemas) if schemas else None
        st.check_allowed("update", c.status())
        manager = c.cgroup_manager()
        if manager is None:
            raise InvalidArgument("update: the container has no cgroup")
        old = record.get("resources") or {}
        merged = merge(old, resources)
        manager.set(merged, update=True)
        if rdt is not None:
            try:
                rdt.set(schemas)
            except Exception:
                manager.set(old, update=True)  # runc sets the cgroup back too
                raise
            record["intel_rdt"] = rdt.to_state()
        record["resources"] = merged
        c.store.write(c.id, record)


def _intel_rdt(c: Container, schemas: dict[str, str]) -> Any:
    """The container's resctrl group for new schemas, with runc's refusals: the host
    must have the feature, the container a group (update does not make one)."""
    from pyrunc.linux import intelrdt

    root = intelrdt.find_root()
    for key, flag, info, words in (
        ("l3CacheSchema", "--l3-cache-schema", "L3", "Intel RDT/CAT: l3 cache schema"),
        ("memBwSchema", "--mem-bw-schema", "MB", "Intel RDT/MBA: memory bandwidth schema"),
    ):
        if key in schemas and (root is None or not intelrdt.has_resource(root, info)):
            raise InvalidArgument(f"{flag}: {words} is not enabled")
        problem = intelrdt.schema_problem(schemas[key]) if key in schemas else None
        if problem:
            raise InvalidArgument(f"{flag}: {problem}")
    data = c.record.get("intel_rdt")
    if not data:
        raise InvalidArgument("updating a non-existent Intel RDT configuration is not supported")
    return intelrdt.IntelRdtManager.from_state(c.id, data)
