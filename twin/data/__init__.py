"""Reference data shipped with the twin: every number carries its ``source``.

Each YAML file here maps names to entries of the form::

    temp_annual_mean_c:
      value: 8.5
      unit: degC
      source: "China Meteorological Administration normals 1991-2020, Shenyang station 54342"

:func:`load` returns ``{name: value}`` after checking that every entry has a ``source``;
:func:`entries` returns the full entries (for reports and docs). Labels ``illustrative``
in a source mark placeholders that no primary source confirmed.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # safe; libyaml's speed if built


class DataError(ValueError):
    """A reference data file is missing, malformed, or has an entry without a source."""


@cache
def entries(name: str) -> dict[str, dict[str, Any]]:
    """Return the entries of ``twin/data/<name>.yaml`` (value, unit, source, ...)."""
    try:
        text = resources.files(__name__).joinpath(f"{name}.yaml").read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise DataError(f"no reference data file twin/data/{name}.yaml") from exc
    raw = yaml.load(text, Loader=YAML_LOADER)  # noqa: S506 - a safe loader (libyaml's when built)
    if not isinstance(raw, dict):
        raise DataError(f"twin/data/{name}.yaml: expected a mapping of entries")
    for key, entry in raw.items():
        if not isinstance(entry, dict) or "value" not in entry:
            raise DataError(f"twin/data/{name}.yaml: {key}: expected a mapping with 'value'")
        if not str(entry.get("source", "")).strip():
            raise DataError(f"twin/data/{name}.yaml: {key}: has no 'source'")
    return raw


def load(name: str) -> dict[str, Any]:
    """Return ``{key: value}`` of ``twin/data/<name>.yaml``; lists become tuples."""
    return {k: _freeze(e["value"]) for k, e in entries(name).items()}


def _freeze(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return {k: _freeze(v) for k, v in value.items()}
    return value
