"""Procedural PCB layout for the AOI generator: copper, mask openings, silkscreen, components.

Everything is in *design pixels*: the golden image's pixel grid, ``px_per_mm = 1000 /
um_per_px``. Part outlines and land patterns come from ``twin/data/aoi/footprints.yaml``
(KiCad's IPC-7351B footprints). The layout is placed on a coarse occupancy grid so that
copper features keep their clearance, parts do not overlap, and silkscreen stays off pads.

A :class:`Layout` is plain frozen data; :mod:`twin.models.aoi.render` draws it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Any

import cv2
import numpy as np

from twin import data

Rect = tuple[float, float, float, float]  # x0, y0, x1, y1 in design px
Point = tuple[float, float]

TRACE_WIDTHS_MM = (0.15, 0.2, 0.25)
CLEARANCE_MM = 0.15
VIA_RING_MM, VIA_DRILL_MM = 0.6, 0.3
MASK_EXPANSION_MM = 0.05
FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclass(frozen=True)
class Pad:
    """A copper land with a solder-mask opening (axis-aligned, design px)."""

    box: Rect
    round: bool = False
    comp: int = -1  # index of the component soldered on it, -1 for none
    toe: Point = (0.0, 0.0)  # unit vector from the part outwards along the pad


@dataclass(frozen=True)
class Via:
    """A plated hole: copper ring, drill; tented (under mask) or open."""

    cx: float
    cy: float
    r_ring: float
    r_drill: float
    tented: bool = True


@dataclass(frozen=True)
class Trace:
    """A copper track: a polyline of ``width`` px; ``bus``/``lane`` name parallel groups."""

    points: tuple[Point, ...]
    width: float
    bus: int = -1
    lane: int = -1


@dataclass(frozen=True)
class Pour:
    """A copper area: a rectangle with chamfered corners."""

    box: Rect
    chamfer: float


@dataclass(frozen=True)
class Component:
    """A placed part. Geometry in the part's own frame (px), placed at ``(cx, cy)``, ``rot``°."""

    ref: str
    package: str
    kind: str  # chip | sod | sot23 | gullwing
    cx: float
    cy: float
    rot: int  # 0, 90, 180 or 270
    body: tuple[float, float]  # length along local x, width along local y
    parts: tuple[Rect, ...]  # terminals and leads (metal), local frame
    marks: tuple[tuple[str, tuple[float, ...]], ...]  # ("dot", (x, y, r)), ("band", rect)
    pads: tuple[int, ...]  # indices into Layout.pads
    body_colour: str  # body_black | body_tan
    polarised: bool
    thick: float  # body height, px (a tombstoned chip shows this edge-on)


@dataclass(frozen=True)
class SilkText:
    """Silkscreen text drawn with OpenCV's Hershey font; ``org`` is the baseline start."""

    text: str
    org: tuple[int, int]
    scale: float
    thickness: int


@dataclass(frozen=True)
class Layout:
    """A procedurally generated board region of ``size_px`` × ``size_px`` design pixels."""

    size_px: int
    um_per_px: float
    pours: tuple[Pour, ...]
    traces: tuple[Trace, ...]
    pads: tuple[Pad, ...]
    vias: tuple[Via, ...]
    fiducials: tuple[Via, ...]  # round pads with a large mask opening: r_ring pad, r_drill opening
    components: tuple[Component, ...]
    silk_lines: tuple[tuple[tuple[Point, ...], float], ...]  # (polyline, width px)
    silk_texts: tuple[SilkText, ...]
    finish: str  # enig | hasl

    @property
    def px_per_mm(self) -> float:
        """Design pixels per millimetre."""
        return 1000.0 / self.um_per_px


@cache
def footprints() -> dict[str, dict[str, Any]]:
    """The package table of ``twin/data/aoi/footprints.yaml`` (only entries with a kind)."""
    return {k: v for k, v in data.load("aoi/footprints").items() if isinstance(v, dict)}


def rotate(points: np.ndarray, deg: float) -> np.ndarray:
    """Rotate ``(N, 2)`` points about the origin by ``deg`` (image axes: y down)."""
    a = math.radians(deg)
    c, s = math.cos(a), math.sin(a)
    return points @ np.array([[c, s], [-s, c]])


def rect_points(r: Rect) -> np.ndarray:
    """The four corners of a rectangle, ``(4, 2)``."""
    x0, y0, x1, y1 = r
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=float)


def to_global(comp: Component, pts: np.ndarray, dx: float = 0.0, dy: float = 0.0,
              dtheta: float = 0.0) -> np.ndarray:
    """Local part-frame points to design px, with an extra shift and rotation."""
    return rotate(pts, comp.rot + dtheta) + (comp.cx + dx, comp.cy + dy)


def bbox(pts: np.ndarray) -> Rect:
    """Axis-aligned bounding box of ``(N, 2)`` points."""
    return (float(pts[:, 0].min()), float(pts[:, 1].min()),
            float(pts[:, 0].max()), float(pts[:, 1].max()))


def _chip(fp: dict, k: float) -> tuple[tuple, tuple, tuple, tuple]:
    bl, bw = (v * k for v in fp["body_mm"])
    t = fp["term_mm"] * k
    pl, pw = (v * k for v in fp["pad_mm"])
    px = fp["pad_x_mm"] * k
    if fp["kind"] == "sod":  # flat leads out of the body ends, cathode band at -x
        lw = 0.6 * k
        parts = ((-bl / 2 - t, -lw / 2, -bl / 2, lw / 2), (bl / 2, -lw / 2, bl / 2 + t, lw / 2))
        marks = (("band", (-bl / 2 + 0.15 * k, -bw / 2, -bl / 2 + 0.5 * k, bw / 2)),)
    else:
        parts = ((-bl / 2, -bw / 2, -bl / 2 + t, bw / 2), (bl / 2 - t, -bw / 2, bl / 2, bw / 2))
        marks = ()
    pads = ((-px - pl / 2, -pw / 2, -px + pl / 2, pw / 2), (px - pl / 2, -pw / 2, px + pl / 2, pw / 2))
    toes = ((-1.0, 0.0), (1.0, 0.0))
    return parts, marks, pads, toes


def _sot23(fp: dict, k: float) -> tuple[tuple, tuple, tuple, tuple]:
    bw = fp["body_mm"][1] * k
    p, lw, span = fp["pitch_mm"] * k, fp["lead_w_mm"] * k, fp["span_mm"] * k
    pl, pw = (v * k for v in fp["pad_mm"])
    pc = fp["pad_c_mm"] * k
    leads = ((-p, 1.0), (p, 1.0), (0.0, -1.0))
    parts = tuple((x - lw / 2, min(s * bw / 2, s * span / 2), x + lw / 2, max(s * bw / 2, s * span / 2))
                  for x, s in leads)
    pads = tuple((x - pl / 2, s * pc - pw / 2, x + pl / 2, s * pc + pw / 2) for x, s in leads)
    toes = tuple((0.0, s) for _, s in leads)
    return parts, (), pads, toes


def _gullwing(fp: dict, k: float) -> tuple[tuple, tuple, tuple, tuple]:
    bx, by = (v * k for v in fp["body_mm"])
    n, p, lw = fp["pins_per_side"], fp["pitch_mm"] * k, fp["lead_w_mm"] * k
    span, pc = fp["span_mm"] * k, fp["pad_c_mm"] * k
    pl, pw = (v * k for v in fp["pad_mm"])
    offs = [(i - (n - 1) / 2) * p for i in range(n)]
    # sides counter-clockwise from the left (pin 1 at the top of the left side)
    sides = [(-1.0, 0.0), (0.0, 1.0), (1.0, 0.0), (0.0, -1.0)][: fp["sides"]]
    if fp["sides"] == 2:
        sides = [(-1.0, 0.0), (1.0, 0.0)]
    parts, pads, toes = [], [], []
    for sx, sy in sides:
        order = offs if (sx < 0 or sy > 0) else offs[::-1]
        for o in order:
            if sx:  # leads along x on the left/right sides
                half_b = bx / 2
                parts.append(_span_rect(sx, half_b, span / 2, o, lw, horizontal=True))
                pads.append(_span_rect(sx, pc - pl / 2, pc + pl / 2, o, pw, horizontal=True))
            else:
                half_b = by / 2
                parts.append(_span_rect(sy, half_b, span / 2, o, lw, horizontal=False))
                pads.append(_span_rect(sy, pc - pl / 2, pc + pl / 2, o, pw, horizontal=False))
            toes.append((sx, sy))
    r = 0.3 * k
    marks = (("dot", (-bx / 2 + 2.2 * r, -by / 2 + 2.2 * r, r)),
             ("bevel", (-bx / 2, -by / 2, -bx / 2 + 0.3 * k, by / 2)))
    return tuple(parts), marks, tuple(pads), tuple(toes)


def _span_rect(sign: float, a: float, b: float, o: float, w: float, *, horizontal: bool) -> Rect:
    lo, hi = sorted((sign * a, sign * b))
    return (lo, o - w / 2, hi, o + w / 2) if horizontal else (o - w / 2, lo, o + w / 2, hi)


BUILDERS = {"chip": _chip, "sod": _chip, "sot23": _sot23, "gullwing": _gullwing}


class _Grid:
    """Occupancy on a coarse grid of ``cell`` px; shapes are rasterised with OpenCV."""

    def __init__(self, size_px: int, cell: int = 4) -> None:
        self.cell = cell
        self.n = -(-size_px // cell)
        self.occ = np.zeros((self.n, self.n), np.uint8)

    def rect_mask(self, r: Rect, margin: float = 0.0) -> np.ndarray:
        m = np.zeros_like(self.occ)
        c = self.cell
        cv2.rectangle(m, (int((r[0] - margin) // c), int((r[1] - margin) // c)),
                      (int((r[2] + margin) // c), int((r[3] + margin) // c)), 1, -1)
        return m

    def path_mask(self, pts: list[Point], half_w: float) -> np.ndarray:
        m = np.zeros_like(self.occ)
        c = self.cell
        th = max(1, int(math.ceil(2 * half_w / c)) + 1)
        ipts = np.round(np.asarray(pts) / c).astype(np.int32)
        cv2.polylines(m, [ipts], False, 1, th)
        return m

    def inside(self, r: Rect, border: float) -> bool:
        lim = self.n * self.cell - border
        return r[0] >= border and r[1] >= border and r[2] <= lim and r[3] <= lim

    def free(self, m: np.ndarray) -> bool:
        return not np.any(self.occ & m)

    def take(self, m: np.ndarray) -> None:
        self.occ |= m


@dataclass
class _Builder:
    """Mutable state while a layout is generated."""

    size: int
    k: float  # px per mm
    rng: np.random.Generator
    grid: _Grid  # copper and parts (keeps clearances)
    solid: _Grid  # parts, pads and silk (keeps silkscreen off them)
    pads: list
    vias: list
    traces: list
    comps: list
    silk_lines: list
    silk_texts: list
    pours: list
    fiducials: list

    @property
    def clear(self) -> float:
        return CLEARANCE_MM * self.k


def generate(size_px: int, um_per_px: float, density: float, rng: np.random.Generator,
             finish: str = "enig") -> Layout:
    """Generate a board region: fiducials, parts, pours, traces, buses, vias, silkscreen."""
    k = 1000.0 / um_per_px
    b = _Builder(size_px, k, rng, _Grid(size_px), _Grid(size_px), [], [], [], [], [], [], [], [])
    _place_fiducials(b)
    for bus in range(max(1, round(density * rng.integers(1, 4)))):
        _place_bus(b, bus)
    if rng.random() < 0.8:
        _place_pour(b, 3.0, 6.0)
    _place_components(b, density)
    for _ in range(rng.integers(0, 3)):
        _place_pour(b, 1.5, 4.0)
    _route_pads(b)
    for _ in range(round(density * rng.integers(4, 12))):
        _place_via(b)
    _silkscreen(b)
    return Layout(size_px, um_per_px, tuple(b.pours), tuple(b.traces), tuple(b.pads),
                  tuple(b.vias), tuple(b.fiducials), tuple(b.comps), tuple(b.silk_lines),
                  tuple(b.silk_texts), finish)


def _place_fiducials(b: _Builder) -> None:
    r_pad, r_open = 0.5 * b.k, 1.0 * b.k
    corners = [(0, 0), (1, 0), (0, 1), (1, 1)]
    for i in b.rng.choice(4, size=int(b.rng.integers(2, 4)), replace=False):
        fx, fy = corners[i]
        cx = 40 + r_open + fx * (b.size - 80 - 2 * r_open) + b.rng.uniform(0, 30) * (1 - 2 * fx)
        cy = 40 + r_open + fy * (b.size - 80 - 2 * r_open) + b.rng.uniform(0, 30) * (1 - 2 * fy)
        box = (cx - r_open, cy - r_open, cx + r_open, cy + r_open)
        b.fiducials.append(Via(cx, cy, r_pad, r_open, tented=False))
        b.grid.take(b.grid.rect_mask(box, b.clear))
        b.solid.take(b.solid.rect_mask(box, 4))


def _component_mix(b: _Builder, density: float) -> list[str]:
    rng = b.rng
    names = []
    if rng.random() < 0.7 * density:
        names.append("tqfp_32")
    names += ["soic_8"] * int(rng.integers(1, 3))
    names += ["sot_23"] * int(rng.integers(1, 3))
    names += ["sod_123"] * int(rng.integers(1, 3))
    chips = ("chip_0402", "chip_0603", "chip_0805")
    names += [chips[i] for i in rng.integers(0, 3, size=round(density * rng.integers(8, 15)))]
    return names


def _place_components(b: _Builder, density: float) -> None:
    counters: dict[str, int] = {}
    for name in _component_mix(b, density):
        fp = footprints()[name]
        parts, marks, pads_local, toes = BUILDERS[fp["kind"]](fp, b.k)
        bl, bw = (v * b.k for v in fp["body_mm"])
        body = rect_points((-bl / 2, -bw / 2, bl / 2, bw / 2))
        outline = np.vstack([body] + [rect_points(r) for r in parts + pads_local])
        for _ in range(60):
            rot = int(b.rng.choice((0, 90, 180, 270)))
            cx, cy = b.rng.uniform(80, b.size - 80, size=2)
            ext = bbox(rotate(outline, rot) + (cx, cy))
            if b.grid.inside(ext, 56) and b.grid.free(b.grid.rect_mask(ext, 0.6 * b.k)):
                break
        else:
            continue
        idx = len(b.comps)
        prefix = {"chip": "RC"[int(b.rng.integers(0, 2))], "sod": "D", "sot23": "Q",
                  "gullwing": "U"}[fp["kind"]]
        counters[prefix] = counters.get(prefix, 0) + 1
        pad_ids = []
        for r, toe in zip(pads_local, toes, strict=True):
            g = bbox(rotate(rect_points(r), rot) + (cx, cy))
            t = rotate(np.array([toe], float), rot)[0]
            pad_ids.append(len(b.pads))
            b.pads.append(Pad(g, comp=idx, toe=(round(float(t[0]), 6), round(float(t[1]), 6))))
        colour = "body_tan" if prefix == "C" else "body_black"
        b.comps.append(Component(f"{prefix}{counters[prefix]}", name, fp["kind"], float(cx),
                                 float(cy), rot, (bl, bw), parts, marks, tuple(pad_ids), colour,
                                 fp["kind"] in ("sod", "gullwing"),
                                 fp.get("thick_mm", 1.0) * b.k))
        b.grid.take(b.grid.rect_mask(ext, 0))
        b.solid.take(b.solid.rect_mask(ext, 0.2 * b.k))


def _place_pour(b: _Builder, lo_mm: float, hi_mm: float) -> None:
    for _ in range(60):
        w, h = b.rng.uniform(lo_mm, hi_mm, size=2) * b.k
        x0, y0 = b.rng.uniform(20, b.size - 20 - w), b.rng.uniform(20, b.size - 20 - h)
        box = (x0, y0, x0 + w, y0 + h)
        m = b.grid.rect_mask(box, 2 * b.clear)
        if b.grid.free(m):
            break
    else:
        return
    b.pours.append(Pour(box, chamfer=min(w, h) * 0.15))
    pitch = 1.5 * b.k
    rv = VIA_RING_MM * b.k / 2
    for vx in np.arange(x0 + pitch / 2, x0 + w - rv, pitch):
        for vy in np.arange(y0 + pitch / 2, y0 + h - rv, pitch):
            if b.rng.random() < 0.5:
                b.vias.append(Via(float(vx), float(vy), rv, VIA_DRILL_MM * b.k / 2))
    b.grid.take(m)


def _route_pads(b: _Builder) -> None:
    for comp in b.comps:
        w = float(b.rng.choice(TRACE_WIDTHS_MM)) * b.k
        for pid in comp.pads:
            if b.rng.random() < 0.2:
                continue
            _route_one(b, b.pads[pid], w)


def _route_one(b: _Builder, pad: Pad, w: float) -> None:
    tx, ty = pad.toe
    x0, y0, x1, y1 = pad.box
    c = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    d = np.array([tx, ty])
    edge = c + d * (abs(tx) * (x1 - x0) / 2 + abs(ty) * (y1 - y0) / 2)
    rv = VIA_RING_MM * b.k / 2
    for _ in range(12):
        l1 = b.rng.uniform(0.3, 2.0) * b.k
        p1 = edge + d * l1
        turn = b.rng.choice((0, 45, -45, 90, -90))
        d2 = rotate(d[None, :], float(turn))[0]
        p2 = p1 + d2 * b.rng.uniform(0.8, 4.0) * b.k if turn else p1
        path = [tuple(edge + d * (w / 2 + b.clear / 2 + b.grid.cell)), tuple(p1), tuple(p2)]
        m = b.grid.path_mask(path, w / 2 + b.clear / 2) | b.grid.rect_mask(
            (p2[0] - rv, p2[1] - rv, p2[0] + rv, p2[1] + rv), b.clear)
        if b.grid.inside(bbox(np.array(path)), 56) and b.grid.free(m):
            pts = (tuple(map(float, c)), tuple(map(float, p1)), tuple(map(float, p2)))
            b.traces.append(Trace(tuple(p for i, p in enumerate(pts) if i < 2 or turn), w))
            b.vias.append(Via(float(p2[0]), float(p2[1]), rv, VIA_DRILL_MM * b.k / 2,
                              tented=bool(b.rng.random() < 0.7)))
            b.grid.take(m)
            return


def offset_polyline(pts: np.ndarray, dist: float) -> np.ndarray:
    """Offset a polyline sideways by ``dist`` px (mitred joints)."""
    out = []
    n = len(pts)
    for i in range(n):
        dirs = []
        if i > 0:
            dirs.append(pts[i] - pts[i - 1])
        if i < n - 1:
            dirs.append(pts[i + 1] - pts[i])
        normals = [np.array([-v[1], v[0]]) / np.hypot(*v) for v in dirs]
        nrm = sum(normals)
        nrm = nrm / np.hypot(*nrm)
        cos_half = float(np.dot(nrm, normals[0]))
        out.append(pts[i] + nrm * dist / cos_half)
    return np.array(out)


def _place_bus(b: _Builder, bus: int) -> None:
    rng = b.rng
    for _ in range(40):
        lanes = int(rng.integers(3, 7))
        w = float(rng.choice(TRACE_WIDTHS_MM[:2])) * b.k
        pitch = w + rng.uniform(0.15, 0.25) * b.k
        d = rotate(np.array([[1.0, 0.0]]), float(rng.choice((0, 90, 180, 270))))[0]
        start = rng.uniform(100, b.size - 100, size=2)
        l1, l2 = rng.uniform(1.5, 5.0, size=2) * b.k
        jog = float(rng.choice((-45, 45)))
        p1 = start + d * l1
        p2 = p1 + rotate(d[None, :], jog)[0] * l2
        centre = np.array([start, p1, p2])
        half = (lanes - 1) / 2 * pitch
        m = b.grid.path_mask([tuple(p) for p in centre], half + w / 2 + b.clear)
        if b.grid.inside(bbox(centre), 70 + half) and b.grid.free(m):
            break
    else:
        return
    rv = VIA_RING_MM * b.k / 2
    for lane in range(lanes):
        line = offset_polyline(centre, (lane - (lanes - 1) / 2) * pitch)
        # stagger the end vias in three rows so that their rings keep clear of each other
        d_end = line[-1] - line[-2]
        d_end /= np.hypot(*d_end)
        end = line[-1] + d_end * (lane % 3) * (2 * rv + b.clear)
        d_start = line[0] - line[1]
        d_start /= np.hypot(*d_start)
        begin = line[0] + d_start * ((lane + 1) % 3) * (2 * rv + b.clear)
        pts = (tuple(map(float, begin)),) + tuple(tuple(map(float, p)) for p in line) + (
            tuple(map(float, end)),)
        b.traces.append(Trace(pts, w, bus=bus, lane=lane))
        for p in (begin, end):
            b.vias.append(Via(float(p[0]), float(p[1]), rv, VIA_DRILL_MM * b.k / 2))
            b.grid.take(b.grid.rect_mask((p[0] - rv, p[1] - rv, p[0] + rv, p[1] + rv), b.clear))
    b.grid.take(m)


def _place_via(b: _Builder) -> None:
    rv = VIA_RING_MM * b.k / 2
    for _ in range(20):
        x, y = b.rng.uniform(60, b.size - 60, size=2)
        m = b.grid.rect_mask((x - rv, y - rv, x + rv, y + rv), b.clear)
        if b.grid.free(m):
            b.vias.append(Via(float(x), float(y), rv, VIA_DRILL_MM * b.k / 2,
                              tented=bool(b.rng.random() < 0.5)))
            b.grid.take(m)
            return


def _silk_outline(b: _Builder, comp: Component) -> None:
    bl, bw = comp.body
    g = 0.25 * b.k
    width = 0.15 * b.k
    if comp.kind in ("chip", "sod"):
        pad_w = footprints()[comp.package]["pad_mm"][1] * b.k
        inner = min(abs(r[0]) for r in comp.parts) * 0.9 if comp.kind == "sod" else bl / 2 - 0.5 * g
        y = max(pad_w, bw) / 2 + g
        lines = [np.array([[-inner, s * y], [inner, s * y]]) for s in (-1, 1)]
        if comp.kind == "sod":
            lines.append(np.array([[-inner, -y], [-inner, y]]))
    elif comp.kind == "gullwing":
        x, y = bl / 2 + g * 0.4, bw / 2 + g * 0.4
        c = min(bl, bw) * 0.18
        lines = [np.array([[sx * x, sy * (y - c)], [sx * x, sy * y], [sx * (x - c), sy * y]])
                 for sx in (-1, 1) for sy in (-1, 1)]
        lines.append(np.array([[-x - 2 * g, -y - g], [-x - 2 * g, -y + 2 * g]]))
    else:
        x = bl / 2 + g * 0.4
        lines = [np.array([[s * x, -bw / 2 + g], [s * x, bw / 2 - g]]) for s in (-1, 1)]
    for ln in lines:
        pts = to_global(comp, ln)
        if b.grid.inside(bbox(pts), 20):
            b.silk_lines.append((tuple(tuple(map(float, p)) for p in pts), width))


def _place_text(b: _Builder, text: str, near: Rect, height_mm: float) -> None:
    scale = height_mm * b.k / 22.0
    th = max(2, round(0.12 * b.k))
    (tw, tht), base = cv2.getTextSize(text, FONT, scale, th)
    x0, y0, x1, y1 = near
    gap = 0.3 * b.k
    cands = [((x0 + x1 - tw) / 2, y0 - gap - tht), ((x0 + x1 - tw) / 2, y1 + gap),
             (x1 + gap, (y0 + y1 - tht) / 2), (x0 - gap - tw, (y0 + y1 - tht) / 2)]
    for i in b.rng.permutation(len(cands)):
        tx, ty = cands[i]
        box = (tx, ty, tx + tw, ty + tht + base)
        m = b.solid.rect_mask(box, 2)
        if b.solid.inside(box, 24) and b.solid.free(m):
            b.solid.take(m)
            b.silk_texts.append(SilkText(text, (int(tx), int(ty + tht)), scale, th))
            return


def _silkscreen(b: _Builder) -> None:
    for comp in b.comps:
        _silk_outline(b, comp)
        fp_pads = [b.pads[i].box for i in comp.pads]
        ext = (min(p[0] for p in fp_pads), min(p[1] for p in fp_pads),
               max(p[2] for p in fp_pads), max(p[3] for p in fp_pads))
        _place_text(b, comp.ref, ext, 0.8)
    for label in ("PARK-TWIN", "AOI REV A"):
        x, y = b.rng.uniform(100, b.size - 300), b.rng.uniform(100, b.size - 100)
        _place_text(b, label, (x, y, x + 1, y + 1), 1.0)
