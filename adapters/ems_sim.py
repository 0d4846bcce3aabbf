"""mosaik adapter of the energy management system (:mod:`twin.ems.controller`).

One ``EMS`` entity takes the park's measurements as the other simulators' ``Outputs``
snapshots (one connection per simulator; the batteries' snapshot time-shifted: the SOC at the
start of the step) and sends its decisions to the other simulators' ``Control`` entities
(:mod:`adapters.base`), one signal per receiving simulator, so that each gets only commands
for its own entities (a Control entity refuses any other): ``storage_commands`` (battery
setpoints, acting in the same step) and ``load_commands`` (EV caps and load shifts, acting
one step later: a time-shifted connection). One recorded entity per controlled device keeps
the decision sent to it: ``BatteryCommand`` (``p_set_mw``), ``EVCommand`` (``p_limit_mw``)
and ``ShiftCommand`` (``p_shift_mw``), each named as the device's input it sets
(:data:`twin.ems.controller.COMMANDS`). The EMS model object is built by
:mod:`twin.cosim.world` and handed over as the simulator's ``ems`` parameter.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from mosaik_api_v3.types import InputData

from adapters.base import Attr, Model, TwinSimulator
from twin.core.quantities import pick
from twin.ems import controller
from twin.ems.controller import EMS, Measurement

INPUTS = (
    Attr("outputs", "", "snapshots of the PV, wind, loads and AOI simulators"),
    Attr("storage", "", "snapshot of the battery simulator at the start of the step"),
    Attr("grid_loss_mw", "MW", "the network's losses in the step before (from the grid's "
         "power flow; none with a lossless balance)"),
)
SIGNALS = (
    Attr("storage_commands", "", "{battery: {attr: value}} for the battery simulator's Control "
         "entity (this step)"),
    Attr("load_commands", "", "{EV hub or factory: {attr: value}} for the loads simulator's "
         "Control entity (next step)"),
)
MEASURED = {"pv": "pv", "wind": "wind", "factory": "factory", "ev": "ev", "heat": "other",
            "aoi": "other"}
# command model -> the decision it records and sends, and the signal that carries it
COMMANDS = dict(zip(("BatteryCommand", "EVCommand", "ShiftCommand"),
                    pick(controller.COMMANDS, "p_set_mw", "p_limit_mw", "p_shift_mw"),
                    strict=True))
SIGNAL_OF = {"BatteryCommand": "storage_commands", "EVCommand": "load_commands",
             "ShiftCommand": "load_commands"}


class EMSSim(TwinSimulator):
    """The EMS: measurements in, commands out."""

    MODELS = {
        "EMS": Model(("name", "kinds"), controller.OUTPUTS, INPUTS, signals=SIGNALS),
        **{m: Model(("name", "target"), (a,)) for m, a in COMMANDS.items()},
    }

    def setup(self, ems: EMS | None = None) -> None:
        if ems is None:
            raise TypeError("EMSSim needs the ems parameter (a twin.ems.controller.EMS)")
        self.ems = ems
        self.targets: dict[str, str] = {}

    def make_entity(self, model: str, eid: str, params: Mapping[str, Any]) -> Any:
        if model != "EMS":
            self.targets[eid] = str(params["target"])
            self.out[eid] = {COMMANDS[model].name: 0.0}
        else:
            self.kinds = {k: v for k, v in dict(params.get("kinds") or {}).items()
                          if v in MEASURED}
            self.out[eid] = {signal.name: {} for signal in SIGNALS}
        return model

    def _measurement(self, data: Mapping[str, Any]) -> Measurement:
        sums = {"pv": 0.0, "wind": 0.0, "other": 0.0, "ev": 0.0, "line_flex": 0.0,
                "line_held": 0.0}
        factory, flex, soc = {}, {}, {}
        for snapshot in data.get("outputs", {}).values():
            for eid, attrs in snapshot.items():
                kind = self.kinds.get(eid)
                if kind is None:
                    continue
                if kind == "factory":
                    factory[eid] = float(attrs["p_mw"])
                    continue
                sums[MEASURED[kind]] += float(attrs["p_mw"])
                if kind == "aoi":  # a line's flexibility and what a hold takes off now
                    sums["line_flex"] += float(attrs.get("p_flex_mw", 0.0))
                    sums["line_held"] += float(attrs.get("p_held_mw", 0.0))
                if kind == "ev":
                    flex[eid] = attrs.get("flex")
        for snapshot in data.get("storage", {}).values():
            soc.update({eid: float(a["soc"]) for eid, a in snapshot.items() if "soc" in a})
        losses = [float(v) for v in data.get("grid_loss_mw", {}).values()]
        return Measurement(pv_mw=sums["pv"], wind_mw=sums["wind"], other_mw=sums["other"],
                           ev_mw=sums["ev"], factory_mw=factory, soc=soc, ev_flex=flex,
                           line_flex_mw=sums["line_flex"], line_held_mw=sums["line_held"],
                           grid_loss_mw=sum(losses) if losses else math.nan)

    def step_entities(self, time: int, epoch_s: int, inputs: InputData) -> None:
        i = self.index(time)
        for eid, model in self.entities.items():
            if model != "EMS":
                continue
            d = self.ems.step(i, self._measurement(inputs.get(eid, {})))
            out = {"replanned": float(d.replanned),
                   "plan_optimal": float(not d.status.startswith("fallback")),
                   "solve_ms": d.solve_ms, "p_import_plan_mw": d.import_plan_mw,
                   "p_import_cap_mw": d.import_cap_mw,
                   "p_import_baseline_mw": d.import_baseline_mw,
                   "vpp_up_mw": d.up_mw, "vpp_down_mw": d.down_mw,
                   "vpp_asked_mw": d.asked_mw, "vpp_offered_mw": d.offered_mw}
            commands: dict[str, dict[str, dict[str, float]]] = {s.name: {} for s in SIGNALS}
            decided = {**d.p_storage_mw, **d.p_ev_limit_mw, **d.p_shift_mw}
            for cid, target in self.targets.items():
                model = self.entities[cid]
                attr = COMMANDS[model].name
                value = float(decided.get(target, 0.0))
                self.out[cid] = {attr: value}
                commands[SIGNAL_OF[model]][target] = {attr: value}
            out.update(commands)
            self.out[eid] = out
