"""mosaik adapter of the energy management system (:mod:`twin.ems.controller`).

One ``EMS`` entity takes the park's measurements; one command entity per controlled device
carries the EMS's decision to it: ``BatteryCommand`` (``p_set_mw``, this step), ``EVCommand``
(``p_limit_mw``) and ``ShiftCommand`` (``p_shift_mw``), which act in the next step through
time-shifted connections. The EMS model object is built by :mod:`twin.world` and handed over
as the simulator's ``ems`` parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mosaik_api_v3.types import InputData

from adapters.base import Attr, Model, TwinSimulator, total
from twin.ems.controller import EMS, Measurement

INPUTS = (
    Attr("p_pv_mw", "MW", "PV generation (sum of all sources)"),
    Attr("p_wind_mw", "MW", "wind generation (sum of all sources)"),
    Attr("p_other_mw", "MW", "other loads the EMS does not move: heat supply, AOI lines (sum)"),
    Attr("p_factory_mw", "MW", "each factory's load, by source"),
    Attr("p_ev_mw", "MW", "EV charging (sum)"),
    Attr("soc", "1", "each battery's state of charge at the start of the step"),
    Attr("flex", "", "each EV hub's connected vehicles"),
)
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


def _name(full_id: str) -> str:
    """The entity name in a mosaik full id ``Sim-0.name``."""
    return full_id.split(".", 1)[1] if "." in full_id else full_id


class EMSSim(TwinSimulator):
    """The EMS: measurements in, commands out."""

    MODELS = {
        "EMS": Model(("name",), OUTPUTS, INPUTS),
        **{m: Model(("name", "target"), (a,)) for m, a in COMMANDS.items()},
    }

    def setup(self, ems: EMS | None = None) -> None:
        if ems is None:
            raise TypeError("EMSSim needs the ems parameter (a twin.ems.controller.EMS)")
        self.ems = ems
        self.targets: dict[str, str] = {}
        self.i = 0

    def make_entity(self, model: str, eid: str, params: Mapping[str, Any]) -> Any:
        if model != "EMS":
            self.targets[eid] = str(params["target"])
            self.out[eid] = {COMMANDS[model].name: 0.0}
        return model

    def step_entities(self, time: int, epoch_s: int, inputs: InputData) -> None:
        i = time // self.step_s
        for eid, model in self.entities.items():
            if model != "EMS":
                continue
            data = inputs.get(eid, {})
            m = Measurement(
                pv_mw=total(data.get("p_pv_mw")), wind_mw=total(data.get("p_wind_mw")),
                other_mw=total(data.get("p_other_mw")), ev_mw=total(data.get("p_ev_mw")),
                factory_mw={_name(k): float(v) for k, v in data.get("p_factory_mw", {}).items()},
                soc={_name(k): float(v) for k, v in data.get("soc", {}).items()},
                ev_flex={_name(k): v for k, v in data.get("flex", {}).items()},
            )
            d = self.ems.step(i, m)
            out = {"replanned": float(d.replanned),
                   "plan_optimal": float(not d.status.startswith("fallback")),
                   "solve_ms": d.solve_ms, "p_import_plan_mw": d.import_plan_mw,
                   "p_import_cap_mw": d.import_cap_mw,
                   "p_import_baseline_mw": d.import_baseline_mw,
                   "vpp_up_mw": d.up_mw, "vpp_down_mw": d.down_mw}
            self.out[eid] = out
            values = {**d.p_storage_mw, **d.p_ev_limit_mw, **d.p_shift_mw}
            for cid, target in self.targets.items():
                attr = COMMANDS[self.entities[cid]].name
                self.out[cid] = {attr: float(values.get(target, 0.0))}
