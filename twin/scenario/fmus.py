"""The scenario's FMUs (:mod:`twin.models.fmu`): each file read and checked against the
scenario's mapping of its inputs, outputs and parameters; :func:`rule_fmus` is a rule of
:func:`twin.scenario.loads`, :func:`sources` what an FMU input may read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twin.core.specload import SpecError
from twin.models.fmu import check

__all__ = ["rule_fmus", "sources"]

# scenario lists whose entities have an electric p_mw an FMU may read (not the batteries,
# whose power depends on the balance the FMU writes into)
READABLE = ("pv_plants", "wind_farms", "factory_loads", "ev_hubs", "heat_supply", "aoi_lines")


def sources(s: Any) -> dict[str, str]:
    """Each twin attribute an FMU input may read ('weather.temp_air_c', '<entity>.p_mw') and
    its unit."""
    from twin.models import weather  # pvlib and scipy: only for a scenario with FMUs

    out = {f"weather.{q.name}": q.unit for q in weather.OUTPUTS}
    out.update({f"{spec.name}.p_mw": "MW" for key in READABLE for spec in getattr(s, key)})
    return out


def _resolve(scenario_path: Path, p: Path) -> Path:
    return p if p.is_absolute() else (scenario_path.parent / p)


def rule_fmus(s: Any) -> None:
    """Every mistake of the scenario's FMUs, one error each with its field path."""
    if not s.fmus:
        return
    taken = {name for _, name in s.entity_names()} | {"weather", "pcc", "grid", "controller"}
    readable = sources(s)
    errors = []
    for i, f in enumerate(s.fmus):
        if f.name in taken:
            errors.append(SpecError(f"fmus[{i}].name", f"name {f.name!r} is already used"))
        taken.add(f.name)
        errors.extend(SpecError(f"fmus[{i}].{where}", message) for where, message in
                      check(f, _resolve(s.path, f.path), readable))
    if errors:
        raise SpecError.of(errors)
