"""Point lists: which register holds what, in which type, scale and unit, with which limits.

A point list is data (``twin/data/hil_points.yaml``, or a YAML file of the same shape for a
real device). The emulator builds its register map from it and the client reads and writes
the device through it, so the two always agree. Values pass through three forms::

    registers  --decode-->  raw (int, float, str)  --x 10^sf-->  SI (W, Wh, %)  --x factor-->  twin (MW, 1)

For SunSpec devices, :func:`check_sunspec` compares the list with pysunspec2's model
definitions and :func:`sunspec_image` builds the whole register map ("SunS", every model with
its unimplemented values, the end model) that pysunspec2's ``scan()`` discovers.
"""

from __future__ import annotations

import dataclasses
import math
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SUNS_MARKER = (0x5375, 0x6E53)  # "SunS"
SUNS_END = 0xFFFF
STRUCTS = {  # SunSpec type -> struct code (big endian, high word first)
    "int16": "h", "sunssf": "h", "uint16": "H", "enum16": "H", "bitfield16": "H", "acc16": "H",
    "count": "H", "pad": "H", "int32": "i", "uint32": "I", "enum32": "I", "bitfield32": "I",
    "acc32": "I", "ipaddr": "I", "int64": "q", "uint64": "Q", "acc64": "Q", "float32": "f",
    "float64": "d",
}
UNIMPLEMENTED = {"int16": -0x8000, "sunssf": -0x8000, "uint16": 0xFFFF, "enum16": 0xFFFF,
                 "bitfield16": 0xFFFF, "int32": -0x80000000, "uint32": 0xFFFFFFFF,
                 "enum32": 0xFFFFFFFF, "bitfield32": 0xFFFFFFFF}
BUILTIN = {"battery": "battery_sunspec", "meter": "meter_modbus", "pv": "pv_sunspec",
           "meter-sunspec": "meter_sunspec"}
DEFINED = ("offset", "type", "size", "sf", "access")  # SunSpec fields the definition gives


class PointListError(ValueError):
    """A point list that is malformed or does not match the device or its standard."""


@dataclass(frozen=True)
class Point:
    """One value of a device: where it is, how it is encoded, what it means."""

    key: str
    address: int
    type: str
    size: int
    unit: str = ""
    access: str = "R"
    model: int | None = None
    name: str = ""
    offset: int | None = None
    sf: str | int | None = None
    twin: str | None = None
    factor: float = 1.0
    limits: tuple[float, float] | None = None
    limits_of: str | None = None
    poll: bool = False
    heartbeat: bool = False
    value: Any = None

    @property
    def writable(self) -> bool:
        """Whether the device accepts writes to this point."""
        return "W" in self.access


@dataclass(frozen=True)
class PointList:
    """The points of one device kind, with the protocol that carries them."""

    protocol: str  # "sunspec" or "modbus"
    points: Mapping[str, Point]
    base: int = 40000
    models: tuple[int, ...] = ()  # the reference layout (the emulator's), in map order
    table: str = "holding"
    source: str = ""
    require: tuple[tuple[int, ...], ...] = ()  # SunSpec: one model of each group must be there

    def missing(self, present: Iterable[int]) -> list[str]:
        """The required model groups of which the device has none (empty: it can be bound)."""
        have = set(present)
        return [" or ".join(map(str, group)) for group in self.require if not have & set(group)]

    def __getitem__(self, key: str) -> Point:
        try:
            return self.points[key]
        except KeyError:
            raise PointListError(f"the point list has no point {key!r}") from None

    def by_twin(self, name: str) -> Point:
        """The point that carries the twin's value ``name`` (e.g. ``p_mw``)."""
        for p in self.points.values():
            if p.twin == name:
                return p
        raise PointListError(f"the point list has no point for {name!r}")

    def has_twin(self, name: str) -> bool:
        """Whether a point carries the twin's value ``name``."""
        return any(p.twin == name for p in self.points.values())

    @property
    def polled(self) -> list[Point]:
        """Points read every cycle, in address order."""
        return sorted((p for p in self.points.values() if p.poll), key=lambda p: p.address)

    @property
    def static(self) -> list[Point]:
        """Points read once at connect (ratings, scale factors, identity)."""
        return sorted((p for p in self.points.values() if not p.poll), key=lambda p: p.address)


def load(source: str | Path) -> PointList:
    """The built-in point list of a device kind (``battery``, ``meter``) or one from a file."""
    if str(source) in BUILTIN:
        from twin import data

        entry = data.entries("hil_points")[BUILTIN[str(source)]]
        return parse(entry["value"], str(entry.get("source", "")), f"hil_points.{source}")
    path = Path(source)
    from twin.core import textload  # UTF-8 only, no alias bombs, dates that exist

    try:
        raw, _ = textload.parse_yaml(textload.read_text(path, "point list"), path)
    except textload.TextError as exc:
        raise PointListError(str(exc)) from None
    if isinstance(raw, dict) and "points" not in raw and len(raw) == 1:
        raw = next(iter(raw.values()))  # one entry of the twin/data shape
    if isinstance(raw, dict) and "value" in raw:
        return parse(raw["value"], str(raw.get("source", "")), str(path))
    return parse(raw, "", str(path))


def parse(raw: Any, source: str, where: str) -> PointList:
    """A point list from its YAML value; errors name ``where`` and the point."""
    if not isinstance(raw, Mapping) or "points" not in raw:
        raise PointListError(f"{where}: expected a mapping with protocol and points")
    protocol = raw.get("protocol", "modbus")
    if protocol not in ("sunspec", "modbus"):
        raise PointListError(f"{where}: protocol: expected sunspec or modbus, got {protocol!r}")
    fields = set(Point.__dataclass_fields__)
    points: dict[str, Point] = {}
    models = tuple(int(m) for m in raw.get("models", ()))
    base = int(raw.get("base", 40000))
    bases = layout(models, base) if protocol == "sunspec" else {}
    if not isinstance(raw["points"], list):
        raise PointListError(f"{where}: points: expected a list")
    for i, p in enumerate(raw["points"]):
        if not isinstance(p, Mapping) or set(p) - fields:
            raise PointListError(f"{where}: points[{i}]: " + (
                f"unknown key {sorted(set(p) - fields)[0]!r}" if isinstance(p, Mapping)
                else "expected a mapping"))
        if protocol == "sunspec":
            p = _defined(p, bases, f"{where}: points[{i}]")
        try:
            point = Point(**{**p, "limits": tuple(p["limits"]) if p.get("limits") else None})
        except TypeError as exc:
            raise PointListError(f"{where}: points[{i}]: {exc}") from None
        if point.type not in STRUCTS and point.type != "string":
            raise PointListError(f"{where}: points[{i}] {point.key}: unknown type {point.type!r}")
        if point.type != "string" and struct.calcsize(">" + STRUCTS[point.type]) != 2 * point.size:
            raise PointListError(f"{where}: points[{i}] {point.key}: size {point.size} does not "
                                 f"fit type {point.type}")
        if point.key in points:
            raise PointListError(f"{where}: points[{i}]: key {point.key!r} repeats")
        points[point.key] = point
    return PointList(protocol=protocol, points=points, base=base, models=models,
                     table=str(raw.get("table", "holding")), source=source,
                     require=_require(raw.get("require", [[m] for m in models]), where))


def _require(require: Any, where: str) -> tuple[tuple[int, ...], ...]:
    if not isinstance(require, list) or not all(isinstance(g, list) for g in require):
        raise PointListError(f"{where}: require: expected a list of lists of model ids")
    return tuple(tuple(int(m) for m in g) for g in require)


def _defined(p: Mapping[str, Any], bases: Mapping[int, int], where: str) -> dict[str, Any]:
    """A SunSpec point with what its model's definition gives filled in (offset, type,
    size, scale factor, access) and its address in the reference layout (-1: its model is
    not in that layout; discovery places it)."""
    if "model" not in p or "name" not in p:
        raise PointListError(f"{where}: a SunSpec point needs model and name")
    found = definition(int(p["model"]), str(p["name"]))
    if found is None:
        raise PointListError(f"{where}: SunSpec model {p['model']} has no point {p['name']!r}")
    offset, d = found
    given = {"offset": offset, "type": d["type"], "size": int(d["size"]), "sf": d.get("sf"),
             "access": d.get("access", "R")}
    out = {**{k: v for k, v in given.items() if k not in p}, **p}
    if "address" not in out:
        out["address"] = bases[int(p["model"])] + offset if int(p["model"]) in bases else -1
    return out


def definition(model_id: int, name: str) -> tuple[int, dict[str, Any]] | None:
    """The offset (from the model's ID register) and definition of a top-level point."""
    offset = 0
    for d in _walk(_model_def(model_id)):
        if d["name"] == name:
            return offset, d
        offset += int(d["size"])
    return None


def layout(models: Iterable[int], base: int = 40000) -> dict[int, int]:
    """The address of each model's ID register when ``models`` follow "SunS" at ``base``."""
    out, address = {}, base + 2
    for model_id in models:
        out[model_id] = address
        address += model_length(model_id) + 2
    return out


def relocate(plist: PointList, bases: Mapping[int, int], base: int | None = None
             ) -> PointList:
    """The point list of a device whose models start at ``bases`` (model -> address of its
    ID register, as discovered): points of absent models dropped, addresses moved; where
    several points carry the same twin value the first one present (in list order) keeps it
    (701.W before the legacy 103.W, 713.SoC before 802.SoC)."""
    kept: dict[str, Point] = {}
    taken: set[str] = set()
    for key, p in plist.points.items():
        if p.model is None or p.model not in bases or p.offset is None:
            continue
        twin = p.twin if p.twin not in taken else None
        if twin is not None:
            taken.add(twin)
        kept[key] = dataclasses.replace(p, address=bases[p.model] + p.offset, twin=twin)
    return dataclasses.replace(plist, points=kept, models=tuple(bases),
                               base=plist.base if base is None else base)


# --- registers <-> raw values ------------------------------------------------------------


def encode(point: Point, raw: Any) -> list[int]:
    """The registers of a raw value (int, float or str) of ``point``."""
    if point.type == "string":
        data = str(raw).encode("utf-8")[: 2 * point.size].ljust(2 * point.size, b"\0")
    else:
        code = STRUCTS[point.type]
        if code in "fd":
            data = struct.pack(">" + code, float(raw))
        else:
            data = struct.pack(">" + code, int(raw))
    return [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2)]


def decode(point: Point, registers: Sequence[int]) -> Any:
    """The raw value of ``point`` from its registers."""
    data = b"".join(int(r).to_bytes(2, "big") for r in registers[: point.size])
    if point.type == "string":
        return data.rstrip(b"\0").decode("utf-8", errors="replace")
    return struct.unpack(">" + STRUCTS[point.type], data)[0]


def implemented(point: Point, raw: Any) -> bool:
    """False for SunSpec's 'not implemented' value of the point's type."""
    if point.type in ("float32", "float64"):
        return not math.isnan(raw)
    return UNIMPLEMENTED.get(point.type) != raw


def to_si(raw: float, sf: int | None) -> float:
    """Raw value x 10^sf."""
    return float(raw) * 10.0 ** (sf or 0)


def from_si(value: float, sf: int | None, point: Point) -> int | float:
    """The raw value that encodes an SI value (rounded for integer types)."""
    raw = value / 10.0 ** (sf or 0)
    return raw if point.type in ("float32", "float64") else int(round(raw))


def limits_si(point: Point, ratings: Mapping[str, float]) -> tuple[float, float] | None:
    """The point's plausible range in SI units (``ratings``: SI values of rating points by
    key; ``limits_of`` may name alternatives, ``702.WMaxRtg|802.WDisChaRteMax``: the first
    one stated). None when the point has no limits or the device states none of its ratings."""
    if point.limits is None:
        return None
    lo, hi = point.limits
    if point.limits_of is None:
        return float(lo), float(hi)
    rating = next((ratings[k] for k in point.limits_of.split("|") if ratings.get(k)), None)
    if rating is None:
        return None
    return float(lo) * rating, float(hi) * rating


def blocks(points: Iterable[Point], max_gap: int = 100, max_count: int = 120) -> list[
        tuple[int, int, list[Point]]]:
    """Contiguous read requests ``(address, count, points)`` covering ``points``: neighbours
    closer than ``max_gap`` registers share one request of at most ``max_count``."""
    out: list[tuple[int, int, list[Point]]] = []
    for p in sorted(points, key=lambda p: p.address):
        if out:
            start, count, members = out[-1]
            end = p.address + p.size
            if p.address - (start + count) <= max_gap and end - start <= max_count:
                out[-1] = (start, max(count, end - start), [*members, p])
                continue
        out.append((p.address, p.size, [p]))
    return out


# --- SunSpec ------------------------------------------------------------------------------


def _model_def(model_id: int) -> dict[str, Any]:
    from sunspec2 import device

    mdef = device.get_model_def(model_id)
    if mdef is None:
        raise PointListError(f"pysunspec2 has no definition of SunSpec model {model_id}")
    return mdef["group"]


def _walk(group: Mapping[str, Any]) -> Iterable[dict[str, Any]]:
    """The points of a model definition in register order (fixed groups expanded once)."""
    yield from group.get("points", ())
    for sub in group.get("groups", ()):
        count = sub.get("count", 1)
        for _ in range(count if isinstance(count, int) and count > 0 else 1):
            yield from _walk(sub)


def model_length(model_id: int) -> int:
    """Registers of a model after its ID and L (the value of L)."""
    return sum(int(p["size"]) for p in _walk(_model_def(model_id))) - 2


def check_sunspec(plist: PointList) -> list[str]:
    """Where the point list disagrees with pysunspec2's model definitions (empty: none)."""
    problems = []
    bases = layout(plist.models, plist.base)
    for p in plist.points.values():
        if p.model is None:
            problems.append(f"{p.key}: no SunSpec model")
            continue
        try:
            where = definition(p.model, p.name)
        except PointListError as exc:
            problems.append(f"{p.key}: {exc}")
            continue
        if where is None:
            problems.append(f"{p.key}: model {p.model} has no point {p.name}")
            continue
        offset, found = where
        address = bases[p.model] + offset if p.model in bases else -1
        expected = {"offset": offset, "address": address, "type": found["type"],
                    "size": int(found["size"]), "sf": found.get("sf"),
                    "access": found.get("access", "R")}
        for name, want in expected.items():
            if getattr(p, name) != want:
                problems.append(f"{p.key}: {name} is {getattr(p, name)!r}, model {p.model} "
                                f"says {want!r}")
    return problems


def sunspec_image(plist: PointList, raw: Mapping[str, Any]) -> list[int]:
    """The whole SunSpec register map from ``plist.base``: "SunS", every model (points the
    list does not give hold SunSpec's 'not implemented' values), the end model.
    ``raw`` gives raw values by point key."""
    from sunspec2 import mb

    regs = list(SUNS_MARKER)
    for model_id in plist.models:
        body = b""
        for d in _walk(_model_def(model_id)):
            size = int(d["size"])
            if d["name"] == "ID":
                body += struct.pack(">H", model_id)
            elif d["name"] == "L":
                body += struct.pack(">H", model_length(model_id))
            else:
                body += mb.create_unimpl_value(d["type"], len=2 * size)[: 2 * size].ljust(
                    2 * size, b"\0")
        regs.extend(int.from_bytes(body[i:i + 2], "big") for i in range(0, len(body), 2))
    regs.extend([SUNS_END, 0])
    for key, value in raw.items():
        p = plist[key]
        start = p.address - plist.base
        regs[start:start + p.size] = encode(p, value)
    return regs
