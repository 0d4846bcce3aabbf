"""The telemetry mapping file: which tag of the park's telemetry carries which entity attribute.

A mapping file is YAML, validated like a scenario (:mod:`twin.core.specload` for the types,
:mod:`twin.core.textload` for the text, then the rules against the scenario's entities), every
mistake one line naming the file, the line and the field path::

    source:
      kind: mqtt            # mqtt | opcua | file
      host: 127.0.0.1
      port: 1883
      stale_after: 30min    # a tag not updated for this long (telemetry time) is stale
    tags:
      - {tag: park/pv/p, point: pv.p_mw, unit: kW}
      - {tag: park/met/ghi, point: weather.ghi_w_m2, unit: W/m2}

``point`` is ``<entity>.<attribute>`` as a run records it (``twin run`` writes the same names
under ``/series``); ``unit`` is the tag's own unit, one of those :data:`UNITS` converts to the
attribute's declared unit. An MQTT payload is JSON ``{"t": <UTC unix seconds>, "v": <value>}``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NoReturn

from twin.core import textload
from twin.core.errors import UserError
from twin.core.fields import param
from twin.core.quantities import Quantity
from twin.core.specload import MAX_ERRORS, Collect, SpecError, build
from twin.scenario import Scenario, ScenarioError, parse_duration, read_yaml

# declared unit -> {unit a tag may carry: (scale, offset)}: declared = tag x scale + offset
UNITS: dict[str, dict[str, tuple[float, float]]] = {
    "MW": {"MW": (1.0, 0.0), "kW": (1e-3, 0.0), "W": (1e-6, 0.0)},
    "MWh": {"MWh": (1.0, 0.0), "kWh": (1e-3, 0.0)},
    "1": {"1": (1.0, 0.0), "%": (0.01, 0.0)},
    "W/m2": {"W/m2": (1.0, 0.0), "kW/m2": (1e3, 0.0)},
    "degC": {"degC": (1.0, 0.0), "K": (1.0, -273.15)},
    "m/s": {"m/s": (1.0, 0.0), "km/h": (1 / 3.6, 0.0)},
    "Pa": {"Pa": (1.0, 0.0), "hPa": (100.0, 0.0), "kPa": (1e3, 0.0)},
}


VECTORS = ("vm_pu", "line_loading_pct", "trafo_loading_pct", "line_p_from_mw")  # per element


class MappingError(UserError):
    """A mistake in a telemetry mapping file: one line per mistake, naming file, line, field."""


@dataclass(frozen=True)
class Source:
    """Where the telemetry comes from."""

    kind: Literal["mqtt", "opcua", "file"] = param(doc="protocol: mqtt, opcua or a recorded file")
    host: str = param(default="127.0.0.1", doc="broker or server address")
    port: int = param(default=1883, ge=1, le=65535, doc="broker or server port")
    path: Path | None = param(default=None, doc="recorded file (kind: file), relative to the "
                              "mapping file")
    prefix: str = param(default="", doc="prepended to every tag (an MQTT topic root)")
    stale_after: int = param("s", default=1800, parse=parse_duration,
                             expect="a duration like 30min", doc="a tag not updated for this "
                             "long (telemetry time) is stale")


@dataclass(frozen=True)
class Tag:
    """One tag: an MQTT topic, an OPC UA node or a file column, and what it measures."""

    tag: str = param(doc="topic, node id or column name")
    point: str = param(doc="<entity>.<attribute> as a run records it, e.g. pv.p_mw")
    unit: str = param(doc="the tag's unit, e.g. kW")

    @property
    def entity(self) -> str:
        return self.point.rpartition(".")[0]

    @property
    def attr(self) -> str:
        return self.point.rpartition(".")[2]


@dataclass(frozen=True)
class Voltage:
    """A bus voltage of the park's network, measured (for the state estimation)."""

    tag: str = param(doc="topic, node id or column name")
    bus: str = param(doc="the bus's name in the park's network (twin grid lists them)")
    unit: str = param(default="p.u.", choices=("p.u.", "kV"), doc="p.u. or kV")


@dataclass(frozen=True)
class GridSection:
    """Grid state estimation from the measured voltages and powers."""

    every: int = param("steps", default=4, ge=1, doc="estimate every N steps (WLS takes "
                       "about a second on a few hundred buses)")
    voltages: tuple[Voltage, ...] = ()


@dataclass(frozen=True)
class MappingSpec:
    """The file as written."""

    source: Source
    tags: tuple[Tag, ...]
    grid: GridSection | None = None
    description: str = ""


@dataclass(frozen=True)
class Telemetry:
    """A validated mapping: the source, the tags, and each tag's conversion to twin units."""

    source: Source
    tags: tuple[Tag, ...]
    path: Path
    scale: Mapping[str, tuple[float, float]]  # tag -> (scale, offset) to the declared unit
    grid: GridSection | None = None
    buses: Mapping[str, int] = dataclasses.field(default_factory=dict)  # name -> position

    def to_twin(self, tag: str, value: float) -> float:
        """``value`` in the tag's unit -> the attribute's declared unit."""
        scale, offset = self.scale[tag]
        return value * scale + offset

    def from_twin(self, tag: str, value: float) -> float:
        """``value`` in the attribute's declared unit -> the tag's unit (the plant's side)."""
        scale, offset = self.scale[tag]
        return (value - offset) / scale

    def by_point(self) -> dict[str, Tag]:
        return {t.point: t for t in self.tags}

    def topic(self, tag: Tag | Voltage) -> str:
        return self.source.prefix + tag.tag

    @property
    def voltages(self) -> tuple[Voltage, ...]:
        return self.grid.voltages if self.grid is not None else ()

    @property
    def all_tags(self) -> tuple[Tag | Voltage, ...]:
        """The tags of entity attributes and of bus voltages."""
        return (*self.tags, *self.voltages)

    def point_of(self, tag: Tag | Voltage) -> str:
        """``pv.p_mw``, or ``grid.vm_pu[<bus>]`` for a bus voltage."""
        return tag.point if isinstance(tag, Tag) else f"grid.vm_pu[{tag.bus}]"


def catalogue(s: Scenario) -> dict[str, dict[str, Quantity]]:
    """Every attribute a run of ``s`` records: entity label -> {attribute: its declaration}."""
    from adapters.balance_sim import BalanceSim  # lazy: twin check stays light
    from adapters.grid_sim import GridSim
    from adapters.weather_sim import WeatherSim
    from twin.cosim.world import ADAPTERS, FAMILIES

    out: dict[str, dict[str, Quantity]] = {
        "weather": {a.name: a for a in WeatherSim.MODELS["Weather"].outputs}}
    for key, sim, model, _kind in FAMILIES:
        for spec in getattr(s, key):
            out[spec.name] = {a.name: a for a in ADAPTERS[sim].MODELS[model].outputs}
    pcc, label = (BalanceSim.MODELS["PCC"], "pcc") if s.grid is None else \
        (GridSim.MODELS["Grid"], "grid")
    out[label] = {a.name: a for a in pcc.outputs}
    return out


def load(path: str | Path, s: Scenario) -> Telemetry:
    """Read and validate the mapping file at ``path`` against scenario ``s``.

    Raises :class:`MappingError` with every mistake, one line each."""
    path = Path(path)
    text = textload.read_text(path, "telemetry mapping", MappingError)
    return loads(text, s, path)


def loads(text: str, s: Scenario, path: str | Path = "<memory>") -> Telemetry:
    """Parse and validate mapping ``text`` (``path`` names it in errors)."""
    path = Path(path)
    try:
        data, where = read_yaml(text, path)
    except ScenarioError as exc:
        raise MappingError(str(exc)) from None
    errors = Collect()
    try:
        try:
            spec = build(MappingSpec, data)
            tags = spec.tags
        except SpecError as exc:  # the tags' own rules still run: every mistake at once
            errors.add(exc)
            tags = _tags_alone(data)
        scale = _rules(tags, catalogue(s), errors)
        buses: dict[str, int] = {}
        if errors.errors == [] and spec.grid is not None:
            buses = _grid_rules(spec, s, scale)
        errors.done()
        if spec.source.kind == "file" and spec.source.path is None:
            raise SpecError("source.path", "expected the recorded file for kind: file")
    except SpecError as exc:
        raise_lines(exc, where)
    source = spec.source
    if source.path is not None and not source.path.is_absolute():
        source = Source(**{**source.__dict__, "path": path.parent / source.path})
    return Telemetry(source=source, tags=spec.tags, path=path, scale=scale, grid=spec.grid,
                     buses=buses)


def raise_lines(exc: SpecError, where: Callable[[str], str]) -> NoReturn:
    """Raise :class:`MappingError` with one line per mistake in ``exc`` (file:line: path: what)."""
    lines = list(dict.fromkeys(f"{where(e.path)}: {e}" for e in exc.errors))
    more = [f"... and {len(lines) - MAX_ERRORS} more errors"] if len(lines) > MAX_ERRORS else []
    raise MappingError("\n".join(" ".join(line.split()) for line in lines[:MAX_ERRORS] + more)
                       ) from None


def _grid_rules(spec: MappingSpec, s: Scenario,
                scale: dict[str, tuple[float, float]]) -> dict[str, int]:
    """The measured voltages: a grid in the scenario, buses of its network, tags used once.
    The conversions of the voltage tags; the position of each bus in the network."""
    if s.grid is None:
        raise SpecError("grid", "the scenario has no grid section: no network to estimate")
    from adapters.grid_sim import vector_columns  # lazy: pandapower
    from twin.cosim.network import build_grid

    net = build_grid(s).net
    names = vector_columns(net)["vm_pu"]
    position = {name: i for i, name in enumerate(names)}
    errors = Collect()
    used = {t.tag for t in spec.tags}
    for i, v in enumerate(spec.grid.voltages if spec.grid else ()):
        at = f"grid.voltages[{i}]"
        if v.tag in used:
            errors.add(SpecError(f"{at}.tag", f"tag {v.tag!r} is already used"))
        elif v.bus not in position:
            errors.add(SpecError(f"{at}.bus", f"no bus {v.bus!r} in the park's network; "
                                 f"expected one of {', '.join(names[:6])}, ... (twin grid "
                                 f"--export lists them)"))
        else:
            used.add(v.tag)
            kv = float(net.bus.vn_kv.iloc[position[v.bus]])
            scale[v.tag] = (1.0 / kv if v.unit == "kV" else 1.0, 0.0)
    errors.done()
    return position


def _tags_alone(data: Any) -> tuple[Tag, ...]:
    """The tags of a file whose other parts are wrong (none if they are wrong too)."""
    try:
        return build(_Tags, {"tags": data.get("tags", ())}).tags
    except (SpecError, AttributeError):
        return ()


@dataclass(frozen=True)
class _Tags:
    tags: tuple[Tag, ...]


def _rules(tags: tuple[Tag, ...], known: dict[str, dict[str, Quantity]],
           errors: Collect) -> dict[str, tuple[float, float]]:
    """Entities, attributes and units known; tags and points used once. The conversions."""
    scale: dict[str, tuple[float, float]] = {}
    used: dict[str, int] = {}
    points: dict[str, int] = {}
    for i, t in enumerate(tags):
        at = f"tags[{i}]"
        if t.tag in used:
            errors.add(SpecError(f"{at}.tag", f"tag {t.tag!r} is already used by "
                                 f"tags[{used[t.tag]}]"))
            continue
        used[t.tag] = i
        if any(c in t.tag for c in "+#") or not t.tag.strip():
            errors.add(SpecError(f"{at}.tag", f"expected a tag name without MQTT wildcards "
                                 f"(+, #), got {t.tag!r}"))
            continue
        if t.point in points:
            errors.add(SpecError(f"{at}.point", f"{t.point!r} is already measured by "
                                 f"tags[{points[t.point]}]"))
            continue
        points[t.point] = i
        quantity = known.get(t.entity, {}).get(t.attr)
        if quantity is None:
            errors.add(SpecError(f"{at}.point", _unknown_point(t, known)))
            continue
        if t.entity in ("grid",) and t.attr in VECTORS:
            errors.add(SpecError(f"{at}.point", f"{t.point} has a value per bus or line; "
                                 f"measure bus voltages under grid.voltages"))
            continue
        declared = quantity.unit
        accepted = UNITS.get(declared, {declared: (1.0, 0.0)})
        if t.unit not in accepted:
            errors.add(SpecError(f"{at}.unit", f"{t.point} is in {declared}; expected one of "
                                 f"{', '.join(accepted)}, got {t.unit!r}"))
            continue
        scale[t.tag] = accepted[t.unit]
    return scale


def _unknown_point(t: Tag, known: dict[str, dict[str, Quantity]]) -> str:
    if t.entity not in known:
        names = ", ".join(known)
        return f"no entity {t.entity!r} in the scenario; expected <entity>.<attribute> with " \
               f"an entity among {names}"
    return f"{t.entity!r} records no attribute {t.attr!r}; expected one of " \
           f"{', '.join(known[t.entity])}"


def tags_of(telemetry: Telemetry, entity: str) -> Iterator[Tag]:
    """The tags measuring ``entity``."""
    return (t for t in telemetry.tags if t.entity == entity)


def default_mapping(s: Scenario, prefix: str = "park/") -> dict[str, Any]:
    """A mapping of every power, state of charge and weather input of ``s`` and each heat
    supply's heat and gas (what a stand-in plant publishes when no mapping is given; what an
    operating day's report needs for its carbon figures), as YAML-ready data."""
    known = catalogue(s)
    wanted = {"weather": ("ghi_w_m2", "dni_w_m2", "dhi_w_m2", "temp_air_c", "wind_ms",
                          "pressure_pa")}
    tags = []
    for entity, attrs in known.items():
        names = wanted.get(entity) or tuple(a for a in ("p_mw", "soc", "p_import_mw",
                                                         "p_export_mw", "q_heat_mw", "gas_nm3")
                                            if a in attrs)
        for a in names:
            unit = "kW" if attrs[a].unit == "MW" else attrs[a].unit
            tags.append({"tag": f"{entity}/{a}", "point": f"{entity}.{a}", "unit": unit})
    out: dict[str, Any] = {"source": {"kind": "mqtt", "host": "127.0.0.1", "port": 1883,
                                      "prefix": prefix}, "tags": tags}
    if s.grid is not None:  # a third of the bus voltages, for the state estimation
        from adapters.grid_sim import vector_columns
        from twin.cosim.network import build_grid

        buses = vector_columns(build_grid(s).net)["vm_pu"]
        out["grid"] = {"every": 4, "voltages": [
            {"tag": f"grid/v/{i}", "bus": name, "unit": "p.u."}
            for i, name in enumerate(buses) if i % 3 == 0]}
    return out
