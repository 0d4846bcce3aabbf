"""What the events of :mod:`twin.models.events` do to the park: pure functions, no time keeping.

The simulators find the windows in force (:meth:`twin.models.events.EventBook.active`) and call these:

- :func:`weather_under`: cloud fronts, wind lulls, heat and cold waves on one step's weather;
- :func:`arrival_factor`, :func:`defect_share`: the EV arrival multiplier and the AOI line's
  defective share for one entity;
- :func:`island`: the park without the public grid. Generation, storage and loads must balance
  on their own: a deficit sheds load, a surplus curtails generation.

Signs are the project's: loads (and storage charging) ``p_mw`` > 0, generation ``p_mw`` > 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from twin.models.events import Window


def cloud_irradiance(ghi_w_m2: float, dni_w_m2: float, dhi_w_m2: float,
                     factor: float) -> tuple[float, float, float]:
    """Irradiance under a cloud front keeping ``factor`` of the global irradiance (W/m2).

    The beam is cut more than the global (its share of the global falls with the factor):
    ``GHI' = f GHI``, ``DNI' = f^2 DNI``, and the diffuse closes the balance
    ``GHI' = DHI' + DNI' cos(zenith)`` with the zenith of the step (from the clear values),
    so ``DHI' = f ((1 - f) GHI + f DHI) >= 0``.
    """
    f = min(max(float(factor), 0.0), 1.0)
    beam_h = max(ghi_w_m2 - dhi_w_m2, 0.0)  # DNI cos(zenith)
    ghi = f * ghi_w_m2
    return ghi, f * f * dni_w_m2, max(ghi - f * f * beam_h, 0.0)


def weather_under(row: Mapping[str, Any], active: Iterable[Window]) -> dict[str, Any]:
    """One step's weather (named as :data:`twin.models.weather.OUTPUTS`) under the events in
    force."""
    out = dict(row)
    for w in active:
        e = w.event
        if e.kind == "cloud_front":
            out["ghi_w_m2"], out["dni_w_m2"], out["dhi_w_m2"] = cloud_irradiance(
                out["ghi_w_m2"], out["dni_w_m2"], out["dhi_w_m2"], e.irradiance_factor)
        elif e.kind == "wind_lull":
            out["wind_ms"] = out["wind_ms"] * e.wind_factor
        elif e.kind in ("heat_wave", "cold_wave"):
            out["temp_air_c"] = out["temp_air_c"] + e.temp_delta_c
    return out


def arrival_factor(entity: str, active: Iterable[Window]) -> float:
    """EV arrivals multiplier of hub ``entity`` (the product of the surges in force)."""
    return math.prod(w.event.arrival_factor for w in active
                     if w.event.kind == "ev_surge" and w.event.target in ("", entity))


def defect_share(entity: str, normal: float, active: Iterable[Window]) -> float:
    """Defective share of AOI line ``entity``: the latest burst in force, else ``normal``."""
    bursts = [w.event.p_defect for w in active if w.event.kind == "defect_burst"
              and w.event.target in ("", entity) and w.event.p_defect is not None]
    return float(bursts[-1]) if bursts else float(normal)


@dataclass(frozen=True)
class Island:
    """Powers that balance without the public grid (MW) and what had to give."""

    p_load_mw: np.ndarray  # per element, > 0 consuming (storage discharging < 0)
    p_gen_mw: np.ndarray  # per element, > 0 generating
    p_shed_mw: float  # load not served
    p_curtailed_mw: float  # generation (or storage discharge) not taken


def island(p_load_mw: Any, p_gen_mw: Any) -> Island:
    """Scale loads or generation so that the park balances on its own.

    A deficit (consumption above generation plus storage discharge) sheds the same share of
    every consuming element; a surplus curtails the same share of every generator, then of
    the storage discharge if generation alone is not enough.
    """
    load = np.asarray(p_load_mw, dtype=float).copy()
    gen = np.asarray(p_gen_mw, dtype=float).copy()
    consuming = load > 0
    demand = float(load[consuming].sum())
    discharge = float(-load[~consuming].sum())
    supply = float(gen.sum()) + discharge
    shed = curtailed = 0.0
    if demand > supply:  # shed
        shed = demand - supply
        load[consuming] *= 1.0 - shed / demand
    elif supply > demand:  # curtail generation, then storage discharge
        curtailed = supply - demand
        g = float(gen.sum())
        cut_gen = min(curtailed, g)
        if g > 0:
            gen *= 1.0 - cut_gen / g
        rest = curtailed - cut_gen
        if rest > 0 and discharge > 0:
            load[~consuming] *= 1.0 - rest / discharge
    return Island(load, gen, shed, curtailed)
