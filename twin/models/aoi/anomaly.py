"""An anomaly model learned from good boards only, for lines with few defect samples.

    learn(golden, goods, tolerance="tight") -> Reference     pass it to inspect() as the golden

The golden's band (:func:`twin.models.aoi.inspect.prepare`) is widened, pixel by pixel, to
hold every good board: each good image is registered onto the golden as inspection does it
(alignment, lighting correction, smoothing) and the band takes the per-pixel minimum and
maximum of what it saw. What a good board may look like is then learned, not set by hand;
no defect sample is needed. The boards must be good (a defect among them would be learned
as normal) and of the golden's design; the more process variation they span, the fewer
false calls, at the cost of sensitivity where the process varies.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import cv2
import numpy as np

from twin.models.aoi.inspect import Reference, Tolerance, _rgb, _tolerance, prepare, registered


def learn(golden: Any, goods: Iterable[Any], tolerance: Tolerance | str = "tight",
          mask: np.ndarray | None = None) -> Reference:
    """The golden's reference with its band widened to every good board in ``goods``
    (RGB arrays or ``Board``)."""
    ref = prepare(golden, mask, _tolerance(tolerance))
    lo, hi = ref.lo.copy(), ref.hi.copy()
    n = 0
    for good in goods:
        _, aligned, valid = registered(ref, _rgb(good))
        inside = cv2.erode(valid, np.ones((5, 5), np.uint8)) > 0
        np.minimum(lo, aligned, out=lo, where=inside[..., None])
        np.maximum(hi, aligned, out=hi, where=inside[..., None])
        n += 1
    if not n:
        raise ValueError("learn: no good boards given")
    return dataclasses.replace(ref, lo=lo, hi=hi)
