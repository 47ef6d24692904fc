"""Lists of numbers as the spec writes CPUs and NUMA nodes: "0-3,7".

runc's syntax: elements separated by commas, each a number or a range low-high, spaces
around them and empty elements allowed. Pure and import-free: validation at create, the
runtime's exec path and the container's init all parse with it.
"""

from __future__ import annotations

MAX_ID = 64 * 1024  # runc's sanity limit on a list's numbers (configs.MaxCPU)


def parse_id_list(text: str, what: str) -> frozenset[int]:
    """The numbers `text` names (empty for an empty list); ValueError says what is
    wrong, calling the numbers `what` ("CPU", "node")."""
    ids: set[int] = set()
    for element in text.split(","):
        element = element.strip()
        if not element:
            continue
        low, dash, high = element.partition("-")
        first = _number(low, what)
        last = _number(high, what) if dash else first
        if first > last:
            raise ValueError(f"invalid range {element!r}")
        ids.update(range(first, last + 1))
    return frozenset(ids)


def parse_cpu_list(text: str) -> frozenset[int]:
    """A cpu list that must name at least one CPU (execCPUAffinity)."""
    cpus = parse_id_list(text, "CPU")
    if not cpus:
        raise ValueError(f"no CPU in {text!r}")
    return cpus


def _number(text: str, what: str) -> int:
    text = text.strip()
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f"{text!r} is not a {what} number")
    if int(text) > MAX_ID:
        raise ValueError(f"{what} numbers above {MAX_ID} are not supported")
    return int(text)
