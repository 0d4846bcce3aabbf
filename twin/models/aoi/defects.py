"""Defects of bare boards and assemblies, planned on a layout as drawing operations.

Each planner picks a target on the :class:`~twin.models.aoi.layout.Layout` (a trace segment, a bus
pair, a pour, free laminate, a part, a pad pair) and returns a :class:`Planned` defect: its
kind, its characteristic size in µm (gap length, hole diameter, shift distance...), a rough
region in design px and the :class:`~twin.models.aoi.render.Ops` that draw it. The exact box is
found by the caller by drawing the region with and without the defect.

Sizes default to ranges that are rejects under IPC-A-600/IPC-A-610 class 2 (conductor width
reduced by more than 20 %, spacing reduced, side overhang over 50 % of the termination...)
and at least about three pixels at the default 20 µm/px.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from twin.models.aoi.layout import Component, Layout, Rect, bbox, rect_points, rotate, to_global
from twin.models.aoi.render import Ops

BARE = ("open", "short", "mousebite", "spur", "pin_hole", "spurious_copper")
ASSEMBLY = ("missing", "shifted", "rotated", "tombstone", "solder_bridge",
            "insufficient_solder", "polarity")
KINDS = BARE + ASSEMBLY

# default size ranges, µm (characteristic size of each kind; see the planners)
SIZE_UM = {"open": (60, 200), "short": (60, 160), "mousebite": (80, 200), "spur": (80, 140),
           "pin_hole": (60, 200), "spurious_copper": (80, 300)}
BORDER_PX = 48  # defects keep this far from the frame edge (the pose change moves ≤ ~40 px)


@dataclass(frozen=True)
class Planned:
    """A defect ready to draw: kind, size (µm), rough region (design px) and its ops."""

    kind: str
    size_um: float
    region: Rect
    ops: Ops
    target: tuple  # what it uses (("comp", i), ("seg", t, s)...), to keep defects apart


def _segments(layout: Layout, min_len: float) -> list[tuple[int, int, np.ndarray, np.ndarray, float]]:
    segs = []
    lim = layout.size_px - BORDER_PX
    for ti, t in enumerate(layout.traces):
        pts = np.asarray(t.points)
        for si in range(len(pts) - 1):
            p, q = pts[si], pts[si + 1]
            if np.hypot(*(q - p)) >= min_len and all(
                    BORDER_PX <= v <= lim for v in (*p, *q)):
                segs.append((ti, si, p, q, t.width))
    return segs


def _pick_on_segment(rng: np.random.Generator, p: np.ndarray, q: np.ndarray, margin: float
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = q - p
    length = float(np.hypot(*d))
    u = d / length
    s = rng.uniform(min(margin, length / 2), max(length - margin, length / 2))
    return p + u * s, u, np.array([-u[1], u[0]])


def _clear(layout: Layout, c: np.ndarray, margin: float) -> bool:
    """True when ``c`` is at least ``margin`` px from every pad, via ring and fiducial."""
    for pad in layout.pads:
        x0, y0, x1, y1 = pad.box
        if x0 - margin < c[0] < x1 + margin and y0 - margin < c[1] < y1 + margin:
            return False
    return all(math.hypot(v.cx - c[0], v.cy - c[1]) > max(v.r_ring, v.r_drill) + margin
               for v in layout.vias + layout.fiducials)


def _pick_trace(layout: Layout, rng: np.random.Generator, segs: list, margin: float
                ) -> tuple | None:
    """A segment and a point on it at least ``margin`` px from pads and vias."""
    for _ in range(30):
        if not segs:
            return None
        ti, si, p, q, w = segs[rng.integers(len(segs))]
        c, u, n = _pick_on_segment(rng, p, q, w + 6)
        if _clear(layout, c, margin + w / 2):
            return ti, si, w, c, u, n
    return None


def _quad(c: np.ndarray, u: np.ndarray, n: np.ndarray, half_u: float, half_n: float) -> np.ndarray:
    return np.array([c - u * half_u - n * half_n, c + u * half_u - n * half_n,
                     c + u * half_u + n * half_n, c - u * half_u + n * half_n])


def _shape_region(pts: np.ndarray, pad: float = 3.0) -> Rect:
    x0, y0, x1, y1 = bbox(pts)
    return (x0 - pad, y0 - pad, x1 + pad, y1 + pad)


def plan_open(layout: Layout, rng: np.random.Generator, size_um: float, keep: np.ndarray
              ) -> Planned | None:
    """A gap of ``size_um`` across a trace."""
    g = size_um / layout.um_per_px
    pick = _pick_trace(layout, rng, _segments(layout, 30), g / 2 + 8)
    if pick is None:
        return None
    ti, si, w, c, u, n = pick
    poly = _quad(c, u, n, g / 2, w / 2 + 2.5)
    return Planned("open", size_um, _shape_region(poly), Ops(cu_cut=(("poly", poly),)),
                   ("seg", ti, si))


def plan_mousebite(layout: Layout, rng: np.random.Generator, size_um: float, keep: np.ndarray
                   ) -> Planned | None:
    """One or two bites of diameter ``size_um`` into a trace edge, 35-60 % of its width deep."""
    r = size_um / layout.um_per_px / 2
    pick = _pick_trace(layout, rng, [s for s in _segments(layout, 30) if s[4] >= 6], 2 * r + 8)
    if pick is None:
        return None
    ti, si, w, c, u, n = pick
    depth = rng.uniform(0.35, 0.6) * w
    side = rng.choice((-1.0, 1.0))
    centre = c + n * side * (w / 2 + r - min(depth, 2 * r * 0.9))
    shapes = [("circle", *centre, r)]
    if rng.random() < 0.4:
        c2 = centre + u * r * 1.3
        shapes.append(("circle", *c2, r * 0.8))
    pts = np.array([[s[1] - s[3], s[2] - s[3]] for s in shapes] + [[s[1] + s[3], s[2] + s[3]] for s in shapes])
    return Planned("mousebite", size_um, _shape_region(pts), Ops(cu_cut=tuple(shapes)),
                   ("seg", ti, si))


def plan_spur(layout: Layout, rng: np.random.Generator, size_um: float, keep: np.ndarray
              ) -> Planned | None:
    """A copper protrusion ``size_um`` long out of a trace edge, clear of other copper."""
    segs = _segments(layout, 30)
    length = size_um / layout.um_per_px
    for _ in range(20):
        pick = _pick_trace(layout, rng, segs, length + 8)
        if pick is None:
            return None
        ti, si, w, c, u, n = pick
        n = n * rng.choice((-1.0, 1.0))
        tip = c + n * (w / 2 + length)
        if not _copper_free(keep, tip + n * 3, 2.5):
            continue
        b = rng.uniform(3.0, 6.0)
        base = c + n * (w / 2 - 1.0)
        poly = np.array([base - u * b / 2, base + u * b / 2, tip + u * b / 4, tip - u * b / 4])
        return Planned("spur", size_um, _shape_region(poly), Ops(cu_add=(("poly", poly),)),
                       ("seg", ti, si))
    return None


def plan_short(layout: Layout, rng: np.random.Generator, size_um: float, keep: np.ndarray
               ) -> Planned | None:
    """A copper bridge ``size_um`` wide between two neighbouring lanes of a bus."""
    lanes = [(ti, t) for ti, t in enumerate(layout.traces) if t.bus >= 0]
    pairs = [(a, b) for a in lanes for b in lanes
             if a[1].bus == b[1].bus and b[1].lane == a[1].lane + 1]
    if not pairs:
        return None
    (ta, a), (_, b) = pairs[rng.integers(len(pairs))]
    pa, pb = np.asarray(a.points), np.asarray(b.points)
    si = int(rng.integers(1, len(pa) - 2))  # the parallel part, not the staggered via ends
    t = rng.uniform(0.2, 0.8)
    ca = pa[si] + t * (pa[si + 1] - pa[si])
    cb = pb[si] + t * (pb[si + 1] - pb[si])
    if not all(BORDER_PX <= v <= layout.size_px - BORDER_PX for v in (*ca, *cb)):
        return None
    d = cb - ca
    n = d / np.hypot(*d)
    u = np.array([-n[1], n[0]])
    wb = size_um / layout.um_per_px
    poly = np.array([ca - u * wb / 2, ca + u * wb / 2, cb + u * wb / 2, cb - u * wb / 2])
    return Planned("short", size_um, _shape_region(poly), Ops(cu_add=(("poly", poly),)),
                   ("seg", ta, si))


def plan_pin_hole(layout: Layout, rng: np.random.Generator, size_um: float, keep: np.ndarray
                  ) -> Planned | None:
    """A round hole of diameter ``size_um`` in a copper pour (or, failing one, a wide trace)."""
    r = size_um / layout.um_per_px / 2
    for _ in range(30):
        if not layout.pours:
            break
        pour = layout.pours[rng.integers(len(layout.pours))]
        x0, y0, x1, y1 = pour.box
        m = pour.chamfer + r + 4
        if x1 - x0 <= 2 * m or y1 - y0 <= 2 * m:
            continue
        c = np.array([rng.uniform(x0 + m, x1 - m), rng.uniform(y0 + m, y1 - m)])
        if all(np.hypot(v.cx - c[0], v.cy - c[1]) > v.r_ring + r + 3 for v in layout.vias):
            return Planned("pin_hole", size_um, _shape_region(np.array([c - r, c + r])),
                           Ops(cu_cut=(("circle", *c, r),)), ("pour", tuple(c.round())))
    pick = _pick_trace(layout, rng, [s for s in _segments(layout, 30) if s[4] >= 2 * r + 3], r + 8)
    if pick is None:
        return None
    ti, si, w, c, _, _ = pick
    return Planned("pin_hole", size_um, _shape_region(np.array([c - r, c + r])),
                   Ops(cu_cut=(("circle", *c, r),)), ("seg", ti, si))


def plan_spurious_copper(layout: Layout, rng: np.random.Generator, size_um: float,
                         keep: np.ndarray) -> Planned | None:
    """An isolated copper splash of about ``size_um`` on bare laminate."""
    half = size_um / layout.um_per_px / 2
    for _ in range(40):
        c = rng.uniform(BORDER_PX + half, layout.size_px - BORDER_PX - half, size=2)
        if not _copper_free(keep, c, half + 6):
            continue
        ang = np.sort(rng.uniform(0, 2 * math.pi, 7))
        rad = half * rng.uniform(0.55, 1.0, 7)
        rad[0] = half
        poly = c + np.column_stack([np.cos(ang) * rad, np.sin(ang) * rad])
        hull = cv2.convexHull(poly.astype(np.float32))[:, 0, :].astype(float)
        return Planned("spurious_copper", size_um, _shape_region(hull),
                       Ops(cu_add=(("poly", hull),)), ("free", tuple(c.round())))
    return None


def _copper_free(keep: np.ndarray, c: np.ndarray, r: float) -> bool:
    h, w = keep.shape
    x0, y0 = int(c[0] - r), int(c[1] - r)
    x1, y1 = int(math.ceil(c[0] + r)) + 1, int(math.ceil(c[1] + r)) + 1
    if x0 < 0 or y0 < 0 or x1 > w or y1 > h:
        return False
    return not keep[y0:y1, x0:x1].any()


def keepout(layout: Layout) -> np.ndarray:
    """Where copper, pads and parts are (bool, design px): free laminate is False."""
    from twin.models.aoi.render import Painter

    m = np.zeros((layout.size_px, layout.size_px, 3), np.uint8)
    pt = Painter(m)
    white = (255, 255, 255)
    for p in layout.pours:
        pt.rect(p.box, white)
    for t in layout.traces:
        pt.track(np.asarray(t.points), t.width, white)
    for p in layout.pads:
        pt.rect(p.box, white, 2)
    for v in layout.vias + layout.fiducials:
        pt.circle(v.cx, v.cy, max(v.r_ring, v.r_drill), white)
    for c in layout.components:
        pt.poly(_outline(c), white)
    return m[..., 0] > 0


def _outline(comp: Component, dx: float = 0.0, dy: float = 0.0, dth: float = 0.0) -> np.ndarray:
    pts = np.vstack([rect_points((-comp.body[0] / 2, -comp.body[1] / 2, comp.body[0] / 2,
                                  comp.body[1] / 2))] + [rect_points(r) for r in comp.parts])
    g = to_global(comp, pts, dx, dy, dth)
    return cv2.convexHull(g.astype(np.float32))[:, 0, :].astype(float)


def _comp_region(layout: Layout, comp: Component, *extra: np.ndarray) -> Rect:
    pads = [rect_points(layout.pads[i].box) for i in comp.pads]
    return _shape_region(np.vstack([_outline(comp), *pads, *extra]), 4.0)


def _inside(layout: Layout, r: Rect) -> bool:
    lim = layout.size_px - BORDER_PX
    return r[0] >= BORDER_PX and r[1] >= BORDER_PX and r[2] <= lim and r[3] <= lim


def plan_component(layout: Layout, rng: np.random.Generator, kind: str, keep: np.ndarray
                   ) -> Planned | None:
    """missing, shifted, rotated, tombstone or polarity on a suitable part."""
    ok = {"missing": ("chip", "sod", "sot23", "gullwing"), "shifted": ("chip", "sod", "sot23", "gullwing"),
          "rotated": ("chip", "sod", "sot23", "gullwing"), "tombstone": ("chip",),
          "polarity": ("sod", "gullwing")}[kind]
    cands = [i for i, c in enumerate(layout.components)
             if c.kind in ok and _inside(layout, _comp_region(layout, c))]
    if not cands:
        return None
    i = int(cands[rng.integers(len(cands))])
    comp = layout.components[i]
    bl, bw = comp.body
    if kind == "shifted":
        lead = comp.parts[0]
        ref = bw if comp.kind in ("chip", "sod") else min(lead[2] - lead[0], lead[3] - lead[1])
        dist = max(5.0, rng.uniform(0.5, 0.9) * ref)
        d = rotate(np.array([[1.0, 0.0]]), float(rng.choice((0, 90, 180, 270))))[0] * dist
        op, size_px = ("shift", float(d[0]), float(d[1])), dist
        extra = [_outline(comp, d[0], d[1])]
    elif kind == "rotated":
        deg = float(rng.uniform(15, 30) if comp.kind in ("chip", "sod") else rng.uniform(5, 10))
        deg *= rng.choice((-1, 1))
        op, size_px = ("rotate", deg), math.hypot(bl, bw) / 2 * math.radians(abs(deg))
        extra = [_outline(comp, 0, 0, deg)]
    elif kind == "tombstone":
        op, size_px, extra = ("tombstone", int(rng.integers(0, 2))), bl, []
    else:
        op, size_px, extra = (kind,), bl, []
    region = _comp_region(layout, comp, *extra)
    return Planned(kind, size_px * layout.um_per_px, region, Ops(comp={i: op}), ("comp", i))


def plan_solder_bridge(layout: Layout, rng: np.random.Generator, keep: np.ndarray
                       ) -> Planned | None:
    """Solder joining two neighbouring leads of a gull-wing part across their gap."""
    pairs = []
    for ci, c in enumerate(layout.components):
        if c.kind != "gullwing" or not _inside(layout, _comp_region(layout, c)):
            continue
        for a, b in zip(c.pads[:-1], c.pads[1:], strict=True):
            if layout.pads[a].toe == layout.pads[b].toe:
                pairs.append((ci, a, b))
    if not pairs:
        return None
    ci, a, b = pairs[rng.integers(len(pairs))]
    pa, pb = layout.pads[a], layout.pads[b]
    tx, ty = pa.toe
    frac0, frac1 = sorted(rng.uniform(0.1, 0.95, 2))
    frac1 = max(frac1, frac0 + 0.3)
    if tx:  # pads side by side along y
        x0, x1 = pa.box[0], pa.box[2]
        length = x1 - x0
        lo, hi = (x0 + frac0 * length, x0 + frac1 * length) if tx > 0 else (
            x1 - frac1 * length, x1 - frac0 * length)
        y0, y1 = sorted((min(pa.box[3], pb.box[3]), max(pa.box[1], pb.box[1])))
        box, gap = (lo, y0 - 2, hi, y1 + 2), y1 - y0
    else:
        y0, y1 = pa.box[1], pa.box[3]
        length = y1 - y0
        lo, hi = (y0 + frac0 * length, y0 + frac1 * length) if ty > 0 else (
            y1 - frac1 * length, y1 - frac0 * length)
        x0, x1 = sorted((min(pa.box[2], pb.box[2]), max(pa.box[0], pb.box[0])))
        box, gap = (x0 - 2, lo, x1 + 2, hi), x1 - x0
    poly = rect_points(box)
    return Planned("solder_bridge", gap * layout.um_per_px, _shape_region(poly),
                   Ops(solder_add=(("poly", poly),)), ("comp", ci))


def plan_insufficient(layout: Layout, rng: np.random.Generator, keep: np.ndarray
                      ) -> Planned | None:
    """A joint without its fillet: the pad's finish shows where the solder should be."""
    cands = [i for i, p in enumerate(layout.pads) if p.comp >= 0 and _inside(layout, p.box)]
    if not cands:
        return None
    i = int(cands[rng.integers(len(cands))])
    pad = layout.pads[i]
    size = max(pad.box[2] - pad.box[0], pad.box[3] - pad.box[1])
    return Planned("insufficient_solder", size * layout.um_per_px,
                   _shape_region(rect_points(pad.box)), Ops(dry_pads=frozenset({i})),
                   ("comp", pad.comp))


def plan(layout: Layout, rng: np.random.Generator, kind: str, keep: np.ndarray,
         size_um: float | None = None) -> Planned | None:
    """Plan one defect of ``kind`` (``size_um`` only for the bare-board kinds)."""
    if kind in SIZE_UM:
        lo, hi = SIZE_UM[kind]
        size = float(size_um if size_um is not None else rng.uniform(lo, hi))
        return {"open": plan_open, "short": plan_short, "mousebite": plan_mousebite,
                "spur": plan_spur, "pin_hole": plan_pin_hole,
                "spurious_copper": plan_spurious_copper}[kind](layout, rng, size, keep)
    if kind == "solder_bridge":
        return plan_solder_bridge(layout, rng, keep)
    if kind == "insufficient_solder":
        return plan_insufficient(layout, rng, keep)
    if kind in ASSEMBLY:
        return plan_component(layout, rng, kind, keep)
    raise ValueError(f"unknown defect kind {kind!r}; expected one of {', '.join(KINDS)}")


def merge(ops: list[Ops]) -> Ops:
    """All defects' operations as one."""
    comp: dict[int, tuple] = {}
    for o in ops:
        comp.update(o.comp)
    return Ops(cu_cut=tuple(s for o in ops for s in o.cu_cut),
               cu_add=tuple(s for o in ops for s in o.cu_add), comp=comp,
               dry_pads=frozenset().union(*(o.dry_pads for o in ops)),
               solder_add=tuple(s for o in ops for s in o.solder_add))
