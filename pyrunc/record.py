"""`dataclass`, `field` and `replace` at a fraction of their start-up cost.

Every CLI call pays for what it imports: `dataclasses` pulls in `inspect` (and with
it ast, dis, tokenize, enum, re) and builds each class's methods with exec(), about
17 ms of a 25 ms `pyrunc state` here. pyrunc's records are plain value holders, so
this module gives them the same constructor, equality, repr, immutability and
`replace` without either cost. Type checkers see the real dataclasses (the names are
re-exported from it under TYPE_CHECKING), so the typed API is unchanged.

Supported: `@dataclass` and `@dataclass(frozen=True)`, defaults, `field(default=...)`
and `field(default_factory=...)`, positional or keyword construction, `==`, `hash`
of frozen records, `repr`. Not supported (pyrunc does not use them): inheritance
between records, `__post_init__`, `InitVar`, `ClassVar` fields, ordering.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: CONTRIBUTING.md, Imports

if TYPE_CHECKING:
    from dataclasses import dataclass as dataclass
    from dataclasses import field as field
    from dataclasses import replace as replace
else:
    _MISSING = object()

    class _Field:
        __slots__ = ("default", "default_factory")

        def __init__(self, default: object, default_factory: object) -> None:
            self.default = default
            self.default_factory = default_factory

    def field(*, default=_MISSING, default_factory=_MISSING):  # noqa: ANN001, ANN202
        return _Field(default, default_factory)

    def dataclass(cls=None, /, *, frozen=False):  # noqa: ANN001, ANN202
        def wrap(cls):  # noqa: ANN001, ANN202
            return _make_record(cls, frozen)

        return wrap if cls is None else wrap(cls)

    def replace(obj, /, **changes):  # noqa: ANN001, ANN202
        values = {name: getattr(obj, name) for name in type(obj).__record_fields__}
        unknown = changes.keys() - values.keys()
        if unknown:
            raise TypeError(f"{type(obj).__name__}: unknown field(s) {sorted(unknown)}")
        values.update(changes)
        return type(obj)(**values)

    def _make_record(cls, frozen):  # noqa: ANN001, ANN202
        names = tuple(cls.__dict__.get("__annotations__", {}))
        defaults = {}  # name -> (value, factory)
        for name in names:
            if name not in cls.__dict__:
                continue
            value = cls.__dict__[name]
            if isinstance(value, _Field):
                defaults[name] = (value.default, value.default_factory)
                if value.default is _MISSING:
                    delattr(cls, name)
                else:
                    setattr(cls, name, value.default)
            else:
                defaults[name] = (value, _MISSING)
        cls.__record_fields__ = names
        cls.__init__ = _init_for(cls.__name__, names, defaults)
        cls.__repr__ = _repr
        cls.__eq__ = _eq
        if frozen:
            cls.__setattr__ = _refuse_set
            cls.__delattr__ = _refuse_set
            cls.__hash__ = _hash
        else:
            cls.__hash__ = None
        return cls

    def _init_for(cls_name, names, defaults):  # noqa: ANN001, ANN202
        def __init__(self, *args, **kwargs):  # noqa: ANN001, ANN202, N807
            if len(args) > len(names):
                raise TypeError(f"{cls_name}: takes {len(names)} arguments, got {len(args)}")
            values = dict(zip(names, args, strict=False))
            for key, value in kwargs.items():
                if key in values or key not in names:
                    raise TypeError(f"{cls_name}: unexpected or repeated argument {key!r}")
                values[key] = value
            for name in names[len(args) :]:
                if name in values:
                    continue
                if name not in defaults:
                    raise TypeError(f"{cls_name}: missing argument {name!r}")
                default, factory = defaults[name]
                values[name] = factory() if factory is not _MISSING else default
            object.__setattr__(self, "__dict__", values)

        return __init__

    def _values(obj):  # noqa: ANN001, ANN202
        return tuple(getattr(obj, name) for name in type(obj).__record_fields__)

    def _repr(self):  # noqa: ANN001, ANN202
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in type(self).__record_fields__)
        return f"{type(self).__qualname__}({inner})"

    def _eq(self, other):  # noqa: ANN001, ANN202
        if type(other) is not type(self):
            return NotImplemented
        return _values(self) == _values(other)

    def _hash(self):  # noqa: ANN001, ANN202
        return hash(_values(self))

    def _refuse_set(self, name, *value):  # noqa: ANN001, ANN202
        raise AttributeError(f"cannot assign to field {name!r} of a frozen {type(self).__name__}")
