"""Scenario -> mosaik World: the only place that wires simulators.

One simulator per model family (weather, PV, wind, loads, battery, grid or lossless
balance, recorder), many entities each. Data flows within each step, without loops::

    weather -> pv, wind, loads -> battery (local rule) -> grid or balance (PCC) -> recorder

Third-party simulators named in the scenario's ``external`` list are started by their Python
path or command and linked to the park's entities as the scenario says.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import logging
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import mosaik

import twin
from adapters.aoi_sim import AOISim
from adapters.balance_sim import BalanceSim
from adapters.base import CONTROL_ATTR, Attr, TwinSimulator, resolution_for, seconds_value
from adapters.battery_sim import BatterySim
from adapters.blocks import BLOCKS
from adapters.ems_sim import COMMANDS, EMSSim
from adapters.grid_sim import GridSim, vector_columns
from adapters.loads_sim import LoadsSim
from adapters.pv_sim import PVSim
from adapters.recorder_sim import RecorderSim
from adapters.weather_sim import WeatherSim
from adapters.wind_sim import WindSim
from twin.accounting.carbon import factors as carbon_factors
from twin.core.kinds import GENERATORS, LOADS
from twin.cosim import blocking, fmus, scheduling
from twin.cosim.network import build_grid, grid_units
from twin.models.events import EventBook
from twin.models.grid.network import inventory
from twin.models.turbines import power_curve
from twin.scenario import Scenario

log = logging.getLogger(__name__)

ADAPTERS: dict[str, type[TwinSimulator]] = {
    "Weather": WeatherSim,
    "PV": PVSim,
    "Wind": WindSim,
    "Loads": LoadsSim,
    "Battery": BatterySim,
    "Balance": BalanceSim,
    "Grid": GridSim,
    "Recorder": RecorderSim,
    "EMS": EMSSim,
    "AOI": AOISim,
}

# (scenario list, simulator, model, kind recorded in the results)
FAMILIES = (
    ("pv_plants", "PV", "PVPlant", "pv"),
    ("wind_farms", "Wind", "WindFarm", "wind"),
    ("factory_loads", "Loads", "Factory", "factory"),
    ("ev_hubs", "Loads", "EVHub", "ev"),
    ("heat_supply", "Loads", "HeatSupply", "heat"),
    ("batteries", "Battery", "Battery", "battery"),
    ("aoi_lines", "AOI", "AOILine", "aoi"),
)
GEN_KINDS, LOAD_KINDS = GENERATORS, LOADS
# kind -> the weather it reads: each input its model declares among the weather's outputs
_WEATHER_OUT = {a.name for a in WeatherSim.MODELS["Weather"].outputs}
WEATHER_TO = {kind: names for _, sim, model, kind in FAMILIES
              if (names := tuple(a.name for a in ADAPTERS[sim].MODELS[model].inputs
                                 if a.name in _WEATHER_OUT))}


@dataclass
class Wiring:
    """Entities created so far, with what the recorder needs to know about them."""

    entities: dict[str, Any] = field(default_factory=dict)  # label -> mosaik entity
    kinds: dict[str, str] = field(default_factory=dict)  # label -> kind
    series: list[list[Any]] = field(default_factory=list)  # [label, attr, unit, doc, columns, agg]
    labels: dict[str, str] = field(default_factory=dict)  # full id -> label
    attrs: dict[str, dict[str, Any]] = field(default_factory=dict)  # label -> group attrs
    bundles: dict[str, Any] = field(default_factory=dict)  # simulator -> its Outputs entity

    def add(self, label: str, entity: Any, kind: str, outputs: Iterable[Attr],
            spec: dict[str, Any] | None = None,
            columns: dict[str, list[str]] | None = None) -> None:
        self.entities[label] = entity
        self.kinds[label] = kind
        self.labels[entity.full_id] = label
        columns = columns or {}
        self.series.extend([label, a.name, a.unit, a.doc, columns.get(a.name, []), a.agg]
                           for a in outputs if columns.get(a.name, True))  # no empty vectors
        self.attrs[label] = {"kind": kind, "spec": json.dumps(spec or {}, default=str)}

    def of_kind(self, *kinds: str) -> list[Any]:
        return [e for label, e in self.entities.items() if self.kinds[label] in kinds]


def sim_config(scenario: Scenario, block: bool = False) -> dict[str, dict[str, str]]:
    """mosaik's sim config: the park's adapters (their block versions, :mod:`adapters.block`,
    with ``block``) and the scenario's external simulators."""
    config = {name: {"python": f"adapters.blocks:Block{cls.__name__}" if block
                     and f"Block{cls.__name__}" in BLOCKS else f"{cls.__module__}:{cls.__name__}"}
              for name, cls in ADAPTERS.items()}
    for ext in scenario.external:
        config[f"ext:{ext.name}"] = ({"python": ext.python} if ext.python
                                     else {"cmd": ext.cmd or ""})
    return config | fmus.sim_config(scenario)


class Extension(Protocol):
    """A part wired into the park by whoever runs it (hardware in the loop, live telemetry):
    its simulators for mosaik's sim config, and a build step called after the park's own
    entities exist and before the controller and the point of common coupling are wired."""

    def sim_config(self) -> dict[str, dict[str, str]]: ...

    def build(self, world: mosaik.World, scenario: Scenario, wiring: Wiring,
              factories: dict[str, Any], path: Path) -> None: ...


@dataclass
class Simulated:
    """What a co-simulation produced, before anyone judged it."""

    path: Path
    n_steps: int
    timing: dict[str, dict[str, float]] = field(default_factory=dict)  # per simulator
    lines: dict[str, Any] = field(default_factory=dict)  # the AOI lines' summaries
    phases_s: dict[str, float] = field(default_factory=dict)  # build, simulate


def simulate(
    scenario: Scenario,
    path: Path,
    progress: Callable[[int], None] | None = None,
    fast_progress: bool = True,
    events: EventBook | None = None,
    observer: Callable[[int, Mapping[tuple[str, str], Any]], None] | None = None,
    extensions: Sequence[Extension] = (),
    block_steps: int | None = None,
) -> Simulated:
    """Wire the scenario into a mosaik World and run it to the end; the recorder writes
    ``path``. ``fast_progress`` runs under :func:`twin.cosim.scheduling.lean` (same numbers,
    less bookkeeping). ``block_steps``: steps each simulator takes per mosaik step (default:
    a day's where :func:`twin.cosim.blocking.block_steps` allows, else 1; same results). ``events``: the book the simulators read the events in force from each
    step (default: the scenario's events); a live view adds to it while the run goes.
    ``observer`` is called with each step's recorded values (:mod:`adapters.recorder_sim`).
    """
    resolution = resolution_for(scenario.period.step_s)  # 1 s, or 1 ms below whole seconds
    until = scenario.n_steps * round(scenario.period.step_s / resolution)  # mosaik ticks
    loop = asyncio.new_event_loop()
    producers = 1  # the weather's, PV's and wind's block under the EMS
    if block_steps is None:
        when = {"fast_progress": fast_progress, "events": events, "observer": observer,
                "extensions": extensions}
        block_steps = blocking.block_steps(scenario, **when)
        producers = blocking.producer_steps(scenario, **when)
    if max(block_steps, producers) > 1 and not all(f"Block{ADAPTERS[sid].__name__}" in BLOCKS
                                                   for sid in _simulators(scenario)):
        block_steps = producers = 1  # a simulator without a block version: step by step
    config = sim_config(scenario, block=max(block_steps, producers) > 1)
    for ext in extensions:
        config.update(ext.sim_config())
    world = mosaik.World(config, time_resolution=resolution, skip_greetings=True,
                         configure_logging=False, asyncio_loop=loop)
    if block_steps > 1:  # what :func:`start` gives the park's block simulators
        world.twin_block = {"block_steps": block_steps, "n_steps": scenario.n_steps}
    elif producers > 1:  # the producers a block each, the rest a step reading their blocks
        world.twin_block = {"block_inputs": producers}
        world.twin_producers = {"block_steps": producers, "n_steps": scenario.n_steps}
    t0 = time.perf_counter()
    try:
        book = events if events is not None else EventBook(
            scenario.events, scenario.start_utc, scenario.park.timezone,
            scenario.period.duration_s)
        with scheduling.quiet_gc(freeze=False):
            factories = _build(world, scenario, path, progress, book, observer, extensions)
        t1 = time.perf_counter()
        with scheduling.lean(fast_progress), scheduling.quiet_gc(), _interrupt_kept():
            world.run(until=until, print_progress=False, shutdown=False)
        timing = {sid: f.timing() for sid, f in factories.items() if hasattr(f, "timing")}
        lines = factories["AOI"].summary() if "AOI" in factories else {}
    finally:
        _cancel_pending(loop)
        world.shutdown()
        loop.close()
    t2 = time.perf_counter()
    return Simulated(path=path, n_steps=scenario.n_steps, timing=timing, lines=lines,
                     phases_s={"build": t1 - t0, "simulate": t2 - t1})


def _simulators(s: Scenario) -> set[str]:
    """The park simulators a run of ``s`` starts (external ones and extensions aside)."""
    sids = {sim for key, sim, _, _ in FAMILIES if getattr(s, key)}
    sids |= {"Weather", "Recorder", "Grid" if s.grid is not None else "Balance"}
    return sids | ({"EMS"} if s.controller.kind == "ems" else set())


def _cancel_pending(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel the simulators' tasks a run left behind (one stopped early, e.g. by its progress
    callback), so that closing the loop does not report them as destroyed while pending."""
    if loop.is_closed():
        return
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))


def start(world: mosaik.World, scenario: Scenario, name: str, **params: Any) -> Any:
    block = getattr(world, "twin_producers" if name in blocking.PRODUCERS
                    and hasattr(world, "twin_producers") else "twin_block", {})
    return world.start(name, start=scenario.start_utc.isoformat(),
                       step_s=scenario.period.step_s, **block, **params)


def _build(world: mosaik.World, s: Scenario, path: Path,
           progress: Callable[[int], None] | None, events: EventBook,
           observer: Callable[[int, Mapping[tuple[str, str], Any]], None] | None = None,
           extensions: Sequence[Extension] = ()) -> dict[str, Any]:
    """Start the simulators, create the entities and connect them."""
    wiring = Wiring()
    factories: dict[str, Any] = {}
    park = s.park

    factories["Weather"] = start(world, s, "Weather", duration_s=s.period.duration_s,
                                  events=events)
    weather = factories["Weather"].Weather.create(
        1, name="weather", source=s.weather.source,
        path=str(s.weather.path) if s.weather.path else None, site=s.weather.site,
        latitude=park.latitude, longitude=park.longitude, seed=park.seed)[0]
    wiring.add("weather", weather, "weather", WeatherSim.MODELS["Weather"].outputs,
               dataclasses.asdict(s.weather))

    sim_params = {
        "PV": {"latitude": park.latitude, "longitude": park.longitude,
               "altitude_m": park.altitude_m},
        "Wind": {},
        "Loads": {"timezone": park.timezone, "seed": park.seed,
                  "duration_s": s.period.duration_s, "flex": s.controller.kind == "ems",
                  "events": events, "reserve_mw": list(s.controller.storage_schedule_mw),
                  "boil_mw": list(s.controller.eboiler_schedule_mw),
                  "heat_pump_mw": list(s.controller.heat_pump_schedule_mw),
                  "heat_store_mw": list(s.controller.heat_store_schedule_mw)},
        "Battery": {},
        "AOI": {"seed": park.seed, "timezone": park.timezone,
                "duration_s": s.period.duration_s, "events": events,
                # a line steps with the park, so each recorded value is that step's (an
                # hourly amount held over four 15-minute steps would be summed four times)
                "line_step_s": _aoi_step(s.period.step_s),
                "co2_kg_per_kwh": carbon_factors(s.carbon.factor_year,  # t/MWh = kg/kWh
                                                 s.carbon.region).grid_t_per_mwh,
                "frames_dir": str(path.with_suffix("")) + "-aoi"
                if any(a.fidelity == "full" for a in s.aoi_lines) else None},
    }
    for key, sim, model, kind in FAMILIES:
        specs = getattr(s, key)
        if not specs:
            continue
        if sim not in factories:
            factories[sim] = start(world, s, sim, **sim_params[sim])
        for spec in specs:
            params = dataclasses.asdict(spec)
            entity = getattr(factories[sim], model).create(1, **params)[0]
            wiring.add(spec.name, entity, kind, ADAPTERS[sim].MODELS[model].outputs,
                       _recorded_spec(kind, params))
            for attr in WEATHER_TO.get(kind, ()):
                world.connect(weather, entity, attr)
    for ext in extensions:
        ext.build(world, s, wiring, factories, path)

    fmu_gens, fmu_loads = fmus.build(world, s, wiring)
    gens, loads = wiring.of_kind(*GEN_KINDS) + fmu_gens, wiring.of_kind(*LOAD_KINDS) + fmu_loads
    _connect_heat(world, s, wiring, gens, loads)
    batteries = wiring.of_kind("battery")
    if s.controller.kind == "ems":  # a live view or HIL: plans made beside the steps
        _build_ems(world, s, wiring, factories, events,
                   background=observer is not None or bool(extensions))
    elif batteries:  # the default controller: the battery simulator's local rule
        rule = factories["Battery"].Rule.create(
            1, name="controller", schedule_mw=list(s.controller.storage_schedule_mw),
            grid_mw=list(s.controller.grid_schedule_mw))[0]
        wiring.add("controller", rule, "controller", BatterySim.MODELS["Rule"].outputs)
        _connect_all(world, gens, rule, ("p_mw", "p_gen_mw"))
        _connect_all(world, loads, rule, ("p_mw", "p_load_mw"))

    pcc = _build_pcc(world, s, wiring, factories, events)
    _connect_all(world, gens, pcc, ("p_mw", "p_gen_mw"))
    _connect_all(world, loads, pcc, ("p_mw", "p_load_mw"))
    _connect_all(world, batteries, pcc, ("p_mw", "p_storage_mw"))
    if "EMS" in factories and "Grid" in factories:  # the network's losses, a step late
        world.connect(pcc, wiring.entities["ems"], ("p_loss_mw", "grid_loss_mw"),
                      time_shifted=True, initial_data={"p_loss_mw": float("nan")})

    _build_external(world, s, wiring)
    _build_recorder(world, s, wiring, factories, path, progress, observer)
    return factories


@contextlib.contextmanager
def _interrupt_kept() -> Iterator[None]:
    """A Ctrl-C (SIGINT) during the block raised again at its end: mosaik's run takes one
    for a cancel and returns as if the run had ended, and the run would then be judged
    incomplete instead of interrupted. Only in the main thread, under Python's own handler
    (a command with a handler of its own keeps it)."""
    if threading.current_thread() is not threading.main_thread() \
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    caught: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        caught.append(signum)
        signal.default_int_handler(signum, frame)

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if caught:
        raise KeyboardInterrupt


def _connect_heat(world: mosaik.World, s: Scenario, wiring: Wiring, gens: list[Any],
                  loads: list[Any]) -> None:
    """Electric boilers run on the park's spare power: the generation less the loads the
    balance counts. The loads simulator sums its own (factories, EV hubs, the heat supplies
    before); the others (production lines, FMUs) come in as ``p_load_mw``: of the same step,
    or of the step before where an FMU reads the loads simulator (the FMUs' simulator then
    closes a same-step cycle). A hardware meter standing for a factory is counted as its twin
    inside."""
    inside = {spec.name for key, sim, _, _ in FAMILIES if sim == "Loads"
              for spec in getattr(s, key)}
    reading = {wiring.entities[f.name].sid for f in s.fmus
               if {src.split(".", 1)[0] for src in (f.inputs or {}).values()} & inside}
    for h in s.heat_supply:
        if h.eboiler_mw <= 0:
            continue
        heat = wiring.entities[h.name]
        _connect_all(world, gens, heat, ("p_mw", "p_gen_mw"))
        for load in loads:
            label = wiring.labels[load.full_id]
            if load.sid == heat.sid or label in inside:
                continue
            late = load.sid in reading
            world.connect(load, heat, ("p_mw", "p_load_mw"), time_shifted=late,
                          initial_data={"p_mw": 0.0} if late else {})


def _build_ems(world: mosaik.World, s: Scenario, wiring: Wiring,
               factories: dict[str, Any], events: EventBook | None = None,
               background: bool = False) -> None:
    """The energy management system: snapshots of the park in, commands out.

    Measurements come as each simulator's ``Outputs`` snapshot (the batteries' time-shifted:
    the SOC at the start of the step); commands go to each simulator's ``Control`` entity,
    at once for the batteries, one step later (time-shifted) for the loads.
    """
    from twin.cosim import ems as ems_setup  # the EMS's models only where it runs

    factories["EMS"] = start(world, s, "EMS", ems=ems_setup.build(s, events, background))
    ems = factories["EMS"].EMS.create(1, name="ems", kinds=dict(wiring.kinds))[0]
    wiring.add("ems", ems, "ems", EMSSim.MODELS["EMS"].outputs)
    for sid in ("PV", "Wind", "Loads", "AOI"):
        if sid in factories:
            world.connect(_bundle(wiring, factories, sid), ems, "outputs")
    if "Battery" in factories:
        world.connect(_bundle(wiring, factories, "Battery"), ems, ("outputs", "storage"),
                      time_shifted=True, initial_data={"outputs": {
                          b.name: {"soc": b.soc_init} for b in s.batteries}})
        control = factories["Battery"].Control.create(1, name="control")[0]
        world.connect(ems, control, ("storage_commands", CONTROL_ATTR))
    if "Loads" in factories:
        control = factories["Loads"].Control.create(1, name="control")[0]
        world.connect(ems, control, ("load_commands", CONTROL_ATTR), time_shifted=True,
                      initial_data={"load_commands": {}})
    models = {"battery": "BatteryCommand", "ev": "EVCommand", "factory": "ShiftCommand"}
    for label, kind in list(wiring.kinds.items()):
        if kind in models:  # recorded: the decision sent to each device
            model = models[kind]
            cmd = getattr(factories["EMS"], model).create(1, name=f"cmd-{label}",
                                                          target=label)[0]
            wiring.add(f"cmd-{label}", cmd, "command", (COMMANDS[model],), {"target": label})


def _aoi_step(step_s: float) -> float:
    """The AOI lines' step: the park's up to an hour (a HIL run's 0.1 s too), else an hour."""
    return seconds_value(step_s) if 0 < step_s <= 3600 else 3600


def _bundle(wiring: Wiring, factories: dict[str, Any], sid: str) -> Any:
    """The ``Outputs`` snapshot entity of simulator ``sid`` (made once, shared)."""
    if sid not in wiring.bundles:
        wiring.bundles[sid] = factories[sid].Outputs.create(1, name="outputs")[0]
    return wiring.bundles[sid]


def retire(wiring: Wiring, label: str, new: str, kind: str) -> Any:
    """Record an entity under a new label and kind (a bound entity's simulated twin)."""
    entity = wiring.entities.pop(label)
    wiring.kinds.pop(label)
    wiring.entities[new], wiring.kinds[new] = entity, kind
    wiring.attrs[new] = {**wiring.attrs.pop(label), "kind": kind}
    wiring.labels[entity.full_id] = new
    for row in wiring.series:
        if row[0] == label:
            row[0] = new
    return entity


def _build_pcc(world: mosaik.World, s: Scenario, wiring: Wiring,
               factories: dict[str, Any], events: EventBook | None = None) -> Any:
    """The point of common coupling: the network with its power flow, or a lossless balance."""
    if s.grid is None:
        factories["Balance"] = start(world, s, "Balance", events=events)
        pcc = factories["Balance"].PCC.create(1, name="pcc")[0]
        wiring.add("pcc", pcc, "pcc", BalanceSim.MODELS["PCC"].outputs)
        return pcc
    pn = build_grid(s)
    factories["Grid"] = start(world, s, "Grid", events=events)
    pcc = factories["Grid"].Grid.create(1, name="grid", net=pn.net,
                                        solver=s.grid.solver, control=s.grid.control,
                                        units=grid_units(s))[0]
    wiring.add("grid", pcc, "pcc", GridSim.MODELS["Grid"].outputs,
               {"buses": len(pn.net.bus), "lines": len(pn.net.line),
                "trafos": len(pn.net.trafo), **inventory(pn)},
               columns=vector_columns(pn.net))
    return pcc


def _build_recorder(world: mosaik.World, s: Scenario, wiring: Wiring,
                    factories: dict[str, Any], path: Path,
                    progress: Callable[[int], None] | None,
                    observer: Callable[[int, Mapping[tuple[str, str], Any]], None] | None = None
                    ) -> None:
    """The recorder, with one snapshot connection per park simulator."""
    factories["Recorder"] = start(world, s, "Recorder", progress=progress, observer=observer)
    recorder = factories["Recorder"].Recorder.create(
        1, name="recorder", path=str(path), meta=_meta(s), series=wiring.series,
        labels=wiring.labels, entities=wiring.attrs, n_steps=s.n_steps, publish=False)[0]
    for sid in factories:
        if sid != "Recorder":
            world.connect(_bundle(wiring, factories, sid), recorder, "outputs")
    for label, attr, *_ in wiring.series:  # external simulators, FMUs: attribute by attribute
        if wiring.kinds[label] in ("external", "fmu"):
            world.connect(wiring.entities[label], recorder, attr)


def _connect_all(world: mosaik.World, sources: list[Any], dest: Any,
                 pair: tuple[str, str]) -> None:
    for src in sources:
        world.connect(src, dest, pair)


def _build_external(world: mosaik.World, s: Scenario, wiring: Wiring) -> None:
    """Start the scenario's third-party simulators and link them to the park."""
    for ext in s.external:
        factory = world.start(f"ext:{ext.name}", **_external_params(world, s, ext))
        created = getattr(factory, ext.model).create(ext.n, **(ext.model_params or {}))
        for ent in created:
            label = f"{ext.name}.{ent.eid}"
            outputs = sorted({src for link in ext.links if link.source == label
                              for src, _ in link.attrs})
            wiring.add(label, ent, "external", [Attr(a, "", f"from {ext.name}") for a in outputs])
        for link in ext.links:
            world.connect(wiring.entities[link.source], wiring.entities[link.target],
                          *[tuple(pair) for pair in link.attrs])


def _external_params(world: mosaik.World, s: Scenario, ext: Any) -> dict[str, Any]:
    """An external simulator's parameters; a profile with ``on_end: repeat`` is read from a
    copy of its rows repeated to the run's end (:mod:`twin.models.loads.profile`), kept in a
    temporary folder as long as the world."""
    params = dict(ext.params or {})
    if ext.on_end != "repeat" or not isinstance(params.get("datafile"), str):
        return params
    from twin.models.loads import profile

    folder = getattr(world, "twin_profiles", None)
    if folder is None:
        folder = world.twin_profiles = tempfile.TemporaryDirectory(prefix="twin-profiles-")
    until = profile.parse_time(params.get("sim_start", s.period.start)) + dt.timedelta(
        seconds=s.period.duration_s)
    params["datafile"] = str(profile.repeat_file(
        Path(params["datafile"]), until, Path(folder.name) / f"{ext.name}.csv",
        str(params.get("delimiter", ","))))
    return params


def _recorded_spec(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """The spec recorded with an entity, plus derived ratings the KPIs need."""
    if kind == "wind":
        curve = power_curve(params["turbine_type"])
        return {**params, "p_rated_mw": curve.nominal_mw * params["n_turbines"]}
    return params


def _meta(s: Scenario) -> dict[str, Any]:
    return {
        "scenario": s.text,
        "scenario_path": str(s.path),
        "park": s.park.name,
        "version": twin.__version__,
        "mosaik_version": mosaik.__version__ if hasattr(mosaik, "__version__") else "",
        "seed": s.park.seed,
        "start": s.start_utc.isoformat(),
        "timezone": s.park.timezone,
        "step_s": s.period.step_s,
        "n_steps": s.n_steps,
        "carbon": json.dumps(dataclasses.asdict(s.carbon)),
        "economics": json.dumps(dataclasses.asdict(s.economics)),
        "products": json.dumps([dataclasses.asdict(p) for p in s.products]),
    }
