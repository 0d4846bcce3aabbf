"""The levers of the pathway (``twin/data/measures.yaml``): their limits, annual costs, and how
a portfolio of them becomes a scenario (through :func:`twin.studies.spec.case_scenario`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from twin import data
from twin.accounting import economics
from twin.data import YAML_LOADER
from twin.scenario import Scenario
from twin.studies.pathway.profiles import Profiles
from twin.studies.spec import Case, Job, Token, case_scenario, parse_path

HEAT = ("heat_pump", "air_heat_pump", "waste_heat", "electric_boiler", "heat_store")
FLEX = ("flex_load", "ev_smart")
CONTRACTS = ("contract_flat", "contract_wind", "contract_solar")
BOUGHT = ("gec", *CONTRACTS)
CAPACITY = ("wind", "pv", "storage_power", "storage_energy", *HEAT, "efficiency", *FLEX)
ORDER = (*CAPACITY, *BOUGHT)
# the scenario field of each heat lever (per heat supply, shared pro rata to design load)
HEAT_FIELDS = {"heat_pump": "hp_q_max_mw", "air_heat_pump": "ashp_q_max_mw",
               "waste_heat": "waste_heat_q_max_mw", "electric_boiler": "eboiler_mw",
               "heat_store": "store_mwh"}


@dataclass(frozen=True)
class Measure:
    """One lever: its upper limit (in ``unit``) and its annual cost per unit."""

    key: str
    label: str
    unit: str
    max_value: float
    annual_cny_per_unit: float  # capex annuity + fixed O&M per unit and year (0: priced per use)
    capex_cny_per_unit: float
    period_cny_per_unit: float = 0.0  # bought per period (GEC, contracts), CNY per unit
    opex_cny_per_unit: float = 0.0  # fixed O&M per unit and year (part of the annual cost)


def measures(p: Profiles) -> dict[str, Measure]:
    """The levers open to the park of ``p``, in :data:`ORDER`."""
    m = data.load("measures")
    costs = economics.unit_costs()
    rate = p.discount_rate

    def annual(kind: str, per: str) -> tuple[float, float, float, float]:
        c = costs[kind]
        capex = 1000.0 * (c.capex_cny_per_kw if per == "kw" else c.capex_cny_per_kwh)
        opex = 1000.0 * (c.opex_cny_per_kw_year if per == "kw" else c.opex_cny_per_kwh_year)
        return capex / economics.annuity_factor(rate, c.lifetime_years) + opex, capex, 0.0, opex

    def own(key: str) -> tuple[float, float, float, float]:
        c = m[key]
        capex, opex = float(c["capex_cny_per_unit"]), float(c["opex_cny_per_unit_year"])
        return (capex / economics.annuity_factor(rate, int(c["lifetime_years"])) + opex, capex,
                0.0, opex)

    room = max(p.heat_design_mw - p.hp_mw, 0.0)
    heat = p.heat_design_mw > 0
    out = {}
    for key, max_value, cost in (
        ("wind", max(m["wind"]["max_total_mw"] - p.wind_mw, 0.0) if p.wind_mw > 0 else 0.0,
         annual("wind", "kw")),
        ("pv", m["pv"]["max_added_mwp"] if p.pv_mwp > 0 else 0.0, annual("pv", "kw")),
        ("storage_power", m["storage_power"]["max_added_mw"] if p.storage_mwh > 0 else 0.0,
         annual("battery", "kw")),
        ("storage_energy", m["storage_energy"]["max_added_mwh"] if p.storage_mwh > 0 else 0.0,
         annual("battery", "kwh")),
        ("heat_pump", room, annual("heat_pump", "kw")),
        ("air_heat_pump", max(p.heat_design_mw - p.air_mw, 0.0) if p.cop_air is not None
         else 0.0, own("air_heat_pump")),
        ("waste_heat", m["waste_heat"]["max_added_mw"] if heat else 0.0, own("waste_heat")),
        ("electric_boiler", m["electric_boiler"]["max_added_mw"] if heat else 0.0,
         own("electric_boiler")),
        ("heat_store", m["heat_store"]["max_added_mwh"] if heat else 0.0, own("heat_store")),
    ):
        out[key] = Measure(key, m[key]["label"], m[key]["unit"], float(max_value), *cost)
    eff = m["efficiency"]
    out["efficiency"] = Measure("efficiency", eff["label"], "share", float(eff["max_share"]),
                                float(eff["cost_cny_per_mwh_saved"]), 0.0)
    out["gec"] = Measure("gec", m["gec"]["label"], "MWh", math.inf, 0.0, 0.0,
                         float(m["gec"]["price_cny_per_mwh"]))
    for key in CONTRACTS:
        shaped = shape(p, m[key]["shape"]).sum() > 0
        out[key] = Measure(key, m[key]["label"], "MWh", math.inf if shaped else 0.0, 0.0, 0.0,
                           float(m[key]["premium_cny_per_mwh"]))
    flex, ev = m["flex_load"], m["ev_smart"]
    peak = float(p.factory_mwh.max()) if p.n_hours else 0.0
    out["flex_load"] = Measure(
        "flex_load", flex["label"], "share",
        max(float(flex["max_share"]) - p.flex_share, 0.0) if p.flexible and peak > 0 else 0.0,
        1000.0 * float(flex["cost_cny_per_kw_year"]) * peak, 0.0)
    ev_year = float(p.ev.sum()) / p.year_share if p.n_hours else 0.0
    out["ev_smart"] = Measure("ev_smart", ev["label"], "share",
                              float(ev["max_share"]) if p.flexible and ev_year > 0 else 0.0,
                              float(ev["cost_cny_per_mwh"]) * ev_year, 0.0)
    return {k: out[k] for k in ORDER}


def shape(p: Profiles, kind: str) -> np.ndarray:
    """A contract's hourly delivery per MWh of the period (sums to 1; zeros where the park
    has no such generation to shape it)."""
    base = {"flat": np.ones(p.n_hours), "wind": p.wind_per_mw, "solar": p.pv_per_mwp}[kind]
    total = float(base.sum())
    return base / total if total > 0 else np.zeros(p.n_hours)


def shapes(p: Profiles) -> dict[str, np.ndarray]:
    """Each contract's hourly delivery per MWh of the period."""
    m = data.load("measures")
    return {key: shape(p, m[key]["shape"]) for key in CONTRACTS}


def not_expressible() -> tuple[str, ...]:
    """Levers the scenario has no field for yet."""
    return tuple(data.load("measures")["not_expressible"])


def assignments(base: Scenario, p: Profiles, portfolio: dict[str, float],
                certificates_mwh: float | None = None
                ) -> tuple[list[tuple[tuple[Token, ...], Any]], dict[str, float]]:
    """Scenario fields that apply ``portfolio`` to ``base``, and the amounts as applied (whole
    turbines: the wind applied differs from the LP's continuous answer). ``certificates_mwh``:
    the certificates the LP counted (GECs and contracts as settled month by month); default
    every MWh bought."""
    out: list[tuple[tuple[Token, ...], Any]] = []
    applied = dict(portfolio)
    wind = portfolio.get("wind", 0.0)
    if wind > 0 and base.wind_farms and p.turbine_mw > 0:
        i = len(base.wind_farms) - 1
        extra = int(round(wind / p.turbine_mw))
        out.append((tuple(parse_path(f"wind_farms[{i}].n_turbines")),
                    base.wind_farms[i].n_turbines + extra))
        applied["wind"] = extra * p.turbine_mw
    pv = portfolio.get("pv", 0.0)
    if pv > 0 and p.pv_mwp > 0:
        f = (p.pv_mwp + pv) / p.pv_mwp
        for i, plant in enumerate(base.pv_plants):
            out.append((tuple(parse_path(f"pv_plants[{i}].p_dc_mwp")),
                        round(plant.p_dc_mwp * f, 6)))
            out.append((tuple(parse_path(f"pv_plants[{i}].p_ac_mw")),
                        round(plant.p_ac_mw * f, 6)))
    out.extend(_storage_and_heat(base, portfolio))
    eff = portfolio.get("efficiency", 0.0)
    if eff > 0:
        for i, f_load in enumerate(base.factory_loads):
            out.append((tuple(parse_path(f"factory_loads[{i}].p_peak_mw")),
                        round(f_load.p_peak_mw * (1.0 - eff), 6)))
    flex = portfolio.get("flex_load", 0.0)
    if flex > 0:
        own = data.load("loads_profiles")["flex_share"]
        for i, f_load in enumerate(base.factory_loads):
            share = own[f_load.kind] if f_load.flex_share is None else f_load.flex_share
            out.append((tuple(parse_path(f"factory_loads[{i}].flex_share")),
                        round(min(share + flex, 1.0), 6)))
    bought = (sum(portfolio.get(k, 0.0) for k in BOUGHT) if certificates_mwh is None
              else certificates_mwh)
    if bought > 0:
        out.append((("carbon", "green_certificates_mwh"),
                    round(base.carbon.green_certificates_mwh + bought, 3)))
    return out, applied


def _storage_and_heat(base: Scenario, portfolio: dict[str, float]
                      ) -> list[tuple[tuple[Token, ...], Any]]:
    """Fields of the storage and heat-pump levers."""
    out: list[tuple[tuple[Token, ...], Any]] = []
    if base.batteries:
        b = base.batteries[0]
        if portfolio.get("storage_power", 0.0) > 0:
            out.append(((*parse_path("batteries[0].p_max_mw"),),
                        round(b.p_max_mw + portfolio["storage_power"], 6)))
        if portfolio.get("storage_energy", 0.0) > 0:
            out.append(((*parse_path("batteries[0].e_max_mwh"),),
                        round(b.e_max_mwh + portfolio["storage_energy"], 6)))
    hp = portfolio.get("heat_pump", 0.0)
    room = [max(h.q_design_mw - h.hp_q_max_mw, 0.0) for h in base.heat_supply]
    if hp > 0 and sum(room) > 0:
        for i, (h, r) in enumerate(zip(base.heat_supply, room, strict=True)):
            out.append((tuple(parse_path(f"heat_supply[{i}].hp_q_max_mw")),
                        round(min(h.hp_q_max_mw + hp * r / sum(room), h.q_design_mw), 6)))
    design = sum(h.q_design_mw for h in base.heat_supply)
    for key in HEAT[1:]:
        added, name = portfolio.get(key, 0.0), HEAT_FIELDS[key]
        if added > 0 and design > 0:
            for i, h in enumerate(base.heat_supply):
                out.append((tuple(parse_path(f"heat_supply[{i}].{name}")),
                            round(getattr(h, name) + added * h.q_design_mw / design, 6)))
    return out


def weather_fields(seed: int | None = None, path: str | Path | None = None
                   ) -> tuple[tuple[tuple[Token, ...], Any], ...]:
    """Scenario fields of another weather year: another park seed (synthetic weather) or a
    weather file (EPW or CSV, by its suffix)."""
    out: list[tuple[tuple[Token, ...], Any]] = []
    if seed is not None:
        out.append((("park", "seed"), int(seed)))
    if path is not None:
        kind = "epw" if str(path).lower().endswith(".epw") else "csv"
        out += [(("weather", "source"), kind), (("weather", "path"), str(Path(path).resolve()))]
    return tuple(out)


def apply(base: Scenario, p: Profiles | None, portfolio: dict[str, float], name: str,
          days: float | None = None, weather: tuple[tuple[tuple[Token, ...], Any], ...] = (),
          certificates_mwh: float | None = None) -> tuple[Scenario, dict[str, float]]:
    """The base scenario with the portfolio built (and the amounts as applied); ``weather``:
    the fields of another weather year (:func:`weather_fields`); ``certificates_mwh``: see
    :func:`assignments`. ``p`` may be None for an empty portfolio (a baseline)."""
    fields, applied = assignments(base, p, portfolio, certificates_mwh)  # type: ignore[arg-type]
    fields.extend(weather)
    raw = yaml.load(base.text, Loader=YAML_LOADER)  # noqa: S506 - a safe loader
    job = Job(data=raw, base_path=str(base.path), days=days, runs_dir=None)
    case = Case(case_id=name, params=dict(portfolio), assignments=tuple(fields))
    return case_scenario(job, case), applied
