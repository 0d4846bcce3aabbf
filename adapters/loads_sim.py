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
import math
from collections.abc import Mapping
from typing import Any

from mosaik_api_v3.types import InputData

from adapters.base import Model, TwinSimulator, hourly, single, spec_params, total
from twin.core.rng import generator
from twin.models.catchup import catch_up
from twin.models.disturbances import arrival_factor
from twin.models.events import EventBook
from twin.models.loads import (
    EVHub,
    EVHubSpec,
    FactoryLoad,
    FactoryOutput,
    FactorySpec,
    HeatSupply,
    HeatSupplySpec,
    ParkCalendar,
)
from twin.models.loads import ev as ev_model
from twin.models.loads import factory as factory_model
from twin.models.loads import heat as heat_model

FACTORY = Model(spec_params(FactorySpec), factory_model.OUTPUTS, factory_model.INPUTS)
EV = Model(spec_params(EVHubSpec), ev_model.OUTPUTS, ev_model.INPUTS, signals=ev_model.SIGNALS)
HEAT = Model(spec_params(HeatSupplySpec), heat_model.OUTPUTS, heat_model.INPUTS)
FACTORY_NAMES = tuple(f.name for f in dataclasses.fields(FactoryOutput))  # the model's share
EV_NAMES = EV.output_names
HEAT_NAMES = HEAT.output_names
HeatPlan = heat_model.HeatPlan


class LoadsSim(TwinSimulator):
    """Factories, EV charging hubs and heat supply of the park."""

    MODELS = {"Factory": FACTORY, "EVHub": EV, "HeatSupply": HEAT}

    def setup(self, timezone: str = "Asia/Shanghai", seed: int = 0,
              duration_s: int = 366 * 86400, flex: bool = False,
              events: EventBook | None = None, reserve_mw: list[float] | None = None,
              boil_mw: list[float] | None = None, heat_pump_mw: list[float] | None = None,
              heat_store_mw: list[float] | None = None) -> None:
        self.seed = int(seed)
        # the storage's scheduled charge of each hour from the start: not spare for boilers
        self.reserve = [max(float(p), 0.0) for p in reserve_mw or ()]
        self.boil = [max(float(p), 0.0) for p in boil_mw or ()]  # the boilers' most, hourly
        # the heat supplies' plan of each hour: heat pumps' heat, the store's net charge
        self.heat_pump = [max(float(p), 0.0) for p in heat_pump_mw or ()]
        self.heat_store = [float(p) for p in heat_store_mw or ()]
        self.events = events
        self.flex_wanted = bool(flex)  # an EMS reads the hubs' connected vehicles
        # what the block version's closed-loop route computed ahead, per entity: (time of
        # its first step, one item a step): a factory's (p_mw, p_process_mw, p_hvac_mw), an
        # EV hub's arrivals (EVHub.draw_ahead)
        self.ahead: dict[str, tuple[float, list[Any]]] = {}
        first = dt.datetime.fromtimestamp(self.start_epoch_s, dt.UTC).year
        last = dt.datetime.fromtimestamp(self.start_epoch_s + duration_s, dt.UTC).year
        self.calendar = ParkCalendar(timezone=timezone, years=range(first, last + 1))
        # a run started inside a longer period (the trainers' page's jump): the random draws
        # of the steps before it come first, so the factories, heat and EV hubs go on as in
        # that period (each model's skip)
        anchor = getattr(events, "period_start_epoch_s", None)
        self.skipped = (max(self.start_epoch_s - int(anchor), 0) // self.step_s
                        if anchor is not None else 0)

    def make_entity(self, model: str, eid: str, params: Mapping[str, Any]) -> Any:
        rng = generator(self.seed, eid)
        if model == "EVHub":
            spec = EVHubSpec(**params)
            hub = EVHub(spec, self.calendar, rng)
            self._catch_up_hub(hub, eid, spec)
            return hub
        load = (FactoryLoad(FactorySpec(**params), self.calendar, rng) if model == "Factory"
                else HeatSupply(HeatSupplySpec(**params), self.calendar, rng))
        load.skip(self.skipped, self.step_s)
        return load

    def _catch_up_hub(self, hub: EVHub, eid: str, spec: EVHubSpec) -> None:
        """``hub.skip`` over the steps before a jump, its arrivals drawn from the nearest day
        already drawn to in this process (:func:`twin.models.catchup.catch_up`)."""
        n, dt_s = self.skipped, self.step_s
        stepped = ev_model.SKIP_STEPPED
        first = self.start_epoch_s - n * dt_s
        if getattr(self.events, "period_start_epoch_s", None) is not None:
            # (at the period's start too: the page's background catch-up then knows the hub)
            def draws(h: EVHub, done: int, k: int) -> None:
                h.skip(k, dt_s, first + (done + k) * dt_s, stepped=0)

            catch_up(hub, ("ev", eid, repr(spec), self.seed, first, dt_s), max(n - stepped, 0),
                     dt_s, draws, lambda: EVHub(spec, self.calendar, generator(self.seed, eid)),
                     fixed=("calendar", "_arrivals", "spec", "params"))  # what no step changes
        hub.skip(min(n, stepped), dt_s, self.start_epoch_s)

    def _kinds(self) -> tuple[list[tuple[str, Any]], list[tuple[str, Any]],
                              dict[str, HeatSupply]]:
        """The entities by kind, in the order created: EV hubs and factories (one list, as
        stepped), and the heat supplies; made on the first step (entities are all created
        before it) and kept."""
        kinds = getattr(self, "_by_kind", None)
        if kinds is None or len(kinds[0]) + len(kinds[1]) != len(self.entities):
            heat = {e: x for e, x in self.entities.items() if isinstance(x, HeatSupply)}
            others = [(e, x) for e, x in self.entities.items() if e not in heat]
            kinds = self._by_kind = (others, list(heat.items()), heat)
        return kinds[0], kinds[1], kinds[2]

    def step_entities(self, time: int, epoch_s: int, inputs: InputData) -> None:
        dt_s = self.step_s
        surges = self.events.active(time, "ev_surge") if self.events else []
        out, flex, empty = self.out, self.flex_wanted, {}
        others = self._kinds()[0]  # the heat supplies after them: their loads leave its spare
        for eid, entity in others:
            data = inputs.get(eid, empty)
            held = self.ahead.get(eid)
            j = -1 if held is None else self.index(time) - self.index(held[0])
            if isinstance(entity, EVHub):
                limit = data.get("p_limit_mw")
                cap = total(limit) if limit else None
                step = (entity.step_drawn(epoch_s, dt_s, held[1][j], p_limit_mw=cap)
                        if 0 <= j < len(held[1]) else  # type: ignore[index]
                        entity.step(epoch_s, dt_s, p_limit_mw=cap,
                                    arrival_factor=arrival_factor(eid, surges) if surges
                                    else 1.0))
                values = dict(vars(step))  # the fields of EVOutput, as EV_NAMES
                if flex:
                    values["flex"] = entity.flex_state()
                out[eid] = values
                continue
            shift = total(data.get("p_shift_mw"))
            profile = data.get("p_profile_mw")
            if profile:
                p = total(profile)
                out[eid] = {"p_mw": p + shift, "p_process_mw": p, "p_hvac_mw": 0.0,
                            "p_shift_mw": shift}
                continue
            if 0 <= j < len(held[1]):  # type: ignore[index]
                p_mw, p_proc, p_hvac = held[1][j]  # type: ignore[index]
            else:
                temp = single(data.get("temp_air_c"))
                if temp is None:
                    raise ValueError(f"{eid}: connect temp_air_c (or p_profile_mw) to this "
                                     "entity")
                step = entity.step(epoch_s, dt_s, temp)
                p_mw, p_proc, p_hvac = step.p_mw, step.p_process_mw, step.p_hvac_mw
            out[eid] = {"p_mw": max(p_mw + shift, 0.0) if shift else p_mw,
                        "p_process_mw": p_proc, "p_hvac_mw": p_hvac, "p_shift_mw": shift}
        self._step_heat(epoch_s, inputs)

    def reserved(self, epoch_s: float) -> float:
        """The storage's scheduled charge (MW) in the hour of ``epoch_s``: left out of the
        heat supplies' spare power (0 past the schedule)."""
        return hourly(self.reserve, epoch_s - self.start_epoch_s, 0.0)

    def boilers_most(self, epoch_s: float) -> float:
        """The electric boilers' most power (MW, all together) in the hour of ``epoch_s``
        (unlimited past the schedule)."""
        return hourly(self.boil, epoch_s - self.start_epoch_s, math.inf)

    def heat_plan(self, epoch_s: float) -> HeatPlan | None:
        """The heat supplies' setpoints (all together) in the hour of ``epoch_s``: ``None``
        outside the heat pumps' and heat store's schedules."""
        t = epoch_s - self.start_epoch_s
        q_hp, q_store = hourly(self.heat_pump, t, math.nan), hourly(self.heat_store, t, math.nan)
        if math.isnan(q_hp) and math.isnan(q_store):
            return None
        return HeatPlan(0.0 if math.isnan(q_hp) else q_hp, self.boilers_most(epoch_s),
                        0.0 if math.isnan(q_store) else q_store)

    def _step_heat(self, epoch_s: int, inputs: InputData) -> None:
        """The heat supplies, after the other loads: with the park's generation connected,
        each one's spare power is it less the park's loads stepped elsewhere (``p_load_mw``)
        and those stepped before here (the other loads, then the heat supplies before it)."""
        others, heat_items, heat = self._kinds()
        load = sum(self.out[e]["p_mw"] for e, _ in others)
        most = self.boilers_most(epoch_s)
        plan = self.heat_plan(epoch_s)
        if plan is not None:  # shared by the ratings; the boilers within the generation
            shares = plan_shares(plan, [x.spec for x in heat.values()])
        for k, (eid, entity) in enumerate(heat_items):
            data = inputs.get(eid, {})
            temp = single(data.get("temp_air_c"))
            if temp is None:
                raise ValueError(f"{eid}: connect temp_air_c to this entity")
            wind = [single(data.get(a)) for a in ("wind_ms", "wind_height_m", "roughness_m")]
            if plan is None:
                spare = self._spare(data, load, epoch_s)
                spare = None if spare is None else min(spare, most)
                mine = None
            else:
                mine, share = shares[k]
                spare = share * total(data["p_gen_mw"]) if "p_gen_mw" in data else None
            out = entity.step(epoch_s, self.step_s, temp,
                              None if None in wind else tuple(wind),  # type: ignore[arg-type]
                              spare, mine)
            self.out[eid] = dict(vars(out))  # HeatOutput's fields, as HEAT_NAMES
            load += out.p_mw
            most -= out.p_eboiler_mw

    def _spare(self, data: Mapping[str, Any], load: float, epoch_s: float) -> float | None:
        """The park's spare power for a heat supply's boilers: its generation less the loads
        stepped elsewhere and ``load`` (here) and the storage's scheduled charge; ``None``
        where the generation is not connected."""
        if "p_gen_mw" not in data:
            return None
        return (total(data["p_gen_mw"]) - total(data.get("p_load_mw")) - load
                - self.reserved(epoch_s))


def plan_shares(plan: HeatPlan, specs: list[HeatSupplySpec]) -> list[tuple[HeatPlan, float]]:
    """Each heat supply's part of the setpoints of them all, by its share of the ratings
    concerned (heat pumps of every kind, electric boilers, heat store), and its share of the
    park's generation that its boilers may take (by boiler rating)."""
    def share(values: list[float]) -> list[float]:
        s = sum(values)
        return [v / s if s > 0 else 1.0 / len(values) for v in values]

    hp = share([h.hp_q_max_mw + h.ashp_q_max_mw + h.waste_heat_q_max_mw for h in specs])
    eb = share([h.eboiler_mw for h in specs])
    st = share([h.store_mwh for h in specs])
    return [(HeatPlan(plan.q_hp_mw * a, plan.p_eboiler_mw * b if b > 0 else 0.0,
                      plan.q_store_mw * c), b) for a, b, c in zip(hp, eb, st, strict=True)]
