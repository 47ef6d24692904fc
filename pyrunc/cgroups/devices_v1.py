"""cgroup v1 device rules as a minimal transition from the cgroup's current list.

Writing "deny a" and then every allowed device again leaves a moment in which the
container's processes cannot open /dev/null: runc instead models the devices cgroup
(its "emulator"), reads the current state from devices.list and writes only the rules
that differ (a disruptive "a *:* rwm" only where the default policy changes, or where
the cgroup is a blacklist, whose deny rules devices.list does not show). This is that
model, pure; V1Manager reads devices.list and writes the result.

A state is (default allow?, {(type, major, minor): access}); -1 is a wildcard number,
access a subset of "rwm" (other letters are ignored, as runc's permission sets do).
"""

from __future__ import annotations

from pyrunc.errors import CgroupError

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from collections.abc import Iterable

Key = tuple[str, int, int]  # (type "b"/"c", major, minor); -1: any
Rules = dict[Key, str]
State = tuple[bool, Rules]  # (default allow: a blacklist?, exceptions)
Transition = tuple[str, str]  # (devices.allow or devices.deny, rule text)

_ACCESS = "rwm"
_FILES = ("devices.allow", "devices.deny")


def _perms(access: str) -> str:
    """The set of r/w/m in access, in that order ("mwr" and "rwa" give "rw(m)")."""
    return "".join(ch for ch in _ACCESS if ch in access)


def _minus(a: str, b: str) -> str:
    return "".join(ch for ch in a if ch not in b)


def _number(text: str) -> int:
    return -1 if text == "*" else int(text)


def parse_rule(text: str) -> tuple[str, Key, str]:
    """ "c 1:3 rwm" -> ("c", ("c", 1, 3), "rwm"). Type "a" is every device whatever the
    numbers and access say ("a" alone too), as both the kernel and runc read it."""
    parts = text.split()
    if parts[:1] == ["a"]:
        return "a", ("a", -1, -1), _ACCESS
    kind, numbers, access = parts
    major, minor = numbers.split(":")
    if kind not in ("b", "c"):
        raise CgroupError(f"linux.resources.devices: invalid device type {kind!r}")
    return kind, (kind, _number(major), _number(minor)), _perms(access)


def rule_text(key: Key, access: str) -> str:
    kind, major, minor = key
    return f"{kind} {'*' if major < 0 else major}:{'*' if minor < 0 else minor} {access}"


def _remove(rules: Rules, key: Key, access: str) -> None:
    """Take access away from an exact exception. The kernel silently keeps a partial
    wildcard exception it was asked to punch a hole in: refuse that, as runc does."""
    kind, major, minor = key
    for wider in ((kind, -1, minor), (kind, major, -1), (kind, -1, -1)):
        if wider != key and set(rules.get(wider, "")) & set(access):
            raise CgroupError(
                f"linux.resources.devices: rule {rule_text(key, access)} is not supported by "
                f"devices cgroup v1 (cannot punch a hole in {rule_text(wider, rules[wider])})"
            )
    left = _minus(rules.get(key, ""), access)
    if left:
        rules[key] = left
    else:
        rules.pop(key, None)


def apply(state: State, allow: bool, text: str) -> State:
    """The state after writing `text` to devices.allow (allow) or devices.deny."""
    kind, key, access = parse_rule(text)
    if kind == "a":  # every device: a reset to allow-all or deny-all, whatever the rest
        return allow, {}
    default, rules = state[0], dict(state[1])
    if allow == default:  # allowing in a blacklist, denying in a whitelist
        _remove(rules, key, access)
    elif access:
        rules[key] = _perms(rules.get(key, "") + access)
    return default, rules


def target(program: Iterable[tuple[bool, str]]) -> State:
    """The state a list of (allow?, rule) writes leads to, from a whitelist."""
    state: State = (False, {})
    for allow, text in program:
        state = apply(state, allow, text)
    return state


def from_list(text: str) -> State:
    """devices.list: "a *:* rwm" alone for a blacklist, else the whitelist's exceptions."""
    state: State = (False, {})
    for line in text.splitlines():
        if line.strip():
            state = apply(state, True, line)
    return state


def _ordered(rules: Rules) -> list[tuple[Key, str]]:
    return sorted(rules.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0]))


def transition(current: State, wanted: State) -> list[Transition]:
    """The writes from current to wanted, as runc's emulator orders them: a disruptive
    rule first if needed, then what to take away, then what to add."""
    default, rules = wanted
    old = current[1]
    writes: list[Transition] = []
    # A blacklist's deny rules are not listed: only a reset is sure to drop them.
    if current[0] or current[0] != default:
        writes.append(("devices.allow" if default else "devices.deny", "a *:* rwm"))
        old = {}
    # An exception of a blacklist is a deny: taking one back is an allow, and so on.
    forth, back = ("devices.deny", "devices.allow") if default else _FILES
    for key, access in _ordered(old):
        dropped = _minus(access, rules.get(key, ""))
        if dropped:
            writes.append((back, rule_text(key, dropped)))
    for key, access in _ordered(rules):
        gained = _minus(access, old.get(key, ""))
        if gained:
            writes.append((forth, rule_text(key, gained)))
    return writes
