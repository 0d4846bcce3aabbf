"""Scenario -> the energy management system's model object (:class:`twin.ems.controller.EMS`).

Everything the EMS knows in advance comes from here: clear-sky PV and working days for the
forecasts, the tariff's import price of every step, the expected EV arrivals, the flexible
share of each factory, the grid operator's requests, the value put on avoided emissions.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import zoneinfo
from collections.abc import Sequence

import numpy as np

from adapters.weather_sim import weather_and_nwp
from twin import data
from twin.accounting import economics
from twin.accounting.carbon import factors
from twin.core.results import KPI, Run
from twin.core.rng import generator
from twin.ems import dispatch, forecast, vpp
from twin.ems.controller import EMS, Flexible, Hub, Settings
from twin.models.events import Window, windows
from twin.models.loads import EVHub, ParkCalendar, ev_params
from twin.models.loads.factory import factory_params
from twin.scenario import Scenario

MIN_SKILL = 0.01  # wind's validation skill (+0.0 to +0.8 %) is within noise: not used
FORECASTERS = {
    "persistence": forecast.Persistence,
    "smart_persistence": forecast.SmartPersistence,
}


def forecaster(name: str, s: Scenario | None = None, epoch0_s: int | None = None,
               n_steps: int = 0) -> forecast.Forecaster:
    """The forecaster a scenario names (``learned`` loads the shipped weights; ``nwp`` is
    :class:`twin.ems.forecast.NWPWind` on the learned model, reading the weather simulator's
    NWP runs of scenario ``s`` for a history of ``n_steps`` from ``epoch0_s``, default the
    scenario's start)."""
    if name == "learned":  # its correction only where it beat smart persistence by > 1 %
        return dataclasses.replace(forecast.load_learned(), min_skill=MIN_SKILL)
    if name == "nwp":
        if s is None:
            raise ValueError("the nwp forecaster needs the scenario (its weather's NWP runs)")
        start = s.start_epoch_s if epoch0_s is None else int(epoch0_s)
        return forecast.NWPWind(nwp_power(s, start, max(n_steps, 1)),
                                base=forecaster("learned"))
    return FORECASTERS[name]()


def nwp_power(s: Scenario, epoch0_s: int, n_steps: int) -> forecast.NWPPower:
    """The wind power of the NWP runs that the weather simulator makes for scenario ``s``
    (:func:`adapters.weather_sim.weather_and_nwp`), on ``n_steps`` steps from ``epoch0_s``."""
    p, step = s.park, s.period.step_s
    params = {"source": s.weather.source, "site": s.weather.site, "latitude": p.latitude,
              "longitude": p.longitude, "seed": p.seed,
              "path": str(s.weather.path) if s.weather.path else None}
    aligned = epoch0_s >= s.start_epoch_s and (epoch0_s - s.start_epoch_s) % step == 0
    series, nwp = weather_and_nwp("weather", params, epoch0_s, n_steps, step,
                                  s.start_epoch_s if aligned else None)
    return forecast.nwp_wind_mw(nwp, s.wind_farms, epoch0_s, step, series.wind_height_m,
                                series.roughness_m, site=(p.latitude, p.longitude, p.altitude_m))


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
    )


def build(s: Scenario, events: Sequence[Window] | None = None, background: bool = False) -> EMS:
    """The EMS of scenario ``s``, ready to step from the run's first step.

    ``events``: the windows it answers (default: the scenario's events); a live
    :class:`twin.models.events.EventBook` grows while the run goes. ``background``: plans are
    made beside the steps, the plan in force kept until the new one is ready (real time).
    """
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
    ems = EMS(st, s.batteries, hubs, flexibles, history,
              forecaster(s.controller.forecaster, s, s.start_epoch_s, history.n),
              price, month, windows(s.events, s.start_utc, park.timezone, s.period.duration_s)
              if events is None else events)
    ems.background = background
    return ems


# --------------------------------------------------------------------------- after the run


def _total(run: Run, kinds: tuple[str, ...], attr: str = "p_mw") -> np.ndarray:
    n = len(run.time_s)
    return sum((run.series(e, attr) for k in kinds for e in run.entities(k)), np.zeros(n))


def forecast_table(run: Run, s: Scenario) -> np.ndarray:
    """The EMS's forecaster replayed on the recorded run: for each step, what it forecast for
    that step 15 minutes and one hour before, beside what happened (MW).

    Columns: pv, pv_15min, pv_1h, wind, wind_15min, wind_1h, load, load_15min, load_1h. The
    forecaster is causal, so this equals what it saw during the run (loads: factories without
    the EMS's shifts, plus the heat supply).
    """
    park, step = s.park, s.period.step_s
    n = len(run.time_s)
    load = _total(run, ("factory",)) - _total(run, ("factory",), "p_shift_mw") \
        if any(run.has(e, "p_shift_mw") for e in run.entities("factory")) \
        else _total(run, ("factory",))
    actual = {"pv": _total(run, ("pv",)), "wind": _total(run, ("wind",)),
              "load": load + _total(run, ("heat", "aoi"))}
    h = forecast.park_history(s.pv_plants, s.wind_farms, s.factory_loads, park.latitude,
                              park.longitude, park.altitude_m, park.timezone, s.start_epoch_s,
                              n, step, margin_steps=8)
    for row in zip(actual["pv"], actual["wind"], actual["load"], strict=True):
        h.append(*row)
    out = np.full((n, 9), np.nan)
    fc = forecaster(s.controller.forecaster, s, s.start_epoch_s, h.n).forecast_many(
        h, np.arange(n - 1), 4)
    for j, target in enumerate(forecast.TARGETS):
        out[:, 3 * j] = actual[target]
        out[1:, 3 * j + 1] = fc[target][:, 0]  # made at i - 1 for i
        out[4:, 3 * j + 2] = fc[target][:-3, 3]  # made at i - 4 for i
    return out


FORECAST_COLUMNS = ("pv", "pv_15min", "pv_1h", "wind", "wind_15min", "wind_1h", "load",
                    "load_15min", "load_1h")


def results(run: Run, s: Scenario) -> tuple[dict[str, KPI], list[dict], np.ndarray | None]:
    """KPIs of the controller, the answers to the grid operator's requests, the forecasts."""
    kpis: dict[str, KPI] = {}
    step = s.period.step_s
    dt_h = step / 3600.0
    backlog = sum(float(np.nansum(run.series(e, "p_shift_mw"))) * dt_h
                  for e in run.entities("factory") if run.has(e, "p_shift_mw"))
    ems = run.entities("ems")
    if ems:
        e = ems[0]
        replanned = run.series(e, "replanned") > 0.5
        solve = run.series(e, "solve_ms")[replanned]
        kpis["ems_replans"] = KPI(float(replanned.sum()), "1", "plans made by the EMS")
        kpis["ems_fallback_steps"] = KPI(float(np.sum(run.series(e, "plan_optimal") < 0.5)), "1",
                                         "steps run on the rule fallback plan")
        kpis["ems_plan_median_ms"] = KPI(float(np.median(solve)) if solve.size else 0.0, "ms",
                                         "median time of a re-plan (LP)")
        kpis["e_shift_backlog_mwh"] = KPI(backlog, "MWh", "load moved forward by the EMS and not "
                                          "yet given back at the end of the run")
    unserved = sum(float(np.nansum(run.series(e, "e_unserved_mwh"))) for e in run.entities("ev"))
    kpis["e_ev_unserved_mwh"] = KPI(unserved, "MWh", "EV energy wanted but not delivered")
    rows = responses(run, s)
    if rows:
        kpis["vpp_requests"] = KPI(float(len(rows)), "1", "grid operator's import cuts asked")
        kpis["vpp_requests_met"] = KPI(
            sum(r["answered"] == "yes" and r["shortfall_mw"] <= 0.5 for r in rows) / len(rows),
            "1", "share of the request windows with no shortfall")
        kpis["vpp_shortfall_max_mw"] = KPI(max(r["shortfall_mw"] for r in rows), "MW",
                                           "largest shortfall in any request window")
        taken = [r for r in rows if not r["answered"].startswith("no")]
        kpis["vpp_offers_held"] = KPI(
            sum(r["missed_mw"] <= 0.5 for r in taken) / len(rows), "1",
            "share of the request windows where the declared offer was held in every step")
    table = forecast_table(run, s) if ems else None
    if table is not None:
        for j, target in enumerate(forecast.TARGETS):
            cap = forecast.park_capacities(s.pv_plants, s.wind_farms, s.factory_loads).of(target)
            err = np.abs(table[:, 3 * j + 2] - table[:, 3 * j])
            if not np.isfinite(err).any():  # a run shorter than the horizon: no figure
                continue
            kpis[f"forecast_{target}_1h_nmae"] = KPI(float(np.nanmean(err)) / cap, "1",
                                                      f"{target} forecast 1 h ahead: mean "
                                                      "absolute error / capacity")
    return kpis, rows, table


def responses(run: Run, s: Scenario) -> list[dict]:
    """One row per demand-response window: the cut asked, the cut the EMS offered (declared
    when the request was received; less than asked where it could not be delivered, with the
    reason), delivered (mean over the window), missed (the largest gap below the offer in any
    step; no cut is asked below zero import) and the largest shortfall below the cut asked
    (MW)."""
    step = s.period.step_s
    wins = [w for w in windows(s.events, s.start_utc, s.park.timezone, s.period.duration_s)
            if w.event.kind == "demand_response"]
    pcc = run.entities("pcc")
    if not wins or not pcc:
        return []
    actual = run.series(pcc[0], "p_import_mw")
    ems = run.entities("ems")
    baseline = run.series(ems[0], "p_import_baseline_mw") if ems else None
    offered = run.series(ems[0], "vpp_offered_mw") if ems and run.has(
        ems[0], "vpp_offered_mw") else None
    storage_mw = sum(b.p_max_mw for b in s.batteries)
    rows = []
    for w in wins:
        asked = w.event.cut_import_mw
        req = vpp.Request(w.start_s, w.end_s, asked)
        a, b = w.start_s // step, -(-w.end_s // step)
        when = dt.datetime.fromtimestamp(s.start_utc.timestamp() + w.start_s,
                                         zoneinfo.ZoneInfo(s.park.timezone))
        row = {"event": w.label, "start": f"{when:%Y-%m-%d %H:%M}", "asked_mw": asked}
        if baseline is None or not np.isfinite(baseline[a:b]).all():
            row.update(offered_mw=0.0, delivered_mw=math.nan, missed_mw=0.0,
                       shortfall_mw=asked, energy_mwh=0.0,
                       answered="no: the rule controller does not take requests")
        else:
            base = np.where(np.isfinite(baseline), baseline, actual)
            r = vpp.response(req, base[a:b], actual[a:b], step, a * step)
            offer = float(np.min(offered[a:b])) if offered is not None else asked
            cut = base[a:b] - actual[a:b]
            row.update(offered_mw=offer, delivered_mw=r.delivered_mw,
                       missed_mw=float(np.max(np.maximum(np.minimum(offer, np.maximum(
                           base[a:b], 0.0)) - cut, 0.0))),
                       shortfall_mw=r.shortfall_mw, energy_mwh=r.energy_mwh,
                       answered="yes" if offer >= asked - 1e-9 else "infeasible: " +
                       vpp.limit_reason(asked, offer, storage_mw))
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- the bound


def foresight_inputs(run: Run, s: Scenario) -> dispatch.PlanInputs:
    """The EMS's LP over the whole recorded run with perfect foresight.

    The actual PV, wind and loads of ``run`` (a rule run: no shifts), the same storages,
    flexible factories, prices (the tariff and the scenario's price signals), demand charge
    (one peak per local month), carbon value, 绿电直连 share and charging limit as the EMS
    (:func:`build`). EV charging and the network's losses stay as recorded, in the
    inflexible load: ``load = import - export + (pv + wind - curtailed) - storage - flexible``.
    The shifts are energy-neutral within each day (the EMS makes them up within its
    horizon); storage starts at ``soc_init``.
    """
    ems = build(s)  # the EMS's own prices (price signals added), settings and flexibles
    st, n = ems.s, min(len(run.time_s), s.n_steps)

    def series(e: str, attr: str) -> np.ndarray:
        return run.series(e, attr)[:n] if run.has(e, attr) else np.zeros(n)

    def total(kind: str) -> np.ndarray:
        return sum((series(e, "p_mw") for e in run.entities(kind)), np.zeros(n))

    pcc = run.entities("pcc")[0]
    pv, wind = total("pv"), total("wind")
    flexible = {f.name: f.flex_share for f in ems.flexibles}
    base = {e: series(e, "p_mw") - series(e, "p_shift_mw") for e in run.entities("factory")
            if e in flexible}
    net = series(pcc, "p_import_mw") - series(pcc, "p_export_mw")
    load = net + pv + wind - series(pcc, "p_curtailed_mw") - total("battery") \
        - sum(base.values(), np.zeros(n))
    total = np.maximum(load, 0.0) + sum(base.values(), np.zeros(n))
    return dispatch.PlanInputs(
        dt_h=st.dt_h, pv_mw=pv, wind_mw=wind, load_mw=np.maximum(load, 0.0),
        price_import_cny_per_mwh=ems.price[:n],
        price_export_cny_per_mwh=st.price_export_cny_per_mwh,
        storages=ems.storages, soc0=np.array([b.soc_init for b in s.batteries]),
        shiftables=tuple(dispatch.Shiftable(k, v, flexible[k], flexible[k],
                                            neutral_steps=86400 // s.period.step_s)
                         for k, v in base.items()),
        import_limit_mw=st.import_limit_mw, export_limit_mw=st.export_limit_mw,
        demand_charge_cny_per_mw=st.demand_charge_cny_per_mw, month=ems.local_month[:n],
        direct_min_share=st.direct_min_share, carbon_price_cny_per_t=st.carbon_price_cny_per_t,
        grid_factor_t_per_mwh=st.grid_factor_t_per_mwh,
        charge_limit_mw=None if st.grid_charging else np.maximum(pv + wind - total, 0.0))


def foresight(run: Run, s: Scenario, time_limit_s: float = 600.0) -> dispatch.Plan:
    """The perfect-foresight dispatch of the recorded run (:func:`foresight_inputs`)."""
    return dispatch.plan(foresight_inputs(run, s), time_limit_s=time_limit_s, method="ipm")
