"""Block stepping (:mod:`adapters.block`) gives the per-step run's results.

The reference park runs half a day (48 steps) step by step through mosaik and in blocks of
20 steps (the last one shorter); every recorded series must agree: scalar series
within 1e-9, vector series (stored as float32) within 1e-9 plus one float32 rounding step,
NaN where the other has NaN; the run's KPIs within 1e-9 (relative above 1). Once with the events the simulators answer (weather, a tripped
line, an outage of the public grid, an EV surge, an AOI defect burst) in the first two blocks,
so those take the per-step power flows and the last one the block's; once under the EMS,
which closes loops through mosaik and so must not step in blocks. Then which runs step in
blocks at all, the grid's block of power flows against its steps one by one, and a
factory's block of profile means against its steps'.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from adapters import block as block_module
from adapters import blocks as blocks_module
from adapters import grid_sim
from adapters.blocks import BLOCKS
from twin import runner, scenario
from twin.core import results
from twin.cosim import blocking, world
from twin.cosim.network import build_grid
from twin.models.events import Event, EventBook, parse_clock
from twin.models.grid.topology import ParkGrid
from twin.models.loads.ev import EVHub
from twin.models.loads.factory import FactoryLoad

ROOT = Path(__file__).resolve().parents[1]
STEPS, BLOCK = 48, 20  # half a day: blocks of 20, 20 and 8 steps
DAY1 = dt.date(2027, 1, 1)
_STEP = block_module.BlockStepping.step
_FAST = {name: vars(cls)["step_block"] for name, cls in BLOCKS.items() if "step_block" in vars(cls)}


@pytest.fixture(scope="module")
def park() -> scenario.Scenario:
    s = scenario.load(ROOT / "scenarios" / "park.yaml")
    return s.with_days(STEPS * s.period.step_s / 86400)


def _events() -> tuple[Event, ...]:
    def at(day: dt.date, start: str, end: str, kind: str, **params: Any) -> Event:
        return Event(kind=kind, dates=(day,), start=parse_clock(start),  # type: ignore[arg-type]
                     end=parse_clock(end), **params)

    return (at(DAY1, "09:00", "11:30", "cloud_front", irradiance_factor=0.3),
            at(DAY1, "01:00", "04:00", "wind_lull", wind_factor=0.2),
            at(DAY1, "00:00", "03:00", "cold_wave", temp_delta_c=-8.0),
            at(DAY1, "03:00", "04:30", "line_trip", line="wind-direct-1/st1s1"),
            at(DAY1, "05:30", "06:00", "grid_outage"),
            at(DAY1, "07:00", "09:00", "ev_surge", arrival_factor=3.0),
            at(DAY1, "08:00", "10:00", "defect_burst", p_defect=0.3))


def _series(path: Path) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()])
                     if isinstance(obj, h5py.Dataset) else None)
    return out


def _assert_same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> int:
    """Every series of ``a`` equals ``b``'s (see the module's docstring); returns how many."""
    assert sorted(a) == sorted(b)
    for name, x in a.items():
        y = b[name]
        assert x.shape == y.shape, name
        if x.dtype.kind not in "fiu" or name.endswith("_ms"):  # text; the EMS's own timings
            continue
        assert np.array_equal(np.isnan(x), np.isnan(y)) if x.dtype.kind == "f" else True, name
        tol = 1e-9 + (np.spacing(np.abs(x).astype(np.float32)) if x.dtype == np.float32 else 0)
        if not name.startswith(("series/", "time")):  # the KPIs of the run: relative
            tol = 1e-9 * np.maximum(np.abs(x), 1.0)
        with np.errstate(invalid="ignore"):
            bad = ~((np.abs(x.astype(float) - y.astype(float)) <= tol) | np.isnan(x))
        assert not bad.any(), (f"{name}: {np.argwhere(bad)[:3].tolist()}: {x[bad][:3].tolist()}"
                               f" != {y[bad][:3].tolist()}")
    return len(a)


def _run(s: scenario.Scenario, out: Path, block_steps: int | None,
         monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Run ``s``; its series and the mosaik steps each block simulator took."""
    calls: dict[str, int] = {}

    def counted(self: Any, time: int, inputs: Any, max_advance: int) -> Any:
        calls[type(self).__name__] = calls.get(type(self).__name__, 0) + 1
        return _STEP(self, time, inputs, max_advance)

    def whole(fast: Any) -> Any:  # counts the blocks a simulator took in its own route
        def counted_block(self: Any, time: int, inputs: Any, n: int) -> Any:
            out = fast(self, time, inputs, n)
            if out is not None:
                calls[f"{type(self).__name__}.block"] = calls.get(
                    f"{type(self).__name__}.block", 0) + 1
            return out
        return counted_block

    monkeypatch.setattr(block_module.BlockStepping, "step", counted)
    for name, fast in _FAST.items():
        monkeypatch.setattr(BLOCKS[name], "step_block", whole(fast))
    result = runner.run(s, out_dir=out, block_steps=block_steps)
    assert result.n_steps == s.n_steps
    return _series(result.path), calls


def test_blocks_equal_steps_with_events(park: scenario.Scenario, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    s = dataclasses.replace(park, events=_events())
    assert blocking.block_steps(s) == STEPS  # a day's, no longer than the run
    steps, none = _run(s, tmp_path / "steps", 1, monkeypatch)
    blocks, calls = _run(s, tmp_path / "blocks", BLOCK, monkeypatch)
    assert not none  # the per-step run used the adapters themselves
    assert calls["BlockGridSim"] == calls["BlockRecorderSim"] == 3  # 20 + 20 + 8 steps
    # the loads (EV surges in the first block), PV, wind, recorder took each block whole; the
    # grid only the last (a tripped line and an outage in the first two)
    assert all(calls[f"Block{sim}Sim.block"] == 3 for sim in ("Loads", "PV", "Wind", "Recorder"))
    assert calls["BlockGridSim.block"] == 1
    assert "BlockWeatherSim.block" not in calls  # a weather event in every block: its loop
    assert _assert_same(steps, blocks) > 150
    # the events did something in the run compared (not a run where nothing happened)
    assert np.nanmax(steps["series/grid/islanded"]) == 1.0
    assert np.nanmax(steps["series/grid/p_shed_mw"] + steps["series/grid/p_curtailed_mw"]) > 0


def test_ems_steps_with_weather_pv_wind_in_blocks(park: scenario.Scenario, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Under the EMS the weather, PV, wind and AOI lines advance in blocks (here of 3 steps:
    3, 3, 2), the EMS, batteries, loads, grid and recorder step one at a time reading them."""
    s = dataclasses.replace(park.with_days(8 * park.period.step_s / 86400),
                            controller=dataclasses.replace(park.controller, kind="ems",
                                                           forecaster="persistence"))
    assert blocking.block_steps(s) == 1
    assert blocking.producer_steps(s) == 8
    monkeypatch.setattr(blocking, "MAX_BLOCK_STEPS", 3)
    steps, none = _run(s, tmp_path / "steps", 1, monkeypatch)
    ahead: list[str] = []  # the loads' look-ahead over each block: factories, EV arrivals

    def counting(f: Any, name: str) -> Any:
        def counted(self: Any, *args: Any) -> Any:
            ahead.append(name)
            return f(self, *args)
        return counted

    monkeypatch.setattr(FactoryLoad, "step_block", counting(FactoryLoad.step_block, "factory"))
    monkeypatch.setattr(EVHub, "draw_ahead", counting(EVHub.draw_ahead, "ev"))
    mixed, calls = _run(s, tmp_path / "mixed", None, monkeypatch)
    assert ahead.count("factory") == 3 * len(s.factory_loads) > 0  # once a block each
    assert ahead.count("ev") == 3 * len(s.ev_hubs) > 0
    loads = tuple(f"series/{x.name}/" for x in (*s.factory_loads, *s.ev_hubs))
    same = [name for name, x in steps.items() if name.startswith(loads)
            and np.array_equal(x, mixed[name], equal_nan=True)]  # to the last bit
    assert len(same) == sum(name.startswith(loads) for name in steps) >= 3 * len(loads)
    assert not none
    assert calls["BlockWeatherSim"] == calls["BlockPVSim"] == calls["BlockWindSim"] == 3
    assert calls["BlockAOISim"] == 3
    assert calls["BlockWeatherSim.block"] == 3  # no weather event: slices of its series
    assert calls["BlockEMSSim"] == calls["BlockGridSim"] == calls["BlockLoadsSim"] == 8
    assert _assert_same(steps, mixed) > 150
    commands = [v for name, v in steps.items() if name.startswith("series/cmd-")]
    assert commands
    assert max(np.nanmax(np.abs(v)) for v in commands) > 0  # the EMS acted


def test_which_runs_step_in_blocks(park: scenario.Scenario) -> None:
    ems = dataclasses.replace(park, controller=dataclasses.replace(park.controller, kind="ems"))
    book = EventBook((), park.start_utc, park.park.timezone, park.period.duration_s)
    assert blocking.block_steps(park.with_days(2)) == 96  # a day of 15-minute steps
    assert blocking.block_steps(park.with_days(0.25)) == 24  # no longer than the run
    assert blocking.block_steps(park, fast_progress=False) == 1  # mosaik's own loop
    assert blocking.block_steps(ems) == 1
    assert blocking.block_steps(park, events=book) == 1  # a live view's book
    assert blocking.block_steps(park, observer=print) == 1
    assert blocking.block_steps(park, extensions=[object()]) == 1  # hardware in the loop
    minute = dataclasses.replace(park, period=dataclasses.replace(park.period, step=60))
    assert blocking.block_steps(minute.with_days(2)) == 1440
    second = dataclasses.replace(park, period=dataclasses.replace(park.period, step=1))
    assert blocking.block_steps(second.with_days(1)) == blocking.MAX_BLOCK_STEPS  # not 86,400
    # every simulator of the park has its block version (else the run steps one at a time)
    sims = world._simulators(park)
    assert {"Weather", "PV", "Wind", "Loads", "Battery", "AOI", "Grid", "Recorder"} <= sims
    assert all(f"Block{world.ADAPTERS[sid].__name__}" in BLOCKS for sid in sims)
    assert "EMS" in world._simulators(ems)
    assert blocking.producer_steps(ems.with_days(2)) == 96  # under the EMS: weather, PV, wind,
    # AOI
    assert blocking.producer_steps(park) == 1  # the rule: every simulator in blocks
    assert blocking.producer_steps(ems, observer=print) == 1


def test_a_block_of_power_flows_is_the_steps_power_flows(park: scenario.Scenario) -> None:
    """ParkGrid.step_block against ParkGrid.step one step after the other, on two fresh
    copies of the reference network: a day of varied injections with one step no power flow
    can solve (a load of 50 GW), which must fail alike (NaN, the lossless fallback) and leave
    the next steps equal; and the steps through lightsim2grid's time-series chain (the fast
    path, in use on this network) against its bare solver's, one call a step."""
    net = build_grid(park).net
    steps, block, outputs, bare = ParkGrid(net), ParkGrid(net), ParkGrid(net), ParkGrid(net)
    assert steps.topology().solver._chain is not None
    bare.topology().solver._chain = None
    rng = np.random.default_rng(7)
    p = rng.uniform(0.0, 20.0, (24, len(steps.names)))
    p[9, steps.index[steps.names[0]]] = 5e4
    lossless = rng.uniform(-50.0, 50.0, 24)
    one = [steps.step(p[k], float(lossless[k])) for k in range(24)]
    for a, b in zip(one, [bare.step(p[k], float(lossless[k])) for k in range(24)], strict=True):
        assert a.converged == b.converged
        np.testing.assert_allclose(a.flow.vm_pu, b.flow.vm_pu, rtol=0, atol=1e-9)
        assert abs(a.p_net_mw - b.p_net_mw) <= 1e-7  # NR stopping points within tolerance
    many = block.step_block(p, lossless)
    assert many is not None
    assert [s.converged for s in many] == [s.converged for s in one]
    assert not one[9].converged
    assert sum(s.converged for s in one) == 23
    for a, b in zip(one, many, strict=True):
        assert abs(a.p_net_mw - b.p_net_mw) <= 1e-9
        assert abs(a.p_loss_mw - b.p_loss_mw) <= 1e-9
        for x, y in ((a.flow.vm_pu, b.flow.vm_pu), (a.flow.line_p_from_mw, b.flow.line_p_from_mw),
                     (a.flow.trafo_loading_pct, b.flow.trafo_loading_pct)):
            np.testing.assert_allclose(y, x, rtol=0, atol=1e-9)
    assert many[9].p_net_mw == lossless[9]
    # the grid simulator's outputs of the block, attribute by attribute, against its steps'
    totals = {"p_load_mw": rng.uniform(0.0, 9.0, 24), "p_gen_mw": rng.uniform(0.0, 9.0, 24)}
    flows = outputs.flows_block(p, lossless)
    assert flows is not None
    got = blocks_module._grid_outputs(*flows, totals)
    for k, step in enumerate(one):
        want = grid_sim._outputs(step, {a: float(t[k]) for a, t in totals.items()})
        assert list(got) == list(want)
        for attr, value in want.items():
            np.testing.assert_allclose(got[attr][k], value, rtol=0, atol=1e-9, err_msg=attr)


def test_a_block_of_rows_is_written_as_its_steps(tmp_path: Path) -> None:
    """RunWriter.append_block against append_columns step after step: the same file, across
    a chunk's end, with a scalar missing (None), a vector missing and a vector given as one
    number for its row."""
    series = {("pv", "p_mw"): results.SeriesInfo("MW"), ("bess", "soc"): results.SeriesInfo("1"),
              ("grid", "vm_pu"): results.SeriesInfo("p.u.", columns=("b1", "b2", "b3"))}
    rng = np.random.default_rng(3)
    n = 11
    times = [900 * k for k in range(n)]
    p = rng.uniform(0, 5, n).tolist()
    soc: list[Any] = rng.uniform(0, 1, n).tolist()
    soc[4] = None
    vm: list[Any] = rng.uniform(0.9, 1.1, (n, 3)).tolist()
    vm[2], vm[3] = None, float("nan")
    files = {}
    for how in ("steps", "block"):
        w = results.RunWriter(tmp_path / f"{how}.h5", {"step_s": 900}, series, chunk_steps=4)
        if how == "steps":
            for k in range(n):
                w.append_columns(times[k], [0, 1], [p[k], soc[k]], {2: vm[k]})
        else:
            w.append_block(times[:6], [0, 1], np.array([p[:6], soc[:6]], dtype=float),
                           {2: vm[:6]})
            w.append_block(times[6:], [1], np.array([soc[6:]], dtype=float), {})
        w.close()
        files[how] = _series(tmp_path / f"{how}.h5")
    a, b = files["steps"], files["block"]
    assert np.isnan(b["series/pv/p_mw"][6:]).all()  # not given in the second block
    a["series/pv/p_mw"][6:] = np.nan
    a["series/grid/vm_pu"][6:] = np.nan
    assert np.isnan(b["series/grid/vm_pu"][[2, 3]]).all()
    assert _assert_same(a, b) >= 4
    np.testing.assert_array_equal(b["time"], times)


def test_a_profiles_block_means_are_its_steps_means() -> None:
    """A factory's block of profile means (:meth:`DayProfile.means`) is each step's
    :meth:`DayProfile.mean`, number for number: blocks inside a day, across local midnight
    into another day type (a Friday into a Saturday), a step that itself crosses midnight
    (the per-step route), and a calendar whose UTC offset changes (the per-step route)."""
    from twin.models.loads.calendar import DayProfile, ParkCalendar

    rng = np.random.default_rng(5)
    profile = DayProfile([rng.random(1440).tolist() for _ in range(4)])
    shanghai = ParkCalendar(timezone="Asia/Shanghai", years=range(2027, 2028))
    berlin = ParkCalendar(timezone="Europe/Berlin", years=range(2027, 2028))
    friday = int(dt.datetime(2027, 3, 26, 12, tzinfo=dt.timezone(dt.timedelta(hours=8)))
                 .timestamp())
    assert profile.day_integral(0) != profile.day_integral(1)  # workday and weekend differ
    for cal, dt_s, n in ((shanghai, 900, 96), (shanghai, 60, 1440), (shanghai, 7 * 3600, 6),
                         (berlin, 900, 200)):
        epochs = [friday + k * dt_s for k in range(n)]
        got = profile.means(cal, epochs, dt_s, "electronics")
        want = np.array([profile.mean(cal, e, dt_s, "electronics") for e in epochs])
        assert np.array_equal(got, want)
