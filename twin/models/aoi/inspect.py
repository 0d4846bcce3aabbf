"""Golden-board inspection: align, correct the lighting, compare with tolerances, find blobs.

    inspect(golden, image, *, mask=None, verifier="default") -> list[Finding]

1. **Reference** (once per design, :func:`prepare`, cached by content): the golden image
   smoothed (σ 0.7 px); its local minimum and maximum over a window whose size depends on
   the zone read from its colours (3x3 on bare board, copper and pads; 5x5 on bright metal,
   solder and silkscreen; 7x7 on and around part bodies, which placement moves by up to
   ~2 px); a tolerance map (12 grey levels + 6 % of the local brightness; 255 under the
   user's ``mask``); a grey pyramid and a copper-under-mask mask for alignment.
2. **Alignment** (:func:`align`): phase correlation at 1/8 scale for the shift, affine ECC
   at 1/8, then masked affine ECC at 1/4 and 1/2 on copper under the solder mask, redone
   without the regions that differ a lot; the warp maps golden px to test px.
3. **Lighting** (:func:`correct_lighting`): the test, warped into the golden frame, is
   divided by a quadratic gain surface fitted robustly to the test/golden brightness ratio
   at 1/16 scale and by a per-channel white balance.
4. **Difference** (:func:`difference`, :func:`blobs`): the amount by which the test leaves
   the golden's local [min, max] band, worst colour channel, minus the tolerance; pixels
   above zero form blobs (merged within ~5 px); weak and tiny blobs are dropped.
5. **Verifier** (optional, :mod:`twin.models.aoi.verifier`): a small CNN looks at golden and test
   crops of each blob and names its kind or calls it false; without it,
   :func:`twin.models.aoi.kinds.name` names each blob by measuring the board there (the part
   found shifted, turned, turned round or gone; solder or copper come or gone).

Boxes of findings are mapped back through the warp into the *test* image's pixels.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from twin.models.aoi.align import align, correct_lighting, valid_mask

MAX_CANDIDATES = 60
SMOOTH_SIGMA_PX = 0.7  # both images are smoothed by this Gaussian before comparing
TOL_BASE, TOL_REL = 12.0, 0.06  # tolerance: grey levels + share of the local brightness
MIN_AREA_PX = 5  # a blob must have this many pixels over tolerance ...
MIN_PEAK = 12  # ... or exceed the tolerance somewhere by this many grey levels
STRONG_PEAK = 30  # blobs this strong are kept whatever their area


@dataclass(frozen=True)
class Tolerance:
    """How far a good board may move from its golden, as the comparison's windows.

    ``windows`` (odd px): the golden's local [min, max] is taken over this window on bare
    board, on bright metal / solder / silkscreen, and on and around part bodies; ``pads``:
    inside each bright region of the golden (a reflowed pad with its fillet, a lead), any
    brightness between the region's 2nd and 98th percentile is allowed (the fillet's length
    and shine vary); ``parts``: findings on one part body (grown) merge into one finding;
    ``silk`` (px): within this distance of thin bright strokes (silkscreen, which registers on
    its own), the test may be as dark as the darkest board within 7 px (a gap between
    a printed line and a pad opening may open up); ``rigid``: the camera only shifts and
    turns the board, so alignment fits a rigid motion (ECC, Euclidean) on bare board and
    copper (what the etching fixed), from 1/8 to full scale, leaving out what differs a lot;
    ``scale``: with ``rigid``, the camera's scale too where it differs from 1 (a lens or a
    working distance that varies: :func:`twin.models.aoi.align._scaled`);
    ``place_px`` / ``place_deg``: the placement machine's tolerance, which sets each part
    region's window and the shift :func:`part_offsets` calls a defect; part bodies are dark
    or (with ``parts``) tan regions at least 15 px across.
    """

    windows: tuple[int, int, int] = (3, 5, 7)
    pads: bool = False
    parts: bool = False
    rigid: bool = False
    silk: int = 0
    place_px: float = 0.0
    place_deg: float = 0.0
    scale: bool = False


TIGHT = Tolerance()  # the first generator's process: placement ± 0.6 px, silkscreen ± 1 px
# a process with placement ± 1.5 px / ± 1°, silkscreen ± 1.5 px, mask ± 1 px, fillets 25-50 %
# of the pad (twin/models/aoi/assembled.py), and a camera whose scale may vary (the first
# generator's ± 0.8 %: measured from the tiles' shifts, undone); tuned on dev seeds only
PROCESS = Tolerance((5, 7, 11), pads=True, parts=True, rigid=True, silk=4, place_px=1.5,
                    place_deg=1.0, scale=True)
TOLERANCES = {"tight": TIGHT, "process": PROCESS}


@dataclass(frozen=True)
class Finding:
    """A flagged region: box (x0, y0, x1, y1; x1/y1 exclusive) in the test image, kind, score."""

    box: tuple[int, int, int, int]
    kind: str
    score: float


@dataclass(frozen=True)
class Candidate:
    """A blob before verification, in the golden frame."""

    box: tuple[int, int, int, int]  # golden px, x1/y1 exclusive
    area: int  # pixels over tolerance
    peak: float  # largest excess over tolerance, grey levels
    signed: float  # mean (test - golden) brightness over the blob
    bright: float  # mean test brightness over the blob
    zone: float  # share of the blob in part / bright zones


@dataclass(eq=False)
class Reference:
    """A golden image prepared for inspection (see the module doc)."""

    image: np.ndarray  # RGB uint8
    smooth: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    tol: np.ndarray  # uint8 per pixel; 255 where ignored
    zone: np.ndarray  # uint8: 0 board, 1 bright, 2 parts
    grey: list[np.ndarray]  # pyramid levels 1/2, 1/4, 1/8 (uint8)
    grey_mask: list[np.ndarray]  # where the levels show only etched copper under the mask
    hann: np.ndarray
    small: np.ndarray  # 1/16 scale, float32 RGB
    tolerance: Tolerance = TIGHT
    part_labels: np.ndarray | None = None  # int32 label per px of part regions (0: none)
    part_boxes: tuple[tuple[int, int, int, int], ...] = ()  # part bodies (x0, y0, x1, y1)


@dataclass
class Inspection:
    """Everything one inspection found out (for evaluation, training and the benchmark)."""

    findings: list[Finding]
    candidates: list[Candidate]
    warp: np.ndarray  # 2x3, golden px -> test px
    aligned: np.ndarray  # test in the golden frame, lighting-corrected and smoothed
    timings_s: dict[str, float] = field(default_factory=dict)


def prepare(golden: Any, mask: np.ndarray | None = None, tolerance: Tolerance = TIGHT
            ) -> Reference:
    """Prepare a golden image (RGB array or ``Board``); ``mask`` (nonzero) is not inspected."""
    img = _rgb(golden)
    h, w = img.shape[:2]
    smooth = cv2.GaussianBlur(img, (0, 0), SMOOTH_SIGMA_PX)
    v = smooth.max(axis=2)
    s = v.astype(np.int16) - smooth.min(axis=2)
    bodies = _bodies(smooth, tolerance)
    grow = 15 if tolerance.place_px else 11  # a part's corner moves by up to ~5 px
    parts = cv2.dilate(bodies, np.ones((grow, grow), np.uint8))
    bright = cv2.dilate(((v > 140) & (s < 0.22 * v)).astype(np.uint8), np.ones((7, 7), np.uint8))
    zone = np.where(parts > 0, 2, np.where(bright > 0, 1, 0)).astype(np.uint8)
    lo, hi = smooth.copy(), smooth.copy()
    for z, k in enumerate(tolerance.windows):
        sel = zone == z
        if sel.any():
            kern = np.ones((k, k), np.uint8)
            lo[sel] = cv2.erode(smooth, kern)[sel]
            hi[sel] = cv2.dilate(smooth, kern)[sel]
    labels, boxes = _widen(smooth, bodies, parts, grow, tolerance, lo, hi)
    tol = np.clip(TOL_BASE + TOL_REL * cv2.dilate(v, np.ones((3, 3), np.uint8)).astype(np.float32), 0, 255)
    tol = tol.astype(np.uint8)
    if mask is not None:
        if mask.shape[:2] != (h, w):
            raise ValueError(f"mask: expected shape {(h, w)}, got {mask.shape[:2]}")
        tol[mask.astype(bool) if mask.ndim == 2 else mask.any(axis=2)] = 255
    g = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    sm = smooth.astype(np.int16)
    green = (sm[..., 1] > sm[..., 0] + 15) & (sm[..., 1] > sm[..., 2]) & (zone == 0)
    if tolerance.rigid:
        green = zone == 0
    gm = cv2.erode(green.astype(np.uint8) * 255, np.ones((5, 5), np.uint8))
    grey, grey_mask = [], []
    for _ in range(3):
        g, gm = cv2.pyrDown(g), cv2.pyrDown(gm)
        grey.append(g)
        grey_mask.append(np.where(gm == 255, 255, 0).astype(np.uint8))
    hann = cv2.createHanningWindow(grey[2].shape[::-1], cv2.CV_32F)
    small = cv2.resize(img, (max(1, w // 16), max(1, h // 16)),
                       interpolation=cv2.INTER_AREA).astype(np.float32)
    return Reference(img, smooth, lo, hi, tol, zone, grey, grey_mask, hann, small, tolerance,
                     labels, boxes)


# a bright region narrower than this (px) is a silkscreen stroke: the first generator's
# 0.15 mm lines and text read 9-10 px wide once blurred (a 9 px opening kept some, and a
# gap between such a line and a via ring opened up as a call); pads are 25 px or more
SILK_OPEN = 11


def _widen(smooth: np.ndarray, bodies: np.ndarray, parts: np.ndarray, grow: int,
           tolerance: Tolerance, lo: np.ndarray, hi: np.ndarray
           ) -> tuple[np.ndarray | None, tuple[tuple[int, int, int, int], ...]]:
    """Apply the wider tolerances of ``tolerance`` to [lo, hi]; the part-region labels for
    merging findings and the bodies' boxes for :func:`part_offsets`."""
    v = smooth.max(axis=2)
    light = ((v > 140) & (v.astype(np.int16) - smooth.min(axis=2) < 0.22 * v)).astype(np.uint8)
    if tolerance.place_px:
        _part_windows(smooth, parts, grow, tolerance, lo, hi)
    if tolerance.pads:
        _pad_bands(smooth, light > 0, lo, hi)
    if tolerance.silk:
        open_k = np.ones((SILK_OPEN, SILK_OPEN), np.uint8)
        thin = light & ~cv2.morphologyEx(light, cv2.MORPH_OPEN, open_k)
        k = 2 * tolerance.silk + 1
        near = cv2.dilate(thin, np.ones((k, k), np.uint8)) > 0
        lo[near] = np.minimum(lo, cv2.erode(smooth, np.ones((15, 15), np.uint8)))[near]
    labels, boxes = None, ()
    if tolerance.place_px:
        n, _, st, _ = cv2.connectedComponentsWithStats(bodies, connectivity=8)
        boxes = tuple((int(st[i, 0]), int(st[i, 1]), int(st[i, 0] + st[i, 2]),
                       int(st[i, 1] + st[i, 3])) for i in range(1, n))
    if tolerance.parts:
        grown = cv2.dilate(bodies, np.ones((31, 31), np.uint8))  # bodies with their terminals
        # and each pad on its own (a joint is one call however it falls apart; thin
        # silkscreen strokes, which would tie parts together, are left out)
        pads = cv2.morphologyEx(light, cv2.MORPH_OPEN, np.ones((9, 9), np.uint8))
        labels = cv2.connectedComponents(grown | pads, connectivity=8)[1].astype(np.int32)
    return labels, boxes


def _bodies(smooth: np.ndarray, tolerance: Tolerance) -> np.ndarray:
    """Part bodies (uint8 0/1): dark regions at least 15 px across (with ``parts``, tan ones
    too: ceramic capacitors; with ``place_px``, marks on a body such as a pin-1 dot belong
    to it)."""
    dark = body_colour(smooth, tolerance.parts)
    if not tolerance.place_px:
        return cv2.morphologyEx(dark, cv2.MORPH_OPEN, np.ones((15, 15), np.uint8))
    closed = cv2.morphologyEx(dark, cv2.MORPH_CLOSE, np.ones((15, 15), np.uint8))
    bodies = cv2.morphologyEx(closed, cv2.MORPH_OPEN, np.ones((15, 15), np.uint8))
    # a via (a drill in a plated ring, whose blurred edge reads as tan) closes into a region
    # of the size of a small part, but less than half of it is body colour (measured: vias
    # 0.26-0.43, part bodies 0.89-1.0 on development boards of both generators)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(bodies, connectivity=8)
    if n > 1:
        share = np.bincount(labels.ravel(), weights=dark.ravel(), minlength=n) / np.maximum(
            stats[:, cv2.CC_STAT_AREA], 1)
        share[0] = 0.0  # the background
        bodies = (share >= BODY_SHARE)[labels].astype(np.uint8)
    return bodies


BODY_SHARE = 0.7  # a part body is at least this much body colour (dark or tan)


def body_colour(img: np.ndarray, tan: bool = True) -> np.ndarray:
    """Where ``img`` (RGB) shows a part body's colour (uint8 0/1): dark (moulded packages,
    resistors), with ``tan`` also tan (ceramic capacitors)."""
    v = img.max(axis=2)
    dark = (v < 60).astype(np.uint8)
    if tan:
        r, b = img[..., 0].astype(np.int16), img[..., 2].astype(np.int16)
        dark |= ((r > b + 50) & (r >= img[..., 1]) & (v > 100) & (v < 200)).astype(np.uint8)
    return dark


def _part_windows(smooth: np.ndarray, parts: np.ndarray, grown: int, tol: Tolerance,
                  lo: np.ndarray, hi: np.ndarray) -> None:
    """Per part region (a body grown by ``grown`` - 1 px): the window its placement tolerance
    needs (shift, and the turn at the body's corners, plus half a pixel of alignment)."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(parts, connectivity=8)
    by_k: dict[int, list[int]] = {}
    for i in range(1, n):
        half_diag = 0.5 * math.hypot(stats[i, cv2.CC_STAT_WIDTH] - grown + 1,
                                     stats[i, cv2.CC_STAT_HEIGHT] - grown + 1)
        r = tol.place_px * math.sqrt(2) + 0.5 + half_diag * math.sin(math.radians(tol.place_deg))
        by_k.setdefault(2 * math.ceil(r) + 1, []).append(i)
    for k, ids in by_k.items():
        sel = np.isin(labels, ids)
        kern = np.ones((k, k), np.uint8)
        lo[sel] = cv2.erode(smooth, kern)[sel]
        hi[sel] = cv2.dilate(smooth, kern)[sel]


def _pad_bands(smooth: np.ndarray, bright: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
    """Widen [lo, hi] over each bright region (and 3 px around it) to the 2nd-98th percentile
    of its inside (the region eroded by 2 px)."""
    inner = cv2.erode(bright.astype(np.uint8), np.ones((5, 5), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(inner, connectivity=8)
    hh, ww = bright.shape
    grow = np.ones((11, 11), np.uint8)
    for i in range(1, n):
        if stats[i, cv2.CC_STAT_AREA] < 12:
            continue
        x, y, w, h = stats[i, :4]
        sel = labels[y:y + h, x:x + w] == i
        p_lo, p_hi = np.percentile(smooth[y:y + h, x:x + w][sel], (2, 98), axis=0)
        x0, y0, x1, y1 = max(0, x - 5), max(0, y - 5), min(ww, x + w + 5), min(hh, y + h + 5)
        region = np.zeros((y1 - y0, x1 - x0), np.uint8)
        region[y - y0:y - y0 + h, x - x0:x - x0 + w] = sel
        region = cv2.dilate(region, grow) > 0
        for arr, bound, pick in ((lo, p_lo, np.minimum), (hi, p_hi, np.maximum)):
            win = arr[y0:y1, x0:x1]
            win[region] = pick(win[region], bound.astype(np.uint8))


_CACHE: OrderedDict[tuple, Reference] = OrderedDict()


def reference(golden: Any, mask: np.ndarray | None = None, tolerance: Tolerance = TIGHT
              ) -> Reference:
    """:func:`prepare` with a small cache keyed by the image's content (and the mask's)."""
    if isinstance(golden, Reference):
        return golden
    img = _rgb(golden)
    key = (img.shape, _digest(img), None if mask is None else _digest(np.asarray(mask)),
           tolerance)
    ref = _CACHE.get(key)
    if ref is None:
        ref = _CACHE[key] = prepare(img, mask, tolerance)
        while len(_CACHE) > 8:
            _CACHE.popitem(last=False)
    return ref


def _digest(a: np.ndarray) -> int:
    import zlib

    return zlib.crc32(np.ascontiguousarray(a).data)


def _rgb(x: Any) -> np.ndarray:
    img = getattr(x, "image", x)
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"expected an H x W x 3 uint8 RGB image, got {img.shape} {img.dtype}")
    return img


def difference(ref: Reference, aligned: np.ndarray, valid: np.ndarray, tol_scale: float = 1.0
               ) -> np.ndarray:
    """Grey levels by which ``aligned`` leaves the golden band, less the tolerance (uint8)."""
    d = cv2.max(cv2.subtract(aligned, ref.hi), cv2.subtract(ref.lo, aligned))
    c0, c1, c2 = cv2.split(d)
    dm = cv2.max(cv2.max(c0, c1), c2)
    tol = ref.tol if tol_scale == 1.0 else cv2.convertScaleAbs(ref.tol, alpha=tol_scale)
    excess = cv2.subtract(dm, tol)
    return cv2.bitwise_and(excess, valid)


def blobs(ref: Reference, aligned: np.ndarray, excess: np.ndarray) -> list[Candidate]:
    """Connected regions over tolerance, merged when closer than ~5 px, weak ones dropped."""
    on = cv2.threshold(excess, 0, 255, cv2.THRESH_BINARY)[1]
    h, w = excess.shape
    # connected regions on a 1/4-scale map (merging what lies within ~4-8 px), refined at full scale
    coarse = cv2.resize(on, (-(-w // 4), -(-h // 4)), interpolation=cv2.INTER_AREA)
    coarse = cv2.dilate((coarse > 0).astype(np.uint8), np.ones((3, 3), np.uint8))
    n, _, stats, _ = cv2.connectedComponentsWithStats(coarse, connectivity=8)
    if n <= 1:
        return []
    order = np.argsort(-stats[1:, cv2.CC_STAT_AREA])[: 4 * MAX_CANDIDATES] + 1
    out = []
    for i in order:
        x, y, bw, bh, _ = stats[i]
        x0, y0, x1, y1 = 4 * x, 4 * y, min(w, 4 * (x + bw)), min(h, 4 * (y + bh))
        sel = on[y0:y1, x0:x1] > 0
        area = int(sel.sum())
        if not area:
            continue
        ys, xs = np.nonzero(sel)
        x0, y0, x1, y1 = x0 + int(xs.min()), y0 + int(ys.min()), x0 + int(xs.max()) + 1, y0 + int(ys.max()) + 1
        sel = on[y0:y1, x0:x1] > 0
        ex = excess[y0:y1, x0:x1][sel]
        peak = float(ex.max())
        if not (peak >= STRONG_PEAK or (area >= MIN_AREA_PX and peak >= MIN_PEAK)):
            continue
        t = aligned[y0:y1, x0:x1][sel].astype(np.float32).mean(axis=0)
        g = ref.smooth[y0:y1, x0:x1][sel].astype(np.float32).mean(axis=0)
        zone = float((ref.zone[y0:y1, x0:x1][sel] > 0).mean())
        out.append(Candidate((x0, y0, x1, y1), area, peak, float(t.mean() - g.mean()),
                             float(t.mean()), zone))
    out.sort(key=lambda c: -c.peak * math.sqrt(c.area))
    return out[:MAX_CANDIDATES]


SEARCH_PX = 14  # how far part_offsets looks for a part


def part_offsets(ref: Reference, aligned: np.ndarray) -> list[Candidate]:
    """Parts found away from their place or turned: each body's golden picture (with 1 px
    around it) is searched for in the aligned test within ± :data:`SEARCH_PX`; a part further
    away than the placement tolerance (√2 x ``place_px`` + 0.5 px of alignment) plus 1.5 px
    becomes a candidate covering both places (the window band cannot see a shift smaller
    than the window, which a large part's turn tolerance makes wide); a small body at its
    place is checked for a turn (:func:`_uncovered`): at 12° an 0402's corners move less
    than its window."""
    tol = ref.tolerance
    limit = tol.place_px * math.sqrt(2) + 2.0
    h, w = aligned.shape[:2]
    g_grey = cv2.cvtColor(ref.smooth, cv2.COLOR_RGB2GRAY)
    t_grey = cv2.cvtColor(aligned, cv2.COLOR_RGB2GRAY)
    out = []
    for x0, y0, x1, y1 in ref.part_boxes:
        m, s = 1, SEARCH_PX
        gx0, gy0, gx1, gy1 = x0 - m, y0 - m, x1 + m, y1 + m
        if gx0 - s < 0 or gy0 - s < 0 or gx1 + s > w or gy1 + s > h:
            continue
        templ = g_grey[gy0:gy1, gx0:gx1]
        area = t_grey[gy0 - s:gy1 + s, gx0 - s:gx1 + s]
        res = cv2.matchTemplate(area, templ, cv2.TM_CCOEFF_NORMED)
        _, best, _, (bx, by) = cv2.minMaxLoc(res)
        if best < 0.5:  # not found at all (missing, turned): the band sees it
            continue
        dx, dy = bx - s + _vertex(res, bx, by, 1), by - s + _vertex(res, bx, by, 0)
        if math.hypot(dx, dy) <= limit:
            if math.hypot(x1 - x0, y1 - y0) > 2 * TURN_BODY_PX:  # the band sees its turn
                continue
            g = 2 + _uncovered(ref, t_grey, g_grey, (gx0, gy0, gx1, gy1), dx, dy)
            if g <= 2:
                continue
            box = (max(0, x0 - g), max(0, y0 - g), min(w, x1 + g), min(h, y1 + g))
        else:
            box = (max(0, min(x0, x0 + math.floor(dx))), max(0, min(y0, y0 + math.floor(dy))),
                   min(w, max(x1, x1 + math.ceil(dx))), min(h, max(y1, y1 + math.ceil(dy))))
        out.append(Candidate(box, (x1 - x0) * (y1 - y0), 255.0, 0.0,
                             float(t_grey[box[1]:box[3], box[0]:box[2]].mean()), 1.0))
    return out


TURN_LEVEL, TURN_PX = 40, 10  # a body turned: this many px inside it changed this much
TURN_BODY_PX = 48  # turns are measured on bodies up to this half-diagonal: a larger body's
#   corners leave the band's window when it turns beyond tolerance (and carry marks)


def _uncovered(ref: Reference, t_grey: np.ndarray, g_grey: np.ndarray,
               area: tuple[int, int, int, int], dx: float, dy: float) -> int:
    """How far (px) a body's corners moved when it turned beyond ``place_deg``: the test,
    moved back by the part's measured shift, is compared with the golden inside the golden
    body less the band its turn tolerance may uncover; 0 when fewer than :data:`TURN_PX`
    pixels there differ by more than :data:`TURN_LEVEL` grey levels."""
    x0, y0, x1, y1 = area
    s = SEARCH_PX
    crop = t_grey[y0 - s:y1 + s, x0 - s:x1 + s]
    back = cv2.warpAffine(crop, np.float32([[1, 0, -dx], [0, 1, -dy]]), crop.shape[::-1],
                          flags=cv2.INTER_LINEAR)[s:-s, s:-s]
    body = _bodies(ref.smooth[y0:y1, x0:x1], ref.tolerance)
    half_diag = 0.5 * math.hypot(x1 - x0, y1 - y0)
    e = 2 * (math.ceil(half_diag * math.sin(math.radians(ref.tolerance.place_deg))) + 1) + 1
    inner = cv2.erode(body, np.ones((e, e), np.uint8), borderType=cv2.BORDER_CONSTANT,
                      borderValue=0) > 0
    moved = int(np.count_nonzero(inner & (cv2.absdiff(back, g_grey[y0:y1, x0:x1]) > TURN_LEVEL)))
    return math.ceil(half_diag * 0.3) if moved >= TURN_PX else 0


def _vertex(res: np.ndarray, x: int, y: int, axis: int) -> float:
    """Sub-pixel offset of a correlation peak along one axis (parabola through 3 points)."""
    if axis == 1 and 0 < x < res.shape[1] - 1:
        a, b, c = res[y, x - 1], res[y, x], res[y, x + 1]
    elif axis == 0 and 0 < y < res.shape[0] - 1:
        a, b, c = res[y - 1, x], res[y, x], res[y + 1, x]
    else:
        return 0.0
    den = a - 2 * b + c
    return float(0.5 * (a - c) / den) if den < 0 else 0.0


def merge_parts(ref: Reference, cands: list[Candidate]) -> list[Candidate]:
    """Candidates that touch the same part region (a body grown by a few px, with the pads
    that touch it, or a pad on its own) become one."""
    if ref.part_labels is None or len(cands) < 2:
        return cands
    root: dict[int, int] = {}  # regions tied together by a candidate that touches several

    def find(i: int) -> int:
        while root.setdefault(i, i) != i:
            i = root[i]
        return i

    touched = []
    out = []
    for c in cands:
        x0, y0, x1, y1 = c.box
        ids = [int(i) for i in np.unique(ref.part_labels[y0:y1, x0:x1]) if i > 0]
        for i in ids[1:]:
            root[find(i)] = find(ids[0])
        if ids:
            touched.append((c, ids[0]))
        else:
            out.append(c)
    groups: dict[int, list[Candidate]] = {}
    for c, i in touched:
        groups.setdefault(find(i), []).append(c)
    for group in groups.values():
        if len(group) == 1:
            out.append(group[0])
            continue
        area = sum(c.area for c in group)
        out.append(Candidate(
            (min(c.box[0] for c in group), min(c.box[1] for c in group),
             max(c.box[2] for c in group), max(c.box[3] for c in group)), area,
            max(c.peak for c in group), sum(c.signed * c.area for c in group) / area,
            sum(c.bright * c.area for c in group) / area, max(c.zone for c in group)))
    out.sort(key=lambda c: -c.peak * math.sqrt(c.area))
    return out


def to_test_box(box: tuple[int, int, int, int], warp: np.ndarray, shape: tuple[int, int]
                ) -> tuple[int, int, int, int]:
    """A golden-frame box mapped through the warp into the test image (clipped)."""
    x0, y0, x1, y1 = box
    pts = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)
    p = pts @ warp[:, :2].T + warp[:, 2]
    h, w = shape
    return (max(0, math.floor(p[:, 0].min())), max(0, math.floor(p[:, 1].min())),
            min(w, math.ceil(p[:, 0].max())), min(h, math.ceil(p[:, 1].max())))


def registered(ref: Reference, test: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(warp, the test in the golden frame lighting-corrected and smoothed, valid mask)."""
    warp = align(ref, test)
    h, w = ref.image.shape[:2]
    aligned = cv2.warpAffine(test, warp, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                             borderMode=cv2.BORDER_REPLICATE)
    valid = valid_mask(warp, (h, w), test.shape[:2])
    aligned = cv2.GaussianBlur(correct_lighting(ref, aligned, valid), (0, 0), SMOOTH_SIGMA_PX)
    return warp, aligned, valid


def inspect_detailed(golden: Any, image: np.ndarray, *, mask: np.ndarray | None = None,
                     verifier: Any = "default", tol_scale: float = 1.0,
                     tolerance: Tolerance | str = TIGHT) -> Inspection:
    """:func:`inspect` with the candidates, the warp, the aligned test and the stage timings.

    ``tol_scale`` scales the tolerance map (below 1 finds more, weaker candidates; the
    verifier's training uses that to see more false calls).
    """
    t0 = time.perf_counter()
    ref = reference(golden, mask, _tolerance(tolerance))
    test = _rgb(image)
    warp, aligned, valid = registered(ref, test)
    t1 = time.perf_counter()
    excess = difference(ref, aligned, valid, tol_scale)
    cands = blobs(ref, aligned, excess)
    if ref.part_boxes:
        cands = cands + part_offsets(ref, aligned)
    cands = merge_parts(ref, cands)
    t2 = time.perf_counter()
    ver = _verifier(verifier)
    if ver is not None and cands:
        labels = ver.classify(ref, aligned, cands)
        kept = [(c, k, p) for c, (k, p) in zip(cands, labels, strict=True) if k != "false"]
    else:
        from twin.models.aoi.kinds import name

        kept = [(c, name(ref, aligned, c), min(1.0, c.peak / 60.0)) for c in cands]
    findings = [Finding(to_test_box(c.box, warp, test.shape[:2]), k, round(float(p), 3))
                for c, k, p in kept]
    t3 = time.perf_counter()
    return Inspection(findings, cands, warp, aligned,
                      {"align": t1 - t0, "difference": t2 - t1, "verifier": t3 - t2,
                       "total": t3 - t0})


def inspect(golden: Any, image: np.ndarray, *, mask: np.ndarray | None = None,
            verifier: Any = "default", tolerance: Tolerance | str = TIGHT) -> list[Finding]:
    """Inspect ``image`` against ``golden`` (RGB arrays, ``Board`` or prepared ``Reference``).

    ``mask`` (golden frame, nonzero = do not inspect); ``verifier``: ``"default"`` (the
    shipped CNN), ``None`` (every blob kept, its kind measured: :mod:`twin.models.aoi.kinds`)
    or a loaded ``Verifier``.
    """
    return inspect_detailed(golden, image, mask=mask, verifier=verifier,
                            tolerance=tolerance).findings


def _tolerance(t: Tolerance | str) -> Tolerance:
    if isinstance(t, Tolerance):
        return t
    if t not in TOLERANCES:
        raise ValueError(f"tolerance: expected one of {', '.join(TOLERANCES)}, got {t!r}")
    return TOLERANCES[t]


def _verifier(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, str):
        from twin.models.aoi import verifier as vmod

        return vmod.load(None if v == "default" else v)
    return v
