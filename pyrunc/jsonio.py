"""json.loads/dumps for the CLI's hot path, without importing json.

`import json` costs ~9 ms per CLI call: json.decoder and json.encoder import re (and
re imports enum) at module load. The C accelerator _json that json itself uses has
everything the common case needs, so this module drives it directly:

- loads: _json.make_scanner with json.JSONDecoder()'s default settings, and the same
  whitespace/extra-data rules as JSONDecoder.decode.
- dumps without indent: _json.make_encoder with the arguments json.dumps passes it.
- dumps with indent: a small writer with the layout of json.encoder._make_iterencode.

Output and results are json's. Anything off the fast path (invalid documents, other
types, extra keyword arguments, bytes that are not plain UTF-8) is handed to the real
json module, imported then, so errors (JSONDecodeError with msg/pos/lineno/colno,
TypeError texts) are exactly json's.
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from types import ModuleType
    from typing import IO, Any

__all__ = ["dump", "dumps", "load", "loads"]

_WHITESPACE = " \t\n\r"  # json.decoder.WHITESPACE: [ \t\n\r]*
_INFINITY = float("inf")
# json.decoder._CONSTANTS: what NaN, Infinity and -Infinity decode to.
_CONSTANTS = {"NaN": float("nan"), "Infinity": _INFINITY, "-Infinity": -_INFINITY}


def _stdlib_json() -> ModuleType:
    import json

    return json


class _DecoderSettings:
    """json.JSONDecoder()'s defaults, as the attributes _json.make_scanner reads."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__


# typeshed types make_scanner's argument as a make_scanner; the C code reads attributes.
_scan_once = _json.make_scanner(_DecoderSettings())  # type: ignore[arg-type]


class _Unsupported(Exception):
    """Raised inside the fast paths: this input is json's to handle."""


# -- decoding -------------------------------------------------------------------------


def loads(s: str | bytes | bytearray, **kw: Any) -> Any:
    """json.loads(s): the same value, or the same exception."""
    if not kw:
        text = _as_text(s)
        if text is not None:
            try:
                return _decode(text)
            except Exception:  # json decides what the error is
                pass
    # Outside the except block, so json's exception is not chained to ours.
    return _stdlib_json().loads(s, **kw)


def load(fp: IO[str] | IO[bytes], **kw: Any) -> Any:
    """json.load(fp)."""
    return loads(fp.read(), **kw)


def _as_text(s: object) -> str | None:
    """The document as json.loads reads it, or None to leave it to json."""
    if isinstance(s, str):
        return s
    if isinstance(s, (bytes, bytearray)):
        # UTF-8 is what json.detect_encoding picks unless the bytes start with a BOM
        # or have a NUL in the first two. Decoding those as UTF-8 cannot give a valid
        # document (NUL is invalid anywhere in JSON, U+FEFF before it, 0xFE/0xFF in
        # UTF-8), so they fail here and json decodes them its way.
        try:
            return s.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            return None
    return None


def _decode(s: str) -> Any:
    """JSONDecoder.decode(s); raises _Unsupported (or the scanner's error) if invalid."""
    start = len(s) - len(s.lstrip(_WHITESPACE)) if s and s[0] in _WHITESPACE else 0
    value, end = _scan_once(s, start)
    if s[end:].strip(_WHITESPACE):
        raise _Unsupported("extra data")
    return value


# -- encoding -------------------------------------------------------------------------


def dumps(
    obj: Any,
    *,
    indent: int | str | None = None,
    sort_keys: bool = False,
    separators: tuple[str, str] | None = None,
    ensure_ascii: bool = True,
    **kw: Any,
) -> str:
    """json.dumps(obj, ...) for dict/list/tuple/str/int/float/bool/None trees.

    Other types, cycles and extra keyword arguments go to json.dumps itself.
    """
    if not kw:
        try:
            return _encode(obj, indent, sort_keys, separators, ensure_ascii)
        except Exception:  # json decides what the error is
            pass
    text: str = _stdlib_json().dumps(
        obj,
        indent=indent,
        sort_keys=sort_keys,
        separators=separators,
        ensure_ascii=ensure_ascii,
        **kw,
    )
    return text


def dump(obj: Any, fp: IO[str], **kw: Any) -> None:
    """json.dump(obj, fp, ...); writes nothing if obj cannot be encoded."""
    fp.write(dumps(obj, **kw))


def _encode(
    obj: Any,
    indent: int | str | None,
    sort_keys: bool,
    separators: tuple[str, str] | None,
    ensure_ascii: bool,
) -> str:
    encode_str = _json.encode_basestring_ascii if ensure_ascii else _json.encode_basestring
    if isinstance(obj, str):  # JSONEncoder.encode's shortcut
        return encode_str(obj)
    # JSONEncoder.__init__'s separator defaults
    if separators is not None:
        item_sep, key_sep = separators
    else:
        item_sep, key_sep = ("," if indent is not None else ", "), ": "
    if indent is None:
        encoder = _json.make_encoder(
            {}, _refuse, encode_str, None, key_sep, item_sep, sort_keys, False, True
        )
        return "".join(encoder(obj, 0))
    if not isinstance(indent, str):
        indent = " " * indent
    writer = _IndentedWriter(encode_str, indent, item_sep, key_sep, sort_keys)
    writer.write_value(obj, 0)
    return "".join(writer.chunks)


def _refuse(obj: object) -> Any:
    """The C encoder's `default`: a type json would convert (or reject) itself."""
    raise _Unsupported(type(obj).__name__)


def _float_text(f: float) -> str:
    """json.encoder's floatstr with allow_nan=True."""
    if f != f:
        return "NaN"
    if f == _INFINITY:
        return "Infinity"
    if f == -_INFINITY:
        return "-Infinity"
    return float.__repr__(f)


class _IndentedWriter:
    """json.encoder._make_iterencode's output for exact built-in types.

    Subclasses and other types raise _Unsupported, and a cycle ends in RecursionError,
    so that json itself handles them (its TypeError and ValueError texts).
    """

    def __init__(
        self, encode_str: Any, indent: str, item_sep: str, key_sep: str, sort_keys: bool
    ) -> None:
        self.chunks: list[str] = []
        self.encode_str = encode_str
        self.indent = indent
        self.item_sep = item_sep
        self.key_sep = key_sep
        self.sort_keys = sort_keys

    def write_value(self, o: Any, level: int) -> None:
        kind = type(o)
        if kind is str:
            self.chunks.append(self.encode_str(o))
        elif o is None:
            self.chunks.append("null")
        elif o is True:
            self.chunks.append("true")
        elif o is False:
            self.chunks.append("false")
        elif kind is int:
            self.chunks.append(int.__repr__(o))
        elif kind is float:
            self.chunks.append(_float_text(o))
        elif kind is list or kind is tuple:
            self.write_array(o, level)
        elif kind is dict:
            self.write_object(o, level)
        else:
            raise _Unsupported(kind.__name__)

    def write_array(self, items: list[Any] | tuple[Any, ...], level: int) -> None:
        if not items:
            self.chunks.append("[]")
            return
        newline = "\n" + self.indent * (level + 1)
        self.chunks.append("[" + newline)
        for i, item in enumerate(items):
            if i:
                self.chunks.append(self.item_sep + newline)
            self.write_value(item, level + 1)
        self.chunks.append("\n" + self.indent * level + "]")

    def write_object(self, mapping: dict[Any, Any], level: int) -> None:
        if not mapping:
            self.chunks.append("{}")
            return
        newline = "\n" + self.indent * (level + 1)
        self.chunks.append("{" + newline)
        pairs = sorted(mapping.items()) if self.sort_keys else mapping.items()
        for i, (key, item) in enumerate(pairs):
            if i:
                self.chunks.append(self.item_sep + newline)
            self.chunks.append(self.encode_str(_key_text(key)))
            self.chunks.append(self.key_sep)
            self.write_value(item, level + 1)
        self.chunks.append("\n" + self.indent * level + "}")


def _key_text(key: object) -> str:
    """A dict key as json writes it (json.encoder._iterencode_dict), exact types only."""
    if type(key) is str:
        return key
    if type(key) is float:
        return _float_text(key)
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if type(key) is int:
        return int.__repr__(key)
    raise _Unsupported(type(key).__name__)
