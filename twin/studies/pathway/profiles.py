"""Hourly profiles for the pathway optimiser, read from ONE co-simulation of the base scenario.

Per MW installed: wind (per MW rated) and PV (per MWp DC); the loads as the run consumed them
(factories apart, for efficiency), the heat demand and the heat pumps' COP hour by hour, the
network's losses, the storage and heat-supply ratings, and the accounting factors of the run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from twin import data
from twin.accounting import economics
from twin.accounting.carbon import factors, flows_from_run
from twin.accounting.carbon.criteria import HOURS_PER_YEAR, core_threshold
from twin.core.results import open_run

MJ_PER_MWH = 3600.0


@dataclass(frozen=True)
class Profiles:
    """What the LP needs of the park, hour by hour (MWh per hour = mean MW over the hour)."""

    price_cny_per_mwh: np.ndarray  # import price of each hour (tariff)
    month: np.ndarray  # local month of each hour (demand charge)
    wind_per_mw: np.ndarray  # wind generation per MW rated
    pv_per_mwp: np.ndarray  # PV generation per MWp DC
    factory_mwh: np.ndarray  # factories' electricity (the efficiency lever's base)
    other_mwh: np.ndarray  # EV, circulation pumps, other loads, network losses
    heat_mwh: np.ndarray  # heat demand (thermal)
    cop: np.ndarray  # heat pumps' COP (heat-weighted over the heat supplies)
    wind_mw: float = 0.0
    turbine_mw: float = 0.0  # rating of one turbine of the last wind farm
    pv_mwp: float = 0.0
    storage_mw: float = 0.0
    storage_mwh: float = 0.0
    soc_min: float = 0.1
    soc_max: float = 0.9
    soc_init: float = 0.5
    eta_charge: float = 0.95
    eta_discharge: float = 0.95
    hp_mw: float = 0.0  # heat pumps installed (thermal)
    heat_design_mw: float = 0.0  # the heat supplies' design load: heat pumps' ceiling
    gas_nm3_per_mwh: float = 0.0  # gas per MWh of boiler heat
    grid_t_per_mwh: float = 0.5122
    residual_t_per_mwh: float = 0.6096  # market-based Scope 2
    grid_cfe_share: float = 0.381  # carbon-free share of grid imports
    gas_t_per_nm3: float = 0.002162
    elec_tce_per_mwh: float = 0.1229
    gas_tce_per_nm3: float = 0.00133
    core_max: float = 0.2
    clean_min: float = 0.9
    direct_min: float = 0.6
    export_price_cny_per_mwh: float = 0.0
    demand_cny_per_kw_month: float = 0.0
    gas_cny_per_nm3: float = 0.0
    gec_mwh: float = 0.0  # certificates the base scenario already buys
    discount_rate: float = 0.08
    notes: tuple[str, ...] = field(default=())

    @property
    def n_hours(self) -> int:
        """Hours of the period."""
        return len(self.price_cny_per_mwh)

    @property
    def year_share(self) -> float:
        """The period as a share of a year (annual costs are scaled by it)."""
        return self.n_hours / HOURS_PER_YEAR


def _hourly_mean(values: np.ndarray, k: int, n: int) -> np.ndarray:
    v = np.nan_to_num(np.asarray(values, dtype=float))[: n * k]
    return v.reshape(n, k).mean(axis=1)


def from_run(path: str | Path) -> Profiles:
    """The profiles of a recorded run (its HDF5 file)."""
    params = data.load("heat")
    with open_run(path) as run:
        flows = flows_from_run(run)
        n = flows.n_hours
        k = 3600 // int(run.step_s)
        carbon, econ = run.meta.get("carbon"), run.meta.get("economics")
        carbon = json.loads(carbon or "{}")
        econ = json.loads(econ or "{}")
        fac = factors(int(carbon.get("factor_year", 2023)), str(carbon.get("region",
                                                                         "northeast")))
        winds = run.entities("wind")
        wind_mw = sum(float(run.spec(e)["p_rated_mw"]) for e in winds)
        turbine_mw = (float(run.spec(winds[-1])["p_rated_mw"])
                      / max(int(run.spec(winds[-1])["n_turbines"]), 1)) if winds else 0.0
        pv_mwp = sum(float(run.spec(e)["p_dc_mwp"]) for e in run.entities("pv"))
        bats = [run.spec(e) for e in run.entities("battery")]
        heat_q, heat_hp, pumps, cop_w = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
        hp_mw = design = 0.0
        for e in run.entities("heat"):
            s = run.spec(e)
            hp_mw += float(s["hp_q_max_mw"])
            design += float(s["q_design_mw"])
            q = _hourly_mean(run.series(e, "q_heat_mw"), k, n)
            heat_q += q
            if run.has(e, "p_pump_mw"):
                pumps += _hourly_mean(run.series(e, "p_pump_mw"), k, n)
            cop_w += q * _hourly_mean(run.series(e, "cop"), k, n)
            heat_hp += _hourly_mean(run.series(e, "q_hp_mw"), k, n)
        boiler_eff = float(params["boiler_eff"])
        ncv = float(params["ncv_mj_nm3"])
    cop = np.divide(cop_w, heat_q, out=np.full(n, 3.0), where=heat_q > 0)
    cop = np.where(cop > 0, cop, 3.0)
    kinds = flows.kind
    factory = sum((v for e, v in flows.load_mwh.items() if kinds[e] == "factory"), np.zeros(n))
    other = sum((v for e, v in flows.load_mwh.items() if kinds[e] not in ("factory", "heat")),
                np.zeros(n))
    other = other + pumps + flows.grid_loss_mwh
    gen_w = flows.total(flows.wind_mwh)
    gen_p = flows.total(flows.pv_mwh)
    tariff = economics.tariff(str(econ.get("tariff", "liaoning-illustrative")))
    hour, month = economics.local_hour_month(flows.hour_s, flows.timezone)
    d = data.load("carbon")
    tce_year = (float((factory + other).sum() + (heat_hp / cop).sum()) * fac.elec_tce_per_mwh
                + float(flows.gas_total_nm3.sum()) * fac.gas_tce_per_nm3) * HOURS_PER_YEAR / n
    notes = []
    if heat_q.sum() > heat_hp.sum() + 1e-9:
        boiler_heat = float((heat_q - heat_hp).sum())
        gas_per = float(flows.gas_total_nm3.sum()) / boiler_heat
    else:
        gas_per = MJ_PER_MWH / (boiler_eff * ncv)
    b0 = bats[0] if bats else {}
    return Profiles(
        price_cny_per_mwh=economics.hourly_prices(tariff, hour, month),
        month=np.asarray(month, dtype=int),
        wind_per_mw=gen_w / wind_mw if wind_mw > 0 else np.zeros(n),
        pv_per_mwp=gen_p / pv_mwp if pv_mwp > 0 else np.zeros(n),
        factory_mwh=factory, other_mwh=other, heat_mwh=heat_q, cop=cop,
        wind_mw=wind_mw, turbine_mw=turbine_mw, pv_mwp=pv_mwp,
        storage_mw=sum(float(b["p_max_mw"]) for b in bats),
        storage_mwh=sum(float(b["e_max_mwh"]) for b in bats),
        soc_min=float(b0.get("soc_min", 0.1)), soc_max=float(b0.get("soc_max", 0.9)),
        soc_init=float(b0.get("soc_init", 0.5)), eta_charge=float(b0.get("eta_charge", 0.95)),
        eta_discharge=float(b0.get("eta_discharge", 0.95)),
        hp_mw=hp_mw, heat_design_mw=design, gas_nm3_per_mwh=gas_per,
        grid_t_per_mwh=fac.grid_t_per_mwh, residual_t_per_mwh=fac.residual_t_per_mwh,
        grid_cfe_share=fac.grid_cfe_share, gas_t_per_nm3=fac.gas_t_per_nm3,
        elec_tce_per_mwh=fac.elec_tce_per_mwh, gas_tce_per_nm3=fac.gas_tce_per_nm3,
        core_max=core_threshold(tce_year)[0], clean_min=float(d["clean_share_min"]),
        direct_min=float(d["direct_line_consumed_min"]),
        export_price_cny_per_mwh=tariff.export_price_cny_per_mwh,
        demand_cny_per_kw_month=tariff.demand_charge_cny_per_kw_month,
        gas_cny_per_nm3=float(data.load("measures")["gas_price"]),
        gec_mwh=float(carbon.get("green_certificates_mwh", 0.0)),
        discount_rate=float(econ.get("discount_rate") or economics.default_discount_rate()),
        notes=tuple(notes))
