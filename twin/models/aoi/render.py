"""Draw a :class:`~twin.models.aoi.layout.Layout` as a colour board image, and take its picture.

:func:`render` paints the layers in manufacturing order (solder mask over laminate, copper
under the mask, mask openings with the surface finish, drills, silkscreen, reflowed solder,
parts) with anti-aliased OpenCV drawing at 1/16 px precision, in the design frame. Process
variation of the board itself (etch, registration, placement, fillets, colours) enters as a
:class:`Jitter`; defects enter as :class:`Ops`. :func:`capture` then applies what the camera
adds: a small shift, rotation and scale, blur, a lighting gradient and gain, noise.

Images are RGB ``uint8``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import cv2
import numpy as np

from twin.models.aoi.layout import (
    MASK_EXPANSION_MM,
    Component,
    Layout,
    Rect,
    rect_points,
    to_global,
)

SHIFT = 4  # fractional bits of OpenCV drawing coordinates
ONE = 1 << SHIFT

COLOURS: Mapping[str, tuple[int, int, int]] = MappingProxyType({
    "mask": (28, 96, 52), "mask_cu": (74, 150, 72), "laminate": (176, 164, 118),
    "enig": (214, 178, 98), "hasl": (196, 196, 192), "solder": (168, 171, 176),
    "solder_hi": (224, 226, 230), "silk": (236, 236, 228), "drill": (18, 18, 16),
    "tent": (20, 64, 36), "body_black": (30, 30, 33), "body_tan": (168, 132, 88),
    "metal": (182, 182, 176), "mark": (92, 92, 96), "band": (196, 196, 190),
    "copper": (196, 118, 72), "paste": (150, 152, 150),
})

Shape = tuple  # ("poly", (N, 2) points) | ("circle", cx, cy, r)


@dataclass(frozen=True)
class Jitter:
    """Normal process variation of one board, in design px and degrees."""

    etch_px: float = 0.0  # copper edges grow (+) or shrink (-) by this much per side
    mask_shift: tuple[float, float] = (0.0, 0.0)  # solder-mask registration
    silk_shift: tuple[int, int] = (0, 0)  # silkscreen registration (whole px)
    comp: tuple[tuple[float, float, float], ...] = ()  # per part: dx, dy, dtheta
    fillet: tuple[float, ...] = ()  # per pad: share of the pad the bright fillet covers
    colours: Mapping[str, tuple[int, int, int]] = field(default_factory=lambda: COLOURS)


@dataclass(frozen=True)
class Ops:
    """Defect operations applied while drawing (design px)."""

    cu_cut: tuple[Shape, ...] = ()  # copper removed (painted as bare mask)
    cu_add: tuple[Shape, ...] = ()  # copper added under the mask
    comp: Mapping[int, tuple[Any, ...]] = field(default_factory=dict)  # part -> (op, args...)
    dry_pads: frozenset[int] = frozenset()  # pads without a solder fillet
    solder_add: tuple[Shape, ...] = ()  # extra solder over everything but the parts' bodies


NO_OPS = Ops()


def random_jitter(layout: Layout, rng: np.random.Generator) -> Jitter:
    """Draw one board's process variation (within the process's tolerances)."""
    n_c, n_p = len(layout.components), len(layout.pads)
    comp = np.column_stack([rng.uniform(-0.6, 0.6, n_c), rng.uniform(-0.6, 0.6, n_c),
                            rng.uniform(-0.25, 0.25, n_c)])
    lot = rng.normal(0.0, 4.0, 3)
    colours = {}
    for name, rgb in COLOURS.items():
        c = np.asarray(rgb, float) + rng.normal(0.0, 2.5, 3)
        if name in ("mask", "mask_cu", "tent"):
            c += lot
        colours[name] = tuple(int(v) for v in np.clip(np.round(c), 0, 255))
    return Jitter(etch_px=float(rng.uniform(-0.4, 0.4)),
                  mask_shift=tuple(float(v) for v in rng.uniform(-0.7, 0.7, 2)),
                  silk_shift=tuple(int(v) for v in rng.integers(-1, 2, 2)),
                  comp=tuple(tuple(float(v) for v in row) for row in comp),
                  fillet=tuple(float(v) for v in rng.uniform(0.33, 0.39, n_p)),
                  colours=MappingProxyType(colours))


class Painter:
    """Anti-aliased drawing in design px on a canvas that may be a window of the frame."""

    def __init__(self, canvas: np.ndarray, origin: tuple[int, int] = (0, 0)) -> None:
        self.img = canvas
        self.ox, self.oy = origin

    def _p(self, pts: np.ndarray) -> np.ndarray:
        return np.round((np.asarray(pts, float) - (self.ox, self.oy)) * ONE).astype(np.int32)

    def poly(self, pts: np.ndarray, col: tuple[int, int, int]) -> None:
        cv2.fillConvexPoly(self.img, self._p(pts), col, cv2.LINE_AA, SHIFT)

    def rect(self, r: Rect, col: tuple[int, int, int], grow: float = 0.0) -> None:
        self.poly(rect_points((r[0] - grow, r[1] - grow, r[2] + grow, r[3] + grow)), col)

    def circle(self, cx: float, cy: float, r: float, col: tuple[int, int, int]) -> None:
        c = self._p(np.array([[cx, cy]]))[0]
        cv2.circle(self.img, (int(c[0]), int(c[1])), max(1, round(r * ONE)), col, -1,
                   cv2.LINE_AA, SHIFT)

    def track(self, pts: np.ndarray, w: float, col: tuple[int, int, int]) -> None:
        pts = np.asarray(pts, float)
        for p, q in zip(pts[:-1], pts[1:], strict=True):
            d = q - p
            n = np.array([-d[1], d[0]]) / max(np.hypot(*d), 1e-9) * (w / 2)
            self.poly(np.array([p + n, q + n, q - n, p - n]), col)
        for p in pts:
            self.circle(p[0], p[1], w / 2, col)

    def shape(self, s: Shape, col: tuple[int, int, int]) -> None:
        if s[0] == "poly":
            self.poly(s[1], col)
        else:
            self.circle(s[1], s[2], s[3], col)

    def text(self, text: str, org: tuple[int, int], scale: float, th: int,
             col: tuple[int, int, int]) -> None:
        cv2.putText(self.img, text, (org[0] - self.ox, org[1] - self.oy), cv2.FONT_HERSHEY_SIMPLEX,
                    scale, col, th, cv2.LINE_AA)


def render(layout: Layout, jitter: Jitter = Jitter(), ops: Ops = NO_OPS,
           roi: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Paint the board (design frame); ``roi`` (x0, y0, x1, y1) paints only that window."""
    x0, y0, x1, y1 = roi or (0, 0, layout.size_px, layout.size_px)
    col = jitter.colours
    canvas = np.empty((y1 - y0, x1 - x0, 3), np.uint8)
    canvas[:] = col["mask"]
    pt = Painter(canvas, (x0, y0))
    _copper(pt, layout, jitter, ops)
    _openings(pt, layout, jitter)
    for s in layout.silk_lines:
        pt.track(np.asarray(s[0]) + jitter.silk_shift, s[1], col["silk"])
    for t in layout.silk_texts:
        org = (t.org[0] + jitter.silk_shift[0], t.org[1] + jitter.silk_shift[1])
        pt.text(t.text, org, t.scale, t.thickness, col["silk"])
    _solder(pt, layout, jitter, ops)
    for i, comp in enumerate(layout.components):
        dx, dy, dth = jitter.comp[i] if jitter.comp else (0.0, 0.0, 0.0)
        _component(pt, comp, dx, dy, dth, ops.comp.get(i), col)
    for s in ops.solder_add:
        pt.shape(s, col["solder"])
    return canvas


def _copper(pt: Painter, layout: Layout, j: Jitter, ops: Ops) -> None:
    cu, e = j.colours["mask_cu"], j.etch_px
    for p in layout.pours:
        x0, y0, x1, y1 = p.box[0] - e, p.box[1] - e, p.box[2] + e, p.box[3] + e
        c = p.chamfer
        pt.poly(np.array([[x0 + c, y0], [x1 - c, y0], [x1, y0 + c], [x1, y1 - c], [x1 - c, y1],
                          [x0 + c, y1], [x0, y1 - c], [x0, y0 + c]]), cu)
    for t in layout.traces:
        pt.track(np.asarray(t.points), t.width + 2 * e, cu)
    for pad in layout.pads:
        pt.rect(pad.box, cu, e)
    for v in layout.vias:
        pt.circle(v.cx, v.cy, v.r_ring + e, cu)
    for s in ops.cu_add:
        pt.shape(s, cu)
    for s in ops.cu_cut:
        pt.shape(s, j.colours["mask"])


def _openings(pt: Painter, layout: Layout, j: Jitter) -> None:
    col = j.colours
    finish = col[layout.finish]
    grow = MASK_EXPANSION_MM * layout.px_per_mm
    mx, my = j.mask_shift
    for pad in layout.pads:
        x0, y0, x1, y1 = pad.box
        pt.rect((x0 + mx, y0 + my, x1 + mx, y1 + my), col["laminate"], grow)
        pt.rect(pad.box, finish, j.etch_px)
    for f in layout.fiducials:
        pt.circle(f.cx + mx, f.cy + my, f.r_drill, col["laminate"])
        pt.circle(f.cx, f.cy, f.r_ring + j.etch_px, finish)
    for v in layout.vias:
        if v.tented:
            pt.circle(v.cx, v.cy, v.r_drill, col["tent"])
        else:
            pt.circle(v.cx + mx, v.cy + my, v.r_ring + grow, col["laminate"])
            pt.circle(v.cx, v.cy, v.r_ring + j.etch_px, finish)
            pt.circle(v.cx, v.cy, v.r_drill, col["drill"])


def _solder(pt: Painter, layout: Layout, j: Jitter, ops: Ops) -> None:
    col = j.colours
    for i, pad in enumerate(layout.pads):
        if pad.comp < 0:
            continue
        x0, y0, x1, y1 = pad.box
        op = ops.comp.get(pad.comp, ("",))[0]
        if i in ops.dry_pads:  # a thin dull rim of solder where the terminal sits
            tx, ty = pad.toe
            w, h = x1 - x0, y1 - y0
            inner = (x0 + max(tx, 0) * w * 0.75, y0 + max(ty, 0) * h * 0.75,
                     x1 + min(tx, 0) * w * 0.75, y1 + min(ty, 0) * h * 0.75)
            pt.rect(inner, col["solder"], -0.5)
            continue
        pt.rect(pad.box, col["solder"], -0.5)
        if op in ("missing", "tombstone"):  # a bare reflowed solder dome
            pt.circle((x0 + x1) / 2, (y0 + y1) / 2, 0.3 * min(x1 - x0, y1 - y0), col["solder_hi"])
            continue
        f = j.fillet[i] if j.fillet else 0.36
        tx, ty = pad.toe
        w, h = x1 - x0, y1 - y0
        hi = (x0 + max(tx, 0) * w * (1 - f), y0 + max(ty, 0) * h * (1 - f),
              x1 + min(tx, 0) * w * (1 - f), y1 + min(ty, 0) * h * (1 - f))
        pt.rect(hi, col["solder_hi"], -1.0)


def _component(pt: Painter, comp: Component, dx: float, dy: float, dth: float,
               op: tuple | None, col: Mapping[str, tuple[int, int, int]]) -> None:
    kind = op[0] if op else ""
    if kind == "missing":
        return
    if kind == "tombstone":
        _tombstone(pt, comp, op[1], col)
        return
    dx, dy, dth = _moved(op, dx, dy, dth)

    def g(r: Rect) -> np.ndarray:
        return to_global(comp, rect_points(r), dx, dy, dth)

    bl, bw = comp.body
    body = (-bl / 2, -bw / 2, bl / 2, bw / 2)
    if comp.kind == "chip":
        pt.poly(g(body), col[comp.body_colour])
        for r in comp.parts:
            pt.poly(g(r), col["metal"])
    else:
        for r in comp.parts:
            pt.poly(g(r), col["metal"])
        pt.poly(g(body), col[comp.body_colour])
    for name, geo in comp.marks:
        if name == "dot":
            c = to_global(comp, np.array([geo[:2]]), dx, dy, dth)[0]
            pt.circle(c[0], c[1], geo[2], col["mark"])
        elif name == "band":
            pt.poly(g(geo), col["band"])
        else:
            pt.poly(g(geo), tuple(int(v * 1.6) for v in col[comp.body_colour]))


def _moved(op: tuple | None, dx: float, dy: float, dth: float) -> tuple[float, float, float]:
    """A part's pose after a shift, rotation or reversed-polarity defect."""
    kind = op[0] if op else ""
    if kind == "shift":
        return dx + op[1], dy + op[2], dth
    if kind == "rotate":
        return dx, dy, dth + op[1]
    if kind == "polarity":
        return dx, dy, dth + 180.0
    return dx, dy, dth


def _tombstone(pt: Painter, comp: Component, end: int, col: Mapping) -> None:
    """A chip standing on terminal ``end`` (0 or 1): from above, its far end cap shows."""
    bl, bw = comp.body
    x = -bl / 2 if end == 0 else bl / 2 - comp.thick
    pt.poly(to_global(comp, rect_points((x, -bw / 2, x + comp.thick, bw / 2))), col["metal"])


# --- the camera --------------------------------------------------------------------------

def capture(canvas: np.ndarray, rng: np.random.Generator | None,
            ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Photograph a design-frame canvas; return (image, 2x3 design-to-image affine, variation).

    ``rng=None`` takes the golden picture: no pose change, no lighting change, no noise,
    the same slight optical blur.
    """
    h, w = canvas.shape[:2]
    if rng is None:
        v = {"dx_px": 0.0, "dy_px": 0.0, "rot_deg": 0.0, "scale": 1.0, "blur_sigma_px": 0.6,
             "gain": 1.0, "grad_x": 0.0, "grad_y": 0.0, "vignette": 0.0,
             "white_balance": (1.0, 1.0, 1.0), "noise_sigma": 0.0}
    else:
        v = {"dx_px": float(rng.uniform(-24, 24)), "dy_px": float(rng.uniform(-24, 24)),
             "rot_deg": float(rng.uniform(-1.5, 1.5)), "scale": float(rng.uniform(0.992, 1.008)),
             "blur_sigma_px": float(rng.uniform(0.45, 0.9)), "gain": float(rng.uniform(0.85, 1.15)),
             "grad_x": float(rng.uniform(-0.12, 0.12)), "grad_y": float(rng.uniform(-0.12, 0.12)),
             "vignette": float(rng.uniform(0.0, 0.08)),
             "white_balance": tuple(float(x) for x in rng.uniform(0.97, 1.03, 3)),
             "noise_sigma": float(rng.uniform(1.0, 3.5))}
    m = pose_matrix(w, h, v["dx_px"], v["dy_px"], v["rot_deg"], v["scale"])
    img = canvas
    if rng is not None:
        img = cv2.warpAffine(canvas, m, (w, h), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REFLECT)
    img = cv2.GaussianBlur(img, (0, 0), v["blur_sigma_px"])
    if rng is None:
        return img, m, v
    yy, xx = np.mgrid[0:h:8, 0:w:8].astype(np.float32)
    xn, yn = xx / w - 0.5, yy / h - 0.5
    gain = v["gain"] * (1 + v["grad_x"] * xn + v["grad_y"] * yn) * (1 - v["vignette"] * 2 * (xn**2 + yn**2))
    gain = cv2.resize(gain, (w, h), interpolation=cv2.INTER_LINEAR)
    out = img.astype(np.float32) * (gain[..., None] * np.asarray(v["white_balance"], np.float32))
    noise = np.empty_like(out)
    cv2.setRNGSeed(int(rng.integers(0, 2**31 - 1)))
    cv2.randn(noise, 0.0, v["noise_sigma"])
    out += noise
    return np.clip(out, 0, 255).astype(np.uint8), m, v


def pose_matrix(w: int, h: int, dx: float, dy: float, rot_deg: float, scale: float) -> np.ndarray:
    """The 2x3 affine of a pose change about the image centre (design px to image px)."""
    m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), rot_deg, scale)
    m[:, 2] += (dx, dy)
    return m


def map_box(box: Rect, m: np.ndarray, pad: float, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """Map a box through a 2x3 affine; grow by ``pad`` px and clip to ``shape`` (h, w)."""
    pts = rect_points(box) @ m[:, :2].T + m[:, 2]
    h, w = shape
    return (max(0, math.floor(pts[:, 0].min() - pad)), max(0, math.floor(pts[:, 1].min() - pad)),
            min(w, math.ceil(pts[:, 0].max() + pad) + 1), min(h, math.ceil(pts[:, 1].max() + pad) + 1))
