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
   crops of each blob and names its kind or calls it false; without it, :func:`classic_kind`
   names blobs by rules.

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

MAX_CANDIDATES = 60
SMOOTH_SIGMA_PX = 0.7  # both images are smoothed by this Gaussian before comparing
TOL_BASE, TOL_REL = 12.0, 0.06  # tolerance: grey levels + share of the local brightness
MIN_AREA_PX = 5  # a blob must have this many pixels over tolerance ...
MIN_PEAK = 12  # ... or exceed the tolerance somewhere by this many grey levels
STRONG_PEAK = 30  # blobs this strong are kept whatever their area


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


@dataclass
class Inspection:
    """Everything one inspection found out (for evaluation, training and the benchmark)."""

    findings: list[Finding]
    candidates: list[Candidate]
    warp: np.ndarray  # 2x3, golden px -> test px
    aligned: np.ndarray  # test in the golden frame, lighting-corrected and smoothed
    timings_s: dict[str, float] = field(default_factory=dict)


def prepare(golden: Any, mask: np.ndarray | None = None) -> Reference:
    """Prepare a golden image (RGB array or ``Board``); ``mask`` (nonzero) is not inspected."""
    img = _rgb(golden)
    h, w = img.shape[:2]
    smooth = cv2.GaussianBlur(img, (0, 0), SMOOTH_SIGMA_PX)
    v = smooth.max(axis=2)
    s = v.astype(np.int16) - smooth.min(axis=2)
    dark = (v < 60).astype(np.uint8)
    bodies = cv2.morphologyEx(dark, cv2.MORPH_OPEN, np.ones((15, 15), np.uint8))
    parts = cv2.dilate(bodies, np.ones((11, 11), np.uint8))
    bright = cv2.dilate(((v > 140) & (s < 0.22 * v)).astype(np.uint8), np.ones((7, 7), np.uint8))
    zone = np.where(parts > 0, 2, np.where(bright > 0, 1, 0)).astype(np.uint8)
    lo, hi = smooth.copy(), smooth.copy()
    for z, k in ((0, 3), (1, 5), (2, 7)):
        sel = zone == z
        if sel.any():
            kern = np.ones((k, k), np.uint8)
            lo[sel] = cv2.erode(smooth, kern)[sel]
            hi[sel] = cv2.dilate(smooth, kern)[sel]
    tol = np.clip(TOL_BASE + TOL_REL * cv2.dilate(v, np.ones((3, 3), np.uint8)).astype(np.float32), 0, 255)
    tol = tol.astype(np.uint8)
    if mask is not None:
        if mask.shape[:2] != (h, w):
            raise ValueError(f"mask: expected shape {(h, w)}, got {mask.shape[:2]}")
        tol[mask.astype(bool) if mask.ndim == 2 else mask.any(axis=2)] = 255
    g = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    sm = smooth.astype(np.int16)
    green = (sm[..., 1] > sm[..., 0] + 15) & (sm[..., 1] > sm[..., 2]) & (zone == 0)
    gm = cv2.erode(green.astype(np.uint8) * 255, np.ones((5, 5), np.uint8))
    grey, grey_mask = [], []
    for _ in range(3):
        g, gm = cv2.pyrDown(g), cv2.pyrDown(gm)
        grey.append(g)
        grey_mask.append(np.where(gm == 255, 255, 0).astype(np.uint8))
    hann = cv2.createHanningWindow(grey[2].shape[::-1], cv2.CV_32F)
    small = cv2.resize(img, (max(1, w // 16), max(1, h // 16)),
                       interpolation=cv2.INTER_AREA).astype(np.float32)
    return Reference(img, smooth, lo, hi, tol, zone, grey, grey_mask, hann, small)


_CACHE: OrderedDict[tuple, Reference] = OrderedDict()


def reference(golden: Any, mask: np.ndarray | None = None) -> Reference:
    """:func:`prepare` with a small cache keyed by the image's content (and the mask's)."""
    if isinstance(golden, Reference):
        return golden
    img = _rgb(golden)
    key = (img.shape, _digest(img), None if mask is None else _digest(np.asarray(mask)))
    ref = _CACHE.get(key)
    if ref is None:
        ref = _CACHE[key] = prepare(img, mask)
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


def align(ref: Reference, test: np.ndarray) -> np.ndarray:
    """The 2x3 affine taking golden px to test px (shift, rotation, scale, shear)."""
    g = cv2.cvtColor(test, cv2.COLOR_RGB2GRAY)
    pyr = []
    for _ in range(3):
        g = cv2.pyrDown(g)
        pyr.append(g)
    if pyr[2].shape != ref.grey[2].shape:
        raise ValueError(f"test image {test.shape[:2]} and golden {ref.image.shape[:2]} differ "
                         "in size")
    (dx, dy), _ = cv2.phaseCorrelate(ref.grey[2].astype(np.float32), pyr[2].astype(np.float32),
                                     ref.hann)
    warp = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
    warp = _ecc(ref.grey[2], pyr[2], None, warp, 30)
    warp[:, 2] *= 2.0
    # the fine levels look only at copper under the solder mask (silkscreen, mask openings
    # and parts have registration errors of their own), less what differs a lot (a missing
    # or shifted part would pull the fit)
    mask1 = ref.grey_mask[1]
    if np.count_nonzero(mask1) < 0.05 * mask1.size:
        mask1 = None
    warp = _ecc(ref.grey[1], pyr[1], mask1, warp, 12)
    mask0 = ref.grey_mask[0] if mask1 is not None else None
    if mask1 is not None:
        h1, w1 = mask1.shape
        back = cv2.warpAffine(pyr[1], warp, (w1, h1), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
        outliers = cv2.dilate((cv2.absdiff(back, ref.grey[1]) > 35).astype(np.uint8),
                              np.ones((5, 5), np.uint8))
        if np.count_nonzero(outliers & (mask1 > 0)) > 0.003 * np.count_nonzero(mask1):
            mask1 = np.where(outliers > 0, 0, mask1).astype(np.uint8)
            warp = _ecc(ref.grey[1], pyr[1], mask1, warp, 12)
            up = cv2.resize(outliers, mask0.shape[::-1], interpolation=cv2.INTER_NEAREST)
            mask0 = np.where(up > 0, 0, mask0).astype(np.uint8)
    warp[:, 2] *= 2.0
    warp = _ecc(ref.grey[0], pyr[0], mask0, warp, 3)
    warp[:, 2] *= 2.0
    return warp


def _ecc(template: np.ndarray, image: np.ndarray, mask: np.ndarray | None, warp: np.ndarray,
         iters: int) -> np.ndarray:
    """One affine ECC refinement; on failure to converge, the warp it was given."""
    crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, iters, 1e-5)
    try:
        if mask is None:
            return cv2.findTransformECC(template, image, warp, cv2.MOTION_AFFINE, crit, None, 3)[1]
        return cv2.findTransformECCWithMask(template, image, mask, np.full_like(image, 255), warp,
                                            cv2.MOTION_AFFINE, crit, 3)[1]
    except cv2.error:
        return warp


def correct_lighting(ref: Reference, aligned: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Divide ``aligned`` (golden frame) by a smooth gain field and per-channel balance.

    The field is a quadratic surface fitted robustly to the brightness ratio test/golden at
    1/16 scale (weighted towards bright cells, whose ratio is least disturbed by the solder
    mask's colour lot); the white balance is a median ratio over bright cells per channel.
    """
    h, w = aligned.shape[:2]
    sh, sw = ref.small.shape[:2]
    small = cv2.resize(aligned, (sw, sh), interpolation=cv2.INTER_AREA).astype(np.float32)
    ok_px = cv2.resize(valid, (sw, sh), interpolation=cv2.INTER_AREA) > 250
    ok_px &= (ref.small.max(axis=2) < 235) & (small.max(axis=2) < 250)
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    xn, yn = (xx + 0.5) / sw - 0.5, (yy + 0.5) / sh - 0.5
    basis = np.stack([np.ones_like(xn), xn, yn, xn * xn, yn * yn, xn * yn], axis=-1)
    lg, lt = ref.small.sum(axis=2), small.sum(axis=2)
    ok = ok_px & (lg > 120)
    field = np.ones((sh, sw), np.float32)
    if ok.sum() >= 24:
        a, b, wts = basis[ok], lt[ok] / lg[ok], lg[ok] / 255.0
        coef = np.array([np.median(b), 0, 0, 0, 0, 0], np.float32)
        keep = np.ones(len(b), bool)
        for _ in range(3):
            aw = a[keep] * wts[keep, None]
            coef = np.linalg.solve(aw.T @ aw + 1e-6 * np.eye(6), aw.T @ (b[keep] * wts[keep]))
            res = b - a @ coef
            mad = np.median(np.abs(res[keep])) + 1e-3
            keep = np.abs(res) < 3.0 * 1.4826 * mad
            if keep.sum() < 12:
                break
        field = (basis @ coef).astype(np.float32)
    gain = np.empty((sh, sw, 3), np.float32)
    flat = small / np.maximum(field, 0.3)[..., None]
    for c in range(3):
        gc = ref.small[..., c]
        sel = ok_px & (gc > 90)
        wb = float(np.median(flat[..., c][sel] / gc[sel])) if sel.sum() >= 12 else 1.0
        gain[..., c] = field * wb
    inv = np.clip(128.0 / np.maximum(gain, 0.3), 0, 255).astype(np.uint8)
    inv = cv2.resize(inv, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.multiply(aligned, inv, scale=1.0 / 128.0)


def _valid_mask(warp: np.ndarray, shape: tuple[int, int], test_shape: tuple[int, int],
                margin: int = 3) -> np.ndarray:
    """Golden px whose test position lies inside the test image (uint8 0/255)."""
    h, w = shape
    th, tw = test_shape
    inv = cv2.invertAffineTransform(warp)
    corners = np.array([[margin, margin], [tw - 1 - margin, margin],
                        [tw - 1 - margin, th - 1 - margin], [margin, th - 1 - margin]], np.float64)
    poly = corners @ inv[:, :2].T + inv[:, 2]
    m = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(m, np.round(poly * 16).astype(np.int32), 255, cv2.LINE_8, 4)
    return m


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


def to_test_box(box: tuple[int, int, int, int], warp: np.ndarray, shape: tuple[int, int]
                ) -> tuple[int, int, int, int]:
    """A golden-frame box mapped through the warp into the test image (clipped)."""
    x0, y0, x1, y1 = box
    pts = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)
    p = pts @ warp[:, :2].T + warp[:, 2]
    h, w = shape
    return (max(0, math.floor(p[:, 0].min())), max(0, math.floor(p[:, 1].min())),
            min(w, math.ceil(p[:, 0].max())), min(h, math.ceil(p[:, 1].max())))


def classic_kind(c: Candidate) -> str:
    """A kind from the blob alone: part-sized blobs are part defects, else copper ones."""
    w, h = c.box[2] - c.box[0], c.box[3] - c.box[1]
    if c.zone > 0.5 and max(w, h) > 40:
        return "missing" if c.area > 1500 else "shifted"
    if c.zone > 0.5:
        return "solder_bridge" if c.signed > 0 else "insufficient_solder"
    if c.signed > 0:  # brighter: copper added under the mask
        return "spurious_copper" if c.area > 12 else "spur"
    return "open" if max(w, h) > 1.6 * min(w, h) else "pin_hole"


def inspect_detailed(golden: Any, image: np.ndarray, *, mask: np.ndarray | None = None,
                     verifier: Any = "default", tol_scale: float = 1.0) -> Inspection:
    """:func:`inspect` with the candidates, the warp, the aligned test and the stage timings.

    ``tol_scale`` scales the tolerance map (below 1 finds more, weaker candidates; the
    verifier's training uses that to see more false calls).
    """
    t0 = time.perf_counter()
    ref = reference(golden, mask)
    test = _rgb(image)
    warp = align(ref, test)
    t1 = time.perf_counter()
    h, w = ref.image.shape[:2]
    aligned = cv2.warpAffine(test, warp, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                             borderMode=cv2.BORDER_REPLICATE)
    valid = _valid_mask(warp, (h, w), test.shape[:2])
    aligned = cv2.GaussianBlur(correct_lighting(ref, aligned, valid), (0, 0), SMOOTH_SIGMA_PX)
    excess = difference(ref, aligned, valid, tol_scale)
    cands = blobs(ref, aligned, excess)
    t2 = time.perf_counter()
    ver = _verifier(verifier)
    if ver is not None and cands:
        labels = ver.classify(ref, aligned, cands)
        kept = [(c, k, p) for c, (k, p) in zip(cands, labels, strict=True) if k != "false"]
    else:
        kept = [(c, classic_kind(c), min(1.0, c.peak / 60.0)) for c in cands]
    findings = [Finding(to_test_box(c.box, warp, test.shape[:2]), k, round(float(p), 3))
                for c, k, p in kept]
    t3 = time.perf_counter()
    return Inspection(findings, cands, warp, aligned,
                      {"align": t1 - t0, "difference": t2 - t1, "verifier": t3 - t2,
                       "total": t3 - t0})


def inspect(golden: Any, image: np.ndarray, *, mask: np.ndarray | None = None,
            verifier: Any = "default") -> list[Finding]:
    """Inspect ``image`` against ``golden`` (RGB arrays, ``Board`` or prepared ``Reference``).

    ``mask`` (golden frame, nonzero = do not inspect); ``verifier``: ``"default"`` (the
    shipped CNN), ``None`` (classic blob rules only) or a loaded ``Verifier``.
    """
    return inspect_detailed(golden, image, mask=mask, verifier=verifier).findings


def _verifier(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, str):
        from twin.models.aoi import verifier as vmod

        return vmod.load(None if v == "default" else v)
    return v
