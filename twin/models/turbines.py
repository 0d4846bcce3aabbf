"""Turbine power curves from windpowerlib's packaged turbine library, offline.

windpowerlib ships a copy of the OpenEnergy Database (oedb) turbine library as CSV files in
``windpowerlib/oedb/`` (67 types with a power curve in windpowerlib 0.2.2; power in W). This
module reads the list of types itself (a scenario's check imports no windpowerlib) and the
curves through windpowerlib's own readers; it never calls the
functions that download or overwrite the table (``store_turbine_data_from_oedb`` and the
``turbine_library='oedb'`` option), so it works without a network.
"""

from __future__ import annotations

import csv
import difflib
import importlib.util
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from twin.models.wind import PowerCurve

# the package's folder, found without importing it (windpowerlib imports pandas and requests:
# checking a scenario's turbine names needs neither)
_OEDB_DIR = Path(next(iter(importlib.util.find_spec("windpowerlib")
                           .submodule_search_locations))) / "oedb"


@cache
def _types() -> tuple[str, ...]:
    """The types of the local library with a power curve (as windpowerlib's
    ``get_turbine_types(turbine_library="local")`` lists them)."""
    with (_OEDB_DIR / "turbine_data.csv").open(newline="", encoding="utf-8") as f:
        return tuple(sorted(r["turbine_type"] for r in csv.DictReader(f)
                            if r["has_power_curve"].strip().lower() in ("true", "1", "1.0")))


def turbine_types() -> list[str]:
    """Return the turbine types of windpowerlib's offline library that have a power curve."""
    return list(_types())


def check_type(turbine_type: str) -> None:
    """Check that ``turbine_type`` is in the library (what validating a scenario needs).

    Raises
    ------
    KeyError
        If the type is not in the library (the message lists close matches).
    """
    if turbine_type not in _types():
        close = difflib.get_close_matches(turbine_type, _types(), n=5, cutoff=0.5)
        hint = ", ".join(close) if close else "none (see twin.models.turbines.turbine_types())"
        raise KeyError(f"unknown turbine type {turbine_type!r}; close matches: {hint}")


@cache
def power_curve(turbine_type: str) -> PowerCurve:
    """Return the power curve of ``turbine_type`` (wind in m/s, power in MW).

    Raises
    ------
    KeyError
        If the type is not in the library (the message lists close matches).
    """
    from windpowerlib.wind_turbine import get_turbine_data_from_file

    from twin.models.wind import PowerCurve  # the farm's model: not needed to check a name

    check_type(turbine_type)
    curve = get_turbine_data_from_file(turbine_type, str(_OEDB_DIR / "power_curves.csv"))
    curve = curve.sort_values("wind_speed")
    data = get_turbine_data_from_file(turbine_type, str(_OEDB_DIR / "turbine_data.csv"))
    row = data.iloc[0]
    p_mw = curve["value"].to_numpy(dtype=float) / 1e6
    nominal_w = float(row["nominal_power"])
    nominal_mw = nominal_w / 1e6 if np.isfinite(nominal_w) and nominal_w > 0 else float(p_mw.max())
    return PowerCurve(
        turbine_type=turbine_type,
        wind_ms=tuple(float(v) for v in curve["wind_speed"]),
        p_mw=tuple(float(p) for p in p_mw),
        nominal_mw=nominal_mw,
        hub_heights_m=_parse_heights(row.get("hub_height")),
    )


def _parse_heights(text: object) -> tuple[float, ...]:
    """Parse the library's hub-height field, e.g. ``"87,5; 100; 120"`` -> (87.5, 100.0, 120.0)."""
    if isinstance(text, int | float) and np.isfinite(text) and text > 0:
        return (float(text),)
    if not isinstance(text, str):
        return ()
    heights = []
    for part in text.split(";"):
        part = part.strip().replace(",", ".")
        try:
            heights.append(float(part))
        except ValueError:
            continue
    return tuple(sorted(h for h in heights if h > 0))
