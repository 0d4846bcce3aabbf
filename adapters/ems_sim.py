"""mosaik adapter of the energy management system (:mod:`twin.ems.controller`).

One ``EMS`` entity takes the park's measurements as the other simulators' ``Outputs``
snapshots (one connection per simulator; the batteries' snapshot time-shifted: the SOC at the
start of the step) and sends its decisions as one ``commands`` signal to the other simulators'
``Control`` entities (:mod:`adapters.base`): battery setpoints act in the same step, EV caps
and load shifts one step later (a time-shifted connection). One recorded entity per
controlled device keeps the decision sent to it: ``BatteryCommand`` (``p_set_mw``),
``EVCommand`` (``p_limit_mw``) and ``ShiftCommand`` (``p_shift_mw``). The EMS model object is
built by :mod:`twin.cosim.world` and handed over as the simulator's ``ems`` parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mosaik_api_v3.types import InputData

from adapters.base import Attr, Model, TwinSimulator
from twin.ems.controller import EMS, Measurement

INPUTS = (
    Attr("outputs", "", "snapshots of the PV, wind, loads and AOI simulators"),
    Attr("storage", "", "snapshot of the battery simulator at the start of the step"),
)
SIGNALS = (Attr("commands", "", "{entity: {attr: value}} for the simulators' Control entities"),)
MEASURED = {"pv": "pv", "wind": "wind", "factory": "factory", "ev": "ev", "heat": "other",
            "aoi": "other"}
OUTPUTS = (
    Attr("replanned", "1", "1 where the EMS made a new plan"),
    Attr("plan_optimal", "1", "1 where the plan in force is the LP's, 0 for the rule fallback"),
    Attr("solve_ms", "ms", "time of the re-plan (forecast and LP), 0 without one"),
    Attr("p_import_plan_mw", "MW", "import the plan expects in this step"),
    Attr("p_import_cap_mw", "MW", "import cap of a grid operator's request (NaN: none)"),
    Attr("p_import_baseline_mw", "MW", "import on the plan without the request, measured "
         "demand (NaN: none)"),
    Attr("vpp_up_mw", "MW", "import reduction the park's storage can hold for an hour"),
    Attr("vpp_down_mw", "MW", "consumption increase the park's storage can hold for an hour"),
)
COMMANDS = {
    "BatteryCommand": Attr("p_set_mw", "MW", "battery setpoint for this step, > 0 charging"),
    "EVCommand": Attr("p_limit_mw", "MW", "EV hub power cap for the next step"),
    "ShiftCommand": Attr("p_shift_mw", "MW", "factory load shift for the next step"),
}


class EMSSim(TwinSimulator):
    """The EMS: measurements in, commands out."""

    MODELS = {
        "EMS": Model(("name", "kinds"), OUTPUTS, INPUTS, signals=SIGNALS),
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
            self.out[eid] = {"commands": {}}
        return model

    def _measurement(self, data: Mapping[str, Any]) -> Measurement:
        sums = {"pv": 0.0, "wind": 0.0, "other": 0.0, "ev": 0.0}
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
                if kind == "ev":
                    flex[eid] = attrs.get("flex")
        for snapshot in data.get("storage", {}).values():
            soc.update({eid: float(a["soc"]) for eid, a in snapshot.items() if "soc" in a})
        return Measurement(pv_mw=sums["pv"], wind_mw=sums["wind"], other_mw=sums["other"],
                           ev_mw=sums["ev"], factory_mw=factory, soc=soc, ev_flex=flex)

    def step_entities(self, time: int, epoch_s: int, inputs: InputData) -> None:
        i = time // self.step_s
        for eid, model in self.entities.items():
            if model != "EMS":
                continue
            d = self.ems.step(i, self._measurement(inputs.get(eid, {})))
            out = {"replanned": float(d.replanned),
                   "plan_optimal": float(not d.status.startswith("fallback")),
                   "solve_ms": d.solve_ms, "p_import_plan_mw": d.import_plan_mw,
                   "p_import_cap_mw": d.import_cap_mw,
                   "p_import_baseline_mw": d.import_baseline_mw,
                   "vpp_up_mw": d.up_mw, "vpp_down_mw": d.down_mw}
            commands: dict[str, dict[str, float]] = {}
            decided = {**d.p_storage_mw, **d.p_ev_limit_mw, **d.p_shift_mw}
            for cid, target in self.targets.items():
                attr = COMMANDS[self.entities[cid]].name
                value = float(decided.get(target, 0.0))
                self.out[cid] = {attr: value}
                commands[target] = {attr: value}
            out["commands"] = commands
            self.out[eid] = out
