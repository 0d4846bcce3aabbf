"""The lean scheduler loop (:func:`twin.cosim.scheduling.lean`) against mosaik's own loop.

Small topologies of plain mosaik simulators, written here and run in process, each run once
under ``lean(True)`` and once under ``lean(False)``: every simulator logs each step (time,
inputs, ``max_advance``, next step) and each output it gives, and a collector logs every
value it receives; the logs of the two runs must be identical. Then: the patch is in place
only inside the block, and the lean loop really ran there; a mosaik it was not written for
gets a warning and mosaik's own loop with the same records; a World after the block runs
unpatched.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mosaik
import mosaik_api_v3
import pytest
from mosaik import scheduler
from mosaik.exceptions import SimulationError
from mosaik.tiered_time import TieredTime

from twin.cosim import scheduling

TRACE: dict[str, list[Any]] = {}  # simulator id -> what it saw and gave, step by step
HERE = __name__  # tests.test_scheduling: its simulators' module for mosaik's sim config


class _Logged(mosaik_api_v3.Simulator):
    """A simulator that logs its steps and outputs in :data:`TRACE`."""

    META: dict[str, Any] = {}

    def __init__(self) -> None:
        super().__init__(copy.deepcopy(self.META))
        self.state: dict[str, dict[str, Any]] = {}  # eid -> its parameters and values
        self.out: dict[str, dict[str, Any]] = {}  # eid -> outputs of the last step

    def init(self, sid: str, time_resolution: float, step_s: int = 60, **params: Any) -> Any:
        self.sid, self.step_s, self.params = sid, step_s, params
        self.log = TRACE.setdefault(sid, [])
        return self.meta

    def create(self, num: int, model: str, **params: Any) -> list[dict[str, Any]]:
        entities = []
        for _ in range(num):
            eid = f"{model}_{len(self.state)}"
            self.state[eid] = dict(params)
            entities.append({"eid": eid, "type": model})
        return entities

    def step(self, time: int, inputs: dict[str, Any], max_advance: int) -> int | None:
        self.out = {eid: self.compute(time, eid, inputs.get(eid, {}))
                    for eid in self.state}
        nxt = self.next_step(time, inputs)
        self.log.append(("step", time, copy.deepcopy(inputs), max_advance, nxt))
        return nxt

    def compute(self, time: int, eid: str, inputs: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def next_step(self, time: int, inputs: dict[str, Any]) -> int | None:
        return time + self.step_s

    def get_data(self, outputs: dict[str, list[str]]) -> dict[str, Any]:
        data = {eid: {a: self.out[eid][a] for a in attrs if a in self.out.get(eid, {})}
                for eid, attrs in outputs.items()}
        self.log.append(("data", copy.deepcopy(outputs), copy.deepcopy(data)))
        return data


def _total(values: dict[str, Any] | None) -> float:
    return float(sum(v for v in (values or {}).values() if v is not None))


class Wave(_Logged):
    """Time-based: ``val``, a saw tooth of the step count, plus a quarter of the feedback
    ``fb`` (a non-trigger input, for loops)."""

    META = {"type": "time-based", "models": {
        "Wave": {"public": True, "params": ["amp"], "attrs": ["fb", "val"]}}}

    def compute(self, time: int, eid: str, inputs: dict[str, Any]) -> dict[str, Any]:
        amp = self.state[eid].get("amp", 1.0)
        return {"val": amp * ((time // self.step_s) % 7 - 3) + 0.25 * _total(inputs.get("fb"))}


class Gain(_Logged):
    """Time-based with state: ``y = k * sum(u) + y_prev / 2``."""

    META = {"type": "time-based", "models": {
        "Gain": {"public": True, "params": ["k"], "attrs": ["u", "y"]}}}

    def compute(self, time: int, eid: str, inputs: dict[str, Any]) -> dict[str, Any]:
        state = self.state[eid]
        state["y"] = state.get("k", 1.0) * _total(inputs.get("u")) + 0.5 * state.get("y", 0.0)
        return {"y": state["y"]}


class Pulse(_Logged):
    """Event-based: an event ``ev`` at each step, one more than the sum of its input on
    ``trig``; besides, it asks for a step of its own ``step_s`` later every other time."""

    META = {"type": "event-based", "models": {
        "Pulse": {"public": True, "params": [], "attrs": ["trig", "ev"]}}}

    def compute(self, time: int, eid: str, inputs: dict[str, Any]) -> dict[str, Any]:
        return {"ev": _total(inputs.get("trig")) + 1.0}

    def next_step(self, time: int, inputs: dict[str, Any]) -> int | None:
        return time + self.step_s if (time // self.step_s) % 2 == 0 else None


class Echo(_Logged):
    """Event-based, for a loop within a time step: ``out`` is half the value fed back on
    ``inp`` if any, else the ``seed``; given only while it is above 0.05 in magnitude (so a
    loop of two of them settles)."""

    META = {"type": "event-based", "models": {
        "Echo": {"public": True, "params": [], "attrs": ["seed", "inp", "out"]}}}

    def compute(self, time: int, eid: str, inputs: dict[str, Any]) -> dict[str, Any]:
        out = 0.5 * _total(inputs["inp"]) if "inp" in inputs else _total(inputs.get("seed"))
        return {"out": out} if abs(out) > 0.05 else {}

    def next_step(self, time: int, inputs: dict[str, Any]) -> int | None:
        return None


class Hybrid(_Logged):
    """Hybrid: triggered by ``trig``, reads ``level`` when it steps, steps itself every
    ``step_s`` on even steps; gives the persistent ``h`` and the event ``alarm``. Its step
    asks mosaik for its related entities (a generator, as simulators that make requests
    back to mosaik have)."""

    META = {"type": "hybrid", "models": {
        "Hybrid": {"public": True, "params": [], "attrs": ["trig", "level", "h", "alarm"],
                   "trigger": ["trig"], "non-persistent": ["alarm"]}}}

    def step(self, time: int, inputs: dict[str, Any], max_advance: int) -> Any:
        related = yield self.mosaik.get_related_entities(
            [f"{self.sid}.{eid}" for eid in self.state])
        self.related = {k: sorted(v) for k, v in related.items()}
        return super().step(time, inputs, max_advance)

    def compute(self, time: int, eid: str, inputs: dict[str, Any]) -> dict[str, Any]:
        state = self.state[eid]
        state["h"] = state.get("h", 0.0) + _total(inputs.get("level")) - _total(inputs.get("trig"))
        out = {"h": state["h"] + len(self.related[f"{self.sid}.{eid}"])}
        if "trig" in inputs:
            out["alarm"] = state["h"] > 0
        return out

    def next_step(self, time: int, inputs: dict[str, Any]) -> int | None:
        return time + self.step_s if (time // self.step_s) % 2 == 0 else None


class Collector(_Logged):
    """Event-based, any inputs: logs every value it receives (in its steps' inputs)."""

    META = {"type": "event-based", "models": {
        "Collector": {"public": True, "params": [], "attrs": [], "any_inputs": True}}}

    def compute(self, time: int, eid: str, inputs: dict[str, Any]) -> dict[str, Any]:
        return {}

    def next_step(self, time: int, inputs: dict[str, Any]) -> int | None:
        return None


SIMS = {name: {"python": f"{HERE}:{name}"}
        for name in ("Wave", "Gain", "Pulse", "Echo", "Hybrid", "Collector")}
SIMS["CSV"] = {"python": "mosaik_csv:CSV"}


# --- topologies: (world, tmp_path) -> until ------------------------------------------------

def chain(world: mosaik.World, tmp_path: Path) -> int:
    """(1) Time-based: wave -> gain -> slower gain -> collector."""
    waves = world.start("Wave", step_s=60).Wave.create(2, amp=1.5)
    g1 = world.start("Gain", step_s=60).Gain(k=2.0)
    g2 = world.start("Gain", step_s=120).Gain(k=0.5)
    col = world.start("Collector").Collector()
    for w in waves:
        world.connect(w, g1, ("val", "u"))
        world.connect(w, col, "val")
    world.connect(g1, g2, ("y", "u"))
    world.connect(g2, col, "y")
    return 1200


def events(world: mosaik.World, tmp_path: Path) -> int:
    """(2) Event-based: a wave triggers a pulse, whose events trigger another; both also
    step on their own; the collector gets the events."""
    wave = world.start("Wave", step_s=300).Wave(amp=2.0)
    pa_sim = world.start("Pulse", step_s=200)
    pa = pa_sim.Pulse()
    pb_sim = world.start("Pulse", step_s=450)
    pb = pb_sim.Pulse()
    col = world.start("Collector").Collector()
    world.connect(wave, pa, ("val", "trig"))
    world.connect(pa, pb, ("ev", "trig"))
    world.connect(pa, col, "ev")
    world.connect(pb, col, "ev")
    world.set_initial_event(pb_sim._sid, 100)
    return 3000


def hybrid(world: mosaik.World, tmp_path: Path) -> int:
    """(3) Hybrid: hybrid simulators triggered by events of a pulse (itself triggered by a
    wave), with a time-based measurement input, read by a time-based gain."""
    wave = world.start("Wave", step_s=200).Wave(amp=1.0)
    beat = world.start("Wave", step_s=350).Wave(amp=0.5)
    pulse_sim = world.start("Pulse", step_s=450)
    pulse = pulse_sim.Pulse()
    world.connect(beat, pulse, ("val", "trig"))
    hyb = world.start("Hybrid", step_s=300).Hybrid.create(2)
    gain = world.start("Gain", step_s=150).Gain(k=0.3)
    col = world.start("Collector").Collector()
    world.set_initial_event(pulse_sim._sid)
    for h in hyb:
        world.connect(wave, h, ("val", "level"))
        world.connect(pulse, h, ("ev", "trig"))
        world.connect(h, gain, ("h", "u"))
        world.connect(h, col, "alarm", "h")
    world.connect(gain, col, "y")
    return 3000


def shifted_loop(world: mosaik.World, tmp_path: Path) -> int:
    """(4) A loop closed by a time-shifted connection with initial data: the wave feeds the
    gain, the gain's output feeds the wave back one time unit later."""
    wave = world.start("Wave", step_s=60).Wave(amp=1.0)
    gain = world.start("Gain", step_s=90).Gain(k=0.8)
    col = world.start("Collector").Collector()
    world.connect(wave, gain, ("val", "u"))
    world.connect(gain, wave, ("y", "fb"), time_shifted=True, initial_data={"y": 0.5})
    world.connect(wave, col, "val")
    world.connect(gain, col, "y")
    return 1500


def weak_loop(world: mosaik.World, tmp_path: Path) -> int:
    """(5) A loop within the same time step: two echoes in a group, closed by a weak
    connection, halving a wave's value until it settles."""
    wave = world.start("Wave", step_s=300).Wave(amp=4.0)
    with world.group():
        ea = world.start("Echo").Echo()
        eb = world.start("Echo").Echo()
    col = world.start("Collector").Collector()
    world.connect(wave, ea, ("val", "seed"))
    world.connect(ea, eb, ("out", "inp"))
    world.connect(eb, ea, ("out", "inp"), weak=True)
    world.connect(ea, col, "out")
    world.connect(eb, col, "out")
    return 3000


def csv_feed(world: mosaik.World, tmp_path: Path) -> int:
    """(6) A third-party simulator: mosaik-csv's CSV reading a small profile, into a gain
    stepping twice as often and the collector."""
    rows = ["Profile", "Date,P,Q"] + [
        f"2024-01-01 {i // 4:02d}:{15 * (i % 4):02d}:00,{1.0 + 0.25 * (i % 5)},{-0.5 * i}"
        for i in range(24)]
    path = tmp_path / "profile.csv"
    path.write_text("\n".join(rows) + "\n")
    data = world.start("CSV", sim_start="2024-01-01 00:00:00", datafile=str(path))
    profile = data.Profile.create(2)
    gain = world.start("Gain", step_s=450).Gain(k=1.5)
    col = world.start("Collector").Collector()
    for p in profile:
        world.connect(p, gain, ("P", "u"))
        world.connect(p, col, "Q")
    world.connect(gain, col, "y")
    return 900 * 16


def timed(world: mosaik.World, tmp_path: Path) -> int:
    """(7) Time-based only, as the park's runs: two waves of other steps feed a gain, which
    feeds the first wave back one time unit later and a slower gain; a third gain, stepping
    at yet another pace, reads them all (no event-based collector: mosaik's tasks are not
    needed, the steps run in one loop)."""
    fast = world.start("Wave", step_s=60).Wave(amp=1.0)
    slow = world.start("Wave", step_s=150).Wave(amp=2.0)
    g1 = world.start("Gain", step_s=60).Gain(k=0.8)
    g2 = world.start("Gain", step_s=120).Gain(k=0.5)
    sink = world.start("Gain", step_s=45).Gain(k=1.0)
    world.connect(fast, g1, ("val", "u"))
    world.connect(slow, g1, ("val", "u"))
    world.connect(g1, fast, ("y", "fb"), time_shifted=True, initial_data={"y": 0.5})
    world.connect(g1, g2, ("y", "u"))
    for src, attr in ((fast, "val"), (slow, "val"), (g1, "y"), (g2, "y")):
        world.connect(src, sink, (attr, "u"))
    return 1500


TOPOLOGIES = [chain, events, hybrid, shifted_loop, weak_loop, csv_feed, timed]
IN_ORDER = {"timed"}  # the topologies whose steps the lean loop runs in one loop


def run(topology: Callable[[mosaik.World, Path], int], tmp_path: Path,
        lean: bool | None, cache: bool = True) -> dict[str, Any]:
    """Build the topology in a new World and run it under ``lean(lean)`` (no block at all
    with None); the simulators' logs and what the run says of itself."""
    TRACE.clear()
    loop = asyncio.new_event_loop()
    world = mosaik.World(SIMS, skip_greetings=True, configure_logging=False, cache=cache,
                         asyncio_loop=loop)
    try:
        until = topology(world, tmp_path)
        if lean is None:
            active = None
            world.run(until=until, print_progress=False)
        else:
            with scheduling.lean(lean) as active:
                world.run(until=until, print_progress=False)
    finally:
        if not loop.is_closed():
            world.shutdown()
    return {"trace": copy.deepcopy(TRACE), "active": active,
            "lean_steps": getattr(world._async_world, scheduling._STEPS, 0)}


def mosaik_own() -> bool:
    """mosaik's own scheduler functions are in place (none of the lean ones)."""
    return (scheduler.sim_process.__module__ == "mosaik.scheduler"
            and TieredTime.__add__.__module__ == "mosaik.tiered_time"
            and TieredTime.__lt__.__module__ == "mosaik.tiered_time"
            and not scheduling.is_active())


def assert_same(fast: dict[str, Any], slow: dict[str, Any]) -> None:
    assert fast["active"] is True
    assert fast["lean_steps"] > 0
    assert slow["active"] is False
    assert slow["lean_steps"] == 0
    assert fast["trace"].keys() == slow["trace"].keys()
    for sid in slow["trace"]:  # each simulator's steps, in order (independent simulators
        assert fast["trace"][sid] == slow["trace"][sid], sid  # may interleave otherwise)


@pytest.mark.parametrize("topology", TOPOLOGIES, ids=[t.__name__ for t in TOPOLOGIES])
def test_lean_loop_gives_the_same_records(topology, tmp_path, monkeypatch):
    in_order = []
    steps = scheduling._steps_in_order
    monkeypatch.setattr(scheduling, "_steps_in_order",
                        lambda *args: in_order.append(1) or steps(*args))
    fast = run(topology, tmp_path, lean=True)
    assert bool(in_order) == (topology.__name__ in IN_ORDER)  # one loop, or mosaik's tasks
    slow = run(topology, tmp_path, lean=False)
    assert all(slow["trace"].values()), "every simulator stepped"
    assert any(sid.startswith("Collector" if topology.__name__ not in IN_ORDER else "Gain")
               and len(log) > 4 for sid, log in slow["trace"].items())
    assert_same(fast, slow)
    assert mosaik_own()


@pytest.mark.parametrize("topology", [chain, shifted_loop, hybrid],
                         ids=["chain", "shifted_loop", "hybrid"])
def test_lean_loop_without_output_cache(topology, tmp_path):
    """Without mosaik's output cache, persistent values are pushed, and the initial data of
    a time-shifted connection becomes a persistent input: the lean loop takes mosaik's own
    input gathering then, with the same records."""
    assert_same(run(topology, tmp_path, lean=True, cache=False),
                run(topology, tmp_path, lean=False, cache=False))


def test_patch_only_inside_the_block(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger=scheduling.__name__)
    assert mosaik_own()
    with scheduling.lean() as active:
        assert active is True
        assert scheduler.sim_process is scheduling._sim_process
        assert TieredTime.__add__ is scheduling._tiered_add
        assert scheduling.is_active()
    assert mosaik_own()
    assert "lean scheduler loop active for this run" in caplog.text
    with scheduling.lean(False) as active:
        assert active is False
        assert mosaik_own()
    assert "off for this run: mosaik's own loop asked for" in caplog.text
    # the lean loop really runs inside: it counts its steps on the world
    assert run(chain, tmp_path, lean=True)["lean_steps"] > 0
    assert mosaik_own()


def test_patch_removed_after_an_exception(tmp_path):
    def stuck(world: mosaik.World, tmp_path: Path) -> int:
        world.start("Gain", step_s=0).Gain()  # its next step is not later: mosaik refuses
        return 600

    with pytest.raises(SimulationError, match="must be later than the current step"):
        run(stuck, tmp_path, lean=True)
    assert mosaik_own()


def test_blocks_nest():
    with scheduling.lean() as outer:
        with scheduling.lean() as inner:
            assert outer
            assert inner
            assert scheduling.is_active()
        assert scheduling.is_active()  # the inner exit leaves the outer block's patch
        with scheduling.lean(False) as off:
            assert off is False
            assert mosaik_own()
            with scheduling.lean() as again:
                assert again
                assert scheduling.is_active()
            assert mosaik_own()
        assert scheduling.is_active()
    assert mosaik_own()  # the outermost exit restores


def test_blocks_closed_out_of_order():
    """Runs in two threads may close their blocks in any order: the patch stays while one
    is open, and mosaik's own functions are back once none is."""
    first, second = scheduling.lean(), scheduling.lean()
    assert first.__enter__()
    assert second.__enter__()
    first.__exit__(None, None, None)
    assert scheduling.is_active()
    second.__exit__(None, None, None)
    assert mosaik_own()


def test_a_world_after_the_block_runs_unpatched(tmp_path):
    fast = run(hybrid, tmp_path, lean=True)
    after = run(hybrid, tmp_path, lean=None)
    assert after["lean_steps"] == 0
    assert mosaik_own()
    assert after["trace"] == fast["trace"]


@pytest.mark.parametrize("break_it", ["version", "signature"])
def test_unsupported_mosaik_warns_once_and_falls_back(break_it, tmp_path, monkeypatch,
                                                      caplog):
    reference = run(shifted_loop, tmp_path, lean=True)
    monkeypatch.setattr(scheduling, "_WARNED", set())
    if break_it == "version":
        monkeypatch.setattr(mosaik, "__version__", "3.7.0")
        expect = "mosaik 3.7.0 is not the 3.6.x the lean loop was written for"
    else:  # a scheduler function the lean loop calls, now taking other parameters
        own = scheduler.get_max_advance

        def get_max_advance(world, sim, until, extra=None):  # noqa: ANN001, ANN202
            return own(world, sim, until)

        monkeypatch.setattr(scheduler, "get_max_advance", get_max_advance)
        expect = "lacks what the lean loop relies on: scheduler.get_max_advance"
    caplog.set_level(logging.INFO, logger=scheduling.__name__)
    with pytest.warns(RuntimeWarning, match=expect) as record:
        fallback = run(shifted_loop, tmp_path, lean=True)
    assert len([w for w in record if "twin.cosim.scheduling" in str(w.message)]) == 1
    assert "\n" not in str(record[0].message)
    assert fallback["active"] is False
    assert fallback["lean_steps"] == 0
    assert fallback["trace"] == reference["trace"]
    assert expect in caplog.text
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once: no second warning
        again = run(shifted_loop, tmp_path, lean=True)
    assert again["active"] is False
    assert again["trace"] == reference["trace"]
    assert mosaik_own()
