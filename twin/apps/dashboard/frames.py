"""What the page shows of one step, and the totals so far: shared by the live twin and replay.

- :class:`ParkView`: the scenario as the page sees it (entities and kinds, the single-line
  diagram, ratings, the criteria's thresholds).
- :class:`FrameBuilder`: one step's recorded values ``{(entity, attr): value}`` (what the
  recorder's observer gets, or a row of a run file) -> a small JSON-ready frame.
- :class:`Columns` and :class:`ColumnsRun`: the run so far in memory, readable like a
  :class:`twin.core.results.Run`, so the totals use the same code as a finished run:
  :func:`carbon_so_far` (:mod:`twin.accounting.carbon`: emissions, the national criteria, the clean
  share) and :func:`kpis_so_far` (:func:`twin.accounting.kpi.park_kpis`).
- :class:`ForecastTracker`: the EMS's forecaster on the live history: for each step the
  forecasts made 15 minutes and one hour before, and the next four hours.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import threading
import zoneinfo
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from twin.accounting.carbon import emissions, factors, flows_from_run, national_criteria
from twin.accounting.kpi import park_kpis
from twin.apps.dashboard.diagram import (
    Diagram,
    edge_flows,
    edge_loadings,
    layout,
    node_loadings,
    star,
)
from twin.apps.dashboard.history import request_step
from twin.apps.dashboard.truth import Supply, served
from twin.core.kinds import KIND_OF_LIST
from twin.scenario import Scenario

SeriesKey = tuple[str, str]
FORECAST_AHEAD = 16  # steps of the "next hours" forecast on the page
SHOWN_KPIS = ("e_wind_mwh", "e_pv_mwh", "e_load_mwh", "e_import_mwh", "e_export_mwh",
              "self_sufficiency", "self_consumption", "p_import_peak_mw", "storage_efc",
              "e_storage_discharge_mwh", "wind_capacity_factor", "gas_nm3", "e_shed_mwh",
              "e_curtailed_mwh")


EMS_SERIES = {"cap": "p_import_cap_mw", "baseline": "p_import_baseline_mw",
              "plan": "p_import_plan_mw", "asked": "vpp_asked_mw", "offered": "vpp_offered_mw"}


def _f(x: Any) -> float:
    """A recorded value as a float (0 where missing or not finite)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return 0.0
    return v if math.isfinite(v) else 0.0


def num(x: Any, digits: int = 3) -> float | None:
    """A JSON-safe rounded number (None for NaN, infinities and missing values)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return round(v, digits) if math.isfinite(v) else None


class ParkView:
    """The scenario as the page sees it."""

    def __init__(self, scenario: Scenario, kept: tuple[Diagram, Supply] | None = None,
                 rated_mw: Mapping[str, float] | None = None) -> None:
        """``kept``: the diagram and supply of this scenario's network worked out before
        (:mod:`twin.apps.dashboard.viewcache`), without which the network is built now;
        ``rated_mw``: the wind farms' rated power as a run file recorded it (else from
        their turbines' power curves)."""
        s = self.scenario = scenario
        self.kinds: dict[str, str] = {}
        for key, kind in KIND_OF_LIST.items():
            for spec in getattr(s, key):
                self.kinds[spec.name] = kind
        self.pcc = "grid" if s.grid is not None else "pcc"
        if kept is None:
            net = network_of(s)
            kept = (layout(net, self.kinds) if net is not None else star(self.kinds),
                    Supply(net))
        self.diagram: Diagram = kept[0]
        self.supply = kept[1]
        self.tz = zoneinfo.ZoneInfo(s.park.timezone)
        self.of_kind: dict[str, list[str]] = {}
        for name, kind in self.kinds.items():
            self.of_kind.setdefault(kind, []).append(name)
        self.batteries = {b.name: b for b in s.batteries}
        self.specs = {name: dataclasses.asdict(spec) for key in
                      ("pv_plants", "wind_farms", "batteries", "factory_loads", "ev_hubs",
                       "heat_supply", "aoi_lines") for spec in getattr(s, key)
                      for name in (spec.name,)}
        rated = dict(rated_mw or {})
        if any(w.name not in rated for w in s.wind_farms):
            from twin.models.turbines import power_curve  # windpowerlib, pvlib, scipy

            rated.update({w.name: power_curve(w.turbine_type).nominal_mw * w.n_turbines
                          for w in s.wind_farms if w.name not in rated})
        for w in s.wind_farms:  # the KPIs read the rated power, as the run file records it
            self.specs[w.name]["p_rated_mw"] = rated[w.name]

    def local(self, start_utc: dt.datetime, t_s: int) -> str:
        """Local clock time of ``t_s`` seconds after ``start_utc``."""
        return (start_utc + dt.timedelta(seconds=int(t_s))).astimezone(self.tz).strftime(
            "%Y-%m-%d %H:%M")

    def info(self) -> dict[str, Any]:
        """What the page needs once: names, kinds, ratings, the diagram."""
        s = self.scenario
        return {
            "park": s.park.name, "step_s": s.period.step_s, "timezone": s.park.timezone,
            "controller": s.controller.kind, "kinds": self.kinds,
            "diagram": self.diagram.as_json(), "lines": self.diagram.trippable(),
            "capacity": {"wind_mw": sum(self.specs[w]["p_rated_mw"] for w in
                                        self.of_kind.get("wind", [])),
                         "pv_mw": sum(p.p_ac_mw for p in s.pv_plants),
                         "storage_mwh": sum(b.e_max_mwh for b in s.batteries)},
            "aoi": [a.name for a in s.aoi_lines], "ev": [e.name for e in s.ev_hubs],
        }

    def meta(self, start_utc: dt.datetime) -> dict[str, Any]:
        """The ``/meta`` a run file of a run starting at ``start_utc`` would carry."""
        return {"start": start_utc.isoformat(), "timezone": self.scenario.park.timezone,
                "step_s": self.scenario.period.step_s}


def network_of(s: Scenario) -> Any:
    """The pandapower network of scenario ``s`` (``None`` without a grid)."""
    if s.grid is None:
        return None
    from twin.cosim import network  # pandapower: not for a replay whose view was kept

    return network.build_grid(s).net


class FrameBuilder:
    """One step's values -> the frame the page draws."""

    def __init__(self, view: ParkView, start_utc: dt.datetime) -> None:
        self.view, self.start_utc = view, start_utc

    def _sum(self, v: Mapping[SeriesKey, Any], kinds: tuple[str, ...], attr: str = "p_mw"
             ) -> float:
        total = 0.0
        for kind in kinds:
            for e in self.view.of_kind.get(kind, ()):
                x = v.get((e, attr))
                if x is not None and math.isfinite(x):
                    total += float(x)
        return total

    def frame(self, t: int, v: Mapping[SeriesKey, Any], seq: int = 0,
              active: Iterable[Any] = ()) -> dict[str, Any]:
        """The frame of the step at ``t`` (s from the run's start) from its recorded values;
        ``active``: the event windows in force in it (the lines tripped)."""
        view, pcc = self.view, self.view.pcc
        p = {e: num(v.get((e, "p_mw"))) for e in view.kinds}
        diagram = view.diagram
        windows = list(active)
        tripped = frozenset(w.event.line for w in windows if w.event.kind == "line_trip")
        islanded = bool(v.get((pcc, "islanded")) or 0.0)
        q, truth = served(p, view.kinds, view.supply.dead_share(tripped), islanded,
                          _f(v.get((pcc, "p_shed_mw"))), _f(v.get((pcc, "p_curtailed_mw"))),
                          _f(v.get((pcc, "p_loss_mw"))))
        lines = v.get((pcc, "line_p_from_mw"))
        flows = edge_flows(diagram, lines, {e: x or 0.0 for e, x in q.items()}, view.kinds,
                           float(v.get((pcc, "p_net_mw")) or 0.0))
        soc = {b: num(v.get((b, "soc"))) for b in view.batteries}
        e_mwh = self._sum(v, ("battery",), "e_mwh")
        e_max = sum(b.e_max_mwh for b in view.batteries.values())
        ghi = v.get(("weather", "ghi_w_m2"))
        of = view.of_kind
        ems = {k: num(v.get(("ems", a)), 2) for k, a in EMS_SERIES.items()}
        imp = v.get((pcc, "p_import_mw"))
        req = request_step(windows, ems, num(imp) if imp is not None
                           else max(_f(v.get((pcc, "p_net_mw"))), 0.0),
                           view.scenario.controller.kind == "ems")
        return {
            "seq": seq, "t": int(t), "time": view.local(self.start_utc, t),
            "wind": num(sum(q[e] or 0.0 for e in of.get("wind", ())), 2),
            "pv": num(sum(q[e] or 0.0 for e in of.get("pv", ())), 2),
            "load": num(truth["load"], 2), "demand": num(truth["demand"], 2),
            "storage": num(sum(q[e] or 0.0 for e in of.get("battery", ())), 2),
            "pcc": num(v.get((pcc, "p_net_mw")), 2), "shed": num(truth["shed"], 2),
            "losses": num(truth["losses"], 2), "curtailed": num(truth["curtailed"], 2),
            "islanded": islanded,
            "soc": soc, "soc_park": num(e_mwh / e_max) if e_max else None,
            "weather": {"ghi": num(ghi, 0), "temp": num(v.get(("weather", "temp_air_c")), 1),
                        "wind": num(v.get(("weather", "wind_ms")), 1)},
            "p": p, "q": {e: num(x) for e, x in q.items()}, "flows": [num(x, 2) for x in flows],
            "tripped": {i: n for i, e in enumerate(diagram.edges)
                        if (n := sum(1 for name in e.names if name in tripped))},
            "events": sorted({w.event.kind for w in windows}),
            "loading": [num(x, 1) for x in edge_loadings(diagram, v.get((pcc, "line_loading_pct")))],
            "node_loading": [num(x, 1) for x in node_loadings(
                diagram, v.get((pcc, "trafo_loading_pct")))],
            "loading_max": num(v.get((pcc, "line_loading_max_pct")), 1),
            "ev": {"connected": num(self._sum(v, ("ev",), "n_connected"), 0),
                   "arrivals": num(self._sum(v, ("ev",), "n_arrivals"), 0),
                   "p": num(sum(q[e] or 0.0 for e in of.get("ev", ())), 2),
                   "queued": num(self._sum(v, ("ev",), "n_queued"), 0),
                   "unserved": num(self._sum(v, ("ev",), "e_unserved_mwh"), 3)},
            "aoi": self._aoi(v),
            "ems": ems,
            "request": None if req is None else {k: num(x, 2) for k, x in req.items()},
        }

    def _aoi(self, v: Mapping[SeriesKey, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for attr in ("boards_out", "boards_rejected", "boards_defective", "throughput_per_h"):
            out[attr] = num(self._sum(v, ("aoi",), attr), 1)
        lines = self.view.of_kind.get("aoi", [])
        # a step without boards out has no yield or OEE (recorded as 0 beside producing = 0)
        producing = bool(lines) and v.get((lines[0], "producing"), 1) != 0
        out["fpy"] = num(v.get((lines[0], "fpy"))) if producing else None
        out["oee"] = num(v.get((lines[0], "oee"))) if producing else None
        return out


class Columns:
    """The scalar series of a run so far, in preallocated arrays (one writer thread; readers
    take :meth:`run` views, whose length is fixed when taken)."""

    def __init__(self, n_steps: int) -> None:
        self.capacity = max(int(n_steps), 1)
        self.time = np.zeros(self.capacity, dtype=np.int64)
        self.data: dict[SeriesKey, np.ndarray] = {}
        self.n = 0
        self._lock = threading.Lock()

    def append(self, t: int, values: Mapping[SeriesKey, Any]) -> None:
        """Add one step (vector values are skipped)."""
        i = self.n
        if i >= self.capacity:
            return
        for key, value in values.items():
            if isinstance(value, list | tuple | np.ndarray) or value is None:
                continue
            col = self.data.get(key)
            if col is None:
                with self._lock:
                    col = self.data[key] = np.full(self.capacity, np.nan)
            col[i] = value
        self.time[i] = t
        self.n = i + 1  # published after the values

    def run(self, view: ParkView, start_utc: dt.datetime, n: int | None = None) -> ColumnsRun:
        """The first ``n`` steps (default: all so far) as a run."""
        with self._lock:
            data = dict(self.data)
        return ColumnsRun(view, start_utc, self.time, data, self.n if n is None else n)


class ColumnsRun:
    """In-memory series read like a :class:`twin.core.results.Run` (what the accounts and KPIs
    read: step, time, meta, entities by kind, series, specs)."""

    def __init__(self, view: ParkView, start_utc: dt.datetime, time_s: np.ndarray,
                 data: Mapping[SeriesKey, np.ndarray], n: int) -> None:
        self.view, self.n = view, int(n)
        self.step_s = view.scenario.period.step_s
        self.time_s = time_s[: self.n]
        self.meta = view.meta(start_utc)
        self._data = data
        kinds = dict(view.kinds)
        kinds[view.pcc] = "pcc"
        self._kinds = kinds

    def entities(self, kind: str | None = None) -> list[str]:  # noqa: D102
        return [e for e, k in self._kinds.items() if kind is None or k == kind]

    def has(self, entity: str, attr: str) -> bool:  # noqa: D102
        return (entity, attr) in self._data

    def series(self, entity: str, attr: str) -> np.ndarray:  # noqa: D102
        col = self._data.get((entity, attr))
        return col[: self.n] if col is not None else np.full(self.n, np.nan)

    def spec(self, entity: str) -> dict[str, Any]:  # noqa: D102
        return self.view.specs.get(entity, {})


def carbon_so_far(run: Any, view: ParkView) -> dict[str, Any]:
    """Emissions and the national criteria of the run so far, as a finished run's assessment
    computes them (green certificates pro rata of the period elapsed)."""
    c = view.scenario.carbon
    if not len(run.time_s):
        return {}
    flows = flows_from_run(run)
    fac = factors(c.factor_year, c.region)
    elapsed = len(run.time_s) / max(view.scenario.n_steps, 1)
    em = emissions(flows, fac, gec_mwh=c.green_certificates_mwh * elapsed)
    criteria = national_criteria(flows, em, fac, c.inputs or None)
    return {
        "hours": int(flows.n_hours),
        "co2_t": num(em.total_location_t, 1), "co2_market_t": num(em.total_market_t, 1),
        "scope1_t": num(em.scope1_total_t, 1), "scope2_t": num(em.scope2_location_total_t, 1),
        "energy_tce": num(em.energy_total_tce, 1),
        "criteria": [{"key": k.key, "zh": k.name_zh, "en": k.name_en, "value": num(k.value, 4),
                      "threshold": k.threshold, "unit": k.unit, "comparison": k.comparison,
                      "met": k.met} for k in criteria if k.source == "computed"],
    }


def kpis_so_far(run: Any) -> list[dict[str, Any]]:
    """The run's KPIs so far (:func:`twin.accounting.kpi.park_kpis`), those the page shows."""
    if not len(run.time_s):
        return []
    k = park_kpis(run)
    return [{"key": key, "value": num(k[key].value, 4), "unit": k[key].unit,
             "doc": k[key].description} for key in SHOWN_KPIS if key in k]


def safe_json(obj: Any) -> str:
    """JSON text without NaN (the page's parser refuses it)."""
    return json.dumps(obj, separators=(",", ":"), allow_nan=False, default=_default)


def _default(x: Any) -> Any:
    if isinstance(x, np.generic):
        return num(x.item(), 6) if isinstance(x, np.floating) else x.item()
    raise TypeError(f"not JSON: {type(x).__name__}")


class ForecastTracker:
    """The scenario's EMS forecaster on the live history (what :func:`twin.cosim.ems.
    forecast_table` replays after a run): the load is the factories' without the EMS's
    shifts plus the heat supply and the AOI lines."""

    def __init__(self, view: ParkView, start_epoch_s: int, n_steps: int) -> None:
        from twin.cosim import ems as ems_setup
        from twin.ems import forecast

        s, park = view.scenario, view.scenario.park
        self.view = view
        self.forecaster = ems_setup.forecaster(s.controller.forecaster, s, start_epoch_s,
                                               n_steps + FORECAST_AHEAD + 1)
        self.history = forecast.park_history(
            s.pv_plants, s.wind_farms, s.factory_loads, park.latitude, park.longitude,
            park.altitude_m, park.timezone, start_epoch_s, n_steps, s.period.step_s,
            margin_steps=FORECAST_AHEAD + 1)
        self.made: dict[int, dict[str, list[float]]] = {}  # step -> target -> [15 min, 1 h]
        self.i = 0
        self.ok = True

    def actual(self, fb: FrameBuilder, v: Mapping[SeriesKey, Any]) -> tuple[float, float, float]:
        """(pv, wind, load) of one step as the forecaster sees them (MW)."""
        load = (fb._sum(v, ("factory",)) - fb._sum(v, ("factory",), "p_shift_mw")
                + fb._sum(v, ("heat", "aoi")))
        return fb._sum(v, ("pv",)), fb._sum(v, ("wind",)), load

    def step(self, fb: FrameBuilder, v: Mapping[SeriesKey, Any]) -> dict[str, Any]:
        """Take a step's values; return the forecasts of this step made before and the
        forecast of the next hours."""
        pv, wind, load = self.actual(fb, v)
        i = self.i
        self.i += 1
        before = self.made.pop(i, {})
        out: dict[str, Any] = {f"{t}_{h}": num(before[t][k], 2) if t in before else None
                               for t in ("pv", "wind", "load")
                               for k, h in ((0, "15min"), (1, "1h"))}
        if not self.ok:
            return out
        try:
            self.history.append(pv, wind, load)
            fc = self.forecaster.forecast(self.history, FORECAST_AHEAD)
        except (ValueError, IndexError):
            self.ok = False  # the history ran out (a run longer than planned): stop
            return out
        for target, values in fc.items():
            self.made.setdefault(i + 1, {}).setdefault(target, [math.nan, math.nan])[0] = \
                float(values[0])
            if len(values) > 3:
                self.made.setdefault(i + 4, {}).setdefault(target, [math.nan, math.nan])[1] = \
                    float(values[3])
        out["next"] = {t: [num(x, 2) for x in fc[t]] for t in fc}
        return out

