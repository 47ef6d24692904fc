"""Help in runc's layout: urfave/cli v3's help templates as runc prints them.

The texts are each command's own, declared with its options (pyrunc.cli.args says how);
this module only lays them out, and is imported only when help is asked for. What the
templates do, and what is done here the same way:

- NAME: the full name, " - ", the one-line usage; a usage of several lines goes on
  indented under its first line (len(name) + 6).
- USAGE: the full name, " [options]" when the command has options (it always has
  --help), then the argument text as written (it may go on for paragraphs).
- DESCRIPTION: indented by 3, blank lines kept blank.
- OPTIONS / GLOBAL OPTIONS: "--name placeholder, -n placeholder" then a tab and the
  usage with its default; lines after the first indented by 6. A command's help lists
  the runtime's options under GLOBAL OPTIONS (without --help and --version).
- COMMANDS: names and usage in two columns, the built-in `help, h` last.
- The result goes through text/tabwriter (padding 2): each run of consecutive lines
  that hold a tab is aligned on it, so a flag whose usage spans lines starts a new run.

urfave wraps lines longer than 10000 columns; no text here comes near that.
"""

from __future__ import annotations

from pyrunc.cli.args import HELP_COMMANDS

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from pyrunc.cli.args import ArgumentParser, _Option

HELP_COMMAND_USAGE = "Shows a list of commands or help for one command"
HELP_COMMAND_ARGS = "[command]"
_HELP_FLAG = "--help, -h\tshow help"
_PADDING = 2  # text/tabwriter's, as urfave sets it
_VERSION_DEST = "version"  # urfave adds --version after --help, to the runtime's options only


def render(p: ArgumentParser) -> str:
    text = _runtime_help(p) if p.parent is None and p.commands() else _command_help(p)
    return _tabwrite(text.replace("%(name)s", _runtime(p).prog))


def _runtime(p: ArgumentParser) -> ArgumentParser:
    while p.parent is not None:
        p = p.parent
    return p


def _runtime_help(p: ArgumentParser) -> str:
    out = "NAME:\n   " + _name_line(p)
    out += f"\n\nUSAGE:\n   {p.prog} [global options] [command [command options]]"
    if p.version:
        out += f"\n\nVERSION:\n   {p.version}"
    if p.description:
        out += "\n\nDESCRIPTION:\n   " + _wrap(p.description, 3)
    out += "\n\nCOMMANDS:" + _command_rows(p)
    options = p.visible_options()
    rows = [_flag(o) for o in options if o.dest != _VERSION_DEST] + [_HELP_FLAG]
    rows += [_flag(o) for o in options if o.dest == _VERSION_DEST]
    return out + "\n\nGLOBAL OPTIONS:" + _flag_rows(rows) + "\n"


def _command_help(p: ArgumentParser) -> str:
    rows = [_flag(o) for o in p.visible_options()]
    if not p.hide_help:
        rows.append(_HELP_FLAG)
    out = "NAME:\n   " + _name_line(p)
    out += "\n\nUSAGE:\n   " + p.prog + (" [options]" if rows else "")
    if p.args_usage:
        out += " " + p.args_usage
    if p.description:
        out += "\n\nDESCRIPTION:\n   " + _wrap(p.description, 3)
    if rows:
        out += "\n\nOPTIONS:" + _flag_rows(rows)
    if p.parent is not None:
        shared = [_flag(o) for o in p.parent.visible_options() if o.dest != _VERSION_DEST]
        if shared:
            out += "\n\nGLOBAL OPTIONS:" + _flag_rows(shared)
    return out + "\n"


def _name_line(p: ArgumentParser) -> str:
    if not p.summary:
        return _wrap(p.prog, 3)
    return _wrap(p.prog, 3) + " - " + _wrap(p.summary, len(p.prog) + 6)


def _command_rows(p: ArgumentParser) -> str:
    entries = [(", ".join(names), cmd.summary) for names, cmd in p.commands()]
    entries.append((", ".join(HELP_COMMANDS), HELP_COMMAND_USAGE))
    column = max(len(names) for names, _ in entries) + 5
    return "".join(
        f"\n   {names}{' ' * (column - len(names) - 3)}{_wrap(usage, column)}"
        for names, usage in entries
    )


def _flag_rows(rows: list[str]) -> str:
    return "".join("\n   " + _wrap(row, 6) for row in rows)


def _flag(o: _Option) -> str:
    """urfave's flag string: names with the placeholder, a tab, usage and default."""
    placeholder = ""
    if o.takes_value:
        placeholder = o.metavar or ("int" if o.type is int else "string")
    names = sorted(o.names, key=lambda n: len(n.lstrip("-")) == 1)  # long name first
    shown = ", ".join(_prefixed(n, placeholder) for n in names)
    if o.action == "append":
        shown += f" [ {shown} ]"
    usage = (o.help or "") + _default(o, placeholder)
    return f"{shown}\t{usage.strip()}"


def _prefixed(name: str, placeholder: str) -> str:
    bare = name.lstrip("-")
    text = ("-" if len(bare) == 1 else "--") + bare
    return f"{text} {placeholder}" if placeholder else text


def _default(o: _Option, placeholder: str) -> str:
    """urfave's rule: a value-taking flag shows a default that is not empty (quoted for
    a string), a boolean or repeatable one none; default_text says otherwise."""
    if o.default_text is not None:
        shown = o.default_text
    elif not o.takes_value or o.action == "append" or o.default is None or o.default == "":
        return ""
    elif placeholder == "string":
        shown = _go_quote(str(o.default))
    else:
        shown = str(o.default)
    return f" (default: {shown})" if shown else ""


def _go_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _wrap(text: str, offset: int) -> str:
    """urfave's wrap: lines after the first indented by offset, empty ones left empty."""
    pad = " " * offset
    lines = text.split("\n")
    return "\n".join(line if i == 0 or not line else pad + line for i, line in enumerate(lines))


def _tabwrite(text: str) -> str:
    """text/tabwriter over lines with at most one tab: each run of consecutive lines
    that have one is aligned, the cell padded to the run's widest plus the padding."""
    out: list[str] = []
    run: list[tuple[str, str]] = []
    for line in text.split("\n"):
        cell, tab, rest = line.partition("\t")
        if tab:
            run.append((cell, rest))
            continue
        out.extend(_aligned(run))
        run = []
        out.append(line)
    out.extend(_aligned(run))
    return "\n".join(out)


def _aligned(run: list[tuple[str, str]]) -> list[str]:
    if not run:
        return []
    width = max(len(cell) for cell, _ in run) + _PADDING
    return [cell.ljust(width) + rest for cell, rest in run]
