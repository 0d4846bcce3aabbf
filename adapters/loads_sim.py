"""mosaik adapter of the park's loads (:mod:`twin.models.loads`): factories, EV hubs, heat supply.

One simulator holds every load entity of the park and one shared working calendar. Each
entity draws its noise from a generator seeded by the scenario seed and its own name.
A factory whose ``p_profile_mw`` input is connected (e.g. from a CSV simulator) takes that
profile as its power instead of its synthetic one. An EV hub's arrivals follow the surges in
force in the ``events`` book (:func:`twin.models.disturbances.arrival_factor`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from mosaik_api_v3.types import InputData

from adapters.base import Attr, Model, TwinSimulator, as_values, single, spec_params, total
from twin.core.rng import generator
from twin.models.disturbances import arrival_factor
from twin.models.events import EventBook
from twin.models.loads import (
    EVHub,
    EVHubSpec,
    EVOutput,
    FactoryLoad,
    FactorySpec,
    HeatOutput,
    HeatSupply,
    HeatSupplySpec,
    ParkCalendar,
)

TEMP = Attr("temp_air_c", "degC", "outdoor air temperature")
FACTORY_OUT = (
    Attr("p_mw", "MW", "electric load"),
    Attr("p_process_mw", "MW", "process share of the load"),
    Attr("p_hvac_mw", "MW", "HVAC share of the load"),
    Attr("p_shift_mw", "MW", "load moved in time by the EMS (included in p_mw)"),
)
FACTORY_IN = (TEMP, Attr("p_profile_mw", "MW", "external load profile replacing the model's"),
              Attr("p_shift_mw", "MW", "load shift from the EMS (sum of all sources)"))
EV_UNITS = {"p_mw": ("MW", "charging power"), "n_connected": ("1", "vehicles charging"),
            "n_queued": ("1", "vehicles waiting"), "n_arrivals": ("1", "arrivals in the step"),
            "n_rejected": ("1", "vehicles turned away"),
            "e_delivered_mwh": ("MWh", "energy delivered in the step"),
            "e_unserved_mwh": ("MWh", "energy of sessions that left unfinished in the step")}
EV_OUT = tuple(Attr(f.name, *EV_UNITS[f.name]) for f in dataclasses.fields(EVOutput))
EV_IN = (Attr("p_limit_mw", "MW", "hub power cap from a controller (optional)"),)
EV_SIGNALS = (Attr("flex", "", "connected vehicles (twin.models.loads.ev.EVFlex) for the EMS"),)
HEAT_UNITS = {"q_heat_mw": ("MW", "heat demand (thermal)"), "q_hp_mw": ("MW", "heat from heat pumps"),
              "q_boiler_mw": ("MW", "heat from gas boilers"), "p_mw": ("MW", "electric load"),
              "p_hp_mw": ("MW", "heat pump compressors"), "p_pump_mw": ("MW", "circulation pumps"),
              "gas_nm3": ("Nm3", "natural gas burnt in the step"),
              "cop": ("1", "heat pump coefficient of performance"),
              "t_supply_c": ("degC", "supply temperature of the heating network")}
HEAT_OUT = tuple(Attr(f.name, *HEAT_UNITS[f.name]) for f in dataclasses.fields(HeatOutput))
FACTORY_NAMES = ("p_mw", "p_process_mw", "p_hvac_mw")
EV_NAMES = tuple(a.name for a in EV_OUT)
HEAT_NAMES = tuple(a.name for a in HEAT_OUT)


class LoadsSim(TwinSimulator):
    """Factories, EV charging hubs and heat supply of the park."""

    MODELS = {
        "Factory": Model(spec_params(FactorySpec), FACTORY_OUT, FACTORY_IN),
        "EVHub": Model(spec_params(EVHubSpec), EV_OUT, EV_IN, signals=EV_SIGNALS),
        "HeatSupply": Model(spec_params(HeatSupplySpec), HEAT_OUT, (TEMP,)),
    }

    def setup(self, timezone: str = "Asia/Shanghai", seed: int = 0,
              duration_s: int = 366 * 86400, flex: bool = False,
              events: EventBook | None = None) -> None:
        self.seed = int(seed)
        self.events = events
        self.flex_wanted = bool(flex)  # an EMS reads the hubs' connected vehicles
        first = dt.datetime.fromtimestamp(self.start_epoch_s, dt.UTC).year
        last = dt.datetime.fromtimestamp(self.start_epoch_s + duration_s, dt.UTC).year
        self.calendar = ParkCalendar(timezone=timezone, years=range(first, last + 1))

    def make_entity(self, model: str, eid: str, params: Mapping[str, Any]) -> Any:
        rng = generator(self.seed, eid)
        if model == "Factory":
            return FactoryLoad(FactorySpec(**params), self.calendar, rng)
        if model == "EVHub":
            return EVHub(EVHubSpec(**params), self.calendar, rng)
        return HeatSupply(HeatSupplySpec(**params), self.calendar, rng)

    def step_entities(self, time: int, epoch_s: int, inputs: InputData) -> None:
        dt_s = self.step_s
        surges = self.events.active(time, "ev_surge") if self.events else []
        for eid, entity in self.entities.items():
            data = inputs.get(eid, {})
            if isinstance(entity, EVHub):
                limit = data.get("p_limit_mw")
                out = entity.step(epoch_s, dt_s, p_limit_mw=total(limit) if limit else None,
                                  arrival_factor=arrival_factor(eid, surges))
                self.out[eid] = as_values(out, EV_NAMES)
                if self.flex_wanted:
                    self.out[eid]["flex"] = entity.flex_state()
                continue
            shift = total(data.get("p_shift_mw"))
            profile = data.get("p_profile_mw")
            if profile and not isinstance(entity, HeatSupply):
                p = total(profile)
                self.out[eid] = {"p_mw": p + shift, "p_process_mw": p, "p_hvac_mw": 0.0,
                                 "p_shift_mw": shift}
                continue
            temp = single(data.get("temp_air_c"))
            if temp is None:
                raise ValueError(f"{eid}: connect temp_air_c (or p_profile_mw) to this entity")
            out = entity.step(epoch_s, dt_s, temp)
            if isinstance(entity, HeatSupply):
                self.out[eid] = as_values(out, HEAT_NAMES)
                continue
            self.out[eid] = {**as_values(out, FACTORY_NAMES), "p_shift_mw": shift}
            if shift:
                self.out[eid]["p_mw"] = max(out.p_mw + shift, 0.0)
