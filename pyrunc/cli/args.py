"""A small argparse work-alike for the CLI: the subset pyrunc uses, without the cost.

`import argparse` costs ~10 ms (re, gettext, shutil...) on every invocation, and a
runtime is invoked several times per container. This module keeps argparse's API for
what our subcommands declare (options with values, store_true, append, type, choices,
nargs "?" / REMAINDER, subcommands, set_defaults), parses the way engines call runc
(`--flag value`, `--flag=value`, Go's single-dash long form `-flag`), and reports
errors through `error()` like argparse does.

Help is runc's (urfave/cli's layout, pyrunc/cli/helpfmt.py renders it): a command
declares its texts as urfave does (`help=` is the one-line Usage, `args_usage=` what
follows the usage line, `description=`), each option its usage text (`help=`), value
placeholder (`metavar=`, else "int" or "string") and, where runc shows another default
than the parser's, `default_text=` ("" shows none). Texts may say %(name)s for the name
the runtime was called by. `-h`/`--help` anywhere among a command's options prints its
help; `help [command]` and an unknown command are runc's too (`No help topic for ...`).
"""

from __future__ import annotations

import sys

SUPPRESS = "==SUPPRESS=="
REMAINDER = "..."
_UNSET = object()
HELP_FLAGS = ("-h", "--help", "-help")
HELP_COMMANDS = ("help", "h")  # urfave/cli's built-in help command and its alias
NO_TOPIC_STATUS = 3  # runc's exit status for an unknown command (urfave's Exit(..., 3))

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, NoReturn


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
        "default_text",
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
        default_text: str | None = None,
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
        self.default_text = default_text

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
    def __init__(
        self,
        prog: str | None = None,
        description: str | None = None,
        *,
        summary: str = "",
        args_usage: str = "",
        version: str = "",
        parent: ArgumentParser | None = None,
        hide_help: bool = False,
        **_: Any,
    ) -> None:
        self.prog = prog or "pyrunc"
        self.description = description or ""
        self.summary = summary  # urfave's Usage: the line after the name
        self.args_usage = args_usage  # urfave's ArgsUsage: after the usage line
        self.version = version
        self.parent = parent  # the runtime's parser, for a command's GLOBAL OPTIONS
        self.hide_help = hide_help
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
        default_text: str | None = None,
    ) -> _Option:
        if action not in (None, "store", "store_true", "append"):
            raise ValueError(f"unsupported action {action!r}")
        if default is _UNSET:
            default = False if action == "store_true" else [] if nargs == REMAINDER else None
        opt = _Option(
            names, dest, action, default, type, choices, nargs, help, metavar, default_text
        )
        self._options.append(opt)
        for n in names:
            if n.startswith("-"):
                self._by_flag[n] = opt
                if n.startswith("--"):
                    self._by_flag.setdefault(n[1:], opt)  # Go's flag package: -name too
        return opt

    def add_subparsers(
        self,
        dest: str | None = None,
        parser_class: type | None = None,
        order: tuple[str, ...] = (),
        **_: Any,
    ) -> _SubParsers:
        """order: how help lists the commands (else as they were added)."""
        self._subparsers = _SubParsers(self, dest, parser_class or type(self), order)
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
            if arg in HELP_FLAGS and arg not in self._by_flag:
                self._help_flag(argv[i + 1 :])
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

    def _help_flag(self, rest: list[str]) -> NoReturn:
        """-h: this parser's help; the runtime's `-h CMD` is CMD's help (urfave's)."""
        topic = self.first_positional(rest) if self._subparsers is not None else None
        if topic is not None and self._subparsers is not None:
            self._subparsers.show_help(topic, missing_status=1)
        self.print_help()
        raise SystemExit(0)

    def first_positional(self, argv: list[str]) -> str | None:
        """The first argument that is neither an option of ours nor an option's value."""
        skip = False
        for arg in argv:
            if skip:
                skip = False
            elif arg == "--":
                return None
            elif not arg.startswith("-") or arg == "-":
                return arg
            else:
                opt = self._by_flag.get(arg)
                skip = opt is not None and opt.takes_value
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
    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)

    def fail(self, message: str, status: int) -> NoReturn:
        """An error with its own exit status (runc's 3 for an unknown command)."""
        sys.stderr.write(f"{message}\n")
        raise SystemExit(status)

    def visible_options(self) -> list[_Option]:
        """The options help lists, in the order they were declared."""
        return [o for o in self._options if not o.positional and o.help != SUPPRESS]

    def commands(self) -> list[tuple[list[str], ArgumentParser]]:
        """Each command's names (name, then aliases) and parser, in help's order."""
        return self._subparsers.listing() if self._subparsers is not None else []

    def format_help(self) -> str:
        from pyrunc.cli import helpfmt  # only when help is asked for

        return helpfmt.render(self)

    def print_help(self) -> None:
        sys.stdout.write(self.format_help())


class _SubParsers:
    def __init__(
        self, parent: ArgumentParser, dest: str | None, parser_class: type, order: tuple[str, ...]
    ) -> None:
        self.parent = parent
        self.dest = dest
        self.parser_class = parser_class
        self.order = order
        self.choices: dict[str, tuple[ArgumentParser, str]] = {}

    def add_parser(
        self, name: str, help: str | None = None, aliases: tuple[str, ...] = (), **kwargs: Any
    ) -> ArgumentParser:
        p = self.parser_class(
            prog=f"{self.parent.prog} {name}", summary=help or "", parent=self.parent, **kwargs
        )
        for n in (name, *aliases):
            self.choices[n] = (p, help or "")
        return p

    def dispatch(self, name: str, rest: list[str], ns: Namespace) -> None:
        if name not in self.choices:
            if name in HELP_COMMANDS:  # `help [command]`
                topic = self.parent.first_positional(rest)
                if topic is not None:
                    self.show_help(topic, missing_status=NO_TOPIC_STATUS)
                self.parent.print_help()
                raise SystemExit(0)
            asked = any(a in HELP_FLAGS for a in rest)  # runc: 1 with -h, else 3
            self.parent.fail(f"No help topic for '{name}'", 1 if asked else NO_TOPIC_STATUS)
        if self.dest:
            setattr(ns, self.dest, name)
        self.choices[name][0]._parse_into(rest, ns)

    def show_help(self, name: str, missing_status: int) -> NoReturn:
        """Print the help of command `name` and exit 0, or fail as runc does."""
        if name in self.choices:
            self.choices[name][0].print_help()
        elif name in HELP_COMMANDS:
            self._help_command().print_help()
        else:
            self.parent.fail(f"No help topic for '{name}'", missing_status)
        raise SystemExit(0)

    def _help_command(self) -> ArgumentParser:
        from pyrunc.cli.helpfmt import HELP_COMMAND_ARGS, HELP_COMMAND_USAGE

        return ArgumentParser(
            prog=f"{self.parent.prog} {HELP_COMMANDS[0]}",
            summary=HELP_COMMAND_USAGE,
            args_usage=HELP_COMMAND_ARGS,
            parent=self.parent,
            hide_help=True,
        )

    def listing(self) -> list[tuple[list[str], ArgumentParser]]:
        names: dict[int, list[str]] = {}
        parsers: dict[int, ArgumentParser] = {}
        for name, (p, _) in self.choices.items():
            names.setdefault(id(p), []).append(name)
            parsers[id(p)] = p
        rank = {name: i for i, name in enumerate(self.order)}
        keys = sorted(names, key=lambda k: rank.get(names[k][0], len(rank)))
        return [(names[k], parsers[k]) for k in keys]


def _is_negative_number(arg: str) -> bool:
    return arg[1:].isdigit()


# argparse exposes these names; our modules annotate with them.
_SubParsersAction = _SubParsers
