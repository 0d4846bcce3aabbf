"""Wind farm power from wind speed, temperature and pressure, through windpowerlib.

A farm is ``n_turbines`` identical turbines described by a manufacturer power curve
(:class:`PowerCurve`, looked up offline with :func:`twin.models.turbines.power_curve`). Per step:

1. wind speed at hub height from the measured height: logarithmic profile with the site
   roughness length, or the Hellman power law (``windpowerlib.wind_speed``);
2. temperature at hub height with the ISA lapse rate (``windpowerlib.temperature``) and air
   density at hub height with the ideal-gas law and a -1/8 hPa/m pressure gradient
   (``windpowerlib.density.ideal_gas``);
3. turbine power from the density-corrected power curve (Svenningsen 2010, the method of
   ``windpowerlib.power_output.power_curve(..., density_correction=True)``), zero below the
   first and above the last speed of the curve (cut-in and cut-out as the curve says);
4. farm power = turbine power x ``n_turbines`` x ``availability`` x (1 - ``wake_loss``)
   x (1 - ``electrical_loss``).

Everything is numpy: scalars per step (tens of microseconds) and whole years alike.
windpowerlib's own density-corrected curve maps a Python function over the time steps and
fails on scalars, so step 3 is a vectorised re-implementation of it; the tests check it
against windpowerlib's function.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from windpowerlib import density as wpl_density
from windpowerlib import temperature as wpl_temperature
from windpowerlib import wind_speed as wpl_wind_speed

from twin.core.quantities import Quantity, pick
from twin.data import load as load_data
from twin.models import weather
from twin.models.wind_spec import WindFarmSpec  # re-exported: the scenario's light spec

# Svenningsen (2010) density correction as implemented by windpowerlib
# (power_output._get_power_output): reference density of the power curves (IEC 61400-12-1)
# and the wind speeds between which the exponent rises from 1/3 to 2/3.
_RHO_REF_KG_M3 = 1.225
_P_EXP_WIND_MS = (7.5, 12.5)
_P_EXP = (1.0 / 3.0, 2.0 / 3.0)
_CHUNK = 8192  # rows per block in the vectorised curve lookup (bounds temporary memory)


@dataclass(frozen=True)
class PowerCurve:
    """Power curve of one turbine type at the reference air density (1.225 kg/m3).

    Attributes
    ----------
    turbine_type : str
        Type name as in windpowerlib's turbine library, e.g. ``"E-141/4200"``.
    wind_ms : tuple of float
        Hub-height wind speeds of the curve in m/s, strictly increasing.
    p_mw : tuple of float
        Electrical power of one turbine at those speeds in MW.
    nominal_mw : float
        Rated power of one turbine in MW (the library's figure; a few curves exceed it by
        up to 2.5 %).
    hub_heights_m : tuple of float
        Hub heights offered by the manufacturer in m (may be empty).
    """

    turbine_type: str
    wind_ms: tuple[float, ...]
    p_mw: tuple[float, ...]
    nominal_mw: float
    hub_heights_m: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        v = np.asarray(self.wind_ms, dtype=float)
        p = np.asarray(self.p_mw, dtype=float)
        if v.ndim != 1 or v.shape != p.shape or v.size < 2:
            raise ValueError(
                f"{self.turbine_type}: wind_ms and p_mw must be 1-D of equal length >= 2"
            )
        if np.any(np.diff(v) <= 0):
            raise ValueError(f"{self.turbine_type}: wind_ms must be strictly increasing")
        if np.any(p < 0) or self.nominal_mw <= 0:
            raise ValueError(f"{self.turbine_type}: power values must be >= 0, nominal_mw > 0")

    @cached_property
    def _v(self) -> np.ndarray:
        return _readonly(np.asarray(self.wind_ms, dtype=float))

    @cached_property
    def _p(self) -> np.ndarray:
        return _readonly(np.asarray(self.p_mw, dtype=float))

    @cached_property
    def _exp(self) -> np.ndarray:
        return _readonly(np.interp(self._v, _P_EXP_WIND_MS, _P_EXP))

    @property
    def cut_in_ms(self) -> float:
        """Speed up to which the turbine produces nothing, in m/s.

        The last zero-power point of the curve before power rises (the first curve speed when
        the curve starts with positive power); power rises linearly from there.
        """
        first = int(np.argmax(self._p > 0))
        return float(self._v[max(first - 1, 0)])

    @property
    def cut_out_ms(self) -> float:
        """Highest speed of the curve in m/s; above it the turbine produces nothing."""
        return float(self._v[-1])

    @property
    def max_mw(self) -> float:
        """Highest power of the curve in MW."""
        return float(self._p.max())


@dataclass(frozen=True)
class WindOutput:
    """Farm output over one or many steps (numpy arrays; 0-d for scalar inputs).

    Attributes
    ----------
    p_mw : numpy.ndarray
        Farm electrical power delivered (generation positive) in MW.
    wind_hub_ms : numpy.ndarray
        Wind speed at hub height in m/s.
    density_kg_m3 : numpy.ndarray
        Air density at hub height in kg/m3.
    """

    p_mw: np.ndarray
    wind_hub_ms: np.ndarray
    density_kg_m3: np.ndarray


# What a farm takes each step (the weather's) and what it gives (the fields of WindOutput).
INPUTS = pick(weather.OUTPUTS, "wind_ms", "wind_height_m", "roughness_m", "temp_air_c",
              "pressure_pa")
OUTPUTS = (
    Quantity("p_mw", "MW", "power delivered, > 0 generating"),
    Quantity("wind_hub_ms", "m/s", "wind speed at hub height"),
    Quantity("density_kg_m3", "kg/m3", "air density at hub height"),
)
#: the farm's size (its turbines), the parameters sized with it (none), and the outputs
#: proportional to it (the farm's power is one turbine's times their number, step 4 above)
SIZE = ("n_turbines", (), ("p_mw",))


def default_wind_farm(name: str, n_turbines: int) -> WindFarmSpec:
    """Farm of the reference turbine type and hub height in ``twin/data/wind_defaults.yaml``.

    Parameters
    ----------
    name : str
        Entity name.
    n_turbines : int
        Number of turbines.
    """
    data = load_data("wind_defaults")
    return WindFarmSpec(
        name=name,
        turbine_type=data["reference_turbine_type"],
        n_turbines=n_turbines,
        hub_height_m=float(data["reference_hub_height_m"]),
    )


def wind_at_height(
    wind_ms: np.ndarray | float,
    from_height_m: float,
    to_height_m: float,
    roughness_m: float,
    shear: str = "log",
    hellman_exponent: float = 1.0 / 7.0,
) -> np.ndarray:
    """Extrapolate wind speed between heights (windpowerlib's profiles).

    Parameters
    ----------
    wind_ms : array_like
        Wind speed at ``from_height_m`` in m/s.
    from_height_m, to_height_m : float
        Measurement height and target height in m.
    roughness_m : float
        Surface roughness length in m (``shear='log'``).
    shear : {"log", "hellman"}
        Logarithmic profile or Hellman power law.
    hellman_exponent : float
        Exponent of the power law (``shear='hellman'``).

    Returns
    -------
    numpy.ndarray
        Wind speed at ``to_height_m`` in m/s (never negative).

    Raises
    ------
    ValueError
        For an unknown ``shear`` or (log profile) a roughness length not between 0 and
        both heights.
    """
    w = np.maximum(np.asarray(wind_ms, dtype=float), 0.0)
    if shear == "log":
        if not 0.0 < roughness_m < min(from_height_m, to_height_m):
            raise ValueError(
                f"roughness_m must be > 0 and below both heights, got {roughness_m} "
                f"for heights {from_height_m} and {to_height_m} m"
            )
        out = wpl_wind_speed.logarithmic_profile(w, from_height_m, to_height_m, roughness_m)
    elif shear == "hellman":
        out = wpl_wind_speed.hellman(
            w, from_height_m, to_height_m, hellman_exponent=hellman_exponent
        )
    else:
        raise ValueError(f"shear must be 'log' or 'hellman', not {shear!r}")
    return np.maximum(np.asarray(out, dtype=float), 0.0)


def air_density_at_height(
    temp_air_c: np.ndarray | float,
    pressure_pa: np.ndarray | float,
    height_m: float,
    temp_height_m: float = 2.0,
    pressure_height_m: float = 0.0,
) -> np.ndarray:
    """Air density at ``height_m`` in kg/m3 (ISA lapse rate, ideal gas; windpowerlib).

    Parameters
    ----------
    temp_air_c : array_like
        Air temperature at ``temp_height_m`` in degC.
    pressure_pa : array_like
        Air pressure at ``pressure_height_m`` in Pa.
    height_m : float
        Height of interest (hub height) in m.
    temp_height_m, pressure_height_m : float
        Heights of the temperature (2 m screen height) and pressure (surface) data in m.
    """
    t_k = np.asarray(temp_air_c, dtype=float) + 273.15
    t_hub_k = wpl_temperature.linear_gradient(t_k, temp_height_m, height_m)
    rho = wpl_density.ideal_gas(
        np.asarray(pressure_pa, dtype=float), pressure_height_m, height_m, t_hub_k
    )
    return np.asarray(rho, dtype=float)


def turbine_power_mw(
    curve: PowerCurve, wind_hub_ms: np.ndarray | float, density_kg_m3: np.ndarray | float
) -> np.ndarray:
    """Power of one turbine from its density-corrected power curve, in MW.

    The curve's wind speeds are stretched to ``v * (1.225 / rho) ** p(v)`` with ``p`` rising
    from 1/3 (v <= 7.5 m/s) to 2/3 (v >= 12.5 m/s) (Svenningsen 2010), exactly as
    ``windpowerlib.power_output.power_curve(..., density_correction=True)``; power is zero
    below the first and above the last (stretched) curve speed.

    Parameters
    ----------
    curve : PowerCurve
        Turbine power curve at 1.225 kg/m3.
    wind_hub_ms : array_like
        Wind speed at hub height in m/s.
    density_kg_m3 : array_like
        Air density at hub height in kg/m3 (broadcast against ``wind_hub_ms``).
    """
    w, rho = np.broadcast_arrays(
        np.asarray(wind_hub_ms, dtype=float), np.asarray(density_kg_m3, dtype=float)
    )
    v, p, e = curve._v, curve._p, curve._exp
    if w.ndim == 0:
        v_site = v * (_RHO_REF_KG_M3 / rho) ** e
        return np.asarray(np.interp(w, v_site, p, left=0.0, right=0.0))
    flat_w, flat_rho = w.ravel(), rho.ravel()
    out = np.empty(flat_w.shape)
    for lo in range(0, flat_w.size, _CHUNK):
        ww = flat_w[lo : lo + _CHUNK]
        v_site = v[None, :] * (_RHO_REF_KG_M3 / flat_rho[lo : lo + _CHUNK, None]) ** e[None, :]
        out[lo : lo + _CHUNK] = _interp_rows(ww, v_site, p)
    return out.reshape(w.shape)


def wind_power(
    spec: WindFarmSpec,
    curve: PowerCurve,
    wind_ms: np.ndarray | float,
    wind_height_m: float,
    roughness_m: float,
    temp_air_c: np.ndarray | float,
    pressure_pa: np.ndarray | float,
    *,
    temp_height_m: float = 2.0,
    pressure_height_m: float = 0.0,
) -> WindOutput:
    """Electrical power of a wind farm for one step or a whole series.

    Parameters
    ----------
    spec : WindFarmSpec
        The farm.
    curve : PowerCurve
        Power curve of ``spec.turbine_type``.
    wind_ms : array_like
        Mean wind speed over the step at ``wind_height_m`` in m/s.
    wind_height_m : float
        Height of the wind data above ground in m.
    roughness_m : float
        Surface roughness length in m.
    temp_air_c : array_like
        Air temperature at ``temp_height_m`` in degC.
    pressure_pa : array_like
        Air pressure at ``pressure_height_m`` in Pa.
    temp_height_m, pressure_height_m : float
        Heights of the temperature and pressure data in m (2 m screen, surface).

    Returns
    -------
    WindOutput
        Farm power (MW), hub-height wind (m/s), hub-height density (kg/m3).
    """
    if curve.turbine_type != spec.turbine_type:
        raise ValueError(
            f"{spec.name}: curve is for {curve.turbine_type!r}, farm uses {spec.turbine_type!r}"
        )
    w_hub = wind_at_height(
        wind_ms, wind_height_m, spec.hub_height_m, roughness_m, spec.shear, spec.hellman_exponent
    )
    rho = air_density_at_height(
        temp_air_c, pressure_pa, spec.hub_height_m, temp_height_m, pressure_height_m
    )
    p_turbine = turbine_power_mw(curve, w_hub, rho)
    p_mw = np.asarray(p_turbine * (spec.n_turbines * spec.loss_factor))
    return WindOutput(p_mw=p_mw, wind_hub_ms=w_hub, density_kg_m3=rho)


def _interp_rows(x: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """Row-wise ``np.interp(x[i], xp[i], fp, left=0, right=0)`` for increasing rows ``xp``."""
    n = xp.shape[1]
    k = np.sum(xp <= x[:, None], axis=1) - 1  # index of the knot at or left of x
    inside = (k >= 0) & (k < n - 1)
    kk = np.clip(k, 0, n - 2)
    rows = np.arange(x.size)
    x0, x1 = xp[rows, kk], xp[rows, kk + 1]
    y = fp[kk] + (x - x0) / (x1 - x0) * (fp[kk + 1] - fp[kk])
    at_end = (k == n - 1) & (x == xp[:, -1])
    return np.where(inside, y, np.where(at_end, fp[-1], 0.0))


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a
