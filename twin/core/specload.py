"""Build frozen, typed dataclasses from plain YAML values, with errors that name the field path.

This is the generic half of scenario validation: types, unknown and missing keys, bounds and
choices declared with :func:`twin.core.fields.param`. The rules that span several fields live in
``twin.scenario``. Every failure raises :class:`SpecError` with the dotted path of the field
(``batteries[0].soc_min``) and what was expected.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import types
import typing
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, Union

from twin.core.fields import bounds_text

MAX_ERRORS = 20  # errors reported at once; the rest are counted


class SpecError(ValueError):
    """A value does not fit its spec; ``path`` is the field path, ``message`` what was expected.

    ``errors`` holds every mistake found (itself alone for one): :func:`build` goes on after a
    bad field so that a file's mistakes are all reported in one pass.
    """

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message
        self.errors: list[SpecError] = [self]

    @classmethod
    def of(cls, errors: list[SpecError]) -> SpecError:
        """One error standing for ``errors`` (the first names the path)."""
        first = errors[0]
        if len(errors) == 1:
            return first
        more = cls(first.path, first.message)
        more.errors = list(errors)
        return more


class Collect:
    """Run checks and keep their :class:`SpecError` s: ``with c.check(): ...`` then ``c.done()``."""

    def __init__(self) -> None:
        self.errors: list[SpecError] = []

    def add(self, exc: SpecError) -> None:
        self.errors.extend(exc.errors)

    def check(self) -> _Catch:
        return _Catch(self)

    def done(self) -> None:
        if self.errors:
            raise SpecError.of(self.errors)


class _Catch:
    def __init__(self, collect: Collect) -> None:
        self.collect = collect

    def __enter__(self) -> None:
        return None

    def __exit__(self, tp: Any, exc: Any, tb: Any) -> bool:
        if isinstance(exc, SpecError):
            self.collect.add(exc)
            return True
        return False


def build(cls: type, data: Any, path: str = "") -> Any:
    """Build dataclass ``cls`` from the mapping ``data``; ``path`` prefixes error paths.

    Every bad field is reported (:attr:`SpecError.errors`), not only the first.
    """
    if not isinstance(data, dict):
        raise SpecError(path, f"expected a mapping of {_fields_text(cls)}, got {_show(data)}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    errors = Collect()
    for k in data:
        if k not in fields:
            errors.add(SpecError(_join(path, str(k)),
                                 f"unknown key; expected one of {', '.join(fields)}"))
    hints = typing.get_type_hints(cls)
    values = {}
    for name, f in fields.items():
        sub = _join(path, name)
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                errors.add(SpecError(sub, f"missing; expected {_expect(hints[name], f.metadata)}"))
            continue
        with errors.check():
            values[name] = convert(hints[name], data[name], sub, f.metadata)
    errors.done()
    try:
        return cls(**values)
    except (TypeError, ValueError, OverflowError) as exc:  # a spec's own checks (__post_init__)
        raise SpecError(path, str(exc)) from None


def convert(tp: Any, value: Any, path: str, meta: typing.Mapping[str, Any] | None = None) -> Any:
    """Convert a YAML value to type ``tp``, checking the bounds and choices in ``meta``."""
    meta = meta or {}
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        if len(non_none) == 1:
            return convert(non_none[0], value, path, meta)
        raise SpecError(path, "unsupported union type in spec")  # pragma: no cover
    parser = meta.get("parse")
    if parser is not None:
        return _parsed(parser, value, path, meta)
    if origin is Literal:
        return _choice(value, typing.get_args(tp), path)
    if origin is tuple:
        return _tuple(tp, value, path)
    if origin is dict or tp is dict:
        return _dict(tp, value, path)
    if dataclasses.is_dataclass(tp):
        return build(tp, value, path)
    return _scalar(tp, value, path, meta)


def _parsed(parser: Callable[[Any], Any], value: Any, path: str,
            meta: typing.Mapping[str, Any]) -> Any:
    try:
        return parser(value)
    except SpecError as exc:  # a parser naming the part of the value at fault, e.g. [2]
        raise SpecError(path + exc.path if exc.path.startswith("[") else
                        _join(path, exc.path), exc.message) from None
    except (TypeError, ValueError, OverflowError, AttributeError, KeyError, IndexError) as exc:
        raise SpecError(path, f"expected {meta.get('expect', 'a valid value')}: {exc}") from None


def _scalar(tp: Any, value: Any, path: str, meta: typing.Mapping[str, Any]) -> Any:
    if tp is Any:
        return value
    converter = _SCALARS.get(tp)
    if converter is None:
        raise SpecError(path, f"unsupported type {tp!r} in spec")  # pragma: no cover
    return converter(value, path, meta)


def _to_bool(value: Any, path: str, meta: typing.Mapping[str, Any]) -> bool:
    if not isinstance(value, bool):
        raise SpecError(path, f"expected true or false, got {_show(value)}")
    return value


def _to_int(value: Any, path: str, meta: typing.Mapping[str, Any]) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(path, f"expected an integer{_bounds_suffix(meta)}, got {_show(value)}")
    _check_bounds(value, path, meta)
    return value


def _to_float(value: Any, path: str, meta: typing.Mapping[str, Any]) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecError(path, f"expected {bounds_text(meta)}, got {_show(value)}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise SpecError(path, f"expected a finite number ({bounds_text(meta)}), got {_show(value)}")
    _check_bounds(number, path, meta)
    return number


def _to_str(value: Any, path: str, meta: typing.Mapping[str, Any]) -> str:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise SpecError(path, f"expected a text value, got {_show(value)}")
    text = str(value)
    bad = next((c for c in text if _is_control(c) and c not in "\n\t"), None)
    if bad is not None:
        raise SpecError(path, f"expected printable text, got the control character {bad!r} in "
                        f"{_show(text)}")
    if meta.get("choices"):
        return _choice(text, meta["choices"], path)
    return text


def _to_path(value: Any, path: str, meta: typing.Mapping[str, Any]) -> Path:
    if not isinstance(value, str):
        raise SpecError(path, f"expected a file path, got {_show(value)}")
    return Path(value)


def _to_datetime(value: Any, path: str, meta: typing.Mapping[str, Any]) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if not isinstance(value, str):
        raise SpecError(
            path, f"expected a date and time like 2027-01-01 00:00, got {_show(value)}")
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        raise SpecError(
            path, f"expected a date and time like 2027-01-01 00:00, got {_show(value)}"
        ) from None


_SCALARS: dict[Any, Callable[[Any, str, typing.Mapping[str, Any]], Any]] = {
    bool: _to_bool,
    int: _to_int,
    float: _to_float,
    str: _to_str,
    Path: _to_path,
    dt.datetime: _to_datetime,
}


def _tuple(tp: Any, value: Any, path: str) -> tuple[Any, ...]:
    args = typing.get_args(tp)
    if not isinstance(value, list | tuple):
        raise SpecError(path, f"expected a list, got {_show(value)}")
    if len(args) == 2 and args[1] is Ellipsis:
        items = list(enumerate(zip([args[0]] * len(value), value, strict=True)))
    elif len(value) != len(args):
        raise SpecError(path, f"expected a list of {len(args)} values, got {len(value)}")
    else:
        items = list(enumerate(zip(args, value, strict=True)))
    errors = Collect()
    out = []
    for i, (a, v) in items:
        with errors.check():
            out.append(convert(a, v, f"{path}[{i}]"))
    errors.done()
    _unique_names(out, path)
    return tuple(out)


def _unique_names(items: list[Any], path: str) -> None:
    """Names in a list of specs: printable and each used once (empty names are labels left out)."""
    errors = Collect()
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        name = getattr(item, "name", None) if dataclasses.is_dataclass(item) else None
        if not isinstance(name, str) or not name:
            continue
        where = f"{path}[{i}].name"
        if any(_is_control(c) for c in name) or name != name.strip():
            errors.add(SpecError(where, f"expected a name without control characters or "
                                 f"surrounding spaces, got {_show(name)}"))
        elif name in seen:
            errors.add(SpecError(where, f"name {name!r} is already used by {path}[{seen[name]}]"))
        else:
            seen[name] = i
    errors.done()


def _dict(tp: Any, value: Any, path: str) -> dict[Any, Any]:
    if not isinstance(value, dict):
        raise SpecError(path, f"expected a mapping, got {_show(value)}")
    args = typing.get_args(tp)
    if len(args) != 2 or args[1] is Any:
        for key in value:
            if not isinstance(key, str | int | float | bool):
                raise SpecError(path, f"expected names as keys, got {_show(key)}")
        return dict(value)
    errors = Collect()
    out = {}
    for key, item in value.items():
        sub = _join(path, str(key))
        with errors.check():
            k = convert(args[0], key, sub)
            out[k] = convert(args[1], item, sub)
    errors.done()
    return out


def _is_control(c: str) -> bool:
    return unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")


def _choice(value: Any, choices: tuple[Any, ...], path: str) -> Any:
    if value not in choices:
        shown = ", ".join(repr(c) for c in choices)
        raise SpecError(path, f"expected one of {shown}, got {_show(value)}")
    return value


def _check_bounds(value: float, path: str, meta: typing.Mapping[str, Any]) -> None:
    ok = (
        (meta.get("ge") is None or value >= meta["ge"])
        and (meta.get("gt") is None or value > meta["gt"])
        and (meta.get("le") is None or value <= meta["le"])
        and (meta.get("lt") is None or value < meta["lt"])
    )
    if not ok:
        raise SpecError(path, f"expected {bounds_text(meta)}, got {_show(value)}")


def _bounds_suffix(meta: typing.Mapping[str, Any]) -> str:
    text = bounds_text(meta)
    return text[len("a number") :]


def _expect(tp: Any, meta: typing.Mapping[str, Any]) -> str:
    if meta.get("expect"):
        return str(meta["expect"])
    if tp is float:
        return bounds_text(meta)
    if tp is int:
        return "an integer" + _bounds_suffix(meta)
    if dataclasses.is_dataclass(tp):
        return f"a mapping of {_fields_text(tp)}"
    if typing.get_origin(tp) is Literal:
        return "one of " + ", ".join(repr(c) for c in typing.get_args(tp))
    return "a value"


def _fields_text(cls: type) -> str:
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    return ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
