"""The park's adapters in their block versions (:mod:`adapters.block`), by mosaik name.

mosaik starts a simulator from a ``module:Class`` path, so each block class is a name here.
Most are :func:`adapters.block.blocked` as they are (the adapter's own step, once per step of
the block). Four take a whole block at once where that gives the same numbers:

- PV: the sun positions of the block's steps and every plant in one vectorised pvlib call
  (steps with the sun down everywhere get the model's own night output, as per step);
- wind: each farm's power curve over the block's wind series in one call;
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

from typing import Any

import numpy as np
from mosaik_api_v3.types import InputData

from adapters.aoi_sim import AOISim
from adapters.balance_sim import BalanceSim
from adapters.base import OUTPUTS_ATTR
from adapters.battery_sim import BatterySim
from adapters.block import Block, BlockStepping, blocked
from adapters.grid_sim import INPUT_NAMES as GRID_INPUTS
from adapters.grid_sim import GridSim
from adapters.grid_sim import _outputs as grid_outputs
from adapters.loads_sim import LoadsSim
from adapters.pv_sim import CELL_WIND_HEIGHT_M, PVSim
from adapters.pv_sim import MODEL as PV_MODEL
from adapters.recorder_sim import RecorderSim
from adapters.weather_sim import WeatherSim
from adapters.wind_sim import MODEL as WIND_MODEL
from adapters.wind_sim import WindSim
from twin.models import pv, wind
from twin.models.wind import wind_at_height

Outputs = dict[str, dict[str, Block]]


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
        suns = [self._sun(self.start_epoch_s + self.seconds(time + k * tick)) for k in range(n)]
        fields = ("apparent_zenith_deg", "zenith_deg", "azimuth_deg", "dni_extra_w_m2",
                  "airmass_rel")
        sun = pv.SunPosition(*(np.array([getattr(s, f) for s in suns])[:, None]
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
            steps = grid.step_block(x, lossless)
            if steps is None:
                return None
            rows = [grid_outputs(step, {a: float(t[k]) for a, t in totals.items()})
                    for k, step in enumerate(steps)]
            out[eid] = {attr: Block(row[attr] for row in rows) for attr in rows[0]}
        return out


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
        for k in range(n):
            t = self.seconds(time + k * tick)
            writer.append_columns(t, cols, values[:, k], {c: v[k] for c, v in vectors.items()})
            if self.progress is not None:
                self.progress(t)
        return {}


BlockWeatherSim = blocked(WeatherSim)
BlockLoadsSim = blocked(LoadsSim)
BlockBatterySim = blocked(BatterySim)
BlockBalanceSim = blocked(BalanceSim)
BlockAOISim = blocked(AOISim)

#: the block classes by name
BLOCKS = {cls.__name__: cls for cls in (
    BlockWeatherSim, BlockPVSim, BlockWindSim, BlockLoadsSim, BlockBatterySim,
    BlockBalanceSim, BlockGridSim, BlockRecorderSim, BlockAOISim)}
