"""Spec fields that carry their unit, bounds and meaning in one place.

Model specs are frozen dataclasses whose fields are declared with :func:`param`. The scenario
loader (``twin.scenario``) reads the metadata to check bounds and to name units in its errors,
and the docs read it for the glossary. Models themselves never look at it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

MISSING: Any = dataclasses.MISSING


def param(
    unit: str = "",
    *,
    doc: str = "",
    default: Any = MISSING,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    choices: Sequence[str] | None = None,
    parse: Callable[[Any], Any] | None = None,
    expect: str | None = None,
) -> Any:
    """Declare a spec field with its unit, bounds and a one-line description.

    Parameters
    ----------
    unit : str
        Unit of the value, e.g. ``"MW"``, ``"MWh"``, ``"1"`` (dimensionless), ``"degC"``.
    doc : str
        One line saying what the value is.
    default : Any
        Default value; omit for a required field. Tuples only (specs are immutable).
    ge, gt, le, lt : float, optional
        Inclusive (``ge``, ``le``) and exclusive (``gt``, ``lt``) bounds.
    choices : sequence of str, optional
        Allowed values of a string field.
    parse : callable, optional
        Converts the raw YAML value (e.g. ``"15min"`` to 900); raises ``ValueError`` if bad.
    expect : str, optional
        What a valid value looks like, for error messages of parsed fields.
    """
    metadata = {
        "unit": unit,
        "doc": doc,
        "ge": ge,
        "gt": gt,
        "le": le,
        "lt": lt,
        "choices": tuple(choices) if choices is not None else None,
        "parse": parse,
        "expect": expect,
    }
    return dataclasses.field(default=default, metadata=metadata)


def bounds_text(meta: dict[str, Any]) -> str:
    """Describe the bounds of a field for an error message, e.g. ``'a number >= 0 (MW)'``."""
    parts = []
    for key, sym in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
        if meta.get(key) is not None:
            parts.append(f"{sym} {meta[key]:g}")
    text = "a number" + (" " + " and ".join(parts) if parts else "")
    unit = meta.get("unit")
    return text + (f" ({unit})" if unit and unit != "1" else "")
