"""The levers of the pathway (``twin/data/measures.yaml``): their limits, annual costs, and how
a portfolio of them becomes a scenario (through :func:`twin.studies.spec.case_scenario`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import yaml

from twin import data
from twin.accounting import economics
from twin.data import YAML_LOADER
from twin.scenario import Scenario
from twin.studies.pathway.profiles import Profiles
from twin.studies.spec import Case, Job, Token, case_scenario, parse_path

CAPACITY = ("wind", "pv", "storage_power", "storage_energy", "heat_pump", "efficiency")
ORDER = ("wind", "pv", "storage_power", "storage_energy", "heat_pump", "efficiency", "gec",
         "green_contract")


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

    out = {}
    for key, max_value, cost in (
        ("wind", max(m["wind"]["max_total_mw"] - p.wind_mw, 0.0) if p.wind_mw > 0 else 0.0,
         annual("wind", "kw")),
        ("pv", m["pv"]["max_added_mwp"] if p.pv_mwp > 0 else 0.0, annual("pv", "kw")),
        ("storage_power", m["storage_power"]["max_added_mw"] if p.storage_mwh > 0 else 0.0,
         annual("battery", "kw")),
        ("storage_energy", m["storage_energy"]["max_added_mwh"] if p.storage_mwh > 0 else 0.0,
         annual("battery", "kwh")),
        ("heat_pump", max(p.heat_design_mw - p.hp_mw, 0.0), annual("heat_pump", "kw")),
    ):
        out[key] = Measure(key, m[key]["label"], m[key]["unit"], float(max_value), *cost)
    eff = m["efficiency"]
    out["efficiency"] = Measure("efficiency", eff["label"], "share", float(eff["max_share"]),
                                float(eff["cost_cny_per_mwh_saved"]), 0.0)
    out["gec"] = Measure("gec", m["gec"]["label"], "MWh", math.inf, 0.0, 0.0,
                         float(m["gec"]["price_cny_per_mwh"]))
    out["green_contract"] = Measure("green_contract", m["green_contract"]["label"], "MWh",
                                    math.inf, 0.0, 0.0,
                                    float(m["green_contract"]["premium_cny_per_mwh"]))
    return out


def not_expressible() -> tuple[str, ...]:
    """Levers the scenario has no field for yet."""
    return tuple(data.load("measures")["not_expressible"])


def assignments(base: Scenario, p: Profiles, portfolio: dict[str, float]
                ) -> tuple[list[tuple[tuple[Token, ...], Any]], dict[str, float]]:
    """Scenario fields that apply ``portfolio`` to ``base``, and the amounts as applied (whole
    turbines: the wind applied differs from the LP's continuous answer)."""
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
    bought = portfolio.get("gec", 0.0) + portfolio.get("green_contract", 0.0)
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
    return out


def apply(base: Scenario, p: Profiles, portfolio: dict[str, float], name: str,
          days: float | None = None, seed: int | None = None) -> tuple[Scenario, dict[str, float]]:
    """The base scenario with the portfolio built (and the amounts as applied); ``seed``: another
    park seed (another synthetic weather year)."""
    fields, applied = assignments(base, p, portfolio)
    if seed is not None:
        fields.append((("park", "seed"), int(seed)))
    raw = yaml.load(base.text, Loader=YAML_LOADER)  # noqa: S506 - a safe loader
    job = Job(data=raw, base_path=str(base.path), days=days, runs_dir=None)
    case = Case(case_id=name, params=dict(portfolio), assignments=tuple(fields))
    return case_scenario(job, case), applied
