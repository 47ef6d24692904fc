"""A small argparse work-alike for the CLI: the subset pyrunc uses, without the cost.

`import argparse` costs ~10 ms (re, gettext, shutil...) on every invocation, and a
runtime is invoked several times per container. This module keeps argparse's API for
what our subcommands declare (options with values, store_true, append, type, choices,
nargs "?" / REMAINDER, subcommands, set_defaults), parses the way engines call runc
(`--flag value`, `--flag=value`, Go's single-dash long form `-flag`), and reports
errors through `error()` like argparse does.
"""

from __future__ import annotations

import sys

SUPPRESS = "==SUPPRESS=="
REMAINDER = "..."
_UNSET = object()

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


class Namespace:
    def __init__(self, **kwargs: Any) -> None:
        self.__dict__.update(kwargs)

    def __repr__(self) -> str:
        return f"Namespace({self.__dict__!r})"


class _Option:
    __slots__ = (
        "names",
        "dest",
        "action",
        "default",
        "type",
        "choices",
        "nargs",
        "help",
        "metavar",
    )

    def __init__(
        self,
        names: tuple[str, ...],
        dest: str | None,
        action: str | None,
        default: Any,
        type: Callable[[str], Any] | None,
        choices: Any,
        nargs: str | None,
        help: str | None,
        metavar: str | None,
    ) -> None:
        self.names = names
        self.dest = dest or _dest_of(names)
        self.action = action or "store"
        self.default = default
        self.type = type
        self.choices = choices
        self.nargs = nargs
        self.help = help
        self.metavar = metavar

    @property
    def positional(self) -> bool:
        return not self.names[0].startswith("-")

    @property
    def takes_value(self) -> bool:
        return self.action in ("store", "append")


def _dest_of(names: tuple[str, ...]) -> str:
    longs = [n for n in names if n.startswith("--")]
    name = (longs or list(names))[0].lstrip("-")
    return name.replace("-", "_")


class ArgumentParser:
    def __init__(self, prog: str | None = None, description: str | None = None, **_: Any) -> None:
        self.prog = prog or "pyrunc"
        self.description = description or ""
        self._options: list[_Option] = []
        self._by_flag: dict[str, _Option] = {}
        self._defaults: dict[str, Any] = {}
        self._subparsers: _SubParsers | None = None

    # -- declaring ---------------------------------------------------------------------
    def add_argument(
        self,
        *names: str,
        action: str | None = None,
        default: Any = _UNSET,
        type: Callable[[str], Any] | None = None,
        choices: Any = None,
        nargs: str | None = None,
        dest: str | None = None,
        help: str | None = None,
        metavar: str | None = None,
        required: bool = False,
    ) -> _Option:
        if action not in (None, "store", "store_true", "append"):
            raise ValueError(f"unsupported action {action!r}")
        if default is _UNSET:
            default = False if action == "store_true" else [] if nargs == REMAINDER else None
        opt = _Option(names, dest, action, default, type, choices, nargs, help, metavar)
        self._options.append(opt)
        for n in names:
            if n.startswith("-"):
                self._by_flag[n] = opt
                if n.startswith("--"):
                    self._by_flag.setdefault(n[1:], opt)  # Go's flag package: -name too
        return opt

    def add_subparsers(
        self, dest: str | None = None, parser_class: type | None = None, **_: Any
    ) -> _SubParsers:
        self._subparsers = _SubParsers(self, dest, parser_class or type(self))
        return self._subparsers

    def set_defaults(self, **kwargs: Any) -> None:
        self._defaults.update(kwargs)

    # -- parsing -----------------------------------------------------------------------
    def parse_args(self, argv: list[str] | None = None) -> Namespace:
        ns = Namespace()
        self._parse_into(list(sys.argv[1:] if argv is None else argv), ns)
        return ns

    def _parse_into(self, argv: list[str], ns: Namespace) -> None:
        for opt in self._options:
            default = opt.default
            setattr(ns, opt.dest, list(default) if isinstance(default, list) else default)
        for key, value in self._defaults.items():
            setattr(ns, key, value)
        positionals = [o for o in self._options if o.positional]
        if self._subparsers is not None and self._subparsers.dest:
            setattr(ns, self._subparsers.dest, None)
        i = 0
        filled = 0
        while i < len(argv):
            arg = argv[i]
            if filled < len(positionals) and positionals[filled].nargs == REMAINDER:
                setattr(ns, positionals[filled].dest, argv[i:])
                return
            if arg == "--":
                rest = argv[i + 1 :]
                filled = self._fill_positionals(positionals, filled, rest, ns)
                if filled < 0:
                    self.error(f"unrecognized arguments: {' '.join(rest)}")
                return self._check_required(positionals, filled)
            if arg in ("-h", "--help") and arg not in self._by_flag:
                self.print_help()
                raise SystemExit(0)
            if arg.startswith("-") and arg != "-" and not _is_negative_number(arg):
                i = self._take_option(argv, i, ns)
                continue
            if filled < len(positionals):
                setattr(ns, positionals[filled].dest, self._convert(positionals[filled], arg))
                filled += 1
                i += 1
                continue
            if self._subparsers is not None:
                self._subparsers.dispatch(arg, argv[i + 1 :], ns)
                return None
            self.error(f"unrecognized arguments: {' '.join(argv[i:])}")
        self._check_required(positionals, filled)
        return None

    def _fill_positionals(
        self, positionals: list[_Option], filled: int, rest: list[str], ns: Namespace
    ) -> int:
        for value in rest:
            if filled >= len(positionals):
                return -1
            opt = positionals[filled]
            if opt.nargs == REMAINDER:
                setattr(ns, opt.dest, rest[rest.index(value) :])
                return len(positionals)
            setattr(ns, opt.dest, self._convert(opt, value))
            filled += 1
        return filled

    def _check_required(self, positionals: list[_Option], filled: int) -> None:
        missing = [o.dest for o in positionals[filled:] if o.nargs not in ("?", REMAINDER)]
        if missing:
            self.error(f"the following arguments are required: {', '.join(missing)}")

    def _take_option(self, argv: list[str], i: int, ns: Namespace) -> int:
        arg = argv[i]
        name, eq, inline = arg.partition("=")
        opt = self._by_flag.get(name)
        if opt is None and not eq and len(arg) > 2 and arg[1] != "-":
            return self._take_short_cluster(argv, i, ns)
        if opt is None:
            self.error(f"unrecognized arguments: {arg}")
        if not opt.takes_value:
            if eq:
                if inline.lower() not in ("true", "false", "1", "0"):
                    self.error(f"argument {name}: ignored explicit argument {inline!r}")
                setattr(ns, opt.dest, inline.lower() in ("true", "1"))
            else:
                setattr(ns, opt.dest, True)
            return i + 1
        if eq:
            value, nxt = inline, i + 1
        elif i + 1 < len(argv):
            value, nxt = argv[i + 1], i + 2
        else:
            self.error(f"argument {'/'.join(opt.names)}: expected one argument")
        converted = self._convert(opt, value)
        if opt.action == "append":
            getattr(ns, opt.dest).append(converted)
        else:
            setattr(ns, opt.dest, converted)
        return nxt

    def _take_short_cluster(self, argv: list[str], i: int, ns: Namespace) -> int:
        """-dt (two flags) or -bDIR (a value glued to a short option)."""
        arg = argv[i]
        first = self._by_flag.get(arg[:2])
        if first is not None and first.takes_value:
            return self._take_option([*argv[:i], arg[:2], arg[2:], *argv[i + 1 :]], i, ns) - 1
        for ch in arg[1:]:
            opt = self._by_flag.get("-" + ch)
            if opt is None or opt.takes_value:
                self.error(f"unrecognized arguments: {arg}")
            setattr(ns, opt.dest, True)
        return i + 1

    def _convert(self, opt: _Option, value: str) -> Any:
        if opt.type is not None:
            try:
                value = opt.type(value)
            except (TypeError, ValueError):
                kind = getattr(opt.type, "__name__", "value")
                self.error(f"argument {'/'.join(opt.names)}: invalid {kind} value: {value!r}")
        if opt.choices is not None and value not in opt.choices:
            choices = ", ".join(repr(c) for c in opt.choices)
            self.error(
                f"argument {'/'.join(opt.names)}: invalid choice: {value!r} (choose from {choices})"
            )
        return value

    # -- output ------------------------------------------------------------------------
    def error(self, message: str) -> None:
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)

    def format_help(self) -> str:
        lines = [f"usage: {self.prog} [options]" + (" COMMAND ..." if self._subparsers else ""), ""]
        if self.description:
            lines += [self.description, ""]
        for opt in self._options:
            if opt.help == SUPPRESS:
                continue
            label = ", ".join(opt.names)
            if opt.takes_value and not opt.positional:
                label += " VALUE"
            text = (opt.help or "").replace("%(default)s", str(opt.default))
            lines.append(f"  {label:<28} {text}")
        if self._subparsers:
            lines += ["", "commands:"]
            for name, (_, text) in self._subparsers.choices.items():
                lines.append(f"  {name:<28} {text}")
        return "\n".join(lines) + "\n"

    def print_help(self) -> None:
        sys.stdout.write(self.format_help())


class _SubParsers:
    def __init__(self, parent: ArgumentParser, dest: str | None, parser_class: type) -> None:
        self.parent = parent
        self.dest = dest
        self.parser_class = parser_class
        self.choices: dict[str, tuple[ArgumentParser, str]] = {}

    def add_parser(
        self, name: str, help: str | None = None, aliases: tuple[str, ...] = (), **kwargs: Any
    ) -> ArgumentParser:
        p = self.parser_class(prog=f"{self.parent.prog} {name}", **kwargs)
        for n in (name, *aliases):
            self.choices[n] = (p, help or "")
        return p

    def dispatch(self, name: str, rest: list[str], ns: Namespace) -> None:
        if name not in self.choices:
            self.parent.error(
                f"invalid choice: {name!r} (choose from {', '.join(repr(c) for c in self.choices)})"
            )
        if self.dest:
            setattr(ns, self.dest, name)
        self.choices[name][0]._parse_into(rest, ns)


def _is_negative_number(arg: str) -> bool:
    return arg[1:].isdigit()


# argparse exposes these names; our modules annotate with them.
_SubParsersAction = _SubParsers
