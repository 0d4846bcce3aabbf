"""Build frozen, typed dataclasses from plain YAML values, with errors that name the field path.

This is the generic half of scenario validation: types, unknown and missing keys, bounds and
choices declared with :func:`twin.core.fields.param`. The rules that span several fields live in
``twin.scenario``. Every failure raises :class:`SpecError` with the dotted path of the field
(``batteries[0].soc_min``) and what was expected.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, Union

from twin.core.fields import bounds_text


class SpecError(ValueError):
    """A value does not fit its spec; ``path`` is the field path, ``message`` what was expected."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


def build(cls: type, data: Any, path: str = "") -> Any:
    """Build dataclass ``cls`` from the mapping ``data``; ``path`` prefixes error paths."""
    if not isinstance(data, dict):
        raise SpecError(path, f"expected a mapping of {_fields_text(cls)}, got {_show(data)}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in data if k not in fields]
    if unknown:
        raise SpecError(
            _join(path, str(unknown[0])),
            f"unknown key; expected one of {', '.join(fields)}",
        )
    hints = typing.get_type_hints(cls)
    values = {}
    for name, f in fields.items():
        sub = _join(path, name)
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise SpecError(sub, f"missing; expected {_expect(hints[name], f.metadata)}")
            continue
        values[name] = convert(hints[name], data[name], sub, f.metadata)
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:  # a spec's own checks (__post_init__)
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
        if not isinstance(value, dict):
            raise SpecError(path, f"expected a mapping, got {_show(value)}")
        return dict(value)
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
    except (TypeError, ValueError) as exc:
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
    _check_bounds(float(value), path, meta)
    return float(value)


def _to_str(value: Any, path: str, meta: typing.Mapping[str, Any]) -> str:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise SpecError(path, f"expected a text value, got {_show(value)}")
    text = str(value)
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
    try:
        return dt.datetime.fromisoformat(str(value))
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
        return tuple(convert(args[0], v, f"{path}[{i}]") for i, v in enumerate(value))
    if len(value) != len(args):
        raise SpecError(path, f"expected a list of {len(args)} values, got {len(value)}")
    return tuple(convert(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True)))


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
