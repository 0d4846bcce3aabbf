"""The park's adapters in their block versions (:mod:`adapters.block`), by mosaik name.

mosaik starts a simulator from a ``module:Class`` path, so each block class is a name here.
Most are :func:`adapters.block.blocked` as they are (the adapter's own step, once per step of
the block). Five take a whole block at once where that gives the same numbers:

- PV: the sun positions of the block's steps and every plant in one vectorised pvlib call
  (steps with the sun down everywhere get the model's own night output, as per step);
- wind: each farm's power curve over the block's wind series in one call;
- the loads: a factory's model vectorised over the block, EV hubs and heat supplies by their
  models step by step (their state and random draws follow the steps), in one call; in an
  EMS's closed loop, where the loads step one step at a time under block producers, each
  factory's own load and each EV hub's arrivals over the rest of the producers' block, to
  the last bit (the EMS's shifts and caps applied step by step);
- the grid: the block's power flows in one call (:meth:`twin.models.grid.topology.ParkGrid.
  step_block`), where no line trips and the public grid stays up;
- the recorder: each simulator's snapshot of blocks written row by row without taking the
  snapshot apart step by step.

Each gives what the per-step code gives, to rounding: the vectorised sums and products may
round otherwise than one step at a time (1e-14 relative), and a Newton-Raphson started from a
voltage that differs in its last digits stops elsewhere inside its tolerance (the PCC
exchange within 7e-11 MW over 30 days of the reference park; tests/test_blocks.py).
"""

from __future__ import annotations

import time as _time
from typing import Any

import numpy as np
from mosaik_api_v3.types import InputData

from adapters.aoi_sim import AOISim
from adapters.balance_sim import BalanceSim
from adapters.base import OUTPUTS_ATTR
from adapters.battery_sim import BatterySim, scheduled
from adapters.block import Block, BlockStepping, blocked
from adapters.ems_sim import EMSSim
from adapters.grid_sim import INPUT_NAMES as GRID_INPUTS
from adapters.grid_sim import GridSim
from adapters.loads_sim import EV_NAMES, FACTORY_NAMES, HEAT_NAMES, LoadsSim, plan_shares
from adapters.pv_sim import CELL_WIND_HEIGHT_M, PVSim
from adapters.pv_sim import MODEL as PV_MODEL
from adapters.recorder_sim import RecorderSim
from adapters.weather_sim import WEATHER_EVENTS, WeatherSim
from adapters.wind_sim import MODEL as WIND_MODEL
from adapters.wind_sim import WindSim
from twin.models import battery, pv, wind
from twin.models.control import rule_setpoints
from twin.models.disturbances import arrival_factor
from twin.models.loads.ev import EVHub
from twin.models.loads.factory import FactoryLoad
from twin.models.loads.heat import HeatSupply
from twin.models.wind import wind_at_height

Outputs = dict[str, dict[str, Block]]
HEAT_WIND = ("wind_ms", "wind_height_m", "roughness_m")  # a heat supply's optional inputs
FACTORY_OUT = (*FACTORY_NAMES, "p_shift_mw")


def _columns(inputs: InputData, eid: str, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Each named input of ``eid`` as an array over the block (one source each), or {} where
    an input is missing or has several sources (the per-step loop then says what is wrong)."""
    data = inputs.get(eid, {})
    cols = {}
    for name in names:
        src = data.get(name)
        if src is None or len(src) != 1:
            return {}
        cols[name] = np.asarray(next(iter(src.values())), dtype=float)
    return cols


class BlockPVSim(BlockStepping, PVSim):
    """PV plants, a block of steps in one vectorised call."""

    def step_block(self, time: int, inputs: InputData, n: int) -> Outputs | None:
        if self.fleet is None:
            self.fleet = pv.PVFleet.of(list(self.entities.values()))
        eids = self.fleet.names
        cols = [_columns(inputs, eid, PV_MODEL.input_names) for eid in eids]
        if not all(cols):
            return None
        w = {name: np.stack([c[name] for c in cols], axis=1) for name in cols[0]}  # (n, plants)
        heights, roughness = w["wind_height_m"], w["roughness_m"]
        if not ((heights == heights[0, 0]).all() and (roughness == roughness[0, 0]).all()):
            return None
        wind_10m = wind_at_height(w["wind_ms"], float(heights[0, 0]), CELL_WIND_HEIGHT_M,
                                  float(roughness[0, 0]))
        tick = self.step_ticks
        days: list[tuple[Any, list[int]]] = []  # the days of sun positions, the steps' instants
        for k in range(n):
            i = self.sun_index(self.start_epoch_s + self.seconds(time + k * tick))
            if days and days[-1][0] is self._sun_day:
                days[-1][1].append(i)
            else:
                days.append((self._sun_day, [i]))
        fields = ("apparent_zenith_deg", "zenith_deg", "azimuth_deg", "dni_extra_w_m2",
                  "airmass_rel")
        sun = pv.SunPosition(*(np.concatenate([getattr(d, f)[i] for d, i in days])[:, None]
                               for f in fields))
        out = {name: np.zeros((n, len(eids))) for name in PV_MODEL.output_names}
        day = np.asarray(sun.apparent_zenith_deg[:, 0] < 90.0)
        weather = (w["ghi_w_m2"], w["dni_w_m2"], w["dhi_w_m2"], w["temp_air_c"], wind_10m)
        for rows, model in ((day, pv.pv_power), (~day, pv._night)):
            if rows.any():
                part = model(self.fleet, pv.SunPosition(*(getattr(sun, f)[rows] for f in fields)),
                             *(x[rows] for x in weather))
                for name in PV_MODEL.output_names:
                    out[name][rows] = getattr(part, name)
        return {eid: {name: Block(out[name][:, i].tolist()) for name in PV_MODEL.output_names}
                for i, eid in enumerate(eids)}


class BlockWindSim(BlockStepping, WindSim):
    """Wind farms, each over a block of steps in one call of its power curve."""

    def step_block(self, time: int, inputs: InputData, n: int) -> Outputs | None:
        out: Outputs = {}
        for eid, (spec, curve) in self.entities.items():
            w = _columns(inputs, eid, WIND_MODEL.input_names)
            if not w:
                return None
            h, z = w["wind_height_m"], w["roughness_m"]
            if not ((h == h[0]).all() and (z == z[0]).all()):
                return None
            r = wind.wind_power(spec, curve, w["wind_ms"], float(h[0]), float(z[0]),
                                w["temp_air_c"], w["pressure_pa"])
            out[eid] = {name: Block(np.broadcast_to(np.asarray(getattr(r, name), dtype=float),
                                                    (n,)).tolist())
                        for name in WIND_MODEL.output_names}
        return out


def _sources(data: dict[str, Any], attr: str) -> list[Any]:
    """The blocks delivered for one input attribute, one per source."""
    return list(data.get(attr, {}).values())


class BlockLoadsSim(BlockStepping, LoadsSim):
    """The loads, each entity over a block in one call: a factory's model vectorised over the
    block (:meth:`twin.models.loads.factory.FactoryLoad.step_block`), an EV hub's and a heat
    supply's model step by step (their state and random draws follow each step), without the
    adapter's hand-over per step. Where an input is not the rule park's (an EMS's limits or
    shifts of the vehicles, an external profile, an input missing or with several sources)
    the adapter's own loop runs."""

    def step_block(self, time: int, inputs: InputData, n: int) -> Outputs | None:
        if self.controls or self.flex_wanted:
            return None
        for eid, entity in self.entities.items():  # take the block before stepping any
            data = inputs.get(eid, {})
            if isinstance(entity, EVHub):
                if data.get("p_limit_mw"):
                    return None
            elif data.get("p_profile_mw") or len(_sources(data, "temp_air_c")) != 1 or any(
                    len(v) > 1 or not all(type(x) is Block for x in v)
                    for v in (_sources(data, a) for a in ("temp_air_c", *HEAT_WIND))) or \
                    not all(type(x) is Block for a in ("p_gen_mw", "p_load_mw")
                            for x in _sources(data, a)):
                return None
        tick, dt_s = self.step_ticks, self.step_s
        times = [self.seconds(time + k * tick) for k in range(n)]
        epochs = [self.start_epoch_s + t for t in times]
        out: Outputs = {}
        for eid, entity in self.entities.items():
            data = inputs.get(eid, {})
            if isinstance(entity, EVHub):
                cols = entity.step_block(epochs, dt_s, [arrival_factor(eid, w)
                                                        for w in self._surges(times)])
                out[eid] = {a: Block(cols[a]) for a in EV_NAMES}
                continue
            if isinstance(entity, HeatSupply):
                continue  # after the other loads (their loads leave its spare power)
            temp = _sources(data, "temp_air_c")[0]
            cols = entity.step_block(epochs, dt_s, temp)
            shift = np.zeros(n)
            for values in _sources(data, "p_shift_mw"):  # summed as the adapter's total()
                shift = shift + np.asarray(values, dtype=float)
            cols["p_shift_mw"] = shift
            cols["p_mw"] = np.where(shift != 0.0, np.maximum(cols["p_mw"] + shift, 0.0),
                                    cols["p_mw"])
            out[eid] = {a: Block(cols[a].tolist()) for a in FACTORY_OUT}
        self._heat_block(epochs, inputs, out)
        return out

    def step(self, time: int, inputs: InputData, max_advance: int) -> int | None:
        if self.block_inputs:  # timed as the loads' step
            t0 = _time.perf_counter()
            self._ahead(time, inputs)
            self._timing.step_s += _time.perf_counter() - t0
        return super().step(time, inputs, max_advance)

    def _ahead(self, time: int, inputs: InputData) -> None:
        """A run stepping the loads one step at a time (an EMS's closed loop) under block
        producers: on the step that starts a block of the weather's, what does not depend on
        the loop over the rest of the block in one call each, the numbers of the per-step
        calls to the last bit: a factory's own load
        (:meth:`twin.models.loads.factory.FactoryLoad.step_block`, its noise advanced alike;
        the adapter's step adds the step's shift), an EV hub's arrivals
        (:meth:`twin.models.loads.ev.EVHub.draw_ahead`; the step places and charges them
        under its cap). A factory with a profile, or several or no temperature blocks,
        steps as it is."""
        tick, dt_s = self.step_ticks, self.step_s
        k = (time // tick) % self.block_inputs
        n = self.block_inputs - k
        t_s = self.seconds(time)
        if self.n_steps_total:
            n = min(n, self.n_steps_total - self.index(t_s))
        epochs = [self.start_epoch_s + t_s + j * dt_s for j in range(max(n, 0))]
        for eid, entity in self.entities.items():
            held = self.ahead.get(eid)
            if held is not None and 0 <= self.index(t_s) - self.index(held[0]) < len(held[1]):
                continue
            if isinstance(entity, EVHub) and epochs:
                times = [t_s + j * dt_s for j in range(len(epochs))]
                self.ahead[eid] = (t_s, entity.draw_ahead(
                    epochs, dt_s, [arrival_factor(eid, w) for w in self._surges(times)]))
                continue
            if not isinstance(entity, FactoryLoad):
                continue
            data = inputs.get(eid, {})
            temps = _sources(data, "temp_air_c")
            if data.get("p_profile_mw") or len(temps) != 1 or type(temps[0]) is not Block:
                continue
            rest = temps[0][k:]
            if not rest or not all(type(x) is float or type(x) is int for x in rest):
                continue
            cols = entity.step_block(epochs[:len(rest)], dt_s, rest)
            self.ahead[eid] = (t_s, list(zip(cols["p_mw"].tolist(), cols["p_process_mw"].tolist(),
                                             cols["p_hvac_mw"].tolist(), strict=True)))

    def _heat_block(self, epochs: list[int], inputs: InputData, out: Outputs) -> None:
        """The heat supplies over the block, step by step, after the other loads (the
        adapter's ``_step_heat``)."""
        load = np.zeros(len(epochs))
        most = np.array([self.boilers_most(e) for e in epochs])
        for eid in out:
            load = load + np.asarray(out[eid]["p_mw"], dtype=float)
        heat = {e: x for e, x in self.entities.items() if isinstance(x, HeatSupply)}
        specs = [x.spec for x in heat.values()]
        plans = [None if (h := self.heat_plan(e)) is None else plan_shares(h, specs)
                 for e in epochs]
        for k, (eid, entity) in enumerate(heat.items()):
            data = inputs.get(eid, {})
            wind = [_sources(data, a) for a in HEAT_WIND]
            winds = (list(zip(*(w[0] for w in wind), strict=True)) if all(wind)
                     else [None] * len(epochs))
            gens, others = _sources(data, "p_gen_mw"), _sources(data, "p_load_mw")
            spare = ([None] * len(epochs) if not gens else
                     (np.sum([np.asarray(g, dtype=float) for g in gens], axis=0)
                      - (np.sum([np.asarray(x, dtype=float) for x in others], axis=0)
                         if others else 0.0) - load - [self.reserved(e) for e in epochs]))
            spare = spare if not gens else np.minimum(spare, most)
            # a step of the heat plan: the supply's share of it, its boilers within its share
            # of the generation (the adapter's ``_step_heat``)
            gen = (np.sum([np.asarray(g, dtype=float) for g in gens], axis=0) if gens
                   else [None] * len(epochs))
            steps = [(g, None) if sh is None else
                     (None if x is None else sh[k][1] * x, sh[k][0])
                     for g, sh, x in zip(spare, plans, gen, strict=True)]
            rows = [entity.step(e, self.step_s, t, w, g, plan)
                    for e, t, w, (g, plan) in zip(epochs, _sources(data, "temp_air_c")[0],
                                                  winds, steps, strict=True)]
            out[eid] = {a: Block([getattr(r, a) for r in rows]) for a in HEAT_NAMES}
            load = load + np.asarray(out[eid]["p_mw"], dtype=float)
            most = most - np.asarray(out[eid]["p_eboiler_mw"], dtype=float)

    def _surges(self, times: list[float]) -> list[list[Any]]:
        """The EV surges in force at each of ``times`` (the adapter's ``events.active(t,
        "ev_surge")``)."""
        return active_over(self.events, times, "ev_surge")


def active_over(book: Any, times: list[float], kind: str) -> list[list[Any]]:
    """The windows of ``kind`` in force at each of ``times``, in the book's order (``book.
    active(t, kind)``, no book: none), the book read once for the block."""
    if not book:
        return [[] for _ in times]
    lo, hi = times[0], times[-1]
    found = [w for w in book[:] if w.event.kind == kind and w.start_s <= hi and w.end_s > lo]
    return [[w for w in found if w.start_s <= t < w.end_s] for t in times]

class BlockGridSim(BlockStepping, GridSim):
    """The park network, the power flows of a block solved in one call where no line is
    tripped and the public grid is up throughout the block (else step by step)."""

    def step_block(self, time: int, inputs: InputData, n: int) -> Outputs | None:
        book, tick = self.events, self.step_ticks
        if book and any(book.active(self.seconds(time + k * tick), "grid_outage", "line_trip")
                        for k in range(n)):
            return None
        out: Outputs = {}
        for eid, grid in self.entities.items():
            x = np.zeros((n, len(grid.names)))
            totals = {name: np.zeros(n) for name in GRID_INPUTS}
            cache, index = self.source_index[eid], grid.index
            for attr, sources in inputs.get(eid, {}).items():
                subtotal = np.zeros(n)
                for src, values in sources.items():
                    k = cache.get(src)
                    if k is None:
                        k = cache[src] = index[src.split(".", 1)[-1]]
                    v = np.asarray(values, dtype=float)
                    x[:, k] += v
                    subtotal += v
                totals[attr] = subtotal
            lossless = totals["p_load_mw"] + totals["p_storage_mw"] - totals["p_gen_mw"]
            flows = grid.flows_block(x, lossless)
            if flows is None:
                return None
            out[eid] = _grid_outputs(*flows, totals)
        return out


def _grid_outputs(ok: np.ndarray, r: Any, net: np.ndarray, direct: np.ndarray,
                  taps: np.ndarray, totals: dict[str, np.ndarray]) -> dict[str, Block]:
    """What :func:`adapters.grid_sim._outputs` gives each step of a block of power flows
    without outage or tripped line (:meth:`twin.models.grid.topology.ParkGrid.flows_block`),
    each attribute's values over the block at once (minima and maxima are exact, so taken
    row by row they are the steps' own)."""
    def masked(x: np.ndarray) -> list[float]:
        return np.where(ok, x, np.nan).tolist()

    n = len(ok)
    zeros = [0.0] * n
    cols: dict[str, list[Any]] = {
        "p_net_mw": net.tolist(),
        "p_import_mw": np.maximum(net, 0.0).tolist(),
        "p_export_mw": np.maximum(-net, 0.0).tolist(),
        "p_loss_mw": np.where(ok, r.p_loss_mw, 0.0).tolist(),
        **{a: t.tolist() for a, t in totals.items()},
        "p_direct_line_mw": direct.tolist(),
        "vm_min_pu": masked(np.fmin.reduce(r.vm_pu, axis=1)),
        "vm_max_pu": masked(np.fmax.reduce(r.vm_pu, axis=1)),
        "line_loading_max_pct": masked(np.fmax.reduce(r.line_loading_pct, axis=1,
                                                      initial=0.0)),
        "trafo_loading_max_pct": masked(np.fmax.reduce(r.trafo_loading_pct, axis=1,
                                                       initial=0.0)),
        "converged": ok.astype(float).tolist(),
        "q_inverter_mvar": zeros, "trafo_tap_pos": [taps.tolist()] * n,
        # the vectors as each step's row of the block's array (a view each), not as lists of
        # numbers: a minute block's 1.2 million float objects, made and dropped every block,
        # cost time and left the process's memory growing day by day
        "vm_pu": list(r.vm_pu),
        "line_loading_pct": list(r.line_loading_pct),
        "trafo_loading_pct": list(r.trafo_loading_pct),
        "line_p_from_mw": list(r.line_p_from_mw),
        "p_shed_mw": zeros, "p_curtailed_mw": zeros, "islanded": zeros}
    return {attr: Block(values) for attr, values in cols.items()}


class BlockRecorderSim(BlockStepping, RecorderSim):
    """The recorder, taking each simulator's snapshot of blocks column by column."""

    def step_block(self, time: int, inputs: InputData, n: int) -> Outputs | None:
        writer = self.writer
        assert writer is not None
        if self.observer is not None:
            return None
        cols: list[int] = []
        blocks: list[Any] = []
        vectors: dict[int, Any] = {}
        for data in inputs.values():
            for attr, sources in data.items():
                if attr != OUTPUTS_ATTR:
                    return None
                for src, snapshot in sources.items():
                    self._take(src, snapshot, cols, blocks, vectors)
        values = np.array(blocks, dtype=float).reshape(len(cols), n)  # None -> NaN
        tick = self.step_ticks
        times = [self.seconds(time + k * tick) for k in range(n)]
        writer.append_block(times, cols, values, vectors)
        if self.progress is not None:
            for t in times:
                self.progress(t)
        return {}


class BlockWeatherSim(BlockStepping, WeatherSim):
    """The weather, a block of steps as slices of its series and forecasts (the per-step
    loop where a weather event is in force in the block: it changes the values)."""

    def step_block(self, time: int, inputs: InputData, n: int) -> Outputs | None:
        tick = self.step_ticks
        times = [self.seconds(time + k * tick) for k in range(n)]
        if self.events and any(self.events.active(t, *WEATHER_EVENTS) for t in times):
            return None
        idx = np.array([self.index(t) for t in times])
        out: Outputs = {}
        for eid, series in self.entities.items():
            rows = np.minimum(idx, len(series) - 1)  # as step_entities: the last value held
            cols = {key: getattr(series, key) for key in series.VARIABLES}
            cols.update(self.forecasts[eid])
            out[eid] = {key: Block(np.asarray(v, dtype=float)[rows].tolist())
                        for key, v in cols.items()}
            out[eid]["wind_height_m"] = Block([series.wind_height_m] * n)
            out[eid]["roughness_m"] = Block([series.roughness_m] * n)
        return out


BlockEMSSim = blocked(EMSSim)  # only ever one step at a time, reading block producers
class BlockBatterySim(BlockStepping, BatterySim):
    """The batteries under the local rule, each over a block in one call
    (:func:`twin.models.battery.step_block`): the rule's setpoints of the block's steps first
    (they follow the park's generation and load, not the batteries' state), then each
    battery's steps in a row. Where a battery takes a setpoint or a measured state of charge
    (an EMS, hardware in the loop) or a commands entity is connected, the adapter's own loop
    runs."""

    def step_block(self, time: int, inputs: InputData, n: int) -> Outputs | None:
        if self.controls:
            return None
        batteries = [eid for eid, m in self.model_of.items() if m == "Battery"]
        rules = [eid for eid, m in self.model_of.items() if m == "Rule"]
        if any(inputs.get(eid) for eid in batteries) or not all(
                type(v) is Block for eid in rules for src in inputs.get(eid, {}).values()
                for v in src.values()):
            return None
        tick = self.step_ticks
        times = [self.seconds(time + k * tick) for k in range(n)]
        ratings = [self.entities[eid][0].p_max_mw for eid in batteries]
        setpoints = [[0.0] * len(batteries) for _ in range(n)]
        out: Outputs = {}
        for eid in rules:  # BatterySim._rule_setpoints, step by step
            data = inputs.get(eid, {})
            gens, loads = (list(data.get(a, {}).values()) for a in ("p_gen_mw", "p_load_mw"))
            surplus = []
            for k, t in enumerate(times):
                gen = float(sum(v[k] for v in gens)) if gens else 0.0
                load = float(sum(v[k] for v in loads)) if loads else 0.0
                surplus.append(gen - load)
                gen, load = scheduled(self.entities[eid], self.exchange.get(eid, []), t, gen,
                                      load)
                setpoints[k] = rule_setpoints(gen, load, ratings)
            out[eid] = {"p_surplus_mw": Block(surplus)}
        for j, eid in enumerate(batteries):
            entity = self.entities[eid]
            entity[1], cols = battery.step_block(entity[0], entity[1],
                                                 [p[j] for p in setpoints], self.step_s)
            out[eid] = {name: Block(values) for name, values in cols.items()}
        return out


BlockBalanceSim = blocked(BalanceSim)


class BlockAOISim(BlockStepping, AOISim):
    """The AOI lines, each over the block step by step by the adapter's own step of a line
    (:meth:`adapters.aoi_sim.AOISim.step_line`; the lines do not depend on each other), the
    defect bursts of the block looked up once, the values gathered line by line."""

    def step_block(self, time: int, inputs: InputData, n: int) -> Outputs | None:
        if self.controls:
            return None
        tick, start = self.step_ticks, self.start_epoch_s
        times = [self.seconds(time + k * tick) for k in range(n)]
        bursts = active_over(self.events, times, "defect_burst")
        out: Outputs = {}
        for eid, line in self.entities.items():
            rows = [self.step_line(eid, line, start + t, b)
                    for t, b in zip(times, bursts, strict=True)]
            self.out[eid] = rows[-1]
            out[eid] = {a: Block([r[a] for r in rows]) for a in rows[-1]}
        return out

#: the block classes by name
BLOCKS = {cls.__name__: cls for cls in (
    BlockWeatherSim, BlockPVSim, BlockWindSim, BlockLoadsSim, BlockBatterySim,
    BlockBalanceSim, BlockGridSim, BlockRecorderSim, BlockAOISim, BlockEMSSim)}
