"""The EMS on the live state, in recommendation mode: a plan shown, nothing written to devices.

:class:`Advisor` holds the scenario's energy management system (:func:`twin.cosim.ems.build`,
the same LP, forecasts and tariff as a co-simulated run) and steps it with what the telemetry
measured: each plant's, factory's, EV hub's and other load's power, each battery's state of
charge. What it decides (each battery's setpoint, the import it plans) is a recommendation:
recorded in the history under ``ems.recommended`` and ``<battery>.recommended`` and shown on
the page, never sent. The EMS re-plans from the measured state of charge, so a
recommendation not followed does not mislead the next one.

A step's readings are the step's mean powers and the state of charge at its end; the
recommendation made when step ``t`` closes is for the next step (the state of charge at its
start measured, its powers taken as the step's before), and the history records it in the
row of the step it is for.

Steps before the first reading (telemetry that starts after the scenario's start) go into the
forecasters' history at the first step's measured values. Without a reading of every point it
needs (or with one stale) a step recommends nothing: ``missing`` says why.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from adapters.ems_sim import MEASURED  # the EMS's measured kinds, summed as in a run
from twin.core.results import RunWriter, SeriesInfo
from twin.cosim.world import FAMILIES
from twin.ems.controller import Measurement
from twin.live.checks import Said, say
from twin.scenario import Scenario

log = logging.getLogger(__name__)


@dataclass
class Recommendation:
    """What the EMS would do at one step (nothing is sent)."""

    t: int
    p_set_mw: dict[str, float] = field(default_factory=dict)  # > 0 charging
    p_import_plan_mw: float = math.nan
    status: str = ""
    replanned: bool = False
    missing: tuple[str, ...] = ()  # points not measured (or stale): no recommendation
    why: Said | None = None  # why nothing is recommended (None where something is)


class Advisor:
    """The scenario's EMS stepped on measured values, its decisions recommendations only."""

    def __init__(self, s: Scenario, background: bool = False) -> None:
        from twin.cosim import ems

        self.s = s
        self.step_s = int(s.period.step_s)
        self.kinds = {spec.name: kind for key, _, _, kind in FAMILIES
                      for spec in getattr(s, key) if kind in MEASURED}
        self.batteries = [b.name for b in s.batteries]
        self.needed = ([f"{n}.p_mw" for n in self.kinds]
                       + [f"{b}.soc" for b in self.batteries])
        self.ems = ems.build(s, background=background)
        self.last: Recommendation | None = None  # the latest: for the next step
        self.due: Recommendation | None = None  # for the step just closed
        self.n_recommended = 0

    def step(self, t: int, held: Mapping[str, float], stale: set[str]) -> Recommendation:
        """The recommendation for the step after ``t`` (s from the scenario's start), made
        from step ``t``'s readings."""
        self.due = self.last  # made at the step before: for this one
        t += self.step_s
        i = t // self.step_s
        missing = tuple(p for p in self.needed if p not in held or p in stale)
        if missing:
            rec = Recommendation(t, missing=missing,
                                 why=say("{x} not measured", x=", ".join(missing)))
        elif not 0 <= i < self.s.n_steps or i <= self.ems.history.i:
            rec = Recommendation(t, why=say("outside the scenario's period"))
        else:
            m = self._measurement(held)
            load = sum(m.factory_mw.values()) + m.other_mw
            while self.ems.history.i < i - 1:  # telemetry from later than the start
                self.ems.history.append(m.pv_mw, m.wind_mw, load)
            d = self.ems.step(i, m)
            rec = Recommendation(t, dict(d.p_storage_mw), d.import_plan_mw, d.status,
                                 d.replanned)
            self.n_recommended += 1
        self.last = rec
        return rec

    def plan(self) -> dict[str, Any] | None:
        """The plan in force: from which step (s from the scenario's start), and per step the
        forecasts it was made from (PV, wind, the load before EV charging and shifts), the
        storage's planned power
        (> 0 charging) and mean state of charge at the step's start, the planned import (MW);
        None before the first."""
        st = self.ems.state
        if st.plan is None or st.inputs is None:
            return None
        p, inp = st.plan, st.inputs
        return {"t0": st.start * self.step_s, "pv_mw": inp.pv_mw.tolist(),
                "wind_mw": inp.wind_mw.tolist(),
                "load_mw": (inp.load_mw + sum((sh.p_base_mw for sh in inp.shiftables),
                                              0.0)).tolist(),
                "storage_mw": p.p_storage_mw.sum(axis=1).tolist() if p.p_storage_mw.ndim == 2
                else p.p_storage_mw.tolist(),
                "soc": p.soc[:-1].mean(axis=1).tolist() if p.soc.ndim == 2 and p.soc.shape[1]
                else [], "import_mw": (p.p_import_mw - p.p_export_mw).tolist()}

    def _measurement(self, held: Mapping[str, float]) -> Measurement:
        sums = {"pv": 0.0, "wind": 0.0, "other": 0.0, "ev": 0.0}
        factory = {}
        for name, kind in self.kinds.items():
            if kind == "factory":
                factory[name] = held[f"{name}.p_mw"]
            else:
                sums[MEASURED[kind]] += held[f"{name}.p_mw"]
        return Measurement(pv_mw=sums["pv"], wind_mw=sums["wind"], other_mw=sums["other"],
                           ev_mw=sums["ev"], factory_mw=factory,
                           soc={b: held[f"{b}.soc"] for b in self.batteries},
                           ev_flex={n: None for n, k in self.kinds.items() if k == "ev"})

    # ------------------------------------------------------------------ the run file
    def series(self) -> dict[tuple[str, str], SeriesInfo]:
        out = {("ems.recommended", "p_import_plan_mw"): SeriesInfo(
                   "MW", "import the EMS plans for this step on the live state (a "
                   "recommendation made at the end of the step before)"),
               ("ems.recommended", "plan_optimal"): SeriesInfo(
                   "1", "1 where the recommendation is the LP's plan, 0 for the rule fallback"),
               ("ems.recommended", "replanned"): SeriesInfo(
                   "1", "1 where the EMS made a new plan", aggregation="sum")}
        for b in self.batteries:
            out[(f"{b}.recommended", "p_set_mw")] = SeriesInfo(
                "MW", "battery setpoint the EMS recommended for this step at the end of the "
                "step before, > 0 charging (not sent)")
        return out

    def groups(self) -> dict[str, dict[str, str]]:
        return {"ems.recommended": {"kind": "ems-recommended", "spec": "{}"},
                **{f"{b}.recommended": {"kind": "battery-recommended", "spec": "{}"}
                   for b in self.batteries}}

    def row(self, w: RunWriter) -> dict[int, float]:
        """The recommendation for the step just closed (made when the step before closed)."""
        rec = self.due
        if rec is None or rec.why:
            return {}
        out = {w.column(("ems.recommended", "p_import_plan_mw")): rec.p_import_plan_mw,
               w.column(("ems.recommended", "plan_optimal")):
                   float(not rec.status.startswith("fallback")),
               w.column(("ems.recommended", "replanned")): float(rec.replanned)}
        for b in self.batteries:
            out[w.column((f"{b}.recommended", "p_set_mw"))] = rec.p_set_mw.get(b, 0.0)
        return out
