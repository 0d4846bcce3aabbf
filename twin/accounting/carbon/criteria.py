"""The national zero-carbon park criteria (发改环资〔2025〕910号) evaluated on a run.

Computed from the energy flows:

- **单位能耗碳排放** (core, veto) = (Scope 1 + location-based Scope 2) / energy consumption,
  tCO2/tce. The threshold depends on the park's yearly consumption band (0.20 for 0.2–1
  Mtce/yr, 0.30 from 1 Mtce/yr; parks below 0.2 Mtce/yr get the stricter 0.20). A run shorter
  or longer than a year is scaled to 8,760 h to pick the band (said in ``note``; a season
  is not a year).
- **清洁能源消费占比** = clean energy consumed / energy consumption, both in tce (electricity
  at 0.1229 kgce/kWh). Clean electricity is the local renewable electricity the park consumes
  (on-site PV and direct-line wind, directly or through storage, storage losses included;
  exports and what is still stored at the end are not consumption) plus imports covered by
  retired green certificates. The grid's average non-fossil share is **not** counted: the
  GEC is the sole proof of the renewable attribute of power in China, and the grid's
  non-fossil power belongs to whoever holds its certificates. Natural gas is fossil and not
  counted by default (Chinese energy statistics call gas "清洁能源"; ``clean_includes_gas``
  gives that reading and the note always shows it).
- **绿电直连** share of the direct-line wind's generation consumed in the park (≥ 60 %).
- **Annual net balance** = (renewable generation, consumed or exported, + retired GECs −
  electricity consumed), MWh/yr; ≥ 0 means that over the year the park's green supply covers
  its electricity use (threshold illustrative).

Reported from scenario inputs (``source='input'``; ``met`` None when not given): product energy
use against the grade-2 limit (ratio ≤ 1), industrial solid-waste utilisation (≥ 80 %),
waste heat/cold/pressure utilisation (≥ 50 %), industrial water reuse (≥ 80 %).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from twin import data
from twin.accounting.carbon.accounting import Emissions, Factors
from twin.accounting.carbon.flows import ParkFlows
from twin.accounting.carbon.matching import direct_line, ledger

HOURS_PER_YEAR = 8760.0


@dataclass(frozen=True)
class Criterion:
    """One indicator against its threshold.

    ``value`` is None for an input criterion that was not given; ``met`` is then None too.
    ``comparison`` reads ``value <comparison> threshold``.
    """

    key: str
    name_zh: str
    name_en: str
    value: float | None
    threshold: float
    unit: str
    comparison: str  # '<=' or '>='
    met: bool | None
    source: str  # 'computed' or 'input'
    note: str = ""

    @property
    def margin(self) -> float | None:
        """How far inside (> 0) or outside (< 0) the threshold the value is, in ``unit``."""
        if self.value is None:
            return None
        return (self.threshold - self.value if self.comparison == "<="
                else self.value - self.threshold)


# key: (name_zh, name_en, unit, comparison, threshold key in carbon.yaml)
INPUT_CRITERIA = {
    "product_energy_vs_grade2": ("园区企业产出产品单位能耗", "product energy use / national grade-2 limit",
                                 "1", "<=", "product_energy_vs_grade2_max"),
    "solid_waste_utilisation": ("工业固废综合利用率", "industrial solid-waste utilisation", "1",
                                ">=", "solid_waste_utilisation_min"),
    "waste_heat_utilisation": ("余热/余冷/余压综合利用率", "waste heat/cold/pressure utilisation",
                               "1", ">=", "waste_heat_utilisation_min"),
    "water_reuse": ("工业用水重复利用率", "industrial water reuse", "1", ">=", "water_reuse_min"),
}


def _met(value: float, threshold: float, comparison: str) -> bool:
    return bool(value <= threshold) if comparison == "<=" else bool(value >= threshold)


def core_threshold(annual_tce: float) -> tuple[float, str]:
    """Threshold of 单位能耗碳排放 (tCO2/tce) for a park using ``annual_tce`` per year."""
    d = data.load("carbon")
    mtce = annual_tce / 1e6
    low, high = float(d["core_band_low_mtce"]), float(d["core_band_high_mtce"])
    if mtce >= high:
        return float(d["core_max_large_t_per_tce"]), f">= {high:g} Mtce/yr band"
    if mtce >= low:
        return float(d["core_max_small_t_per_tce"]), f"{low:g}-{high:g} Mtce/yr band"
    return (float(d["core_max_small_t_per_tce"]),
            f"below {low:g} Mtce/yr: the stricter {low:g}-{high:g} Mtce/yr threshold applied")


def clean_energy(flows: ParkFlows, emissions: Emissions, factors: Factors,
                 clean_includes_gas: bool = False) -> dict[str, float]:
    """Clean energy consumed and total energy consumption (tce) with their parts (MWh)."""
    renewable = float(ledger(flows).renewable_consumed_mwh().sum())
    elec = emissions.electricity_total_mwh
    clean_mwh = min(renewable + emissions.gec_mwh, elec)
    gas_tce = float(flows.gas_total_nm3.sum()) * factors.gas_tce_per_nm3
    clean_tce = clean_mwh * factors.elec_tce_per_mwh + (gas_tce if clean_includes_gas else 0.0)
    return {"renewable_consumed_mwh": renewable, "gec_mwh": emissions.gec_mwh,
            "clean_electricity_mwh": clean_mwh, "electricity_mwh": elec, "gas_tce": gas_tce,
            "clean_tce": clean_tce, "total_tce": emissions.energy_total_tce}


def national_criteria(
    flows: ParkFlows,
    emissions: Emissions,
    factors: Factors,
    inputs: Mapping[str, float] | None = None,
    *,
    clean_includes_gas: bool = False,
) -> list[Criterion]:
    """Evaluate the national zero-carbon park criteria (module docstring for the rules).

    Parameters
    ----------
    flows, emissions, factors
        The run's flows, its :func:`~twin.accounting.carbon.accounting.emissions` and their factors.
    inputs : mapping, optional
        Values of the criteria the flows cannot give, as fractions 0..1 (the grade-2 one as
        a ratio): keys of :data:`INPUT_CRITERIA`.
    clean_includes_gas : bool
        Count natural gas as clean energy (the statistical reading of 清洁能源).

    Raises
    ------
    ValueError
        For an unknown input key or a share outside 0..1.
    """
    inputs = dict(inputs or {})
    unknown = sorted(set(inputs) - set(INPUT_CRITERIA))
    if unknown:
        raise ValueError(f"unknown criteria inputs {unknown}: expected keys among "
                         f"{', '.join(INPUT_CRITERIA)}")
    d = data.load("carbon")
    hours = float(flows.n_hours)
    scale = HOURS_PER_YEAR / hours if hours else 0.0
    scaled = "" if abs(scale - 1.0) < 1e-9 else (
        f"scaled to a year from {hours / 24:g} days (x{scale:.3g}); a season is not a year")
    out: list[Criterion] = []

    tce = emissions.energy_total_tce
    annual_tce = tce * scale
    threshold, band = core_threshold(annual_tce)
    value = emissions.total_location_t / tce if tce > 0 else float("nan")
    market = emissions.total_market_t / tce if tce > 0 else float("nan")
    out.append(Criterion(
        "core_carbon_intensity", "单位能耗碳排放", "CO2 per unit of energy consumption", value,
        threshold, "tCO2/tce", "<=", _met(value, threshold, "<=") if tce > 0 else None,
        "computed",
        f"{emissions.total_location_t:,.0f} tCO2 (Scope 1 {emissions.scope1_total_t:,.0f} + "
        f"location-based Scope 2 {emissions.scope2_location_total_t:,.0f}) / {tce:,.0f} tce; "
        f"{annual_tce / 1e6:.3f} Mtce/yr ({band}){'; ' + scaled if scaled else ''}; "
        f"market-based: {market:.3f} tCO2/tce"))

    c = clean_energy(flows, emissions, factors, clean_includes_gas)
    share = c["clean_tce"] / c["total_tce"] if c["total_tce"] > 0 else float("nan")
    other = clean_energy(flows, emissions, factors, not clean_includes_gas)
    alt = other["clean_tce"] / other["total_tce"] if other["total_tce"] > 0 else float("nan")
    threshold = float(d["clean_share_min"])
    out.append(Criterion(
        "clean_energy_share", "清洁能源消费占比", "clean-energy share of consumption", share,
        threshold, "1", ">=", _met(share, threshold, ">=") if c["total_tce"] > 0 else None,
        "computed",
        f"local renewables consumed {c['renewable_consumed_mwh']:,.0f} MWh + GEC "
        f"{c['gec_mwh']:,.0f} MWh of {c['electricity_mwh']:,.0f} MWh electricity; gas "
        f"{c['gas_tce']:,.0f} tce {'counted' if clean_includes_gas else 'not counted'} as "
        f"clean ({'without' if clean_includes_gas else 'with'} it: {alt:.3f}); grid "
        "non-fossil share not counted"))

    line = direct_line(flows, float(d["direct_line_consumed_min"]))
    out.append(Criterion(
        "direct_line_share", "绿电直连就地消纳比例",
        "direct-line wind generation consumed in the park", line.share, line.threshold, "1",
        ">=", line.met, "computed",
        f"{line.generation_mwh:,.0f} MWh generated, "
        f"{float(line.exported_mwh.sum() + line.exported_from_storage_mwh.sum()):,.0f} MWh "
        f"exported (rule: yearly generation){'; over ' + f'{hours / 24:g} days' if scaled else ''}"))

    gen = float(sum(v.sum() for v in flows.generation_mwh.values()))
    balance = (gen + emissions.gec_mwh - emissions.electricity_total_mwh) * scale
    threshold = float(d["net_balance_min_mwh"])
    out.append(Criterion(
        "net_annual_balance", "年度绿电净平衡", "annual net green-electricity balance", balance,
        threshold, "MWh/yr", ">=", _met(balance, threshold, ">="), "computed",
        f"renewable generation {gen:,.0f} + GEC {emissions.gec_mwh:,.0f} - electricity "
        f"consumed {emissions.electricity_total_mwh:,.0f} MWh"
        f"{'; ' + scaled if scaled else ''}; annual, not hourly, matching; gas not covered"))

    for key, (zh, en, unit, comparison, tkey) in INPUT_CRITERIA.items():
        threshold = float(d[tkey])
        given = inputs.get(key)
        if given is not None and unit == "1" and comparison == ">=" and not 0 <= given <= 1:
            raise ValueError(f"input {key} = {given}: expected a fraction 0..1")
        out.append(Criterion(
            key, zh, en, None if given is None else float(given), threshold, unit, comparison,
            None if given is None else _met(float(given), threshold, comparison), "input",
            "scenario input" if given is not None else "not given"))
    return out
