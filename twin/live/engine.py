"""The live twin's step: telemetry in, the models on measured inputs, expected against measured.

:class:`LiveEngine` takes readings one at a time (:meth:`LiveEngine.feed`: tag, UTC unix
seconds, value in the tag's unit). Readings fall into steps of the scenario's length; the first
reading of a later step closes the step before (:meth:`LiveEngine.close_step`), or the
step closes as soon as every tag that came in the step before has come in, which

- holds each tag's last reading and marks a tag stale when its last update is older than the
  mapping's ``stale_after`` (telemetry time, so a recorded day played at any speed gives the
  same answer);
- runs the models on what was measured: the measured weather through the PV and wind models
  (:func:`twin.models.pv.pv_power`, :func:`twin.models.wind.wind_power`), each battery's
  measured power through its energy count (:func:`twin.models.battery.step`);
- hands measured and expected to the :class:`twin.live.checks.Detector`, which raises the
  typed alarms;
- appends the step to the run file, in a simulated run's layout (:mod:`twin.core.results`):
  the measured values under the entities' own names (``/series/pv/p_mw``), the twin's under
  ``<entity>.twin`` (as ``twin hil`` records an entity's simulated twin), each tag's stale flag
  under ``telemetry``, and the alarms as the table ``/live/alarms``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from adapters.pv_sim import CELL_WIND_HEIGHT_M
from twin.core.results import RunWriter, SeriesInfo, finish, write_table
from twin.cosim.world import FAMILIES
from twin.cosim.world import _meta as run_meta
from twin.cosim.world import _recorded_spec as recorded_spec
from twin.live.advise import Advisor
from twin.live.checks import Alarm, Detector, Limits, Role, Step
from twin.live.grid import GridEstimator
from twin.live.mapping import Telemetry, catalogue
from twin.models import battery, pv, wind
from twin.models.turbines import power_curve
from twin.models.weather import site_climate
from twin.scenario import Scenario

log = logging.getLogger(__name__)

PV_INPUTS = ("ghi_w_m2", "dni_w_m2", "dhi_w_m2", "temp_air_c", "wind_ms")
WIND_INPUTS = ("wind_ms", "temp_air_c", "pressure_pa")


class LiveEngine:
    """The twin kept in step with a park's telemetry.

    Parameters
    ----------
    scenario : Scenario
        The park (its entities, site and step; its start is the time origin of the file).
    telemetry : Telemetry
        The validated mapping (:func:`twin.live.mapping.load`).
    path : path, optional
        The run file to append to (none: keep nothing but the alarms).
    limits : Limits, optional
        Bands and windows of the alarms (default: ``twin/data/live_alarms.yaml``).
    background_estimation : bool
        Run the grid's state estimation (and the EMS's plans) in its own thread while the
        steps go on.
    recommend : bool, optional
        Step the scenario's EMS on the live state, its decisions recorded as recommendations
        (:class:`twin.live.advise.Advisor`; default: when the scenario's controller is the EMS).
    """

    def __init__(self, scenario: Scenario, telemetry: Telemetry, path: Path | None = None,
                 limits: Limits | None = None, background_estimation: bool = False,
                 recommend: bool | None = None) -> None:
        self.s = scenario
        self.tm = telemetry
        self.step_s = int(scenario.period.step_s)
        self.start_epoch_s = scenario.start_epoch_s
        self.kinds = {spec.name: kind for key, _, _, kind in FAMILIES
                      for spec in getattr(scenario, key)}
        self.specs = {spec.name: spec for key, *_ in FAMILIES for spec in getattr(scenario, key)}
        self._point = {t.tag: telemetry.point_of(t) for t in telemetry.all_tags}
        self.points = set(self._point.values())
        self.t0: int | None = None  # the first step
        self.detector = Detector({**{t.point: self._role(t.entity) for t in telemetry.tags},
                                  **{telemetry.point_of(v): Role("voltage", 0.0)
                                     for v in telemetry.voltages}}, limits)
        self.grid = GridEstimator(scenario, telemetry, background=background_estimation) \
            if telemetry.voltages else None
        if recommend is None:
            recommend = scenario.controller.kind == "ems"
        self.advisor = Advisor(scenario, background=background_estimation) if recommend \
            else None
        self.observers: list[Callable[[dict[str, Any], list[Alarm]], None]] = []
        climate = site_climate(scenario.weather.site)
        self.met = {"wind_height_m": climate.wind_height_m if scenario.weather.source ==
                    "synthetic" else climate.met_wind_height_m,
                    "roughness_m": climate.roughness_m}
        self.pv_names = [n for n, k in self.kinds.items() if k == "pv" and f"{n}.p_mw" in
                         self.points]
        self.fleet = pv.PVFleet.of([self.specs[n] for n in self.pv_names]) \
            if self.pv_names else None
        self.curves = {n: power_curve(self.specs[n].turbine_type) for n, k in self.kinds.items()
                       if k == "wind" and f"{n}.p_mw" in self.points}
        self.batteries = [n for n, k in self.kinds.items() if k == "battery"
                          and {f"{n}.p_mw", f"{n}.soc"} <= self.points]
        self.energy: dict[str, battery.BatteryState] = {}
        self.t: int | None = None  # the open step (s from the scenario start)
        self.closed_t: int | None = None  # the last step closed
        self.closed_at: dict[int, float] = {}  # step -> when it closed (time.monotonic())
        self._expect: set[str] = set()
        self.fresh: dict[str, float] = {}
        self.held: dict[str, float] = {}
        self.seen: dict[str, int] = {}
        self.prev: dict[str, float] = {}  # the last step's readings
        self.n_steps = 0
        self.n_late = 0
        self.n_refused = 0  # readings outside a quantity's physical bounds (twin check's)
        self.last: dict[str, Any] = {}  # the last closed step: measured, expected, stale
        self.writer = self._writer(path) if path is not None else None
        self.path = path
        self._refused: set[str] = set()

    # ------------------------------------------------------------------ readings in
    def feed(self, tag: str, t_epoch_s: float, value: float) -> list[Alarm]:
        """One reading of ``tag`` at ``t_epoch_s`` (UTC unix seconds) in the tag's unit; the
        alarms a step it closed raised."""
        point = self._point.get(tag)
        if point is None or not math.isfinite(value):
            return []
        twin_value = self.tm.to_twin(tag, float(value))
        if not _plausible(point, twin_value):  # refused, said once per tag; the twin goes on
            self.n_refused += 1
            if tag not in self._refused:
                log.warning("%s: %g outside the physical bounds of %s; reading refused",
                            tag, twin_value, point)
            self._refused.add(tag)
            return []
        t = int((t_epoch_s - self.start_epoch_s) // self.step_s) * self.step_s
        if self.closed_t is not None and t <= self.closed_t:
            self.n_late += 1  # a reading of a step already closed: too late to count
            return []
        raised: list[Alarm] = []
        if self.t is not None and t > self.t:
            raised = self.close_step()
        self.t = t
        self.fresh[point] = twin_value
        self.seen[point] = t
        if self._expect and self._expect <= self.fresh.keys():  # the step is whole: now
            raised += self.close_step()
        return raised

    def close_step(self) -> list[Alarm]:
        """Close the open step: models, checks, the row of the run file; the alarms raised."""
        if self.t is None:
            return []
        t = self.t
        self.held.update(self.fresh)
        self.t0 = t if self.t0 is None else self.t0
        stale = {p for p in self.points
                 if t - self.seen.get(p, self.t0) > self.tm.source.stale_after}
        expected = self._expected(t, stale)
        bad: list[Alarm] = []
        if self.grid is not None and self.n_steps % self.grid.every == 0:
            bad = self.grid.estimate(t, self.held, self.fresh, stale)
        weather_t = self.held.get("weather.temp_air_c", math.nan)
        raised = self.detector.step(Step(t=t, fresh=dict(self.fresh), stale=stale,
                                         expected=expected, temp_air_c=weather_t))
        self.detector.alarms.extend(bad)
        raised += bad
        if self.advisor is not None:
            self.advisor.step(t, self.held, stale)
        self.last = {"t": t, "measured": dict(self.held), "expected": expected,
                     "stale": sorted(stale)}
        self._record(t, expected, stale)
        for observer in self.observers:  # the page: each step as it closes
            observer(self.last, raised)
        self.prev = dict(self.fresh)
        self._expect = set(self.fresh)  # what came in this step: the next is whole with it
        self.fresh = {}
        self.n_steps += 1
        self.t, self.closed_t = None, t
        self.closed_at[t] = time.monotonic()
        return raised

    def close(self) -> Path | None:
        """Close the open step and the run file (complete, with the alarms table)."""
        self.close_step()
        if self.grid is not None:
            self.detector.alarms.extend(self.grid.close())
        if self.writer is None or self.path is None:
            return None
        self.writer.close(publish=False)
        self.writer = None
        rows = [{"kind": a.kind, "point": a.point, "start_s": float(a.start_s),
                 "raised_s": float(a.raised_s), "detail": a.detail}
                for a in self.detector.alarms]
        finish(self.path, lambda target: write_table(
            target, "live/alarms", rows, "alarms of the live twin: kind, point, first deviant "
            "step and the step it was raised (s from the scenario start), what was seen"))
        return self.path

    # ------------------------------------------------------------------ the models
    def _expected(self, t: int, stale: set[str]) -> dict[str, float]:
        w = {a: self.held[f"weather.{a}"] for a in (*PV_INPUTS, "pressure_pa")
             if f"weather.{a}" in self.held and f"weather.{a}" not in stale}
        w.update({a: self.held.get(f"weather.{a}", v) for a, v in self.met.items()})
        out: dict[str, float] = {}
        epoch = self.start_epoch_s + t
        if self.fleet is not None and all(a in w for a in PV_INPUTS):
            park = self.s.park
            sun = pv.sun_position(float(epoch), park.latitude, park.longitude, park.altitude_m,
                                  dt_s=self.step_s)
            n = len(self.pv_names)
            wind_10m = wind.wind_at_height(w["wind_ms"], w["wind_height_m"],
                                           CELL_WIND_HEIGHT_M, w["roughness_m"])
            got = pv.pv_power(self.fleet, sun, *(np.full(n, w[a]) for a in PV_INPUTS[:4]),
                              np.full(n, float(wind_10m)))
            out.update({f"{name}.p_mw": float(p) for name, p in zip(self.pv_names, got.p_mw,
                                                                      strict=True)})
        if all(a in w for a in WIND_INPUTS):
            for name, curve in self.curves.items():
                got = wind.wind_power(self.specs[name], curve, w["wind_ms"], w["wind_height_m"],
                                      w["roughness_m"], w["temp_air_c"], w["pressure_pa"])
                out[f"{name}.p_mw"] = float(got.p_mw)
        for name in self.batteries:
            out.update(self._battery(name, stale))
        return out

    def _battery(self, name: str, stale: set[str]) -> dict[str, float]:
        """The battery's energy count from its measured power, anchored at its first measured
        state of charge; the one-step fits for the sign check."""
        spec = self.specs[name]
        soc_p, p_p = f"{name}.soc", f"{name}.p_mw"
        if soc_p not in self.fresh or p_p not in self.fresh or {soc_p, p_p} & stale:
            return {}
        soc, p = self.fresh[soc_p], self.fresh[p_p]
        if name not in self.energy:
            self.energy[name] = battery.BatteryState(e_mwh=soc * spec.e_max_mwh)
            return {soc_p: soc}
        self.energy[name], done = battery.step(spec, self.energy[name], p, self.step_s)
        before = self.prev.get(soc_p)
        if before is not None:
            start = battery.BatteryState(e_mwh=before * spec.e_max_mwh)
            predicted = battery.step(spec, start, p, self.step_s)[1].soc
            fit = abs(soc - predicted)
            flip = abs(soc - battery.step(spec, start, -p, self.step_s)[1].soc)
            self.detector.fits(soc_p, fit, flip)
            self.detector.moved(soc_p, predicted - before, soc - before)
        return {soc_p: done.soc}

    def _role(self, entity: str) -> Role:
        spec = self.specs.get(entity)
        kind = self.kinds.get(entity) or ("weather" if entity == "weather" else "pcc")
        rating = 0.0
        if kind == "pv":
            rating = spec.p_ac_mw
        elif kind == "wind":
            rating = power_curve(spec.turbine_type).nominal_mw * spec.n_turbines
        elif kind == "battery":
            rating = spec.p_max_mw
        elif kind == "factory":
            rating = spec.p_peak_mw
        return Role(kind, rating)

    # ------------------------------------------------------------------ the run file
    def _writer(self, path: Path) -> RunWriter:
        known = catalogue(self.s)
        series: dict[tuple[str, str], SeriesInfo] = {}
        entities: dict[str, dict[str, Any]] = {}
        for tag in self.tm.tags:
            q = known[tag.entity][tag.attr]
            series[(tag.entity, tag.attr)] = SeriesInfo(
                q.unit, f"measured ({tag.tag}): {q.doc}", aggregation=q.agg)
            entities[tag.entity] = self._group(tag.entity)
        twin = [*(f"{n}.p_mw" for n in self.pv_names), *(f"{n}.p_mw" for n in self.curves),
                *(f"{n}.soc" for n in self.batteries)]
        for point in twin:
            entity, _, attr = point.rpartition(".")
            q = known[entity][attr]
            series[(f"{entity}.twin", attr)] = SeriesInfo(
                q.unit, f"the twin's {q.doc}, from the measured inputs", aggregation=q.agg)
            entities[f"{entity}.twin"] = {**self._group(entity),
                                          "kind": f"{self.kinds[entity]}-twin"}
        for tag in self.tm.all_tags:
            series[("telemetry", self.tm.point_of(tag))] = SeriesInfo(
                "1", f"1 while the tag {tag.tag} is stale (its value held)")
        for part in (self.grid, self.advisor):
            if part is not None:
                series.update(part.series())
                entities.update(part.groups())
        entities["telemetry"] = {"kind": "telemetry", "spec": "{}"}
        self._twin_points = twin
        meta = {**run_meta(self.s), "mode": "live", "n_steps": 0,
                "telemetry": str(self.tm.path)}
        return RunWriter(path, meta, series, entities, chunk_steps=96, flush_s=2.0)

    def _group(self, entity: str) -> dict[str, Any]:
        spec = self.specs.get(entity)
        kind = self.kinds.get(entity) or ("weather" if entity == "weather" else "pcc")
        recorded = recorded_spec(kind, dataclasses.asdict(spec)) if spec else {}
        return {"kind": kind, "spec": json.dumps(recorded, default=str)}

    def _record(self, t: int, expected: dict[str, float], stale: set[str]) -> None:
        if self.writer is None:
            return
        w = self.writer
        values: dict[int, Any] = {}
        for tag in self.tm.tags:
            if tag.point in self.held:
                values[w.column((tag.entity, tag.attr))] = self.held[tag.point]
        for tag in self.tm.all_tags:
            point = self.tm.point_of(tag)
            values[w.column(("telemetry", point))] = float(point in stale)
        if self.grid is not None:
            values.update(self.grid.row(w, self.held))
        if self.advisor is not None:
            values.update(self.advisor.row(w))
        for point in self._twin_points:
            if point in expected:
                entity, _, attr = point.rpartition(".")
                values[w.column((f"{entity}.twin", attr))] = expected[point]
        w.append(t, values)


def _plausible(point: str, value: float) -> bool:
    """A reading within the physical bounds ``twin check`` holds a weather file to
    (:data:`twin.models.weather_io.PHYSICAL`; a temperature in kelvin, a pressure in hPa fail)."""
    from twin.models.weather_io import PHYSICAL

    entity, _, attr = point.partition(".")
    bounds = PHYSICAL.get(attr) if entity == "weather" else None
    return bounds is None or bounds[0] <= value <= bounds[1]
