"""linux.memoryPolicy: the container's NUMA memory policy, set with set_mempolicy(2)
by the container's init right before exec (runc's place too); the user's process
inherits it across execve and its children across fork.

Checked at create before anything is made (`problems`, also for `pyrunc check`):
the node list's syntax, runc's rules on how many nodes a mode takes, and that each
node named is online, each refusal in runc's words (which scripts match) after the
field's path. What is left (a mode or flag this kernel does not know, a flag
the mode does not take) the kernel refuses, and the error names the field.
"""

from __future__ import annotations

from pyrunc import jsonio  # not json: CONTRIBUTING.md, Imports
from pyrunc.linux import syscalls as sc
from pyrunc.process.errors import step
from pyrunc.spec.idlist import parse_id_list

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pyrunc.spec.config import MemoryPolicy

#: set_mempolicy(2) modes (<linux/mempolicy.h>).
MODES: dict[str, int] = {
    "MPOL_DEFAULT": 0,
    "MPOL_PREFERRED": 1,
    "MPOL_BIND": 2,
    "MPOL_INTERLEAVE": 3,
    "MPOL_LOCAL": 4,
    "MPOL_PREFERRED_MANY": 5,
    "MPOL_WEIGHTED_INTERLEAVE": 6,
}
#: Mode flags, or'ed into the mode argument.
FLAGS: dict[str, int] = {
    "MPOL_F_NUMA_BALANCING": 1 << 13,
    "MPOL_F_RELATIVE_NODES": 1 << 14,
    "MPOL_F_STATIC_NODES": 1 << 15,
}
_NO_NODES = ("MPOL_DEFAULT", "MPOL_LOCAL")
_SOME_NODES = ("MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_PREFERRED_MANY", "MPOL_WEIGHTED_INTERLEAVE")
ONLINE = "/sys/devices/system/node/online"


def parse_nodes(text: str) -> frozenset[int]:
    """The nodes of a list such as "0-3,7"; ValueError says what is wrong."""
    return parse_id_list(text, "node")


def online_nodes() -> frozenset[int] | None:
    """The nodes the kernel has online; None without NUMA support (no such file)."""
    try:
        with open(ONLINE) as f:
            return parse_nodes(f.read())
    except (OSError, ValueError):
        return None


def problems(section: dict) -> Iterator[tuple[tuple, str]]:
    """What create refuses in a linux.memoryPolicy document, as (sub-path, rule).

    Each rule carries runc's words (specconv and validate), which scripts written
    for runc grep: 'invalid memory policy mode ""', 'invalid memory policy nodes',
    'memory policy mode requires 0 nodes but got 8'. An unknown mode or flag name is
    the schema's refusal (it accepts what the spec's schema accepts), found first."""
    mode = section.get("mode")
    if mode is None:
        # runc reads a missing mode as "", which names no mode (an empty {} too).
        yield ("mode",), 'invalid memory policy mode "": the field is required'
        return
    text = section.get("nodes", "")
    if not isinstance(mode, str) or not isinstance(text, str):
        return  # the schema reports it
    try:
        nodes = parse_nodes(text)
    except ValueError as e:
        yield ("nodes",), f"invalid memory policy nodes {_quote(text)}: {e}"
        return
    count = _count_rule(mode, nodes)
    if count:
        yield ("nodes",), count
        return  # which of the nodes are online does not matter then
    flags = section.get("flags")
    if isinstance(flags, list) and "MPOL_F_RELATIVE_NODES" in flags:
        return  # relative to the nodes the container may use: any number is valid
    yield from _offline(nodes)


def _count_rule(mode: str, nodes: frozenset[int]) -> str | None:
    """runc's rule on how many nodes `mode` takes (configs/validate), in its words
    and then ours (which mode)."""
    if mode in _NO_NODES and nodes:
        return f"memory policy mode requires 0 nodes but got {len(nodes)}: {mode} takes none"
    if mode in _SOME_NODES and not nodes:
        return f"memory policy mode requires at least one node but got 0: {mode} needs one"
    return None


def _quote(text: str) -> str:
    """`text` as Go's %q shows it (a JSON string is the same for what a list holds)."""
    return jsonio.dumps(text)


def _offline(nodes: frozenset[int]) -> Iterator[tuple[tuple, str]]:
    online = online_nodes()
    if not nodes:
        return
    if online is None:
        yield ("nodes",), f"this kernel has no NUMA nodes to name ({ONLINE} is missing)"
        return
    missing = sorted(nodes - online)
    if missing:
        shown = ",".join(map(str, missing))
        have = ",".join(map(str, sorted(online)))
        yield ("nodes",), f"node {shown} is not online (online: {have})"


def apply(policy: MemoryPolicy | None) -> None:
    """set_mempolicy(2) for the calling process, as the config asks."""
    if policy is None:
        return
    mode = MODES[policy.mode]
    for name in policy.flags:
        mode |= FLAGS[name]
    with step(f"linux.memoryPolicy: set_mempolicy {policy.mode}"):
        sc.set_mempolicy(mode, parse_nodes(policy.nodes))
