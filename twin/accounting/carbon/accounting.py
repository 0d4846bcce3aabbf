"""Emissions and energy consumption of the park, per hour and per enterprise.

Conventions (GHG Protocol Scope 2 guidance; China's national zero-carbon park notice):

- **Scope 1** is the CO2 of the natural gas each heat entity burns (gas × GB/T 32151 factor).
- **Scope 2, location-based** is grid import × the regional grid factor. Direct-line wind and
  on-site PV come through the park's own network, not the public grid: they carry no Scope 2.
  Exports are not netted against imports.
- **Scope 2, market-based** is the import not covered by retired green certificates (GEC)
  × the residual-mix-like factor (national average excluding market-traded non-fossil
  power). ``gec_mwh`` are the certificates retired for the run's period; they are spread over
  the hours pro rata to import and can cover at most the import.
- **Allocation to enterprises**: each hour's Scope 2 of the park is shared among the
  consuming entities pro rata to their consumption in that hour. Grid losses and storage
  losses are the park's own consumption and go to a pseudo-entity ``"park"`` (the network
  and storage operator), with the same pro-rata rule. Storage is transparent for emissions:
  an hour's import emissions go to that hour's consumers even where the import charged a
  battery (the total is exact, the time shift of stored grid energy is not traced).
- **Energy consumption** (tce) counts all electricity consumed in the park, whatever its
  source (loads + grid losses + storage losses), at its energy-equivalent 0.1229 kgce/kWh,
  plus gas at its tce factor. Energy left in storage at the end is not consumed.

All factors come from ``twin/data/carbon.yaml`` (:func:`factors`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin import data
from twin.accounting.carbon.flows import ParkFlows

PARK = "park"  # pseudo-entity of grid and storage losses
REGIONS = ("northeast", "national")


@dataclass(frozen=True)
class Factors:
    """Emission and energy factors of one grid region and year (tonnes and tce per MWh/Nm3).

    Attributes
    ----------
    year, region : int, str
        The selection.
    grid_t_per_mwh : float
        Location-based grid factor, tCO2/MWh.
    residual_t_per_mwh : float
        Residual-mix-like factor for market-based Scope 2, tCO2/MWh.
    fossil_t_per_mwh : float
        Fossil-only grid factor, tCO2/MWh (reference).
    grid_cfe_share : float
        Carbon-free share of grid imports for CFE matching, 0..1 (illustrative).
    gas_t_per_nm3, elec_tce_per_mwh, gas_tce_per_nm3 : float
        Natural gas CO2, electricity and gas energy-equivalent factors.
    notes : tuple of str
        Where a factor came from another year or region than the one asked.
    """

    year: int
    region: str
    grid_t_per_mwh: float
    residual_t_per_mwh: float
    fossil_t_per_mwh: float
    grid_cfe_share: float
    gas_t_per_nm3: float
    elec_tce_per_mwh: float
    gas_tce_per_nm3: float
    notes: tuple[str, ...] = ()


def _nearest(values: dict[str, float], prefix: str, year: int) -> tuple[float, int]:
    """The value for ``year`` under ``prefix``, else the closest year available."""
    years = {int(k.rsplit("_", 1)[1]): v for k, v in values.items() if k.startswith(prefix)}
    best = min(years, key=lambda y: (abs(y - year), -y))
    return float(years[best]), best


def factors(year: int = 2023, region: str = "northeast") -> Factors:
    """Factors of ``region``'s grid in ``year`` from ``twin/data/carbon.yaml``.

    The residual-mix-like and fossil-only factors are published nationally and for 2023
    only: other selections use the national value of the closest year (said in ``notes``).

    Raises
    ------
    ValueError
        For a region or year with no grid factor, listing the choices.
    """
    d = data.load("carbon")
    grid = {k: v for k, v in d.items() if k.startswith("grid_co2_")}
    years = sorted({int(k.rsplit("_", 1)[1]) for k in grid})
    if region not in REGIONS:
        raise ValueError(f"unknown grid region {region!r}: choose one of {', '.join(REGIONS)}")
    key = f"grid_co2_{region}_{year}"
    if key not in grid:
        have = sorted(int(k.rsplit("_", 1)[1]) for k in grid if k.startswith(f"grid_co2_{region}_"))
        raise ValueError(f"no grid CO2 factor for region {region!r} in {year}: years with "
                         f"factors are {', '.join(map(str, have or years))}")
    notes = []
    residual, y_res = _nearest(d, "residual_co2_national_", year)
    fossil, y_fos = _nearest(d, "fossil_co2_national_", year)
    if region != "national" or y_res != year:
        notes.append(f"residual-mix factor: national {y_res} value")
    if region != "national" or y_fos != year:
        notes.append(f"fossil-only factor: national {y_fos} value")
    return Factors(
        year=int(year), region=region, grid_t_per_mwh=float(grid[key]),
        residual_t_per_mwh=residual, fossil_t_per_mwh=fossil,
        grid_cfe_share=float(d[f"grid_cfe_share_{region}_{year}"]),
        gas_t_per_nm3=float(d["gas_kgco2_per_nm3"]) / 1000.0,
        elec_tce_per_mwh=float(d["elec_kgce_per_kwh"]),
        gas_tce_per_nm3=float(d["gas_kgce_per_nm3"]) / 1000.0,
        notes=tuple(notes),
    )


def _sum(group: dict[str, np.ndarray], n: int) -> np.ndarray:
    out = np.zeros(n)
    for v in group.values():
        out = out + v
    return out


@dataclass(frozen=True)
class Emissions:
    """Hourly emissions (tCO2) and energy consumption (tce) per entity.

    Per-entity dicts map entity -> hourly array; the consumers are the load entities plus
    ``"park"`` (grid and storage losses). ``scope1_t`` has the heat entities that burn gas.

    Attributes
    ----------
    hour_s : ndarray
        UTC epoch seconds of each hour's start.
    scope1_t, scope2_location_t, scope2_market_t, energy_tce, electricity_mwh : dict
        Per-entity hourly Scope 1, location- and market-based Scope 2, energy consumption and
        electricity consumption.
    gec_mwh : float
        Green certificates applied (MWh), at most the import.
    gec_covered_mwh : ndarray
        Hourly import covered by those certificates.
    """

    hour_s: np.ndarray
    scope1_t: dict[str, np.ndarray]
    scope2_location_t: dict[str, np.ndarray]
    scope2_market_t: dict[str, np.ndarray]
    energy_tce: dict[str, np.ndarray]
    electricity_mwh: dict[str, np.ndarray]
    gec_mwh: float
    gec_covered_mwh: np.ndarray

    @property
    def entities(self) -> list[str]:
        """Consuming entities, ``"park"`` last."""
        return list(self.energy_tce)

    def hourly(self, name: str) -> np.ndarray:
        """Park total per hour of one per-entity field (e.g. ``"scope1_t"``)."""
        return _sum(getattr(self, name), len(self.hour_s))

    @property
    def scope1_total_t(self) -> float:
        """Park Scope 1 over the period, tCO2."""
        return float(self.hourly("scope1_t").sum())

    @property
    def scope2_location_total_t(self) -> float:
        """Park location-based Scope 2 over the period, tCO2."""
        return float(self.hourly("scope2_location_t").sum())

    @property
    def scope2_market_total_t(self) -> float:
        """Park market-based Scope 2 over the period, tCO2."""
        return float(self.hourly("scope2_market_t").sum())

    @property
    def total_location_t(self) -> float:
        """Scope 1 + location-based Scope 2, tCO2."""
        return self.scope1_total_t + self.scope2_location_total_t

    @property
    def total_market_t(self) -> float:
        """Scope 1 + market-based Scope 2, tCO2."""
        return self.scope1_total_t + self.scope2_market_total_t

    @property
    def energy_total_tce(self) -> float:
        """Park energy consumption over the period, tce."""
        return float(self.hourly("energy_tce").sum())

    @property
    def electricity_total_mwh(self) -> float:
        """Electricity consumed in the park over the period (loads and losses), MWh."""
        return float(self.hourly("electricity_mwh").sum())

    def by_entity(self) -> dict[str, dict[str, float]]:
        """Totals per entity: scope1_t, scope2_location_t, scope2_market_t, energy_tce,
        electricity_mwh."""
        fields = ("scope1_t", "scope2_location_t", "scope2_market_t", "energy_tce",
                  "electricity_mwh")
        return {e: {f: float(getattr(self, f).get(e, np.zeros(1)).sum()) for f in fields}
                for e in self.entities}


def allocate(total: np.ndarray, weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Share each hour's ``total`` among entities pro rata to their hourly ``weights``.

    Hours with a total but no weight go to the last entity (``"park"``). The shares add up to
    ``total`` in every hour.
    """
    names = list(weights)
    w = np.array([np.maximum(weights[e], 0.0) for e in names])
    s = w.sum(axis=0)
    share = np.divide(w, s, out=np.zeros_like(w), where=s > 0)
    share[-1] = np.where(s > 0, share[-1], 1.0)
    return {e: total * share[i] for i, e in enumerate(names)}


def emissions(flows: ParkFlows, factors: Factors, gec_mwh: float = 0.0) -> Emissions:
    """Scope 1, Scope 2 (location- and market-based) and energy consumption of a park.

    Parameters
    ----------
    flows : ParkFlows
        The hourly flows (:func:`twin.accounting.carbon.flows.flows_from_run`).
    factors : Factors
        Grid, residual, gas and energy factors (:func:`factors`).
    gec_mwh : float
        Green certificates retired for the period (MWh; 1 GEC = 1 MWh), >= 0.

    Returns
    -------
    Emissions
    """
    if gec_mwh < 0:
        raise ValueError(f"gec_mwh = {gec_mwh}: expected >= 0")
    n = flows.n_hours
    imp = np.maximum(flows.import_mwh, 0.0)
    e_import = float(imp.sum())
    gec = min(float(gec_mwh), e_import)
    covered = imp * (gec / e_import) if e_import > 0 else np.zeros(n)
    weights = {e: np.maximum(v, 0.0) for e, v in flows.load_mwh.items()}
    weights[PARK] = np.maximum(flows.grid_loss_mwh, 0.0) + np.maximum(flows.storage_loss_mwh, 0.0)
    location = allocate(imp * factors.grid_t_per_mwh, weights)
    market = allocate(np.maximum(imp - covered, 0.0) * factors.residual_t_per_mwh, weights)
    scope1 = {e: np.maximum(g, 0.0) * factors.gas_t_per_nm3 for e, g in flows.gas_nm3.items()}
    energy = {e: w * factors.elec_tce_per_mwh for e, w in weights.items()}
    for e, g in flows.gas_nm3.items():
        energy[e] = energy.get(e, np.zeros(n)) + np.maximum(g, 0.0) * factors.gas_tce_per_nm3
    energy = {e: energy[e] for e in [*(k for k in energy if k != PARK), PARK]}
    return Emissions(hour_s=flows.hour_s, scope1_t=scope1, scope2_location_t=location,
                     scope2_market_t=market, energy_tce=energy, electricity_mwh=weights,
                     gec_mwh=gec, gec_covered_mwh=covered)
