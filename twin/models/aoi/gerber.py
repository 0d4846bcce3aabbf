"""A real golden board: the KiCad example that ships with pygerber, rendered from its Gerbers.

The four front layers of ``pygerber/examples/simple_2layer-*.gbr`` (copper, solder mask,
silkscreen, paste; a 38 x 53 mm board) are rasterised with pygerber's own API
(``GerberFile.from_str(...).parse().render_raster(...)``) at 1.5 or 2 times the chosen resolution (25 µm/px by default),
placed by their Gerber bounding boxes on one grid, area-averaged down to coverage maps,
and composited like a board after stencil printing: green mask, lighter green where copper
runs under it, tin (HASL) pads in the mask openings, grey solder paste where the paste layer
prints, bare laminate where an opening has no copper, white silkscreen clipped at the
openings, drilled mounting holes, a dark conveyor around the board.

``sample`` injects the defect kinds that exist on a bare, printed board (the six copper
kinds, a paste bridge, a missing paste deposit) on the layer maps, with exact boxes, and
takes the picture with the same camera model as :mod:`twin.models.aoi.board`.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

import cv2
import numpy as np

from twin import data
from twin.core.rng import generator
from twin.models.aoi.board import DEFAULT_UM_PER_PX, Board, Defect, requested
from twin.models.aoi.defects import SIZE_UM
from twin.models.aoi.render import COLOURS, capture, map_box

LAYERS = ("F_Cu", "F_Mask", "F_Silkscreen", "F_Paste")
KINDS = ("open", "short", "mousebite", "spur", "pin_hole", "spurious_copper", "solder_bridge",
         "insufficient_solder")
UM_PER_PX = float(data.load("aoi/footprints")["gerber_um_per_px"])  # 1000 / 40 dots per mm
BORDER_PX = 40  # conveyor seen around the board
MOUNTING_DRILL_MM = 3.2  # KiCad MountingHole_3.2mm_M3 (the H1-H4 footprints)


@dataclass(frozen=True, eq=False)
class GerberLayers:
    """Coverage maps (uint8, 0-255) of the board's layers on one grid, and derived maps."""

    um_per_px: float
    copper: np.ndarray
    opening: np.ndarray  # solder-mask openings
    silk: np.ndarray
    paste: np.ndarray
    holes: np.ndarray  # drilled mounting holes
    board: np.ndarray  # the board itself (the rest is conveyor)
    thin: np.ndarray  # bool: trace pixels under the mask (copper thinner than ~0.5 mm)
    dist_cu: np.ndarray  # px to the nearest non-copper (inside copper)
    dist_bg: np.ndarray  # px to the nearest copper, opening or silk (outside them)
    labels: np.ndarray  # copper connected components


def example_path(layer: str) -> str:
    """The path of one example Gerber layer shipped with pygerber."""
    return str(resources.files("pygerber") / "examples" / f"simple_2layer-{layer}.gbr")


def _raster(layer: str, dpmm: int) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    from PIL import Image
    from pygerber.gerberx3.api.v2 import ColorScheme, GerberFile, ImageFormatEnum, PixelFormatEnum

    text = (resources.files("pygerber") / "examples" / f"simple_2layer-{layer}.gbr").read_text(
        encoding="utf-8")
    parsed = GerberFile.from_str(text).parse()
    info = parsed.get_info()
    buf = io.BytesIO()
    parsed.render_raster(buf, color_scheme=ColorScheme.DEFAULT_GRAYSCALE, dpmm=dpmm,
                         image_format=ImageFormatEnum.PNG, pixel_format=PixelFormatEnum.RGBA)
    alpha = np.asarray(Image.open(buf))[..., 3]
    return alpha, (float(info.min_x_mm), float(info.min_y_mm), float(info.max_x_mm),
                   float(info.max_y_mm))


@cache
def layers(um_per_px: float = UM_PER_PX) -> GerberLayers:
    """Render the example board's front layers at ``um_per_px`` (1000/um_per_px must be an integer)."""
    dpmm = round(1000.0 / um_per_px)
    if abs(dpmm * um_per_px - 1000.0) > 1e-6 or not 10 <= dpmm <= 100:
        raise ValueError(f"um_per_px: expected 1000/N for N in 10..100, got {um_per_px}")
    hi = 3 * dpmm // 2 if dpmm % 2 == 0 else 2 * dpmm  # supersampled, then area-averaged
    rasters = {name: _raster(name, hi) for name in LAYERS}
    x0 = min(b[0] for _, b in rasters.values())
    y1 = max(b[3] for _, b in rasters.values())
    x1 = max(b[2] for _, b in rasters.values())
    y0 = min(b[1] for _, b in rasters.values())
    w, h = math.ceil((x1 - x0) * hi) + 2, math.ceil((y1 - y0) * hi) + 2
    full = {}
    for name, (alpha, (bx0, _, _, by1)) in rasters.items():
        canvas = np.zeros((h, w), np.uint8)
        ox, oy = round((bx0 - x0) * hi), round((y1 - by1) * hi)
        ah, aw = alpha.shape
        canvas[oy:oy + ah, ox:ox + aw] = alpha[: h - oy, : w - ox]
        full[name] = canvas
    w1, h1 = round(w * dpmm / hi), round(h * dpmm / hi)
    size = (w1 + 2 * BORDER_PX, h1 + 2 * BORDER_PX)

    def down(m: np.ndarray) -> np.ndarray:
        small = cv2.resize(m, (w1, h1), interpolation=cv2.INTER_AREA)
        return cv2.copyMakeBorder(small, BORDER_PX, BORDER_PX, BORDER_PX, BORDER_PX,
                                  cv2.BORDER_CONSTANT, value=0)

    cu, op, silk, paste = (down(full[n]) for n in LAYERS)
    board = np.zeros((size[1], size[0]), np.uint8)
    board[BORDER_PX:-BORDER_PX, BORDER_PX:-BORDER_PX] = 255
    holes = _mounting_holes(op, dpmm)
    return _derive(um_per_px, cu, op, silk, paste, holes, board)


def _mounting_holes(opening: np.ndarray, dpmm: int) -> np.ndarray:
    """Drills at the centres of the large round mask openings (the M3 mounting holes)."""
    n, _, stats, cents = cv2.connectedComponentsWithStats((opening > 127).astype(np.uint8))
    holes = np.zeros_like(opening)
    r = MOUNTING_DRILL_MM / 2 * dpmm
    for i in range(1, n):
        w, h = stats[i, cv2.CC_STAT_WIDTH], stats[i, cv2.CC_STAT_HEIGHT]
        if min(w, h) > 4.0 * dpmm and abs(w - h) <= 2:
            cx, cy = cents[i]
            cv2.circle(holes, (round(cx * 16), round(cy * 16)), round(r * 16), 255, -1,
                       cv2.LINE_AA, 4)
    return holes


def _derive(um_per_px: float, cu: np.ndarray, op: np.ndarray, silk: np.ndarray,
            paste: np.ndarray, holes: np.ndarray, board: np.ndarray) -> GerberLayers:
    binary = (cu > 127).astype(np.uint8)
    k = max(3, round(500 / um_per_px) | 1)  # copper narrower than ~0.5 mm is trace
    wide = cv2.morphologyEx(binary, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    near_open = cv2.dilate((op > 60).astype(np.uint8), np.ones((7, 7), np.uint8))
    inner = cv2.erode((board > 0).astype(np.uint8), np.ones((2 * BORDER_PX + 1,) * 2, np.uint8))
    thin = (binary > 0) & (wide == 0) & (near_open == 0) & (inner > 0)
    dist_cu = cv2.distanceTransform(binary, cv2.DIST_L2, 5)
    stuff = (binary > 0) | (op > 60) | (silk > 60) | (holes > 60) | (board == 0)
    dist_bg = cv2.distanceTransform((~stuff).astype(np.uint8), cv2.DIST_L2, 5)
    _, labels = cv2.connectedComponents(binary)
    return GerberLayers(um_per_px, cu, op, silk, paste, holes, board, thin, dist_cu, dist_bg,
                        labels)


def composite(cu: np.ndarray, op: np.ndarray, silk: np.ndarray, paste: np.ndarray,
              holes: np.ndarray, board: np.ndarray, colours: dict | None = None) -> np.ndarray:
    """The board's colour picture (RGB uint8) from coverage maps of equal shape."""
    col = {k: np.asarray(v, np.float32) for k, v in (colours or COLOURS).items()}
    c, o, s, p, hl, b = (m.astype(np.float32)[..., None] / 255.0
                         for m in (cu, op, silk, paste, holes, board))
    under = col["mask"] + (col["mask_cu"] - col["mask"]) * c
    pad = col["hasl"] + (col["paste"] - col["hasl"]) * p
    opened = col["laminate"] + (pad - col["laminate"]) * c
    img = under + (opened - under) * o
    img += (col["silk"] - img) * (s * (1.0 - o))
    img += (col["drill"] - img) * hl
    img = np.asarray((40.0, 42.0, 44.0), np.float32) + (img - (40.0, 42.0, 44.0)) * b
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def _maps(g: GerberLayers) -> dict[str, np.ndarray]:
    return {"cu": g.copper, "op": g.opening, "silk": g.silk, "paste": g.paste,
            "holes": g.holes, "board": g.board}


def golden(um_per_px: float = UM_PER_PX) -> Board:
    """The golden picture of the pygerber example board."""
    g = layers(um_per_px)
    image, _, variation = capture(composite(**_maps(g)), None)
    zones = {"copper": g.copper > 127, "pads": g.opening > 127, "silk": g.silk > 127,
             "parts": np.zeros_like(g.copper, bool)}
    variation["source"] = "pygerber examples simple_2layer (KiCad 7), F_Cu/F_Mask/F_Silkscreen/F_Paste"
    return Board(image, (), variation, zones, g, um_per_px, None)


# --- defects on the layer maps -----------------------------------------------------------

@dataclass(frozen=True)
class _Edit:
    kind: str
    size_um: float
    layer: str  # which map the shape edits
    value: int  # 0 removes, 255 adds
    shape: np.ndarray  # polygon (N, 2) in px
    circle: tuple[float, float, float] | None = None


def _trace_point(g: GerberLayers, rng: np.random.Generator, margin: float
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float] | None:
    """A point on a trace's centre line, its direction, normal and half width."""
    ys, xs = np.nonzero(g.thin & (g.dist_cu >= 2.0))
    for _ in range(40):
        if len(xs) == 0:
            return None
        i = rng.integers(len(xs))
        c = np.array([xs[i], ys[i]], float)
        rad = int(max(6.0, 3.0 * g.dist_cu[ys[i], xs[i]]))  # a window three half-widths wide
        y0, y1, x0, x1 = int(c[1]) - rad, int(c[1]) + rad + 1, int(c[0]) - rad, int(c[0]) + rad + 1
        patch = g.thin[y0:y1, x0:x1] & (g.labels[y0:y1, x0:x1] == g.labels[int(c[1]), int(c[0])])
        py, px = np.nonzero(patch)
        if len(px) < 20:
            continue
        pts = np.column_stack([px + x0, py + y0]).astype(float)
        cov = np.cov((pts - pts.mean(axis=0)).T)
        evals, evecs = np.linalg.eigh(cov)
        if evals[1] < 4 * evals[0]:  # a corner or a blob, not a straight run
            continue
        u = evecs[:, 1]
        n = np.array([-u[1], u[0]])
        hw = float(g.dist_cu[int(c[1]), int(c[0])])
        # the whole neighbourhood must be trace (no pad, pour or via within the margin)
        yy0, yy1 = int(c[1] - margin - hw), int(c[1] + margin + hw) + 1
        xx0, xx1 = int(c[0] - margin - hw), int(c[0] + margin + hw) + 1
        cu = g.copper[yy0:yy1, xx0:xx1] > 127
        if np.any(cu & ~g.thin[yy0:yy1, xx0:xx1]):
            continue
        return c, u, n, hw
    return None


def _plan(g: GerberLayers, rng: np.random.Generator, kind: str, size_um: float | None
          ) -> list[_Edit] | None:
    if kind in SIZE_UM:  # the generator's pixel ranges, at this board's resolution
        lo, hi = (v * g.um_per_px / DEFAULT_UM_PER_PX for v in SIZE_UM[kind])
        size_um = float(size_um if size_um is not None else rng.uniform(lo, hi))
        s = size_um / g.um_per_px
    if kind in ("open", "mousebite", "spur", "short"):
        return _plan_trace(g, rng, kind, size_um, s)
    if kind == "pin_hole":
        ok = (g.copper > 127) & ~g.thin & (g.dist_cu >= s / 2 + 4) & (g.opening < 10)
        ys, xs = np.nonzero(ok)
        if len(xs) == 0:
            return None
        i = rng.integers(len(xs))
        return [_Edit(kind, size_um, "cu", 0, np.empty((0, 2)), (float(xs[i]), float(ys[i]), s / 2))]
    if kind == "spurious_copper":
        ys, xs = np.nonzero(g.dist_bg >= s / 2 + 6)
        if len(xs) == 0:
            return None
        i = rng.integers(len(xs))
        c = np.array([xs[i], ys[i]], float)
        ang = np.sort(rng.uniform(0, 2 * math.pi, 7))
        rad = s / 2 * rng.uniform(0.55, 1.0, 7)
        rad[0] = s / 2
        poly = c + np.column_stack([np.cos(ang) * rad, np.sin(ang) * rad])
        return [_Edit(kind, size_um, "cu", 255, cv2.convexHull(poly.astype(np.float32))[:, 0, :])]
    return _plan_paste(g, rng, kind)


def _plan_trace(g: GerberLayers, rng: np.random.Generator, kind: str, size_um: float, s: float
                ) -> list[_Edit] | None:
    for _ in range(10):
        hit = _trace_point(g, rng, s + 3)
        if hit is None:
            return None
        c, u, n, hw = hit
        if kind == "open":
            q = np.array([c - u * s / 2 - n * (hw + 2), c + u * s / 2 - n * (hw + 2),
                          c + u * s / 2 + n * (hw + 2), c - u * s / 2 + n * (hw + 2)])
            return [_Edit(kind, size_um, "cu", 0, q)]
        side = float(rng.choice((-1.0, 1.0)))
        n = n * side
        if kind == "mousebite":
            depth = rng.uniform(0.4, 0.7) * 2 * hw
            cc = c + n * (hw + s / 2 - min(depth, 0.9 * s))
            return [_Edit(kind, size_um, "cu", 0, np.empty((0, 2)), (*cc, s / 2))]
        # spur and short go out of the edge: look how far the free laminate reaches
        ray = [c + n * (hw + t) for t in range(1, 30)]
        free = 0
        for p in ray:
            x, y = int(round(p[0])), int(round(p[1]))
            if g.copper[y, x] > 60 or g.opening[y, x] > 60 or g.board[y, x] < 200:
                break
            free += 1
        if kind == "spur":
            if free < s + 3:
                continue
            tip = c + n * (hw + s)
            b = rng.uniform(2.0, 4.0)
            base = c + n * (hw - 1)
            q = np.array([base - u * b / 2, base + u * b / 2, tip + u * b / 4, tip - u * b / 4])
            return [_Edit(kind, size_um, "cu", 255, q)]
        end = c + n * (hw + free + 1.5)
        x, y = int(round(end[0])), int(round(end[1]))
        if free >= 25 or g.copper[y, x] < 128 or g.labels[y, x] == g.labels[int(c[1]), int(c[0])]:
            continue
        q = np.array([c - u * s / 2, c + u * s / 2, end + u * s / 2, end - u * s / 2])
        return [_Edit(kind, size_um, "cu", 255, q)]
    return None


def _plan_paste(g: GerberLayers, rng: np.random.Generator, kind: str) -> list[_Edit] | None:
    n, _, stats, _ = cv2.connectedComponentsWithStats((g.paste > 127).astype(np.uint8))
    boxes = [tuple(int(v) for v in stats[i, :4]) for i in range(1, n)]
    if kind == "insufficient_solder":
        x, y, w, h = boxes[rng.integers(len(boxes))]
        keep = rng.uniform(0.0, 0.35)  # what is left of the deposit, at the pad's inner end
        if w >= h:
            q = np.array([[x + keep * w, y - 1], [x + w + 1, y - 1], [x + w + 1, y + h + 1],
                          [x + keep * w, y + h + 1]], float)
        else:
            q = np.array([[x - 1, y + keep * h], [x + w + 1, y + keep * h], [x + w + 1, y + h + 1],
                          [x - 1, y + h + 1]], float)
        return [_Edit(kind, max(w, h) * g.um_per_px, "paste", 0, q)]
    pairs = []
    for i, (ax, ay, aw, ah) in enumerate(boxes):
        for bx, by, bw, bh in boxes[i + 1:]:
            ov_y = min(ay + ah, by + bh) - max(ay, by)
            gap_x = max(bx - (ax + aw), ax - (bx + bw))
            if ov_y >= 0.6 * min(ah, bh) and 2 <= gap_x <= 0.5 * 1000 / g.um_per_px:
                lo, hi = sorted(((ax, aw), (bx, bw)))
                pairs.append((lo[0] + lo[1], hi[0], max(ay, by), min(ay + ah, by + bh)))
            ov_x = min(ax + aw, bx + bw) - max(ax, bx)
            gap_y = max(by - (ay + ah), ay - (by + bh))
            if ov_x >= 0.6 * min(aw, bw) and 2 <= gap_y <= 0.5 * 1000 / g.um_per_px:
                lo, hi = sorted(((ay, ah), (by, bh)))
                pairs.append((-(lo[0] + lo[1]), hi[0], max(ax, bx), min(ax + aw, bx + bw)))
    if not pairs:
        return None
    a, b, lo, hi = pairs[rng.integers(len(pairs))]
    f0, f1 = sorted(rng.uniform(0.0, 1.0, 2))
    f1 = max(f1, f0 + 0.4)
    s0, s1 = lo + f0 * (hi - lo), lo + min(f1, 1.0) * (hi - lo)
    if a >= 0:  # pads side by side along x: the bridge spans x = a..b
        q = np.array([[a - 1, s0], [b + 1, s0], [b + 1, s1], [a - 1, s1]], float)
    else:
        q = np.array([[s0, -a - 1], [s1, -a - 1], [s1, b + 1], [s0, b + 1]], float)
    return [_Edit("solder_bridge", abs(b - abs(a)) * g.um_per_px, "paste", 255, q)]


def _apply(maps: dict[str, np.ndarray], edits: list[_Edit], origin: tuple[int, int] = (0, 0)
           ) -> dict[str, np.ndarray]:
    out = dict(maps)
    for e in edits:
        key = e.layer
        m = out[key] = out[key].copy() if out[key] is maps[key] else out[key]
        ox, oy = origin
        if e.circle is not None:
            cx, cy, r = e.circle
            cv2.circle(m, (round((cx - ox) * 16), round((cy - oy) * 16)), max(1, round(r * 16)),
                       e.value, -1, cv2.LINE_AA, 4)
        else:
            pts = np.round((e.shape - (ox, oy)) * 16).astype(np.int32)
            cv2.fillConvexPoly(m, pts, e.value, cv2.LINE_AA, 4)
        if key == "paste" and e.value:  # paste only sticks where copper is or between pads
            out["op"] = out["op"].copy() if out["op"] is maps["op"] else out["op"]
            cv2.fillConvexPoly(out["op"], pts, 255, cv2.LINE_AA, 4)
            out["cu"] = out["cu"].copy() if out["cu"] is maps["cu"] else out["cu"]
            cv2.fillConvexPoly(out["cu"], pts, 255, cv2.LINE_AA, 4)
    return out


def _region(e: _Edit) -> tuple[int, int, int, int]:
    if e.circle is not None:
        cx, cy, r = e.circle
        return int(cx - r) - 3, int(cy - r) - 3, int(cx + r) + 4, int(cy + r) + 4
    return (int(e.shape[:, 0].min()) - 3, int(e.shape[:, 1].min()) - 3,
            int(e.shape[:, 0].max()) + 4, int(e.shape[:, 1].max()) + 4)


def sample(golden_board: Board, seed: int, defects: Sequence[str | tuple[str, float]] | None = None,
           p_defect: float = 0.5) -> Board:
    """One printed board of the example design, with process variation and ``defects``."""
    g: GerberLayers = golden_board.layout
    rng = generator(seed, "aoi-gerber-defects")
    var = generator(seed, "aoi-gerber-board")
    reqs = requested(rng, defects, p_defect, KINDS)
    maps = _maps(g)
    mx, my = var.uniform(-0.5, 0.5, 2)
    maps["op"] = cv2.warpAffine(g.opening, np.float32([[1, 0, mx], [0, 1, my]]),
                                g.opening.shape[::-1])
    maps["silk"] = np.roll(g.silk, tuple(int(v) for v in var.integers(-1, 2, 2)), axis=(0, 1))
    colours = {k: tuple(int(np.clip(c + d, 0, 255)) for c, d in zip(v, var.normal(0, 2.5, 3), strict=True))
               for k, v in COLOURS.items()}
    planned: list[list[_Edit]] = []
    missing: list[str] = []
    for kind, size in reqs:
        for _ in range(6):
            edits = _plan(g, rng, kind, size)
            if edits and not any(_overlaps(_region(edits[0]), _region(p[0])) for p in planned) \
                    and not _under_silk(g, edits[0]):
                planned.append(edits)
                break
        else:
            missing.append(kind)
    final = _apply(maps, [e for p in planned for e in p])
    image, pose, variation = capture(composite(**final, colours=colours),
                                     generator(seed, "aoi-gerber-camera"))
    pad = math.ceil(2 * variation["blur_sigma_px"]) + 1
    found = []
    for edits in planned:
        box = _exact_box(maps, edits, colours)
        if box is None:
            missing.append(edits[0].kind)
            continue
        found.append(Defect(edits[0].kind, map_box(box, pose, pad, image.shape[:2]),
                            round(edits[0].size_um, 1)))
    variation.update(mask_shift_px=(float(mx), float(my)), not_placed=tuple(missing),
                     pose=pose.tolist())
    return Board(image, tuple(found), variation, None, g, g.um_per_px, seed)


def _under_silk(g: GerberLayers, e: _Edit, grow: int = 4) -> bool:
    """Whether a copper edit comes within ``grow`` px of the silkscreen (it would be hidden)."""
    if e.layer != "cu":
        return False
    x0, y0, x1, y1 = _region(e)
    return bool((g.silk[max(0, y0 - grow):y1 + grow, max(0, x0 - grow):x1 + grow] > 60).any())


def _overlaps(a: tuple, b: tuple, gap: int = 12) -> bool:
    return not (a[2] + gap < b[0] or b[2] + gap < a[0] or a[3] + gap < b[1] or b[3] + gap < a[1])


def _exact_box(maps: dict[str, np.ndarray], edits: list[_Edit], colours: dict
               ) -> tuple[int, int, int, int] | None:
    h, w = maps["cu"].shape
    x0, y0, x1, y1 = _region(edits[0])
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    sub = {k: v[y0:y1, x0:x1] for k, v in maps.items()}
    clean = composite(**sub, colours=colours)
    bad = composite(**_apply(sub, edits, (x0, y0)), colours=colours)
    ys, xs = np.nonzero(cv2.absdiff(clean, bad).max(axis=2) >= 10)
    if len(xs) == 0:
        return None
    return x0 + int(xs.min()), y0 + int(ys.min()), x0 + int(xs.max()), y0 + int(ys.max())
