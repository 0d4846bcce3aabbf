"""YAML scenario -> validated, typed :class:`Scenario`: the only place YAML scenarios are parsed.

Validation happens before anything runs. Every mistake raises :class:`ScenarioError` whose
message is one line naming the file (and line), the field path and what was expected::

    scenarios/bad.yaml:14: batteries[0].soc_min: expected a number >= 0 and <= 1, got 1.5
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import zoneinfo
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

# The schema only: the light spec modules of the models. What a rule needs of a heavy
# library (windpowerlib, pvlib, pandapower, ...) it imports itself, when its section is present.
from twin.accounting.carbon.products import ProductSpec
from twin.core import textload
from twin.core.fields import param
from twin.core.kinds import KIND_OF_LIST
from twin.core.specload import MAX_ERRORS, Collect, SpecError, build
from twin.models.aoi.spec import AOILineSpec
from twin.models.battery import BatterySpec
from twin.models.events import Event
from twin.models.events import outside as events_outside
from twin.models.fmu import FMUSpec
from twin.models.grid.layout import GridLayout, VoltageControl
from twin.models.loads.spec import EVHubSpec, FactorySpec, HeatSupplySpec
from twin.models.pv_spec import PVSpec
from twin.models.wind_spec import WindFarmSpec
from twin.scenario.fmus import rule_fmus
from twin.scenario.hil import HILSection
from twin.scenario.hil import check as _rule_hil
from twin.scenario.profiles import rule_profiles, stopped

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|min|m|h|d|days?)?\s*$")
_UNIT_S = {None: 1, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600, "d": 86400, "day": 86400,
           "days": 86400}


class ScenarioError(ValueError):
    """A user's mistake in a scenario: the message names the file, the field path and the fix."""


def parse_duration(value: Any) -> int:
    """Seconds in ``value``: an integer of seconds or text like ``15min``, ``1h``, ``365d``."""
    if isinstance(value, bool):
        raise ValueError(f"got {value!r}")
    if isinstance(value, int):
        seconds = value
    else:
        match = _DURATION_RE.match(str(value))
        if not match:
            raise ValueError(f"got {value!r}")
        seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
        if seconds != int(seconds):
            raise ValueError(f"{value!r} is not a whole number of seconds")
        seconds = int(seconds)
    if seconds <= 0:
        raise ValueError(f"got {value!r}, which is not positive")
    return seconds


def _duration(doc: str, default: Any = dataclasses.MISSING) -> Any:
    return param("s", doc=doc, default=default, parse=parse_duration,
                 expect="a duration such as 900, 15min, 1h or 365d")


@dataclass(frozen=True)
class Park:
    """The park's identity and site."""

    name: str = param(doc="name shown in reports")
    latitude: float = param("deg", ge=-90, le=90, doc="site latitude, north positive")
    longitude: float = param("deg", ge=-180, le=180, doc="site longitude, east positive")
    timezone: str = param(default="Asia/Shanghai", doc="IANA time zone of the park's calendar")
    seed: int = param(ge=0, default=0, doc="seed of every random draw in the run")
    altitude_m: float = param("m", ge=-500, le=9000, default=50.0, doc="site altitude")


@dataclass(frozen=True)
class Period:
    """The simulated period."""

    start: dt.datetime = param(doc="start, local time of the park (or with a UTC offset)")
    duration: int = _duration("length of the run (s)")
    step: int = _duration("step of the energy simulators (s)", default=900)

    @property
    def duration_s(self) -> int:
        """Length of the run in seconds."""
        return self.duration

    @property
    def step_s(self) -> int:
        """Step of the energy simulators in seconds (a float only in a sub-second twin hil
        run, set by hil.run.prepare; a scenario file gives whole seconds)."""
        return self.step


@dataclass(frozen=True)
class WeatherSource:
    """Where the weather comes from: a synthetic typical year, or an EPW or CSV file."""

    source: Literal["synthetic", "epw", "csv"] = param(default="synthetic", doc="kind of source")
    path: Path | None = param(default=None, doc="weather file (epw, csv), relative to the scenario")
    site: str = param(default="shenyang", doc="climate of the synthetic year (twin/data/site_*.yaml)")
    allow_other_site: bool = param(
        default=False, doc="use a file whose station or time zone is not the park's")


@dataclass(frozen=True)
class Controller:
    """Which controller dispatches storage, EV charging and flexible loads."""

    kind: Literal["rule", "ems"] = param(
        default="rule", doc="'rule': charge on surplus, discharge on deficit; 'ems': forecasts "
        "and a rolling-horizon LP (twin.ems)")
    replan: int = _duration("ems: time between re-plans (15min for real time; 1h or 1d for "
                            "planning runs, with 15-minute intraday correction)", default=86400)
    horizon: int = _duration("ems: look-ahead of each plan", default=129600)
    forecaster: Literal["learned", "smart_persistence", "persistence", "nwp"] = param(
        default="learned", doc="ems: forecasts of PV, wind and load ('nwp': wind from the "
        "weather simulator's NWP runs, PV and load learned)")
    carbon_price_cny_per_t: float | None = param(
        "CNY/t", ge=0, default=None,
        doc="ems: value put on avoided grid emissions (None: twin/data/ems.yaml)")
    storage_schedule_mw: tuple[float, ...] = param(
        "MW", default=(), doc="rule: the storage's total setpoint of each hour from the start "
        "(> 0 charge), shared over the batteries by power rating and clipped to their limits; "
        "the rule takes the hours after it")
    eboiler_schedule_mw: tuple[float, ...] = param(
        "MW", default=(), doc="the electric boilers' most power of each hour from the start "
        "(all heat supplies together), within the park's spare power; unlimited after it")
    grid_schedule_mw: tuple[float, ...] = param(
        "MW", default=(), doc="rule: the park's planned net export of each hour from the start "
        "(< 0 import): in the hours of storage_schedule_mw, the storage takes the park's "
        "surplus less it, step by step (the hour's deviations from the plan), not the "
        "scheduled total")
    heat_pump_schedule_mw: tuple[float, ...] = param(
        "MW", default=(), doc="the heat pumps' heat of each hour from the start (all kinds, "
        "all heat supplies together, shared by rating): with heat_store_schedule_mw, the heat "
        "supplies follow an hourly plan (heat pumps first, the store as planned, the boilers "
        "at eboiler_schedule_mw within the park's generation); the merit order after it")
    heat_store_schedule_mw: tuple[float, ...] = param(
        "MW", default=(), doc="the heat stores' net charge of each hour from the start (> 0 "
        "charge from the electric boilers, < 0 discharge), shared by size; see "
        "heat_pump_schedule_mw")


@dataclass(frozen=True)
class Link:
    """A connection between an external simulator's entity and one of the park's entities."""

    source: str = param(doc="'<external>.<eid>', a park entity name or 'weather'")
    target: str = param(doc="a park entity name or '<external>.<eid>'")
    attrs: tuple[tuple[str, str], ...] = param(doc="pairs [source attribute, target attribute]")


@dataclass(frozen=True)
class ExternalSimulator:
    """Any third-party mosaik simulator, started by Python path or command."""

    name: str = param(doc="simulator name, used as '<name>.<eid>' in links")
    model: str = param(doc="model to create")
    python: str | None = param(default=None, doc="'module:Class' of an in-process simulator")
    cmd: str | None = param(default=None, doc="command starting the simulator, with %(addr)s")
    params: dict[str, Any] | None = param(default=None, doc="keyword arguments of its init")
    n: int = param(ge=1, default=1, doc="number of entities to create")
    model_params: dict[str, Any] | None = param(default=None, doc="keyword arguments of create")
    links: tuple[Link, ...] = param(default=(), doc="connections to the park")
    on_end: Literal["error", "hold", "repeat", "stop"] = param(
        default="error", doc="a profile (mosaik-csv datafile) that ends before the run: "
        "'error' refuses the scenario, 'hold' keeps its last value to the end, 'repeat' starts "
        "it again after its end, 'stop' ends the run with it (twin.models.loads.profile)")


@dataclass(frozen=True)
class GridSection:
    """The park's electrical network: built from parameters or loaded from pandapower JSON."""

    source: Literal["build", "json", "cim"] = param(
        default="build", doc="how the network is made: built, or one's own (pandapower JSON, "
        "or CIM/CGMES converted by pandapower)")
    path: Path | None = param(default=None, doc="pandapower JSON file (source: json); CIM/CGMES "
                              ".zip, .xml or folder of them (source: cim)")
    mapping: Path | None = param(
        default=None, doc="CSV table entity,table,element tying the park's entities to the "
        "network's elements (twin.models.grid.mapping); without it elements are tied by name")
    hosts: dict[str, str] | None = param(
        default=None, doc="entity -> the entity whose substation it shares (source: build)")
    layout: GridLayout = param(default=GridLayout(), doc="parameters of a built network")
    solver: Literal["lightsim2grid", "pandapower"] = param(
        default="lightsim2grid", doc="per-step AC power flow: fast solver, or pandapower.runpp")
    control: VoltageControl = param(
        default=VoltageControl(), doc="tap changers and inverter reactive power control")


@dataclass(frozen=True)
class CarbonSection:
    """How the run is accounted: emission factors, certificates, criteria given as inputs."""

    factor_year: int = param(default=2023, doc="year of the grid emission factors")
    region: str = param(default="northeast", choices=("northeast", "national"),
                        doc="grid region of the emission factors")
    green_certificates_mwh: float = param("MWh", ge=0, default=0.0,
                                          doc="green certificates (GEC) bought for the period")
    emissions: str = param(default="location", choices=("location", "market"),
                           doc="Scope 2 basis of the core indicator in twin pathway: location "
                           "(the notice's reading) or market (certificates lower it)")
    inputs: dict[str, float] | None = param(
        default=None, doc="criteria the energy flows cannot give (solid waste, water, ...)")


@dataclass(frozen=True)
class EconomicsSection:
    """Tariff and appraisal parameters."""

    tariff: str = param(default="liaoning-illustrative", doc="tariff in twin/data/tariff.yaml")
    discount_rate: float | None = param("1/yr", ge=0, lt=1, default=None,
                                        doc="real discount rate (none: twin/data/costs.yaml)")
    lifetime_years: int = param("yr", ge=1, le=60, default=20, doc="appraisal period")
    tax_rate: float | None = param("1", ge=0, lt=1, default=None,
                                   doc="income tax rate (none: twin/data/costs.yaml)")
    debt_share: float | None = param("1", ge=0, le=1, default=None,
                                     doc="share of the investment borrowed (none: costs.yaml)")
    debt_rate: float | None = param("1/yr", ge=0, lt=1, default=None,
                                    doc="interest rate of the debt (none: costs.yaml)")
    debt_years: int | None = param("yr", ge=1, le=40, default=None,
                                   doc="years to repay the debt (none: costs.yaml)")


@dataclass(frozen=True)
class Output:
    """Where results go."""

    dir: Path = param(default=Path("results"), doc="folder of the HDF5 file, relative to the CWD")
    name: str | None = param(default=None, doc="name of the run's files (default: the scenario's)")


@dataclass(frozen=True)
class Scenario:
    """A validated scenario. ``path`` and ``text`` record where it came from."""

    park: Park
    period: Period
    weather: WeatherSource = WeatherSource()
    description: str = ""
    pv_plants: tuple[PVSpec, ...] = ()
    wind_farms: tuple[WindFarmSpec, ...] = ()
    batteries: tuple[BatterySpec, ...] = ()
    factory_loads: tuple[FactorySpec, ...] = ()
    ev_hubs: tuple[EVHubSpec, ...] = ()
    heat_supply: tuple[HeatSupplySpec, ...] = ()
    aoi_lines: tuple[AOILineSpec, ...] = ()
    controller: Controller = Controller()
    grid: GridSection | None = None
    carbon: CarbonSection = CarbonSection()
    economics: EconomicsSection = EconomicsSection()
    products: tuple[ProductSpec, ...] = ()
    external: tuple[ExternalSimulator, ...] = ()
    fmus: tuple[FMUSpec, ...] = ()  # co-simulation FMUs stepped with the park (twin.models.fmu)
    events: tuple[Event, ...] = ()
    output: Output = Output()
    hil: HILSection | None = None  # hardware in the loop (hil/spec.py): twin hil
    path: Path = field(default=Path("<memory>"), metadata={"internal": True})
    warnings: tuple[str, ...] = field(default=(), metadata={"internal": True})
    text: str = field(default="", metadata={"internal": True})

    @property
    def start_utc(self) -> dt.datetime:
        """Start of the run as an aware UTC datetime."""
        start = self.period.start
        if start.tzinfo is None:
            start = start.replace(tzinfo=zoneinfo.ZoneInfo(self.park.timezone))
        return start.astimezone(dt.UTC)

    @property
    def start_epoch_s(self) -> int:
        """Start of the run in UTC unix seconds."""
        return int(self.start_utc.timestamp())

    @property
    def n_steps(self) -> int:
        """Number of energy steps in the run."""
        step = self.period.step_s
        if isinstance(step, float):  # a sub-second twin hil run (hil.run.prepare): 0.1 s
            return round(self.period.duration_s / step)
        return self.period.duration_s // step

    def entity_kinds(self) -> dict[str, str]:
        """Each park entity's kind (``pv``, ``wind``, ``battery``, ``factory``, ...)."""
        return {name: KIND_OF_LIST[key] for key, name in self.entity_names()}

    def entity_names(self) -> Iterator[tuple[str, str]]:
        """(list key, entity name) of every park entity, in scenario order."""
        for key in ENTITY_LISTS:
            for spec in getattr(self, key):
                yield key, spec.name

    def with_days(self, days: float) -> Scenario:
        """The same scenario over ``days`` days (whole steps)."""
        seconds = int(round(days * 86400 / self.period.step_s)) * self.period.step_s
        if seconds <= 0:
            raise ScenarioError(f"--days {days}: expected a positive number of days")
        return stopped(dataclasses.replace(  # a profile with on_end: stop still ends the run
            self, period=dataclasses.replace(self.period, duration=seconds)))


ENTITY_LISTS = ("pv_plants", "wind_farms", "batteries", "factory_loads", "ev_hubs", "heat_supply",
                "aoi_lines")


def load(path: str | Path) -> Scenario:
    """Read, parse and validate a scenario file. Raises :class:`ScenarioError`."""
    path = Path(path)
    return loads(read_file(path, "scenario", ScenarioError), path)


def read_file(path: Path, what: str, error: type[Exception]) -> str:
    """The UTF-8 text of the ``what`` file at ``path`` (a scenario, a study); ``error`` with one
    line when it is missing, unreadable or not UTF-8 text (:func:`twin.core.textload.read_text`)."""
    return textload.read_text(path, what, error)


def loads(text: str, path: str | Path = "<memory>") -> Scenario:
    """Parse and validate scenario ``text``; ``path`` names it in errors and resolves files."""
    path = Path(path)
    data, where = read_yaml(text, path)
    errors = Collect()
    try:
        if not isinstance(data, dict):
            raise SpecError("", "expected a mapping with park, period, ... at the top level")
        for key in ("path", "text", "warnings"):
            if key in data:
                errors.add(SpecError(key, "reserved key"))
        scenario = build(Scenario, {k: v for k, v in data.items()
                                    if k not in ("path", "text", "warnings")})
        errors.done()
        scenario = dataclasses.replace(scenario, path=path, text=text)
        notes: list[str] = []
        for rule in RULES:
            try:
                with errors.check():
                    notes.extend(rule(scenario) or ())
            except (ValueError, TypeError, KeyError, OverflowError):
                if not errors.errors:  # not a consequence of an error already found
                    raise
        errors.done()
    except SpecError as exc:
        raise ScenarioError(_lines(where, [*errors.errors, *exc.errors])) from None
    scenario = dataclasses.replace(stopped(scenario), warnings=tuple(
        f"{where(p)}: {p}: {m}" for p, m in notes))
    return _resolve_files(scenario)


def _lines(where: Callable[[str], str], errors: list[SpecError]) -> str:
    """One line per error (at most :data:`MAX_ERRORS`), each naming file, line and field."""
    unique = list(dict.fromkeys(f"{where(e.path)}: {e}" for e in errors))
    shown = unique[:MAX_ERRORS]
    if len(unique) > len(shown):
        shown.append(f"... and {len(unique) - len(shown)} more errors")
    return "\n".join(" ".join(line.split()) for line in shown)


def read_yaml(text: str, path: str | Path) -> tuple[Any, Callable[[str], str]]:
    """Parse YAML ``text`` of another kind of file (a study); return its data and ``where``.

    ``where(field_path)`` gives ``file:line`` of the field (or of its nearest parent) for
    one-line error messages. Raises :class:`ScenarioError` for text that is not YAML.
    """
    path = Path(path)
    try:
        data, node = textload.parse_yaml(text, path)
    except textload.TextError as exc:
        raise ScenarioError(str(exc)) from None
    lines = _line_map(node)

    def where(field_path: str) -> str:
        line = _nearest_line(lines, field_path)
        return f"{path}:{line}" if line else str(path)

    return data, where


# --- rules that span fields: one function per rule -------------------------------------------


def _rule_timezone(s: Scenario) -> None:
    try:
        zoneinfo.ZoneInfo(s.park.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise SpecError("park.timezone", f"expected an IANA time zone such as Asia/Shanghai, "
                        f"got {s.park.timezone!r}") from None


def _rule_period(s: Scenario) -> None:
    start = s.period.start
    if start.year < 1900:
        raise SpecError("period.start", f"expected a start in 1900 or later, got {start:%Y-%m-%d}")
    try:
        end = start + dt.timedelta(seconds=s.period.duration_s)
        s.start_utc  # noqa: B018 - the start in UTC must exist too
        ok = end.year <= 9999 and end < dt.datetime(9999, 12, 31, tzinfo=end.tzinfo)
    except (OverflowError, ValueError, KeyError):  # KeyError: an unknown time zone
        ok = False
    if not ok:
        raise SpecError("period.duration", f"the period from {start:%Y-%m-%d} ends after the "
                        "year 9999; expected a shorter duration or an earlier start")


def _rule_step_divides(s: Scenario) -> None:
    if 86400 % s.period.step_s:
        raise SpecError("period.step", f"expected a step that divides a day, got {s.period.step_s} s")
    if s.period.duration_s % s.period.step_s:
        raise SpecError("period.duration", "expected a whole number of steps")


def _rule_names(s: Scenario) -> None:
    seen: dict[str, str] = {}
    for key in ENTITY_LISTS:
        for i, spec in enumerate(getattr(s, key)):
            where = f"{key}[{i}].name"
            if not _NAME_RE.fullmatch(spec.name):
                raise SpecError(where, "expected letters, digits, '-' or '_' (no spaces), "
                                f"got {spec.name!r}")
            if spec.name in seen:
                raise SpecError(where, f"name {spec.name!r} is already used by {seen[spec.name]}")
            seen[spec.name] = where


def _rule_soc_window(s: Scenario) -> None:
    for i, b in enumerate(s.batteries):
        if b.soc_min >= b.soc_max:
            raise SpecError(f"batteries[{i}].soc_max",
                            f"expected soc_max > soc_min ({b.soc_min:g}), got {b.soc_max:g}")
        if not b.soc_min <= b.soc_init <= b.soc_max:
            raise SpecError(f"batteries[{i}].soc_init",
                            f"expected a value in the SOC window {b.soc_min:g}..{b.soc_max:g}, "
                            f"got {b.soc_init:g}")
    for i, h in enumerate(s.heat_supply):
        if h.store_init_mwh > h.store_mwh:
            raise SpecError(f"heat_supply[{i}].store_init_mwh",
                            f"expected at most the store's store_mwh ({h.store_mwh:g}), "
                            f"got {h.store_init_mwh:g}")


def _rule_turbines(s: Scenario) -> None:
    if not s.wind_farms:
        return
    from twin.models.turbines import check_type  # windpowerlib's library: only with wind farms

    for i, w in enumerate(s.wind_farms):
        try:
            check_type(w.turbine_type)
        except KeyError as exc:
            raise SpecError(f"wind_farms[{i}].turbine_type", str(exc.args[0])) from None


def _rule_weather_file(s: Scenario) -> list[tuple[str, str]]:
    w = s.weather
    if w.source == "synthetic":
        if w.path is not None:
            raise SpecError("weather.path", "a synthetic year takes no file; set source: epw or csv")
        return []
    if w.path is None:
        raise SpecError("weather.path", f"expected the {w.source} file for source: {w.source}")
    path = _resolve(s.path, w.path)
    if not path.is_file():
        raise SpecError("weather.path", f"no such file: {path}")
    from twin.models import weather_io  # pandas and pvlib: only for a weather file

    reader = weather_io.read_epw if w.source == "epw" else weather_io.read_csv
    try:
        series, meta = reader(path)
    except (ValueError, KeyError, OSError, IndexError) as exc:
        raise SpecError("weather.path", f"not a readable {w.source} weather file: "
                        f"{' '.join(str(exc).split())}") from None
    offset = s.start_utc.astimezone(zoneinfo.ZoneInfo(s.park.timezone)).utcoffset()
    errors, notes = weather_io.check_weather(
        series, meta, latitude=s.park.latitude, longitude=s.park.longitude,
        utc_offset_h=offset.total_seconds() / 3600 if offset is not None else 0.0,
        start_epoch_s=s.start_epoch_s, duration_s=s.period.duration_s,
        allow_other_site=w.allow_other_site)
    if errors:
        raise SpecError.of([SpecError("weather.path", f"{path.name}: {e}") for e in errors])
    return [("weather.path", f"{path.name}: {n}") for n in notes]


def _rule_external(s: Scenario) -> None:
    names = {name for _, name in s.entity_names()}
    ext = {e.name for e in s.external}
    for i, e in enumerate(s.external):
        if (e.python is None) == (e.cmd is None):
            raise SpecError(f"external[{i}]", "expected exactly one of python or cmd")
        if e.python is not None and ":" not in e.python:
            raise SpecError(f"external[{i}].python", f"expected 'module:Class', got {e.python!r}")
        for j, link in enumerate(e.links):
            for end in ("source", "target"):
                ref = getattr(link, end)
                prefix = ref.split(".", 1)[0]
                if ref not in names and not ("." in ref and prefix in ext) and not (
                        ref == "weather" and end == "source"):  # the weather: read only
                    raise SpecError(f"external[{i}].links[{j}].{end}",
                                    f"expected a park entity or '<external>.<eid>', got {ref!r}")


def _rule_grid(s: Scenario) -> list[tuple[str, str]] | None:
    g = s.grid
    if g is None:
        return None
    names = {name for _, name in s.entity_names()}
    if g.source in ("json", "cim"):
        return _json_grid(s, names)
    if g.path is not None or g.mapping is not None:
        raise SpecError("grid.path" if g.path is not None else "grid.mapping",
                        "a built network takes no file; set source: json or cim")
    hosts = g.hosts or {}
    kinds = dict((name, key) for key, name in s.entity_names())
    for entity, host in hosts.items():
        where = f"grid.hosts.{entity}"
        if entity not in names:
            raise SpecError(where, f"expected a park entity name, got {entity!r}")
        if host not in names:
            raise SpecError(where, f"expected the name of a park entity as host, got {host!r}")
        if host in hosts or kinds[host] == "wind_farms" or kinds[entity] == "wind_farms":
            raise SpecError(where, f"{host!r} cannot host: wind farms neither host nor are "
                            "hosted, and a host must not be hosted itself")
    return None


def _json_grid(s: Scenario, names: set[str]) -> list[tuple[str, str]]:
    """A network of one's own: every error and warning of twin.models.grid.checks."""
    if s.grid is None or s.grid.path is None:
        raise SpecError("grid.path", "expected a pandapower JSON file for source: json, a "
                        "CIM/CGMES file or folder for source: cim")
    path = _resolve(s.path, s.grid.path)
    if not (path.is_file() or (s.grid.source == "cim" and path.is_dir())):
        raise SpecError("grid.path", f"no such file: {path}")
    table = None if s.grid.mapping is None else _resolve(s.path, s.grid.mapping)
    if table is not None and not table.is_file():
        raise SpecError("grid.mapping", f"no such file: {table}")
    from twin.models.grid import io as grid_io  # pandapower: only for a network of one's own

    pn, errors, notes = grid_io.check_file(path, sorted(names), s.grid.source, table,
                                           s.entity_kinds())
    if errors:
        field = "grid.mapping" if table is not None and any(
            e.startswith(table.name) for e in errors) else "grid.path"
        raise SpecError.of([SpecError(field, e if field == "grid.mapping" else
                                      f"{path.name}: {e}") for e in errors])
    if pn is not None:
        _JSON_LINES[str(path)] = {str(n) for n in pn.net.line["name"]}
    return [("grid.path", f"{path.name}: {n}") for n in notes]


def _rule_accounting(s: Scenario) -> None:
    from twin.accounting import economics
    from twin.accounting.carbon import INPUT_CRITERIA, factors

    try:
        factors(s.carbon.factor_year, s.carbon.region)
    except ValueError as exc:
        raise SpecError("carbon.factor_year", str(exc)) from None
    for key, value in (s.carbon.inputs or {}).items():
        if key not in INPUT_CRITERIA:
            raise SpecError(f"carbon.inputs.{key}",
                            f"unknown criterion; expected one of {', '.join(INPUT_CRITERIA)}")
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
            raise SpecError(f"carbon.inputs.{key}", f"expected a number >= 0, got {value!r}")
    if s.economics.tariff not in economics.tariff_names():
        raise SpecError("economics.tariff", f"expected one of "
                        f"{', '.join(economics.tariff_names())}, got {s.economics.tariff!r}")
    factories = {f.name for f in s.factory_loads}
    for i, product in enumerate(s.products):
        if product.enterprise not in factories:
            raise SpecError(f"products[{i}].enterprise",
                            f"expected a factory of the scenario, got {product.enterprise!r}")
        lines = {a.name for a in s.aoi_lines}
        for j, name in enumerate(product.lines):
            if name not in lines:
                raise SpecError(f"products[{i}].lines[{j}]",
                                f"expected an AOI line of the scenario, got {name!r}")


def _rule_controller(s: Scenario) -> None:
    c = s.controller
    step = s.period.step_s
    for key, value in (("replan", c.replan), ("horizon", c.horizon)):
        if value % step:
            raise SpecError(f"controller.{key}", f"expected a whole number of steps of {step} s, "
                            f"got {value} s")
    if c.horizon < c.replan:
        raise SpecError("controller.horizon", f"expected at least the re-plan interval "
                        f"({c.replan} s), got {c.horizon} s")


def _rule_events(s: Scenario) -> list[tuple[str, str]]:
    targets = {"ev_surge": {h.name for h in s.ev_hubs},
               "defect_burst": {a.name for a in s.aoi_lines}}
    for i, e in enumerate(s.events):
        if e.kind == "line_trip" and s.grid is None:
            raise SpecError(f"events[{i}].kind", "a line_trip needs the scenario's grid section")
        if e.kind == "line_trip" and not _line_exists(s, e.line):
            raise SpecError(f"events[{i}].line", f"no line {e.line!r} in the park's network; "
                            "expected public-grid-line, <entity>/66kv-cable, <entity>/f1s1, "
                            "<wind farm>/direct-line, <wind farm>/st1s1, ... (twin grid lists them)")
        if e.target and e.target not in targets.get(e.kind, set()):
            names = ", ".join(sorted(targets.get(e.kind, ()))) or "none"
            raise SpecError(f"events[{i}].target", f"expected an entity this {e.kind} can act "
                            f"on ({names}), got {e.target!r}")
    return [(f"events[{i}].dates", message) for i, message in
            events_outside(s.events, s.start_utc, s.park.timezone, s.period.duration_s)]


def _line_exists(s: Scenario, line: str) -> bool:
    """Whether the network has a line named ``line``: the names a built network gives its lines
    (twin.models.grid.network), or those of the pandapower JSON file."""
    g = s.grid
    if g is None:
        return False
    if g.source == "json":
        return line in _JSON_LINES.get(str(_resolve(s.path, g.path or Path())), {line})
    if line == "public-grid-line":
        return True
    entity, _, part = line.partition("/")
    kinds = {name: key for key, name in s.entity_names()}
    if entity not in kinds:
        return False
    hosted = (g.hosts or {}).get(entity) is not None
    wind = kinds[entity] == "wind_farms"
    match = re.fullmatch(r"(f|st)([1-9]\d*)s([1-9]\d*)", part)
    if match:
        return (match.group(1) == ("st" if wind else "f")
                and int(match.group(3)) <= g.layout.feeder_segments)
    return part == ("direct-line" if wind else "66kv-cable") and not hosted


_JSON_LINES: dict[str, set[str]] = {}  # line names of the JSON networks read by _rule_grid


def _rule_plausible(s: Scenario) -> list[tuple[str, str]]:
    """Values beyond any real asset are errors; outside the plausible range, warnings."""
    from twin import data

    notes = []
    for key, entry in data.entries("plausible").items():
        low, high = entry["value"]
        unit = "" if str(entry.get("unit", "1")) == "1" else f" {entry['unit']}"
        for path, value in _values(s, key):
            if value is None:
                continue
            if value > entry["limit"]:
                raise SpecError(path, f"{value:g}{unit} is beyond any real asset (limit "
                                f"{entry['limit']:g}{unit}; plausible {low:g}..{high:g}, "
                                f"twin/data/plausible.yaml)")
            if not low <= value <= high:
                notes.append((path, f"{value:g}{unit} is outside the plausible range "
                              f"{low:g}..{high:g}{unit} ({entry['source']})"))
    return notes


def _values(s: Scenario, key: str) -> Iterator[tuple[str, Any]]:
    """(field path, value) of each value at ``key`` (``pv_plants[].p_dc_mwp``) in ``s``."""
    head, _, rest = key.partition("[].")
    if rest:
        for i, item in enumerate(getattr(s, head)):
            yield f"{head}[{i}].{rest}", getattr(item, rest)
        return
    obj: Any = s
    for part in key.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return
    yield key, obj


RULES: tuple[Callable[[Scenario], Any], ...] = (
    _rule_period,
    _rule_plausible,
    _rule_timezone,
    _rule_step_divides,
    _rule_names,
    _rule_soc_window,
    _rule_turbines,
    _rule_weather_file,
    _rule_external,
    rule_profiles,
    rule_fmus,
    _rule_grid,
    _rule_accounting,
    _rule_controller,
    _rule_events,
    _rule_hil,
)


# --- helpers -----------------------------------------------------------------------------------


def _resolve(scenario_path: Path, p: Path) -> Path:
    return p if p.is_absolute() else (scenario_path.parent / p)


def _resolve_files(s: Scenario) -> Scenario:
    """Make file paths relative to the scenario absolute, so runs work from any folder."""
    weather = s.weather
    if weather.path is not None:
        weather = dataclasses.replace(weather, path=_resolve(s.path, weather.path).resolve())
    external = tuple(
        dataclasses.replace(e, params=_resolve_params(s.path, e.params or {}),
                            model_params=_resolve_params(s.path, e.model_params or {}))
        for e in s.external
    )
    grid = s.grid
    if grid is not None and grid.path is not None:
        grid = dataclasses.replace(grid, path=_resolve(s.path, grid.path).resolve())
    if grid is not None and grid.mapping is not None:
        grid = dataclasses.replace(grid, mapping=_resolve(s.path, grid.mapping).resolve())
    fmus = tuple(dataclasses.replace(f, path=_resolve(s.path, f.path).resolve()) for f in s.fmus)
    return dataclasses.replace(s, weather=weather, external=external, grid=grid, fmus=fmus)


def _resolve_params(scenario_path: Path, params: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in params.items():
        if isinstance(value, str) and not Path(value).is_absolute():
            candidate = scenario_path.parent / value
            if candidate.is_file():
                value = str(candidate.resolve())
        out[key] = value
    return out


def _line_map(node: yaml.Node | None) -> dict[str, int]:
    """Map field paths (``batteries[0].soc_min``) to 1-based line numbers in the YAML text."""
    lines: dict[str, int] = {}

    def walk(n: yaml.Node, path: str) -> None:
        lines[path] = n.start_mark.line + 1
        if isinstance(n, yaml.MappingNode):
            for key, value in n.value:
                sub = f"{path}.{key.value}" if path else str(key.value)
                lines[sub] = key.start_mark.line + 1
                walk(value, sub)
                lines[sub] = key.start_mark.line + 1
        elif isinstance(n, yaml.SequenceNode):
            for i, item in enumerate(n.value):
                walk(item, f"{path}[{i}]")

    if node is not None:
        walk(node, "")
    return lines


def _nearest_line(lines: dict[str, int], path: str) -> int | None:
    """Line of ``path`` or of its closest parent present in the file."""
    while path:
        if path in lines:
            return lines[path]
        cut = max(path.rfind("."), path.rfind("["))
        path = path[:cut] if cut > 0 else ""
    return None
