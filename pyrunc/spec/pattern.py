"""JSON-schema `pattern`s without the `re` module, for the patterns our schemas use.

`import re` costs ~6 ms (it brings enum and functools) on every `create`, for a
handful of patterns like ``^RLIMIT_[A-Z]+$`` and ``^[0-9, -]*$``. This matcher knows
that subset: literals, `.`, bracket classes with ranges and negation, the escapes
``\\n \\t \\\\`` and escaped punctuation, the quantifiers ``* + ?``, and the anchors
``^`` (at the start) and ``$`` (at the end, which like Python's also matches before
a final newline). `compile` returns None for any other pattern, and the caller uses
`re` for it; tests hold this matcher to `re.search` on the subset.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from collections.abc import Callable

    CharTest = Callable[[str], bool]

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v"}
_SPECIAL = set("()|{}")


class Unsupported(Exception):
    """The pattern uses regex syntax outside the subset."""


class Pattern:
    """A compiled pattern: `search(text)` is `re.search(pattern, text) is not None`."""

    def __init__(self, atoms: list[tuple[CharTest, str]], start: bool, end: bool) -> None:
        self.atoms, self.start, self.end = atoms, start, end

    def search(self, text: str) -> bool:
        starts = (0,) if self.start else range(len(text) + 1)
        return any(self._match(text, 0, pos) for pos in starts)

    def _match(self, text: str, i: int, pos: int) -> bool:
        if i == len(self.atoms):
            return not self.end or pos == len(text) or (pos == len(text) - 1 and text[-1] == "\n")
        test, quant = self.atoms[i]
        if quant == "1":
            return pos < len(text) and test(text[pos]) and self._match(text, i + 1, pos + 1)
        least = 1 if quant == "+" else 0
        most = pos
        while most < len(text) and test(text[most]) and (quant != "?" or most == pos):
            most += 1
        # Greedy with backtracking, as re: the longest run first.
        return any(self._match(text, i + 1, p) for p in range(most, pos + least - 1, -1))


def compile(pattern: str) -> Pattern | None:  # noqa: A001 - re.compile's counterpart
    """The matcher for `pattern`, or None when it is outside the subset."""
    try:
        return _parse(pattern)
    except Unsupported:
        return None


def _parse(pattern: str) -> Pattern:
    start = pattern.startswith("^")
    body = pattern[1:] if start else pattern
    end = body.endswith("$") and not body.endswith("\\$")
    body = body[:-1] if end else body
    atoms: list[tuple[CharTest, str]] = []
    pos = 0
    while pos < len(body):
        test, pos = _atom(body, pos)
        quant = "1"
        if pos < len(body) and body[pos] in "*+?":
            quant, pos = body[pos], pos + 1
            if pos < len(body) and body[pos] in "*+?":
                raise Unsupported(pattern)  # lazy or possessive quantifiers
        atoms.append((test, quant))
    return Pattern(atoms, start, end)


def _atom(body: str, pos: int) -> tuple[CharTest, int]:
    c = body[pos]
    if c in _SPECIAL or c in "^$*+?":
        raise Unsupported(body)
    if c == "[":
        return _char_class(body, pos + 1)
    if c == ".":
        return (lambda ch: ch != "\n"), pos + 1
    if c == "\\":
        literal, pos = _escape(body, pos + 1)
        return literal.__eq__, pos
    return c.__eq__, pos + 1


def _escape(body: str, pos: int) -> tuple[str, int]:
    if pos >= len(body):
        raise Unsupported(body)
    c = body[pos]
    if c in _ESCAPES:
        return _ESCAPES[c], pos + 1
    if c.isalnum() or not c.isascii():
        raise Unsupported(body)  # \d, \w, \s, \b, back-references...
    return c, pos + 1


def _char_class(body: str, pos: int) -> tuple[CharTest, int]:
    negate = pos < len(body) and body[pos] == "^"
    pos += negate
    singles: set[str] = set()
    ranges: list[tuple[str, str]] = []
    first = True
    while True:
        if pos >= len(body):
            raise Unsupported(body)
        c = body[pos]
        if c == "]" and not first:
            pos += 1
            break
        if c == "[":
            raise Unsupported(body)  # [[:alpha:]] and set operations
        low, pos = _escape(body, pos + 1) if c == "\\" else (c, pos + 1)
        if pos + 1 < len(body) and body[pos] == "-" and body[pos + 1] != "]":
            nxt = pos + 1
            high, pos = _escape(body, nxt + 1) if body[nxt] == "\\" else (body[nxt], nxt + 1)
            if high < low:
                raise Unsupported(body)
            ranges.append((low, high))
        else:
            singles.add(low)
        first = False

    def test(ch: str) -> bool:
        hit = ch in singles or any(lo <= ch <= hi for lo, hi in ranges)
        return hit != negate

    return test, pos
