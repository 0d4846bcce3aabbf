"""Scenario -> mosaik World: the only place that wires simulators.

One simulator per model family (weather, PV, wind, loads, battery, grid or lossless
balance, recorder), many entities each. Data flows within each step, without loops::

    weather -> pv, wind, loads -> battery (local rule) -> grid or balance (PCC) -> recorder

Third-party simulators named in the scenario's ``external`` list are started by their Python
path or command and linked to the park's entities as the scenario says.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mosaik

import twin
from adapters import scheduling
from adapters.aoi_sim import AOISim
from adapters.balance_sim import BalanceSim
from adapters.base import Attr, TwinSimulator
from adapters.battery_sim import BatterySim
from adapters.ems_sim import COMMANDS, EMSSim
from adapters.grid_sim import GridSim, vector_columns
from adapters.loads_sim import LoadsSim
from adapters.pv_sim import PVSim
from adapters.recorder_sim import RecorderSim
from adapters.weather_sim import WeatherSim
from adapters.wind_sim import WindSim
from hil.pacer import PacerSim
from hil.proxy_sim import HILSim
from twin import data as reference_data
from twin import ems_setup
from twin.assessment import Assessment, assess, assessment_kpis, hourly_table
from twin.carbon import factors as carbon_factors
from twin.carbon import granular_certificates
from twin.data.turbines import power_curve
from twin.events import EventBook
from twin.grid import io as grid_io
from twin.grid.network import Connection, ParkNetwork, build_network
from twin.kinds import GENERATORS, LOADS
from twin.kpi import aoi_kpis, grid_violations, park_kpis
from twin.loads import ev_params
from twin.results import KPI, open_run, write_array, write_kpis, write_table
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
    "Pacer": PacerSim,
    "HIL": HILSim,
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
WEATHER_TO = {
    "pv": ("ghi_w_m2", "dni_w_m2", "dhi_w_m2", "temp_air_c", "wind_ms", "wind_height_m",
           "roughness_m"),
    "wind": ("wind_ms", "wind_height_m", "roughness_m", "temp_air_c", "pressure_pa"),
    "factory": ("temp_air_c",),
    "heat": ("temp_air_c",),
}


@dataclass
class RunResult:
    """What a run produced: its file, its KPIs, its wall time and per-simulator timing."""

    path: Path
    kpis: dict[str, KPI]
    wall_s: float
    n_steps: int
    timing: dict[str, dict[str, float]] = field(default_factory=dict)
    phases_s: dict[str, float] = field(default_factory=dict)  # build, simulate, kpis
    assessment: Assessment | None = None  # carbon, criteria, costs (twin.assessment)


@dataclass
class _Wiring:
    """Entities created so far, with what the recorder needs to know about them."""

    entities: dict[str, Any] = field(default_factory=dict)  # label -> mosaik entity
    kinds: dict[str, str] = field(default_factory=dict)  # label -> kind
    series: list[list[str]] = field(default_factory=list)  # [label, attr, unit, doc]
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
        self.series.extend([label, a.name, a.unit, a.doc, columns.get(a.name, [])]
                           for a in outputs if columns.get(a.name, True))  # no empty vectors
        self.attrs[label] = {"kind": kind, "spec": json.dumps(spec or {}, default=str)}

    def of_kind(self, *kinds: str) -> list[Any]:
        return [e for label, e in self.entities.items() if self.kinds[label] in kinds]


def sim_config(scenario: Scenario) -> dict[str, dict[str, str]]:
    """mosaik's sim config: the park's adapters and the scenario's external simulators."""
    config = {name: {"python": f"{cls.__module__}:{cls.__name__}"}
              for name, cls in ADAPTERS.items()}
    for ext in scenario.external:
        config[f"ext:{ext.name}"] = ({"python": ext.python} if ext.python
                                     else {"cmd": ext.cmd or ""})
    return config


def output_path(scenario: Scenario, out_dir: str | Path | None = None) -> Path:
    """Where the run's HDF5 file goes: ``<out_dir>/<scenario stem>.h5``."""
    folder = Path(out_dir) if out_dir is not None else scenario.output.dir
    stem = scenario.output.name or (scenario.path.stem if scenario.path.name != "<memory>"
                                    else "run")
    return folder / f"{stem}.h5"


def run(
    scenario: Scenario,
    out_dir: str | Path | None = None,
    progress: Callable[[int], None] | None = None,
    fast_progress: bool = True,
    events: EventBook | None = None,
    observer: Callable[[int, Mapping[tuple[str, str], Any]], None] | None = None,
) -> RunResult:
    """Run a scenario through mosaik; write the HDF5 file and its KPIs; return the result.

    ``progress`` is called after each recorded step with the mosaik time (s from start).
    ``fast_progress`` skips mosaik's redundant progress updates (:mod:`adapters.scheduling`).
    ``events``: the book the simulators read the events in force from each step (default:
    the scenario's events); a live view adds to it while the run goes (``twin demo``).
    ``observer`` is called with each step's recorded values (:mod:`adapters.recorder_sim`).
    """
    path = output_path(scenario, out_dir)
    until = scenario.n_steps * scenario.period.step_s
    if fast_progress:
        scheduling.install()
    else:
        scheduling.uninstall()
    loop = asyncio.new_event_loop()
    world = mosaik.World(sim_config(scenario), skip_greetings=True, configure_logging=False,
                         asyncio_loop=loop)
    t0 = time.perf_counter()
    try:
        book = events if events is not None else EventBook(
            scenario.events, scenario.start_utc, scenario.park.timezone,
            scenario.period.duration_s)
        factories = _build(world, scenario, path, progress, book, observer)
        t1 = time.perf_counter()
        with scheduling.quiet_gc():
            world.run(until=until, print_progress=False, shutdown=False)
        timing = {sid: f.timing() for sid, f in factories.items() if hasattr(f, "timing")}
        lines = factories["AOI"].summary() if "AOI" in factories else {}
    finally:
        _cancel_pending(loop)
        world.shutdown()
        loop.close()
    t2 = time.perf_counter()
    with open_run(path) as recorded:
        kpis = park_kpis(recorded)
        kpis.update(aoi_kpis(lines))
        judged = assess(recorded)
        kpis.update(assessment_kpis(judged))
        violations = [dataclasses.asdict(v) for e in recorded.entities("pcc")
                      if recorded.has(e, "vm_pu") for v in grid_violations(recorded, e)]
        control_kpis, requests, forecasts = ems_setup.results(recorded, scenario)
        kpis.update(control_kpis)
    write_kpis(path, kpis)
    write_array(path, "carbon/hourly", hourly_table(judged), "the park's accounts per hour: "
                "flows (MWh), emissions (t), energy (tce), 绿电直连 consumed and exported")
    write_array(path, "carbon/certificates", granular_certificates(judged.flows),
                "granular certificates: hour, device, technology, MWh, Wh, consumed in the "
                "park, released from storage")
    if requests:
        write_table(path, "vpp/responses", requests, "grid operator's requests: asked, "
                    "delivered (mean over the window) and largest shortfall, MW")
    if forecasts is not None:
        write_array(path, "ems/forecasts", forecasts, "the EMS's forecasts of each step made "
                    "15 min and 1 h before, beside what happened (MW); columns: "
                    + ", ".join(ems_setup.FORECAST_COLUMNS))
    if scenario.grid is not None:
        write_table(path, "grid/violations", violations,
                    "elements out of their limits: kind, element, first time, steps, worst")
    t3 = time.perf_counter()
    return RunResult(path=path, kpis=kpis, wall_s=t3 - t0, n_steps=scenario.n_steps,
                     timing=timing, assessment=judged, phases_s={"build": t1 - t0, "simulate": t2 - t1,
                                              "kpis": t3 - t2})


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


def _start(world: mosaik.World, scenario: Scenario, name: str, **params: Any) -> Any:
    return world.start(name, start=scenario.start_utc.isoformat(),
                       step_s=scenario.period.step_s, **params)


def _build(world: mosaik.World, s: Scenario, path: Path,
           progress: Callable[[int], None] | None, events: EventBook,
           observer: Callable[[int, Mapping[tuple[str, str], Any]], None] | None = None
           ) -> dict[str, Any]:
    """Start the simulators, create the entities and connect them."""
    wiring = _Wiring()
    factories: dict[str, Any] = {}
    park = s.park

    factories["Weather"] = _start(world, s, "Weather", duration_s=s.period.duration_s,
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
                  "events": events},
        "Battery": {},
        "AOI": {"seed": park.seed, "timezone": park.timezone,
                "duration_s": s.period.duration_s, "events": events,
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
            factories[sim] = _start(world, s, sim, **sim_params[sim])
        for spec in specs:
            params = dataclasses.asdict(spec)
            entity = getattr(factories[sim], model).create(1, **params)[0]
            wiring.add(spec.name, entity, kind, ADAPTERS[sim].MODELS[model].outputs,
                       _recorded_spec(kind, params))
            for attr in WEATHER_TO.get(kind, ()):
                world.connect(weather, entity, attr)
    _build_hil(world, s, wiring, factories, path)

    gens, loads = wiring.of_kind(*GEN_KINDS), wiring.of_kind(*LOAD_KINDS)
    batteries = wiring.of_kind("battery")
    if s.controller.kind == "ems":
        _build_ems(world, s, wiring, factories, events)
    elif batteries:  # the default controller: the battery simulator's local rule
        rule = factories["Battery"].Rule.create(1, name="controller")[0]
        wiring.add("controller", rule, "controller", BatterySim.MODELS["Rule"].outputs)
        _connect_all(world, gens, rule, ("p_mw", "p_gen_mw"))
        _connect_all(world, loads, rule, ("p_mw", "p_load_mw"))

    pcc = _build_pcc(world, s, wiring, factories, events)
    _connect_all(world, gens, pcc, ("p_mw", "p_gen_mw"))
    _connect_all(world, loads, pcc, ("p_mw", "p_load_mw"))
    _connect_all(world, batteries, pcc, ("p_mw", "p_storage_mw"))

    _build_external(world, s, wiring)
    _build_recorder(world, s, wiring, factories, path, progress, observer)
    return factories


def _build_ems(world: mosaik.World, s: Scenario, wiring: _Wiring,
               factories: dict[str, Any], events: EventBook | None = None) -> None:
    """The energy management system: snapshots of the park in, commands out.

    Measurements come as each simulator's ``Outputs`` snapshot (the batteries' time-shifted:
    the SOC at the start of the step); commands go to each simulator's ``Control`` entity,
    at once for the batteries, one step later (time-shifted) for the loads.
    """
    factories["EMS"] = _start(world, s, "EMS", ems=ems_setup.build(s, events))
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
        world.connect(ems, control, "commands")
    if "Loads" in factories:
        control = factories["Loads"].Control.create(1, name="control")[0]
        world.connect(ems, control, "commands", time_shifted=True,
                      initial_data={"commands": {}})
    models = {"battery": "BatteryCommand", "ev": "EVCommand", "factory": "ShiftCommand"}
    for label, kind in list(wiring.kinds.items()):
        if kind in models:  # recorded: the decision sent to each device
            model = models[kind]
            cmd = getattr(factories["EMS"], model).create(1, name=f"cmd-{label}",
                                                          target=label)[0]
            wiring.add(f"cmd-{label}", cmd, "command", (COMMANDS[model],), {"target": label})


def _bundle(wiring: _Wiring, factories: dict[str, Any], sid: str) -> Any:
    """The ``Outputs`` snapshot entity of simulator ``sid`` (made once, shared)."""
    if sid not in wiring.bundles:
        wiring.bundles[sid] = factories[sid].Outputs.create(1, name="outputs")[0]
    return wiring.bundles[sid]


def _build_hil(world: mosaik.World, s: Scenario, wiring: _Wiring,
               factories: dict[str, Any], path: Path) -> None:
    """Hardware in the loop (hil/): the real-time pacer, and a proxy per bound battery or
    metered load that takes the entity's place. The entity's model stays in the run as its
    simulated twin, recorded as ``<name>.twin``: it gives a battery proxy the controller's
    command (what the twin battery does with it), a load proxy the load to fall back on.
    Cameras need no proxy: the AOI line reads them (hil/run.py binds them). Only a run
    prepared by ``twin hil`` has its bindings active; ``twin run`` simulates every entity."""
    if s.hil is None or not s.hil.active:
        return
    from hil.session import open_session

    session = open_session(s, path)
    factories["Pacer"] = _start(world, s, "Pacer", session=session)
    pacer = factories["Pacer"].Pacer.create(1, name="pacer")[0]
    wiring.add("pacer", pacer, "pacer", PacerSim.MODELS["Pacer"].outputs)
    specs = {spec.name: spec for spec in (*s.batteries, *s.factory_loads)}
    for b in s.hil.bindings:
        if b.kind == "camera":
            continue
        model, kind = ("Battery", "battery") if b.kind == "battery" else ("Load", "factory")
        if f"HIL:{b.kind}" not in factories:  # one simulator per kind: no same-step cycle
            factories[f"HIL:{b.kind}"] = _start(world, s, "HIL", session=session)
        twin = _retire(wiring, b.entity, f"{b.entity}.twin", f"{kind}-twin")
        proxy = getattr(factories[f"HIL:{b.kind}"], model).create(
            1, name=b.entity, spec=specs[b.entity], binding=b)[0]
        spec = {**dataclasses.asdict(specs[b.entity]), "device": b.device, "hil": b.kind}
        wiring.add(b.entity, proxy, kind, HILSim.MODELS[model].outputs, spec)
        world.connect(pacer, proxy, "skip")
        world.connect(twin, proxy, ("p_mw", "p_twin_mw" if b.kind == "meter" else "p_set_mw"))


def _retire(wiring: _Wiring, label: str, new: str, kind: str) -> Any:
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


def _build_pcc(world: mosaik.World, s: Scenario, wiring: _Wiring,
               factories: dict[str, Any], events: EventBook | None = None) -> Any:
    """The point of common coupling: the network with its power flow, or a lossless balance."""
    if s.grid is None:
        factories["Balance"] = _start(world, s, "Balance", events=events)
        pcc = factories["Balance"].PCC.create(1, name="pcc")[0]
        wiring.add("pcc", pcc, "pcc", BalanceSim.MODELS["PCC"].outputs)
        return pcc
    pn = build_grid(s)
    factories["Grid"] = _start(world, s, "Grid", events=events)
    pcc = factories["Grid"].Grid.create(1, name="grid", net=pn.net,
                                        solver=s.grid.solver)[0]
    wiring.add("grid", pcc, "pcc", GridSim.MODELS["Grid"].outputs,
               {"buses": len(pn.net.bus), "lines": len(pn.net.line),
                "trafos": len(pn.net.trafo)},
               columns=vector_columns(pn.net))
    return pcc


def _build_recorder(world: mosaik.World, s: Scenario, wiring: _Wiring,
                    factories: dict[str, Any], path: Path,
                    progress: Callable[[int], None] | None,
                    observer: Callable[[int, Mapping[tuple[str, str], Any]], None] | None = None
                    ) -> None:
    """The recorder, with one snapshot connection per park simulator."""
    factories["Recorder"] = _start(world, s, "Recorder", progress=progress, observer=observer)
    recorder = factories["Recorder"].Recorder.create(
        1, name="recorder", path=str(path), meta=_meta(s), series=wiring.series,
        labels=wiring.labels, entities=wiring.attrs, n_steps=s.n_steps)[0]
    for sid in factories:
        if sid != "Recorder":
            world.connect(_bundle(wiring, factories, sid), recorder, "outputs")
    for label, attr, *_ in wiring.series:  # external simulators: attribute by attribute
        if wiring.kinds[label] == "external":
            world.connect(wiring.entities[label], recorder, attr)


def _connect_all(world: mosaik.World, sources: list[Any], dest: Any,
                 pair: tuple[str, str]) -> None:
    for src in sources:
        world.connect(src, dest, pair)


def _build_external(world: mosaik.World, s: Scenario, wiring: _Wiring) -> None:
    """Start the scenario's third-party simulators and link them to the park."""
    for ext in s.external:
        factory = world.start(f"ext:{ext.name}", **(ext.params or {}))
        created = getattr(factory, ext.model).create(ext.n, **(ext.model_params or {}))
        for ent in created:
            label = f"{ext.name}.{ent.eid}"
            outputs = sorted({src for link in ext.links if link.source == label
                              for src, _ in link.attrs})
            wiring.add(label, ent, "external", [Attr(a, "", f"from {ext.name}") for a in outputs])
        for link in ext.links:
            world.connect(wiring.entities[link.source], wiring.entities[link.target],
                          *[tuple(pair) for pair in link.attrs])


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


def grid_connections(s: Scenario) -> list[Connection]:
    """How each park entity connects to a built network: kind, rating and host."""
    hosts = (s.grid.hosts if s.grid else None) or {}
    cop_min = float(reference_data.load("grid")["heat_cop_min"])
    out = []
    for spec in s.wind_farms:
        rated = power_curve(spec.turbine_type).nominal_mw * spec.n_turbines
        out.append(Connection(spec.name, "wind", rated, None, spec.n_turbines))
    ratings: list[tuple[str, str, float]] = [
        *((p.name, "pv", p.p_ac_mw) for p in s.pv_plants),
        *((b.name, "battery", b.p_max_mw) for b in s.batteries),
        *((f.name, "factory", f.p_peak_mw) for f in s.factory_loads),
        *((e.name, "ev", e.p_max_mw or e.n_chargers * (e.p_charger_kw or ev_params(e.kind)[
            "p_charger_kw"]) / 1000.0) for e in s.ev_hubs),
        *((h.name, "heat", max(h.hp_q_max_mw / cop_min, 0.1 * h.q_design_mw))
          for h in s.heat_supply),
        *((a.name, "aoi", max(sum(a.p_run_kw), a.reflow_warmup_kw) / 1000.0)
          for a in s.aoi_lines),
    ]
    out.extend(Connection(name, kind, mw, hosts.get(name)) for name, kind, mw in ratings)
    return out


def build_grid(s: Scenario) -> ParkNetwork:
    """The network a run uses: loaded from JSON, or built from the scenario's entities."""
    if s.grid is None:
        raise ValueError("the scenario has no grid section")
    names = [name for _, name in s.entity_names()]
    if s.grid.source == "json":
        return grid_io.read_network(s.grid.path, names)
    return build_network(grid_connections(s), s.grid.layout, name=s.park.name)
