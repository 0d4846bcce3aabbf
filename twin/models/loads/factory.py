"""Factory electric load: shift-driven process load, temperature-driven HVAC, AR(1) noise.

The nameplate peak ``p_peak_mw`` splits into a process part ``(1 - hvac_share) * p_peak`` and
an HVAC capacity ``hvac_share * p_peak``.

* Process load: a per-minute profile per day type (shifts running, breaks, off-shift idle;
  holiday and Spring Festival shutdown base), averaged over each step.
* HVAC: ``hvac_cap * f(T) * (setback + (1 - setback) * process_level)`` with
  ``f(T) = base + k_heat * max(0, T_hb - T) + k_cool * max(0, T - T_cb)`` clipped to [0, 1];
  the slopes put ``f`` at ``heat_design`` at the winter design temperature and at 1 at the
  summer design temperature.
* Noise: multiplicative AR(1), ``x' = phi x + sqrt(1 - phi^2) sigma eps`` with
  ``phi = exp(-dt_s / tau)``, so its statistics do not depend on the step.

The total never exceeds ``p_peak_mw`` (a nameplate limit) and is never negative; the two parts
are scaled together, so ``p_mw == p_process_mw + p_hvac_mw``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from twin import data
from twin.core.quantities import Quantity, pick
from twin.core.rng import AR1Noise
from twin.models import weather
from twin.models.loads.calendar import DAY_TYPES, MINUTES_PER_DAY, DayProfile, ParkCalendar
from twin.models.loads.spec import FACTORY_KINDS, FactorySpec  # re-exported: the light spec


@dataclass(frozen=True)
class FactoryOutput:
    """Mean electric load over one step (MW, > 0 consumption)."""

    p_mw: float
    p_process_mw: float
    p_hvac_mw: float


# What a factory takes each step and what it gives: the fields of FactoryOutput, and the
# shift an EMS asked for, applied on top of the model's load.
INPUTS = (*pick(weather.OUTPUTS, "temp_air_c"),
          Quantity("p_profile_mw", "MW", "external load profile replacing the model's"),
          Quantity("p_shift_mw", "MW", "load shift from the EMS (sum of all sources)"))
OUTPUTS = (
    Quantity("p_mw", "MW", "electric load"),
    Quantity("p_process_mw", "MW", "process share of the load"),
    Quantity("p_hvac_mw", "MW", "HVAC share of the load"),
    Quantity("p_shift_mw", "MW", "load moved in time by the EMS (included in p_mw)"),
)


@dataclass(frozen=True)
class FactoryParams:
    """Resolved parameters of one factory kind (from ``loads_profiles.yaml``)."""

    levels: dict[str, dict[str, float]]
    shift_windows_h: dict[int, tuple[tuple[float, float], ...]]
    shift_breaks_h: tuple[tuple[float, float], ...]
    hvac_share: float
    hvac_base: float
    hvac_heat_design: float
    t_heat_balance_c: float
    t_cool_balance_c: float
    hvac_setback: float
    t_heat_design_c: float
    t_cool_design_c: float
    noise_pct: float
    noise_tau_s: float
    flex_share: float


def factory_params(kind: str) -> FactoryParams:
    """Parameters of ``kind`` from ``twin/data/loads_profiles.yaml``."""
    if kind not in FACTORY_KINDS:
        raise ValueError(f"unknown factory kind {kind!r}; expected one of {FACTORY_KINDS}")
    d = data.load("loads_profiles")
    return FactoryParams(
        levels={k: dict(v) for k, v in d["process_levels"][kind].items()},
        shift_windows_h={int(k): tuple(tuple(w) for w in v)
                         for k, v in d["shift_windows_h"].items()},
        shift_breaks_h=tuple(tuple(b) for b in d["shift_breaks_h"]),
        hvac_share=float(d["hvac_share"][kind]),
        hvac_base=float(d["hvac_base"][kind]),
        hvac_heat_design=float(d["hvac_heat_design"][kind]),
        t_heat_balance_c=float(d["t_heat_balance_c"][kind]),
        t_cool_balance_c=float(d["t_cool_balance_c"][kind]),
        hvac_setback=float(d["hvac_setback"][kind]),
        t_heat_design_c=float(d["t_heat_design_c"]),
        t_cool_design_c=float(d["t_cool_design_c"]),
        noise_pct=float(d["noise_pct"][kind]),
        noise_tau_s=float(d["noise_tau_s"]),
        flex_share=float(d["flex_share"][kind]),
    )


def shift_profile(
    n_shifts: int,
    level: dict[str, float],
    windows_h: dict[int, tuple[tuple[float, float], ...]],
    breaks_h: tuple[tuple[float, float], ...],
) -> list[float]:
    """Per-minute process level (fraction of process peak) of one day.

    Parameters
    ----------
    n_shifts : int
        Shifts running that day (0: idle all day).
    level : dict
        ``run``, ``brk`` and ``idle`` levels (fractions of the process peak).
    windows_h : dict
        Shift windows (local hours, may wrap past 24) for each shift count.
    breaks_h : tuple of (offset_h, duration_h)
        Breaks within each shift, offsets from the shift start.
    """
    prof = [float(level["idle"])] * MINUTES_PER_DAY
    if n_shifts <= 0:
        return prof
    for start_h, end_h in windows_h[n_shifts]:
        a, b = round(start_h * 60), round(end_h * 60)
        for m in range(a, b):
            prof[m % MINUTES_PER_DAY] = float(level["run"])
        for off_h, dur_h in breaks_h:
            ba = a + round(off_h * 60)
            for m in range(ba, min(b, ba + round(dur_h * 60))):
                prof[m % MINUTES_PER_DAY] = float(level["brk"])
    return prof


class FactoryLoad:
    """Electric load of one enterprise, stepped in time order.

    Parameters
    ----------
    spec : FactorySpec
        The enterprise.
    calendar : ParkCalendar
        Day types and local time.
    rng : numpy.random.Generator
        Source of the noise (``twin.core.rng.generator(seed, spec.name)``).
    params : FactoryParams, optional
        Kind parameters; ``None`` reads :func:`factory_params` for ``spec.kind``.
    """

    def __init__(
        self,
        spec: FactorySpec,
        calendar: ParkCalendar,
        rng: np.random.Generator,
        params: FactoryParams | None = None,
    ) -> None:
        p = factory_params(spec.kind) if params is None else params
        if spec.hvac_share is not None:
            p = replace(p, hvac_share=spec.hvac_share)
        if spec.noise_pct is not None:
            p = replace(p, noise_pct=spec.noise_pct)
        if spec.flex_share is not None:
            p = replace(p, flex_share=spec.flex_share)
        self.spec, self.params, self.calendar, self._rng = spec, p, calendar, rng
        self.shifts = int(spec.shifts or p.levels["workday"]["shifts"])
        profiles = []
        for dtype in DAY_TYPES:
            lv = p.levels[dtype]
            n = self.shifts if dtype == "workday" else min(int(lv["shifts"]), self.shifts)
            profiles.append(shift_profile(n, lv, p.shift_windows_h, p.shift_breaks_h))
        self._profile = DayProfile(profiles)
        self._p_proc_peak = spec.p_peak_mw * (1.0 - p.hvac_share)
        self._p_hvac_cap = spec.p_peak_mw * p.hvac_share
        self._k_heat = (p.hvac_heat_design - p.hvac_base) / (p.t_heat_balance_c - p.t_heat_design_c)
        self._k_cool = (1.0 - p.hvac_base) / (p.t_cool_design_c - p.t_cool_balance_c)
        self._noise = AR1Noise(self._rng, p.noise_pct / 100.0, p.noise_tau_s)

    def skip(self, n_steps: int, dt_s: int) -> None:
        """Draw the noise of ``n_steps`` steps not simulated: a run started inside a longer
        period (the trainers' page's jump) goes on with the noise of that period's run."""
        self._noise.advance(n_steps, dt_s)

    def hvac_factor(self, temp_air_c: float) -> float:
        """Share of the HVAC capacity needed at ``temp_air_c`` (full production)."""
        p = self.params
        f = (p.hvac_base + self._k_heat * max(0.0, p.t_heat_balance_c - temp_air_c)
             + self._k_cool * max(0.0, temp_air_c - p.t_cool_balance_c))
        return min(1.0, max(0.0, f))

    def process_level(self, epoch_s: int, dt_s: int) -> float:
        """Mean process level over the step (fraction of the process peak)."""
        return self._profile.mean(self.calendar, epoch_s, dt_s, self.spec.kind)

    def step(self, epoch_s: int, dt_s: int, temp_air_c: float) -> FactoryOutput:
        """Mean load over ``[epoch_s, epoch_s + dt_s)`` at outdoor temperature ``temp_air_c``."""
        level = self._profile.mean(self.calendar, epoch_s, dt_s, self.spec.kind)
        p = self.params
        occ = min(1.0, level)
        p_proc = self._p_proc_peak * level
        p_hvac = (self._p_hvac_cap * self.hvac_factor(temp_air_c)
                  * (p.hvac_setback + (1.0 - p.hvac_setback) * occ))
        scale = max(0.0, 1.0 + self._noise.step(dt_s))
        total = (p_proc + p_hvac) * scale
        if total > self.spec.p_peak_mw:
            scale *= self.spec.p_peak_mw / total
        p_proc *= scale
        p_hvac *= scale
        return FactoryOutput(p_mw=p_proc + p_hvac, p_process_mw=p_proc, p_hvac_mw=p_hvac)

    def step_block(self, epochs_s: Sequence[int], dt_s: int,
                   temp_air_c: Sequence[float]) -> dict[str, np.ndarray]:
        """:meth:`step` over consecutive steps starting at ``epochs_s``, the fields of
        :class:`FactoryOutput` as arrays: the same operations elementwise (``fmax``/``fmin``
        take a NaN as Python's ``max``/``min`` do), the noise advanced step by step."""
        p, cal, kind = self.params, self.calendar, self.spec.kind
        level = self._profile.means(cal, epochs_s, dt_s, kind)
        t = np.asarray(temp_air_c, dtype=float)
        f = (p.hvac_base + self._k_heat * np.fmax(0.0, p.t_heat_balance_c - t)
             + self._k_cool * np.fmax(0.0, t - p.t_cool_balance_c))
        f = np.fmin(1.0, np.fmax(0.0, f))
        p_proc = self._p_proc_peak * level
        p_hvac = (self._p_hvac_cap * f
                  * (p.hvac_setback + (1.0 - p.hvac_setback) * np.fmin(1.0, level)))
        scale = np.fmax(0.0, 1.0 + np.array(self._noise.steps(len(epochs_s), dt_s)))
        total = (p_proc + p_hvac) * scale
        peak = self.spec.p_peak_mw
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(total > peak, scale * (peak / total), scale)
        p_proc = p_proc * scale
        p_hvac = p_hvac * scale
        return {"p_mw": p_proc + p_hvac, "p_process_mw": p_proc, "p_hvac_mw": p_hvac}

