"""A run judged: carbon accounts, national criteria, green matching, costs, product footprints.

``assess(run)`` reads a recorded run (its series and the carbon, economics and products
settings the run stored in ``/meta``) and computes everything the report and the terminal
show. It adds no physics of its own: it composes :mod:`twin.accounting.carbon`, :mod:`twin.accounting.economics`
and :mod:`twin.accounting.carbon.products`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from twin.accounting import appraisal, economics
from twin.accounting.carbon import (
    Criterion,
    DirectLine,
    Emissions,
    Factors,
    ParkFlows,
    cfe_scores,
    direct_line,
    emissions,
    factors,
    flows_from_run,
    gec_count,
    national_criteria,
)
from twin.accounting.carbon.flows import start_epoch_s
from twin.accounting.carbon.products import (
    CbamExposure,
    Footprint,
    ProductSpec,
    cbam_exposure,
    footprint,
)
from twin.core.kinds import LOADS
from twin.core.results import KPI, Run
from twin.core.specload import build
from twin.models.loads.ev import ev_params

HOURS_PER_YEAR = 8760.0
MEASURE_KINDS = ("pv", "wind", "direct_line_220kv", "battery")


@dataclass
class Assessment:
    """Everything judged about one run."""

    flows: ParkFlows
    factors: Factors
    emissions: Emissions
    criteria: list[Criterion]
    cfe: dict[str, float]
    direct: DirectLine
    gec: int
    cost: economics.EnergyCost
    tariff: economics.Tariff
    capex_cny: float
    opex_cny_per_year: float
    lcoe_cny_per_mwh: float
    footprints: list[Footprint] = field(default_factory=list)
    lines: dict[str, dict[str, float]] = field(default_factory=dict)  # :func:`line_carbon`
    cbam: list[CbamExposure] = field(default_factory=list)
    investments: list[appraisal.Investment] = field(default_factory=list)
    finance: appraisal.Finance | None = None
    bill: appraisal.Bill | None = None
    grid_only: appraisal.Bill | None = None  # the same loads, every hour from the grid
    has_network: bool = False

    @property
    def years(self) -> float:
        """Length of the run in years (for scaling to a year)."""
        return self.flows.n_hours / HOURS_PER_YEAR

    @property
    def measures(self) -> list[appraisal.Investment]:
        """The investments that replace grid energy: local generation, its direct lines,
        storage (the rest of the park's capex serves the loads with or without them)."""
        return [i for i in self.investments if i.kind in MEASURE_KINDS]

    def left(self, kind: str) -> np.ndarray | None:
        """Output (PV) or capacity (battery) left in each year of the appraisal."""
        inv = next((i for i in self.investments if i.kind == kind), None)
        if inv is None or self.finance is None:
            return None
        return appraisal.degradation_factors(inv.degradation_per_year, inv.lifetime_years,
                                             self.finance.years)

    def yearly_bills_cny(self) -> np.ndarray:
        """The park's grid energy bill of each appraisal year (annualised, degraded)."""
        assert self.bill is not None
        assert self.finance is not None
        return self.bill.yearly_cny(self.finance, self.left("pv"), self.left("battery"))

    def sampled_bills_cny(self, years: Mapping[int, Assessment]) -> np.ndarray:
        """The park's energy bill of each appraisal year from co-simulated sample years
        (``years``: appraisal year -> the assessment of the same period run with the assets
        degraded to that year; this run is year 1 unless given): each sampled year's bill
        scaled to a year, linear between sampled years, prices escalated."""
        assert self.finance is not None
        sampled = {1: self, **years}
        for y, a in sampled.items():
            if a.flows.n_hours != self.flows.n_hours or a.bill is None:
                raise ValueError(f"appraisal year {y}: its run covers {a.flows.n_hours} h, "
                                 f"year 1's {self.flows.n_hours} h; run the same period")
        bills = {y: a.bill.annual_cny() for y, a in sampled.items() if a.bill is not None}
        return appraisal.escalated(appraisal.interpolated(bills, self.finance.years),
                                   self.finance)

    def appraise(self, baseline: Assessment | None = None,
                 years: Mapping[int, Assessment] | None = None) -> appraisal.CashFlows:
        """Cash flows against ``baseline`` (its assets and bills); without one, of the
        :attr:`measures` against buying the same loads from the grid (:attr:`grid_only`).
        With ``years`` (co-simulated sample years, :meth:`sampled_bills_cny`) this park's
        bills come from them instead of from year 1 degraded arithmetically."""
        assert self.finance is not None
        assert self.grid_only is not None
        mine = self.yearly_bills_cny() if years is None else self.sampled_bills_cny(years)
        simulated = () if years is None else sorted({1, *years})
        if baseline is None:
            saving = self.grid_only.yearly_cny(self.finance) - mine
            return appraisal.cash_flows(saving, self.finance, add=self.measures,
                                        simulated=simulated)
        saving = baseline.yearly_bills_cny() - mine
        return appraisal.cash_flows(saving, self.finance, add=self.investments,
                                    remove=baseline.investments, simulated=simulated)


def _settings(run: Run) -> tuple[dict[str, Any], dict[str, Any], list[ProductSpec]]:
    meta = run.meta
    carbon = json.loads(meta.get("carbon", "{}") or "{}")
    econ = json.loads(meta.get("economics", "{}") or "{}")
    products = [build(ProductSpec, p, f"products[{i}]")
                for i, p in enumerate(json.loads(meta.get("products", "[]") or "[]"))]
    return carbon, econ, products


# the recorded network inventory (twin.models.grid.network.inventory) -> cost kinds; the wind
# farms' 35 kV collectors and 220/35 kV boosters are inside the wind farms' own capex
NETWORK_COSTS = {"direct_line_km": "direct_line_220kv", "line_220kv_km": "line_220kv",
                 "line_66kv_km": "line_66kv", "line_10kv_km": "line_10kv",
                 "trafo_220_66kv_mva": "substation_220kv", "trafo_66_10kv_mva": "substation_66kv"}
# a heat supply's spec field -> the cost kind of what it sizes (kW thermal; the electric
# boilers kW electric; the store kWh)
HEAT_ASSETS = {"ashp_q_max_mw": "air_heat_pump", "waste_heat_q_max_mw": "waste_heat",
               "eboiler_mw": "electric_boiler", "store_mwh": "heat_store"}
AC_CHARGER_MAX_KW = 22.0  # chargers up to this rating are AC wallboxes, priced per charger


def _network(run: Run) -> dict[str, float]:
    for e in run.entities("pcc"):
        spec = run.spec(e)
        if any(k in spec for k in NETWORK_COSTS):
            return {k: float(spec.get(k, 0.0)) for k in NETWORK_COSTS}
    return {}


def transformer_kva(run: Run) -> float:
    """The park's transformer capacity at the connection (220/66 kV), kVA; 0 without a
    network model (a tariff billed on capacity then charges nothing)."""
    return _network(run).get("trafo_220_66kv_mva", 0.0) * 1000.0


def assets(run: Run) -> list[economics.Asset]:
    """The park's investments, sized from the specs recorded with the entities: plants,
    storage, heat supply, chargers and, where the run has a network model, its lines and
    substations."""
    out = []
    for e in run.entities("pv"):
        out.append(economics.Asset(e, "pv", run.spec(e)["p_dc_mwp"] * 1000.0))
    for e in run.entities("wind"):
        out.append(economics.Asset(e, "wind", run.spec(e)["p_rated_mw"] * 1000.0))
    for e in run.entities("battery"):
        s = run.spec(e)
        out.append(economics.Asset(e, "battery", s["p_max_mw"] * 1000.0, s["e_max_mwh"] * 1000.0))
    for e in run.entities("heat"):
        s = run.spec(e)
        out.append(economics.Asset(f"{e}/heat-pumps", "heat_pump", s["hp_q_max_mw"] * 1000.0))
        out.append(economics.Asset(f"{e}/boilers", "gas_boiler", s["q_design_mw"] * 1000.0))
        for key, kind in HEAT_ASSETS.items():  # priced in twin/data/measures.yaml
            if float(s.get(key) or 0.0) > 0:
                size = float(s[key]) * 1000.0
                out.append(economics.Asset(f"{e}/{kind.replace('_', '-')}s", kind,
                                           *((0.0, size) if key == "store_mwh" else (size,))))
    for e in run.entities("ev"):
        s = run.spec(e)
        kw = float(s.get("p_charger_kw") or ev_params(str(s["kind"]))["p_charger_kw"])
        n = int(s["n_chargers"])
        out.append(economics.Asset(f"{e}/chargers", "ev_charger_ac", float(n))
                   if kw <= AC_CHARGER_MAX_KW else
                   economics.Asset(f"{e}/chargers", "ev_charger", n * kw))
    for key, size in _network(run).items():
        if size > 0:
            out.append(economics.Asset(f"network/{key.rsplit('_', 1)[0]}", NETWORK_COSTS[key],
                                       size))
    return out


def peak_import_by_month(run: Run, tariff: economics.Tariff, timezone: str,
                         loads: tuple[str, ...] = ()) -> dict[int, float]:
    """Each local month's highest import on the meter's mean power (15 min), MW, from the
    recorded steps (a run at hourly steps can only give hourly means). With ``loads`` (entity
    kinds): the import if those loads took everything from the grid."""
    if loads:
        series = [run.series(e, "p_mw") for k in loads for e in run.entities(k)]
    else:
        series = [run.series(e, "p_import_mw") for e in run.entities("pcc")]
    if not series:
        return {}
    p = np.sum([np.nan_to_num(x) for x in series], axis=0)
    epoch = start_epoch_s(run.meta) + np.asarray(run.time_s, dtype=np.int64)
    _, month = economics.local_hour_month(epoch[: p.size], timezone)
    return economics.monthly_peak_import_mw(p, month, run.step_s, tariff.demand_window_min * 60)


def assess(run: Run) -> Assessment:
    """Judge a recorded run."""
    carbon, econ, products = _settings(run)
    flows = flows_from_run(run)
    fac = factors(int(carbon.get("factor_year", 2023)), str(carbon.get("region", "northeast")))
    em = emissions(flows, fac, gec_mwh=float(carbon.get("green_certificates_mwh", 0.0)))
    criteria = national_criteria(flows, em, fac, carbon.get("inputs") or None)
    tariff = economics.tariff(str(econ.get("tariff", "liaoning-illustrative")))
    hour, month = economics.local_hour_month(flows.hour_s, flows.timezone)
    dl = direct_line(flows)
    years = flows.n_hours / HOURS_PER_YEAR or 1.0
    gas_cny = float(flows.gas_total_nm3.sum()) * economics.gas_price_cny_per_nm3()
    bill = appraisal.Bill(tariff, hour, month, flows.import_mwh, flows.export_mwh,
                          peak_import_by_month(run, tariff, flows.timezone), years,
                          capacity_kva=transformer_kva(run),
                          direct_line_mwh=float(dl.consumed_mwh.sum()),
                          pv_mwh=flows.total(flows.pv_mwh), charge_mwh=flows.storage_charge_mwh,
                          discharge_mwh=flows.storage_discharge_mwh, gas_cny=gas_cny)
    loads = flows.load_total_mwh
    grid_only = appraisal.Bill(tariff, hour, month, loads, np.zeros_like(loads),
                               peak_import_by_month(run, tariff, flows.timezone, LOADS), years,
                               capacity_kva=transformer_kva(run), gas_cny=gas_cny)
    invest = appraisal.investments(assets(run))
    fin = appraisal.finance(econ.get("discount_rate"), int(econ.get("lifetime_years", 20)), econ)
    gen = [i for i in invest if i.kind in ("pv", "wind", "direct_line_220kv")]
    gen_mwh = float(flows.total(flows.generation_mwh).sum()) / years
    a = Assessment(flows=flows, factors=fac, emissions=em, criteria=criteria,
                   cfe=cfe_scores(flows, fac.grid_cfe_share), direct=dl,
                   gec=gec_count(flows), cost=bill.cost(), tariff=tariff,
                   capex_cny=sum(i.capex_cny for i in invest),
                   opex_cny_per_year=sum(i.opex_cny_per_year for i in invest),
                   lcoe_cny_per_mwh=appraisal.lcoe_cny_per_mwh(gen, gen_mwh, fin) if gen
                   else float("nan"), investments=invest, finance=fin, bill=bill,
                   grid_only=grid_only, has_network=bool(_network(run)))
    by_entity = em.by_entity()
    year = int(np.median(flows.local_year)) if len(flows.local_year) else 2027
    a.lines = line_carbon(by_entity, _boards_out(run))
    for product in products:
        e = _made_by(by_entity, product.lines or (product.enterprise,))
        units = sum(a.lines[x]["boards"] for x in product.lines if x in a.lines) or None
        if product.lines and units is None:
            continue  # its lines made no board in the run: no footprint per board
        fp = footprint(product, e.get("electricity_mwh", 0.0), e.get("scope2_location_t", 0.0),
                       e.get("scope2_market_t", 0.0), e.get("scope1_t", 0.0), a.years,
                       units_in_period=units)
        a.footprints.append(fp)
        exposure = cbam_exposure(fp, product, year, fp.period_units)
        if exposure is not None:
            a.cbam.append(exposure)
    return a


def _boards_out(run: Run) -> dict[str, float]:
    """Boards each production line of the run made (its recorded boards out)."""
    return {e: float(np.nansum(run.series(e, "boards_out"))) for e in run.entities("aoi")
            if run.has(e, "boards_out")}


def _made_by(by_entity: dict[str, dict[str, float]], names: tuple[str, ...]) -> dict[str, float]:
    """The summed per-entity totals of ``names`` (a product's lines, or its enterprise)."""
    out: dict[str, float] = {}
    for name in names:
        for key, value in by_entity.get(name, {}).items():
            out[key] = out.get(key, 0.0) + value
    return out


def line_carbon(by_entity: dict[str, dict[str, float]],
                boards: dict[str, float]) -> dict[str, dict[str, float]]:
    """Each production line's boards, electricity and emissions over the run.

    The emissions are the line's share of the park's hourly ones (each hour's import times the
    grid factor shared among that hour's loads by their energy), so a board made in an hour
    the park's own wind and PV cover carries no Scope 2: the line's carbon per board follows
    the park's hourly supply, not a fixed grid average.
    """
    out = {}
    for name, n in boards.items():
        e = by_entity.get(name, {})
        out[name] = {"boards": n, "electricity_mwh": e.get("electricity_mwh", 0.0),
                     "location_t": e.get("scope2_location_t", 0.0),
                     "market_t": e.get("scope2_market_t", 0.0)}
    return out


def assessment_kpis(a: Assessment) -> dict[str, KPI]:
    """The key figures of an assessment, to store with the run's KPIs."""
    em = a.emissions
    k = {
        "co2_scope1_t": KPI(em.scope1_total_t, "t", "Scope 1: gas burnt in the park"),
        "co2_scope2_location_t": KPI(em.scope2_location_total_t, "t",
                                     "Scope 2 location-based: imports x grid factor"),
        "co2_scope2_market_t": KPI(em.scope2_market_total_t, "t",
                                   "Scope 2 market-based: imports not covered by GECs x "
                                   "residual factor"),
        "energy_tce": KPI(em.energy_total_tce, "tce", "energy consumption (electricity at "
                          "0.1229 kgce/kWh, gas)"),
    }
    for c in a.criteria:
        if c.source == "computed" and c.value is not None:
            k[f"criterion_{c.key}"] = KPI(c.value, c.unit, f"{c.name_en} ({c.comparison} "
                                          f"{c.threshold:g}: {'met' if c.met else 'not met'}, "
                                          f"margin {c.margin:+.3g})")
    for horizon, score in a.cfe.items():
        k[f"cfe_{horizon}"] = KPI(score, "1", f"carbon-free energy score, {horizon} matching")
    k["gec_count"] = KPI(float(a.gec), "1", "green certificates (1 per MWh of renewables)")
    k["energy_cost_cny"] = KPI(a.cost.total_cny, "CNY", f"grid energy cost ({a.tariff.name})")
    k["demand_charge_cny"] = KPI(a.cost.demand_cny, "CNY", "basic charge: the monthly "
                                 f"{a.tariff.demand_window_min}-minute maximum demand (or the "
                                 "transformer capacity), included in the energy cost")
    k["capex_cny"] = KPI(a.capex_cny, "CNY", "investment in every asset: plants, storage, "
                         "heat, chargers, lines, substations")
    k["opex_cny_per_year"] = KPI(a.opex_cny_per_year, "CNY/yr", "their operation and upkeep")
    k["lcoe_local_cny_per_mwh"] = KPI(a.lcoe_cny_per_mwh, "CNY/MWh",
                                      "levelised cost of the park's wind and PV energy")
    for name, line in a.lines.items():
        if line["boards"] > 0:
            k[f"{name}_kgco2_per_board_supply"] = KPI(
                line["location_t"] * 1000.0 / line["boards"], "kg",
                f"{name}: CO2 per board at the park's hourly supply (location-based; the hours "
                "its own wind and PV cover carry none)")
    for exposure in a.cbam:
        k[f"cbam_{exposure.product}_eur"] = KPI(exposure.cost_eur, "EUR",
                                                f"CBAM cost of {exposure.product} exports")
    return k


def hourly_table(a: Assessment) -> np.ndarray:
    """The park's accounts hour by hour, for the run file (traceable to the hour)."""
    f, em, dl = a.flows, a.emissions, a.direct
    columns = {
        "hour_s": f.hour_s.astype(np.int64),
        "import_mwh": f.import_mwh, "export_mwh": f.export_mwh,
        "generation_mwh": f.total(f.generation_mwh), "consumption_mwh": f.consumption_mwh,
        "scope1_t": em.hourly("scope1_t"), "scope2_location_t": em.hourly("scope2_location_t"),
        "scope2_market_t": em.hourly("scope2_market_t"), "energy_tce": em.hourly("energy_tce"),
        "direct_line_consumed_mwh": dl.consumed_mwh, "direct_line_exported_mwh": dl.exported_mwh,
    }
    dtype = [(k, "i8" if k == "hour_s" else "f8") for k in columns]
    table = np.zeros(f.n_hours, dtype=dtype)
    for k, v in columns.items():
        table[k] = v
    return table
