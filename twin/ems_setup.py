"""Scenario -> the energy management system's model object (:class:`twin.ems.controller.EMS`).

Everything the EMS knows in advance comes from here: clear-sky PV and working days for the
forecasts, the tariff's import price of every step, the expected EV arrivals, the flexible
share of each factory, the grid operator's requests, the value put on avoided emissions.
"""

from __future__ import annotations

import math

import numpy as np

from twin import data, economics
from twin.carbon import factors
from twin.ems import forecast
from twin.ems.controller import EMS, Flexible, Hub, Settings
from twin.events import windows
from twin.loads import EVHub, ParkCalendar, ev_params
from twin.loads.factory import factory_params
from twin.rng import generator
from twin.scenario import Scenario

FORECASTERS = {
    "persistence": forecast.Persistence,
    "smart_persistence": forecast.SmartPersistence,
}


def forecaster(name: str) -> forecast.Forecaster:
    """The forecaster a scenario names (``learned`` loads the shipped weights)."""
    if name == "learned":
        return forecast.load_learned()
    return FORECASTERS[name]()


def settings(s: Scenario) -> Settings:
    """Horizon, re-plan interval, prices and limits of the scenario's EMS."""
    c, step = s.controller, s.period.step_s
    tariff = economics.tariff(s.economics.tariff)
    price = c.carbon_price_cny_per_t
    if price is None:
        price = float(data.load("ems")["carbon_price_cny_per_t"])
    return Settings(
        step_s=step, replan_steps=c.replan // step, horizon_steps=c.horizon // step,
        price_export_cny_per_mwh=tariff.export_price_cny_per_mwh,
        demand_charge_cny_per_mw=tariff.demand_charge_cny_per_kw_month * 1000.0,
        carbon_price_cny_per_t=float(price),
        grid_factor_t_per_mwh=factors(s.carbon.factor_year, s.carbon.region).grid_t_per_mwh,
        direct_min_share=float(data.load("carbon")["direct_line_consumed_min"]),
        export_limit_mw=c.export_limit_mw or math.inf,
        import_limit_mw=c.import_limit_mw or math.inf,
    )


def build(s: Scenario) -> EMS:
    """The EMS of scenario ``s``, ready to step from the run's first step."""
    st = settings(s)
    park, step = s.park, s.period.step_s
    n = s.n_steps + st.horizon_steps + 1
    epoch = s.start_epoch_s + step * np.arange(n, dtype=np.int64)
    history = forecast.park_history(s.pv_plants, s.wind_farms, s.factory_loads, park.latitude,
                                    park.longitude, park.altitude_m, park.timezone,
                                    s.start_epoch_s, s.n_steps, step,
                                    margin_steps=st.horizon_steps + 1)
    hour, month = economics.local_hour_month(epoch, park.timezone)
    price = economics.hourly_prices(economics.tariff(s.economics.tariff), hour, month)
    years = range(int(str(np.datetime64(int(epoch[0]), "s").astype("datetime64[Y]"))),
                  int(str(np.datetime64(int(epoch[-1]), "s").astype("datetime64[Y]"))) + 1)
    calendar = ParkCalendar(timezone=park.timezone, years=years)
    hubs = []
    for spec in s.ev_hubs:
        hub = EVHub(spec, calendar, generator(park.seed, f"ems:{spec.name}"))
        e_mean = (spec.e_mean_kwh or ev_params(spec.kind)["e_mean_kwh"]) / 1000.0
        arrivals = np.array([hub.expected_arrivals(int(t), step) for t in epoch]) * e_mean
        hubs.append(Hub(spec.name, hub.p_max_mw, hub.p_charger_mw, arrivals))
    flexibles = [Flexible(f.name, share) for f in s.factory_loads
                 if (share := f.flex_share if f.flex_share is not None
                     else factory_params(f.kind).flex_share) > 0]
    return EMS(st, s.batteries, hubs, flexibles, history, forecaster(s.controller.forecaster),
               price, month, windows(s.events, s.start_utc, park.timezone, s.period.duration_s))
