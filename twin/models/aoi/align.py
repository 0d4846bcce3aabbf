"""Registration of a test image on its golden board, and the lighting balance after it.

:func:`align` finds the 2x3 affine taking golden px to test px: phase correlation at 1/8
scale for the shift, then affine ECC at 1/8 and masked affine ECC at 1/4 and 1/2 on copper
under the solder mask (redone without the regions that differ a lot); with a ``rigid``
tolerance, a rigid ECC from 1/8 to 1/2 scale on bare board and copper instead
(:func:`_rigid`), and with ``scale`` the camera's scale measured from tiles' own shifts and
undone (:func:`_scaled`). :func:`correct_lighting` divides the warped test by a quadratic gain
surface and a per-channel white balance; :func:`valid_mask` is the golden region the test
image covers. The reference these read is :class:`twin.models.aoi.inspect.Reference`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from twin.models.aoi.inspect import Reference


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
    if ref.tolerance.rigid:
        return _rigid(ref, pyr, warp)
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


def _rigid(ref: Reference, pyr: list[np.ndarray], warp: np.ndarray) -> np.ndarray:
    """Rigid ECC from 1/8 to 1/2 scale on the golden's bare board and copper; what differs a
    lot after the first fit at a level is left out of the next (and the scale, with
    ``tolerance.scale``)."""
    masks = list(ref.grey_mask)
    for level in (2, 1, 0):
        for again in (False, True):
            warp = _ecc(ref.grey[level], pyr[level], masks[level], warp, 50,
                        cv2.MOTION_EUCLIDEAN, 5)
            if again or level == 2:
                break
            masks[level], changed = _inliers(ref.grey[level], pyr[level], masks[level], warp)
            if not changed:
                break
        warp[:, 2] *= 2.0
    if ref.tolerance.scale:
        warp = _scaled(ref.grey[0], pyr[0], masks[0], warp)
    return warp


SCALE_MIN = 0.001  # a camera scale further than this from 1 is undone (0.5 px over 500 px)
SCALE_TILE = 64  # tiles (px at half scale) whose own shifts give the scale
SCALE_PEAK = 0.2  # a tile's phase-correlation peak below this tells nothing


def _scaled(template: np.ndarray, image: np.ndarray, mask: np.ndarray, warp: np.ndarray
            ) -> np.ndarray:
    """A rigid ``warp`` (full scale) with the camera's scale undone when there is one
    (:func:`_similarity`, refined once more when found: the tiles' shifts come out a little
    short of a zoom's)."""
    out = _similarity(template, image, mask, warp)
    if out is warp:
        return warp
    return _similarity(template, image, mask, out, 0.0)


def _similarity(template: np.ndarray, image: np.ndarray, mask: np.ndarray, warp: np.ndarray,
                least: float = SCALE_MIN) -> np.ndarray:
    """``warp`` composed with the similarity that the tiles' shifts show.

    The test, brought into the golden frame by ``warp``, is cut into tiles (half scale) that
    show mostly bare board and copper (``mask``); each tile's own shift is measured by phase
    correlation, and a similarity (rotation, one scale, shift) is fitted to the tile centres
    and their shifts by least median of squares: a tile on a missing, shifted or turned part
    is an outlier, not a pull (a free affine fit followed them). Kept when the scale is
    further than ``least`` from 1.
    """
    half = warp.astype(np.float64).copy()
    half[:, 2] /= 2.0
    h, w = template.shape
    back = cv2.warpAffine(image, half, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)
    t = SCALE_TILE
    hann = cv2.createHanningWindow((t, t), cv2.CV_32F)
    src, dst = [], []
    for y in range(0, h - t + 1, t // 2):
        for x in range(0, w - t + 1, t // 2):
            if np.count_nonzero(mask[y:y + t, x:x + t]) < 0.3 * t * t:
                continue
            a = template[y:y + t, x:x + t].astype(np.float32)
            b = back[y:y + t, x:x + t].astype(np.float32)
            if a.std() < 4.0:
                continue
            (dx, dy), peak = cv2.phaseCorrelate(a, b, hann)
            if peak >= SCALE_PEAK:
                c = (x + 0.5 * t, y + 0.5 * t)
                src.append(c)
                dst.append((c[0] + dx, c[1] + dy))
    if len(src) < 6:
        return warp
    sim = cv2.estimateAffinePartial2D(np.float32(src), np.float32(dst), method=cv2.LMEDS)[0]
    if sim is None:
        return warp
    scale = float(np.sqrt(abs(np.linalg.det(sim[:, :2]))))
    if abs(scale - 1.0) <= least:
        return warp
    # golden -> (similarity) -> golden frame of the rigid fit -> (rigid) -> test, at half scale
    out = half[:, :2] @ sim[:, :2], half[:, :2] @ sim[:, 2] + half[:, 2]
    full = np.empty((2, 3), np.float32)
    full[:, :2] = out[0]
    full[:, 2] = 2.0 * out[1]
    return full


def _inliers(template: np.ndarray, image: np.ndarray, mask: np.ndarray, warp: np.ndarray
             ) -> tuple[np.ndarray, bool]:
    """``mask`` less the pixels (grown by 2) where the warped image differs from the template
    by more than 35 grey levels, and whether that left out more than 0.3 % of it."""
    h, w = template.shape
    back = cv2.warpAffine(image, warp, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    out = cv2.dilate((cv2.absdiff(back, template) > 35).astype(np.uint8), np.ones((5, 5), np.uint8))
    if np.count_nonzero(out & (mask > 0)) <= 0.003 * np.count_nonzero(mask):
        return mask, False
    return np.where(out > 0, 0, mask).astype(np.uint8), True


def _ecc(template: np.ndarray, image: np.ndarray, mask: np.ndarray | None, warp: np.ndarray,
         iters: int, motion: int = cv2.MOTION_AFFINE, blur: int = 3) -> np.ndarray:
    """One ECC refinement (affine unless told); on failure to converge, the warp it was given."""
    crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, iters, 1e-5)
    try:
        if mask is None:
            return cv2.findTransformECC(template, image, warp, motion, crit, None, blur)[1]
        return cv2.findTransformECCWithMask(template, image, mask, np.full_like(image, 255), warp,
                                            motion, crit, blur)[1]
    except cv2.error:
        return warp


def correct_lighting(ref: Reference, aligned: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Divide ``aligned`` (golden frame) by a smooth gain field and per-channel balance.

    The field is a quadratic surface fitted robustly to the brightness ratio test/golden at
    1/16 scale (weighted towards bright cells, whose ratio is least disturbed by the solder
    mask's colour lot); the white balance is a median ratio over bright cells per channel.
    With a process profile both read only cells bright in all three channels.
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
    # with a process profile, only cells bright in every channel (metal, silkscreen): a
    # green mask is bright in green, and its colour lot is not the camera's gain
    neutral = ref.small.min(axis=2) > 90 if ref.tolerance.rigid else True
    ok = ok_px & (lg > 120) & neutral
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
        sel = ok_px & (gc > 90) & neutral
        wb = float(np.median(flat[..., c][sel] / gc[sel])) if sel.sum() >= 12 else 1.0
        gain[..., c] = field * wb
    inv = np.clip(128.0 / np.maximum(gain, 0.3), 0, 255).astype(np.uint8)
    inv = cv2.resize(inv, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.multiply(aligned, inv, scale=1.0 / 128.0)


def valid_mask(warp: np.ndarray, shape: tuple[int, int], test_shape: tuple[int, int],
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
