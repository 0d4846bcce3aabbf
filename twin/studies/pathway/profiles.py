"""Hourly profiles for the pathway optimiser, read from ONE co-simulation of the base scenario.

Per MW installed: wind (per MW rated) and PV (per MWp DC); the loads as the run consumed them
(factories apart, for efficiency), the heat demand and the COP of each kind of heat pump hour
by hour, the network's losses, the storage and heat-supply ratings, and the accounting factors
of the run. The defaults of the scalar fields (factors, thresholds, storage and heat data) are
read from ``twin/data`` and the specs' own defaults (:func:`defaults`), not written here.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from twin import data
from twin.accounting import economics
from twin.accounting.carbon import factors, flows_from_run
from twin.accounting.carbon.criteria import HOURS_PER_YEAR, core_threshold
from twin.core.results import open_run
from twin.models.battery import BatterySpec
from twin.models.loads.heat import carnot_cop, windy
from twin.scenario import CarbonSection, Controller

MJ_PER_MWH = 3600.0


@functools.cache
def defaults() -> dict[str, Any]:
    """The scalar fields' defaults: the carbon factors of the scenario's default selection
    (``twin/data/carbon.yaml``), the national thresholds, a battery's and the heat supply's
    data (``twin/models/battery.py``, ``twin/data/heat.yaml``), the gas price
    (``twin/data/measures.yaml``) and the discount rate (``twin/data/costs.yaml``)."""
    carbon = CarbonSection()
    fac = factors(carbon.factor_year, carbon.region)
    d = data.load("carbon")
    bat = {f.name: f.default for f in dataclasses.fields(BatterySpec)}
    heat = data.load("heat")
    return {
        "soc_min": bat["soc_min"], "soc_max": bat["soc_max"], "soc_init": bat["soc_init"],
        "eta_charge": bat["eta_charge"], "eta_discharge": bat["eta_discharge"],
        "gas_nm3_per_mwh": MJ_PER_MWH / (float(heat["boiler_eff"])
                                         * float(heat["ncv_mj_nm3"])),
        "eboiler_eff": float(heat["eboiler_eff"]),
        "store_keep_per_h": (1.0 - float(heat["store_loss_per_day"])) ** (1.0 / 24.0),
        "grid_t_per_mwh": fac.grid_t_per_mwh, "residual_t_per_mwh": fac.residual_t_per_mwh,
        "grid_cfe_share": fac.grid_cfe_share, "gas_t_per_nm3": fac.gas_t_per_nm3,
        "elec_tce_per_mwh": fac.elec_tce_per_mwh, "gas_tce_per_nm3": fac.gas_tce_per_nm3,
        "core_max": core_threshold(0.0)[0], "clean_min": float(d["clean_share_min"]),
        "direct_min": float(d["direct_line_consumed_min"]),
        "gas_cny_per_nm3": economics.gas_price_cny_per_nm3(),
        "discount_rate": economics.default_discount_rate(),
    }


def _d(name: str) -> Any:
    return field(default_factory=lambda: defaults()[name])


@dataclass(frozen=True)
class Profiles:
    """What the LP needs of the park, hour by hour (MWh per hour = mean MW over the hour).

    Ratings default to nothing installed; every other scalar to :func:`defaults`."""

    price_cny_per_mwh: np.ndarray  # import price of each hour (tariff)
    month: np.ndarray  # local month of each hour (demand charge)
    wind_per_mw: np.ndarray  # wind generation per MW rated
    pv_per_mwp: np.ndarray  # PV generation per MWp DC
    factory_mwh: np.ndarray  # factories' electricity (the efficiency lever's base)
    other_mwh: np.ndarray  # EV, circulation pumps, other loads, network losses
    heat_mwh: np.ndarray  # heat demand (thermal)
    cop: np.ndarray  # geothermal heat pumps' COP (heat-weighted over the heat supplies)
    cop_air: np.ndarray | None = None  # air-source heat pumps' COP (0: too cold to run)
    cop_waste: np.ndarray | None = None  # waste-heat (water-source) heat pumps' COP
    ev_mwh: np.ndarray | None = None  # EV charging (part of other_mwh; smart charging's base)
    eboiler_on: np.ndarray | None = None  # hours the co-simulation's rule runs electric boilers
    eboiler_spare: bool = False  # electric boilers run on the park's spare power (no import)
    wind_mw: float = 0.0
    turbine_mw: float = 0.0  # rating of one turbine of the last wind farm
    pv_mwp: float = 0.0
    storage_mw: float = 0.0
    storage_mwh: float = 0.0
    soc_min: float = _d("soc_min")
    soc_max: float = _d("soc_max")
    soc_init: float = _d("soc_init")
    eta_charge: float = _d("eta_charge")
    eta_discharge: float = _d("eta_discharge")
    hp_mw: float = 0.0  # geothermal heat pumps installed (thermal)
    air_mw: float = 0.0  # air-source heat pumps installed (thermal)
    waste_mw: float = 0.0  # waste-heat recovery installed (thermal)
    eboiler_mw: float = 0.0  # electric boilers installed (electric)
    heat_store_mwh: float = 0.0  # heat stores installed
    heat_design_mw: float = 0.0  # the heat supplies' design load: heat pumps' ceiling
    flexible: bool = False  # the controller shifts loads (the EMS): flexibility can be offered
    flex_share: float = 0.0  # factories' shiftable share already (peak-weighted; EMS only)
    gas_nm3_per_mwh: float = _d("gas_nm3_per_mwh")  # gas per MWh of boiler heat
    eboiler_eff: float = _d("eboiler_eff")
    store_keep_per_h: float = _d("store_keep_per_h")  # share of stored heat kept an hour
    grid_t_per_mwh: float = _d("grid_t_per_mwh")
    residual_t_per_mwh: float = _d("residual_t_per_mwh")  # market-based Scope 2
    grid_cfe_share: float = _d("grid_cfe_share")  # carbon-free share of grid imports
    gas_t_per_nm3: float = _d("gas_t_per_nm3")
    elec_tce_per_mwh: float = _d("elec_tce_per_mwh")
    gas_tce_per_nm3: float = _d("gas_tce_per_nm3")
    core_max: float = _d("core_max")
    clean_min: float = _d("clean_min")
    direct_min: float = _d("direct_min")
    export_price_cny_per_mwh: float = 0.0
    demand_cny_per_kw_month: float = 0.0
    gas_cny_per_nm3: float = _d("gas_cny_per_nm3")
    gec_mwh: float = 0.0  # certificates the base scenario already buys
    discount_rate: float = _d("discount_rate")
    notes: tuple[str, ...] = field(default=())

    @property
    def air_cop(self) -> np.ndarray:
        """Air-source COP of each hour (zeros: none given)."""
        return np.zeros(self.n_hours) if self.cop_air is None else self.cop_air

    @property
    def waste_cop(self) -> np.ndarray:
        """Waste-heat COP of each hour (the geothermal COP where none is given)."""
        return self.cop if self.cop_waste is None else self.cop_waste

    @property
    def ev(self) -> np.ndarray:
        """EV charging of each hour (zeros: none)."""
        return np.zeros(self.n_hours) if self.ev_mwh is None else self.ev_mwh

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


def _controller(text: str | None) -> str:
    """The controller kind of a run's scenario text (the schema's default where unsaid)."""
    raw = yaml.safe_load(text) if text else None
    section = raw.get("controller") if isinstance(raw, dict) else None
    kind = section.get("kind") if isinstance(section, dict) else None
    return str(kind or Controller().kind)


def _weighted(num: np.ndarray, den: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.array(fallback, dtype=float), where=den > 0)


def from_run(path: str | Path) -> Profiles:
    """The profiles of a recorded run (its HDF5 file)."""
    params = data.load("heat")
    dflt = defaults()
    with open_run(path) as run:
        flows = flows_from_run(run)
        n = flows.n_hours
        k = 3600 // int(run.step_s)
        carbon = json.loads(run.meta.get("carbon") or "{}")
        econ = json.loads(run.meta.get("economics") or "{}")
        sel = CarbonSection()
        fac = factors(int(carbon.get("factor_year", sel.factor_year)),
                      str(carbon.get("region", sel.region)))
        winds = run.entities("wind")
        wind_mw = sum(float(run.spec(e)["p_rated_mw"]) for e in winds)
        turbine_mw = (float(run.spec(winds[-1])["p_rated_mw"])
                      / max(int(run.spec(winds[-1])["n_turbines"]), 1)) if winds else 0.0
        pv_mwp = sum(float(run.spec(e)["p_dc_mwp"]) for e in run.entities("pv"))
        bats = [run.spec(e) for e in run.entities("battery")]
        heat_q, pumps, cop_w, tsup_w = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
        boiler_mwh = 0.0
        rated = dict.fromkeys(("hp_q_max_mw", "ashp_q_max_mw", "waste_heat_q_max_mw",
                               "eboiler_mw", "store_mwh", "q_design_mw"), 0.0)
        for e in run.entities("heat"):
            spec = run.spec(e)
            for key in rated:
                rated[key] += float(spec.get(key) or 0.0)
            q = _hourly_mean(run.series(e, "q_heat_mw"), k, n)
            heat_q += q
            boiler_mwh += float(_hourly_mean(run.series(e, "q_boiler_mw"), k, n).sum())
            if run.has(e, "p_pump_mw"):
                pumps += _hourly_mean(run.series(e, "p_pump_mw"), k, n)
            cop_w += q * _hourly_mean(run.series(e, "cop"), k, n)
            if run.has(e, "t_supply_c"):
                tsup_w += q * _hourly_mean(run.series(e, "t_supply_c"), k, n)
        flexible = _controller(run.meta.get("scenario")) == "ems"
        own = data.load("loads_profiles")["flex_share"]
        peaks = [(float(s["p_peak_mw"]), own[s["kind"]] if s.get("flex_share") is None
                  else float(s["flex_share"]))
                 for s in (run.spec(e) for e in run.entities("factory")) if "p_peak_mw" in s]
        weather = run.entities("weather")
        temp = (_hourly_mean(run.series(weather[0], "temp_air_c"), k, n) if weather
                and run.has(weather[0], "temp_air_c") else None)
        wind = [_hourly_mean(run.series(weather[0], a), k, n) for a in
                ("wind_ms", "wind_height_m", "roughness_m")
                if weather and run.has(weather[0], a)]
    cop_max = max(float(c) for c in params["cop_curve_cop"])
    cop = _weighted(cop_w, heat_q, np.full(n, float(params["cop_curve_cop"][1])))
    t_sup = _weighted(tsup_w, heat_q, np.full(n, float(params["t_supply_dhw_c"])))
    cop_air = None
    if temp is not None:
        cop_air = carnot_cop(temp, t_sup, float(params["ashp_carnot_eff"]), cop_max)
        cop_air = np.where(temp >= float(params["ashp_min_air_c"]), cop_air, 0.0)
    cop_waste = carnot_cop(float(params["waste_heat_source_c"]), t_sup,
                           float(params["waste_heat_carnot_eff"]), cop_max)
    kinds = flows.kind
    factory = sum((v for e, v in flows.load_mwh.items() if kinds[e] == "factory"), np.zeros(n))
    ev = sum((v for e, v in flows.load_mwh.items() if kinds[e] == "ev"), np.zeros(n))
    other = sum((v for e, v in flows.load_mwh.items() if kinds[e] not in ("factory", "heat")),
                np.zeros(n))
    other = other + pumps + flows.grid_loss_mwh
    gen_w = flows.total(flows.wind_mwh)
    gen_p = flows.total(flows.pv_mwh)
    tariff = economics.tariff(str(econ.get("tariff", "liaoning-illustrative")))
    hour, month = economics.local_hour_month(flows.hour_s, flows.timezone)
    d = data.load("carbon")
    elec = sum(flows.load_mwh.values(), np.zeros(n)) + flows.grid_loss_mwh
    tce_year = (float(elec.sum()) * fac.elec_tce_per_mwh
                + float(flows.gas_total_nm3.sum()) * fac.gas_tce_per_nm3) * HOURS_PER_YEAR / n
    b0 = bats[0] if bats else {}
    gas = float(flows.gas_total_nm3.sum())
    gas_per = gas / boiler_mwh if boiler_mwh > 1e-9 and gas > 0 else dflt["gas_nm3_per_mwh"]
    return Profiles(
        price_cny_per_mwh=economics.hourly_prices(tariff, hour, month),
        month=np.asarray(month, dtype=int),
        wind_per_mw=gen_w / wind_mw if wind_mw > 0 else np.zeros(n),
        pv_per_mwp=gen_p / pv_mwp if pv_mwp > 0 else np.zeros(n),
        factory_mwh=factory, other_mwh=other, heat_mwh=heat_q, cop=cop, cop_air=cop_air,
        cop_waste=cop_waste, ev_mwh=ev,
        # with generation, the run's electric boilers take the park's spare power (the rule
        # controller's surplus); without, the windy hours
        eboiler_spare=bool(winds or pv_mwp > 0),
        eboiler_on=windy(*wind, params) if len(wind) == 3 and not (winds or pv_mwp > 0)
        else None,
        wind_mw=wind_mw, turbine_mw=turbine_mw, pv_mwp=pv_mwp,
        storage_mw=sum(float(b["p_max_mw"]) for b in bats),
        storage_mwh=sum(float(b["e_max_mwh"]) for b in bats),
        **{key: float(b0.get(key, dflt[key])) for key in ("soc_min", "soc_max", "soc_init",
                                                           "eta_charge", "eta_discharge")},
        hp_mw=rated["hp_q_max_mw"], air_mw=rated["ashp_q_max_mw"],
        waste_mw=rated["waste_heat_q_max_mw"], eboiler_mw=rated["eboiler_mw"],
        heat_store_mwh=rated["store_mwh"], heat_design_mw=rated["q_design_mw"],
        flexible=flexible, flex_share=(sum(a * b for a, b in peaks) / sum(a for a, _ in peaks)
                                       if flexible and peaks else 0.0),
        gas_nm3_per_mwh=gas_per,
        grid_t_per_mwh=fac.grid_t_per_mwh, residual_t_per_mwh=fac.residual_t_per_mwh,
        grid_cfe_share=fac.grid_cfe_share, gas_t_per_nm3=fac.gas_t_per_nm3,
        elec_tce_per_mwh=fac.elec_tce_per_mwh, gas_tce_per_nm3=fac.gas_tce_per_nm3,
        core_max=core_threshold(tce_year)[0], clean_min=float(d["clean_share_min"]),
        direct_min=float(d["direct_line_consumed_min"]),
        export_price_cny_per_mwh=tariff.export_price_cny_per_mwh,
        demand_cny_per_kw_month=tariff.demand_charge_cny_per_kw_month,
        gec_mwh=float(carbon.get("green_certificates_mwh", 0.0)),
        discount_rate=float(econ.get("discount_rate") or dflt["discount_rate"]))
