"""Economics of a park scenario: time-of-use energy cost, capex and opex, NPV
(the multi-year appraisal, IRR, LCOE and payback are :mod:`twin.accounting.appraisal`).

All functions are pure: arrays in, numbers out. Money is in CNY, energy in MWh, power in MW
(capacities of assets in kW/kWp/kWh, the units of cost benchmarks). Reference figures (tariffs,
unit costs, the discount rate) come from ``twin/data/tariff.yaml`` and ``twin/data/costs.yaml``
through :func:`tariff`, :func:`unit_costs` and :func:`default_discount_rate`.

Time-of-use pricing follows the national rule (发改价格〔2021〕1093号): each local hour belongs to
a period (``peak``, ``flat``, ``valley``); in the critical-peak months and hours the price is
the peak price raised by ``critical_peak_uplift`` (at least 20 %). The cost of a series is::

    import_cny  = sum_i price(hour_i, month_i) * import_mwh_i
    export_cny  = export_price * sum_i export_mwh_i
    demand_cny  = demand_charge * sum_month peak_import_kw(month)   (peak of 15-minute means)
                  or capacity_charge * transformer_kva * months         (basic_charge: capacity)
    fee_cny     = direct_line_fee * direct-line energy consumed          (绿电直连)
    total_cny   = import_cny + demand_cny + fee_cny - export_cny
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from twin import data
from twin.core.fields import param

CRITICAL_PEAK = "critical_peak"
KW_PER_MW = 1000.0


# --------------------------------------------------------------------------- tariff


@dataclass(frozen=True)
class Tariff:
    """A time-of-use electricity tariff with critical peak, export price and demand charge."""

    name: str = param(doc="unique tariff name")
    periods: tuple[str, ...] = param(
        doc="period of each local hour 0..23 (24 names, each a key of prices_cny_per_mwh)"
    )
    prices_cny_per_mwh: dict = param("CNY/MWh", doc="energy price of each period")
    critical_peak_months: tuple[int, ...] = param(
        doc="local months 1..12 with critical-peak pricing", default=()
    )
    critical_peak_hours: tuple[int, ...] = param(
        doc="local hours 0..23 priced at the critical peak in those months", default=()
    )
    critical_peak_uplift: float = param(
        "1", ge=0, default=0.2, doc="critical-peak price above the peak price (>= 0.2 by rule)"
    )
    export_price_cny_per_mwh: float = param(
        "CNY/MWh", ge=0, default=0.0, doc="price paid for energy exported to the grid"
    )
    demand_charge_cny_per_kw_month: float = param(
        "CNY/kW/month", ge=0, default=0.0, doc="demand charge on each month's peak import"
    )
    demand_window_min: int = param(
        "min", ge=1, le=60, default=15, doc="metering window of the maximum demand (mean power)"
    )
    capacity_charge_cny_per_kva_month: float = param(
        "CNY/kVA/month", ge=0, default=0.0,
        doc="capacity charge per kVA of the user's transformers (the two-part tariff's option)",
    )
    basic_charge: str = param(
        default="demand", doc="how the basic charge is billed: 'demand' (maximum demand) or "
        "'capacity' (transformer capacity)"
    )
    direct_line_fee_cny_per_mwh: float = param(
        "CNY/MWh", ge=0, default=0.0,
        doc="fees on 绿电直连 energy consumed by the user (system operation, policy surcharges)",
    )

    def __post_init__(self) -> None:
        if len(self.periods) != 24:
            raise ValueError(f"tariff {self.name}: periods needs 24 hours, got {len(self.periods)}")
        unknown = sorted(set(self.periods) - set(self.prices_cny_per_mwh))
        if unknown:
            raise ValueError(
                f"tariff {self.name}: periods {unknown} have no price; priced periods are "
                f"{sorted(self.prices_cny_per_mwh)}"
            )
        if self.basic_charge not in ("demand", "capacity"):
            raise ValueError(f"tariff {self.name}: basic_charge must be 'demand' or 'capacity', "
                             f"got {self.basic_charge!r}")
        if any(float(p) < 0 for p in self.prices_cny_per_mwh.values()):
            raise ValueError(f"tariff {self.name}: prices must be >= 0")
        if any(not 1 <= m <= 12 for m in self.critical_peak_months):
            raise ValueError(f"tariff {self.name}: critical_peak_months must be in 1..12")
        if any(not 0 <= h <= 23 for h in self.critical_peak_hours):
            raise ValueError(f"tariff {self.name}: critical_peak_hours must be in 0..23")
        if self.has_critical_peak:
            if "peak" not in self.prices_cny_per_mwh:
                raise ValueError(f"tariff {self.name}: a critical peak needs a 'peak' price")
            if self.critical_peak_uplift < 0.2:
                raise ValueError(
                    f"tariff {self.name}: critical_peak_uplift {self.critical_peak_uplift:g} is "
                    "below the national minimum of 0.2 (发改价格〔2021〕1093号)"
                )

    @property
    def has_critical_peak(self) -> bool:
        """Whether the tariff prices some hours at the critical peak."""
        return bool(self.critical_peak_months) and bool(self.critical_peak_hours)

    @property
    def critical_peak_price_cny_per_mwh(self) -> float:
        """Price in critical-peak hours: the peak price times (1 + uplift); nan without one."""
        if not self.has_critical_peak:
            return math.nan
        return float(self.prices_cny_per_mwh["peak"]) * (1.0 + self.critical_peak_uplift)

    @property
    def period_names(self) -> tuple[str, ...]:
        """The periods energy is reported by (those used by the hours, then the critical peak)."""
        names = tuple(dict.fromkeys(self.periods))
        return names + ((CRITICAL_PEAK,) if self.has_critical_peak else ())


def tariff_names() -> tuple[str, ...]:
    """Names of the tariffs shipped in ``twin/data/tariff.yaml``."""
    return tuple(data.load("tariff"))


def tariff_note(name: str) -> str:
    """What a report says of the tariff ``name``: illustrative where its source in
    ``twin/data/tariff.yaml`` says so, else its source."""
    src = " ".join(str(data.entries("tariff").get(name, {}).get("source", "")).split())
    if not src or src.lower().startswith("illustrative"):
        return (f"tariff {name}: illustrative (twin/data/tariff.yaml; no published provincial "
                "figures found, time-of-use periods and ratios after the national rule "
                "发改价格〔2021〕1093号)")
    return f"tariff {name}: {src}"


def tariff(name: str = "liaoning-illustrative") -> Tariff:
    """The tariff ``name`` from ``twin/data/tariff.yaml``.

    Raises
    ------
    ValueError
        If no tariff has that name (the message lists the names there are).
    """
    tariffs = data.load("tariff")
    if name not in tariffs:
        raise ValueError(f"no tariff {name!r}; known tariffs: {', '.join(tariffs)}")
    from twin.core.specload import build  # local: keeps the import graph of the models small

    return build(Tariff, {"name": name, **tariffs[name]}, path=f"tariff.yaml:{name}")


def local_hour_month(
    epoch_s: np.ndarray | Sequence[int], timezone: str = "Asia/Shanghai"
) -> tuple[np.ndarray, np.ndarray]:
    """Local hour (0..23) and month (1..12) of UTC epoch seconds in ``timezone``."""
    import pandas as pd  # here: validating a scenario reads the tariff names only

    idx = pd.to_datetime(np.asarray(epoch_s, dtype=np.int64), unit="s", utc=True)
    local = idx.tz_convert(timezone)
    return np.asarray(local.hour, dtype=np.int64), np.asarray(local.month, dtype=np.int64)


def _calendar(local_hour: Any, local_month: Any) -> tuple[np.ndarray, np.ndarray]:
    hour = np.asarray(local_hour)
    month = np.asarray(local_month)
    if hour.shape != month.shape:
        raise ValueError(f"local_hour {hour.shape} and local_month {month.shape} differ in shape")
    hour = np.floor(hour).astype(np.int64)
    month = month.astype(np.int64)
    if hour.size and (hour.min() < 0 or hour.max() > 23):
        raise ValueError("local_hour must be in 0..23")
    if month.size and (month.min() < 1 or month.max() > 12):
        raise ValueError("local_month must be in 1..12")
    return hour, month


def _critical_mask(t: Tariff, hour: np.ndarray, month: np.ndarray) -> np.ndarray:
    if not t.has_critical_peak:
        return np.zeros(hour.shape, dtype=bool)
    return np.isin(month, t.critical_peak_months) & np.isin(hour, t.critical_peak_hours)


def hourly_periods(t: Tariff, local_hour: Any, local_month: Any) -> np.ndarray:
    """Period name of each interval (``'critical_peak'`` where that price applies)."""
    hour, month = _calendar(local_hour, local_month)
    labels = np.asarray(t.periods + (CRITICAL_PEAK,), dtype=object)
    idx = np.where(_critical_mask(t, hour, month), 24, hour)
    return labels[idx]


def hourly_prices(t: Tariff, local_hour: Any, local_month: Any) -> np.ndarray:
    """Energy price in CNY/MWh of each interval, given its local hour and month.

    Parameters
    ----------
    t : Tariff
        The tariff.
    local_hour, local_month : array_like
        Local hour 0..23 (fractions are floored) and month 1..12 of each interval.

    Returns
    -------
    numpy.ndarray
        Price in CNY/MWh, same shape as the inputs.
    """
    hour, month = _calendar(local_hour, local_month)
    by_hour = np.array([float(t.prices_cny_per_mwh[p]) for p in t.periods])
    price = by_hour[hour]
    if t.has_critical_peak:
        price = np.where(_critical_mask(t, hour, month), t.critical_peak_price_cny_per_mwh, price)
    return price


def demand_means_mw(p_mw: Any, step_s: float | None, window_s: float = 900.0) -> np.ndarray:
    """Mean power over consecutive metering windows of ``window_s`` (the demand interval).

    Windows start with the series (runs start on a quarter hour); a last partial window is the
    mean of the steps it has. ``step_s`` None or not shorter than the window: the series is
    taken as it is (already window means, or coarser).
    """
    p = np.asarray(p_mw, dtype=float)
    if step_s is None or step_s >= window_s or p.size == 0:
        return p
    k = round(window_s / step_s)
    if k < 1 or abs(k * step_s - window_s) > 1e-6 * window_s:
        raise ValueError(f"a step of {step_s} s does not divide the {window_s:g} s demand window")
    starts = np.arange(0, p.size, k)
    return np.add.reduceat(p, starts) / np.diff(np.append(starts, p.size))


def monthly_peak_import_mw(p_import_mw: Any, local_month: Any, step_s: float | None = None,
                           window_s: float = 900.0) -> dict[int, float]:
    """Highest import power of each local month present, MW (for the demand charge).

    China meters maximum demand on 15-minute mean power: with ``step_s`` (the series' step)
    the power is first averaged over windows of ``window_s`` (:func:`demand_means_mw`), each
    window in the month of its first step. Without ``step_s`` the series is taken as the
    meter's means. A series longer than a year folds the same month of different years
    together.
    """
    p = np.asarray(p_import_mw, dtype=float)
    month = np.asarray(local_month).astype(np.int64)
    if p.shape != month.shape:
        raise ValueError(f"p_import_mw {p.shape} and local_month {month.shape} differ in shape")
    if step_s is not None and p.size and step_s < window_s:
        means = demand_means_mw(p, step_s, window_s)
        month = month[:: round(window_s / step_s)]
        p = means
    return {int(m): float(max(0.0, p[month == m].max())) for m in np.unique(month)}


@dataclass(frozen=True)
class EnergyCost:
    """Cost of a series of imports and exports under a tariff (CNY, MWh)."""

    import_cny: float
    export_revenue_cny: float
    demand_cny: float
    total_cny: float
    by_period_mwh: dict[str, float]
    by_period_cny: dict[str, float]
    direct_line_fee_cny: float = 0.0


def energy_cost(
    import_mwh: Any,
    export_mwh: Any,
    local_hour: Any,
    local_month: Any,
    t: Tariff,
    peak_import_mw_by_month: Mapping[int, float] | None = None,
    *,
    capacity_kva: float = 0.0,
    direct_line_mwh: float = 0.0,
) -> EnergyCost:
    """Energy bill of a park or enterprise over a series of intervals.

    Parameters
    ----------
    import_mwh, export_mwh : array_like
        Energy imported from and exported to the grid in each interval, MWh (>= 0). Intervals
        may be shorter than an hour; each takes the price of its local hour.
    local_hour, local_month : array_like
        Local hour 0..23 and month 1..12 of each interval (see :func:`local_hour_month`).
    t : Tariff
        The tariff.
    peak_import_mw_by_month : mapping, optional
        Peak import power per month, MW (see :func:`monthly_peak_import_mw`); the demand
        charge is ``demand_charge_cny_per_kw_month`` times its sum in kW. None: no demand charge.
    capacity_kva : float
        The user's transformer capacity, kVA: the basic charge of a tariff billed on capacity
        (``basic_charge: capacity``) is ``capacity_charge_cny_per_kva_month`` times it in each
        month present.
    direct_line_mwh : float
        绿电直连 energy consumed by the user, MWh: it pays ``direct_line_fee_cny_per_mwh``.

    Returns
    -------
    EnergyCost
        Import cost, export revenue, demand charge, their net total, and the imported energy
        and its cost by period (``critical_peak`` apart from ``peak``).
    """
    imp = np.asarray(import_mwh, dtype=float)
    exp = np.asarray(export_mwh, dtype=float)
    if imp.shape != exp.shape:
        raise ValueError(f"import_mwh {imp.shape} and export_mwh {exp.shape} differ in shape")
    if np.any(imp < 0) or np.any(exp < 0):
        raise ValueError("import_mwh and export_mwh must be >= 0 (signs are in the names)")
    price = hourly_prices(t, local_hour, local_month)
    if price.shape != imp.shape:
        raise ValueError(f"calendar {price.shape} and energy {imp.shape} differ in shape")
    cost = price * imp
    labels = hourly_periods(t, local_hour, local_month)
    by_mwh = {p: float(imp[labels == p].sum()) for p in t.period_names}
    by_cny = {p: float(cost[labels == p].sum()) for p in t.period_names}
    import_cny = float(cost.sum())
    export_cny = float(exp.sum()) * t.export_price_cny_per_mwh
    demand_cny = 0.0
    if t.basic_charge == "capacity":
        months = len(np.unique(np.asarray(local_month)))
        demand_cny = max(0.0, capacity_kva) * t.capacity_charge_cny_per_kva_month * months
    elif peak_import_mw_by_month:
        peaks_kw = sum(max(0.0, float(v)) for v in peak_import_mw_by_month.values()) * KW_PER_MW
        demand_cny = peaks_kw * t.demand_charge_cny_per_kw_month
    fee = max(0.0, direct_line_mwh) * t.direct_line_fee_cny_per_mwh
    return EnergyCost(
        import_cny=import_cny,
        export_revenue_cny=export_cny,
        demand_cny=demand_cny,
        total_cny=import_cny + demand_cny + fee - export_cny,
        by_period_mwh=by_mwh,
        by_period_cny=by_cny,
        direct_line_fee_cny=fee,
    )


# --------------------------------------------------------------------------- assets


@dataclass(frozen=True)
class Asset:
    """An investment: a technology kind and its size (units of the cost benchmarks)."""

    name: str = param(doc="unique asset name")
    kind: str = param(
        doc="technology, a key of twin/data/costs.yaml (wind, pv, battery, heat_pump, "
        "gas_boiler, ev_charger, ev_charger_ac, direct_line_220kv, substation_66kv, ...)"
    )
    capacity_kw: float = param(
        "kW", ge=0, doc="size in the kind's size_unit: rated power in kW (wind, battery, DC "
        "chargers), kWp DC (pv), kW thermal (heat_pump, gas_boiler); km of circuit (lines), "
        "MVA (substations), chargers (ev_charger_ac)"
    )
    energy_kwh: float = param("kWh", ge=0, default=0.0, doc="storage capacity (battery only)")


@dataclass(frozen=True)
class UnitCost:
    """Unit investment and fixed O&M cost of one technology.

    ``*_per_kw`` fields are per unit of ``size_unit``: kW (kWp, kW thermal) for plants, km of
    circuit for lines, MVA for substations, one charger for AC chargers.
    """

    kind: str
    capex_cny_per_kw: float
    capex_cny_per_kwh: float
    opex_cny_per_kw_year: float
    opex_cny_per_kwh_year: float
    lifetime_years: int
    size_unit: str = "kW"
    degradation_per_year: float = 0.0
    source: str = ""

    @property
    def illustrative(self) -> bool:
        """Whether the figures are placeholders that no primary source confirmed."""
        return self.source.lstrip().lower().startswith("illustrative")


def unit_costs() -> dict[str, UnitCost]:
    """Unit costs per asset kind from ``twin/data/costs.yaml`` (with their sources), and the
    pathway's heat measures priced in ``twin/data/measures.yaml`` (per MW or MWh there)."""
    out = {}
    for kind, entry in data.entries("costs").items():
        v = entry["value"]
        if not (isinstance(v, dict) and "lifetime_years" in v):
            continue
        sized = "size_unit" in v
        out[kind] = UnitCost(
            kind=kind,
            capex_cny_per_kw=float(v["capex_cny_per_unit" if sized else "capex_cny_per_kw"]),
            capex_cny_per_kwh=float(v.get("capex_cny_per_kwh", 0.0)),
            opex_cny_per_kw_year=float(
                v["opex_cny_per_unit_year" if sized else "opex_cny_per_kw_year"]),
            opex_cny_per_kwh_year=float(v.get("opex_cny_per_kwh_year", 0.0)),
            lifetime_years=int(v["lifetime_years"]),
            size_unit=str(v.get("size_unit", "kW")),
            degradation_per_year=float(v.get("degradation_per_year", 0.0)),
            source=" ".join(str(entry["source"]).split()),
        )
    for kind, entry in data.entries("measures").items():
        v = entry["value"]
        if kind in out or not (isinstance(v, dict) and "capex_cny_per_unit" in v
                               and "lifetime_years" in v):
            continue
        per_kwh = v.get("unit") == "MWh"  # storage: priced per kWh held
        capex, opex = float(v["capex_cny_per_unit"]) / 1000.0, float(
            v["opex_cny_per_unit_year"]) / 1000.0
        out[kind] = UnitCost(
            kind=kind, capex_cny_per_kw=0.0 if per_kwh else capex,
            capex_cny_per_kwh=capex if per_kwh else 0.0,
            opex_cny_per_kw_year=0.0 if per_kwh else opex,
            opex_cny_per_kwh_year=opex if per_kwh else 0.0,
            lifetime_years=int(v["lifetime_years"]),
            source=" ".join(str(entry["source"]).split()))
    return out


def gas_price_cny_per_nm3() -> float:
    """The natural-gas price of the heat plant's fuel, CNY/Nm3 (``twin/data/costs.yaml``
    ``gas_price``, illustrative there)."""
    return float(data.load("costs")["gas_price"])


def default_discount_rate() -> float:
    """The default real discount rate per year from ``twin/data/costs.yaml``."""
    return float(data.load("costs")["discount_rate"])


def _unit_cost(asset: Asset, costs: Mapping[str, UnitCost]) -> UnitCost:
    if asset.kind not in costs:
        raise ValueError(
            f"asset {asset.name}: unknown kind {asset.kind!r}; known kinds: {', '.join(costs)}"
        )
    c = costs[asset.kind]
    per_kwh = c.capex_cny_per_kwh > 0 or c.opex_cny_per_kwh_year > 0
    if per_kwh and asset.energy_kwh <= 0:
        raise ValueError(f"asset {asset.name}: a {asset.kind} needs energy_kwh > 0")
    if not per_kwh and asset.energy_kwh > 0:
        raise ValueError(f"asset {asset.name}: a {asset.kind} is sized by capacity_kw only")
    return c


def capex_cny(assets: Iterable[Asset], costs: Mapping[str, UnitCost] | None = None) -> float:
    """Investment of the assets, CNY: sum of capacity x CNY/kW + energy x CNY/kWh."""
    costs = unit_costs() if costs is None else costs
    total = 0.0
    for a in assets:
        c = _unit_cost(a, costs)
        total += a.capacity_kw * c.capex_cny_per_kw + a.energy_kwh * c.capex_cny_per_kwh
    return total


def opex_cny_per_year(
    assets: Iterable[Asset], costs: Mapping[str, UnitCost] | None = None
) -> float:
    """Fixed operation and maintenance cost of the assets, CNY per year (no fuel, no energy)."""
    costs = unit_costs() if costs is None else costs
    total = 0.0
    for a in assets:
        c = _unit_cost(a, costs)
        total += a.capacity_kw * c.opex_cny_per_kw_year + a.energy_kwh * c.opex_cny_per_kwh_year
    return total


# --------------------------------------------------------------------------- appraisal


def _check_rate(rate: float) -> None:
    if not rate > -1.0:
        raise ValueError(f"discount rate must be > -1, got {rate}")


def npv(cash_flows_cny: Sequence[float], rate: float) -> float:
    """Net present value, CNY, of yearly cash flows (year 0 first, undiscounted).

    ``sum_t cf_t / (1 + rate)**t``.
    """
    _check_rate(rate)
    cf = np.asarray(cash_flows_cny, dtype=float)
    t = np.arange(cf.size, dtype=float)
    return float(np.sum(cf / (1.0 + rate) ** t))


def annuity_factor(rate: float, years: int) -> float:
    """Present value of 1 CNY paid at the end of each of ``years`` years."""
    _check_rate(rate)
    if years <= 0:
        raise ValueError(f"years must be > 0, got {years}")
    if rate == 0:
        return float(years)
    return (1.0 - (1.0 + rate) ** -years) / rate
