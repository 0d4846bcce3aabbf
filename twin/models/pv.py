"""Photovoltaic plant power from irradiance and weather, through pvlib (PVWatts chain).

Per step (or for a whole year at once, all numpy, no pandas):

1. :func:`sun_position` at the interval midpoint: Spencer (1971) declination and equation of
   time with the analytical zenith/azimuth of ``pvlib.solarposition``, refraction from
   ``pvlib.spa``, extraterrestrial irradiance (``pvlib.irradiance.get_extra_radiation``) and
   Kasten-Young relative air mass (``pvlib.atmosphere``). Within 0.4 deg of NREL SPA (annual
   sum of cos(zenith) within 0.02 %) and ~60 times cheaper (pvlib's numpy SPA costs ~2 ms
   per scalar call).
2. :func:`pv_power`: Perez transposition to the plane of array (``pvlib.irradiance.perez``,
   ``get_ground_diffuse`` and ``poa_components``: ``get_total_irradiance(model='perez')``
   without computing the angle of incidence twice), physical (Fresnel) incidence-angle loss on the
   beam (``pvlib.iam.physical``), SAPM cell temperature (``pvlib.temperature.sapm_cell``),
   PVWatts DC power (``pvlib.pvsystem.pvwatts_dc``), PVWatts system losses
   (``losses_pct``, default = ``pvlib.pvsystem.pvwatts_losses()``), PVWatts inverter
   (``pvlib.inverter.pvwatts``) with DC limit ``p_ac_mw / eta_inv_nom``, so that AC output
   clips at ``p_ac_mw``. The AC power the limit cut is reported as ``p_clipped_mw``. With the
   sun below the horizon at the midpoint the output is 0 whatever the irradiance inputs say.

This is the chain of ``pvlib.modelchain.ModelChain`` with ``transposition_model='perez'``,
``aoi_model='physical'``, ``temperature_model='sapm'``, ``dc_model='pvwatts'``,
``losses_model='pvwatts'``, ``ac_model='pvwatts'``; the tests compare annual energy with it.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import numpy as np
from pvlib import atmosphere, iam, inverter, irradiance, pvsystem, spa, temperature
from pvlib import solarposition as solpos

from twin.core.quantities import Quantity, pick
from twin.models import weather
from twin.models.pv_spec import SAPM_MOUNTS, PVSpec  # re-exported: the scenario's light spec

# Refraction inputs that pvlib.solarposition.get_solarposition uses by default (SPA).
_REFRACTION_TEMP_C = float(
    inspect.signature(solpos.get_solarposition).parameters["temperature"].default
)
_ATMOS_REFRACT_DEG = 0.5667  # SPA's sunrise/sunset refraction (Reda & Andreas), pvlib default
_ETA_INV_REF = float(inspect.signature(inverter.pvwatts).parameters["eta_inv_ref"].default)
# Scaling both inverter efficiencies by this factor keeps the efficiency curve and lifts the
# AC limit out of reach: the unclipped AC power of the same inverter.
_NO_LIMIT = 1.0e6


@dataclass(frozen=True)
class PVFleet:
    """Several PV plants at one site as arrays (one value per plant) for one vectorised call.

    :func:`pv_power` takes a fleet wherever it takes a :class:`PVSpec`; every output then has
    one value per plant. Build it with :meth:`of`.
    """

    names: tuple[str, ...]
    p_dc_mwp: np.ndarray
    p_ac_mw: np.ndarray
    tilt_deg: np.ndarray
    azimuth_deg: np.ndarray
    albedo: np.ndarray
    gamma_pdc_per_c: np.ndarray
    losses_pct: np.ndarray
    eta_inv_nom: np.ndarray
    sapm: dict[str, np.ndarray]  # SAPM cell-temperature parameters a, b, deltaT per plant

    @classmethod
    def of(cls, specs: tuple[PVSpec, ...] | list[PVSpec]) -> PVFleet:
        """The fleet of ``specs``, in their order."""
        def col(name: str) -> np.ndarray:
            return np.array([getattr(s, name) for s in specs], dtype=float)

        table = [_sapm_params(s) for s in specs]
        return cls(
            names=tuple(s.name for s in specs),
            sapm={k: np.array([t[k] for t in table], dtype=float) for k in ("a", "b", "deltaT")},
            **{name: col(name) for name in ("p_dc_mwp", "p_ac_mw", "tilt_deg", "azimuth_deg",
                                            "albedo", "gamma_pdc_per_c", "losses_pct",
                                            "eta_inv_nom")},
        )


def _sapm_params(spec: PVSpec | PVFleet) -> dict[str, float | np.ndarray]:
    """SAPM cell-temperature parameters (a, b, deltaT) of a plant or a fleet."""
    if isinstance(spec, PVFleet):
        return spec.sapm
    return temperature.TEMPERATURE_MODEL_PARAMETERS["sapm"][SAPM_MOUNTS[spec.mount]]


@dataclass(frozen=True)
class SunPosition:
    """Sun geometry for one or many instants (numpy arrays, 0-d for a scalar time).

    Attributes
    ----------
    apparent_zenith_deg : numpy.ndarray
        Zenith angle with atmospheric refraction in degrees.
    zenith_deg : numpy.ndarray
        Geometric zenith angle in degrees.
    azimuth_deg : numpy.ndarray
        Azimuth clockwise from north in degrees (0..360).
    dni_extra_w_m2 : numpy.ndarray
        Extraterrestrial normal irradiance in W/m2.
    airmass_rel : numpy.ndarray
        Relative (not pressure-corrected) air mass, Kasten-Young 1989; NaN with the sun down.
    """

    apparent_zenith_deg: np.ndarray
    zenith_deg: np.ndarray
    azimuth_deg: np.ndarray
    dni_extra_w_m2: np.ndarray
    airmass_rel: np.ndarray

    def at(self, i: int) -> SunPosition:
        """The position of instant ``i`` of a series (0-d arrays)."""
        return SunPosition(self.apparent_zenith_deg[i], self.zenith_deg[i], self.azimuth_deg[i],
                           self.dni_extra_w_m2[i], self.airmass_rel[i])


@dataclass(frozen=True)
class PVOutput:
    """Plant output (numpy arrays, 0-d for scalar inputs).

    Attributes
    ----------
    p_mw : numpy.ndarray
        AC power delivered (generation positive), 0 <= p_mw <= p_ac_mw, in MW.
    p_dc_mw : numpy.ndarray
        DC power after system losses, into the inverter, in MW.
    poa_w_m2 : numpy.ndarray
        Plane-of-array global irradiance in W/m2.
    temp_cell_c : numpy.ndarray
        Cell temperature in degC.
    p_clipped_mw : numpy.ndarray
        AC power the inverter limit cut (unclipped AC minus p_mw) in MW.
    """

    p_mw: np.ndarray
    p_dc_mw: np.ndarray
    poa_w_m2: np.ndarray
    temp_cell_c: np.ndarray
    p_clipped_mw: np.ndarray


# What a plant takes each step (the weather's; the wind at its height, for the cell
# temperature) and what it gives (the fields of PVOutput).
INPUTS = pick(weather.OUTPUTS, "ghi_w_m2", "dni_w_m2", "dhi_w_m2", "temp_air_c", "wind_ms",
              "wind_height_m", "roughness_m")
OUTPUTS = (
    Quantity("p_mw", "MW", "AC power, > 0 generating"),
    Quantity("p_dc_mw", "MW", "DC power after system losses"),
    Quantity("poa_w_m2", "W/m2", "plane-of-array irradiance"),
    Quantity("temp_cell_c", "degC", "cell temperature"),
    Quantity("p_clipped_mw", "MW", "AC power cut by the inverter limit"),
)
#: the plant's size (the DC nameplate), the parameters sized with it, and the outputs
#: proportional to it: a plant ``f`` times larger, its inverter too, gives ``f`` times these
#: (``pvwatts_dc`` is linear in the nameplate, the inverter's efficiency a function of its
#: load's share of the rating, its clipping at the rating); the others (irradiance, cell
#: temperature) are the same
SIZE = ("p_dc_mwp", ("p_ac_mw",), ("p_mw", "p_dc_mw", "p_clipped_mw"))


def sun_position(
    epoch_s: np.ndarray | float,
    latitude: float,
    longitude: float,
    altitude_m: float = 0.0,
    dt_s: float = 900.0,
) -> SunPosition:
    """Sun position at the midpoints ``epoch_s + dt_s / 2`` of the intervals.

    Parameters
    ----------
    epoch_s : array_like
        Interval starts, UTC unix seconds.
    latitude, longitude : float
        Site in degrees (north, east positive).
    altitude_m : float
        Site altitude in m (sets the pressure used for refraction).
    dt_s : float
        Interval length in s; 0 gives the position at ``epoch_s`` itself.

    Returns
    -------
    SunPosition
        Geometry in the shape of ``epoch_s``.
    """
    t = np.asarray(epoch_s, dtype=float) + 0.5 * float(dt_s)
    day_s = 86400.0
    days = np.floor(t / day_s)
    # calendar day of year (1 = 1 January) of the UTC date, plus the fraction of the day
    year_start = days.astype("datetime64[D]").astype("datetime64[Y]").astype("datetime64[D]")
    doy = days - year_start.astype(float) + 1.0 + (t - days * day_s) / day_s
    eot_min = solpos.equation_of_time_spencer71(doy)
    decl_rad = solpos.declination_spencer71(doy)
    utc_h = (t - days * day_s) / 3600.0
    hour_angle_deg = (15.0 * (utc_h - 12.0) + longitude + eot_min / 4.0 + 180.0) % 360.0 - 180.0
    lat_rad, ha_rad = np.radians(latitude), np.radians(hour_angle_deg)
    zen_rad = solpos.solar_zenith_analytical(lat_rad, ha_rad, decl_rad)
    # azimuth east of north; the atan2 form of pvlib's solar_azimuth_analytical (which spends
    # ~70 us per scalar call in np.isclose guards), equal to it within 1e-9 deg (tested)
    azi_rad = np.pi + np.arctan2(
        np.sin(ha_rad), np.cos(ha_rad) * np.sin(lat_rad) - np.tan(decl_rad) * np.cos(lat_rad)
    )
    zenith = np.degrees(zen_rad)
    pressure_hpa = atmosphere.alt2pres(altitude_m) / 100.0
    refraction = spa.atmospheric_refraction_correction(
        pressure_hpa, _REFRACTION_TEMP_C, 90.0 - zenith, _ATMOS_REFRACT_DEG
    )
    apparent = zenith - refraction
    return SunPosition(
        apparent_zenith_deg=np.asarray(apparent),
        zenith_deg=np.asarray(zenith),
        azimuth_deg=np.asarray(np.degrees(azi_rad) % 360.0),
        dni_extra_w_m2=np.asarray(irradiance.get_extra_radiation(doy, method="spencer")),
        airmass_rel=np.asarray(atmosphere.get_relative_airmass(apparent, "kastenyoung1989")),
    )


def pv_power(
    spec: PVSpec | PVFleet,
    sun: SunPosition,
    ghi_w_m2: np.ndarray | float,
    dni_w_m2: np.ndarray | float,
    dhi_w_m2: np.ndarray | float,
    temp_air_c: np.ndarray | float,
    wind_ms: np.ndarray | float,
) -> PVOutput:
    """AC power of a PV plant for one step or a series (PVWatts chain of pvlib).

    Parameters
    ----------
    spec : PVSpec or PVFleet
        The plant, or several plants at once (outputs then have one value per plant).
    sun : SunPosition
        Sun geometry at the interval midpoints (:func:`sun_position`).
    ghi_w_m2, dni_w_m2, dhi_w_m2 : array_like
        Global horizontal, direct normal and diffuse horizontal irradiance, interval means,
        W/m2 (negative values are treated as 0).
    temp_air_c : array_like
        Air temperature in degC.
    wind_ms : array_like
        Wind speed at 10 m in m/s (the SAPM model's reference height).

    Returns
    -------
    PVOutput
        AC, DC and clipped power (MW), plane-of-array irradiance, cell temperature. With the
        sun below the horizon all power is 0.
    """
    day = sun.apparent_zenith_deg < 90.0
    if not np.any(day):  # night: nothing to transpose (fast path for per-step use)
        return _night(spec, sun, ghi_w_m2, dni_w_m2, dhi_w_m2, temp_air_c, wind_ms)
    ghi = np.where(day, np.maximum(np.asarray(ghi_w_m2, dtype=float), 0.0), 0.0)
    dni = np.where(day, np.maximum(np.asarray(dni_w_m2, dtype=float), 0.0), 0.0)
    dhi = np.where(day, np.maximum(np.asarray(dhi_w_m2, dtype=float), 0.0), 0.0)
    # = irradiance.get_total_irradiance(..., model="perez") with the angle of incidence
    # computed once (it is needed again for the incidence-angle modifier)
    aoi_deg = irradiance.aoi(
        spec.tilt_deg, spec.azimuth_deg, sun.apparent_zenith_deg, sun.azimuth_deg
    )
    with np.errstate(over="ignore"):  # (dni + dhi) / dhi overflows for subnormal dhi
        sky = irradiance.perez(
            spec.tilt_deg,
            spec.azimuth_deg,
            dhi,
            dni,
            sun.dni_extra_w_m2,
            sun.apparent_zenith_deg,
            sun.azimuth_deg,
            sun.airmass_rel,
        )
    ground = irradiance.get_ground_diffuse(spec.tilt_deg, ghi, spec.albedo)
    poa = irradiance.poa_components(aoi_deg, dni, _finite(sky), ground)
    poa_global = _finite(poa["poa_global"])
    poa_direct = _finite(poa["poa_direct"])
    iam_beam = _finite(_iam_physical(aoi_deg))
    effective = poa_global - poa_direct * (1.0 - iam_beam)
    params = _sapm_params(spec)
    temp_cell = temperature.sapm_cell(
        poa_global, temp_air_c, np.maximum(np.asarray(wind_ms, dtype=float), 0.0), **params
    )
    p_dc = pvsystem.pvwatts_dc(effective, temp_cell, spec.p_dc_mwp, spec.gamma_pdc_per_c)
    p_dc = np.maximum(p_dc, 0.0) * (1.0 - spec.losses_pct / 100.0)
    pdc0_inv = spec.p_ac_mw / spec.eta_inv_nom
    with np.errstate(over="ignore", divide="ignore"):  # pdc ~ 1e-310: eta -> -inf, AC -> 0
        p_ac = np.minimum(inverter.pvwatts(p_dc, pdc0_inv, spec.eta_inv_nom), spec.p_ac_mw)
        p_ac_free = inverter.pvwatts(
            p_dc, pdc0_inv, spec.eta_inv_nom * _NO_LIMIT, _ETA_INV_REF * _NO_LIMIT
        )
    p_clipped = np.maximum(p_ac_free - p_ac, 0.0)
    return PVOutput(
        p_mw=np.asarray(p_ac, dtype=float),
        p_dc_mw=np.asarray(p_dc, dtype=float),
        poa_w_m2=poa_global,
        temp_cell_c=np.asarray(temp_cell, dtype=float),
        p_clipped_mw=np.asarray(p_clipped, dtype=float),
    )


_IAM_N, _IAM_K, _IAM_L = (float(inspect.signature(iam.physical).parameters[p].default)
                          for p in ("n", "K", "L"))


def _iam_physical(aoi_deg: np.ndarray) -> np.ndarray:
    """``pvlib.iam.physical`` with its defaults (glass without anti-reflective coating, n, K,
    L read from pvlib): the same Fresnel and absorption terms without the per-call
    ``allclose``/``isclose`` checks that cost more than the arithmetic (equal to pvlib's
    within 1e-12, tested)."""
    n = _IAM_N
    cos1 = np.maximum(0.0, np.cos(np.radians(aoi_deg)))
    sin2 = np.sqrt(1.0 - cos1 * cos1) / n  # refraction into the glass
    cos2 = np.sqrt(1.0 - sin2 * sin2)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho_s = ((cos1 - n * cos2) / (cos1 + n * cos2)) ** 2
        rho_p = ((cos2 - n * cos1) / (cos2 + n * cos1)) ** 2
        absorb = np.exp(-_IAM_K * _IAM_L / cos2)
    tau_0 = (1.0 - ((1.0 - n) / (1.0 + n)) ** 2) * np.exp(-_IAM_K * _IAM_L)
    return (2.0 - rho_s - rho_p) * absorb / 2.0 / tau_0


def _finite(x: np.ndarray | float) -> np.ndarray:
    """``x`` as a float array with NaN (sun down in pvlib's formulas) replaced by 0."""
    a = np.asarray(x, dtype=float)
    return np.where(np.isnan(a), 0.0, a)


def _night(
    spec: PVSpec | PVFleet,
    sun: SunPosition,
    *weather: np.ndarray | float,
) -> PVOutput:
    """Output with the sun below the horizon everywhere: no power, cells at air temperature."""
    shape = np.broadcast_shapes(np.shape(spec.p_dc_mwp), np.shape(sun.apparent_zenith_deg),
                                *(np.shape(w) for w in weather))
    temp_air = np.broadcast_to(np.asarray(weather[3], dtype=float), shape).copy()
    zero = np.zeros(shape)
    return PVOutput(
        p_mw=zero,
        p_dc_mw=zero.copy(),
        poa_w_m2=zero.copy(),
        temp_cell_c=temp_air,
        p_clipped_mw=zero.copy(),
    )
