"""Assembled boards from a second generator, written apart from :mod:`twin.models.aoi.board`.

    design(seed)                                  -> Design   one board design (no pixels)
    golden(design)                                -> Board    its reference picture
    sample(design, seed, defects=None, p_defect=0.5) -> Board  one produced board

It shares no drawing, layout or camera code with the first generator (only the land
patterns of ``twin/data/aoi/footprints.yaml``, which are facts): parts are placed at random
in quarter turns, largest first, a bus of parallel traces and fan-out stubs to vias form
the copper, and everything is filled without anti-aliasing on a 4x supersampled canvas,
then area-averaged. Its process variation is wider than the first generator's and drawn
per board (``Board.variation``), never a defect:

- silkscreen registration ± 1.5 px (sub-pixel), per board;
- placement ± 1.5 px in x and y and ± 1° per part;
- the bright solder fillet's length 25-50 % of the pad and its brightness, per pad;
- solder-mask registration ± 1 px; copper etch ± 0.5 px;
- the camera: shift ± 8 px, rotation ± 0.5°, blur σ 0.5-1.0 px, gain ± 12 %, a linear
  lighting gradient ± 8 %, white balance ± 3 %, noise σ 1-3 grey levels.

Defects (:data:`KINDS`; ``size_um``: the larger side of what they change) lie beyond those
tolerances: a shift of 35-60 % of the termination or lead width and at least 6 px (IPC-A-610
rejects a side overhang beyond 50 %, 25 % in class 3), a turn of 12-25° for chips and
diodes, 6-12° for leaded parts; a dewetted pad shows a matte skin and no fillet; copper
defects keep 32 px inside the frame and away from everything else. Each has the box of
the pixels it changes by ≥ 12 levels (the board drawn with and without it under the same
variation), mapped through the camera's pose and grown by its blur.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from twin import data
from twin.core.rng import generator
from twin.models.aoi.board import Board, Defect

S = 4  # supersampling of the canvas
SIZE_PX = 768
UM_PER_PX = 20.0
KINDS = ("missing", "shifted", "rotated", "polarity", "tombstone", "solder_bridge",
         "insufficient_solder", "open", "short", "spurious_copper")
PART_KINDS = KINDS[:7]
CHANGE_LEVEL = 12
MASKS = ((34, 92, 54), (22, 58, 104), (40, 74, 40))  # green, blue, dark green solder mask
FINISH = {"enig": (206, 172, 96), "hasl": (188, 188, 182)}
SILK = (232, 232, 222)
SOLDER = (160, 163, 168)
METAL = (186, 186, 180)
BODY = {"res": (34, 34, 36), "cap": (172, 138, 96), "ic": (30, 30, 33), "diode": (38, 38, 40)}
TOLERANCE = {"silk_px": 1.5, "place_px": 1.5, "place_deg": 1.0, "fillet": (0.25, 0.5),
             "mask_px": 1.0, "etch_px": 0.5}


@dataclass(frozen=True)
class Pad:
    """A land in part coordinates (mm -> px): centre, size, outward direction (toe)."""

    cx: float
    cy: float
    w: float
    h: float
    toe: tuple[int, int]


@dataclass(frozen=True)
class Part:
    """A placed part: footprint name, nominal centre (px) and angle (degrees, quarter turns)."""

    ref: str
    footprint: str
    x: float
    y: float
    angle: float


@dataclass(frozen=True)
class Design:
    """A board design: parts, copper, silkscreen and colours (design px)."""

    seed: int
    size: int
    mask: tuple[int, int, int]
    finish: str
    parts: tuple[Part, ...]
    bus: tuple[tuple[tuple[float, float], tuple[float, float], float], ...]  # (p, q, width)
    stubs: tuple[tuple[tuple[float, float], tuple[float, float], float], ...]
    vias: tuple[tuple[float, float], ...]
    texts: tuple[tuple[str, int, int], ...]  # ref designators: text, x, y (baseline)
    free: np.ndarray = field(repr=False, compare=False)  # bare mask, away from everything


# ----------------------------------------------------------------------------- footprints
def _footprints() -> dict[str, dict[str, Any]]:
    raw = data.load("aoi/footprints")
    px = 1000.0 / UM_PER_PX
    out = {}
    for name in ("chip_0402", "chip_0603", "chip_0805", "sod_123", "sot_23", "soic_8"):
        f = raw[name]
        bl, bw = (v * px for v in f["body_mm"])
        pw, ph = (v * px for v in f["pad_mm"])
        if f["kind"] in ("chip", "sod"):
            x = f["pad_x_mm"] * px
            pads = (Pad(-x, 0, pw, ph, (-1, 0)), Pad(x, 0, pw, ph, (1, 0)))
            body = "diode" if f["kind"] == "sod" else ("cap" if name == "chip_0805" else "res")
            out[name] = {"body": (bl, bw), "pads": pads, "term": f["term_mm"] * px,
                         "style": f["kind"], "colour": body}
        elif f["kind"] == "sot23":
            c, p = f["pad_c_mm"] * px, f["pitch_mm"] * px
            pads = (Pad(-p, c, pw, ph, (0, 1)), Pad(p, c, pw, ph, (0, 1)), Pad(0, -c, pw, ph, (0, -1)))
            out[name] = {"body": (bl, bw), "pads": pads, "lead": f["lead_w_mm"] * px,
                         "style": "leaded", "colour": "ic"}
        else:  # SOIC: pins along the body's long side (y), two rows at +-x
            bw, bl = bl, bw
            c, p, n = f["pad_c_mm"] * px, f["pitch_mm"] * px, f["pins_per_side"]
            ys = [(i - (n - 1) / 2) * p for i in range(n)]
            pads = tuple(Pad(-c, y, pw, ph, (-1, 0)) for y in ys) + \
                tuple(Pad(c, y, pw, ph, (1, 0)) for y in reversed(ys))
            out[name] = {"body": (bw, bl), "pads": pads, "lead": f["lead_w_mm"] * px,
                         "style": "leaded", "colour": "ic"}
    return out


FOOTPRINTS = _footprints()
POLARISED = ("sod_123", "sot_23", "soic_8")


def _rot(pts: np.ndarray, x: float, y: float, deg: float) -> np.ndarray:
    a = math.radians(deg)
    c, s = math.cos(a), math.sin(a)
    pts = np.asarray(pts, float)
    return np.column_stack([x + c * pts[:, 0] - s * pts[:, 1], y + s * pts[:, 0] + c * pts[:, 1]])


def _box(cx: float, cy: float, w: float, h: float) -> np.ndarray:
    return np.array([[cx - w / 2, cy - h / 2], [cx + w / 2, cy - h / 2],
                     [cx + w / 2, cy + h / 2], [cx - w / 2, cy + h / 2]])


def _extent(fp: dict[str, Any]) -> tuple[float, float]:
    """Half width and height of a footprint's pads and body (part frame)."""
    xs = [abs(p.cx) + p.w / 2 for p in fp["pads"]] + [fp["body"][0] / 2]
    ys = [abs(p.cy) + p.h / 2 for p in fp["pads"]] + [fp["body"][1] / 2]
    return max(xs), max(ys)


# ----------------------------------------------------------------------------- design
def design(seed: int, size: int = SIZE_PX) -> Design:
    """Design ``seed``: a bus, 8-18 parts with outlines and designators, stubs to vias."""
    rng = generator(seed, "aoi-assembled-design")
    occ = np.zeros((size, size), np.int32)  # 0 free, 1 bus, 2 stubs, 3 + i part i
    bus = _bus(rng, size, occ)
    parts, texts = _place(rng, size, occ)
    stubs = _stubs(rng, size, occ, parts)
    free = cv2.erode((occ == 0).astype(np.uint8), np.ones((25, 25), np.uint8)) > 0
    free[:32], free[-32:], free[:, :32], free[:, -32:] = False, False, False, False  # in view
    mask = MASKS[int(rng.integers(0, len(MASKS)))]
    finish = "enig" if rng.random() < 0.6 else "hasl"
    return Design(seed, size, mask, finish, tuple(parts), tuple(bus), tuple(stubs),
                  tuple((float(q[0]), float(q[1])) for _, q, _ in stubs), tuple(texts), free)


def _bus(rng: np.random.Generator, size: int, occ: np.ndarray) -> list:
    """3-5 parallel traces, horizontal or vertical."""
    bus = []
    n = int(rng.integers(3, 6))
    width, gap = float(rng.uniform(7, 11)), float(rng.uniform(9, 14))
    length = float(rng.uniform(0.45, 0.8) * size)
    x0 = float(rng.uniform(40, size - 40 - length))
    y0 = float(rng.uniform(40, size - 40 - n * (width + gap)))
    vertical = bool(rng.random() < 0.5)
    for i in range(n):
        y = y0 + i * (width + gap) + width / 2
        p, q = ((x0, y), (x0 + length, y))
        if vertical:
            p, q = (p[1], p[0]), (q[1], q[0])
        bus.append((p, q, width))
        _mark_line(occ, p, q, width + 2 * gap)
    return bus


def _place(rng: np.random.Generator, size: int, occ: np.ndarray
           ) -> tuple[list[Part], list[tuple[str, int, int]]]:
    """One or two SOICs and a random mix of smaller parts, largest first, 25 tries each."""
    parts: list[Part] = []
    texts = []
    weights = np.array([3, 3, 2, 1.5, 1.5, 1.0])
    wanted = [str(k) for k in rng.choice(list(FOOTPRINTS), size=28, p=weights / weights.sum())]
    wanted = ["soic_8"] * int(rng.integers(1, 3)) + wanted
    wanted.sort(key=lambda k: -np.prod(_extent(FOOTPRINTS[k])))
    counts: dict[str, int] = {}
    for fp_name in wanted:
        if len(parts) >= 18:
            break
        fp = FOOTPRINTS[fp_name]
        for _ in range(25):
            cx, cy = (float(v) for v in rng.uniform(0, size, 2))
            angle = float(rng.integers(0, 4) * 90)
            hx, hy = _extent(fp)
            if angle % 180:
                hx, hy = hy, hx
            x, y = round(cx), round(cy)
            m = 16  # outline, designator clearance
            box = (int(x - hx - m), int(y - hy - m - 34), int(x + hx + m), int(y + hy + m))
            if box[0] < 8 or box[1] < 8 or box[2] > size - 8 or box[3] > size - 8 \
                    or occ[box[1]:box[3], box[0]:box[2]].any():
                continue
            occ[box[1]:box[3], box[0]:box[2]] = 3 + len(parts)
            prefix = {"res": "R", "cap": "C", "diode": "D", "ic": "U"}[fp["colour"]]
            counts[prefix] = counts.get(prefix, 0) + 1
            parts.append(Part(f"{prefix}{counts[prefix]}", fp_name, x, y, angle))
            texts.append((parts[-1].ref, int(x - hx), int(y - hy - 14)))
            break
    return parts, texts


def _stubs(rng: np.random.Generator, size: int, occ: np.ndarray, parts: list[Part]) -> list:
    """Fan-out traces from about half the pads to a via, where the way is free."""
    stubs = []
    for i, part in enumerate(parts):
        for pad in FOOTPRINTS[part.footprint]["pads"]:
            if rng.random() < 0.45:
                continue
            c = _rot(np.array([[pad.cx, pad.cy]]), part.x, part.y, part.angle)[0]
            d = _rot(np.array([pad.toe], float), 0, 0, part.angle)[0]
            reach = float(rng.uniform(30, 60))
            start = c + d * (max(pad.w, pad.h) / 2 - 2)
            end = c + d * (max(pad.w, pad.h) / 2 + reach)
            w = float(rng.uniform(5, 8))
            probe = np.zeros((size, size), np.uint8)
            _mark_line(probe, tuple(start + d * 4), tuple(end + d * 12), w + 16)
            hit = occ[probe > 0]
            if not (12 < end[0] < size - 12 and 12 < end[1] < size - 12) or \
                    ((hit != 0) & (hit != 3 + i)).any():
                continue
            occ[probe > 0] = 2
            stubs.append((tuple(start), tuple(end), w))
    return stubs


def _mark_line(occ: np.ndarray, p: Sequence[float], q: Sequence[float], width: float) -> None:
    cv2.line(occ, (round(p[0]), round(p[1])), (round(q[0]), round(q[1])), 1,
             max(1, round(width)))


# ----------------------------------------------------------------------------- variation
@dataclass(frozen=True)
class Variation:
    """One board's process variation (design px, degrees)."""

    silk: tuple[float, float] = (0.0, 0.0)
    mask: tuple[float, float] = (0.0, 0.0)
    etch: float = 0.0
    place: tuple[tuple[float, float, float], ...] = ()  # per part: dx, dy, dtheta
    fillet: tuple[tuple[float, float], ...] = ()  # per pad (all parts in order): length share, brightness


def _pads(d: Design) -> list[tuple[int, int]]:
    return [(i, j) for i, p in enumerate(d.parts) for j in range(len(FOOTPRINTS[p.footprint]["pads"]))]


def nominal(d: Design) -> Variation:
    """The golden board: every tolerance at its centre."""
    return Variation(place=tuple((0.0, 0.0, 0.0) for _ in d.parts),
                     fillet=tuple((0.375, 222.0) for _ in _pads(d)))


def variation(d: Design, rng: np.random.Generator) -> Variation:
    """A board's variation, uniform within :data:`TOLERANCE`."""
    t = TOLERANCE
    n, m = len(d.parts), len(_pads(d))
    place = np.column_stack([rng.uniform(-t["place_px"], t["place_px"], (n, 2)),
                             rng.uniform(-t["place_deg"], t["place_deg"], n)])
    fillet = np.column_stack([rng.uniform(*t["fillet"], m), rng.uniform(200, 244, m)])
    return Variation(tuple(float(v) for v in rng.uniform(-t["silk_px"], t["silk_px"], 2)),
                     tuple(float(v) for v in rng.uniform(-t["mask_px"], t["mask_px"], 2)),
                     float(rng.uniform(-t["etch_px"], t["etch_px"])),
                     tuple(tuple(float(v) for v in r) for r in place),
                     tuple(tuple(float(v) for v in r) for r in fillet))


# ----------------------------------------------------------------------------- drawing
@dataclass(frozen=True)
class Change:
    """Defects to draw: per-part state, dry pads, copper cut/added, solder bridges."""

    parts: dict[int, tuple] = field(default_factory=dict)  # ("missing",) ("move", dx, dy, dth) ("tomb", end)
    dry: frozenset[tuple[int, int]] = frozenset()
    cut: tuple[np.ndarray, ...] = ()  # polygons, design px
    copper: tuple[np.ndarray, ...] = ()
    solder: tuple[np.ndarray, ...] = ()


class Canvas:
    """A supersampled canvas; polygons in design px."""

    def __init__(self, size: int, colour: tuple[int, int, int]) -> None:
        self.img = np.empty((size * S, size * S, 3), np.uint8)
        self.img[:] = colour

    def poly(self, pts: np.ndarray, colour: Sequence[int]) -> None:
        p = np.round((np.asarray(pts) * S + (S - 1) / 2) * 4).astype(np.int32)
        cv2.fillPoly(self.img, [p], tuple(int(c) for c in colour), cv2.LINE_8, 2)

    def disc(self, x: float, y: float, r: float, colour: Sequence[int]) -> None:
        c = (round((x * S + (S - 1) / 2) * 4), round((y * S + (S - 1) / 2) * 4))
        cv2.circle(self.img, c, max(1, round(r * S * 4)), tuple(int(v) for v in colour), -1,
                   cv2.LINE_8, 2)

    def line(self, p: Sequence[float], q: Sequence[float], w: float, colour: Sequence[int]) -> None:
        p, q = np.asarray(p, float), np.asarray(q, float)
        d = q - p
        nrm = np.array([-d[1], d[0]]) / max(float(np.hypot(*d)), 1e-9) * w / 2
        self.poly(np.array([p + nrm, q + nrm, q - nrm, p - nrm]), colour)
        self.disc(p[0], p[1], w / 2, colour)
        self.disc(q[0], q[1], w / 2, colour)

    def text(self, s: str, x: float, y: float, colour: Sequence[int]) -> None:
        cv2.putText(self.img, s, (round(x * S), round(y * S)), cv2.FONT_HERSHEY_PLAIN, 1.6 * S,
                    tuple(int(v) for v in colour), 2 * S, cv2.LINE_8)

    def result(self) -> np.ndarray:
        n = self.img.shape[0] // S
        return cv2.resize(self.img, (n, n), interpolation=cv2.INTER_AREA)


def draw(d: Design, v: Variation, ch: Change = Change()) -> np.ndarray:
    """The board in the design frame (RGB uint8), before the camera: copper under the mask,
    mask openings with finish and solder, silkscreen, parts."""
    cv = Canvas(d.size, d.mask)
    _copper(cv, d, v, ch)
    _lands(cv, d, v, ch)
    _silk(cv, d, v)
    for poly in ch.solder:
        cv.poly(poly, SOLDER)
    for i, part in enumerate(d.parts):
        state = ch.parts.get(i, ("",))
        dx, dy, dth = v.place[i]
        if state[0] == "move":
            dx, dy, dth = dx + state[1], dy + state[2], dth + state[3]
        if state[0] not in ("missing", "tomb"):
            _part(cv, part, part.x + dx, part.y + dy, part.angle + dth)
        elif state[0] == "tomb":  # standing on one end: from above, its end cap shows
            fp = FOOTPRINTS[part.footprint]
            bl, bw = fp["body"]
            sign = -1 if state[1] == 0 else 1
            cv.poly(_rot(_box(sign * (bl / 2 - fp["term"] / 2), 0, fp["term"] * 1.6, bw),
                         part.x + dx, part.y + dy, part.angle + dth), METAL)
    return cv.result()


def _copper(cv: Canvas, d: Design, v: Variation, ch: Change) -> None:
    cu = np.clip(np.asarray(d.mask, float) * 1.45 + (18, 14, 4), 0, 255)
    e = v.etch
    for p, q, w in d.bus + d.stubs:
        cv.line(p, q, w + 2 * e, cu)
    for x, y in d.vias:
        cv.disc(x, y, 9 + e, cu)
    for part in d.parts:
        for pad in FOOTPRINTS[part.footprint]["pads"]:
            cv.poly(_rot(_box(pad.cx, pad.cy, pad.w + 2 * e, pad.h + 2 * e), part.x, part.y,
                         part.angle), cu)
    for poly in ch.copper:
        cv.poly(poly, cu)
    for poly in ch.cut:
        cv.poly(poly, d.mask)


def _lands(cv: Canvas, d: Design, v: Variation, ch: Change) -> None:
    """Mask openings (registered on their own), plated finish, drills, reflowed solder."""
    finish = FINISH[d.finish]
    mx, my = v.mask
    e = v.etch
    for x, y in d.vias:  # mask opening ring, then the plated ring and the drill
        cv.disc(x + mx, y + my, 11, (150, 140, 100))
        cv.disc(x, y, 9 + e, finish)
        cv.disc(x, y, 4.5, (16, 16, 14))
    k = 0
    for i, part in enumerate(d.parts):
        state = ch.parts.get(i, ("",))
        for j, pad in enumerate(FOOTPRINTS[part.footprint]["pads"]):
            cv.poly(_rot(_box(pad.cx + mx, pad.cy + my, pad.w + 4, pad.h + 4), part.x, part.y,
                         part.angle), (150, 140, 100))
            cv.poly(_rot(_box(pad.cx, pad.cy, pad.w + 2 * e, pad.h + 2 * e), part.x, part.y,
                         part.angle), finish)
            _solder(cv, part, pad, v.fillet[k], state, (i, j) in ch.dry)
            k += 1


def _silk(cv: Canvas, d: Design, v: Variation) -> None:
    """Outlines beside each part, pin-1 / cathode dots, designators; shifted as one print."""
    sx, sy = v.silk
    for part in d.parts:
        fp = FOOTPRINTS[part.footprint]
        hx, hy = _extent(fp)
        bl = fp["body"][0]
        for a, b in (((-bl / 2 - 3, -hy - 6), (bl / 2 + 3, -hy - 6)),
                     ((-bl / 2 - 3, hy + 6), (bl / 2 + 3, hy + 6))):
            pa, pb = _rot(np.array([a, b]), part.x + sx, part.y + sy, part.angle)
            cv.line(pa, pb, 3.5, SILK)
        if part.footprint in POLARISED:
            m = _rot(np.array([[-hx - 8, -hy + 4]]), part.x + sx, part.y + sy, part.angle)[0]
            cv.disc(m[0], m[1], 4, SILK)
    for text, x, y in d.texts:
        cv.text(text, x + sx, y + sy, SILK)


def _solder(cv: Canvas, part: Part, pad: Pad, fillet: tuple[float, float], state: tuple,
            dry: bool) -> None:
    """Reflowed solder on a pad: grey, with a bright fillet at the toe of the length share."""
    def g(cx: float, cy: float, w: float, h: float) -> np.ndarray:
        return _rot(_box(cx, cy, w, h), part.x, part.y, part.angle)

    if dry:  # a thin matte (dewetted) skin, no fillet; the camera sees it beside the terminal
        tx, ty = pad.toe
        cv.poly(g(pad.cx + tx * pad.w * 0.1, pad.cy + ty * pad.h * 0.1,
                  pad.w * (0.8 if tx else 0.9), pad.h * (0.8 if ty else 0.9)), (118, 116, 110))
        return
    cv.poly(g(pad.cx, pad.cy, pad.w - 1, pad.h - 1), SOLDER)
    if state[0] in ("missing", "tomb"):  # reflowed without a part: a domed, shiny pad
        cv.disc(*_rot(np.array([[pad.cx, pad.cy]]), part.x, part.y, part.angle)[0],
                0.3 * min(pad.w, pad.h), (236, 236, 238))
        return
    share, bright = fillet
    tx, ty = pad.toe
    lw = pad.w * share if tx else pad.w - 2
    lh = pad.h * share if ty else pad.h - 2
    cx = pad.cx + tx * (pad.w - lw) / 2
    cy = pad.cy + ty * (pad.h - lh) / 2
    cv.poly(g(cx, cy, lw, lh), (bright, bright, bright + 2))


def _part(cv: Canvas, part: Part, x: float, y: float, angle: float) -> None:
    fp = FOOTPRINTS[part.footprint]
    bl, bw = fp["body"]
    body = BODY[fp["colour"]]

    def g(cx: float, cy: float, w: float, h: float) -> np.ndarray:
        return _rot(_box(cx, cy, w, h), x, y, angle)

    if fp["style"] in ("chip", "sod"):
        cv.poly(g(0, 0, bl, bw), body)
        t = fp["term"]
        if fp["style"] == "chip":
            for sign in (-1, 1):
                cv.poly(g(sign * (bl - t) / 2, 0, t, bw), METAL)
        else:  # diode: leads under the ends, a cathode band at -x
            for sign in (-1, 1):
                cv.poly(g(sign * (bl / 2 + 3), 0, 8, bw * 0.45), METAL)
            cv.poly(g(-bl / 2 + bl * 0.14, 0, bl * 0.12, bw), (150, 150, 146))
        return
    for pad in fp["pads"]:  # gull-wing leads from the body to the pad's centre
        tx, ty = pad.toe
        w = fp["lead"]
        if tx:
            x0 = tx * bl / 2
            cv.poly(g((x0 + pad.cx) / 2, pad.cy, abs(pad.cx - x0), w), METAL)
        else:
            y0 = ty * bw / 2
            cv.poly(g(pad.cx, (y0 + pad.cy) / 2, w, abs(pad.cy - y0)), METAL)
    cv.poly(g(0, 0, bl, bw), body)
    cv.disc(*_rot(np.array([[-bl / 2 + 12, -bw / 2 + 12]]), x, y, angle)[0], 5, (88, 88, 92))


# ----------------------------------------------------------------------------- camera
def camera(img: np.ndarray, rng: np.random.Generator | None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Photograph a design-frame picture: (image, 2x3 design-to-image affine, settings)."""
    n = img.shape[0]
    if rng is None:
        cam = {"dx_px": 0.0, "dy_px": 0.0, "rot_deg": 0.0, "blur_sigma_px": 0.7, "gain": 1.0,
               "gradient": (0.0, 0.0), "white_balance": (1.0, 1.0, 1.0), "noise_sigma": 0.0}
    else:
        cam = {"dx_px": float(rng.uniform(-8, 8)), "dy_px": float(rng.uniform(-8, 8)),
               "rot_deg": float(rng.uniform(-0.5, 0.5)), "blur_sigma_px": float(rng.uniform(0.5, 1.0)),
               "gain": float(rng.uniform(0.88, 1.12)),
               "gradient": tuple(float(v) for v in rng.uniform(-0.08, 0.08, 2)),
               "white_balance": tuple(float(v) for v in rng.uniform(0.97, 1.03, 3)),
               "noise_sigma": float(rng.uniform(1.0, 3.0))}
    m = cv2.getRotationMatrix2D(((n - 1) / 2, (n - 1) / 2), cam["rot_deg"], 1.0)
    m[:, 2] += (cam["dx_px"], cam["dy_px"])
    out = cv2.warpAffine(img, m, (n, n), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    out = cv2.GaussianBlur(out, (0, 0), cam["blur_sigma_px"]).astype(np.float32)
    ramp = np.linspace(-0.5, 0.5, n, dtype=np.float32)
    gx, gy = cam["gradient"]
    light = cam["gain"] * (1 + gx * ramp[None, :] + gy * ramp[:, None])
    out *= light[..., None] * np.asarray(cam["white_balance"], np.float32)
    if rng is not None:
        out += rng.normal(0.0, cam["noise_sigma"], out.shape).astype(np.float32)
    return np.clip(np.round(out), 0, 255).astype(np.uint8), m, cam


# ----------------------------------------------------------------------------- boards
def golden(d: Design | int) -> Board:
    """The golden picture of design ``d`` (a Design or its seed)."""
    d = design(d) if isinstance(d, int) else d
    img, _, cam = camera(draw(d, nominal(d)), None)
    return Board(img, (), {"camera": cam}, None, d, UM_PER_PX, d.seed)


def sample(d: Design | int, seed: int, defects: Sequence[str] | None = None,
           p_defect: float = 0.5) -> Board:
    """A produced board of design ``d``; ``defects=None``: good with probability 1 - p_defect,
    else one to three random kinds. ``sample(d, s, ())`` is the defect-free twin of
    ``sample(d, s, [...])`` (same variation and camera)."""
    d = design(d) if isinstance(d, int) else d
    rng = generator(seed, "aoi-assembled-defects")
    var = variation(d, generator(seed, "aoi-assembled-variation"))
    if defects is None:
        defects = [] if rng.random() >= p_defect else \
            [str(k) for k in rng.choice(KINDS, size=int(rng.choice((1, 2, 3), p=(0.6, 0.3, 0.1))))]
    bad = [k for k in defects if k not in KINDS]
    if bad:
        raise ValueError(f"unknown defect kind {bad[0]!r}; expected one of {', '.join(KINDS)}")
    plans, not_placed = _plan(d, var, rng, list(defects))
    change = _merge([c for _, c in plans])
    cam_seed = generator(seed, "aoi-assembled-camera")
    clean = draw(d, var)
    canvas = draw(d, var, change) if plans else clean
    img, m, cam = camera(canvas, cam_seed)
    pad = math.ceil(2 * cam["blur_sigma_px"]) + 1
    found = []
    for kind, c in plans:
        changed = cv2.absdiff(draw(d, var, c), clean).max(axis=2) >= CHANGE_LEVEL
        if len(plans) == 1:
            changed = cv2.absdiff(canvas, clean).max(axis=2) >= CHANGE_LEVEL
        ys, xs = np.nonzero(changed)
        if not len(xs):
            not_placed.append(kind)
            continue
        size = float(max(xs.max() - xs.min(), ys.max() - ys.min()) + 1) * UM_PER_PX
        found.append(Defect(kind, _map(xs, ys, m, pad, d.size), size))
    info = {"silk_shift_px": var.silk, "mask_shift_px": var.mask, "etch_px": var.etch,
            "placement_max_px": TOLERANCE["place_px"], "placement_max_deg": TOLERANCE["place_deg"],
            "fillet_share": TOLERANCE["fillet"], "camera": cam, "not_placed": tuple(not_placed)}
    return Board(img, tuple(found), info, None, d, UM_PER_PX, seed)


def _map(xs: np.ndarray, ys: np.ndarray, m: np.ndarray, pad: int, n: int
         ) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
    pts = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], float) @ m[:, :2].T + m[:, 2]
    return (max(0, math.floor(pts[:, 0].min()) - pad), max(0, math.floor(pts[:, 1].min()) - pad),
            min(n, math.ceil(pts[:, 0].max()) + pad), min(n, math.ceil(pts[:, 1].max()) + pad))


def _merge(changes: Sequence[Change]) -> Change:
    out = Change()
    for c in changes:
        out = Change({**out.parts, **c.parts}, out.dry | c.dry, out.cut + c.cut,
                     out.copper + c.copper, out.solder + c.solder)
    return out


def _plan(d: Design, v: Variation, rng: np.random.Generator, kinds: list[str]
          ) -> tuple[list[tuple[str, Change]], list[str]]:
    """One :class:`Change` per requested kind, on parts and copper not used by another."""
    used_parts: set[int] = set()
    used_bus: set[int] = set()
    taken = np.zeros((d.size, d.size), bool)
    plans, missing = [], []
    for kind in kinds:
        for _ in range(20):
            c = _one(d, rng, kind, used_parts, used_bus, taken)
            if c is not None:
                plans.append((kind, c))
                break
        else:
            missing.append(kind)
    return plans, missing


def _one(d: Design, rng: np.random.Generator, kind: str, used_parts: set[int],
         used_bus: set[int], taken: np.ndarray) -> Change | None:
    if kind in PART_KINDS:
        ok = [i for i, p in enumerate(d.parts) if i not in used_parts and _fits(kind, p)]
        if not ok:
            return None
        i = int(rng.choice(ok))
        fp = FOOTPRINTS[d.parts[i].footprint]
        c = _bridge(d, i, rng) if kind == "solder_bridge" else _part_change(kind, i, fp, rng)
        if c is not None:
            used_parts.add(i)
        return c
    if kind in ("open", "short"):
        free = [k for k in range(len(d.bus)) if k not in used_bus and k + 1 not in used_bus
                and (kind == "open" or k + 1 < len(d.bus))]
        if not free:
            return None
        k = int(rng.choice(free))
        (p, q, w) = d.bus[k]
        t = float(rng.uniform(0.15, 0.85))
        a = np.asarray(p) + t * (np.asarray(q) - np.asarray(p))
        along = (np.asarray(q) - np.asarray(p)) / np.hypot(*(np.asarray(q) - np.asarray(p)))
        across = np.array([-along[1], along[0]])
        if kind == "open":
            gap = float(rng.uniform(3, 8))
            poly = np.array([a - along * gap / 2 - across * (w / 2 + 2), a + along * gap / 2 - across * (w / 2 + 2),
                             a + along * gap / 2 + across * (w / 2 + 2), a - along * gap / 2 + across * (w / 2 + 2)])
            used_bus.add(k)
            return Change(cut=(poly,))
        p2 = np.asarray(d.bus[k + 1][0])
        span = float(np.dot(p2 - np.asarray(p), across))
        wid = float(rng.uniform(4, 9))
        poly = np.array([a - along * wid / 2, a + along * wid / 2,
                         a + along * wid / 2 + across * span, a - along * wid / 2 + across * span])
        used_bus.update((k, k + 1))
        return Change(copper=(poly,))
    # spurious copper: a blob on bare mask
    ys, xs = np.nonzero(d.free & ~taken)
    if not len(xs):
        return None
    j = int(rng.integers(0, len(xs)))
    r = float(rng.uniform(2.5, 7))
    x, y = float(xs[j]), float(ys[j])
    taken[max(0, int(y) - 40):int(y) + 40, max(0, int(x) - 40):int(x) + 40] = True
    ang = rng.uniform(0, 2 * math.pi, 7)
    ang.sort()
    rad = r * rng.uniform(0.6, 1.2, 7)
    return Change(copper=(np.column_stack([x + rad * np.cos(ang), y + rad * np.sin(ang)]),))


def _fits(kind: str, p: Part) -> bool:
    fp = FOOTPRINTS[p.footprint]
    if kind == "polarity":
        return p.footprint in POLARISED
    if kind == "tombstone":
        return fp["style"] == "chip"
    if kind == "solder_bridge":
        return p.footprint == "soic_8"
    return True


def _part_change(kind: str, i: int, fp: dict[str, Any], rng: np.random.Generator) -> Change | None:
    if kind == "missing":
        return Change(parts={i: ("missing",)})
    if kind == "shifted":  # 35-60 % of the termination or lead width (IPC-A-610 side overhang)
        width = fp["lead"] if fp["style"] == "leaded" else fp["body"][1] * (
            0.45 if fp["style"] == "sod" else 1.0)
        r = max(6.0, float(rng.uniform(0.35, 0.6)) * width)
        a = float(rng.uniform(0, 2 * math.pi))
        return Change(parts={i: ("move", r * math.cos(a), r * math.sin(a), 0.0)})
    if kind == "rotated":  # chips and diodes 12-25°, leaded parts 6-12°
        lo, hi = (6, 12) if fp["style"] == "leaded" else (12, 25)
        return Change(parts={i: ("move", 0.0, 0.0, float(rng.choice((-1, 1)) * rng.uniform(lo, hi)))})
    if kind == "polarity":
        return Change(parts={i: ("move", 0.0, 0.0, 180.0)})
    if kind == "tombstone":
        return Change(parts={i: ("tomb", int(rng.integers(0, 2)))})
    if kind == "insufficient_solder":
        return Change(dry=frozenset({(i, int(rng.integers(0, len(fp["pads"]))))}))
    return None


def _bridge(d: Design, i: int, rng: np.random.Generator) -> Change:
    """A solder bridge between two neighbouring leads of one row of an SOIC."""
    part = d.parts[i]
    pads = FOOTPRINTS[part.footprint]["pads"]
    n = len(pads) // 2
    j = int(rng.integers(0, n - 1)) + n * int(rng.integers(0, 2))
    a, b = pads[j], pads[j + 1]
    length = float(rng.uniform(0.3, 0.6)) * a.w
    x = a.cx + a.toe[0] * a.w * float(rng.uniform(-0.1, 0.25))
    poly = _box(x, (a.cy + b.cy) / 2, length, abs(a.cy - b.cy) + 4)
    return Change(solder=(_rot(poly, part.x, part.y, part.angle),))
